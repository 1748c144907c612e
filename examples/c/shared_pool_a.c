/* shared_pool_a - program A of the shared-pool demo (see shared_pool.h):
 * squares range(0, 10) on the named pool "shared-demo". */
#include "shared_pool.h"

int main(void)
{
    return shared_pool_main("$ORIGIN/libshared_pool_a.so", 0, 10);
}
