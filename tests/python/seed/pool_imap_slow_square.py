import polypool as multiprocessing
import time
 
def slow_square(x):
    time.sleep(1)
    return x * x
 
if __name__ == '__main__':
    pool = multiprocessing.Pool()
    result_iterator = pool.imap(slow_square, [1, 2, 3, 4, 5])
    for result in result_iterator:
        print(result)
