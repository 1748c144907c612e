/* shareable.c - ShareableList: multiprocessing.shared_memory's fixed-length
 * list in a named segment, in the layout Python's ShareableList uses, so
 * that a Python program and a C program share one list:
 *
 *     8 bytes             n, the number of items (int64)
 *     (n + 1) * 8 bytes   offsets of the items from the data area (int64;
 *                         the last is the data area's size)
 *     data area           the items: 8 bytes each, a string or bytes its
 *                         room (a multiple of 8)
 *     n * 8 bytes         each item's struct format ("q", "d", "xxxxxxx?"
 *                         for a bool, "xxxxxx?x" for None, "16s"), NUL-padded
 *     n bytes             each item's kind: 0 number or bool, 1 str,
 *                         2 bytes, 3 None
 *
 * Integers are native (the segment never leaves the machine). The header
 * (n and the offsets) never changes after creation, so it is read once;
 * items are read and written through pp_shm_read/pp_shm_write, which
 * works for clients that do not map memory too. There is no lock, as in
 * Python.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

enum { CODE_PLAIN = 0, CODE_STR = 1, CODE_BYTES = 2, CODE_NONE = 3 };

#define FMT_BOOL "xxxxxxx?"
#define FMT_NONE "xxxxxx?x"

struct pp_shareable_list {
    pp_shm *shm;
    size_t n;
    int64_t *offsets;        /* n + 1 */
};

static pp_status fail(pp_status st, const char *msg)
{
    error_set(st, "%s", msg);
    return st;
}

static size_t data_start(const pp_shareable_list *l)
{
    return (l->n + 2) * 8;
}

static size_t formats_start(const pp_shareable_list *l)
{
    return data_start(l) + (size_t)l->offsets[l->n];
}

static size_t codes_start(const pp_shareable_list *l)
{
    return formats_start(l) + l->n * 8;
}

static bool storable(const pp_value *v)
{
    switch (pp_value_kind(v)) {
    case PP_NULL:
    case PP_BOOL:
    case PP_INT:
    case PP_DOUBLE:
    case PP_STRING:
    case PP_BYTES:
        return true;
    default:
        return false;
    }
}

static bool blob_kind(const pp_value *v)
{
    return v && (v->kind == PP_STRING || v->kind == PP_BYTES);
}

/* An item's room: 8, or a string's length rounded up past the next
 * multiple of 8 (Python's `8 * (len // 8 + 1)`). */
static size_t room_of(const pp_value *v)
{
    return blob_kind(v) ? 8 * (v->u.s.len / 8 + 1) : 8;
}

/* Writes item i: its format, kind code and bytes. The caller checked
 * that it fits. */
static pp_status put_item(pp_shareable_list *l, size_t i, const pp_value *v)
{
    char fmt[8] = { 0 };
    uint8_t slot[8] = { 0 };
    const void *data = slot;
    size_t len = 8;
    int8_t code = CODE_PLAIN;
    size_t room = (size_t)(l->offsets[i + 1] - l->offsets[i]);
    switch (pp_value_kind(v)) {
    case PP_NULL:
        memcpy(fmt, FMT_NONE, 8);
        code = CODE_NONE;
        break;
    case PP_BOOL:
        memcpy(fmt, FMT_BOOL, 8);
        slot[7] = v->u.b;
        break;
    case PP_INT:
        fmt[0] = 'q';
        memcpy(slot, &v->u.i, 8);
        break;
    case PP_DOUBLE:
        fmt[0] = 'd';
        memcpy(slot, &v->u.d, 8);
        break;
    default:
        /* "%ds" with the item's whole room; what is not the string is
         * NUL, so the string reads back alone. */
        snprintf(fmt, sizeof fmt, "%zus", room);
        code = v->kind == PP_STRING ? CODE_STR : CODE_BYTES;
        data = NULL;
        break;
    }
    size_t off = data_start(l) + (size_t)l->offsets[i];
    pp_status st;
    if (data) {
        st = pp_shm_write(l->shm, off, data, len);
    } else {
        uint8_t *buf = calloc(1, room);
        if (!buf)
            return fail(PP_ENOMEM, "out of memory");
        memcpy(buf, v->u.s.data, v->u.s.len);
        st = pp_shm_write(l->shm, off, buf, room);
        free(buf);
    }
    if (st == PP_OK)
        st = pp_shm_write(l->shm, formats_start(l) + i * 8, fmt, 8);
    if (st == PP_OK)
        st = pp_shm_write(l->shm, codes_start(l) + i, &code, 1);
    return st;
}

/* A new "psm_" + 8 hex digits name, as Python's. */
static void random_name(char *buf, size_t len)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    snprintf(buf, len, "psm_%08x", r);
}

