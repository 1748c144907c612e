/* task.c - see task.h.
 *
 * Everything here runs per item or per task on the worker's hot path, so it
 * avoids allocating: the encoder, the error array and the packed buffer are
 * kept across tasks and only grow. Errors are the exception and do
 * allocate their strings.
 */
#include "task.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct task_lib {
    task_lib *next;
    char *path;          /* as the task named it */
    void *handle;
};

struct task_sym {
    task_sym *next;
    task_lib *lib;
    char *symbol;
    char *label;         /* "libfoo.so:symbol" for error messages */
    pp_task_fn fn;
};

void task_cache_init(task_cache *c)
{
    memset(c, 0, sizeof *c);
}

void task_cache_fini(task_cache *c)
{
    for (task_sym *s = c->syms, *n; s; s = n) {
        n = s->next;
        free(s->symbol);
        free(s->label);
        free(s);
    }
    for (task_lib *l = c->libs, *n; l; l = n) {
        n = l->next;
        free(l->path);
        free(l);
    }
    memset(c, 0, sizeof *c);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static task_lib *lib_open(task_cache *c, const char *path, char msg[TASK_MSG_MAX],
                          pp_status *st)
{
    for (task_lib *l = c->libs; l; l = l->next)
        if (strcmp(l->path, path) == 0)
            return l;
    /* RTLD_LOCAL: two task libraries may export the same names. The pp_*
     * symbols still resolve to this executable's copies (it exports them),
     * so a task and the worker share one libpolypool. */
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(msg, TASK_MSG_MAX, "%s", e ? e : "dlopen failed");
        *st = PP_ENOLIB;
        return NULL;
    }
    task_lib *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        dlclose(h);
        snprintf(msg, TASK_MSG_MAX, "out of memory");
        *st = PP_ENOMEM;
        return NULL;
    }
    l->handle = h;
    l->next = c->libs;
    c->libs = l;
    return l;
}

pp_status task_cache_lookup(task_cache *c, const Polypool__V1__Function *fn,
                            pp_task_fn *out, const char **label,
                            char msg[TASK_MSG_MAX])
{
    if (!fn || fn->kind_case == POLYPOOL__V1__FUNCTION__KIND__NOT_SET) {
        snprintf(c->label, sizeof c->label, "?");
        if (label)
            *label = c->label;
        snprintf(msg, TASK_MSG_MAX, "the task names no function");
        return PP_EINVAL;
    }
    if (fn->kind_case == POLYPOOL__V1__FUNCTION__KIND_PY) {
        const Polypool__V1__PyFunction *py = fn->py;
        snprintf(c->label, sizeof c->label, "%s.%s", py && py->module ? py->module : "?",
                 py && py->qualname ? py->qualname : "?");
        if (label)
            *label = c->label;
        snprintf(msg, TASK_MSG_MAX, "python functions need a Python worker");
        return PP_EINVAL;
    }
    const char *lib = fn->c && fn->c->library ? fn->c->library : "";
    const char *sym = fn->c && fn->c->symbol ? fn->c->symbol : "";

    task_sym *s = c->last;
    if (s && strcmp(s->symbol, sym) == 0 && strcmp(s->lib->path, lib) == 0)
        goto hit;
    for (s = c->syms; s; s = s->next)
        if (strcmp(s->symbol, sym) == 0 && strcmp(s->lib->path, lib) == 0)
            goto hit;

    snprintf(c->label, sizeof c->label, "%s:%s", base_name(lib), sym);
    if (label)
        *label = c->label;
    if (!*lib || !*sym) {
        snprintf(msg, TASK_MSG_MAX, "the task's function needs a library and a symbol");
        return PP_EINVAL;
    }
    pp_status st = PP_OK;
    task_lib *l = lib_open(c, lib, msg, &st);
    if (!l)
        return st;
    dlerror();
    void *p = dlsym(l->handle, sym);
    if (!p) {
        snprintf(msg, TASK_MSG_MAX, "symbol '%s' not found in %s", sym, lib);
        return PP_ENOSYM;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->symbol = strdup(sym)) || !(s->label = strdup(c->label))) {
        if (s)
            free(s->symbol);
        free(s);
        snprintf(msg, TASK_MSG_MAX, "out of memory");
        return PP_ENOMEM;
    }
    s->lib = l;
    /* The task ABI is a plain function; ISO C has no cast from void * to a
     * function pointer, POSIX guarantees this one works. */
    memcpy(&s->fn, &p, sizeof s->fn);
    s->next = c->syms;
    c->syms = s;
