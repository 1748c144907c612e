/* ring.h - a message ring in shared memory: the body of a Queue and of
 * each direction of a Pipe.
 *
 * Layout (offsets in the ring's area of a segment):
 *     0  LOCK slot: writers      64  LOCK slot: readers
 *   128  struct ring_hdr        192  data (capacity bytes, a multiple of 8)
 *
 * A message is a record: an 8-byte header (length, kind) and the bytes,
 * padded to 8; records wrap around the end of the data. A writer copies a
 * whole record under the writers' lock and only then moves `tail`; a
 * reader copies one out under the readers' lock and only then moves
 * `head`. So a process killed in the middle leaves no half message: a
 * writer's record was never there, a reader's is still there (the dead
 * holder's lock goes to the next process with PP_EOWNERDEAD, which
 * ring.c ignores: the ring is consistent at every moment).
 *
 * A message larger than a quarter of the data area is streamed instead:
 * FIRST (with the total length), MIDDLE..., LAST records, written under
 * the writers' lock from start to end and assembled by one reader under
 * the readers' lock, each record consumed as it is copied (the message
 * may be far larger than the ring). A writer killed mid-message leaves a
 * partial one that readers drop (the next message starts with FIRST or
 * WHOLE, or the writers' lock is free with nothing more to come); a
 * reader killed mid-message loses that message.
 * Waits sleep on futex sequence words, in slices (sync_core.h's waits).
 */
#ifndef PP_RING_H
#define PP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync_core.h"

#define RING_MAGIC 0x70707231u            /* "ppr1" */
#define RING_HDR_OFF 128
#define RING_DATA_OFF 192
#define RING_REC_HDR 8

/* flags */
#define RING_NO_WRITERS 1u    /* every writer end is gone: get drains, then PP_EEOF */
#define RING_NO_READERS 2u    /* every reader end is gone: put fails with PP_ECLOSED */
#define RING_CLOSED 4u        /* closed for good (pp_queue_close) */

struct ring_hdr {
    _Atomic uint64_t head;        /* bytes consumed, ever */
    _Atomic uint64_t tail;        /* bytes committed, ever */
    _Atomic uint32_t data_seq;    /* futex: bumped on every commit and flag change */
    _Atomic uint32_t space_seq;   /* futex: bumped on every consume and flag change */
    _Atomic uint32_t count;       /* messages in the ring */
    _Atomic uint32_t flags;
    _Atomic uint32_t readers_waiting, writers_waiting;
    uint32_t maxcount;            /* most messages at once; 0: no limit */
    uint32_t magic;
    uint64_t capacity;            /* data bytes */
    _Atomic uint32_t unfinished;  /* JoinableQueue: put and not task_done */
    _Atomic uint32_t join_seq;    /* futex: bumped when unfinished reaches 0 */
};

_Static_assert(sizeof(struct ring_hdr) <= 64, "a ring header fits in 64 bytes");

/* Bytes of segment a ring with `capacity` data bytes takes. */
size_t ring_size(size_t capacity);

/* Initialises a ring at `ring` (zero-filled memory, 64-byte aligned). */
void ring_init(void *ring, size_t capacity, uint32_t maxcount);
bool ring_check(const void *ring, size_t avail);

/* Puts one message of `len` bytes (at most 2^40). PP_OK, PP_ETIMEDOUT
 * (full), PP_ECLOSED (closed, or no reader left), PP_ECANCELED
 * (interrupted). A streamed message's timeout covers its start only: once
 * its first part is in, the rest follows whatever the time.
 * joinable: count it as unfinished. */
int ring_put(void *ring, const void *msg, size_t len, bool joinable, const struct pps_wait *w);

/* Takes the next message: alloc(arg, len) gives a buffer of len bytes to
 * copy it into (NULL: PP_ENOMEM; a whole message stays in the ring). It
 * may be called again (a streamed message was dropped): each buffer
 * replaces the one before, and all are the caller's.
 * PP_OK with *len, PP_ETIMEDOUT (empty), PP_EEOF (empty and no writer
 * left, or closed), PP_ECANCELED. */
int ring_get(void *ring, void *(*alloc)(void *arg, size_t len), void *arg, size_t *len,
             const struct pps_wait *w);

/* Waits until a message is there (PP_OK), without taking it. */
int ring_poll(void *ring, const struct pps_wait *w);

uint32_t ring_count(const void *ring);
uint32_t ring_maxcount(const void *ring);
/* Whether a message of len bytes streams through (over a quarter of the
 * data area), and whether all of it would fit in the free space now
 * (counted generously: a record header and padding per part, and one
 * more). Hints for a caller deciding whether a put may wait: not promises. */
bool ring_streams(const void *ring, size_t len);
bool ring_fits_now(const void *ring, size_t len);
/* Whether the record at the head is part of a streamed message (a look
 * without the readers' lock: a hint). */
bool ring_head_streamed(const void *ring);
uint32_t ring_flags(const void *ring);
/* Sets flags and wakes everyone waiting. */
void ring_set_flags(void *ring, uint32_t flags);

/* JoinableQueue: counts n more unfinished messages (a put that will reach
 * the ring later, through a feeder, is unfinished from the start). */
void ring_add_unfinished(void *ring, uint32_t n);
/* JoinableQueue: PP_ESTATE when nothing is unfinished. */
int ring_task_done(void *ring);
/* Waits until every message put was task_done. */
int ring_join(void *ring, const struct pps_wait *w);

#endif
