/* polypool - look at and stop a running polypoold.
 *
 *   polypool [--address URL] status [--json]
 *   polypool [--address URL] stop
 *
 * The CLI never starts a daemon: asking for the status of one that is not
 * running must say so, not start one. Exit codes: 0 ok, 1 error, 2 usage.
 * docs/man/polypool.1 is the user documentation; keep the two in step.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "polypool.h"
#include "polypool.pb-c.h"
#include "pp_config.h"

#define EXIT_USAGE 2
#define CALL_TIMEOUT_MS 10000
#define STOP_WAIT_MS 10000

static const char *prog = "polypool";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: polypool [--address URL] status [--json]\n"
            "       polypool [--address URL] stop\n"
            "       polypool --help | --version\n"
            "\n"
            "Commands:\n"
            "  status        show the daemon, its pools, workers and clients\n"
            "  status --json the same as one JSON object\n"
            "  stop          ask the daemon to shut down and wait until it is gone\n"
            "\n"
            "Options:\n"
            "  --address URL the daemon's nng address (default: $POLYPOOL_ADDRESS,\n"
            "                else the per-user ipc socket)\n"
            "  --help        show this help\n"
            "  --version     show the version\n"
            "\n"
            "The CLI never starts a daemon. See polypool(1).\n");
}

/* The address the client will use, for messages. */
static const char *resolve_address(const char *opt, char *buf, size_t len)
{
    if (opt && *opt)
        return opt;
    const char *env = getenv("POLYPOOL_ADDRESS");
    if (env && *env)
        return env;
    if (pp_default_address(buf, len) == PP_OK)
        return buf;
    return "(default address)";
}

static void print_error(const char *what, pp_status st)
{
    const pp_error *e = pp_last_error();
    if (e->status == st && e->message && *e->message)
        fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, pp_strerror(st), e->message);
    else
        fprintf(stderr, "%s: %s: %s\n", prog, what, pp_strerror(st));
}

/* Connects without ever starting a daemon. Returns NULL after printing
 * why; *refused tells "nobody there" from other failures. */
static pp_client *connect_daemon(const char *address, int timeout_ms, bool quiet,
                                 bool *refused)
{
    pp_client_opts o;
    memset(&o, 0, sizeof o);
    o.address = address;
    o.no_autostart = true;
    o.connect_timeout_ms = timeout_ms;
    o.name = "polypool";
    pp_client *c = NULL;
    pp_status st = pp_client_open_opts(&o, &c);
    if (refused)
        *refused = st == PP_ECONNREFUSED;
    if (st == PP_OK)
        return c;
    if (!quiet) {
        char buf[512];
        const char *url = resolve_address(address, buf, sizeof buf);
        if (st == PP_ECONNREFUSED)
            fprintf(stderr, "%s: no daemon at %s\n", prog, url);
        else if (st == PP_ETIMEDOUT)
            fprintf(stderr, "%s: no daemon answered at %s (timed out)\n", prog, url);
        else
            print_error(url, st);
    }
    return NULL;
}

/* One request, checked. Returns the reply (caller frees) or NULL after
 * printing the failure. */
static Polypool__V1__Reply *call(pp_client *c, Polypool__V1__Request *req, const char *what)
{
    Polypool__V1__Reply *reply = NULL;
    pp_status st = client_call(c, req, CALL_TIMEOUT_MS, &reply);
    if (st != PP_OK) {
        print_error(what, st);
        return NULL;
    }
    if (reply->status != POLYPOOL__V1__STATUS__STATUS_OK) {
        pp_status rs = (pp_status)reply->status;
        if (reply->detail && *reply->detail)
            fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, pp_strerror(rs), reply->detail);
        else
            fprintf(stderr, "%s: %s: %s\n", prog, what, pp_strerror(rs));
        client_reply_free(reply);
        return NULL;
    }
    return reply;
}

static Polypool__V1__Reply *get_status(pp_client *c)
{
    Polypool__V1__StatusRequest sr = POLYPOOL__V1__STATUS_REQUEST__INIT;
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_STATUS;
    req.status = &sr;
    Polypool__V1__Reply *reply = call(c, &req, "status");
    if (reply && (reply->result_case != POLYPOOL__V1__REPLY__RESULT_STATUS_REPLY ||
                  !reply->status_reply)) {
        fprintf(stderr, "%s: status: the daemon sent no status\n", prog);
        client_reply_free(reply);
        return NULL;
    }
    return reply;
}

