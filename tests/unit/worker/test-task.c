/* test-task.c - the worker host's task.c: the function cache (a library is
 * dlopen()ed once, a symbol looked up once, failures not cached), its
 * errors (ENOLIB with dlerror()'s text, ENOSYM, EINVAL), the argument rules
 * of map and starmap, task calls and their ETASK messages, and the
 * ResultBatch builder.
 *
 * The task libraries are the integration tests' libpptest.so (PPTEST_LIB)
 * and libppbad.so (PPBAD_LIB). This executable exports its symbols, as
 * polypool-worker does, and wraps dlopen() to count the calls. */
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "task.h"

/* ---- counting dlopen() ------------------------------------------------------ */

static int dlopen_calls;

/* Interposes libc's dlopen for task.c (linked into this executable). */
void *dlopen(const char *file, int mode)
{
    static void *(*real)(const char *, int);
    if (!real) {
        void *p = dlsym(RTLD_NEXT, "dlopen");
        memcpy(&real, &p, sizeof real);
    }
    dlopen_calls++;
    return real(file, mode);
}

/* ---- helpers -------------------------------------------------------------- */

static const char *pptest, *ppbad;
static task_cache cache;
static char msg[TASK_MSG_MAX];

static void setup(void)
{
    pptest = getenv("PPTEST_LIB");
    ppbad = getenv("PPBAD_LIB");
    ck_assert_msg(pptest && ppbad, "run under meson: PPTEST_LIB and PPBAD_LIB");
    task_cache_init(&cache);
    dlopen_calls = 0;
    memset(msg, 0, sizeof msg);
}

static void teardown(void)
{
    task_cache_fini(&cache);
}

/* A Function naming library:symbol (borrowed strings). */
struct cfn {
    Polypool__V1__Function fn;
    Polypool__V1__CFunction c;
};

static const Polypool__V1__Function *cfn(struct cfn *f, const char *lib, const char *sym)
{
    polypool__v1__function__init(&f->fn);
    polypool__v1__cfunction__init(&f->c);
    f->c.library = (char *)lib;
    f->c.symbol = (char *)sym;
    f->fn.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    f->fn.c = &f->c;
    return &f->fn;
}

static pp_status lookup(const char *lib, const char *sym, pp_task_fn *fn, const char **label)
{
    struct cfn f;
    return task_cache_lookup(&cache, cfn(&f, lib, sym), fn, label, msg);
}


/* args = [x] */
static pp_value *args1(pp_value *x)
{
    pp_value *l = pp_value_list();
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(pp_value_append(l, x), PP_OK);
    return l;
}

/* ---- the function cache ----------------------------------------------------- */

START_TEST(lookup_and_call)
{
    pp_task_fn fn = NULL;
    const char *label = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_square", &fn, &label), PP_OK);
    ck_assert_ptr_nonnull(fn);
    ck_assert_str_eq(label, "libpptest.so:pt_square");
    pp_value *args = args1(pp_value_int(7)), *res = pp_value_null();
    ck_assert_int_eq(task_call(fn, args, res, msg), PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 49);
    pp_value_free(args);
    pp_value_free(res);
}
END_TEST

START_TEST(library_opened_once)
{
    pp_task_fn sq = NULL, add = NULL, again = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_square", &sq, NULL), PP_OK);
    ck_assert_int_eq(dlopen_calls, 1);
    task_lib *libs = cache.libs;
    task_sym *syms = cache.syms;
    ck_assert_ptr_nonnull(libs);
    /* Another symbol of the same library: no second dlopen. */
    ck_assert_int_eq(lookup(pptest, "pt_add", &add, NULL), PP_OK);
    ck_assert_int_eq(dlopen_calls, 1);
    ck_assert_ptr_eq(cache.libs, libs);
    ck_assert_ptr_ne(cache.syms, syms);
    ck_assert_ptr_ne(add, sq);
    /* A symbol seen before: a cache hit, nothing new. */
    syms = cache.syms;
    const char *label = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_square", &again, &label), PP_OK);
    ck_assert_ptr_eq(again, sq);
    ck_assert_ptr_eq(cache.syms, syms);
    ck_assert_str_eq(label, "libpptest.so:pt_square");
    ck_assert_int_eq(dlopen_calls, 1);
    /* The same again (the one-entry "last" shortcut). */
    ck_assert_int_eq(lookup(pptest, "pt_square", &again, NULL), PP_OK);
    ck_assert_ptr_eq(again, sq);
    ck_assert_int_eq(dlopen_calls, 1);
    /* A second library is a second dlopen. */
    pp_task_fn marker = NULL;
    ck_assert_int_eq(lookup(ppbad, "ppbad_marker", &marker, NULL), PP_OK);
    ck_assert_int_eq(dlopen_calls, 2);
    ck_assert_ptr_ne(cache.libs, libs);
}
END_TEST

