/* test-daemon.c - the daemon's life and the client's view of it: no
 * daemon, autostart, a daemon killed under a client, a client used after
 * fork, a client killed under the daemon, SIGTERM, single instance, socket
 * permissions and uid checks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static it_daemon D;

static void teardown(void)
{
    it_daemon_stop(&D);
}

static void assert_default_pool_works(const char *url)
{
    pp_client *c = it_client(url);
    pp_pool *p = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p), PP_OK);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 100), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 100);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}

static bool path_missing(void *arg)
{
    struct stat sb;
    return stat((const char *)arg, &sb) != 0 && errno == ENOENT;
}

/* ---- no daemon ---- */

START_TEST(no_daemon_refused_fast)
{
    char dir[64], url[160];
    it_tmpdir(dir, sizeof dir);
    snprintf(url, sizeof url, "ipc://%s/none.sock", dir);
    ck_assert_str_eq(getenv("POLYPOOL_NO_AUTOSTART"), "1");

    pp_client *c = NULL;
    int64_t t0 = it_now_ms();
    it_assert_status(pp_client_open(url, &c), PP_ECONNREFUSED);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(pp_last_error()->status, PP_ECONNREFUSED);
    ck_assert_msg(it_now_ms() - t0 < 2000, "refusal took %lld ms",
                  (long long)(it_now_ms() - t0));

    /* The option alone does it too. */
    unsetenv("POLYPOOL_NO_AUTOSTART");
    pp_client_opts co = { .address = url, .no_autostart = true };
    t0 = it_now_ms();
    it_assert_status(pp_client_open_opts(&co, &c), PP_ECONNREFUSED);
    ck_assert_msg(it_now_ms() - t0 < 2000, "refusal took %lld ms",
                  (long long)(it_now_ms() - t0));
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);

    /* A stale socket file (a dead daemon's) is refused the same way. */
    char path[100];
    snprintf(path, sizeof path, "%s/stale.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    snprintf(url, sizeof url, "ipc://%s", path);
    t0 = it_now_ms();
    it_assert_status(pp_client_open(url, &c), PP_ECONNREFUSED);
    ck_assert_msg(it_now_ms() - t0 < 2000, "refusal took %lld ms",
                  (long long)(it_now_ms() - t0));

    it_assert_status(pp_client_open("bogus://nowhere", &c), PP_EINVAL);
    it_rmtree(dir);
}
END_TEST

/* ---- autostart ---- */

static pid_t read_pidfile(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    long pid = 0;
    if (fscanf(fp, "%ld", &pid) != 1)
        pid = 0;
    fclose(fp);
    return (pid_t)pid;
}

START_TEST(autostart_and_grace_exit)
{
    char dir[64], sock[128], url[160], pidfile[160];
    it_tmpdir(dir, sizeof dir);
    snprintf(sock, sizeof sock, "%s/auto.sock", dir);
    snprintf(url, sizeof url, "ipc://%s", sock);
    snprintf(pidfile, sizeof pidfile, "%s.pid", sock);
    unsetenv("POLYPOOL_NO_AUTOSTART");

    pp_client *c = NULL;
    pp_client_opts co = { .address = url, .connect_timeout_ms = 10000, .name = "it-auto" };
    it_assert_status(pp_client_open_opts(&co, &c), PP_OK);

    /* Who started? The daemon's own status, and its pidfile, agree. */
    it_raw st;
    it_status_open(&st, url);
    Polypool__V1__Reply *rep = it_status(&st);
    pid_t dpid = (pid_t)rep->status_reply->pid;
    ck_assert(rep->status_reply->autostarted);
    it_status_free(rep);
    it_raw_close(&st);
    ck_assert_int_gt(dpid, 0);
    it_register_pid(dpid);
    ck_assert_int_eq(st.daemon_pid, (uint32_t)dpid);
    ck_assert_int_eq(read_pidfile(pidfile), dpid);
    ck_assert(it_pid_alive(dpid));

    /* It runs the build tree's binary. */
    char exe[512] = "", lnk[64];
    snprintf(lnk, sizeof lnk, "/proc/%d/exe", (int)dpid);
    ssize_t n = readlink(lnk, exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = 0;
    char want[512];
    ck_assert_ptr_nonnull(realpath(getenv("POLYPOOL_DAEMON"), want));
    ck_assert_str_eq(exe, want);

    pp_pool *p = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p), PP_OK);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 50), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 50);
    pp_value_free(res);

    /* A second client finds the running daemon instead of starting one. */
    pp_client *c2 = NULL;
    it_assert_status(pp_client_open_opts(&co, &c2), PP_OK);
    it_raw st2;
    it_status_open(&st2, url);
    ck_assert_int_eq(st2.daemon_pid, (uint32_t)dpid);
    it_raw_close(&st2);
    pp_client_close(c2);

    pp_pool_free(p);
    pp_client_close(c);
    /* The last client left: the daemon exits by itself after its grace
     * period and takes its socket and pidfile with it. */
    ck_assert_msg(it_wait_pid_gone(dpid, 60000), "autostarted daemon %d did not exit",
                  (int)dpid);
    it_forget_pid(dpid);
    ck_assert_msg(it_wait_until(path_missing, sock, IT_DEADLINE_MS), "socket left behind");
    ck_assert_msg(it_wait_until(path_missing, pidfile, IT_DEADLINE_MS), "pidfile left behind");

    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);
    pp_value_free(items);
    pp_func_free(f);
    it_rmtree(dir);
}
END_TEST