/* ---- human output ---------------------------------------------------------- */

static const char *str(const char *s)
{
    return s ? s : "";
}

static void fmt_duration(uint64_t ms, char *buf, size_t len)
{
    uint64_t s = ms / 1000;
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    s %= 60;
    if (d)
        snprintf(buf, len, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m", d, h, m);
    else if (h)
        snprintf(buf, len, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, s);
    else if (m)
        snprintf(buf, len, "%" PRIu64 "m %02" PRIu64 "s", m, s);
    else
        snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "s", s, ms % 1000 / 100);
}

static void fmt_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", n);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static void print_status_text(const Polypool__V1__StatusReply *s)
{
    char up[64], rss[64], shm[64];
    fmt_duration(s->uptime_ms, up, sizeof up);
    fmt_bytes(s->rss_bytes, rss, sizeof rss);
    fmt_bytes(s->shm_bytes, shm, sizeof shm);
    printf("polypoold %s, pid %" PRIu32 "%s\n", str(s->version), s->pid,
           s->autostarted ? " (autostarted)" : "");
    printf("  address  %s\n", str(s->address));
    printf("  uptime   %s\n", up);
    printf("  rss      %s\n", rss);
    printf("  shared   %" PRIu64 " segment%s, %s\n", s->segments, s->segments == 1 ? "" : "s",
           shm);
    printf("  procs    %" PRIu64 " running or unreaped\n", s->processes);

    printf("\npools (%zu)\n", s->n_pools);
    for (size_t i = 0; i < s->n_pools; i++) {
        const Polypool__V1__PoolStatus *p = s->pools[i];
        printf("  pool %" PRIu64, p->pool_id);
        if (p->name && *p->name)
            printf(" \"%s\"", p->name);
        printf(": %s, %s, size %" PRIu32 ", maxtasksperchild %" PRIu32 "\n", str(p->kind),
               str(p->state), p->size, p->maxtasksperchild);
        printf("    tasks    %" PRIu64 " queued, %" PRIu64 " running, %" PRIu64 " done\n",
               p->tasks_queued, p->tasks_running, p->tasks_done);
        printf("    sessions ");
        if (p->n_sessions == 0)
            printf("none");
        for (size_t j = 0; j < p->n_sessions; j++)
            printf("%s%" PRIu64, j ? ", " : "", p->sessions[j]);
        printf("\n");
        printf("    workers  %zu\n", p->n_workers);
        for (size_t j = 0; j < p->n_workers; j++) {
            const Polypool__V1__WorkerStatus *w = p->workers[j];
            printf("      pid %-8" PRIu32 " %-8s %" PRIu64 " tasks done", w->pid, str(w->state),
                   w->tasks_done);
            if (w->kind && *w->kind && strcmp(w->kind, "c") != 0)
                printf(", kind %s", w->kind);
            if (w->job_id)
                printf(", job %" PRIu64, w->job_id);
            printf("\n");
        }
    }

    printf("\nclients (%zu)\n", s->n_clients);
    for (size_t i = 0; i < s->n_clients; i++) {
        const Polypool__V1__ClientStatus *c = s->clients[i];
        printf("  session %-4" PRIu64 " pid %-8" PRIu32 " uid %-6" PRIu32 " jobs %-4" PRIu64
               " parked %-4" PRIu64 " %s\n",
               c->session_id, c->pid, c->uid, c->jobs, c->parked, str(c->name));
    }
}

/* ---- JSON output ------------------------------------------------------------ */

/* Writes s as a JSON string: quotes, backslashes and control characters are
 * escaped; other bytes pass through (the daemon sends UTF-8). */
static void json_str(FILE *f, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)str(s); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                fputs("\\u00", f);
                fputc(hex[*p >> 4], f);
                fputc(hex[*p & 15], f);
            } else {
                fputc(*p, f);
            }
        }
    }
    fputc('"', f);
}

