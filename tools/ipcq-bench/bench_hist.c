/* A log-linear latency histogram (see bench_hist.h). */
#include "bench_hist.h"

#include <string.h>

#define SUB (1u << BENCH_HIST_SUB_BITS)

void
bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

static unsigned
index_of(uint64_t v)
{
    if (v < 2 * SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - BENCH_HIST_SUB_BITS;
    return (shift + 1) * SUB + (unsigned)(v >> shift) - SUB;
}

/* The smallest value of bucket i, and the bucket's width. */
static uint64_t
lower_of(unsigned i, uint64_t *width)
{
    if (i < 2 * SUB) {
        *width = 1;
        return i;
    }
    unsigned shift = i / SUB - 1;
    *width = UINT64_C(1) << shift;
    return (uint64_t)(i % SUB + SUB) << shift;
}

void
bench_hist_add(bench_hist *h, uint64_t ns)
{
    h->bucket[index_of(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void
bench_hist_merge(bench_hist *into, const bench_hist *from)
{
    if (from->count == 0)
        return;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    if (from->min_ns < into->min_ns)
        into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t
bench_hist_quantile(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen < rank)
            continue;
        uint64_t width, v = lower_of(i, &width);
        v += width / 2;
        return v < h->min_ns ? h->min_ns : v > h->max_ns ? h->max_ns : v;
    }
    return h->max_ns;
}
