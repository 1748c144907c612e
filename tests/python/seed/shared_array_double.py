import multiprocessing
 
def worker(arr):
    for i in range(len(arr)):
        arr[i] *= 2
 
if __name__ == '__main__':
    arr = multiprocessing.Array('i', [1, 2, 3, 4, 5])
    print(f'Before: {arr[:]}')
    p = multiprocessing.Process(target=worker, args=(arr,))
    p.start()
    p.join()
    print(f'After: {arr[:]}')
