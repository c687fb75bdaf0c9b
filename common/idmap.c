/* See idmap.h. */
#include "idmap.h"

#include <stdlib.h>

static size_t
home(const idmap *m, uint64_t id)
{
    /* Fibonacci hashing: the ids are sequential, the high bits spread them. */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

void
idmap_init(idmap *m)
{
    *m = (idmap){0};
}

void
idmap_free(idmap *m)
{
    free(m->slots);
    idmap_init(m);
}

void *
idmap_get(const idmap *m, uint64_t id)
{
    if (m->cap == 0 || id == 0)
        return NULL;
    for (size_t i = home(m, id);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].id == id)
            return m->slots[i].value;
        if (m->slots[i].id == 0)
            return NULL;
    }
}

static bool
grow(idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    idmap_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return false;
    idmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].id == 0)
            continue;
        size_t j = home(m, old.slots[i].id);
        while (slots[j].id != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = old.slots[i];
    }
    free(old.slots);
    return true;
}

bool
idmap_put(idmap *m, uint64_t id, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && !grow(m)) /* load at most 3/4 */
        return false;
    size_t i = home(m, id);
    while (m->slots[i].id != 0)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (idmap_slot){id, value};
    m->count++;
    return true;
}

void *
idmap_remove(idmap *m, uint64_t id)
{
    if (m->cap == 0 || id == 0)
        return NULL;
    size_t i = home(m, id);
    while (m->slots[i].id != id) {
        if (m->slots[i].id == 0)
            return NULL;
        i = (i + 1) & (m->cap - 1);
    }
    void *value = m->slots[i].value;
    /* Backward shift: move up each later entry that may sit in the hole. */
    for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].id != 0; j = (j + 1) & (m->cap - 1)) {
        size_t h = home(m, m->slots[j].id);
        /* j's entry may move to i if its home is not in (i, j] (cyclically) */
        if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = (idmap_slot){0};
    m->count--;
    return value;
}
