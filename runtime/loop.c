/* loop.c - see loop.h.
 *
 * Invariant: next_deadline is never later than the earliest real deadline;
 * a deadline that is lowered from another thread also writes the eventfd so
 * a sleeping epoll_wait recomputes its timeout.
 */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static int epfd = -1, evfd = -1, sigfd = -1;
static struct loop_hooks hooks;
static uint64_t next_deadline = UINT64_MAX;
static bool stopping;
static pthread_t loop_thread;
static bool loop_running;

void daemon_lock(void) { pthread_mutex_lock(&big_lock); }
void daemon_unlock(void) { pthread_mutex_unlock(&big_lock); }

static sigset_t blocked_set(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGHUP);
    return s;
}

int loop_block_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t s = blocked_set();
    return pthread_sigmask(SIG_BLOCK, &s, NULL) ? -1 : 0;
}

int loop_init(const struct loop_hooks *h)
{
    hooks = *h;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sigset_t s = blocked_set();
    sigfd = signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
    if (epfd < 0 || evfd < 0 || sigfd < 0)
        return -1;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &evfd };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) < 0)
        return -1;
    ev.data.ptr = &sigfd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0)
        return -1;
    return 0;
}

void loop_fini(void)
{
    if (epfd >= 0)
        close(epfd);
    if (evfd >= 0)
        close(evfd);
    if (sigfd >= 0)
        close(sigfd);
    epfd = evfd = sigfd = -1;
}

int loop_add(struct loop_src *s, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = s };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

int loop_mod(struct loop_src *s, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = s };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

void loop_del(struct loop_src *s)
{
    if (s->fd >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

void loop_wake(void)
{
    uint64_t one = 1;
    if (evfd >= 0) {
        ssize_t n = write(evfd, &one, sizeof one);
        (void)n;
    }
}

void loop_deadline(uint64_t t)
{
    if (t >= next_deadline)
        return;
    next_deadline = t;
    if (!loop_running || !pthread_equal(pthread_self(), loop_thread))
        loop_wake();
}

void loop_stop(void)
{
    stopping = true;
    loop_wake();
}

void loop_run(void)
{
    struct epoll_event evs[64];
    daemon_lock();
    loop_thread = pthread_self();
    loop_running = true;
    stopping = false;
    while (!stopping) {
        uint64_t now = now_ms();
        int timeout = -1;
        if (next_deadline != UINT64_MAX)
            timeout = next_deadline <= now ? 0 : (int)(next_deadline - now > 60000 ? 60000 : next_deadline - now);
        daemon_unlock();
        int n = epoll_wait(epfd, evs, 64, timeout);
        daemon_lock();
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &evfd) {
                uint64_t v;
                ssize_t r = read(evfd, &v, sizeof v);
                (void)r;
                if (hooks.wake)
                    hooks.wake();
            } else if (p == &sigfd) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (hooks.signal)
                        hooks.signal((int)si.ssi_signo);
                }
            } else {
                struct loop_src *s = p;
                s->cb(s, evs[i].events);
            }
        }
        now = now_ms();
        if (now >= next_deadline) {
            next_deadline = UINT64_MAX;
            uint64_t nd = hooks.tick ? hooks.tick(now) : UINT64_MAX;
            if (nd < next_deadline)
                next_deadline = nd;
        }
        if (hooks.idle)
            hooks.idle();
    }
    loop_running = false;
    daemon_unlock();
}