/* ---- the daemon dies under a client ---- */

struct bg_map {
    pp_pool *pool;
    pp_func *f;
    pp_value *items;
    pp_status st;
    int64_t returned_at;
    int done;
};

static void *bg_map_run(void *arg)
{
    struct bg_map *b = arg;
    pp_value *res = NULL;
    pp_map_opts mo = { .chunksize = 1 };
    b->st = pp_pool_map(b->pool, b->f, b->items, &mo, &res);
    b->returned_at = it_now_ms();
    pp_value_free(res);
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static bool bg_done(void *arg)
{
    return __atomic_load_n(&((struct bg_map *)arg)->done, __ATOMIC_SEQ_CST);
}

/* Waits until some pool other than "default" has a running task. */
static void wait_task_running(it_raw *st)
{
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    for (;;) {
        Polypool__V1__Reply *rep = it_status(st);
        bool running = false;
        for (size_t i = 0; i < rep->status_reply->n_pools; i++)
            if (rep->status_reply->pools[i]->tasks_running >= 1)
                running = true;
        it_status_free(rep);
        if (running)
            return;
        ck_assert_msg(it_now_ms() < end, "no task started");
        it_poll_nap();
    }
}

START_TEST(daemon_killed_during_map)
{
    it_daemon_start(&D, NULL);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    struct bg_map b = { .pool = p, .f = it_func("pt_sleep_ms"),
                        .items = it_args(3, 20000, 20000, 20000) };
    pthread_t t;
    pthread_create(&t, NULL, bg_map_run, &b);
    it_raw st;
    it_status_open(&st, D.url);
    wait_task_running(&st);
    it_raw_close(&st);

    int64_t t0 = it_now_ms();
    ck_assert(it_daemon_kill_wait(&D, SIGKILL, IT_DEADLINE_MS));
    ck_assert_msg(it_wait_until(bg_done, &b, 5000), "map still blocked 5 s after the daemon died");
    pthread_join(t, NULL);
    it_assert_status(b.st, PP_ECONNRESET);
    ck_assert_msg(b.returned_at - t0 < 3000, "map returned %lld ms after the kill",
                  (long long)(b.returned_at - t0));

    /* Later calls fail the same way, at once. */
    t0 = it_now_ms();
    it_assert_status(pp_client_ping(c, 5000), PP_ECONNRESET);
    pp_value *res = NULL;
    it_assert_status(pp_pool_map(p, b.f, b.items, NULL, &res), PP_ECONNRESET);
    pp_future *fut = NULL;
    pp_status s2 = pp_pool_apply_async(p, b.f, NULL, NULL, NULL, &fut);
    if (s2 == PP_OK) {
        it_assert_status(pp_future_get(fut, 5000, NULL), PP_ECONNRESET);
        pp_future_free(fut);
    } else {
        it_assert_status(s2, PP_ECONNRESET);
    }
    pp_pool *p2 = NULL;
    it_assert_status(pp_pool_create(c, NULL, &p2), PP_ECONNRESET);
    ck_assert_msg(it_now_ms() - t0 < 3000, "calls after the daemon died took %lld ms",
                  (long long)(it_now_ms() - t0));

    pp_pool_free(p);
    pp_client_close(c);
    pp_value_free(b.items);
    pp_func_free(b.f);
}
END_TEST

/* ---- fork ---- */

START_TEST(client_in_forked_child)
{
    it_daemon_start(&D, NULL);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 10), *res = NULL;
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    pp_value_free(res);

    fflush(NULL);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* Report through the exit code; never return into Check. */
        pp_value *r = NULL;
        pp_status a = pp_pool_map(p, f, items, NULL, &r);
        pp_status b = pp_client_ping(c, 1000);
        pp_status d = pp_pool_apply(p, f, NULL, 1000, &r);
        pp_client_close(c);   /* must not touch the parent's connection */
        if (a == PP_EFORKED && b == PP_EFORKED && d == PP_EFORKED)
            _exit(0);
        _exit(a != PP_EFORKED ? 10 + a : b != PP_EFORKED ? 40 + b : 70 + d);
    }
    int ws = 0;
    ck_assert_msg(it_waitpid(child, IT_DEADLINE_MS, &ws), "forked child hung");
    ck_assert_msg(WIFEXITED(ws), "forked child died of signal %d", WTERMSIG(ws));
    ck_assert_msg(WEXITSTATUS(ws) == 0, "forked child: exit %d (want PP_EFORKED from every call)",
                  WEXITSTATUS(ws));

    /* The parent's client is unharmed. */
    it_assert_status(pp_pool_map(p, f, items, NULL, &res), PP_OK);
    it_assert_squares(res, 0, 10);
    pp_value_free(res);
    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(p);
    pp_client_close(c);
}
END_TEST

