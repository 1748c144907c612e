/* frame.h - length-prefixed frames on the daemon <-> worker socketpair.
 *
 * A frame is a 4-byte little-endian payload length followed by the payload
 * (one packed polypool.v1.WorkerMsg). Both ends use these helpers; nothing
 * here knows protobuf.
 */
#ifndef PP_FRAME_H
#define PP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Largest payload either end accepts; a bigger length is a protocol error. */
#define FRAME_MAX ((size_t)256 << 20)

/* Writes one whole frame to a blocking fd, retrying on EINTR and short
 * writes. Returns 0, or -1 with errno set (EPIPE when the peer is gone,
 * EMSGSIZE when len > FRAME_MAX). */
int frame_write(int fd, const void *payload, size_t len);

/* Reads one whole frame from a blocking fd into a malloc'd buffer the
 * caller frees. Returns 1 with *payload and *len set, 0 on a clean EOF before
 * any byte of the frame, or -1 with errno set (EPROTO for a bad length or
 * EOF inside a frame). */
int frame_read(int fd, void **payload, size_t *len);

/* Incremental reader (the daemon side, non-blocking fds; the worker uses
 * it on a blocking fd too). It reads ahead up to FRAME_READAHEAD bytes at
 * a time, so a burst of small frames costs one read() rather than two per
 * frame. A frame larger than that is read straight into its own buffer. */
#define FRAME_READAHEAD ((size_t)64 << 10)

struct frame_reader {
    uint8_t *in;      /* read-ahead buffer: in[off..len) not yet returned */
    size_t off, len;
    uint8_t *big;     /* a large payload being filled, malloc'd */
    size_t big_len, big_got;
};

void frame_reader_init(struct frame_reader *r);
void frame_reader_fini(struct frame_reader *r);

/* Reads what is available. Returns 1 when a whole frame is ready: *payload
 * (malloc'd, caller frees) and *len are set and the reader is reset for the
 * next frame. Returns 0 when the fd would block before a frame completes,
 * -1 on EOF (errno 0 if clean, EPROTO if inside a frame) or error. Call
 * again after a 1 until it returns 0 or -1: one read may hold many frames. */
int frame_reader_read(struct frame_reader *r, int fd, void **payload, size_t *len);

#endif