START_TEST(enolib_has_dlerror_text)
{
    const char *path = "/nonexistent/libnope.so";
    pp_task_fn fn = NULL;
    const char *label = NULL;
    ck_assert_int_eq(lookup(path, "fn", &fn, &label), PP_ENOLIB);
    ck_assert_ptr_null(fn);
    ck_assert_str_eq(label, "libnope.so:fn");
    ck_assert_str_eq(msg, "/nonexistent/libnope.so: cannot open shared object file: "
                          "No such file or directory");
    /* Exactly what dlerror() says for it. */
    ck_assert_ptr_null(dlopen(path, RTLD_NOW | RTLD_LOCAL));
    ck_assert_str_eq(msg, dlerror());
    /* Not cached: the next lookup tries again. */
    int before = dlopen_calls;
    ck_assert_int_eq(lookup(path, "fn", &fn, NULL), PP_ENOLIB);
    ck_assert_int_eq(dlopen_calls, before + 1);
    ck_assert_ptr_null(cache.libs);
}
END_TEST

START_TEST(enolib_not_a_library)
{
    /* A file that exists but is no ELF object: still ENOLIB, dlerror's
     * words. */
    char dir[] = "/tmp/pp-task-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/libtext.so", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not elf\n", 8), 8);
    close(fd);
    pp_task_fn fn = NULL;
    ck_assert_int_eq(lookup(path, "fn", &fn, NULL), PP_ENOLIB);
    ck_assert_msg(strncmp(msg, path, strlen(path)) == 0, "%s", msg);
    ck_assert_ptr_null(dlopen(path, RTLD_NOW | RTLD_LOCAL));
    ck_assert_str_eq(msg, dlerror());
    unlink(path);
    rmdir(dir);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ck_assert_int_ge(in, 0);
    ck_assert_int_ge(out, 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    ck_assert_int_eq(n, 0);
    close(in);
    close(out);
}

START_TEST(library_that_appears_later_is_found)
{
    char dir[] = "/tmp/pp-task-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/liblate.so", dir);
    pp_task_fn fn = NULL;
    ck_assert_int_eq(lookup(path, "pt_square", &fn, NULL), PP_ENOLIB);
    copy_file(pptest, path);
    ck_assert_int_eq(lookup(path, "pt_square", &fn, NULL), PP_OK);
    ck_assert_ptr_nonnull(fn);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(enosym_message)
{
    pp_task_fn fn = NULL;
    const char *label = NULL;
    /* libppbad.so has a pt_square, but hidden. */
    ck_assert_int_eq(lookup(ppbad, "pt_square", &fn, &label), PP_ENOSYM);
    ck_assert_ptr_null(fn);
    char want[TASK_MSG_MAX];
    snprintf(want, sizeof want, "symbol 'pt_square' not found in %s", ppbad);
    ck_assert_str_eq(msg, want);
    ck_assert_str_eq(label, "libppbad.so:pt_square");
    /* The library stays loaded and cached; its exported symbol resolves. */
    ck_assert_int_eq(dlopen_calls, 1);
    ck_assert_int_eq(lookup(ppbad, "ppbad_marker", &fn, &label), PP_OK);
    ck_assert_int_eq(dlopen_calls, 1);
    ck_assert_str_eq(label, "libppbad.so:ppbad_marker");
    /* A missing symbol is looked up again each time (never cached). */
    ck_assert_int_eq(lookup(ppbad, "pt_square", &fn, NULL), PP_ENOSYM);
    ck_assert_str_eq(msg, want);
    ck_assert_int_eq(lookup(pptest, "pt_no_such_function", &fn, NULL), PP_ENOSYM);
    snprintf(want, sizeof want, "symbol 'pt_no_such_function' not found in %s", pptest);
    ck_assert_str_eq(msg, want);
}
END_TEST

START_TEST(einval_cases)
{
    pp_task_fn fn = NULL;
    const char *label = NULL;
    ck_assert_int_eq(task_cache_lookup(&cache, NULL, &fn, &label, msg), PP_EINVAL);
    ck_assert_str_eq(msg, "the task names no function");
    ck_assert_str_eq(label, "?");

    Polypool__V1__Function none = POLYPOOL__V1__FUNCTION__INIT;
    ck_assert_int_eq(task_cache_lookup(&cache, &none, &fn, &label, msg), PP_EINVAL);
    ck_assert_str_eq(msg, "the task names no function");

    Polypool__V1__PyFunction py = POLYPOOL__V1__PY_FUNCTION__INIT;
    py.module = "mod";
    py.qualname = "Cls.meth";
    Polypool__V1__Function pyf = POLYPOOL__V1__FUNCTION__INIT;
    pyf.kind_case = POLYPOOL__V1__FUNCTION__KIND_PY;
    pyf.py = &py;
    ck_assert_int_eq(task_cache_lookup(&cache, &pyf, &fn, &label, msg), PP_EINVAL);
    ck_assert_str_eq(msg, "python functions need a Python worker");
    ck_assert_str_eq(label, "mod.Cls.meth");
    py.module = NULL;
    ck_assert_int_eq(task_cache_lookup(&cache, &pyf, &fn, NULL, msg), PP_EINVAL);
    ck_assert_str_eq(cache.label, "?.Cls.meth");

    ck_assert_int_eq(lookup("", "pt_square", &fn, &label), PP_EINVAL);
    ck_assert_str_eq(msg, "the task's function needs a library and a symbol");
    ck_assert_str_eq(label, ":pt_square");
    ck_assert_int_eq(lookup(pptest, "", &fn, &label), PP_EINVAL);
    ck_assert_str_eq(msg, "the task's function needs a library and a symbol");
    ck_assert_str_eq(label, "libpptest.so:");
    ck_assert_int_eq(lookup(NULL, NULL, &fn, &label), PP_EINVAL);
    ck_assert_str_eq(label, ":");
    Polypool__V1__Function cnull = POLYPOOL__V1__FUNCTION__INIT;
    cnull.kind_case = POLYPOOL__V1__FUNCTION__KIND_C;
    ck_assert_int_eq(task_cache_lookup(&cache, &cnull, &fn, &label, msg), PP_EINVAL);
    ck_assert_int_eq(dlopen_calls, 0);
}
END_TEST

START_TEST(fini_then_reuse)
{
    pp_task_fn fn = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_square", &fn, NULL), PP_OK);
    task_cache_fini(&cache);
    ck_assert_ptr_null(cache.libs);
    ck_assert_ptr_null(cache.syms);
    ck_assert_ptr_null(cache.last);
    /* The library stays loaded (fini never dlcloses), and a new cache
     * works. */
    ck_assert_ptr_nonnull(dlopen(pptest, RTLD_NOW | RTLD_NOLOAD));
    task_cache_init(&cache);
    pp_task_fn fn2 = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_square", &fn2, NULL), PP_OK);
    ck_assert_ptr_eq(fn2, fn);
}
END_TEST

/* ---- arguments -------------------------------------------------------------- */

START_TEST(star_args_need_a_sequence)
{
    pp_value *one = args1(pp_value_null());
    const pp_value *args = NULL;

    pp_value *list = pp_value_list();
    pp_value_append(list, pp_value_int(1));
    pp_value_append(list, pp_value_int(2));
    ck_assert_int_eq(task_args(list, true, one, &args), PP_OK);
    ck_assert_ptr_eq(args, list);
    ck_assert_uint_eq(pp_value_len(args), 2);
    pp_value_free(list);   /* star: still the caller's */

    pp_value *tuple = pp_value_tuple();
    pp_value_append(tuple, pp_value_string("x"));
    ck_assert_int_eq(task_args(tuple, true, one, &args), PP_OK);
    ck_assert_ptr_eq(args, tuple);
    pp_value_free(tuple);

    pp_value *bad[] = { pp_value_int(5), pp_value_string("ab"), pp_value_map(),
                        pp_value_null(), pp_value_bytes("b", 1) };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        args = NULL;
        ck_assert_int_eq(task_args(bad[i], true, one, &args), PP_ETASK);
        ck_assert_ptr_null(args);
        pp_value_free(bad[i]);
    }
    /* The one-slot list was not touched. */
    ck_assert_int_eq(pp_value_kind(pp_value_at(one, 0)), PP_NULL);
    pp_value_free(one);
}
END_TEST

