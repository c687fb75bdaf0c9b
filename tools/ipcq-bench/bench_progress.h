/*
 * The progress line of ipcq-bench, on standard error and only when that is a
 * terminal: what was done so far ("items got", "queues created") and the
 * rate, redrawn in place at most every
 * BENCH_PROGRESS_MS, and erased before anything else is printed.
 */
#ifndef IPCQ_BENCH_PROGRESS_H
#define IPCQ_BENCH_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_PROGRESS_MS 250

typedef struct bench_progress {
    bool on, drawn;
    const char *label; /* "async", "queues" */
    const char *noun;  /* "items got" */
    uint64_t total;    /* expected; 0 when the run has a duration */
    uint64_t start_ns, last_ns;
} bench_progress;

void bench_progress_start(bench_progress *p, const char *label, const char *noun, uint64_t total);
void bench_progress_update(bench_progress *p, uint64_t done);
void bench_progress_end(bench_progress *p);

#endif
