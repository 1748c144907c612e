/* harness.c - see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

extern char **environ;

/* ------------------------------------------------------------------------
 * time
 * ---------------------------------------------------------------------- */

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void it_poll_nap(void)
{
    nap_ms(5);
}

bool it_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    int step = 1;
    for (;;) {
        if (pred(arg))
            return true;
        if (it_now_ms() >= end)
            return false;
        nap_ms(step);
        if (step < 20)
            step *= 2;
    }
}

/* ------------------------------------------------------------------------
 * The leftovers registry (see harness.h). Created by it_main before any
 * fork; shared with every test child.
 * ---------------------------------------------------------------------- */

#define REG_MAX 512

struct reg_entry {
    int used;          /* 0 free, 1 claimed */
    pid_t owner;       /* the test process that made it */
    pid_t pid;         /* a daemon (its own process group), or 0 */
    char dir[64];      /* a temp dir, or "" */
};

static struct reg_entry *reg;

static struct reg_entry *reg_add(pid_t pid, const char *dir)
{
    if (!reg)
        return NULL;
    for (int i = 0; i < REG_MAX; i++) {
        int expect = 0;
        if (__atomic_compare_exchange_n(&reg[i].used, &expect, 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            reg[i].owner = getpid();
            reg[i].pid = pid;
            snprintf(reg[i].dir, sizeof reg[i].dir, "%s", dir ? dir : "");
            return &reg[i];
        }
    }
    return NULL;
}

static void reg_forget_pid(pid_t pid)
{
    if (!reg)
        return;
    for (int i = 0; i < REG_MAX; i++)
        if (__atomic_load_n(&reg[i].used, __ATOMIC_SEQ_CST) && reg[i].pid == pid
            && !reg[i].dir[0])
            __atomic_store_n(&reg[i].used, 0, __ATOMIC_SEQ_CST);
}

static void reg_forget_dir(const char *dir)
{
    if (!reg)
        return;
    for (int i = 0; i < REG_MAX; i++)
        if (__atomic_load_n(&reg[i].used, __ATOMIC_SEQ_CST) && reg[i].dir[0]
            && strcmp(reg[i].dir, dir) == 0)
            __atomic_store_n(&reg[i].used, 0, __ATOMIC_SEQ_CST);
}

void it_register_pid(pid_t pid)
{
    reg_add(pid, NULL);
}

void it_forget_pid(pid_t pid)
{
    reg_forget_pid(pid);
}

static bool pid_gone_pred(void *arg)
{
    return !it_pid_alive(*(pid_t *)arg);
}

/* True when pid runs the daemon binary of $POLYPOOL_DAEMON: a recorded
 * pid is only killed while it still is a daemon (pids get reused). */
/* Whether pid runs the daemon: its executable is $POLYPOOL_DAEMON, or
 * (scripts/valgrind-daemon.sh) valgrind running $POLYPOOL_DAEMON_REAL. */
static bool pid_is_daemon(pid_t pid)
{
    char lnk[64], exe[PATH_MAX], want[PATH_MAX];
    const char *d = getenv("POLYPOOL_DAEMON");
    if (!d || !realpath(d, want))
        return false;
    snprintf(lnk, sizeof lnk, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(lnk, exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    if (strcmp(exe, want) == 0)
        return true;
    const char *real = getenv("POLYPOOL_DAEMON_REAL");
    if (!real || !strstr(exe, "valgrind"))
        return false;
    char path[64], args[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(args, 1, sizeof args - 1, f) : 0;
    if (f)
        fclose(f);
    args[len] = 0;
    for (size_t i = 0; i < len; i += strlen(args + i) + 1)
        if (strcmp(args + i, real) == 0)
            return true;
    return false;
}

/* Kills what dead test processes left behind. With all == true (end of
 * the run, in the runner) everything still registered goes. */
static void reg_reap(bool all)
{
    if (!reg)
        return;
    pid_t self = getpid();
    for (int i = 0; i < REG_MAX; i++) {
        struct reg_entry *e = &reg[i];
        if (!__atomic_load_n(&e->used, __ATOMIC_SEQ_CST))
            continue;
        if (!all && (e->owner == self || it_pid_alive(e->owner)))
            continue;
        if (e->pid > 0 && it_pid_alive(e->pid) && pid_is_daemon(e->pid)) {
            fprintf(stderr, "harness: killing leftover daemon %d\n", (int)e->pid);
            if (getpgid(e->pid) == e->pid)
                kill(-e->pid, SIGKILL);
            else
                kill(e->pid, SIGKILL);
            pid_t p = e->pid;
            it_wait_until(pid_gone_pred, &p, IT_DEADLINE_MS);
        }
        if (e->dir[0])
            it_rmtree(e->dir);
        __atomic_store_n(&e->used, 0, __ATOMIC_SEQ_CST);
    }
}

/* ------------------------------------------------------------------------
 * temporary directories
 * ---------------------------------------------------------------------- */

void it_tmpdir(char *buf, size_t len)
{
    ck_assert_uint_ge(len, 32);
    snprintf(buf, len, "/tmp/pp-it-XXXXXX");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
    reg_add(0, buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void it_rmtree(const char *dir)
{
    if (!dir || strncmp(dir, "/tmp/pp-", 8) != 0)
        return;   /* never anything but our own temp dirs */
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    reg_forget_dir(dir);
}

/* ------------------------------------------------------------------------
 * processes
 * ---------------------------------------------------------------------- */

bool it_pid_alive(pid_t pid)
{
    char path[64], buf[512];
    if (pid <= 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    /* "pid (comm) S ...": the state follows the last ')'. */
    char *rp = strrchr(buf, ')');
    if (!rp || rp[1] != ' ')
        return true;
    char st = rp[2];
    return st != 'Z' && st != 'X' && st != 'x';
}

bool it_wait_pid_gone(pid_t pid, int timeout_ms)
{
    return it_wait_until(pid_gone_pred, &pid, timeout_ms);
}

pid_t it_fork_child(it_child_fn fn, void *arg, int i)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn(arg, i));
    }
    return pid;
}

int it_child_exit(pid_t pid, int timeout_ms)
{
    int ws = 0;
    if (!it_waitpid(pid, timeout_ms, &ws)) {
        kill(pid, SIGKILL);
        it_waitpid(pid, IT_DEADLINE_MS, NULL);
        ck_abort_msg("child %d did not exit within %d ms", (int)pid, timeout_ms);
    }
    ck_assert_msg(WIFEXITED(ws), "child %d died of signal %d", (int)pid,
                  WIFSIGNALED(ws) ? WTERMSIG(ws) : -1);
    return WEXITSTATUS(ws);
}

bool it_waitpid(pid_t pid, int timeout_ms, int *wstatus)
{
    int64_t end = it_now_ms() + timeout_ms;
    int step = 1;
    for (;;) {
        int ws = 0;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid) {
            if (wstatus)
                *wstatus = ws;
            return true;
        }
        if (r < 0 && errno != EINTR)
            ck_abort_msg("waitpid(%d): %s", (int)pid, strerror(errno));
        if (it_now_ms() >= end)
            return false;
        nap_ms(step);
        if (step < 20)
            step *= 2;
    }
}

/* environ plus/minus the "K=V" entries of extra ("K=" removes K). The
 * strings are borrowed; the array is malloc'd. */
static char **env_with(const char *const extra[])
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    ck_assert_ptr_nonnull(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (size_t j = 0; j < m; j++) {
            size_t kl = strcspn(extra[j], "=");
            if (strncmp(environ[i], extra[j], kl) == 0 && environ[i][kl] == '=')
                overridden = true;
        }
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++) {
        const char *eq = strchr(extra[j], '=');
        if (eq && eq[1])
            env[k++] = (char *)extra[j];
    }
    env[k] = NULL;
    return env;
}

static pid_t spawn_full(const char *const argv[], const char *const env_extra[],
                        int *out_fd, bool own_group)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int pfd[2] = { -1, -1 };
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);

    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGCHLD);
    sigaddset(&deflt, SIGALRM);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (own_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    posix_spawnattr_setflags(&at, flags);

    if (out_fd) {
        ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    }
    char **env = env_with(env_extra);
    pid_t pid = 0;
    int rv = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, env);
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (out_fd) {
        close(pfd[1]);
        if (rv != 0)
            close(pfd[0]);
        else
            *out_fd = pfd[0];
    }
    ck_assert_msg(rv == 0, "posix_spawn(%s): %s", argv[0], strerror(rv));
    return pid;
}

