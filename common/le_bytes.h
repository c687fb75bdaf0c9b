/* Little-endian integers, the same on every machine: the tools' item
 * headers and the durable broker's records. */
#ifndef IPCQ_LE_BYTES_H
#define IPCQ_LE_BYTES_H
#include <stdint.h>

static inline void
put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t
get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