hit:
    c->last = s;
    *out = s->fn;
    if (label)
        *label = s->label;
    return PP_OK;
}

pp_status task_args(pp_value *item, bool star, pp_value *one, const pp_value **args)
{
    if (star) {
        pp_kind k = pp_value_kind(item);
        if (k != PP_LIST && k != PP_TUPLE)
            return PP_ETASK;
        *args = item;
        return PP_OK;
    }
    /* Moving the item's contents into the one-slot list costs no
     * allocation: the slot's node is reused and the item's node freed. */
    pp_value_move(pp_value_at_mut(one, 0), item);
    *args = one;
    return PP_OK;
}

pp_status task_call(pp_task_fn fn, const pp_value *args, pp_value *result,
                    char msg[TASK_MSG_MAX])
{
    int rc = fn(args, result);
    if (rc == 0)
        return PP_OK;
    if (pp_value_kind(result) == PP_STRING) {
        size_t len = 0;
        const char *s = pp_value_get_string(result, &len);
        if (len >= TASK_MSG_MAX)
            len = TASK_MSG_MAX - 1;
        memcpy(msg, s, len);
        msg[len] = '\0';
    } else {
        snprintf(msg, TASK_MSG_MAX, "task returned %d", rc);
    }
    return PP_ETASK;
}

/* ---- ResultBatch --------------------------------------------------------- */

void task_batch_init(task_batch *b)
{
    memset(b, 0, sizeof *b);
    polypool__v1__result_batch__init(&b->msg);
    polypool__v1__values__init(&b->values);
    codec_enc_init(&b->enc);
}

/* Stands in for a string that could not be allocated; never freed. */
static char no_text[] = "";

static void free_errors(task_batch *b)
{
    for (size_t i = 0; i < b->msg.n_errors; i++) {
        if (b->errs[i].message != no_text)
            free(b->errs[i].message);
        if (b->errs[i].where != no_text)
            free(b->errs[i].where);
        free(b->errs[i].exception.data);
        if (b->errs[i].traceback != protobuf_c_empty_string)
            free(b->errs[i].traceback);
    }
    b->msg.n_errors = 0;
}

void task_batch_fini(task_batch *b)
{
    free_errors(b);
    free(b->errs);
    free(b->errp);
    free(b->packed);
    codec_enc_fini(&b->enc);
    memset(b, 0, sizeof *b);
}

void task_batch_reset(task_batch *b, uint64_t job_id, uint64_t first)
{
    free_errors(b);
    codec_enc_reset(&b->enc);
    b->msg.job_id = job_id;
    b->msg.first = first;
    b->msg.count = 0;
    b->msg.out.len = 0;
    b->msg.out.data = NULL;
    b->msg.err.len = 0;
    b->msg.err.data = NULL;
}

char *task_where(int pid, const char *label, uint64_t index)
{
    char *s = NULL;
    int n;
    if (index == UINT64_MAX)
        n = asprintf(&s, "worker %d, %s, initializer", pid, label ? label : "?");
    else if (label)
        n = asprintf(&s, "worker %d, %s, item %llu", pid, label, (unsigned long long)index);
    else
        n = asprintf(&s, "worker %d, item %llu", pid, (unsigned long long)index);
    return n < 0 ? NULL : s;
}

/* Records the error of the item at `index` (job-absolute). Memory failures
 * degrade to an error with empty strings rather than losing the item. */
static void add_error(task_batch *b, uint64_t index, pp_status status,
                      const char *message, const char *label, int pid)
{
    if (b->msg.n_errors == b->cap_errs) {
        size_t cap = b->cap_errs ? b->cap_errs * 2 : 8;
        Polypool__V1__TaskError *e = realloc(b->errs, cap * sizeof *e);
        if (!e)
            return;
        b->errs = e;
        Polypool__V1__TaskError **p = realloc(b->errp, cap * sizeof *p);
        if (!p)
            return;
        b->errp = p;
        b->cap_errs = cap;
    }
    Polypool__V1__TaskError *e = &b->errs[b->msg.n_errors++];
    polypool__v1__task_error__init(e);
    e->index = index;
    e->status = (Polypool__V1__Status)status;
    e->message = strdup(message ? message : "");
    e->where = task_where(pid, label, index);
    if (!e->message)
        e->message = no_text;
    if (!e->where)
        e->where = no_text;
}