START_TEST(map_args_move_the_item)
{
    pp_value *one = args1(pp_value_null());
    const pp_value *args = NULL;
    pp_value *item = pp_value_int(5);
    ck_assert_int_eq(task_args(item, false, one, &args), PP_OK);
    /* item is consumed: not freed here (ASan would see a double free or a
     * leak if task_args got it wrong). */
    ck_assert_ptr_eq(args, one);
    ck_assert_uint_eq(pp_value_len(args), 1);
    ck_assert_int_eq(pp_value_get_int(pp_value_at(args, 0)), 5);
    /* A list item is one argument, not spread. */
    pp_value_set_null(pp_value_at_mut(one, 0));
    pp_value *list = pp_value_list();
    pp_value_append(list, pp_value_int(1));
    pp_value_append(list, pp_value_int(2));
    ck_assert_int_eq(task_args(list, false, one, &args), PP_OK);
    ck_assert_uint_eq(pp_value_len(args), 1);
    ck_assert_int_eq(pp_value_kind(pp_value_at(args, 0)), PP_LIST);
    ck_assert_uint_eq(pp_value_len(pp_value_at(args, 0)), 2);
    pp_value_free(one);
}
END_TEST

/* ---- calling ------------------------------------------------------------------ */

static int t_ok(const pp_value *args, pp_value *result)
{
    return pp_value_set_int(result, 7) == PP_OK ? 0 : 1;
}

