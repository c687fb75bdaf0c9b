/* FNV-1a, 64 bits: a fast hash of short byte strings, for hash tables and
 * item checksums (no defence against chosen collisions). Header-only, so
 * that the tools, which see libipcq's exported API alone, share it too. */
#ifndef IPCQ_FNV1A_H
#define IPCQ_FNV1A_H
#include <stddef.h>
#include <stdint.h>

static inline uint64_t
fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#endif