pid_t it_spawn(const char *const argv[], const char *const env_extra[], int *out_fd)
{
    return spawn_full(argv, env_extra, out_fd, false);
}

pid_t it_spawn_client(const char *url, const char *const args[], int *out_fd)
{
    const char *prog = getenv("IT_CLIENT_PROC");
    ck_assert_msg(prog && *prog, "IT_CLIENT_PROC is not set");
    const char *argv[24];
    size_t n = 0;
    argv[n++] = prog;
    argv[n++] = url;
    for (size_t i = 0; args && args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return it_spawn(argv, NULL, out_fd);
}

bool it_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    size_t got = 0;
    while (got + 1 < len) {
        int left = (int)(end - it_now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        char ch;
        ssize_t k = read(fd, &ch, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        if (ch == '\n') {
            buf[got] = 0;
            return true;
        }
        buf[got++] = ch;
    }
    buf[got] = 0;
    return true;
}

/* ------------------------------------------------------------------------
 * daemon
 * ---------------------------------------------------------------------- */

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run the tests through meson)", name);
    return v;
}

void it_daemon_start(it_daemon *d, const it_daemon_opts *o)
{
    static const it_daemon_opts none;
    if (!o)
        o = &none;
    reg_reap(false);
    memset(d, 0, sizeof *d);
    const char *daemon = env_or_fail("POLYPOOL_DAEMON");
    env_or_fail("POLYPOOL_WORKER");

    if (o->same_as) {
        snprintf(d->dir, sizeof d->dir, "%s", o->same_as->dir);
        snprintf(d->sock, sizeof d->sock, "%s", o->same_as->sock);
        d->shared_dir = true;
    } else {
        it_tmpdir(d->dir, sizeof d->dir);
        if (o->default_address)
            snprintf(d->sock, sizeof d->sock, "%s/polypool/polypoold.sock", d->dir);
        else
            snprintf(d->sock, sizeof d->sock, "%s/%s", d->dir,
                     o->sock_name ? o->sock_name : "d.sock");
    }
    snprintf(d->url, sizeof d->url, "ipc://%s", d->sock);

    char workers[16];
    snprintf(workers, sizeof workers, "%d", o->workers > 0 ? o->workers : 2);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = daemon;
    if (!o->default_address) {
        argv[n++] = "--listen";
        argv[n++] = d->url;
    }
    argv[n++] = "--workers";
    argv[n++] = workers;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (size_t i = 0; i < 8 && o->extra[i]; i++)
        argv[n++] = o->extra[i];
    argv[n] = NULL;

    char xdg[128];
    const char *env_extra[4] = { NULL };
    if (o->default_address) {
        snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s", d->dir);
        env_extra[0] = xdg;
        env_extra[1] = "POLYPOOL_ADDRESS=";
    }
    d->pid = spawn_full(argv, env_extra, NULL, true);
    reg_add(d->pid, NULL);
    if (!o->no_wait)
        it_daemon_wait_ready(d, IT_DEADLINE_MS);
}