static int t_fail(const pp_value *args, pp_value *result)
{
    return pp_task_fail(result, "bad input %d", 3);
}

static int t_ret42(const pp_value *args, pp_value *result)
{
    return 42;
}

static int t_neg_with_int(const pp_value *args, pp_value *result)
{
    pp_value_set_int(result, 9);
    return -1;
}

static int t_long(const pp_value *args, pp_value *result)
{
    char s[3000];
    memset(s, 'L', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    pp_value_set_string(result, s);
    return 1;
}

static pp_status call(pp_task_fn fn, pp_value **res)
{
    pp_value *args = pp_value_list();
    *res = pp_value_null();
    memset(msg, 0, sizeof msg);
    pp_status st = task_call(fn, args, *res, msg);
    pp_value_free(args);
    return st;
}

START_TEST(call_results_and_errors)
{
    pp_value *res;
    ck_assert_int_eq(call(t_ok, &res), PP_OK);
    ck_assert_int_eq(pp_value_get_int(res), 7);
    ck_assert_str_eq(msg, "");
    pp_value_free(res);

    ck_assert_int_eq(call(t_fail, &res), PP_ETASK);
    ck_assert_str_eq(msg, "bad input 3");
    pp_value_free(res);

    ck_assert_int_eq(call(t_ret42, &res), PP_ETASK);
    ck_assert_str_eq(msg, "task returned 42");
    pp_value_free(res);

    ck_assert_int_eq(call(t_neg_with_int, &res), PP_ETASK);
    ck_assert_str_eq(msg, "task returned -1");
    pp_value_free(res);

    /* A long message is cut to the buffer, still terminated. */
    ck_assert_int_eq(call(t_long, &res), PP_ETASK);
    ck_assert_uint_eq(strlen(msg), TASK_MSG_MAX - 1);
    ck_assert_int_eq(msg[0], 'L');
    pp_value_free(res);
}
END_TEST

START_TEST(call_through_the_cache)
{
    pp_task_fn fn = NULL;
    ck_assert_int_eq(lookup(pptest, "pt_fail", &fn, NULL), PP_OK);
    pp_value *args = args1(pp_value_string("nope")), *res = pp_value_null();
    ck_assert_int_eq(task_call(fn, args, res, msg), PP_ETASK);
    ck_assert_str_eq(msg, "pt_fail: nope");
    pp_value_free(args);
    pp_value_free(res);
}
END_TEST

/* ---- ResultBatch ----------------------------------------------------------- */

static Polypool__V1__ResultBatch *pack(task_batch *b)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(task_batch_pack(b, &data, &len), PP_OK);
    Polypool__V1__ResultBatch *m = polypool__v1__result_batch__unpack(NULL, len, data);
    ck_assert_ptr_nonnull(m);
    return m;
}