static void json_key(FILE *f, bool *first, const char *k)
{
    if (!*first)
        fputc(',', f);
    *first = false;
    json_str(f, k);
    fputc(':', f);
}

static void json_u64(FILE *f, bool *first, const char *k, uint64_t v)
{
    json_key(f, first, k);
    fprintf(f, "%" PRIu64, v);
}

static void json_text(FILE *f, bool *first, const char *k, const char *v)
{
    json_key(f, first, k);
    json_str(f, v);
}

static void json_bool(FILE *f, bool *first, const char *k, bool v)
{
    json_key(f, first, k);
    fputs(v ? "true" : "false", f);
}

static void print_status_json(const Polypool__V1__StatusReply *s)
{
    FILE *f = stdout;
    bool first = true;
    fputc('{', f);
    json_u64(f, &first, "pid", s->pid);
    json_text(f, &first, "version", s->version);
    json_text(f, &first, "address", s->address);
    json_u64(f, &first, "uptime_ms", s->uptime_ms);
    json_bool(f, &first, "autostarted", s->autostarted);
    json_u64(f, &first, "rss_bytes", s->rss_bytes);
    json_u64(f, &first, "segments", s->segments);
    json_u64(f, &first, "shm_bytes", s->shm_bytes);
    json_u64(f, &first, "processes", s->processes);
    json_key(f, &first, "pools");
    fputc('[', f);
    for (size_t i = 0; i < s->n_pools; i++) {
        const Polypool__V1__PoolStatus *p = s->pools[i];
        bool pf = true;
        fputs(i ? ",{" : "{", f);
        json_u64(f, &pf, "pool_id", p->pool_id);
        json_text(f, &pf, "name", p->name);
        json_text(f, &pf, "kind", p->kind);
        json_text(f, &pf, "state", p->state);
        json_u64(f, &pf, "size", p->size);
        json_u64(f, &pf, "maxtasksperchild", p->maxtasksperchild);
        json_u64(f, &pf, "tasks_queued", p->tasks_queued);
        json_u64(f, &pf, "tasks_running", p->tasks_running);
        json_u64(f, &pf, "tasks_done", p->tasks_done);
        json_key(f, &pf, "sessions");
        fputc('[', f);
        for (size_t j = 0; j < p->n_sessions; j++)
            fprintf(f, "%s%" PRIu64, j ? "," : "", p->sessions[j]);
        fputc(']', f);
        json_key(f, &pf, "workers");
        fputc('[', f);
        for (size_t j = 0; j < p->n_workers; j++) {
            const Polypool__V1__WorkerStatus *w = p->workers[j];
            bool wf = true;
            fputs(j ? ",{" : "{", f);
            json_u64(f, &wf, "pid", w->pid);
            json_text(f, &wf, "state", w->state);
            json_u64(f, &wf, "tasks_done", w->tasks_done);
            json_u64(f, &wf, "job_id", w->job_id);
            json_text(f, &wf, "kind", w->kind);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputc(']', f);
    json_key(f, &first, "clients");
    fputc('[', f);
    for (size_t i = 0; i < s->n_clients; i++) {
        const Polypool__V1__ClientStatus *c = s->clients[i];
        bool cf = true;
        fputs(i ? ",{" : "{", f);
        json_u64(f, &cf, "session_id", c->session_id);
        json_u64(f, &cf, "pid", c->pid);
        json_u64(f, &cf, "uid", c->uid);
        json_text(f, &cf, "name", c->name);
        json_u64(f, &cf, "jobs", c->jobs);
        json_u64(f, &cf, "parked", c->parked);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* ---- commands ---------------------------------------------------------------- */

static int cmd_status(const char *address, bool json)
{
    pp_client *c = connect_daemon(address, 0, false, NULL);
    if (!c)
        return EXIT_FAILURE;
    Polypool__V1__Reply *reply = get_status(c);
    int rc = EXIT_FAILURE;
    if (reply) {
        if (json)
            print_status_json(reply->status_reply);
        else
            print_status_text(reply->status_reply);
        client_reply_free(reply);
        rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    pp_client_close(c);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* True when no process `pid` runs any more (a zombie counts as gone: its
 * parent may simply not have reaped it yet). */
static bool pid_gone(pid_t pid)
{
    if (kill(pid, 0) < 0)
        return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static int cmd_stop(const char *address)
{
    pp_client *c = connect_daemon(address, 0, false, NULL);
    if (!c)
        return EXIT_FAILURE;
    char url[512], buf[512];
    snprintf(url, sizeof url, "%s", resolve_address(address, buf, sizeof buf));

    /* The pid lets us wait for the process itself, not just its socket.
     * Only meaningful for a local (ipc://) daemon. */
    pid_t pid = 0;
    Polypool__V1__Reply *sreply = get_status(c);
    if (sreply) {
        if (strncmp(url, "ipc://", 6) == 0)
            pid = (pid_t)sreply->status_reply->pid;
        client_reply_free(sreply);
    }

    Polypool__V1__Shutdown sd = POLYPOOL__V1__SHUTDOWN__INIT;
    Polypool__V1__Request req = POLYPOOL__V1__REQUEST__INIT;
    req.op_case = POLYPOOL__V1__REQUEST__OP_SHUTDOWN;
    req.shutdown = &sd;
    Polypool__V1__Reply *reply = NULL;
    pp_status st = client_call(c, &req, CALL_TIMEOUT_MS, &reply);
    /* A daemon may drop the connection instead of answering: that is a
     * stop too. */
    if (st == PP_OK && reply->status != POLYPOOL__V1__STATUS__STATUS_OK) {
        pp_status rs = (pp_status)reply->status;
        fprintf(stderr, "%s: stop: %s%s%s%s\n", prog, pp_strerror(rs),
                reply->detail && *reply->detail ? " (" : "", str(reply->detail),
                reply->detail && *reply->detail ? ")" : "");
        client_reply_free(reply);
        pp_client_close(c);
        return EXIT_FAILURE;
    }
    if (st == PP_OK)
        client_reply_free(reply);
    else if (st != PP_ECONNRESET && st != PP_ETIMEDOUT) {
        print_error("stop", st);
        pp_client_close(c);
        return EXIT_FAILURE;
    }
    pp_client_close(c);

    int64_t deadline = now_ms() + STOP_WAIT_MS;
    for (;;) {
        bool gone = pid ? pid_gone(pid) : true;
        if (gone) {
            bool refused = false;
            pp_client *again = connect_daemon(address, 200, true, &refused);
            if (again)
                pp_client_close(again);
            else
                break;
        }
        if (now_ms() >= deadline) {
            if (pid)
                fprintf(stderr, "%s: polypoold (pid %d) did not stop within %d s\n", prog,
                        (int)pid, STOP_WAIT_MS / 1000);
            else
                fprintf(stderr, "%s: the daemon at %s did not stop within %d s\n", prog, url,
                        STOP_WAIT_MS / 1000);
            return EXIT_FAILURE;
        }
        sleep_ms(50);
    }
    printf("polypoold stopped\n");
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *address = NULL;
    const char *cmd = NULL;
    bool json = false;
    int i = 1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_SUCCESS;
        } else if (strcmp(a, "--version") == 0) {
            printf("polypool %s (protocol %d)\n", PP_VERSION, PP_PROTOCOL_VERSION);
            return EXIT_SUCCESS;
        } else if (strcmp(a, "--address") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: --address needs a URL\n", prog);
                return EXIT_USAGE;
            }
            address = argv[i];
        } else if (strncmp(a, "--address=", 10) == 0) {
            address = a + 10;
        } else if (a[0] == '-') {
            fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[i++];
    for (; i < argc; i++) {
        if (strcmp(cmd, "status") == 0 && strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_SUCCESS;
        } else {
            fprintf(stderr, "%s: unexpected argument '%s' for %s\n", prog, argv[i], cmd);
            return EXIT_USAGE;
        }
    }
    if (address && !*address) {
        fprintf(stderr, "%s: --address needs a URL\n", prog);
        return EXIT_USAGE;
    }

    if (strcmp(cmd, "status") == 0)
        return cmd_status(address, json);
    if (strcmp(cmd, "stop") == 0)
        return cmd_stop(address);
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
    usage(stderr);
    return EXIT_USAGE;
}
