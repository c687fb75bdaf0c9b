#include "deadline.h"

#include <stdlib.h>

void
deadline_heap_init(deadline_heap *h)
{
    h->slots = NULL;
    h->count = h->cap = 0;
}

void
deadline_heap_free(deadline_heap *h)
{
    free(h->slots);
    deadline_heap_init(h);
}

static void
place(deadline_heap *h, size_t i, deadline_entry *e)
{
    h->slots[i] = e;
    e->index = i;
}

static void
sift_up(deadline_heap *h, size_t i)
{
    deadline_entry *e = h->slots[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->slots[parent]->at_us <= e->at_us)
            break;
        place(h, i, h->slots[parent]);
        i = parent;
    }
    place(h, i, e);
}

static void
sift_down(deadline_heap *h, size_t i)
{
    deadline_entry *e = h->slots[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->slots[child + 1]->at_us < h->slots[child]->at_us)
            child++;
        if (e->at_us <= h->slots[child]->at_us)
            break;
        place(h, i, h->slots[child]);
        i = child;
    }
    place(h, i, e);
}

bool
deadline_add(deadline_heap *h, deadline_entry *e, int64_t at_us)
{
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        deadline_entry **slots = realloc(h->slots, cap * sizeof *slots);
        if (slots == NULL)
            return false;
        h->slots = slots;
        h->cap = cap;
    }
    e->at_us = at_us;
    place(h, h->count++, e);
    sift_up(h, e->index);
    return true;
}

void
deadline_remove(deadline_heap *h, deadline_entry *e)
{
    size_t i = e->index;
    if (i == DEADLINE_NONE || i >= h->count || h->slots[i] != e)
        return;
    e->index = DEADLINE_NONE;
    deadline_entry *last = h->slots[--h->count];
    if (last == e)
        return;
    place(h, i, last);
    sift_down(h, i);
    sift_up(h, last->index);
}

deadline_entry *
deadline_peek(const deadline_heap *h)
{
    return h->count ? h->slots[0] : NULL;
}
