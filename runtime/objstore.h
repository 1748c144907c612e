/* objstore.h - managed objects: the dicts, lists and namespaces of
 * multiprocessing's Manager, hosted by the daemon.
 *
 * Keys and values are opaque blobs: each one packed Values message with
 * one top-level value, as the client encoded it. The daemon never decodes
 * them; keys are equal when their bytes are (so ints, strings, bytes and
 * tuples of those compare as in Python; two pickles of equal objects may
 * not). Objects are reference-counted per session like segments: a
 * session's end drops its references, and an object goes with the last.
 *
 * Locking: everything under the daemon lock.
 */
#ifndef PP_OBJSTORE_H
#define PP_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>

struct session;

enum mobj_kind { MOBJ_DICT = 1, MOBJ_LIST = 2, MOBJ_NAMESPACE = 3 };

struct blob {
    uint8_t *data;
    size_t len;
};

struct mobj {
    uint64_t id;
    enum mobj_kind kind;
    uint64_t refs;
    /* DICT, NAMESPACE: keys[i] -> vals[i], in insertion order; LIST: vals */
    struct blob *keys, *vals;
    size_t n, cap;
    size_t bytes;            /* of all blobs */
};

/* The most bytes one object may hold. */
#define MOBJ_MAX_BYTES ((size_t)1 << 30)

struct mobj *mobj_create(struct session *s, enum mobj_kind kind);
struct mobj *mobj_attach(struct session *s, uint64_t id);
int mobj_release(struct session *s, uint64_t id);
/* The object if s holds it. */
struct mobj *mobj_held(const struct session *s, uint64_t id);
void mobj_session_end(struct session *s);
void mobj_fini(void);
size_t mobj_count(void);

/* Dicts. find: the index of key, or -1. set: 0, or -1 (ENOMEM). The set
 * and insert calls take over the blobs (freed on failure too). */
long mobj_find(const struct mobj *o, const struct blob *key);
int mobj_set(struct mobj *o, struct blob key, struct blob val);
void mobj_del_at(struct mobj *o, size_t i);
void mobj_clear(struct mobj *o);
/* Lists. */
int mobj_insert(struct mobj *o, size_t i, struct blob val);
long mobj_find_val(const struct mobj *o, const struct blob *val, size_t from);

int blob_copy(struct blob *dst, const void *data, size_t len);
void blob_free(struct blob *b);

#endif
