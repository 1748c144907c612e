/* polypool-worker - the C task host polypoold spawns. The loop is in
 * host.c, shared with the Python worker host. */
#include "host.h"

int main(int argc, char **argv)
{
    return worker_host_main(argc, argv, NULL);
}
