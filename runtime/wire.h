/* wire.h - everything the daemon encodes or decodes, behind plain C types.
 *
 * wire.c and server.c are the only files that see nng or the generated
 * protobuf types. The other modules handle received items, worker frames
 * and result batches through this header as opaque things:
 *
 *  - wire_items: one received Values (the top-level items of one Submit),
 *    kept unpacked. A task is a slice [from, to) given by two cursors, and
 *    is packed for a worker straight from the slice: items are never copied
 *    or re-encoded one by one. Reference-counted: the Submit holds one
 *    reference and every task slice in flight holds one.
 *  - result batches: packed ResultBatch bytes, produced by workers (or by
 *    wire_error_batch for failures the daemon reports). They are forwarded
 *    to clients without decoding: a CollectReply is written as field 1 tag +
 *    length + the batch bytes, per batch.
 *
 * Nothing here locks; wire_items reference counts are changed under the
 * daemon lock.
 */
#ifndef PP_WIRE_H
#define PP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Wire status numbers (polypool.v1.Status); pp_status uses the same. */
enum wire_status {
    WS_OK = 0, WS_EINVAL = 1, WS_ENOENT = 2, WS_ETIMEDOUT = 3, WS_ECLOSED = 4,
    WS_ENOMEM = 5, WS_EPROTO = 6, WS_EMSGSIZE = 7, WS_ETASK = 10, WS_EWORKER = 11,
    WS_ENOLIB = 12, WS_ENOSYM = 13, WS_EPERM = 14, WS_EBUSY = 15, WS_ECANCELED = 16,
    WS_EVERSION = 18, WS_EEXIST = 19, WS_EAGAIN = 20, WS_EINTERNAL = 22,
    WS_ENOSPAWN = 23, WS_EOWNERDEAD = 24, WS_ESTATE = 25,
};

/* Position in a Values' parallel arrays (kinds, ints, reals, blobs, counts,
 * handles). The cursor before item 0 is all zeros. */
struct wire_cursor {
    size_t k, i, r, b, c, h;
};

typedef struct wire_items wire_items;

void wire_items_ref(wire_items *it);
/* Drops one reference; the last one frees the unpacked request. NULL ok. */
void wire_items_unref(wire_items *it);
/* Number of top-level items. */
size_t wire_items_count(const wire_items *it);
/* Moves c past n more top-level items (the items were validated when the
 * wire_items was made, so this cannot fail). */
void wire_items_advance(const wire_items *it, struct wire_cursor *c, size_t n);

/* Appends one frame (4-byte length + WorkerMsg{task}) to out. The items are
 * the slice [from, to) of it. py: library/symbol are a Python module and
 * qualified name. Returns 0, or -1 when out of memory. */
int wire_pack_task(struct buf *out, uint64_t task_id, uint64_t job_id, uint64_t first,
                   const char *library, const char *symbol, bool py, bool star,
                   const wire_items *it, const struct wire_cursor *from,
                   const struct wire_cursor *to);
/* Appends WorkerMsg{init}. library/symbol NULL: no initializer; py: they
 * are a Python module and qualified name. initargs is a packed Values (may
 * be NULL). */
int wire_pack_init(struct buf *out, uint64_t worker_id, const char *library,
                   const char *symbol, bool py, const void *initargs, size_t initargs_len);
/* Appends WorkerMsg{exit}. */
int wire_pack_exit(struct buf *out);

enum wire_wmsg_type { WMSG_OTHER, WMSG_HELLO, WMSG_INIT_DONE, WMSG_RESULT };

/* A decoded worker frame. For a result, the batch is the slice
 * [batch_off, batch_off + batch_len) of the frame buffer: no copy. */
struct wire_wmsg {
    enum wire_wmsg_type type;
    uint32_t pid, version;          /* hello */
    int err_status;                 /* init_done: 0 = the initializer succeeded */
    char *err_message;              /* init_done: malloc'd, or NULL */
    uint64_t task_id;               /* result */
    size_t batch_off, batch_len;    /* result */
};

/* Decodes one frame payload. Returns 0, or -1 when it is malformed.
 * wire_wmsg_fini frees err_message. */
int wire_wmsg_decode(const uint8_t *p, size_t len, struct wire_wmsg *m);
void wire_wmsg_fini(struct wire_wmsg *m);

/* A failure the daemon reports for items it could not run. */
struct wire_error {
    int status;            /* wire status */
    const char *message;
    const char *where;     /* NULL: "" */
    int signal, exit_code;
};

/* Packs a ResultBatch for the items [first, first + count) of job_id, each
 * a NULL value with a TaskError e (index set per item), and the salvaged
 * out/err bytes (may be NULL). Returns a malloc'd buffer the caller frees and
 * sets *len, or NULL when out of memory. */
uint8_t *wire_error_batch(uint64_t job_id, uint64_t first, uint64_t count,
                          const struct wire_error *e, const void *out, size_t out_len,
                          const void *err, size_t err_len, size_t *len);

struct wire_blob {
    const uint8_t *data;
    size_t len;
};

/* Writes a whole Reply{id, collect: CollectReply{batches, done}} to dst and
 * returns its size; with dst NULL only returns the size. */
size_t wire_reply_collect(uint8_t *dst, uint64_t req_id, const struct wire_blob *b,
                          size_t nb, const uint64_t *done, size_t nd);
/* Writes Reply{id, submit: SubmitReply{job_id, received, results?}}. */
size_t wire_reply_submit(uint8_t *dst, uint64_t req_id, uint64_t job_id, uint64_t received,
                         bool with_results, const struct wire_blob *b, size_t nb,
                         const uint64_t *done, size_t nd);

#ifdef WIRE_PROTOBUF
/* The protobuf side, for server.c and the unit tests only. */
#include "polypool.pb-c.h"
#include <protobuf-c/protobuf-c.h>

/* An unpacked Request with the budgeted allocator that owns its memory. */
struct wire_req {
    Polypool__V1__Request *msg;
    ProtobufCAllocator alloc;
    size_t used, limit;
    int refs;                 /* the unpack's, plus one per wire_items */
};

/* One Submit's items inside an unpacked request (a SubmitBatch holds
 * several); keeps its request alive. */
struct wire_items {
    struct wire_req *req;
    const Polypool__V1__Values *items;
    size_t n_items;
    int refs;
};

/* Unpacks a Request, allowing at most `budget` bytes of decoded memory.
 * Returns NULL when the bytes are malformed or over budget. */
struct wire_req *wire_req_unpack(const void *data, size_t len, size_t budget);
/* Drops the reference the unpack gave. NULL ok. */
void wire_req_free(struct wire_req *r);

/* Checks a Values: arrays consumed exactly, nesting <= 64, known kinds; with
 * star, every top-level item is a LIST or TUPLE. Sets *n to the number of
 * top-level items. Returns 0, or -1 with *why set to a static message. */
int wire_values_check(const Polypool__V1__Values *v, bool star, size_t *n, const char **why);

/* Makes a Submit's items v (inside r, checked, n of them) a wire_items with
 * one reference, which holds a reference to r. NULL on ENOMEM. */
wire_items *wire_items_adopt(struct wire_req *r, const Polypool__V1__Values *v, size_t n);

/* Packs a Values into a malloc'd buffer. NULL on ENOMEM. */
uint8_t *wire_values_pack(const Polypool__V1__Values *v, size_t *len);
#endif

#endif
