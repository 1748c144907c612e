/* status.c - status names and sentences, and the per-thread last error.
 *
 * pp_last_error() points into thread-local storage that owns its strings;
 * a new failure on the thread replaces (and frees) the previous one.
 */
#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The C enum and the wire enum must never drift. */
#define SAME(c, w) static_assert((int)(c) == (int)POLYPOOL__V1__STATUS__STATUS_##w, #c " drifted")
SAME(PP_OK, OK);
SAME(PP_EINVAL, EINVAL);
SAME(PP_ENOENT, ENOENT);
SAME(PP_ETIMEDOUT, ETIMEDOUT);
SAME(PP_ECLOSED, ECLOSED);
SAME(PP_ENOMEM, ENOMEM);
SAME(PP_EPROTO, EPROTO);
SAME(PP_EMSGSIZE, EMSGSIZE);
SAME(PP_ECONNREFUSED, ECONNREFUSED);
SAME(PP_ECONNRESET, ECONNRESET);
SAME(PP_ETASK, ETASK);
SAME(PP_EWORKER, EWORKER);
SAME(PP_ENOLIB, ENOLIB);
SAME(PP_ENOSYM, ENOSYM);
SAME(PP_EPERM, EPERM);
SAME(PP_EBUSY, EBUSY);
SAME(PP_ECANCELED, ECANCELED);
SAME(PP_EFORKED, EFORKED);
SAME(PP_EVERSION, EVERSION);
SAME(PP_EEXIST, EEXIST);
SAME(PP_EAGAIN, EAGAIN);
SAME(PP_EEOF, EEOF);
SAME(PP_EINTERNAL, EINTERNAL);
SAME(PP_ENOSPAWN, ENOSPAWN);
SAME(PP_EOWNERDEAD, EOWNERDEAD);
SAME(PP_ESTATE, ESTATE);
static_assert(PP_STATUS_MAX == PP_ESTATE, "PP_STATUS_MAX is the last status");

/* Kinds too: the codec casts between pp_kind and the wire Kind. */
#define SAME_KIND(c, w) static_assert((int)(c) == (int)POLYPOOL__V1__KIND__KIND_##w, #c " drifted")
SAME_KIND(PP_NULL, NULL);
SAME_KIND(PP_BOOL, BOOL);
SAME_KIND(PP_INT, INT);
SAME_KIND(PP_DOUBLE, DOUBLE);
SAME_KIND(PP_STRING, STRING);
SAME_KIND(PP_BYTES, BYTES);
SAME_KIND(PP_LIST, LIST);
SAME_KIND(PP_MAP, MAP);
SAME_KIND(PP_HANDLE, HANDLE);
SAME_KIND(PP_PICKLE, PICKLE);
SAME_KIND(PP_TUPLE, TUPLE);

static const struct {
    const char *name;
    const char *text;
} statuses[] = {
    [PP_OK] = {"PP_OK", "success"},
    [PP_EINVAL] = {"PP_EINVAL", "invalid argument"},
    [PP_ENOENT] = {"PP_ENOENT", "no such pool, job or object"},
    [PP_ETIMEDOUT] = {"PP_ETIMEDOUT", "timed out"},
    [PP_ECLOSED] = {"PP_ECLOSED", "closed or terminated"},
    [PP_ENOMEM] = {"PP_ENOMEM", "out of memory"},
    [PP_EPROTO] = {"PP_EPROTO", "protocol error"},
    [PP_EMSGSIZE] = {"PP_EMSGSIZE", "message too large"},
    [PP_ECONNREFUSED] = {"PP_ECONNREFUSED", "no polypool daemon at the address"},
    [PP_ECONNRESET] = {"PP_ECONNRESET", "the polypool daemon went away"},
    [PP_ETASK] = {"PP_ETASK", "the task failed"},
    [PP_EWORKER] = {"PP_EWORKER", "the worker died running the task"},
    [PP_ENOLIB] = {"PP_ENOLIB", "the task's library could not be loaded"},
    [PP_ENOSYM] = {"PP_ENOSYM", "the task's symbol was not found"},
    [PP_EPERM] = {"PP_EPERM", "not allowed"},
    [PP_EBUSY] = {"PP_EBUSY", "busy or still running"},
    [PP_ECANCELED] = {"PP_ECANCELED", "cancelled"},
    [PP_EFORKED] = {"PP_EFORKED", "client used in a forked child"},
    [PP_EVERSION] = {"PP_EVERSION", "protocol version mismatch"},
    [PP_EEXIST] = {"PP_EEXIST", "already exists"},
    [PP_EAGAIN] = {"PP_EAGAIN", "not ready yet"},
    [PP_EEOF] = {"PP_EEOF", "end of iteration"},
    [PP_EINTERNAL] = {"PP_EINTERNAL", "internal error in polypool"},
    [PP_ENOSPAWN] = {"PP_ENOSPAWN", "a process could not be started"},
    [PP_EOWNERDEAD] = {"PP_EOWNERDEAD", "the previous owner died"},
    [PP_ESTATE] = {"PP_ESTATE", "not valid in the current state"},
};