pp_status pp_shareable_list_create(pp_client *c, const char *name, const pp_value *items,
                                   pp_shareable_list **out)
{
    if (!c || !out || !items || (items->kind != PP_LIST && items->kind != PP_TUPLE))
        return fail(PP_EINVAL, "pp_shareable_list_create: want a client and a list of items");
    size_t n = items->u.c.len;
    for (size_t i = 0; i < n; i++)
        if (!storable(items->u.c.items[i]))
            return fail(PP_EINVAL, "a ShareableList holds only None, bools, ints, floats, "
                        "strings and bytes");
    pp_shareable_list *l = calloc(1, sizeof *l);
    if (!l || !(l->offsets = calloc(n + 1, sizeof *l->offsets))) {
        free(l);
        return fail(PP_ENOMEM, "out of memory");
    }
    l->n = n;
    for (size_t i = 0; i < n; i++)
        l->offsets[i + 1] = l->offsets[i] + (int64_t)room_of(items->u.c.items[i]);
    size_t size = codes_start(l) + n;
    pp_status st;
    if (name) {
        st = pp_shm_create(c, name, size, &l->shm);
    } else {
        char label[16];
        do {
            random_name(label, sizeof label);
            st = pp_shm_create(c, label, size, &l->shm);
        } while (st == PP_EEXIST);
    }
    int64_t n64 = (int64_t)n;
    if (st == PP_OK)
        st = pp_shm_write(l->shm, 0, &n64, 8);
    if (st == PP_OK)
        st = pp_shm_write(l->shm, 8, l->offsets, (n + 1) * 8);
    for (size_t i = 0; st == PP_OK && i < n; i++)
        st = put_item(l, i, items->u.c.items[i]);
    if (st != PP_OK) {
        pp_shareable_list_free(l);
        return st;
    }
    *out = l;
    return PP_OK;
}

pp_status pp_shareable_list_attach(pp_client *c, const char *name, pp_shareable_list **out)
{
    if (!c || !name || !out)
        return fail(PP_EINVAL, "pp_shareable_list_attach: NULL argument");
    pp_shareable_list *l = calloc(1, sizeof *l);
    if (!l)
        return fail(PP_ENOMEM, "out of memory");
    pp_status st = pp_shm_attach(c, name, &l->shm);
    int64_t n = -1;
    size_t size = pp_shm_size(l->shm);
    if (st == PP_OK && (pp_shm_read(l->shm, 0, &n, 8) != PP_OK || n < 0 ||
                        (uint64_t)n > (size / 8 - 2)))
        st = fail(PP_EPROTO, "the segment does not hold a ShareableList");
    if (st == PP_OK) {
        l->n = (size_t)n;
        if (!(l->offsets = calloc(l->n + 1, sizeof *l->offsets)))
            st = fail(PP_ENOMEM, "out of memory");
        else
            st = pp_shm_read(l->shm, 8, l->offsets, (l->n + 1) * 8);
    }
    /* Offsets that go up in steps of 8 and leave room for the formats
     * and codes: anything else is not a ShareableList. */
    for (size_t i = 0; st == PP_OK && i < l->n; i++)
        if (l->offsets[i + 1] < l->offsets[i] + 8 || l->offsets[i + 1] % 8)
            st = fail(PP_EPROTO, "the segment does not hold a ShareableList");
    if (st == PP_OK && (l->offsets[0] != 0 || (uint64_t)l->offsets[l->n] > size ||
                        codes_start(l) + l->n > size))
        st = fail(PP_EPROTO, "the segment does not hold a ShareableList");
    if (st != PP_OK) {
        pp_shareable_list_free(l);
        return st;
    }
    *out = l;
    return PP_OK;
}

size_t pp_shareable_list_len(const pp_shareable_list *l)
{
    return l ? l->n : 0;
}

/* index as a position (negative from the end); false when out of range. */
static bool position(const pp_shareable_list *l, int64_t index, size_t *i)
{
    if (index < 0)
        index += (int64_t)l->n;
    if (index < 0 || (uint64_t)index >= l->n)
        return false;
    *i = (size_t)index;
    return true;
}

static pp_status read_format(pp_shareable_list *l, size_t i, char fmt[9])
{
    memset(fmt, 0, 9);
    return pp_shm_read(l->shm, formats_start(l) + i * 8, fmt, 8);
}

/* Item i as a new value. */
static pp_status get_item(pp_shareable_list *l, size_t i, pp_value **out)
{
    char fmt[9];
    int8_t code = 0;
    pp_status st = read_format(l, i, fmt);
    if (st == PP_OK)
        st = pp_shm_read(l->shm, codes_start(l) + i, &code, 1);
    if (st != PP_OK)
        return st;
    size_t off = data_start(l) + (size_t)l->offsets[i];
    size_t room = (size_t)(l->offsets[i + 1] - l->offsets[i]);
    uint8_t slot[8];
    pp_value *v = NULL;
    char *end;
    unsigned long len = strtoul(fmt, &end, 10);
    if (code == CODE_NONE) {
        v = pp_value_null();
    } else if ((code == CODE_STR || code == CODE_BYTES) && end != fmt && strcmp(end, "s") == 0) {
        if (len > room)
            return fail(PP_EPROTO, "a ShareableList item is larger than its room");
        char *buf = malloc(len ? len : 1);
        if (!buf)
            return fail(PP_ENOMEM, "out of memory");
        if ((st = pp_shm_read(l->shm, off, buf, len)) != PP_OK) {
            free(buf);
            return st;
        }
        /* As Python: trailing NULs are padding. */
        while (len > 0 && buf[len - 1] == 0)
            len--;
        v = code == CODE_STR ? pp_value_string_n(buf, len) : pp_value_bytes(buf, len);
        free(buf);
    } else if (code == CODE_PLAIN && (st = pp_shm_read(l->shm, off, slot, 8)) == PP_OK) {
        int64_t iv;
        double dv;
        if (strcmp(fmt, "q") == 0) {
            memcpy(&iv, slot, 8);
            v = pp_value_int(iv);
        } else if (strcmp(fmt, "d") == 0) {
            memcpy(&dv, slot, 8);
            v = pp_value_double(dv);
        } else if (strcmp(fmt, FMT_BOOL) == 0) {
            v = pp_value_bool(slot[7] != 0);
        } else {
            return fail(PP_EPROTO, "a ShareableList item has a format polypool does not know");
        }
    } else {
        return st != PP_OK ? st : fail(PP_EPROTO, "a ShareableList item is malformed");
    }
    if (!v)
        return fail(PP_ENOMEM, "out of memory");
    *out = v;
    return PP_OK;
}

