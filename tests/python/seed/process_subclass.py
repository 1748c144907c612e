import polypool as multiprocessing
 
class MyProcess(multiprocessing.Process):
    def __init__(self, x):
        super().__init__()
        self.x = x
 
    def run(self):
        print(self.x * self.x)
 
if __name__ == '__main__':
    processes = []
    for i in range(5):
        p = MyProcess(i)
        processes.append(p)
        p.start()
    for p in processes:
        p.join()