const char *pp_strerror(pp_status st)
{
    if ((unsigned)st > PP_STATUS_MAX)
        return "unknown polypool status";
    return statuses[st].text;
}

const char *pp_status_name(pp_status st)
{
    if ((unsigned)st > PP_STATUS_MAX)
        return "PP_E?";
    return statuses[st].name;
}

size_t pp_default_chunksize(size_t n, unsigned workers)
{
    if (n == 0)
        return 0;
    if (workers == 0)
        workers = 1;
    size_t per = (size_t)workers * 4;
    size_t chunk = n / per;
    if (n % per)
        chunk++;
    return chunk;
}

/* ---- the thread's last error ------------------------------------------- */

static _Thread_local error_rec last_rec;
static _Thread_local pp_error last_view = {.message = "", .where = "", .traceback = ""};

/* A pthread key whose destructor frees a thread's error strings when the
 * thread exits (_Thread_local alone would leak them). */
static pthread_key_t last_key;
static pthread_once_t last_once = PTHREAD_ONCE_INIT;

static void last_destroy(void *p)
{
    error_rec_fini(p);
}

static void last_key_init(void)
{
    pthread_key_create(&last_key, last_destroy);
}

static void last_register(void)
{
    pthread_once(&last_once, last_key_init);
    if (!pthread_getspecific(last_key))
        pthread_setspecific(last_key, &last_rec);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

void error_rec_fini(error_rec *r)
{
    free(r->message);
    free(r->where);
    free(r->exception);
    free(r->traceback);
    memset(r, 0, sizeof *r);
}

void error_rec_set(error_rec *r, pp_status st, const char *message)
{
    error_rec_fini(r);
    r->status = st;
    r->message = dup_or_empty(message);
    r->where = dup_or_empty("");
    r->traceback = dup_or_empty("");
}

void error_rec_from_task(error_rec *r, const Polypool__V1__TaskError *te)
{
    error_rec_fini(r);
    r->status = (pp_status)te->status;
    if (r->status == PP_OK)         /* a failure always has a status */
        r->status = PP_ETASK;
    r->message = dup_or_empty(te->message);
    r->where = dup_or_empty(te->where);
    r->traceback = dup_or_empty(te->traceback);
    r->index = te->index;
    r->signal = te->signal;
    r->exit_code = te->exit_code;
    if (te->exception.len) {
        r->exception = malloc(te->exception.len);
        if (r->exception) {
            memcpy(r->exception, te->exception.data, te->exception.len);
            r->exception_len = te->exception.len;
        }
    }
}

static void rec_copy(error_rec *dst, const error_rec *src)
{
    error_rec_fini(dst);
    dst->status = src->status;
    dst->message = dup_or_empty(src->message);
    dst->where = dup_or_empty(src->where);
    dst->traceback = dup_or_empty(src->traceback);
    dst->index = src->index;
    dst->signal = src->signal;
    dst->exit_code = src->exit_code;
    if (src->exception_len) {
        dst->exception = malloc(src->exception_len);
        if (dst->exception) {
            memcpy(dst->exception, src->exception, src->exception_len);
            dst->exception_len = src->exception_len;
        }
    }
}

void error_rec_from_last(error_rec *r)
{
    rec_copy(r, &last_rec);
}

void error_rec_view(const error_rec *r, pp_error *out)
{
    out->status = r->status;
    out->message = r->message ? r->message : "";
    out->where = r->where ? r->where : "";
    out->traceback = r->traceback ? r->traceback : "";
    out->index = r->index;
    out->signal = r->signal;
    out->exit_code = r->exit_code;
    out->exception = r->exception;
    out->exception_len = r->exception_len;
}

pp_status error_raise(const error_rec *r)
{
    last_register();
    if (r != &last_rec)
        rec_copy(&last_rec, r);
    error_rec_view(&last_rec, &last_view);
    return r->status;
}

void error_set(pp_status st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    last_register();
    error_rec_set(&last_rec, st, buf);
    error_rec_view(&last_rec, &last_view);
}

void error_set_task(const Polypool__V1__TaskError *te)
{
    last_register();
    error_rec_from_task(&last_rec, te);
    error_rec_view(&last_rec, &last_view);
}

const pp_error *pp_last_error(void)
{
    return &last_view;
}