/* ---- a client dies under the daemon ---- */

START_TEST(client_killed_with_tasks_pending)
{
    it_daemon_start(&D, NULL);
    int out = -1;
    const char *args[] = { "hang", NULL };
    pid_t cp = it_spawn_client(D.url, args, &out);
    char line[64];
    ck_assert_msg(it_read_line(out, line, sizeof line, IT_DEADLINE_MS),
                  "client-proc never got ready");
    close(out);
    int rpid = 0;
    ck_assert_int_eq(sscanf(line, "ready %d", &rpid), 1);
    ck_assert_int_eq(rpid, cp);

    it_raw st;
    it_status_open(&st, D.url);
    wait_task_running(&st);
    Polypool__V1__Reply *rep = it_status(&st);
    const Polypool__V1__ClientStatus *cs = it_status_client_pid(rep->status_reply, cp);
    ck_assert_ptr_nonnull(cs);
    uint64_t sid = cs->session_id;
    ck_assert_uint_ge(cs->jobs, 1);
    /* Its private pool and the worker running its task. */
    uint64_t pool_id = 0;
    pid_t wpids[8];
    size_t nw = 0;
    for (size_t i = 0; i < rep->status_reply->n_pools; i++) {
        const Polypool__V1__PoolStatus *ps = rep->status_reply->pools[i];
        for (size_t k = 0; k < ps->n_sessions; k++)
            if (ps->sessions[k] == sid && strcmp(ps->kind, "private") == 0) {
                pool_id = ps->pool_id;
                for (size_t w = 0; w < ps->n_workers && nw < 8; w++)
                    if (ps->workers[w]->pid)
                        wpids[nw++] = (pid_t)ps->workers[w]->pid;
            }
    }
    it_status_free(rep);
    ck_assert_uint_ne(pool_id, 0);
    ck_assert_uint_ge(nw, 1);

    kill(cp, SIGKILL);
    int ws;
    ck_assert(it_waitpid(cp, IT_DEADLINE_MS, &ws));

    /* The session, its pool and its workers go. */
    int64_t end = it_now_ms() + IT_DEADLINE_MS;
    for (;;) {
        rep = it_status(&st);
        bool session = it_status_client_pid(rep->status_reply, cp) != NULL;
        for (size_t i = 0; i < rep->status_reply->n_clients; i++)
            if (rep->status_reply->clients[i]->session_id == sid)
                session = true;
        bool pool = it_status_pool_id(rep->status_reply, pool_id) != NULL;
        it_status_free(rep);
        if (!session && !pool)
            break;
        ck_assert_msg(it_now_ms() < end, "after the client died: session %s, pool %s",
                      session ? "still there" : "gone", pool ? "still there" : "gone");
        it_poll_nap();
    }
    for (size_t i = 0; i < nw; i++)
        ck_assert_msg(it_wait_pid_gone(wpids[i], IT_DEADLINE_MS),
                      "worker %d of the dead client's pool still runs", (int)wpids[i]);
    it_raw_close(&st);

    /* Others are served as before: in this process and in another. */
    assert_default_pool_works(D.url);
    const char *margs[] = { "map", "200", NULL };
    pid_t mp = it_spawn_client(D.url, margs, NULL);
    ck_assert(it_waitpid(mp, 30000, &ws));
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "client-proc map: 0x%x", ws);
}
END_TEST

