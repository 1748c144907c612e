/* main.c - polypoold: options, single-instance lock, daemonizing, signals,
 * the loop hooks and the shutdown sequence. The subsystems live in the
 * other files of this folder.
 *
 * Order matters: fork (--daemonize) happens before any thread or nng call,
 * and the three signals are blocked before any thread starts so that only
 * the loop's signalfd sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "log.h"
#include "loop.h"
#include "forkserver.h"
#include "pool.h"
#include "proc.h"
#include "pp_config.h"
#include "server.h"
#include "objstore.h"
#include "shm.h"
#include "session.h"
#include "scheduler.h"
#include "util.h"
#include "worker.h"

#define EXIT_RUNNING 3

static struct {
    char *url;
    char *pidfile;
    const char *log_file;
    const char *worker;
    bool autostart, daemonize;
    long grace_ms, health_ms, workers;
    size_t max_message;
} opt = { .grace_ms = 3000, .health_ms = 1000, .max_message = (size_t)64 << 20 };

static int log_fd = -1;
static uint64_t empty_since;
static uint64_t trim_at;   /* 0: no trim pending */

#define TRIM_DELAY_MS 2000

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: polypoold [OPTION]...\n"
            "The polypool runtime daemon: owns worker pools and serves clients over nng.\n"
            "\n"
            "  --listen URL         ipc://PATH or abstract://NAME (default: $POLYPOOL_ADDRESS,\n"
            "                       else ipc://$XDG_RUNTIME_DIR/polypool/polypoold.sock,\n"
            "                       else ipc:///tmp/polypool-$UID/polypoold.sock)\n"
            "  --pidfile PATH       lock and pid file (default: the socket path + \".pid\")\n"
            "  --workers N          size of the default pool (default: online CPUs)\n"
            "  --worker PATH        the polypool-worker binary (default: $POLYPOOL_WORKER,\n"
            "                       else " PP_WORKER_PATH ")\n"
            "  --max-message BYTES  largest request accepted (default: 64 MiB)\n"
            "  --autostart          exit once no client has been connected for --grace-ms\n"
            "  --grace-ms MS        grace period for --autostart (default: 3000)\n"
            "  --daemonize          run in the background; exit 0 once listening\n"
            "  --log FILE           append the log to FILE instead of stderr\n"
            "  --log-level LEVEL    error, warn, info (default) or debug\n"
            "  --health-ms MS       listener self-check period, 0 = off (default: 1000)\n"
            "  --help               show this help\n"
            "  --version            show the version\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 on failure, 2 on bad usage,\n"
            "3 when a daemon is already running at the address.\n");
}

