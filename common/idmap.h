/* A hash map from 64-bit ids (never 0) to pointers: the durable broker's
 * items by id. Open addressing, linear probing, backward-shift deletion,
 * as table.h, but keyed by the integer itself: no key bytes to hash or
 * compare, which is most of table.h's cost for an 8-byte key. */
#ifndef IPCQ_IDMAP_H
#define IPCQ_IDMAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idmap_slot {
    uint64_t id; /* 0: empty */
    void *value;
} idmap_slot;

typedef struct idmap {
    idmap_slot *slots;
    size_t count, cap; /* cap is 0 or a power of two */
} idmap;

void idmap_init(idmap *m);
void idmap_free(idmap *m);
void *idmap_get(const idmap *m, uint64_t id);
/* Adds an id that is not present; false if out of memory. */
bool idmap_put(idmap *m, uint64_t id, void *value);
/* Removes id; returns its value, or NULL if absent. */
void *idmap_remove(idmap *m, uint64_t id);

#endif