/* ---- SIGTERM / SIGINT ---- */

static const int stop_signals[] = { SIGTERM, SIGINT };

START_TEST(signal_clean_exit)
{
    int sig = stop_signals[_i];
    it_daemon_start(&D, NULL);
    pp_client *c = it_client(D.url);
    pp_pool *priv = it_pool(c, 2), *def = NULL;
    it_assert_status(pp_pool_attach(c, "default", &def), PP_OK);
    pp_func *f = it_func("pt_square");
    pp_value *items = it_ints(0, 40), *res = NULL;
    it_assert_status(pp_pool_map(priv, f, items, NULL, &res), PP_OK);
    pp_value_free(res);
    it_assert_status(pp_pool_map(def, f, items, NULL, &res), PP_OK);
    pp_value_free(res);

    it_raw st;
    it_status_open(&st, D.url);
    Polypool__V1__Reply *rep = it_status(&st);
    pid_t wpids[32];
    size_t nw = 0;
    for (size_t i = 0; i < rep->status_reply->n_pools; i++)
        for (size_t w = 0; w < rep->status_reply->pools[i]->n_workers && nw < 32; w++)
            if (rep->status_reply->pools[i]->workers[w]->pid)
                wpids[nw++] = (pid_t)rep->status_reply->pools[i]->workers[w]->pid;
    it_status_free(rep);
    it_raw_close(&st);
    ck_assert_uint_ge(nw, 2);

    /* With a client still connected. */
    ck_assert_msg(it_daemon_kill_wait(&D, sig, IT_DEADLINE_MS), "no exit after signal %d", sig);
    ck_assert_msg(WIFEXITED(D.wstatus), "died of signal %d", WTERMSIG(D.wstatus));
    ck_assert_int_eq(WEXITSTATUS(D.wstatus), 0);
    ck_assert_msg(path_missing(D.sock), "socket file %s left behind", D.sock);
    for (size_t i = 0; i < nw; i++)
        ck_assert_msg(it_wait_pid_gone(wpids[i], IT_DEADLINE_MS),
                      "worker %d outlived the daemon", (int)wpids[i]);
    it_assert_status(pp_client_ping(c, 2000), PP_ECONNRESET);

    pp_value_free(items);
    pp_func_free(f);
    pp_pool_free(priv);
    pp_pool_free(def);
    pp_client_close(c);
}
END_TEST

/* SIGTERM with a map in flight: the daemon still exits 0 promptly, the
 * busy workers go with it, and the client's call returns at once. */
START_TEST(sigterm_with_work_in_flight)
{
    it_daemon_start(&D, NULL);
    pp_client *c = it_client(D.url);
    pp_pool *p = it_pool(c, 2);
    struct bg_map b = { .pool = p, .f = it_func("pt_sleep_ms"),
                        .items = it_args(3, 30000, 30000, 30000) };
    pthread_t t;
    pthread_create(&t, NULL, bg_map_run, &b);
    it_raw st;
    it_status_open(&st, D.url);
    wait_task_running(&st);
    Polypool__V1__Reply *rep = it_status(&st);
    pid_t wpids[32];
    size_t nw = 0;
    for (size_t i = 0; i < rep->status_reply->n_pools; i++)
        for (size_t w = 0; w < rep->status_reply->pools[i]->n_workers && nw < 32; w++)
            if (rep->status_reply->pools[i]->workers[w]->pid)
                wpids[nw++] = (pid_t)rep->status_reply->pools[i]->workers[w]->pid;
    it_status_free(rep);
    it_raw_close(&st);

    int64_t t0 = it_now_ms();
    ck_assert_msg(it_daemon_kill_wait(&D, SIGTERM, IT_DEADLINE_MS), "no exit after SIGTERM");
    ck_assert_msg(WIFEXITED(D.wstatus) && WEXITSTATUS(D.wstatus) == 0, "wait status 0x%x",
                  D.wstatus);
    ck_assert_msg(it_wait_until(bg_done, &b, 5000), "map still blocked after the daemon exited");
    pthread_join(t, NULL);
    ck_assert_msg(b.st == PP_ECONNRESET || b.st == PP_ECLOSED, "map: %s",
                  pp_status_name(b.st));
    ck_assert_msg(b.returned_at - t0 < 5000, "map returned %lld ms after SIGTERM",
                  (long long)(b.returned_at - t0));
    ck_assert(path_missing(D.sock));
    for (size_t i = 0; i < nw; i++)
        ck_assert_msg(it_wait_pid_gone(wpids[i], IT_DEADLINE_MS),
                      "busy worker %d outlived the daemon", (int)wpids[i]);
    pp_pool_free(p);
    pp_client_close(c);
    pp_value_free(b.items);
    pp_func_free(b.f);
}
END_TEST

