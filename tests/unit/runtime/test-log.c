/* test-log.c - log.c: level names, filtering, the line format (timestamp,
 * pid, level, and file:line for errors only), one write per line to the
 * fd it was given, and truncation of long messages (never of an error's
 * location). */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

static int fd = -1;

static void setup(void)
{
    fd = memfd_create("test-log", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    log_set_fd(fd);
}

static void teardown(void)
{
    log_set_fd(2);
    close(fd);
}

/* What the log wrote so far. */
static const char *logged(size_t *len)
{
    static char text[8192];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    ck_assert_int_ge(n, 0);
    text[n] = '\0';
    if (len)
        *len = (size_t)n;
    return text;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "log %s does not match %s", text, pattern);
}

START_TEST(parse_level_names)
{
    static const struct {
        const char *name;
        enum log_level lv;
    } ok[] = {
        { "error", LOG_LEVEL_ERROR },
        { "warn", LOG_LEVEL_WARN },
        { "info", LOG_LEVEL_INFO },
        { "debug", LOG_LEVEL_DEBUG },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        enum log_level lv = (enum log_level)99;
        ck_assert_int_eq(log_parse_level(ok[i].name, &lv), 0);
        ck_assert_int_eq(lv, ok[i].lv);
    }
}
END_TEST

START_TEST(parse_level_rejects)
{
    /* Exact, lower-case names only; a rejected name leaves *out alone. */
    static const char *bad[] = { "", "ERROR", "Info", "warning", "err", "info ",
                                 " debug", "trace", "0", "debugx" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum log_level lv = LOG_LEVEL_WARN;
        ck_assert_msg(log_parse_level(bad[i], &lv) == -1, "'%s' accepted", bad[i]);
        ck_assert_int_eq(lv, LOG_LEVEL_WARN);
    }
}
END_TEST

START_TEST(level_default_and_set)
{
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_INFO);
    log_set_level(LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_DEBUG);
    log_set_level(LOG_LEVEL_ERROR);
    ck_assert_int_eq(log_get_level(), LOG_LEVEL_ERROR);
}
END_TEST

START_TEST(error_line_format)
{
    int line = __LINE__ + 1;
    log_error("boom %d %s", 42, "x");
    size_t len;
    const char *text = logged(&len);
    char want[128];
    snprintf(want, sizeof want, " polypoold[%d] error: boom 42 x (test-log.c:%d)\n",
             (int)getpid(), line);
    /* One line: a local timestamp with milliseconds, then the rest. */
    assert_matches(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} ");
    ck_assert_uint_eq(len, 23 + strlen(want));
    ck_assert_str_eq(text + 23, want);
}
END_TEST

START_TEST(location_is_the_base_name)
{
    log_write(LOG_LEVEL_ERROR, "../../runtime/deep/pool.c", 7, "a");
    log_write(LOG_LEVEL_ERROR, "plain.c", 1234, "b");
    const char *text = logged(NULL);
    ck_assert_ptr_nonnull(strstr(text, " error: a (pool.c:7)\n"));
    ck_assert_ptr_nonnull(strstr(text, " error: b (plain.c:1234)\n"));
    ck_assert_ptr_null(strstr(text, "deep/"));
}
END_TEST

START_TEST(other_levels_have_no_location)
{
    log_set_level(LOG_LEVEL_DEBUG);
    log_warn("w%d", 1);
    log_info("i%d", 2);
    log_debug("d%d", 3);
    size_t len;
    const char *text = logged(&len);
    char want[256];
    int pid = (int)getpid();
    snprintf(want, sizeof want, "polypoold[%d] warn: w1\n", pid);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof want, "polypoold[%d] info: i2\n", pid);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof want, "polypoold[%d] debug: d3\n", pid);
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_null(strstr(text, "test-log.c"));
    /* Three lines, in order. */
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_int_eq(lines, 3);
    ck_assert(strstr(text, "w1") < strstr(text, "i2"));
    ck_assert(strstr(text, "i2") < strstr(text, "d3"));
}
END_TEST

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