static int parse_num(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The per-user runtime directory: created 0700, refused if not ours. */
static int runtime_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n = xdg && xdg[0] ? snprintf(buf, len, "%s/polypool", xdg)
                          : snprintf(buf, len, "/tmp/polypool-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= len)
        return -1;
    if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "polypoold: cannot create %s: %s\n", buf, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "polypoold: %s is not a directory\n", buf);
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        fprintf(stderr,
                "polypoold: refusing to use %s: it must be owned by uid %u with mode 0700\n",
                buf, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv)
{
    enum { O_LISTEN = 256, O_PIDFILE, O_WORKERS, O_WORKER, O_MAXMSG, O_AUTOSTART, O_GRACE,
           O_DAEMONIZE, O_LOG, O_LOGLEVEL, O_HEALTH, O_HELP, O_VERSION };
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "pidfile", required_argument, NULL, O_PIDFILE },
        { "workers", required_argument, NULL, O_WORKERS },
        { "worker", required_argument, NULL, O_WORKER },
        { "max-message", required_argument, NULL, O_MAXMSG },
        { "autostart", no_argument, NULL, O_AUTOSTART },
        { "grace-ms", required_argument, NULL, O_GRACE },
        { "daemonize", no_argument, NULL, O_DAEMONIZE },
        { "log", required_argument, NULL, O_LOG },
        { "log-level", required_argument, NULL, O_LOGLEVEL },
        { "health-ms", required_argument, NULL, O_HEALTH },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    int c;
    long v;
    enum log_level lv;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            free(opt.url);
            opt.url = strdup(optarg);
            break;
        case O_PIDFILE:
            free(opt.pidfile);
            opt.pidfile = strdup(optarg);
            break;
        case O_WORKERS:
            if (parse_num(optarg, 1, 4096, &v) < 0)
                goto bad;
            opt.workers = v;
            break;
        case O_WORKER:
            opt.worker = optarg;
            break;
        case O_MAXMSG:
            if (parse_num(optarg, 4096, LONG_MAX, &v) < 0)
                goto bad;
            opt.max_message = (size_t)v;
            break;
        case O_AUTOSTART:
            opt.autostart = true;
            break;
        case O_GRACE:
            if (parse_num(optarg, 0, 86400000, &v) < 0)
                goto bad;
            opt.grace_ms = v;
            break;
        case O_DAEMONIZE:
            opt.daemonize = true;
            break;
        case O_LOG:
            opt.log_file = optarg;
            break;
        case O_LOGLEVEL:
            if (log_parse_level(optarg, &lv) < 0)
                goto bad;
            log_set_level(lv);
            break;
        case O_HEALTH:
            if (parse_num(optarg, 0, 86400000, &v) < 0)
                goto bad;
            opt.health_ms = v;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("polypoold %s\n", PP_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "polypoold: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "polypoold: bad value '%s' for --%s\n", optarg, longopts[c - 256].name);
    return -1;
}

/* Fills opt.url and opt.pidfile; prepares the socket's directory. */
static int resolve_address(void)
{
    char dir[PATH_MAX];
    if (!opt.url) {
        const char *env = getenv("POLYPOOL_ADDRESS");
        if (env && env[0]) {
            opt.url = strdup(env);
        } else {
            if (runtime_dir(dir, sizeof dir) < 0)
                return -1;
            char url[PATH_MAX + 32];
            snprintf(url, sizeof url, "ipc://%s/polypoold.sock", dir);
            opt.url = strdup(url);
        }
    }
    if (!opt.url)
        return -1;
    if (!strncmp(opt.url, "ipc://", 6)) {
        const char *path = opt.url + 6;
        if (!path[0] || strlen(path) > 107) {
            fprintf(stderr, "polypoold: bad ipc path in %s (empty or over 107 bytes)\n", opt.url);
            return -1;
        }
        /* Make the parent directory if it is missing (0700). */
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "polypoold: cannot create %s: %s\n", dir, strerror(errno));
                return -1;
            }
        }
        if (!opt.pidfile) {
            char pf[PATH_MAX];
            snprintf(pf, sizeof pf, "%s.pid", path);
            opt.pidfile = strdup(pf);
        }
    } else if (!strncmp(opt.url, "abstract://", 11)) {
        if (!opt.url[11]) {
            fprintf(stderr, "polypoold: abstract:// needs a name\n");
            return -1;
        }
        if (!opt.pidfile) {
            if (runtime_dir(dir, sizeof dir) < 0)
                return -1;
            char pf[PATH_MAX];
            int n = snprintf(pf, sizeof pf, "%s/abstract-", dir);
            for (const char *p = opt.url + 11; *p && n < (int)sizeof pf - 5; p++)
                pf[n++] = *p == '/' ? '_' : *p;
            snprintf(pf + n, sizeof pf - (size_t)n, ".pid");
            opt.pidfile = strdup(pf);
        }
    } else {
        fprintf(stderr,
                "polypoold: refusing to listen at %s: only ipc:// and abstract:// are "
                "supported (TCP needs a token and is not built yet)\n",
                opt.url);
        return -2;
    }
    return opt.pidfile ? 0 : -1;
}

/* Takes the single-instance lock. Returns the fd, -1 on error, or -3 when
 * another daemon holds it. */
static int lock_pidfile(void)
{
    int fd = open(opt.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "polypoold: cannot open %s: %s\n", opt.pidfile, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            char buf[32] = "";
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = 0;
            fprintf(stderr, "polypoold: already running at %s (pid %ld)\n", opt.url,
                    strtol(buf, NULL, 10));
            close(fd);
            return -3;
        }
        fprintf(stderr, "polypoold: cannot lock %s: %s\n", opt.pidfile, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void write_pid(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        log_warn("cannot write the pid file %s: %s", opt.pidfile, strerror(errno));
}

static int open_log(void)
{
    if (!opt.log_file)
        return 0;
    int fd = open(opt.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "polypoold: cannot open log %s: %s\n", opt.log_file, strerror(errno));
        return -1;
    }
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    log_set_fd(fd);
    return 0;
}

/* Closes every fd above 2 but the ones listed (a client that starts us
 * must not have its pipes held open by the daemon). */
static void close_stray_fds(const int *keep, int nkeep)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++) {
        bool k = false;
        for (int i = 0; i < nkeep; i++)
            k = k || keep[i] == fd;
        if (!k)
            close(fd);
    }
}

/* Forks; the parent waits for the child's readiness byte and exits. */
static int daemonize(int *ready_fd, int lock_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        char c = 0;
        ssize_t n;
        do
            n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && c == 'R' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        if (log_fd < 0)
            dup2(devnull, 2);
        else
            dup2(log_fd, 2);
        if (devnull > 2)
            close(devnull);
    }
    *ready_fd = p[1];
    int keep[] = { p[1], lock_fd, log_fd };
    close_stray_fds(keep, 3);
    return 0;
}

/* ---- loop hooks ---------------------------------------------------- */

static void hook_wake(void)
{
    server_wake();
}

static void check_idle_exit(uint64_t now)
{
    if (!opt.autostart)
        return;
    if (session_count()) {
        empty_since = 0;
        return;
    }
    if (!empty_since) {
        empty_since = now;
        loop_deadline(now + (uint64_t)opt.grace_ms);
    }
}

