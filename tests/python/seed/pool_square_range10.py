import polypool as multiprocessing
 
def square(x):
    return x**2
 
if __name__ == '__main__':
    # Create a pool with 4 worker processes
    with multiprocessing.Pool(processes=4) as pool:
        # Apply the square function to the numbers 0 to 9 in parallel
        results = pool.map(square, range(10))
        print(results)
