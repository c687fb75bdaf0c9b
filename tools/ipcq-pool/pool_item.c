/* Items and their hashes (see pool_item.h). */
#include "pool_item.h"

#include <string.h>

#include "le_bytes.h"

void
pool_item_build(unsigned char *buf, size_t size, uint32_t producer, uint64_t seq)
{
    put_le(buf, producer, 4);
    put_le(buf + 4, seq, 8);
    /* xorshift64 seeded by the item's identity: every byte value occurs */
    uint64_t x = (seq * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)producer << 32) ^ 0x2545f4914f6cdd1dULL;
    for (size_t i = POOL_ITEM_HEADER; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
}

bool
pool_item_parse(const void *item, size_t len, uint32_t *producer, uint64_t *seq)
{
    if (len < POOL_ITEM_HEADER)
        return false;
    *producer = (uint32_t)get_le(item, 4);
    *seq = get_le((const unsigned char *)item + 4, 8);
    return true;
}

uint64_t
pool_item_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
