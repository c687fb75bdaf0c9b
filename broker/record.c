/* Encoding and decoding the durable broker's records (see record.h). */
#include "record.h"

#include <string.h>

#include "le_bytes.h"
#include "wire.h"

#define QUEUE_FIXED                                                                                \
    31u                /* flags 1, max_deliveries 4, maxsize 8, unfinished 8, dead 8, name_len 2   \
                        */
#define ITEM_FIXED 23u /* id 8, key 8, deliveries 4, state 1, name_len 2 */

size_t
record_queue_size(size_t name_len)
{
    return QUEUE_FIXED + name_len;
}

size_t
record_item_size(size_t name_len, size_t len)
{
    return ITEM_FIXED + name_len + len;
}

size_t
record_ref_size(enum record_type type)
{
    return type == RECORD_DONE ? 8 : type == RECORD_HANDOUT ? 12 : 16;
}

void
record_queue_encode(const record_queue *r, unsigned char *out)
{
    out[0] = r->flags;
    put_le(out + 1, r->max_deliveries, 4);
    put_le(out + 5, (uint64_t)r->maxsize, 8);
    put_le(out + 13, r->unfinished, 8);
    put_le(out + 21, r->dead_lettered, 8);
    put_le(out + 29, r->name_len, 2);
    memcpy(out + QUEUE_FIXED, r->name, r->name_len);
}

void
record_deleted_encode(const char *name, size_t name_len, unsigned char *out)
{
    put_le(out, name_len, 2);
    memcpy(out + 2, name, name_len);
}

void
record_item_encode(const record_item *r, unsigned char *out)
{
    put_le(out, r->id, 8);
    put_le(out + 8, (uint64_t)r->key, 8);
    put_le(out + 16, r->deliveries, 4);
    out[20] = r->state;
    put_le(out + 21, r->name_len, 2);
    memcpy(out + ITEM_FIXED, r->name, r->name_len);
    if (r->len)
        memcpy(out + ITEM_FIXED + r->name_len, r->data, r->len);
}

void
record_ref_encode(enum record_type type, const record_ref *r, unsigned char *out)
{
    put_le(out, r->id, 8);
    if (type == RECORD_HANDOUT)
        put_le(out + 8, (uint64_t)r->value, 4);
    else if (type == RECORD_RETURN)
        put_le(out + 8, (uint64_t)r->value, 8);
}

/* A name of name_len bytes at p, within the payload's end, and valid (Q1). */
static bool
name_at(const unsigned char *p, const unsigned char *end, size_t name_len)
{
    return name_len > 0 && (size_t)(end - p) >= name_len && queue_name_valid(p, name_len);
}

bool
record_queue_decode(const void *payload, size_t len, record_queue *r)
{
    const unsigned char *p = payload;
    if (len < QUEUE_FIXED)
        return false;
    r->flags = p[0];
    r->max_deliveries = (uint32_t)get_le(p + 1, 4);
    r->maxsize = (int64_t)get_le(p + 5, 8);
    r->unfinished = get_le(p + 13, 8);
    r->dead_lettered = get_le(p + 21, 8);
    r->name_len = (size_t)get_le(p + 29, 2);
    r->name = (const char *)p + QUEUE_FIXED;
    return r->maxsize >= 0 && len == QUEUE_FIXED + r->name_len &&
           name_at(p + QUEUE_FIXED, p + len, r->name_len);
}

bool
record_deleted_decode(const void *payload, size_t len, const char **name, size_t *name_len)
{
    const unsigned char *p = payload;
    if (len < 2)
        return false;
    *name_len = (size_t)get_le(p, 2);
    *name = (const char *)p + 2;
    return len == 2 + *name_len && name_at(p + 2, p + len, *name_len);
}

static bool
key_valid(int64_t key)
{
    return key >= -RECORD_KEY_MAX && key <= RECORD_KEY_MAX;
}

bool
record_item_decode(const void *payload, size_t len, record_item *r)
{
    const unsigned char *p = payload;
    if (len < ITEM_FIXED)
        return false;
    r->id = get_le(p, 8);
    r->key = (int64_t)get_le(p + 8, 8);
    r->deliveries = (uint32_t)get_le(p + 16, 4);
    r->state = p[20];
    r->name_len = (size_t)get_le(p + 21, 2);
    r->name = (const char *)p + ITEM_FIXED;
    if (r->id == 0 || r->state > 1 || !key_valid(r->key) ||
        !name_at(p + ITEM_FIXED, p + len, r->name_len))
        return false;
    r->data = p + ITEM_FIXED + r->name_len;
    r->len = len - ITEM_FIXED - r->name_len;
    return true;
}

bool
record_ref_decode(enum record_type type, const void *payload, size_t len, record_ref *r)
{
    const unsigned char *p = payload;
    if (len != record_ref_size(type))
        return false;
    r->id = get_le(p, 8);
    r->value = type == RECORD_HANDOUT  ? (int64_t)get_le(p + 8, 4)
               : type == RECORD_RETURN ? (int64_t)get_le(p + 8, 8)
                                       : 0;
    return r->id != 0 && (type != RECORD_RETURN || key_valid(r->value));
}
