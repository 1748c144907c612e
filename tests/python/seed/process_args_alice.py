import polypool as multiprocessing
 
def my_function(name):
    print(f"Hello from {name}!")
 
if __name__ == '__main__':
    p = multiprocessing.Process(target=my_function, args=('Alice',))
    p.start()
    p.join()
    print("The child process has completed.")
