/* host.h - the worker host loop, shared by polypool-worker (C tasks) and
 * the Python worker host (python3 -m polypool._worker, which runs this
 * loop from the extension module and adds Python tasks).
 *
 * The loop speaks the daemon's worker protocol (see host.c); a language
 * plugs in through struct host_lang and sees only decoded pp_values, so no
 * protocol logic lives in the language's code.
 */
#ifndef PP_WORKER_HOST_H
#define PP_WORKER_HOST_H

#include <stddef.h>

#include "polypool.h"
#include "polypool.pb-c.h"
#include "task.h"

/* How a call of a language's function failed. The hooks fill msg; the
 * exception (pickled) and traceback are malloc'd and taken by the host. */
struct host_error {
    char msg[TASK_MSG_MAX];
    void *exception;
    size_t exception_len;
    char *traceback;
};

struct host_lang {
    /* Resolves a function of the language: *fn receives the language's
     * callable (owned by the language, cached as it likes), *label a name
     * for error messages (borrowed, lives as long as *fn). Returns PP_OK or
     * a status with err filled. */
    pp_status (*lookup)(void *arg, const Polypool__V1__PyFunction *f, void **fn,
                        const char **label, struct host_error *err);
    /* Calls fn with the LIST args; fills result (a NULL value on entry).
     * Returns PP_OK, or a status (PP_ETASK for an exception) with err. */
    pp_status (*call)(void *arg, void *fn, const pp_value *args, pp_value *result,
                      struct host_error *err);
    /* Flushes the language's own buffered stdout/stderr into fds 1 and 2. */
    void (*flush)(void *arg);
    /* Process mode (--run): calls fn with the LIST args as a process's
     * whole life, reporting a failure the language's way, and returns the
     * process's exit code. NULL: the host's generic report. */
    int (*run)(void *arg, void *fn, const pp_value *args, const char *name);
    void *arg;
};

/* Runs the worker: parses `--fd N` from argv, says hello, then runs tasks
 * until the daemon says exit or goes away. lang may be NULL (C tasks
 * only). Returns the process exit status. */
int worker_host_main(int argc, char **argv, const struct host_lang *lang);

#endif
