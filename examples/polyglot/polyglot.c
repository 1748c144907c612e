/* polyglot.c - the C half of the polyglot example.
 *
 * It shares the named pool "polyglot" with polyglot.py, which runs at the
 * same time, and each runs the other's functions: this program applies the
 * Python functions of pgtasks.py (found through $PYTHONPATH, as Python
 * would find them) and maps its own C function too; polyglot.py maps the C
 * functions of libpolyglot.so.
 *
 *   PYTHONPATH=examples/polyglot build/examples/polyglot/polyglot
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <polypool.h>

static void die(const char *what, pp_status st)
{
    fprintf(stderr, "polyglot: %s: %s (%s)\n", what, pp_strerror(st), pp_last_error()->message);
    exit(1);
}

static void print_value(const char *label, const pp_value *v)
{
    char *s = pp_value_repr(v);
    printf("C: %s %s\n", label, s ? s : "?");
    free(s);
}

/* libpolyglot.so sits next to this executable. */
static void library_path(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    buf[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(buf, '/');
    snprintf(slash ? slash + 1 : buf, len - (size_t)(slash ? slash + 1 - buf : 0),
             "libpolyglot.so");
}

int main(void)
{
    pp_client *c;
    pp_pool *pool;
    pp_status st;
    if ((st = pp_client_open(NULL, &c)) != PP_OK)
        die("connect", st);
    pp_pool_opts opts = { .size = 2 };
    if ((st = pp_pool_open_named(c, "polyglot", &opts, &pool)) != PP_OK)
        die("pool", st);

    /* Python functions, by module and name; the environment defaults to
     * $POLYPOOL_PYTHON (or the build's interpreter) and $PYTHONPATH. */
    pp_func *word_count, *summary, *collatz;
    if ((st = pp_func_py("pgtasks", "word_count", NULL, &word_count)) != PP_OK ||
        (st = pp_func_py("pgtasks", "summary", NULL, &summary)) != PP_OK)
        die("python function", st);

    pp_value *lines = pp_value_list();
    const char *text[] = { "the quick brown fox", "jumps over", "the lazy dog" };
    for (size_t i = 0; i < 3; i++)
        pp_value_append(lines, pp_value_string(text[i]));
    pp_value *counts;
    if ((st = pp_pool_map(pool, word_count, lines, NULL, &counts)) != PP_OK)
        die("map pgtasks.word_count", st);
    print_value("word counts (Python pgtasks.word_count):", counts);

    pp_value *numbers = pp_value_list_of_ints((const int64_t[]){ 3, 1, 4, 1, 5, 9, 2, 6 }, 8);
    pp_value *args = pp_value_list();
    pp_value_append(args, numbers);
    pp_value *stats;
    if ((st = pp_pool_apply(pool, summary, args, -1, &stats)) != PP_OK)
        die("apply pgtasks.summary", st);
    print_value("summary (Python pgtasks.summary):", stats);

    /* And a C function of its own, on the same pool. */
    char lib[4096];
    library_path(lib, sizeof lib);
    if ((st = pp_func_c(lib, "pg_collatz", &collatz)) != PP_OK)
        die("C function", st);
    pp_value *ns = pp_value_list_of_ints((const int64_t[]){ 6, 7, 27 }, 3);
    pp_value *steps;
    if ((st = pp_pool_map(pool, collatz, ns, NULL, &steps)) != PP_OK)
        die("map pg_collatz", st);
    print_value("collatz steps (C pg_collatz):", steps);

    pp_value_free(steps);
    pp_value_free(ns);
    pp_value_free(stats);
    pp_value_free(args);
    pp_value_free(counts);
    pp_value_free(lines);
    pp_func_free(collatz);
    pp_func_free(summary);
    pp_func_free(word_count);
    pp_pool_free(pool);
    pp_client_close(c);
    return 0;
}
