/* frame.c - see frame.h. */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

int frame_write(int fd, const void *payload, size_t len)
{
    if (len > FRAME_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t hdr[4];
    put_le32(hdr, (uint32_t)len);
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof hdr },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    int idx = 0;
    while (idx < 2) {
        /* MSG_NOSIGNAL: a dead peer must give EPIPE, not kill us. */
        struct msghdr mh = { .msg_iov = iov + idx, .msg_iovlen = (size_t)(2 - idx) };
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOTSOCK) {
                n = writev(fd, iov + idx, 2 - idx);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    return -1;
                }
            } else {
                return -1;
            }
        }
        size_t left = (size_t)n;
        while (idx < 2 && left >= iov[idx].iov_len) {
            left -= iov[idx].iov_len;
            idx++;
        }
        if (idx < 2) {
            iov[idx].iov_base = (uint8_t *)iov[idx].iov_base + left;
            iov[idx].iov_len -= left;
        }
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = read(fd, (uint8_t *)buf + *got, len - *got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return 0;
        *got += (size_t)n;
    }
    return 1;
}

int frame_read(int fd, void **payload, size_t *len)
{
    uint8_t hdr[4];
    size_t got;
    int rv = read_full(fd, hdr, sizeof hdr, &got);
    if (rv < 0)
        return -1;
    if (rv == 0) {
        if (got == 0)
            return 0;
        errno = EPROTO;
        return -1;
    }
    size_t n = get_le32(hdr);
    if (n > FRAME_MAX) {
        errno = EPROTO;
        return -1;
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return -1;
    rv = read_full(fd, buf, n, &got);
    if (rv <= 0) {
        free(buf);
        if (rv == 0)
            errno = EPROTO;
        return -1;
    }
    *payload = buf;
    *len = n;
    return 1;
}

void frame_reader_init(struct frame_reader *r)
{
    memset(r, 0, sizeof *r);
}

void frame_reader_fini(struct frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int frame_reader_read(struct frame_reader *r, int fd, void **payload, size_t *len)
{
    for (;;) {
        if (r->hdr_got < sizeof r->hdr) {
            ssize_t n = read(fd, r->hdr + r->hdr_got, sizeof r->hdr - r->hdr_got);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
            }
            if (n == 0) {
                errno = r->hdr_got ? EPROTO : 0;
                return -1;
            }
            r->hdr_got += (size_t)n;
            if (r->hdr_got < sizeof r->hdr)
                continue;
            r->len = get_le32(r->hdr);
            if (r->len > FRAME_MAX) {
                errno = EPROTO;
                return -1;
            }
            r->buf = malloc(r->len ? r->len : 1);
            if (!r->buf)
                return -1;
            r->got = 0;
        }
        if (r->got < r->len) {
            ssize_t n = read(fd, r->buf + r->got, r->len - r->got);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
            }
            if (n == 0) {
                errno = EPROTO;
                return -1;
            }
            r->got += (size_t)n;
            if (r->got < r->len)
                continue;
        }
        *payload = r->buf;
        *len = r->len;
        r->buf = NULL;
        r->hdr_got = 0;
        r->len = r->got = 0;
        return 1;
    }
}