/* --pidfile and --workers: the pid is written, the default pool has the
 * asked size, and the file goes with the daemon. */
START_TEST(pidfile_and_workers_options)
{
    char pf[128];
    it_daemon_opts o = { .workers = 3 };
    /* The dir is made by the harness: point the pidfile into it after. */
    o.extra[0] = "--pidfile";
    o.extra[1] = pf;
    char dir[64];
    it_tmpdir(dir, sizeof dir);
    snprintf(pf, sizeof pf, "%s/custom.pid", dir);
    it_daemon_start(&D, &o);
    ck_assert_int_eq(read_pidfile(pf), D.pid);
    pp_client *c = it_client(D.url);
    pp_pool *p = NULL;
    it_assert_status(pp_pool_attach(c, "default", &p), PP_OK);
    ck_assert_uint_eq(pp_pool_size(p), 3);
    pp_pool_free(p);
    pp_client_close(c);
    ck_assert(it_daemon_kill_wait(&D, SIGTERM, IT_DEADLINE_MS));
    ck_assert(WIFEXITED(D.wstatus) && WEXITSTATUS(D.wstatus) == 0);
    ck_assert_msg(path_missing(pf), "pidfile %s left behind", pf);
    it_rmtree(dir);
}
END_TEST

/* A daemon asked to stop by the protocol (what `polypool stop` sends). */
START_TEST(shutdown_request)
{
    it_daemon_start(&D, NULL);
    it_raw r;
    it_status_open(&r, D.url);
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    Polypool__V1__Shutdown sd = POLYPOOL__V1__SHUTDOWN__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHUTDOWN;
    req.shutdown = &sd;
    Polypool__V1__Reply *rep = NULL;
    ck_assert_int_eq(it_raw_call(&r, &req, 5000, &rep), 0);
    ck_assert_int_eq(rep->status, POLYPOOL__V1__STATUS__STATUS_OK);
    it_status_free(rep);
    it_raw_close(&r);
    ck_assert(it_daemon_wait_exit(&D, IT_DEADLINE_MS));
    ck_assert(WIFEXITED(D.wstatus));
    ck_assert_int_eq(WEXITSTATUS(D.wstatus), 0);
    ck_assert(path_missing(D.sock));
}
END_TEST

/* ---- single instance ---- */

START_TEST(second_daemon_exits_3)
{
    it_daemon_start(&D, NULL);
    pp_client *c = it_client(D.url);
    it_daemon d2;
    it_daemon_opts o = { .same_as = &D, .no_wait = true };
    it_daemon_start(&d2, &o);
    bool exited = it_daemon_wait_exit(&d2, IT_DEADLINE_MS);
    it_daemon_stop(&d2);
    ck_assert_msg(exited, "the second daemon did not exit");
    ck_assert_msg(WIFEXITED(d2.wstatus), "second daemon: signal %d", WTERMSIG(d2.wstatus));
    ck_assert_int_eq(WEXITSTATUS(d2.wstatus), 3);

    /* The first one still serves its client and new ones (its socket file
     * was left alone, and a probe by the second does not stop its listener
     * for long: nng#1518). */
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    struct stat sb;
    ck_assert_int_eq(stat(D.sock, &sb), 0);
    it_daemon_wait_ready(&D, IT_DEADLINE_MS);
    assert_default_pool_works(D.url);
    pp_client_close(c);
}
END_TEST

