/* forkserver.h - fork servers for Python worker hosts.
 *
 * Starting a Python host costs an interpreter, the polypool package and
 * the client's main module: ~100 ms on our machines, for every worker of
 * every new pool. A fork server is one Python process per environment
 * (`python -m polypool._worker --forkserver 3`) that has done all that
 * once and forks a ready host on request, in a few milliseconds.
 *
 * The first host of an environment is spawned as usual and asks for a fork
 * server to start in the background; later hosts of that environment fork
 * from it. A fork server outlives the program that caused it (a program
 * run again gets warm hosts), so before each fork it checks that no module
 * it imported has changed on disk and exits ("stale") if one has: an
 * edited program never runs old code. It exits when its environment has
 * been unused for FORKSERVER_IDLE_MS: long enough for a program run again
 * at once (or a test suite's next script) to find it, short enough that
 * servers of programs gone do not pile up.
 *
 * Forked hosts are the fork server's children: it reaps them and reports
 * each exit status, which ends the worker here (worker_exited). If the fork
 * server dies first, its hosts end as workers whose status is unknown.
 *
 * Wire (frames as frame.h, text payloads):
 *   server -> daemon  "ready PID" | "failed MESSAGE"      once, at start
 *   daemon -> server  "fork" + SCM_RIGHTS [socket, stdout, stderr]
 *   server -> daemon  "forked PID" | "stale" | "failed MESSAGE"
 *   server -> daemon  "exited PID STATUS"                 at any time
 *
 * Locking: under the daemon lock, on the loop thread.
 */
#ifndef PP_FORKSERVER_H
#define PP_FORKSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pyenv;
struct forkserver;

#define FORKSERVER_IDLE_MS 30000
/* At most this many run at once (each is an interpreter, ~15 MB): a new
 * one replaces the one unused the longest, or waits while all are used. */
#define FORKSERVER_MAX 16
/* How long a fork request may take before the server is given up. */
#define FORKSERVER_FORK_MS 3000

struct worker;

/* Asks env's fork server for a host, with sock, out and err as its fds 3,
 * 1 and 2 (they stay open here), to become worker w. Returns 0 with
 * w->fs set and w->pid 0 until the server answers ("forked PID"; the
 * host's hello also says), or -1 when env has no ready server: the caller
 * spawns the host itself. Never blocks. */
int forkserver_request(struct pyenv *env, int sock, int out, int err, struct worker *w);

/* Starts a fork server for env unless one runs: called once a host of env
 * spawned the slow way is ready, so that the server's start does not
 * compete with the first hosts for the CPUs. */
void forkserver_want(struct pyenv *env);

/* Worker w is going away: its fork server must not answer to it. */
void forkserver_forget(struct worker *w);

/* Whether fs is still running (its reports will come). */
bool forkserver_alive(const struct forkserver *fs);

/* Loop tick: idle servers exit. Returns the next time to look. */
uint64_t forkserver_tick(uint64_t now);

/* Daemon exit: stops and reaps every server, frees them. */
void forkserver_shutdown(void);

/* Live servers (tests, status). */
size_t forkserver_count(void);

#endif