pp_status pp_shareable_list_get(pp_shareable_list *l, int64_t index, pp_value **val)
{
    size_t i;
    if (!l || !val)
        return fail(PP_EINVAL, "pp_shareable_list_get: NULL argument");
    if (!position(l, index, &i))
        return fail(PP_ENOENT, "index out of range");
    return get_item(l, i, val);
}

pp_status pp_shareable_list_set(pp_shareable_list *l, int64_t index, const pp_value *val)
{
    size_t i;
    if (!l)
        return fail(PP_EINVAL, "pp_shareable_list_set: NULL list");
    if (!position(l, index, &i))
        return fail(PP_ENOENT, "assignment index out of range");
    if (!storable(val))
        return fail(PP_EINVAL, "a ShareableList holds only None, bools, ints, floats, "
                    "strings and bytes");
    /* As Python: a string may use the item's whole room, no more. */
    if (blob_kind(val) && val->u.s.len > (size_t)(l->offsets[i + 1] - l->offsets[i]))
        return fail(PP_EINVAL, "bytes/str item exceeds available storage");
    return put_item(l, i, val);
}

/* Python's == for the values a ShareableList holds: numbers by value
 * (1 == 1.0 == True), strings and bytes by content, None with None. */
static bool item_equal(const pp_value *a, const pp_value *b)
{
    pp_kind ka = pp_value_kind(a), kb = pp_value_kind(b);
    bool na = ka == PP_BOOL || ka == PP_INT || ka == PP_DOUBLE;
    bool nb = kb == PP_BOOL || kb == PP_INT || kb == PP_DOUBLE;
    if (na && nb) {
        if (ka != PP_DOUBLE && kb != PP_DOUBLE)
            return pp_value_get_int(a) == pp_value_get_int(b);
        return pp_value_get_double(a) == pp_value_get_double(b);
    }
    return pp_value_equal(a, b);
}

/* Walks the items: *n equal ones, *first the first one's index. */
static pp_status find(pp_shareable_list *l, const pp_value *val, bool stop_at_first, size_t *n,
                      size_t *first)
{
    *n = 0;
    for (size_t i = 0; i < l->n; i++) {
        pp_value *v = NULL;
        pp_status st = get_item(l, i, &v);
        if (st != PP_OK)
            return st;
        bool eq = item_equal(v, val);
        pp_value_free(v);
        if (eq) {
            if (!(*n)++)
                *first = i;
            if (stop_at_first)
                break;
        }
    }
    return PP_OK;
}

pp_status pp_shareable_list_count(pp_shareable_list *l, const pp_value *val, size_t *n)
{
    size_t first;
    if (!l || !n)
        return fail(PP_EINVAL, "pp_shareable_list_count: NULL argument");
    return find(l, val, false, n, &first);
}

pp_status pp_shareable_list_index(pp_shareable_list *l, const pp_value *val, size_t *index)
{
    size_t n, first = 0;
    if (!l || !index)
        return fail(PP_EINVAL, "pp_shareable_list_index: NULL argument");
    pp_status st = find(l, val, true, &n, &first);
    if (st != PP_OK)
        return st;
    if (!n)
        return fail(PP_ENOENT, "the value is not in the ShareableList");
    *index = first;
    return PP_OK;
}

char *pp_shareable_list_format(pp_shareable_list *l)
{
    if (!l)
        return NULL;
    char *out = malloc(l->n * 8 + 1);
    if (!out)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < l->n; i++) {
        char fmt[9];
        if (read_format(l, i, fmt) != PP_OK) {
            free(out);
            return NULL;
        }
        memcpy(out + len, fmt, strlen(fmt));
        len += strlen(fmt);
    }
    out[len] = 0;
    return out;
}

pp_shm *pp_shareable_list_shm(const pp_shareable_list *l)
{
    return l ? l->shm : NULL;
}

void pp_shareable_list_free(pp_shareable_list *l)
{
    if (!l)
        return;
    pp_shm_close(l->shm);
    free(l->offsets);
    free(l);
}
