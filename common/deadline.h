/* A min-heap of deadlines. Each entry records its own index in the heap, so
 * that removing any entry (a waiter that was served) costs O(log n), as
 * beanstalkd's heap records positions. Entries are embedded in their owners
 * and never allocated by the heap. */
#ifndef IPCQ_DEADLINE_H
#define IPCQ_DEADLINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEADLINE_NONE ((size_t)-1)

typedef struct deadline_entry {
    int64_t at_us; /* absolute, monotonic */
    size_t index;  /* position in the heap, DEADLINE_NONE when not in it */
} deadline_entry;

typedef struct deadline_heap {
    deadline_entry **slots;
    size_t count, cap;
} deadline_heap;

void deadline_heap_init(deadline_heap *h);
void deadline_heap_free(deadline_heap *h);

/* Adds e (not already in a heap) due at at_us; false if out of memory. */
bool deadline_add(deadline_heap *h, deadline_entry *e, int64_t at_us);

/* Removes e if it is in the heap; a no-op otherwise. */
void deadline_remove(deadline_heap *h, deadline_entry *e);

/* The earliest entry, or NULL when empty. */
deadline_entry *deadline_peek(const deadline_heap *h);

static inline void
deadline_entry_init(deadline_entry *e)
{
    e->at_us = INT64_MAX;
    e->index = DEADLINE_NONE;
}

#endif