START_TEST(batch_mixed_outcomes)
{
    task_batch b;
    task_batch_init(&b);
    task_batch_reset(&b, 9, 100);
    pp_value *one = pp_value_int(1), *s = pp_value_string("x");
    task_batch_ok(&b, one, "libf.so:fn", 77);
    task_batch_fail(&b, PP_ETASK, "boom", "libf.so:fn", 77);
    task_batch_ok(&b, s, "libf.so:fn", 77);
    task_batch_output(&b, "o", 1, "ee", 2);
    Polypool__V1__ResultBatch *m = pack(&b);
    ck_assert_uint_eq(m->job_id, 9);
    ck_assert_uint_eq(m->first, 100);
    ck_assert_uint_eq(m->count, 3);
    ck_assert_uint_eq(m->values->n_kinds, 3);
    ck_assert_int_eq(m->values->kinds[0], POLYPOOL__V1__KIND__KIND_INT);
    ck_assert_int_eq(m->values->kinds[1], POLYPOOL__V1__KIND__KIND_NULL);
    ck_assert_int_eq(m->values->kinds[2], POLYPOOL__V1__KIND__KIND_STRING);
    ck_assert_int_eq(m->values->ints[0], 1);
    ck_assert_uint_eq(m->n_errors, 1);
    ck_assert_uint_eq(m->errors[0]->index, 101);
    ck_assert_int_eq(m->errors[0]->status, POLYPOOL__V1__STATUS__STATUS_ETASK);
    ck_assert_str_eq(m->errors[0]->message, "boom");
    ck_assert_str_eq(m->errors[0]->where, "worker 77, libf.so:fn, item 101");
    ck_assert_uint_eq(m->out.len, 1);
    ck_assert_mem_eq(m->out.data, "o", 1);
    ck_assert_uint_eq(m->err.len, 2);
    ck_assert_mem_eq(m->err.data, "ee", 2);
    polypool__v1__result_batch__free_unpacked(m, NULL);

    /* Reset keeps nothing of the previous batch but its memory. */
    task_batch_reset(&b, 10, 0);
    task_batch_fail(&b, PP_ENOSYM, "symbol 'f' not found in /x.so", NULL, 5);
    m = pack(&b);
    ck_assert_uint_eq(m->job_id, 10);
    ck_assert_uint_eq(m->count, 1);
    ck_assert_uint_eq(m->n_errors, 1);
    ck_assert_uint_eq(m->errors[0]->index, 0);
    ck_assert_str_eq(m->errors[0]->where, "worker 5, item 0");
    ck_assert_uint_eq(m->out.len, 0);
    ck_assert_uint_eq(m->err.len, 0);
    polypool__v1__result_batch__free_unpacked(m, NULL);
    pp_value_free(one);
    pp_value_free(s);
    task_batch_fini(&b);
}
END_TEST

START_TEST(batch_many_errors)
{
    /* More errors than the initial array: it grows, indices stay right. */
    task_batch b;
    task_batch_init(&b);
    task_batch_reset(&b, 1, 50);
    for (int i = 0; i < 20; i++)
        task_batch_fail(&b, PP_ETASK, "e", "l:f", 1);
    Polypool__V1__ResultBatch *m = pack(&b);
    ck_assert_uint_eq(m->count, 20);
    ck_assert_uint_eq(m->n_errors, 20);
    for (size_t i = 0; i < 20; i++)
        ck_assert_uint_eq(m->errors[i]->index, 50 + i);
    polypool__v1__result_batch__free_unpacked(m, NULL);
    task_batch_fini(&b);
}
END_TEST

START_TEST(batch_fail_all)
{
    task_batch b;
    task_batch_init(&b);
    task_batch_reset(&b, 3, 10);
    pp_value *v = pp_value_int(4);
    task_batch_ok(&b, v, "l:f", 1);
    task_batch_fail(&b, PP_ETASK, "x", "l:f", 1);
    task_batch_ok(&b, v, "l:f", 1);
    task_batch_fail_all(&b, PP_EMSGSIZE, "too big", NULL, 8);
    Polypool__V1__ResultBatch *m = pack(&b);
    ck_assert_uint_eq(m->count, 3);
    ck_assert_uint_eq(m->n_errors, 3);
    ck_assert_uint_eq(m->values->n_kinds, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(m->values->kinds[i], POLYPOOL__V1__KIND__KIND_NULL);
        ck_assert_uint_eq(m->errors[i]->index, 10 + i);
        ck_assert_int_eq(m->errors[i]->status, POLYPOOL__V1__STATUS__STATUS_EMSGSIZE);
        ck_assert_str_eq(m->errors[i]->message, "too big");
    }
    ck_assert_str_eq(m->errors[2]->where, "worker 8, item 12");
    polypool__v1__result_batch__free_unpacked(m, NULL);
    pp_value_free(v);
    task_batch_fini(&b);
}
END_TEST