void it_daemon_wait_ready(it_daemon *d, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    pp_status last = PP_OK;
    for (;;) {
        int ws;
        if (!d->reaped && waitpid(d->pid, &ws, WNOHANG) == d->pid) {
            d->reaped = true;
            d->wstatus = ws;
            ck_abort_msg("polypoold exited during start-up (%s %d)",
                         WIFEXITED(ws) ? "exit" : "signal",
                         WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
        }
        pp_client_opts co = { .address = d->url, .no_autostart = true,
                              .connect_timeout_ms = 500, .name = "it-probe" };
        pp_client *c = NULL;
        last = pp_client_open_opts(&co, &c);
        if (last == PP_OK) {
            pp_client_close(c);
            return;
        }
        if (it_now_ms() >= end)
            break;
        nap_ms(20);
    }
    ck_abort_msg("polypoold at %s did not accept within %d ms (last: %s: %s)", d->url,
                 timeout_ms, pp_status_name(last), pp_last_error()->message);
}

bool it_daemon_wait_exit(it_daemon *d, int timeout_ms)
{
    if (d->pid <= 0)
        return true;
    if (d->reaped)
        return true;
    int ws;
    if (it_waitpid(d->pid, timeout_ms, &ws)) {
        d->reaped = true;
        d->wstatus = ws;
        return true;
    }
    return false;
}

bool it_daemon_kill_wait(it_daemon *d, int sig, int timeout_ms)
{
    if (d->pid <= 0 || d->reaped)
        return d->reaped;
    kill(d->pid, sig);
    return it_daemon_wait_exit(d, timeout_ms);
}

void it_daemon_stop(it_daemon *d)
{
    if (d->pid > 0) {
        if (!d->reaped && !it_daemon_kill_wait(d, SIGTERM, IT_DEADLINE_MS)) {
            fprintf(stderr, "harness: polypoold %d ignored SIGTERM; SIGKILL\n", (int)d->pid);
            kill(-d->pid, SIGKILL);
            kill(d->pid, SIGKILL);
            it_daemon_wait_exit(d, IT_DEADLINE_MS);
        }
        /* Whatever of its group is left (workers of a killed daemon). */
        kill(-d->pid, SIGKILL);
        reg_forget_pid(d->pid);
        d->pid = 0;
    }
    if (d->dir[0] && !d->shared_dir) {
        it_rmtree(d->dir);
        d->dir[0] = 0;
    }
}

/* ------------------------------------------------------------------------
 * clients and values
 * ---------------------------------------------------------------------- */

pp_client *it_client_named(const char *url, const char *name, pp_output_fn out,
                           void *out_arg)
{
    pp_client_opts co = { .address = url, .no_autostart = true,
                          .connect_timeout_ms = 5000, .name = name,
                          .output = out, .output_arg = out_arg };
    pp_client *c = NULL;
    it_assert_status(pp_client_open_opts(&co, &c), PP_OK);
    ck_assert_ptr_nonnull(c);
    return c;
}

pp_client *it_client(const char *url)
{
    return it_client_named(url, "it-test", NULL, NULL);
}

pp_pool *it_pool(pp_client *c, unsigned size)
{
    pp_pool_opts po = { .size = size };
    pp_pool *p = NULL;
    it_assert_status(pp_pool_create(c, &po, &p), PP_OK);
    ck_assert_ptr_nonnull(p);
    return p;
}

pp_func *it_func(const char *symbol)
{
    pp_func *f = NULL;
    it_assert_status(pp_func_c(env_or_fail("PPTEST_LIB"), symbol, &f), PP_OK);
    ck_assert_ptr_nonnull(f);
    return f;
}

pp_value *it_ints(int64_t from, size_t n)
{
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    for (size_t i = 0; i < n; i++)
        it_assert_status(pp_value_append(l, pp_value_int(from + (int64_t)i)), PP_OK);
    return l;
}

pp_value *it_pairs(int64_t from, size_t n, int64_t b)
{
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    for (size_t i = 0; i < n; i++)
        it_assert_status(pp_value_append(l, it_args(2, from + (int64_t)i, b)), PP_OK);
    return l;
}

pp_value *it_args(size_t n, ...)
{
    va_list ap;
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        it_assert_status(pp_value_append(l, pp_value_int(va_arg(ap, int64_t))), PP_OK);
    va_end(ap);
    return l;
}

void it_assert_squares(const pp_value *res, int64_t from, size_t n)
{
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(pp_value_kind(res), PP_LIST);
    ck_assert_uint_eq(pp_value_len(res), n);
    for (size_t i = 0; i < n; i++) {
        const pp_value *v = pp_value_at(res, i);
        int64_t x = from + (int64_t)i, got = 0;
        ck_assert_msg(pp_value_to_int(v, &got) == PP_OK, "result %zu is not an int", i);
        ck_assert_msg(got == x * x, "result %zu: got %lld, want %lld", i,
                      (long long)got, (long long)(x * x));
    }
}

/* ------------------------------------------------------------------------
 * raw nng peer
 * ---------------------------------------------------------------------- */

static void raw_pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p; (void)ev;
    __atomic_add_fetch(&((it_raw *)arg)->pipes_added, 1, __ATOMIC_SEQ_CST);
}

