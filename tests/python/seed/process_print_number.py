import polypool as multiprocessing
 
def print_number(num):
    print(f"Process {num}: {num}")
 
if __name__ == '__main__':
    # Create a list of numbers
    numbers = [1, 2, 3, 4]
    
    # Create a process for each number in the list
    processes = [multiprocessing.Process(target=print_number, args=(num,)) for num in numbers]
    
    # Start each process
    for process in processes:
        process.start()
    
    # Wait for each process to finish
    for process in processes:
        process.join()
