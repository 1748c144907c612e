import multiprocessing
def worker(n, counter):
    for i in range(n):
        with counter.get_lock():
            counter.value += 1
if __name__ == '__main__':
    counter = multiprocessing.Value('i', 0)
    processes = []
    for i in range(4):
        p = multiprocessing.Process(target=worker, args=(1000000, counter))
        processes.append(p)
        p.start()
    for p in processes:
        p.join()
    print(counter.value)