static void fix_error_pointers(task_batch *b)
{
    for (size_t i = 0; i < b->msg.n_errors; i++)
        b->errp[i] = &b->errs[i];
    b->msg.errors = b->msg.n_errors ? b->errp : NULL;
}

void task_batch_fail(task_batch *b, pp_status status, const char *message,
                     const char *label, int pid)
{
    uint64_t index = b->msg.first + b->msg.count;
    b->msg.count++;
    /* Without its placeholder the values would be misaligned; if that
     * fails, task_batch_pack notices the short count and fails all. */
    (void)codec_enc_nulls(&b->enc, 1);
    add_error(b, index, status, message, label, pid);
}

void task_batch_fail_exc(task_batch *b, pp_status status, const char *message,
                         const char *label, int pid, void *exception, size_t exception_len,
                         char *traceback)
{
    size_t before = b->msg.n_errors;
    task_batch_fail(b, status, message, label, pid);
    if (b->msg.n_errors == before) {
        free(exception);
        free(traceback);
        return;
    }
    Polypool__V1__TaskError *e = &b->errs[before];
    e->exception.data = exception;
    e->exception.len = exception ? exception_len : 0;
    if (traceback)
        e->traceback = traceback;
}

void task_batch_ok(task_batch *b, const pp_value *v, const char *label, int pid)
{
    pp_status st = codec_enc_value(&b->enc, v);
    if (st == PP_OK) {
        b->msg.count++;
        return;
    }
    task_batch_fail(b, st,
                    st == PP_ENOMEM ? "out of memory encoding the task's result"
                                    : "the task's result cannot be sent (a handle, or nested "
                                      "deeper than 64 levels)",
                    label, pid);
}

void task_batch_fail_all(task_batch *b, pp_status status, const char *message,
                         const char *label, int pid)
{
    uint64_t count = b->msg.count;
    task_batch_reset(b, b->msg.job_id, b->msg.first);
    for (uint64_t i = 0; i < count; i++)
        task_batch_fail(b, status, message, label, pid);
}

void task_batch_output(task_batch *b, const void *out, size_t out_len,
                       const void *err, size_t err_len)
{
    b->msg.out.data = (uint8_t *)out;
    b->msg.out.len = out_len;
    b->msg.err.data = (uint8_t *)err;
    b->msg.err.len = err_len;
}

pp_status task_batch_pack(task_batch *b, const uint8_t **data, size_t *len)
{
    if (b->enc.n_values != b->msg.count) {
        /* An encoder failure left the values short: never send a batch
         * whose values do not line up with its items. */
        uint64_t count = b->msg.count;
        free_errors(b);
        codec_enc_reset(&b->enc);
        if (codec_enc_nulls(&b->enc, count) != PP_OK)
            return PP_ENOMEM;
        b->msg.count = count;
        for (uint64_t i = 0; i < count; i++)
            add_error(b, b->msg.first + i, PP_ENOMEM, "out of memory in the worker", NULL,
                      0);
    }
    codec_enc_msg(&b->enc, &b->values);
    b->msg.values = &b->values;
    fix_error_pointers(b);
    size_t n = polypool__v1__result_batch__get_packed_size(&b->msg);
    if (n > b->cap_packed) {
        size_t cap = b->cap_packed ? b->cap_packed : 4096;
        while (cap < n)
            cap *= 2;
        uint8_t *p = realloc(b->packed, cap);
        if (!p)
            return PP_ENOMEM;
        b->packed = p;
        b->cap_packed = cap;
    }
    polypool__v1__result_batch__pack(&b->msg, b->packed);
    *data = b->packed;
    *len = n;
    return PP_OK;
}

size_t task_items_estimate(const Polypool__V1__Values *v)
{
    if (!v)
        return 0;
    size_t k = 0, c = 0, n = 0;
    while (k < v->n_kinds) {
        uint64_t pending = 1;   /* trees of this top-level value not yet seen */
        while (pending && k < v->n_kinds) {
            Polypool__V1__Kind kind = v->kinds[k++];
            pending--;
            uint64_t m = c < v->n_counts ? v->counts[c] : 0;
            if (kind == POLYPOOL__V1__KIND__KIND_LIST || kind == POLYPOOL__V1__KIND__KIND_TUPLE) {
                c++;
                pending += m;
            } else if (kind == POLYPOOL__V1__KIND__KIND_MAP) {
                c++;
                pending += 2 * m;
            }
        }
        n++;
    }
    return n;
}
