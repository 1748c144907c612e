/* test-pyenv.c - pyenv.c: interning (equal environments are one struct,
 * every field counts), references, and the worker host's environment
 * variables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pyenv.h"

static char *path2[] = { "/src", "/usr/lib/python3/dist-packages" };

START_TEST(intern_equal_is_same)
{
    struct pyenv *a = pyenv_intern("/usr/bin/python3", path2, 2, "/src/main.py", "", "/src", NULL, 0);
    struct pyenv *b = pyenv_intern("/usr/bin/python3", path2, 2, "/src/main.py", NULL, "/src", NULL, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(a->refs, 2);
    ck_assert_uint_eq(pyenv_count(), 1);
    ck_assert_str_eq(a->interpreter, "/usr/bin/python3");
    ck_assert_uint_eq(a->npath, 2);
    ck_assert_str_eq(a->path[1], "/usr/lib/python3/dist-packages");
    ck_assert_str_eq(a->main_module, "");
    pyenv_unref(b);
    pyenv_unref(a);
    ck_assert_uint_eq(pyenv_count(), 0);
}
END_TEST

START_TEST(intern_every_field_counts)
{
    struct pyenv *e[6];
    e[0] = pyenv_intern("/usr/bin/python3", path2, 2, "/m.py", "", "/", NULL, 0);
    e[1] = pyenv_intern("/usr/bin/python3.11", path2, 2, "/m.py", "", "/", NULL, 0);
    e[2] = pyenv_intern("/usr/bin/python3", path2, 1, "/m.py", "", "/", NULL, 0);
    e[3] = pyenv_intern("/usr/bin/python3", path2, 2, "", "m", "/", NULL, 0);
    e[4] = pyenv_intern("/usr/bin/python3", path2, 2, "/m.py", "", "/tmp", NULL, 0);
    /* Field boundaries matter: "ab" + "" is not "a" + "b". */
    char *p1[] = { "ab", "" }, *p2[] = { "a", "b" };
    struct pyenv *x = pyenv_intern("/p", p1, 2, "", "", "", NULL, 0);
    e[5] = pyenv_intern("/p", p2, 2, "", "", "", NULL, 0);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            ck_assert_ptr_ne(e[i], e[j]);
    ck_assert_ptr_ne(x, e[5]);
    for (int i = 0; i < 6; i++)
        pyenv_unref(e[i]);
    pyenv_unref(x);
    pyenv_unref(NULL);
    ck_assert_uint_eq(pyenv_count(), 0);
}
END_TEST

static const char *find(char **env, const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    for (char **v = env; *v; v++)
        if (strncmp(*v, name, n) == 0 && (*v)[n] == '=') {
            ck_assert_ptr_null(found);      /* each variable once */
            found = *v + n + 1;
        }
    return found;
}

START_TEST(environ_for_host)
{
    struct pyenv *e = pyenv_intern("/usr/bin/python3", path2, 2, "/src/main.py", "", "/src", NULL, 0);
    char *base[] = { "HOME=/root", "PYTHONPATH=/old", "POLYPOOL_PY_PATH=/stale", "LANG=C", NULL };
    char **env = pyenv_environ(e, base);
    ck_assert_ptr_nonnull(env);
    ck_assert_str_eq(find(env, "HOME"), "/root");
    ck_assert_str_eq(find(env, "LANG"), "C");
    ck_assert_str_eq(find(env, "PYTHONPATH"), "/src:/usr/lib/python3/dist-packages");
    ck_assert_str_eq(find(env, "POLYPOOL_PY_PATH"), "/src\x1f/usr/lib/python3/dist-packages");
    ck_assert_str_eq(find(env, "POLYPOOL_PY_MAIN_PATH"), "/src/main.py");
    ck_assert_str_eq(find(env, "POLYPOOL_PY_MAIN_MODULE"), "");
    free(env);
    ck_assert_str_eq(pyenv_label(e), "/usr/bin/python3 /src/main.py");
    ck_assert_str_eq(pyenv_label(NULL), "c");
    pyenv_unref(e);
}
END_TEST

START_TEST(environ_of_the_client)
{
    char *vars[] = { "MY_SETTING=1", "PYTHONPATH=/client", "HOME=/home/c",
                     "POLYPOOL_ADDRESS=ipc:///elsewhere" };
    struct pyenv *e = pyenv_intern("/usr/bin/python3", path2, 2, "", "", "/", vars, 4);
    struct pyenv *other = pyenv_intern("/usr/bin/python3", path2, 2, "", "", "/", vars, 2);
    /* The host connects back to its daemon, whatever the client's address. */
    setenv("POLYPOOL_ADDRESS", "ipc:///the/daemon", 1);
    ck_assert_ptr_ne(e, other);
    char *base[] = { "HOME=/root", "DAEMON_ONLY=1", NULL };
    char **env = pyenv_environ(e, base);
    ck_assert_str_eq(find(env, "MY_SETTING"), "1");
    ck_assert_str_eq(find(env, "HOME"), "/home/c");
    ck_assert_ptr_null(find(env, "DAEMON_ONLY"));
    ck_assert_str_eq(find(env, "PYTHONPATH"), "/src:/usr/lib/python3/dist-packages");
    ck_assert_str_eq(find(env, "POLYPOOL_ADDRESS"), "ipc:///the/daemon");
    ck_assert_str_eq(find(env, "POLYPOOL_NO_AUTOSTART"), "1");
    free(env);
    unsetenv("POLYPOOL_ADDRESS");
    pyenv_unref(other);
    pyenv_unref(e);
}
END_TEST

START_TEST(environ_empty_path)
{
    struct pyenv *e = pyenv_intern("/usr/bin/python3", NULL, 0, "", "", "", NULL, 0);
    char *base[] = { NULL };
    char **env = pyenv_environ(e, base);
    ck_assert_str_eq(find(env, "PYTHONPATH"), "");
    ck_assert_str_eq(find(env, "POLYPOOL_PY_PATH"), "");
    free(env);
    pyenv_unref(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pyenv");
    TCase *tc = tcase_create("pyenv");
    tcase_add_test(tc, intern_equal_is_same);
    tcase_add_test(tc, intern_every_field_counts);
    tcase_add_test(tc, environ_for_host);
    tcase_add_test(tc, environ_empty_path);
    tcase_add_test(tc, environ_of_the_client);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
