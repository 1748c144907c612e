/* shared_pool_b - program B of the shared-pool demo (see shared_pool.h):
 * squares range(10, 20) on the named pool "shared-demo". */
#include "shared_pool.h"

int main(void)
{
    return shared_pool_main("$ORIGIN/libshared_pool_b.so", 10, 20);
}
