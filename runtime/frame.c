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
    free(r->in);
    free(r->big);
    memset(r, 0, sizeof *r);
}

/* One read(); 1 when bytes came, 0 on EAGAIN, -1 on EOF (errno 0) or error. */
static int read_some(int fd, uint8_t *dst, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t n = read(fd, dst, cap);
        if (n > 0) {
            *got = (size_t)n;
            return 1;
        }
        if (n == 0) {
            errno = 0;
            return -1;
        }
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

int frame_reader_read(struct frame_reader *r, int fd, void **payload, size_t *len)
{
    if (!r->in && !(r->in = malloc(FRAME_READAHEAD)))
        return -1;
    for (;;) {
        if (r->big) {
            /* A large frame: its bytes go straight into its buffer. */
            size_t got;
            if (r->big_got < r->big_len) {
                int rv = read_some(fd, r->big + r->big_got, r->big_len - r->big_got, &got);
                if (rv <= 0) {
                    if (rv < 0 && errno == 0)
                        errno = EPROTO;
                    return rv;
                }
                r->big_got += got;
                continue;
            }
            *payload = r->big;
            *len = r->big_len;
            r->big = NULL;
            r->big_len = r->big_got = 0;
            return 1;
        }
        size_t avail = r->len - r->off;
        if (avail >= 4) {
            size_t n = get_le32(r->in + r->off);
            if (n > FRAME_MAX) {
                errno = EPROTO;
                return -1;
            }
            if (n + 4 > FRAME_READAHEAD) {
                /* Too big for the read-ahead: move what we have into its
                 * own buffer and read the rest there. */
                if (!(r->big = malloc(n)))
                    return -1;
                r->big_len = n;
                r->big_got = avail - 4;
                memcpy(r->big, r->in + r->off + 4, r->big_got);
                r->off = r->len = 0;
                continue;
            }
            if (avail >= 4 + n) {
                uint8_t *p = malloc(n ? n : 1);
                if (!p)
                    return -1;
                memcpy(p, r->in + r->off + 4, n);
                r->off += 4 + n;
                if (r->off == r->len)
                    r->off = r->len = 0;
                *payload = p;
                *len = n;
                return 1;
            }
        }
        /* Not a whole frame: move the partial one to the front (it fits,
         * see above) and read more behind it. */
        if (r->off) {
            memmove(r->in, r->in + r->off, avail);
            r->len = avail;
            r->off = 0;
        }
        size_t got;
        int rv = read_some(fd, r->in + r->len, FRAME_READAHEAD - r->len, &got);
        if (rv < 0 && errno == 0 && avail)
            errno = EPROTO;      /* EOF inside a frame */
        if (rv <= 0)
            return rv;
        r->len += got;
    }
}
