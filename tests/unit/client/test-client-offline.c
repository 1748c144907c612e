/* test-client-offline.c - client calls that need no daemon. No nng call
 * happens in main(): each test runs in its own forked child. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "polypool.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(no_daemon_refused)
{
    char url[256];
    snprintf(url, sizeof url, "ipc:///tmp/pp-offline-%d/none.sock", (int)getpid());
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);
    pp_client *c = NULL;
    long t0 = now_ms();
    ck_assert_int_eq(pp_client_open(url, &c), PP_ECONNREFUSED);
    ck_assert_int_lt(now_ms() - t0, 1000);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(pp_last_error()->status, PP_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(pp_last_error()->message, url));
}
END_TEST

START_TEST(no_autostart_option)
{
    char url[256];
    snprintf(url, sizeof url, "ipc:///tmp/pp-offline-%d/none.sock", (int)getpid());
    unsetenv("POLYPOOL_NO_AUTOSTART");
    /* A daemon path that does not exist proves no spawn was tried. */
    setenv("POLYPOOL_DAEMON", "/nonexistent/polypoold", 1);
    pp_client_opts o = {0};
    o.address = url;
    o.no_autostart = true;
    pp_client *c = NULL;
    ck_assert_int_eq(pp_client_open_opts(&o, &c), PP_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(pp_last_error()->message, "autostart disabled"));
}
END_TEST

START_TEST(autostart_missing_daemon)
{
    char url[256];
    snprintf(url, sizeof url, "ipc:///tmp/pp-offline-%d/none.sock", (int)getpid());
    unsetenv("POLYPOOL_NO_AUTOSTART");
    setenv("POLYPOOL_DAEMON", "/nonexistent/polypoold", 1);
    pp_client_opts o = {0};
    o.address = url;
    o.connect_timeout_ms = 200;
    pp_client *c = NULL;
    ck_assert_int_eq(pp_client_open_opts(&o, &c), PP_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(pp_last_error()->message, "/nonexistent/polypoold"));
}
END_TEST

START_TEST(env_address)
{
    char url[256];
    snprintf(url, sizeof url, "ipc:///tmp/pp-offline-%d/env.sock", (int)getpid());
    setenv("POLYPOOL_ADDRESS", url, 1);
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);
    pp_client *c = NULL;
    ck_assert_int_eq(pp_client_open(NULL, &c), PP_ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(pp_last_error()->message, url));
}
END_TEST

START_TEST(bad_url)
{
    setenv("POLYPOOL_NO_AUTOSTART", "1", 1);
    pp_client *c = NULL;
    ck_assert_int_eq(pp_client_open("nosuchscheme://x", &c), PP_EINVAL);
    ck_assert_int_eq(pp_client_open("not a url", &c), PP_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(pp_client_open_opts(NULL, NULL), PP_EINVAL);
}
END_TEST

START_TEST(default_address)
{
    char buf[256];
    setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
    ck_assert_int_eq(pp_default_address(buf, sizeof buf), PP_OK);
    ck_assert_str_eq(buf, "ipc:///run/user/1234/polypool/polypoold.sock");
    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(pp_default_address(buf, sizeof buf), PP_OK);
    char want[128];
    snprintf(want, sizeof want, "ipc:///tmp/polypool-%u/polypoold.sock", (unsigned)getuid());
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(pp_default_address(buf, 10), PP_EINVAL);
}
END_TEST

START_TEST(func_args)
{
    pp_func *f = NULL;
    ck_assert_int_eq(pp_func_c(NULL, "sym", &f), PP_EINVAL);
    ck_assert_int_eq(pp_func_c("", "sym", &f), PP_EINVAL);
    ck_assert_int_eq(pp_func_c("libm.so.6", NULL, &f), PP_EINVAL);
    ck_assert_int_eq(pp_func_c("libm.so.6", "", &f), PP_EINVAL);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(pp_func_c("libm.so.6", "cos", &f), PP_OK);
    ck_assert_ptr_nonnull(f);
    pp_func_free(f);
    ck_assert_int_eq(pp_func_c("./lib/x.so", "task", &f), PP_OK);
    pp_func_free(f);
    pp_func_free(NULL);
}
END_TEST

START_TEST(null_handles)
{
    /* Free and close functions accept NULL; calls on NULL give PP_EINVAL. */
    pp_client_close(NULL);
    pp_pool_free(NULL);
    pp_iter_free(NULL);
    pp_future_free(NULL);
    ck_assert_int_eq(pp_client_ping(NULL, 0), PP_EINVAL);
    pp_pool *p = NULL;
    ck_assert_int_eq(pp_pool_create(NULL, NULL, &p), PP_EINVAL);
    ck_assert_int_eq(pp_pool_attach(NULL, "default", &p), PP_EINVAL);
    ck_assert_int_eq(pp_pool_close(NULL), PP_EINVAL);
    ck_assert_int_eq(pp_pool_join(NULL, 0), PP_EINVAL);
    ck_assert_int_eq(pp_future_wait(NULL, 0), PP_EINVAL);
    ck_assert(!pp_future_ready(NULL));
    ck_assert_ptr_null(pp_future_error(NULL));
    pp_value *r = NULL;
    ck_assert_int_eq(pp_pool_map(NULL, NULL, NULL, NULL, &r), PP_EINVAL);
    ck_assert_int_eq(pp_pool_apply(NULL, NULL, NULL, 0, &r), PP_EINVAL);
    ck_assert_int_eq(pp_iter_next(NULL, 0, &r), PP_EINVAL);
    ck_assert_str_eq(pp_client_address(NULL), "");
    ck_assert_uint_eq(pp_pool_size(NULL), 0);
    ck_assert_str_eq(pp_pool_name(NULL), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client-offline");
    TCase *tc = tcase_create("offline");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, no_daemon_refused);
    tcase_add_test(tc, no_autostart_option);
    tcase_add_test(tc, autostart_missing_daemon);
    tcase_add_test(tc, env_address);
    tcase_add_test(tc, bad_url);
    tcase_add_test(tc, default_address);
    tcase_add_test(tc, func_args);
    tcase_add_test(tc, null_handles);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
