/* The items of the tools (see tool_item.h). */
#include "tool_item.h"

#include "fnv1a.h"
#include "le_bytes.h"

uint64_t
tool_item_mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* The first fill byte of item (producer, seq). */
static unsigned char
fill_seed(uint32_t producer, uint64_t seq)
{
    return (unsigned char)tool_item_mix(seq ^ ((uint64_t)producer << 40));
}

void
tool_item_build(unsigned char *buf, size_t size, uint32_t producer, uint64_t seq)
{
    put_le(buf, producer, 4);
    put_le(buf + 4, seq, 8);
    unsigned char b = fill_seed(producer, seq);
    for (size_t i = TOOL_ITEM_HEADER; i < size; i++)
        buf[i] = b++;
}

bool
tool_item_parse(const void *item, size_t len, uint32_t *producer, uint64_t *seq)
{
    if (len < TOOL_ITEM_HEADER)
        return false;
    *producer = (uint32_t)get_le(item, 4);
    *seq = get_le((const unsigned char *)item + 4, 8);
    return true;
}

bool
tool_item_fill_ok(const void *item, size_t len, bool full)
{
    uint32_t producer;
    uint64_t seq;
    if (!tool_item_parse(item, len, &producer, &seq))
        return false;
    if (len == TOOL_ITEM_HEADER)
        return true;
    const unsigned char *p = item;
    unsigned char seed = fill_seed(producer, seq);
    if (!full)
        return p[len - 1] == (unsigned char)(seed + (len - 1 - TOOL_ITEM_HEADER));
    for (size_t i = TOOL_ITEM_HEADER; i < len; i++)
        if (p[i] != (unsigned char)(seed + (i - TOOL_ITEM_HEADER)))
            return false;
    return true;
}

uint64_t
tool_item_hash(const void *data, size_t len)
{
    return fnv1a(data, len);
}
