/* harness.h - integration tests: a real polypoold per test on a private ipc
 * path, plus helpers for clients, raw nng peers, processes and /proc.
 *
 * Fork mode stays on. Check forks every test; nng is not fork-safe, so no
 * nng call (and no libpolypool call that opens a client) may run in main()
 * or in an unchecked fixture. Everything here that touches nng runs inside
 * a test or a checked fixture, in the forked child.
 *
 * Leftovers. A test that fails or times out exits without running its
 * teardown, which would leave its daemon running. it_main() therefore keeps
 * a small registry in shared memory (created before the first fork, so
 * every test child sees it): each daemon and temporary directory is recorded
 * there, and whatever a dead test left behind is killed and removed at the
 * start of the next test and at the end of the run.
 *
 * Environment (set by tests/integration/meson.build):
 *   POLYPOOL_DAEMON   the build tree's polypoold
 *   POLYPOOL_WORKER   the build tree's polypool-worker
 *   PPTEST_LIB        the test task library (tests/lib)
 *   IT_CLIENT_PROC    the helper client program (client-proc.c)
 *   POLYPOOL_NO_AUTOSTART=1
 */
#ifndef PP_IT_HARNESS_H
#define PP_IT_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "polypool.h"
#include "polypool.pb-c.h"

/* Deadline for anything that should be quick (start, stop, connect). */
#define IT_DEADLINE_MS 10000

/* ---- time ---- */
int64_t it_now_ms(void);
/* Polls pred(arg) every few ms until it is true (returns true) or
 * timeout_ms passed (returns false). A deadline, not a fixed sleep. */
bool it_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* A short pause between two polls of a condition (never a way to wait for
 * something: loop on the condition with a deadline). */
void it_poll_nap(void);

/* ---- temporary directories ---- */
/* mkdtemp("/tmp/pp-it-XXXXXX") into buf (>= 32 bytes); recorded for cleanup. */
void it_tmpdir(char *buf, size_t len);
/* rm -rf of a directory made by it_tmpdir (only one level of subdirs). */
void it_rmtree(const char *dir);

/* Records a process the harness did not spawn (an autostarted daemon) so
 * that it is killed if the test dies. */
void it_register_pid(pid_t pid);
/* Drops a pid recorded with it_register_pid (it has exited). */
void it_forget_pid(pid_t pid);

/* ---- daemon ---- */
typedef struct it_daemon {
    char dir[64];     /* private temp dir */
    char sock[192];   /* socket file path */
    char url[256];    /* ipc://<sock> */
    pid_t pid;        /* 0 when not running */
    bool reaped;
    int wstatus;      /* valid when reaped */
    bool shared_dir;  /* the dir belongs to another it_daemon */
} it_daemon;

typedef struct it_daemon_opts {
    /* true: no --listen; the daemon uses the per-user default address
     * under env XDG_RUNTIME_DIR=<dir> (set for the daemon only). */
    bool default_address;
    /* Socket file name in the dir ("d.sock" when NULL). */
    const char *sock_name;
    /* Reuse this dir/address (a second daemon on the same address). */
    const it_daemon *same_as;
    int workers;                  /* --workers; 0: 2 */
    const char *extra[8];         /* more arguments, NULL-terminated */
    bool no_wait;                 /* do not wait until it accepts */
} it_daemon_opts;

/* Spawns polypoold (posix_spawn, in its own process group) with
 * --listen <url> --workers 2 --log-level warn and waits (deadline 10 s)
 * until a client can open a connection. opts may be NULL. Asserts. */
void it_daemon_start(it_daemon *d, const it_daemon_opts *opts);
/* Waits until a client (no autostart) can connect; asserts. */
void it_daemon_wait_ready(it_daemon *d, int timeout_ms);
/* Sends sig and waits up to timeout_ms for the daemon to exit. Returns true
 * when it exited; d->wstatus then holds its wait status. */
bool it_daemon_kill_wait(it_daemon *d, int sig, int timeout_ms);
/* Waits for an exit without signalling (e.g. a daemon that should exit 3). */
bool it_daemon_wait_exit(it_daemon *d, int timeout_ms);
/* SIGTERM, wait (deadline), then SIGKILL of its process group; removes the
 * temp dir (unless another daemon shares it). Idempotent. */
void it_daemon_stop(it_daemon *d);

/* ---- clients ---- */
/* Opens a client with no autostart; asserts PP_OK. */
pp_client *it_client(const char *url);
pp_client *it_client_named(const char *url, const char *name,
                           pp_output_fn out, void *out_arg);
