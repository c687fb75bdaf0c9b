/* The memory shared by the processes of a run (see bench_shared.h). */
#include "bench_shared.h"

#include <string.h>
#include <sys/mman.h>

#include "ipcq.h"

/* Rounds n up to a multiple of the alignment of anything stored here. */
static size_t
aligned(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

bench_shared *
bench_shared_map(int producers, int consumers)
{
    size_t head = aligned(sizeof(bench_shared));
    size_t slots = aligned(sizeof(bench_slot) * (size_t)(producers + consumers));
    size_t tallies = sizeof(bench_tally) * (size_t)producers * (size_t)consumers;
    size_t bytes = head + slots + tallies;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* A fresh anonymous mapping is zero: every count starts at 0. */
    bench_shared *s = p;
    s->producers = producers;
    s->consumers = consumers;
    s->slots = (bench_slot *)((char *)p + head);
    s->tallies = (bench_tally *)((char *)p + head + slots);
    s->bytes = bytes;
    for (int i = 0; i < producers + consumers; i++) {
        bench_hist_init(&s->slots[i].latency);
        s->slots[i].status = IPCQ_OK;
    }
    return s;
}

void
bench_shared_unmap(bench_shared **s)
{
    if (s == NULL || *s == NULL)
        return;
    munmap(*s, (*s)->bytes);
    *s = NULL;
}

bench_slot *
bench_producer_slot(bench_shared *s, int producer)
{
    return &s->slots[producer];
}

bench_slot *
bench_consumer_slot(bench_shared *s, int consumer)
{
    return &s->slots[s->producers + consumer];
}

bench_tally *
bench_tally_of(bench_shared *s, int consumer, int producer)
{
    return &s->tallies[(size_t)consumer * (size_t)s->producers + (size_t)producer];
}
