#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"

/* Short keys, no adversarial-collision concern beyond a slow probe. */
static uint64_t
hash_bytes(const void *key, size_t len)
{
    return fnv1a(key, len);
}

void
table_init(table *t)
{
    t->slots = NULL;
    t->count = t->cap = 0;
}

void
table_free(table *t)
{
    free(t->slots);
    table_init(t);
}

static size_t
find_slot(const table *t, const void *key, size_t key_len, uint64_t hash)
{
    size_t mask = t->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const table_slot *s = &t->slots[i];
        if (s->key == NULL)
            return i;
        if (s->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
            return i;
    }
}

static bool
grow(table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 16;
    table_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return false;
    table old = *t;
    t->slots = slots;
    t->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key != NULL)
            t->slots[find_slot(t, old.slots[i].key, old.slots[i].key_len, old.slots[i].hash)] =
                old.slots[i];
    }
    free(old.slots);
    return true;
}

void *
table_get(const table *t, const void *key, size_t key_len)
{
    if (t->cap == 0)
        return NULL;
    size_t i = find_slot(t, key, key_len, hash_bytes(key, key_len));
    return t->slots[i].key ? t->slots[i].value : NULL;
}

bool
table_put(table *t, const void *key, size_t key_len, void *value)
{
    if ((t->count + 1) * 4 > t->cap * 3 && !grow(t))
        return false;
    uint64_t hash = hash_bytes(key, key_len);
    size_t i = find_slot(t, key, key_len, hash);
    t->slots[i] = (table_slot){key, key_len, hash, value};
    t->count++;
    return true;
}

void *
table_remove(table *t, const void *key, size_t key_len)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = find_slot(t, key, key_len, hash_bytes(key, key_len));
    if (t->slots[i].key == NULL)
        return NULL;
    void *value = t->slots[i].value;
    /* Backward-shift deletion keeps every probe chain unbroken. */
    for (size_t j = (i + 1) & mask; t->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (table_slot){0};
    t->count--;
    return value;
}

bool
table_next(const table *t, size_t *cursor, void **value)
{
    for (; *cursor < t->cap; (*cursor)++) {
        if (t->slots[*cursor].key != NULL) {
            *value = t->slots[(*cursor)++].value;
            return true;
        }
    }
    return false;
}
