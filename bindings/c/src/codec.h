/* codec.h - pp_value trees <-> the wire's flattened Values (internal).
 *
 * Shared by libpolypool and polypool-worker; not installed. See the Values
 * comment in proto/polypool.proto for the encoding.
 */
#ifndef PP_CODEC_H
#define PP_CODEC_H

#include "polypool.h"
#include "polypool.pb-c.h"

/* Most nesting a decoder accepts (PP_EPROTO beyond). */
#define CODEC_MAX_DEPTH 64

/* An encoder appends top-level trees to growing arrays. codec_enc_msg()
 * fills a Values message whose arrays point into the encoder: it is valid
 * until the next append or codec_enc_fini. */
typedef struct codec_enc {
    Polypool__V1__Kind *kinds;   size_t n_kinds, cap_kinds;
    int64_t *ints;               size_t n_ints, cap_ints;
    double *reals;               size_t n_reals, cap_reals;
    ProtobufCBinaryData *blobs;  size_t n_blobs, cap_blobs;   /* data owned by the encoder */
    uint32_t *counts;            size_t n_counts, cap_counts;
    Polypool__V1__Handle *handles; size_t n_handles, cap_handles;  /* strings owned */
    Polypool__V1__Handle **hptrs;  size_t cap_hptrs;               /* for codec_enc_msg */
    size_t n_values;             /* top-level trees appended */
} codec_enc;

void codec_enc_init(codec_enc *e);
void codec_enc_fini(codec_enc *e);
/* Empties the encoder, keeping its memory. */
void codec_enc_reset(codec_enc *e);
/* Appends one tree. PP_ENOMEM; PP_EINVAL for a tree deeper than
 * CODEC_MAX_DEPTH. On failure the encoder is unchanged. */
pp_status codec_enc_value(codec_enc *e, const pp_value *v);
/* Appends n NULLs (placeholders for failed items). */
pp_status codec_enc_nulls(codec_enc *e, size_t n);
void codec_enc_msg(codec_enc *e, Polypool__V1__Values *msg);

/* A decoder walks a Values message tree by tree. The message must outlive
 * the decoder; values it returns are independent copies. */
struct value_slab;
typedef struct codec_dec {
    const Polypool__V1__Values *msg;
    size_t k, i, r, b, c, h;     /* next unread index of each array */
    bool use_slabs;              /* codec_dec_use_slabs */
    struct value_slab *slab;     /* the slab being filled */
} codec_dec;

void codec_dec_init(codec_dec *d, const Polypool__V1__Values *msg);
/* Builds the nodes of the values it returns in slabs (many nodes per
 * allocation; see value_slab_node) instead of one calloc each. Such a
 * decoder must be finished with codec_dec_fini. */
void codec_dec_use_slabs(codec_dec *d);
/* Lets go of the decoder's slab. The values it returned stay valid; the
 * decoder may be used again. Harmless on any decoder. */
void codec_dec_fini(codec_dec *d);
/* The next top-level tree as a new value. PP_EEOF when every array is
 * consumed; PP_EPROTO for a malformed message (an array running out, a
 * nesting beyond CODEC_MAX_DEPTH, an unknown kind, leftovers at the end). */
pp_status codec_dec_next(codec_dec *d, pp_value **out);
/* Skips the next tree without building it (same statuses). */
pp_status codec_dec_skip(codec_dec *d);
/* Counts the top-level trees, checking the whole message (PP_EPROTO). */
pp_status codec_count(const Polypool__V1__Values *msg, size_t *n);

/* Protobuf varints, for messages written around already packed parts. */
static inline size_t codec_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *codec_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

#endif
