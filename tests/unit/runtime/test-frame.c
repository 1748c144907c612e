/* test-frame.c - frame.c: blocking round trips, the incremental reader on
 * a non-blocking socketpair, bad lengths and EOF in the middle of a frame. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"

static int sv[2];

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void teardown(void)
{
    close(sv[0]);
    close(sv[1]);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

START_TEST(round_trip)
{
    const char *msgs[] = { "hello", "", "a somewhat longer payload" };
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(frame_write(sv[0], msgs[i], strlen(msgs[i])), 0);
    for (int i = 0; i < 3; i++) {
        void *p = NULL;
        size_t len = 99;
        ck_assert_int_eq(frame_read(sv[1], &p, &len), 1);
        ck_assert_uint_eq(len, strlen(msgs[i]));
        ck_assert_mem_eq(p, msgs[i], len);
        free(p);
    }
    close(sv[0]);
    sv[0] = -1;
    void *p;
    size_t len;
    ck_assert_int_eq(frame_read(sv[1], &p, &len), 0);
}
END_TEST

START_TEST(reader_partial)
{
    struct frame_reader r;
    frame_reader_init(&r);
    set_nonblock(sv[1]);
    void *p = NULL;
    size_t len = 0;
    /* Nothing yet. */
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 0);
    /* A 6-byte frame, dribbled in: 2 header bytes, 2 more, 3 payload, 3. */
    const unsigned char frame[] = { 6, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 'f' };
    ck_assert_int_eq(write(sv[0], frame, 2), 2);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 0);
    ck_assert_int_eq(write(sv[0], frame + 2, 2), 2);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 0);
    ck_assert_int_eq(write(sv[0], frame + 4, 3), 3);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 0);
    ck_assert_int_eq(write(sv[0], frame + 7, 3), 3);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 1);
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(p, "abcdef", 6);
    free(p);
    /* Two frames in one write come out one per call. */
    ck_assert_int_eq(frame_write(sv[0], "xy", 2), 0);
    ck_assert_int_eq(frame_write(sv[0], "z", 1), 0);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 1);
    ck_assert_uint_eq(len, 2);
    free(p);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_mem_eq(p, "z", 1);
    free(p);
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), 0);
    /* Clean EOF between frames: -1 with errno 0. */
    close(sv[0]);
    sv[0] = -1;
    errno = 12345;
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), -1);
    ck_assert_int_eq(errno, 0);
    frame_reader_fini(&r);
}
END_TEST

START_TEST(reader_oversize)
{
    struct frame_reader r;
    frame_reader_init(&r);
    set_nonblock(sv[1]);
    const unsigned char hdr[] = { 0xff, 0xff, 0xff, 0xff };
    ck_assert_int_eq(write(sv[0], hdr, 4), 4);
    void *p;
    size_t len;
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), -1);
    ck_assert_int_eq(errno, EPROTO);
    frame_reader_fini(&r);
    /* The blocking reader too. */
    ck_assert_int_eq(write(sv[0], hdr, 4), 4);
    set_nonblock(sv[1]);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK);
    ck_assert_int_eq(frame_read(sv[1], &p, &len), -1);
    ck_assert_int_eq(errno, EPROTO);
    /* And the writer refuses to make one. */
    ck_assert_int_eq(frame_write(sv[0], "x", FRAME_MAX + 1), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
}
END_TEST

START_TEST(eof_mid_frame)
{
    struct frame_reader r;
    frame_reader_init(&r);
    set_nonblock(sv[1]);
    const unsigned char part[] = { 10, 0, 0, 0, 'a', 'b' };
    ck_assert_int_eq(write(sv[0], part, sizeof part), (int)sizeof part);
    close(sv[0]);
    sv[0] = -1;
    void *p;
    size_t len;
    ck_assert_int_eq(frame_reader_read(&r, sv[1], &p, &len), -1);
    ck_assert_int_eq(errno, EPROTO);
    frame_reader_fini(&r);
}
END_TEST

START_TEST(eof_mid_header_blocking)
{
    const unsigned char part[] = { 10, 0 };
    ck_assert_int_eq(write(sv[0], part, 2), 2);
    close(sv[0]);
    sv[0] = -1;
    void *p;
    size_t len;
    ck_assert_int_eq(frame_read(sv[1], &p, &len), -1);
    ck_assert_int_eq(errno, EPROTO);
}
END_TEST

/* The read-ahead: many small frames and one larger than FRAME_READAHEAD
 * (read straight into its own buffer) come out whole and in order, and the
 * frames already buffered are returned before the EOF behind them. */
enum { BURST_SMALL = 500 };
static uint8_t *burst_big;
static size_t burst_big_len;

static void *burst_writer(void *arg)
{
    (void)arg;
    char msg[32];
    for (int i = 0; i < BURST_SMALL; i++) {
        if (i == BURST_SMALL / 2 && frame_write(sv[0], burst_big, burst_big_len) < 0)
            return NULL;
        int n = snprintf(msg, sizeof msg, "frame %d", i);
        if (frame_write(sv[0], msg, (size_t)n) < 0)
            return NULL;
    }
    close(sv[0]);
    sv[0] = -1;
    return NULL;
}

START_TEST(reader_burst_and_big)
{
    burst_big_len = FRAME_READAHEAD * 3 + 17;
    burst_big = malloc(burst_big_len);
    for (size_t i = 0; i < burst_big_len; i++)
        burst_big[i] = (uint8_t)(i * 7);
    struct frame_reader r;
    frame_reader_init(&r);
    set_nonblock(sv[1]);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, burst_writer, NULL), 0);
    char msg[32];
    int small_got = 0, big_got = 0;
    for (;;) {
        void *p = NULL;
        size_t len = 0;
        int rv = frame_reader_read(&r, sv[1], &p, &len);
        if (rv == 0) {
            struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
            poll(&pfd, 1, 1000);
            continue;
        }
        if (rv < 0) {
            ck_assert_int_eq(errno, 0);
            break;
        }
        if (len == burst_big_len) {
            ck_assert_int_eq(small_got, BURST_SMALL / 2);
            ck_assert_mem_eq(p, burst_big, burst_big_len);
            big_got++;
        } else {
            int n = snprintf(msg, sizeof msg, "frame %d", small_got);
            ck_assert_uint_eq(len, (size_t)n);
            ck_assert_mem_eq(p, msg, len);
            small_got++;
        }
        free(p);
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(small_got, BURST_SMALL);
    ck_assert_int_eq(big_got, 1);
    frame_reader_fini(&r);
    free(burst_big);
}
END_TEST

START_TEST(write_to_closed_peer)
{
    close(sv[1]);
    sv[1] = -1;
    ck_assert_int_eq(frame_write(sv[0], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("frame");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, reader_partial);
    tcase_add_test(tc, reader_oversize);
    tcase_add_test(tc, eof_mid_frame);
    tcase_add_test(tc, eof_mid_header_blocking);
    tcase_add_test(tc, write_to_closed_peer);
    tcase_add_test(tc, reader_burst_and_big);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