/* A private pool of `size` workers; asserts. */
pp_pool *it_pool(pp_client *c, unsigned size);
/* pp_func for a symbol of the test task library ($PPTEST_LIB); asserts. */
pp_func *it_func(const char *symbol);
/* [from, from+1, ..., from+n-1] */
pp_value *it_ints(int64_t from, size_t n);
/* [[a0, b], [a0+1, b], ...]: star items for two-argument tasks. */
pp_value *it_pairs(int64_t from, size_t n, int64_t b);
/* A LIST of the given ints (n of them). */
pp_value *it_args(size_t n, ...);
/* Asserts res is a LIST of n ints, res[i] == (from+i)^2. */
void it_assert_squares(const pp_value *res, int64_t from, size_t n);
/* Asserts the status, printing pp_last_error() when it differs. */
#define it_assert_status(got, want) do {                                  \
        pp_status it_got_ = (got), it_want_ = (want);                      \
        ck_assert_msg(it_got_ == it_want_, "%s: got %s, want %s (%s)", #got, \
                      pp_status_name(it_got_), pp_status_name(it_want_),   \
                      pp_last_error()->message);                           \
    } while (0)

/* ---- Python ---- */
/* <build>/bindings/python and tests/python, filled by it_python_paths. */
extern char it_py_bindings[], it_py_tests[];
/* Finds both; false (with a reason) when the Python package is not in the
 * build. No ck_assert: suite() may call it outside a test. */
bool it_python_paths(char *why, size_t len);
/* A function of a tests/python module in an environment of both paths and
 * /usr/bin/python3 (call it_python_paths first); asserts. */
pp_func *it_py_func(const char *module, const char *name);

/* ---- raw nng peer (no client library) ---- */
typedef struct it_raw {
    uint32_t sock;              /* nng_socket id */
    uint32_t dialer;            /* nng_dialer id */
    volatile int pipes_added;
    volatile int pipes_removed;
    uint64_t next_id;
    uint64_t session_id;        /* after it_raw_hello */
    uint32_t daemon_pid;
    uint64_t default_pool_id;
    uint64_t max_message;
} it_raw;

/* req0 socket, resend off, no redial for a minute, dialled (blocking) to
 * url. Returns the nng error (0 on success). */
int it_raw_open(it_raw *r, const char *url);
void it_raw_close(it_raw *r);
/* Sends bytes as one message; nng error. */
int it_raw_send(it_raw *r, const void *data, size_t len);
/* Receives one message within timeout_ms. On 0, *data (length *len) is a malloc'd
 * copy. nng error otherwise (NNG_ETIMEDOUT, NNG_ECLOSED, ...). */
int it_raw_recv(it_raw *r, int timeout_ms, void **data, size_t *len);
/* Packs req (its id is set), sends, receives and unpacks the Reply.
 * Returns the nng error; on 0 *reply must be freed with
 * polypool__v1__reply__free_unpacked(reply, NULL). A reply that does not
 * decode fails the test. */
int it_raw_call(it_raw *r, Polypool__V1__Request *req, int timeout_ms,
                Polypool__V1__Reply **reply);
/* Hello with the current version; asserts STATUS_OK. */
void it_raw_hello(it_raw *r);

/* Opens (and hellos) a raw peer for status polling; asserts. */
void it_status_open(it_raw *r, const char *url);
/* The daemon's status; asserts. Free with it_status_free. */
Polypool__V1__Reply *it_status(it_raw *r);
void it_status_free(Polypool__V1__Reply *rep);
/* Lookups in a StatusReply (NULL when absent). */
const Polypool__V1__PoolStatus *it_status_pool(const Polypool__V1__StatusReply *s,
                                               const char *name);
const Polypool__V1__PoolStatus *it_status_pool_id(const Polypool__V1__StatusReply *s,
                                                  uint64_t id);
const Polypool__V1__ClientStatus *it_status_client_pid(const Polypool__V1__StatusReply *s,
                                                       pid_t pid);

/* ---- processes ---- */
/* true while /proc/<pid> exists and the process is not a zombie. */
bool it_pid_alive(pid_t pid);
/* Waits until it_pid_alive(pid) is false; true if it happened in time. */
bool it_wait_pid_gone(pid_t pid, int timeout_ms);
/* waitpid with a deadline: true and *wstatus when the child exited. */
bool it_waitpid(pid_t pid, int timeout_ms, int *wstatus);
/* Forks a child that runs fn(arg, i) and _exit()s with its return value;
 * it dies with the test (PR_SET_PDEATHSIG). The child must not touch a
 * client the test opened (nng is not fork-safe). Asserts. */
typedef int (*it_child_fn)(void *arg, int i);
pid_t it_fork_child(it_child_fn fn, void *arg, int i);
/* The exit code of a forked child that must exit within timeout_ms;
 * asserts that it did, and not by a signal. */
int it_child_exit(pid_t pid, int timeout_ms);
/* Spawns argv (argv[0] is a path) with extra "K=V" env entries (NULL
 * terminated, may be NULL; "K=" unsets K). With out_fd, the child's stdout
 * is a pipe whose read end is returned there. Asserts. */
pid_t it_spawn(const char *const argv[], const char *const env_extra[], int *out_fd);
/* Spawns the helper client program: client-proc <url> <args...>. */
pid_t it_spawn_client(const char *url, const char *const args[], int *out_fd);
/* Reads one line (without the newline) within timeout_ms; false on
 * timeout or EOF. */
bool it_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* ---- running ---- */
/* Creates the leftovers registry, runs the suite (fork mode), cleans up
 * and returns the process exit code. Call from main() and nothing else. */
int it_main(Suite *s);

#endif