static void raw_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p; (void)ev;
    __atomic_add_fetch(&((it_raw *)arg)->pipes_removed, 1, __ATOMIC_SEQ_CST);
}

int it_raw_open(it_raw *r, const char *url)
{
    memset(r, 0, sizeof *r);
    nng_socket s;
    int rv = nng_req0_open(&s);
    if (rv != 0)
        return rv;
    r->sock = s.id;
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    /* No redial: a dropped pipe stays dropped, so a test can see it (and a
     * quick redial closed at once would itself be an nng#1518 trigger). */
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 60000);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 60000);
    nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, raw_pipe_added, r);
    nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, raw_pipe_removed, r);
    nng_dialer d;
    if ((rv = nng_dialer_create(&d, s, url)) != 0)
        return rv;
    r->dialer = d.id;
    nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 60000);
    nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 60000);
    return nng_dialer_start(d, 0);
}

void it_raw_close(it_raw *r)
{
    if (r->sock) {
        nng_socket s = { .id = r->sock };
        nng_close(s);
        r->sock = 0;
    }
}

int it_raw_send(it_raw *r, const void *data, size_t len)
{
    nng_socket s = { .id = r->sock };
    nng_msg *m;
    int rv = nng_msg_alloc(&m, 0);
    if (rv != 0)
        return rv;
    if ((rv = nng_msg_append(m, data, len)) != 0) {
        nng_msg_free(m);
        return rv;
    }
    if ((rv = nng_sendmsg(s, m, 0)) != 0)
        nng_msg_free(m);
    return rv;
}

