import polypool as multiprocessing
 
def square(x):
    return x * x
 
if __name__ == '__main__':
    pool = multiprocessing.Pool()
    result = pool.map(square, [1, 2, 3, 4, 5])
    print(result)
