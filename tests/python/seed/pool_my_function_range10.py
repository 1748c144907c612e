import polypool as multiprocessing
 
def my_function(x):
    # Do some work here
    return x*x
 
if __name__ == '__main__':
    # Create a pool of 4 worker processes
    with multiprocessing.Pool(processes=4) as pool:
        # Apply the function to a sequence of inputs in parallel
        results = pool.map(my_function, range(10))
        print(results)
