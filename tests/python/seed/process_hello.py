import polypool as multiprocessing
 
def my_function():
    print("Hello from a child process!")
 
if __name__ == '__main__':
    p = multiprocessing.Process(target=my_function)
    p.start()
    p.join()
    print("The child process has completed.")
