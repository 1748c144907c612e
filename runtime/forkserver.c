/* forkserver.c - see forkserver.h. */
#include "forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "pyenv.h"
#include "util.h"
#include "worker.h"

enum fs_state { FS_STARTING, FS_READY, FS_DEAD };

struct forkserver {
    struct pyenv *env;           /* NULL once dead */
    pid_t pid;
    int sock;
    struct loop_src src;
    enum fs_state state;
    uint64_t idle_since;         /* ms; 0 while its environment is in use */
    struct frame_reader rd;
    struct worker **pending;     /* asked for, in order, waiting for "forked" */
    size_t n_pending, cap_pending;
    struct list link;
};

/* Every server ever started; dead ones stay (workers may point at them)
 * until the daemon exits. */
static struct list servers = { &servers, &servers };
static size_t n_alive;

static void fs_cb(struct loop_src *src, uint32_t events);

static void fs_kill(struct forkserver *fs, const char *why)
{
    if (fs->state == FS_DEAD)
        return;
    if (why)
        log_info("fork server %d (%s): %s", (int)fs->pid, pyenv_label(fs->env), why);
    fs->state = FS_DEAD;
    n_alive--;
    if (fs->src.fd >= 0)
        loop_del(&fs->src);
    close(fs->sock);
    fs->sock = fs->src.fd = -1;
    frame_reader_fini(&fs->rd);
    kill(fs->pid, SIGKILL);
    /* Our child: reap it now (SIGKILL is prompt). */
    while (waitpid(fs->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pyenv_unref(fs->env);
    fs->env = NULL;
    /* Workers it had not forked yet: their sockets' other ends died with
     * the request, so they see EOF and end as workers whose status is
     * lost (worker_tick). */
    fs->n_pending = 0;
}

static struct forkserver *fs_start(struct pyenv *env)
{
    struct forkserver *fs = calloc(1, sizeof *fs);
    int sv[2] = { -1, -1 };
    char **envp = NULL;
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    if (!fs || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        goto fail;
    if (!(envp = pyenv_environ(env, environ)) || posix_spawn_file_actions_init(&fa) != 0)
        goto fail;
    fa_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    if (env->cwd[0])
        posix_spawn_file_actions_addchdir_np(&fa, env->cwd);
    char *argv[] = { env->interpreter, "-m", "polypool._worker", "--forkserver", "3", NULL };
    int rc = posix_spawn(&fs->pid, env->interpreter, &fa, NULL, argv, envp);
    if (rc != 0) {
        errno = rc;
        goto fail;
    }
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(sv[1]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    fs->sock = sv[0];
    fs->env = pyenv_ref(env);
    fs->state = FS_STARTING;
    frame_reader_init(&fs->rd);
    fs->src.fd = fs->sock;
    fs->src.cb = fs_cb;
    list_push_back(&servers, &fs->link);
    n_alive++;
    if (loop_add(&fs->src, EPOLLIN) < 0)
        fs_kill(fs, "cannot watch its socket");
    else
        log_debug("fork server %d starting for %s", (int)fs->pid, pyenv_label(env));
    return fs;
fail:
    log_warn("cannot start a fork server for %s: %s", pyenv_label(env), strerror(errno));
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    free(envp);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    free(fs);
    return NULL;
}

static struct forkserver *fs_find(const struct pyenv *env)
{
    list_for_each (l, &servers) {
        struct forkserver *fs = container_of(l, struct forkserver, link);
        if (fs->env == env && fs->state != FS_DEAD)
            return fs;
    }
    return NULL;
}

/* Handles one frame. Returns -1 when the server is done for. */
static int fs_frame(struct forkserver *fs, const char *msg, size_t len)
{
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), msg);
    int pid, status;
    if (sscanf(text, "exited %d %d", &pid, &status) == 2) {
        worker_exited((pid_t)pid, status);
        return 0;
    }
    if (sscanf(text, "ready %d", &pid) == 1 && fs->state == FS_STARTING) {
        fs->state = FS_READY;
        log_debug("fork server %d ready", (int)fs->pid);
        return 0;
    }
    if (sscanf(text, "forked %d", &pid) == 1 && fs->n_pending) {
        struct worker *w = fs->pending[0];
        memmove(fs->pending, fs->pending + 1, --fs->n_pending * sizeof *fs->pending);
        if (w)
            worker_pid_known(w, (pid_t)pid);
        return 0;
    }
    if (strcmp(text, "stale") == 0) {
        fs_kill(fs, "a module it imported changed on disk");
        return -1;
    }
    fs_kill(fs, text[0] ? text : "bad message");
    return -1;
}

/* Reads what the socket holds. -1 once the server is dead. */
static int fs_read(struct forkserver *fs)
{
    for (;;) {
        void *payload;
        size_t len;
        int rv = frame_reader_read(&fs->rd, fs->sock, &payload, &len);
        if (rv == 0)
            return 0;
        if (rv < 0) {
            fs_kill(fs, "exited");
            return -1;
        }
        int r = fs_frame(fs, payload, len);
        free(payload);
        if (r < 0)
            return -1;
    }
}

static void fs_cb(struct loop_src *src, uint32_t events)
{
    struct forkserver *fs = container_of(src, struct forkserver, src);
    fs_read(fs);
}

static int send_fork(struct forkserver *fs, int sock, int out, int err)
{
    uint8_t msg[8] = { 4, 0, 0, 0, 'f', 'o', 'r', 'k' };
    int fds[3] = { sock, out, err };
    char cbuf[CMSG_SPACE(sizeof fds)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = { .iov_base = msg, .iov_len = sizeof msg };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t n;
    do
        n = sendmsg(fs->sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof msg ? 0 : -1;
}

int forkserver_request(struct pyenv *env, int sock, int out, int err, struct worker *w)
{
    struct forkserver *fs = fs_find(env);
    if (!fs || fs->state != FS_READY)
        return -1;
    fs->idle_since = 0;
    if (fs->n_pending == fs->cap_pending) {
        size_t nc = fs->cap_pending ? 2 * fs->cap_pending : 8;
        struct worker **np = realloc(fs->pending, nc * sizeof *np);
        if (!np)
            return -1;
        fs->pending = np;
        fs->cap_pending = nc;
    }
    if (send_fork(fs, sock, out, err) < 0) {
        fs_kill(fs, "cannot send it a request");
        return -1;
    }
    fs->pending[fs->n_pending++] = w;
    w->fs = fs;
    w->pid = 0;
    return 0;
}

/* Whether a pool is made for env or a worker runs in it. (Its reference
 * count says less: a session keeps the environments it named.) */
static bool env_in_use(const struct pyenv *env)
{
    list_for_each (l, pool_all()) {
        const struct pool *p = container_of(l, struct pool, link);
        if (p->env == env && p->state == POOL_RUNNING)
            return true;
        list_for_each (m, &p->workers) {
            const struct worker *w = container_of(m, struct worker, pool_link);
            if (w->env == env && w->state != WORKER_DEAD)
                return true;
        }
    }
    return false;
}

/* The live server whose environment nothing uses, unused the longest;
 * NULL if every one is in use. */
static struct forkserver *least_used(void)
{
    struct forkserver *best = NULL;
    list_for_each (l, &servers) {
        struct forkserver *fs = container_of(l, struct forkserver, link);
        if (fs->state == FS_DEAD || env_in_use(fs->env))
            continue;
        /* idle_since 0: not seen unused by a tick yet, so the most recent. */
        uint64_t since = fs->idle_since ? fs->idle_since : UINT64_MAX;
        uint64_t best_since = best && best->idle_since ? best->idle_since : UINT64_MAX;
        if (!best || since < best_since)
            best = fs;
    }
    return best;
}

void forkserver_want(struct pyenv *env)
{
    if (!env || fs_find(env))
        return;
    if (n_alive >= FORKSERVER_MAX) {
        struct forkserver *old = least_used();
        if (!old)
            return;
        fs_kill(old, "making room for another environment");
    }
    fs_start(env);
}

void forkserver_forget(struct worker *w)
{
    struct forkserver *fs = w->fs;
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_pending; i++)
        if (fs->pending[i] == w)
            fs->pending[i] = NULL;   /* its "forked" still comes, for nobody */
}

bool forkserver_alive(const struct forkserver *fs)
{
    return fs && fs->state != FS_DEAD;
}

uint64_t forkserver_tick(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    list_for_each (l, &servers) {
        struct forkserver *fs = container_of(l, struct forkserver, link);
        if (fs->state == FS_DEAD)
            continue;
        if (env_in_use(fs->env)) {
            fs->idle_since = 0;
            continue;
        }
        if (!fs->idle_since)
            fs->idle_since = now;
        uint64_t end = fs->idle_since + FORKSERVER_IDLE_MS;
        if (now >= end)
            fs_kill(fs, "unused");
        else if (end < next)
            next = end;
    }
    return next;
}

void forkserver_shutdown(void)
{
    list_for_each_safe (l, tmp, &servers) {
        struct forkserver *fs = container_of(l, struct forkserver, link);
        fs_kill(fs, NULL);
        list_del(&fs->link);
        free(fs->pending);
        free(fs);
    }
}

size_t forkserver_count(void)
{
    return n_alive;
}