int it_raw_recv(it_raw *r, int timeout_ms, void **data, size_t *len)
{
    nng_socket s = { .id = r->sock };
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_msg *m;
    int rv = nng_recvmsg(s, &m, 0);
    if (rv != 0)
        return rv;
    *len = nng_msg_len(m);
    *data = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(*data);
    memcpy(*data, nng_msg_body(m), *len);
    nng_msg_free(m);
    return 0;
}

int it_raw_call(it_raw *r, Polypool__V1__Request *req, int timeout_ms,
                Polypool__V1__Reply **reply)
{
    req->id = ++r->next_id;
    size_t len = polypool__v1__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(buf);
    polypool__v1__request__pack(req, buf);
    int rv = it_raw_send(r, buf, len);
    free(buf);
    if (rv != 0)
        return rv;
    void *data;
    size_t dlen;
    if ((rv = it_raw_recv(r, timeout_ms, &data, &dlen)) != 0)
        return rv;
    Polypool__V1__Reply *rep = polypool__v1__reply__unpack(NULL, dlen, data);
    free(data);
    ck_assert_msg(rep != NULL, "the daemon's reply (%zu bytes) does not decode", dlen);
    ck_assert_msg(rep->id == req->id, "reply id %llu for request %llu",
                  (unsigned long long)rep->id, (unsigned long long)req->id);
    *reply = rep;
    return 0;
}

void it_raw_hello(it_raw *r)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Hello h = POLYPOOL__V1__HELLO__INIT;
    h.version = POLYPOOL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    h.pid = (uint32_t)getpid();
    h.name = "it-raw";
    req.op_case = POLYPOOL__V1__REQUEST__OP_HELLO;
    req.hello = &h;
    Polypool__V1__Reply *rep = NULL;
    int rv = it_raw_call(r, &req, 5000, &rep);
    ck_assert_msg(rv == 0, "raw hello: %s", nng_strerror(rv));
    ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_OK, "raw hello: status %d %s",
                  rep->status, rep->detail);
    ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_HELLO);
    r->session_id = rep->hello->session_id;
    r->daemon_pid = rep->hello->daemon_pid;
    r->default_pool_id = rep->hello->default_pool_id;
    r->max_message = rep->hello->max_message;
    polypool__v1__reply__free_unpacked(rep, NULL);
}

void it_status_open(it_raw *r, const char *url)
{
    int rv = it_raw_open(r, url);
    ck_assert_msg(rv == 0, "raw open %s: %s", url, nng_strerror(rv));
    it_raw_hello(r);
}

Polypool__V1__Reply *it_status(it_raw *r)
{
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__StatusRequest sr = POLYPOOL__V1__STATUS_REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_STATUS;
    req.status = &sr;
    Polypool__V1__Reply *rep = NULL;
    int rv = it_raw_call(r, &req, 5000, &rep);
    ck_assert_msg(rv == 0, "status: %s", nng_strerror(rv));
    ck_assert_msg(rep->status == POLYPOOL__V1__STATUS__STATUS_OK, "status: %d %s",
                  rep->status, rep->detail);
    ck_assert_int_eq(rep->result_case, POLYPOOL__V1__REPLY__RESULT_STATUS_REPLY);
    return rep;
}

void it_status_free(Polypool__V1__Reply *rep)
{
    if (rep)
        polypool__v1__reply__free_unpacked(rep, NULL);
}