/* ---- permissions ---- */

START_TEST(socket_mode_private_address)
{
    it_daemon_start(&D, NULL);
    struct stat sb;
    ck_assert_int_eq(stat(D.sock, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_msg((sb.st_mode & 07777) == 0600, "socket mode %o", sb.st_mode & 07777);
    ck_assert_uint_eq(sb.st_uid, geteuid());
}
END_TEST

START_TEST(socket_mode_default_address)
{
    it_daemon_opts o = { .default_address = true, .no_wait = true };
    it_daemon_start(&D, &o);
    /* The client finds the same default address through the same variable. */
    setenv("XDG_RUNTIME_DIR", D.dir, 1);
    unsetenv("POLYPOOL_ADDRESS");
    char want[256], got[256];
    snprintf(want, sizeof want, "ipc://%s/polypool/polypoold.sock", D.dir);
    it_assert_status(pp_default_address(got, sizeof got), PP_OK);
    ck_assert_str_eq(got, want);
    it_daemon_wait_ready(&D, IT_DEADLINE_MS);

    char dir[128];
    snprintf(dir, sizeof dir, "%s/polypool", D.dir);
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_msg((sb.st_mode & 07777) == 0700, "directory mode %o", sb.st_mode & 07777);
    ck_assert_int_eq(stat(D.sock, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_msg((sb.st_mode & 07777) == 0600, "socket mode %o", sb.st_mode & 07777);

    pp_client *c = NULL;
    pp_client_opts co = { .no_autostart = true };
    it_assert_status(pp_client_open_opts(&co, &c), PP_OK);
    ck_assert_str_eq(pp_client_address(c), want);
    it_assert_status(pp_client_ping(c, 5000), PP_OK);
    pp_client_close(c);
}
END_TEST

/* Root only: a client running as another uid cannot get a session, both
 * with the file permissions in the way (0700 dir, 0600 socket) and with
 * them opened up, where the daemon's own peer-uid check must refuse it. */
static void assert_setuid_refused(const char *url)
{
    const char *args[] = { "setuid", "65534", NULL };
    pid_t cp = it_spawn_client(url, args, NULL);
    int ws = 0;
    ck_assert_msg(it_waitpid(cp, 20000, &ws), "the setuid client hung");
    ck_assert_msg(WIFEXITED(ws), "setuid client: signal %d", WTERMSIG(ws));
    int rc = WEXITSTATUS(ws);
    ck_assert_msg(rc == PP_ECONNRESET || rc == PP_EPERM || rc == PP_ECONNREFUSED,
                  "a client of uid 65534 got: %s (exit %d)",
                  rc == 0 ? "a session" : pp_status_name((pp_status)rc), rc);
}

START_TEST(other_uid_refused)
{
    if (geteuid() != 0) {
        fprintf(stderr, "other_uid_refused: skipped (not root)\n");
        return;
    }
    it_daemon_start(&D, NULL);
    assert_setuid_refused(D.url);

    ck_assert_int_eq(chmod(D.dir, 0755), 0);
    ck_assert_int_eq(chmod(D.sock, 0666), 0);
    assert_setuid_refused(D.url);

    /* The refusals did not hurt the listener. */
    it_daemon_wait_ready(&D, IT_DEADLINE_MS);
    assert_default_pool_works(D.url);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integ-daemon");
    TCase *tc = tcase_create("connect");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, no_daemon_refused_fast);
    tcase_add_test(tc, autostart_and_grace_exit);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, daemon_killed_during_map);
    tcase_add_test(tc, client_in_forked_child);
    tcase_add_test(tc, client_killed_with_tasks_pending);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, signal_clean_exit, 0, 2);
    tcase_add_test(tc, sigterm_with_work_in_flight);
    tcase_add_test(tc, pidfile_and_workers_options);
    tcase_add_test(tc, shutdown_request);
    tcase_add_test(tc, second_daemon_exits_3);
    suite_add_tcase(s, tc);

    tc = tcase_create("security");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, socket_mode_private_address);
    tcase_add_test(tc, socket_mode_default_address);
    tcase_add_test(tc, other_uid_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return it_main(suite());
}
