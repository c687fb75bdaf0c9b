/*
 * A log-linear histogram of latencies in nanoseconds, fixed in size (no
 * allocation, so it can live in memory shared between processes): values
 * below 64 ns have a bucket each, and every power of two above is cut into
 * 32 buckets, so a percentile read from it is within 1/32 (3%) of the true
 * value. Histograms of several processes add up with bench_hist_merge().
 */
#ifndef IPCQ_BENCH_HIST_H
#define IPCQ_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_BUCKETS ((65 - BENCH_HIST_SUB_BITS) << BENCH_HIST_SUB_BITS)

typedef struct bench_hist {
    uint64_t count, sum_ns, min_ns, max_ns;
    uint64_t bucket[BENCH_HIST_BUCKETS];
} bench_hist;

void bench_hist_init(bench_hist *h);

void bench_hist_add(bench_hist *h, uint64_t ns);

/* Adds every sample of from to into. */
void bench_hist_merge(bench_hist *into, const bench_hist *from);

/* The value below which a fraction q (0 < q <= 1) of the samples lie, as
 * the middle of its bucket; 0 when there is no sample. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

#endif