static uint64_t hook_tick(uint64_t now)
{
    uint64_t next = sched_tick(now);
    uint64_t n2 = server_tick(now);
    if (n2 < next)
        next = n2;
    n2 = worker_tick(now);
    if (n2 < next)
        next = n2;
    n2 = pool_tick(now);   /* spawn retries after a backoff */
    if (n2 < next)
        next = n2;
    n2 = forkserver_tick(now);
    if (n2 < next)
        next = n2;
    n2 = proc_tick(now);
    if (n2 < next)
        next = n2;
    /* Give memory back to the system once a burst is over: glibc keeps
     * freed memory in its arenas (the target idle RSS is 10 MiB). */
    if (trim_at && now >= trim_at) {
        trim_at = 0;
        malloc_trim(0);
    } else if (trim_at && trim_at < next) {
        next = trim_at;
    }
    if (opt.autostart && !session_count() && empty_since) {
        if (now >= empty_since + (uint64_t)opt.grace_ms) {
            log_info("no client for %ld ms; exiting", opt.grace_ms);
            loop_stop();
        } else if (empty_since + (uint64_t)opt.grace_ms < next) {
            next = empty_since + (uint64_t)opt.grace_ms;
        }
    }
    return next;
}

static void hook_idle(void)
{
    uint64_t now = now_ms();
    if (!trim_at) {
        trim_at = now + TRIM_DELAY_MS;
        loop_deadline(trim_at);
    }
    pool_fill_pending();
    server_idle();
    worker_reap_dead();
    check_idle_exit(now);
    if (server_shutdown_due(now))
        loop_stop();
}

static void hook_signal(int sig)
{
    if (sig == SIGHUP) {
        if (opt.log_file && open_log() == 0)
            log_info("SIGHUP: log reopened");
        return;
    }
    log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    loop_stop();
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    int rv = resolve_address();
    if (rv < 0)
        return rv == -2 ? 2 : 1;
    if (open_log() < 0)
        return 1;
    int lock_fd = lock_pidfile();
    if (lock_fd == -3)
        return EXIT_RUNNING;
    if (lock_fd < 0)
        return 1;
    /* Before any thread and any nng call. */
    int ready_fd = -1;
    if (opt.daemonize && daemonize(&ready_fd, lock_fd) < 0) {
        fprintf(stderr, "polypoold: cannot daemonize: %s\n", strerror(errno));
        return 1;
    }
    write_pid(lock_fd);
    if (loop_block_signals() < 0) {
        log_error("cannot block signals: %s", strerror(errno));
        return 1;
    }
    /* We hold the lock, so a socket file left at our path is stale;
     * removing it keeps nng from probing it (see nng#1518). */
    if (!strncmp(opt.url, "ipc://", 6))
        unlink(opt.url + 6);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    const char *wpath = opt.worker;
    if (!wpath || !wpath[0])
        wpath = getenv("POLYPOOL_WORKER");
    if (!wpath || !wpath[0])
        wpath = PP_WORKER_PATH;

    struct loop_hooks hooks = {
        .wake = hook_wake, .tick = hook_tick, .idle = hook_idle, .signal = hook_signal,
    };
    if (loop_init(&hooks) < 0) {
        log_error("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    struct pool_config pc = {
        .worker_path = wpath,
        .default_size = opt.workers ? (uint32_t)opt.workers : (uint32_t)ncpu,
        .cpu_count = (uint32_t)ncpu,
    };
    shm_sweep();
    /* Workers (and their Python hosts) that attach shared objects connect
     * back to this daemon and never autostart another. */
    setenv("POLYPOOL_ADDRESS", opt.url, 1);
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);
    daemon_lock();
    rv = pool_init(&pc);
    daemon_unlock();
    if (rv < 0) {
        log_error("out of memory");
        return 1;
    }
    struct server_config sc = {
        .url = opt.url, .max_message = opt.max_message, .health_ms = (int)opt.health_ms,
        .autostarted = opt.autostart,
    };
    char err[512];
    if (server_open(&sc, err, sizeof err) < 0) {
        log_error("%s", err);
        fprintf(stderr, "polypoold: %s\n", err);
        server_close();
        unlink(opt.pidfile);
        return 1;
    }
    log_info("polypoold %s listening at %s (default pool: %u workers of %s)", PP_VERSION,
             opt.url, pc.default_size, wpath);
    if (ready_fd >= 0) {
        ssize_t n = write(ready_fd, "R", 1);
        (void)n;
        close(ready_fd);
    }
    if (opt.autostart) {
        empty_since = now_ms();
        daemon_lock();
        loop_deadline(empty_since + (uint64_t)opt.grace_ms);
        daemon_unlock();
    }

    loop_run();

    /* Shutdown: no new clients, workers stopped, then the socket. */
    server_stop_listening();
    daemon_lock();
    proc_shutdown_all();
    worker_shutdown_all(1000, 2000);
    forkserver_shutdown();
    server_end_sessions();
    shm_fini();
    mobj_fini();
    daemon_unlock();
    server_close();
    daemon_lock();
    pool_fini();
    worker_reap_dead();
    daemon_unlock();
    if (!strncmp(opt.url, "ipc://", 6))
        unlink(opt.url + 6);
    unlink(opt.pidfile);
    close(lock_fd);
    loop_fini();
    log_info("stopped");
    if (log_fd >= 0)
        close(log_fd);
    free(opt.url);
    free(opt.pidfile);
    nng_fini();
    return 0;
}