const Polypool__V1__PoolStatus *it_status_pool(const Polypool__V1__StatusReply *s,
                                               const char *name)
{
    for (size_t i = 0; i < s->n_pools; i++)
        if (strcmp(s->pools[i]->name, name) == 0)
            return s->pools[i];
    return NULL;
}

const Polypool__V1__PoolStatus *it_status_pool_id(const Polypool__V1__StatusReply *s,
                                                  uint64_t id)
{
    for (size_t i = 0; i < s->n_pools; i++)
        if (s->pools[i]->pool_id == id)
            return s->pools[i];
    return NULL;
}

const Polypool__V1__ClientStatus *it_status_client_pid(const Polypool__V1__StatusReply *s,
                                                       pid_t pid)
{
    for (size_t i = 0; i < s->n_clients; i++)
        if (s->clients[i]->pid == (uint32_t)pid)
            return s->clients[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * running
 * ---------------------------------------------------------------------- */

int it_main(Suite *s)
{
    /* Before any fork and without nng: the registry every test shares. */
    reg = mmap(NULL, sizeof(struct reg_entry) * REG_MAX, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (reg == MAP_FAILED) {
        perror("mmap");
        return 99;
    }
    memset(reg, 0, sizeof(struct reg_entry) * REG_MAX);
    signal(SIGPIPE, SIG_IGN);

    SRunner *sr = srunner_create(s);
    if (srunner_fork_status(sr) != CK_FORK) {
        fprintf(stderr, "integration tests need Check's fork mode (unset CK_FORK)\n");
        srunner_free(sr);
        return 99;
    }
    /* check_env keeps Check's own output silent; a per-test log on stdout
     * (pass and fail, with the assertion message) shows in meson's
     * testlog and --print-errorlogs. */
    if (!getenv("CK_LOG_FILE_NAME") && !getenv("CK_TAP_LOG_FILE_NAME"))
        srunner_set_log(sr, "-");
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    reg_reap(true);
    return failed == 0 ? 0 : 1;
}

/* ---- Python ---- */

char it_py_bindings[PATH_MAX + 32], it_py_tests[PATH_MAX];

bool it_python_paths(char *why, size_t len)
{
    /* Under scripts/valgrind-daemon.sh, POLYPOOL_DAEMON_REAL is the binary. */
    const char *daemon = getenv("POLYPOOL_DAEMON_REAL");
    if (!daemon)
        daemon = getenv("POLYPOOL_DAEMON");
    if (!daemon) {      /* no ck_assert: suite() calls this outside a test */
        snprintf(why, len, "POLYPOOL_DAEMON is not set");
        return false;
    }
    char tmp[PATH_MAX], build[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", daemon);
    snprintf(build, sizeof build, "%s", dirname(dirname(tmp)));
    snprintf(it_py_bindings, sizeof it_py_bindings, "%s/bindings/python", build);
    char pkg[PATH_MAX + 64];
    snprintf(pkg, sizeof pkg, "%s/polypool/_polypool*.so", it_py_bindings);
    glob_t gl;
    bool built = glob(pkg, 0, NULL, &gl) == 0 && gl.gl_pathc > 0;
    globfree(&gl);
    if (!built) {
        snprintf(why, len, "no Python package at %.200s", it_py_bindings);
        return false;
    }
    /* __FILE__: "../tests/integration/harness.c" from the build dir,
     * or absolute. */
    char src[PATH_MAX * 2];
    if (__FILE__[0] == '/')
        snprintf(src, sizeof src, "%s", __FILE__);
    else
        snprintf(src, sizeof src, "%s/%s", build, __FILE__);
    char dir[PATH_MAX * 2 + 32];
    snprintf(dir, sizeof dir, "%s/../../tests/python", dirname(src));
    if (!realpath(dir, it_py_tests)) {
        snprintf(why, len, "no tests/python at %.200s", dir);
        return false;
    }
    return true;
}

pp_func *it_py_func(const char *module, const char *name)
{
    static const char *path[2];
    path[0] = it_py_bindings;
    path[1] = it_py_tests;
    pp_pyenv env = { .interpreter = "/usr/bin/python3", .path = path, .npath = 2 };
    pp_func *f = NULL;
    it_assert_status(pp_func_py(module, name, &env, &f), PP_OK);
    return f;
}
