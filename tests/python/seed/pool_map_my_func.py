import polypool as multiprocessing
def my_func(x):
    return x * x
if __name__ == '__main__':
    with multiprocessing.Pool(processes=4) as pool:
        result = pool.map(my_func, [1, 2, 3, 4, 5])
    print(result)