START_TEST(batch_unsendable_result)
{
    /* 70 nested lists: deeper than the codec allows. */
    pp_value *root = pp_value_list(), *cur = root;
    for (int i = 0; i < 70; i++) {
        pp_value *inner = pp_value_list();
        ck_assert_int_eq(pp_value_append(cur, inner), PP_OK);
        cur = inner;
    }
    task_batch b;
    task_batch_init(&b);
    task_batch_reset(&b, 1, 0);
    task_batch_ok(&b, root, "l:f", 2);
    Polypool__V1__ResultBatch *m = pack(&b);
    ck_assert_uint_eq(m->count, 1);
    ck_assert_uint_eq(m->n_errors, 1);
    ck_assert_int_eq(m->errors[0]->status, POLYPOOL__V1__STATUS__STATUS_EINVAL);
    ck_assert_str_eq(m->errors[0]->message,
                     "the task's result cannot be sent (a handle, or nested deeper than "
                     "64 levels)");
    ck_assert_int_eq(m->values->kinds[0], POLYPOOL__V1__KIND__KIND_NULL);
    polypool__v1__result_batch__free_unpacked(m, NULL);
    pp_value_free(root);
    task_batch_fini(&b);
}
END_TEST

START_TEST(items_estimate)
{
    ck_assert_uint_eq(task_items_estimate(NULL), 0);
    /* 7, [1, 2], {"k": 3} */
    Polypool__V1__Kind k[] = {
        POLYPOOL__V1__KIND__KIND_INT, POLYPOOL__V1__KIND__KIND_LIST,
        POLYPOOL__V1__KIND__KIND_INT, POLYPOOL__V1__KIND__KIND_INT,
        POLYPOOL__V1__KIND__KIND_MAP, POLYPOOL__V1__KIND__KIND_STRING,
        POLYPOOL__V1__KIND__KIND_INT,
    };
    uint32_t counts[] = { 2, 1 };
    Polypool__V1__Values v = POLYPOOL__V1__VALUES__INIT;
    v.kinds = k;
    v.n_kinds = 7;
    v.counts = counts;
    v.n_counts = 2;
    ck_assert_uint_eq(task_items_estimate(&v), 3);
    /* Counts missing: each container counts as empty. */
    v.n_counts = 0;
    ck_assert_uint_eq(task_items_estimate(&v), 7);
    /* A count larger than what follows: one truncated tree. */
    uint32_t huge[] = { 1000, 1 };
    v.counts = huge;
    v.n_counts = 2;
    ck_assert_uint_eq(task_items_estimate(&v), 2);
    Polypool__V1__Values empty = POLYPOOL__V1__VALUES__INIT;
    ck_assert_uint_eq(task_items_estimate(&empty), 0);
}
END_TEST

START_TEST(where_formats)
{
    char *s = task_where(12, "libx.so:f", 3);
    ck_assert_str_eq(s, "worker 12, libx.so:f, item 3");
    free(s);
    s = task_where(12, NULL, 3);
    ck_assert_str_eq(s, "worker 12, item 3");
    free(s);
    s = task_where(12, "libx.so:init", UINT64_MAX);
    ck_assert_str_eq(s, "worker 12, libx.so:init, initializer");
    free(s);
    s = task_where(12, NULL, UINT64_MAX);
    ck_assert_str_eq(s, "worker 12, ?, initializer");
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lookup_and_call);
    tcase_add_test(tc, library_opened_once);
    tcase_add_test(tc, enolib_has_dlerror_text);
    tcase_add_test(tc, enolib_not_a_library);
    tcase_add_test(tc, library_that_appears_later_is_found);
    tcase_add_test(tc, enosym_message);
    tcase_add_test(tc, einval_cases);
    tcase_add_test(tc, fini_then_reuse);
    tcase_add_test(tc, star_args_need_a_sequence);
    tcase_add_test(tc, map_args_move_the_item);
    tcase_add_test(tc, call_results_and_errors);
    tcase_add_test(tc, call_through_the_cache);
    tcase_add_test(tc, batch_mixed_outcomes);
    tcase_add_test(tc, batch_many_errors);
    tcase_add_test(tc, batch_fail_all);
    tcase_add_test(tc, batch_unsendable_result);
    tcase_add_test(tc, items_estimate);
    tcase_add_test(tc, where_formats);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