START_TEST(levels_filter)
{
    /* Default info: debug is dropped, and its arguments are not even
     * evaluated. */
    log_debug("d%d", side_effect());
    ck_assert_int_eq(evaluated, 0);
    log_info("kept-info");
    log_set_level(LOG_LEVEL_WARN);
    log_info("dropped-info");
    log_warn("kept-warn");
    log_set_level(LOG_LEVEL_ERROR);
    log_warn("dropped-warn");
    log_error("kept-error");
    /* log_write filters by itself too (a caller that bypasses the macro). */
    log_write(LOG_LEVEL_DEBUG, "x.c", 1, "dropped-debug");
    const char *text = logged(NULL);
    ck_assert_ptr_nonnull(strstr(text, "kept-info"));
    ck_assert_ptr_nonnull(strstr(text, "kept-warn"));
    ck_assert_ptr_nonnull(strstr(text, "kept-error"));
    ck_assert_ptr_null(strstr(text, "dropped"));
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("d%d", side_effect());
    ck_assert_int_eq(evaluated, 1);
    ck_assert_ptr_nonnull(strstr(logged(NULL), " debug: d1\n"));
}
END_TEST

START_TEST(writes_to_the_given_fd)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    log_set_fd(p[1]);
    log_info("to the pipe");
    log_set_fd(fd);
    log_info("to the memfd");
    close(p[1]);
    char buf[512];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    close(p[0]);
    ck_assert_ptr_nonnull(strstr(buf, " info: to the pipe\n"));
    ck_assert_ptr_null(strstr(buf, "memfd"));
    const char *text = logged(NULL);
    ck_assert_ptr_nonnull(strstr(text, " info: to the memfd\n"));
    ck_assert_ptr_null(strstr(text, "pipe"));
}
END_TEST

START_TEST(one_write_per_line)
{
    /* A pipe keeps write boundaries visible: each read of a quiet pipe
     * returns exactly one write, and a line is one write. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    log_set_fd(p[1]);
    log_error("first");
    char buf[512];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(buf, " error: first (test-log.c:"));
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(long_message_truncated)
{
    size_t big = 5000;
    char *s = malloc(big + 1);
    memset(s, 'y', big);
    s[big] = '\0';
    log_info("%s", s);
    size_t len;
    const char *text = logged(&len);
    /* The line is cut to the 2 KiB buffer and still ends the line. */
    ck_assert_uint_eq(len, 2047);
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
    ck_assert_int_eq(text[len - 2], 'y');
    free(s);
}
END_TEST

START_TEST(long_error_keeps_one_line)
{
    /* An error whose message fills the buffer is cut, not its location:
     * exactly one terminated line of 2047 bytes that ends with the
     * message's last kept byte and then "(file:line)". */
    size_t big = 3000;
    char *s = malloc(big + 1);
    memset(s, 'z', big);
    s[big] = '\0';
    int line = __LINE__ + 1;
    log_error("%s", s);
    size_t len;
    const char *text = logged(&len);
    ck_assert_uint_eq(len, 2047);
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
    char want[64];
    snprintf(want, sizeof want, "z (test-log.c:%d)\n", line);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_str_eq(text + len - strlen(want), want);
    free(s);
}
END_TEST

START_TEST(error_near_the_limit)
{
    /* A message that would leave room for only part of the location: it
     * is cut instead, and the line (at most 2047 bytes) ends with the
     * whole location. */
    size_t prefix = strlen("2000-01-01 00:00:00.000 polypoold[] error: ");
    char pid[16];
    prefix += (size_t)snprintf(pid, sizeof pid, "%d", (int)getpid());
    size_t big = 2046 - prefix - 5;
    char *s = malloc(big + 1);
    memset(s, 'q', big);
    s[big] = '\0';
    int line = __LINE__ + 1;
    log_error("%s", s);
    size_t len;
    const char *text = logged(&len);
    ck_assert_uint_le(len, 2047);
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
    char want[64];
    snprintf(want, sizeof want, "q (test-log.c:%d)\n", line);
    ck_assert_str_eq(text + len - strlen(want), want);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_level_names);
    tcase_add_test(tc, parse_level_rejects);
    tcase_add_test(tc, level_default_and_set);
    tcase_add_test(tc, error_line_format);
    tcase_add_test(tc, location_is_the_base_name);
    tcase_add_test(tc, other_levels_have_no_location);
    tcase_add_test(tc, levels_filter);
    tcase_add_test(tc, writes_to_the_given_fd);
    tcase_add_test(tc, one_write_per_line);
    tcase_add_test(tc, long_message_truncated);
    tcase_add_test(tc, long_error_keeps_one_line);
    tcase_add_test(tc, error_near_the_limit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
