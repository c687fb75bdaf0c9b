/* A hash table from byte-string keys to pointers (queues by name, sessions
 * by routing id). Open addressing with linear probing and backward-shift
 * deletion; keys are borrowed from the values, which outlive their entry. */
#ifndef IPCQ_TABLE_H
#define IPCQ_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct table_slot {
    const void *key;
    size_t key_len;
    uint64_t hash;
    void *value;
} table_slot;

typedef struct table {
    table_slot *slots;
    size_t count, cap; /* cap is 0 or a power of two */
} table;

void table_init(table *t);
void table_free(table *t);
void *table_get(const table *t, const void *key, size_t key_len);
/* Adds a key that is not present; false if out of memory. */
bool table_put(table *t, const void *key, size_t key_len, void *value);
/* Removes key; returns its value, or NULL if absent. */
void *table_remove(table *t, const void *key, size_t key_len);

/* Iteration: for (size_t i = 0; table_next(t, &i, &v);) ... Do not change
 * the table while iterating. */
bool table_next(const table *t, size_t *cursor, void **value);

#endif
