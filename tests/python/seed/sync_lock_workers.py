import multiprocessing
 
def worker(n, lock):
    for i in range(n):
        with lock:
            print(f'Worker {multiprocessing.current_process().name} acquired lock')
            print(f'Worker {multiprocessing.current_process().name} is working')
            print(f'Worker {multiprocessing.current_process().name} released lock')
 
if __name__ == '__main__':
    lock = multiprocessing.Lock()
    processes = []
    for i in range(4):
        p = multiprocessing.Process(target=worker, args=(5, lock))
        processes.append(p)
        p.start()
    for p in processes:
        p.join()
