/*
 * The progress line of ipcq-pool: "WHAT: DONE/TOTAL UNIT, RATE UNIT/s" on
 * stderr, redrawn in place with '\r' at most every POOL_PROGRESS_MS, and
 * only when stderr is a terminal: a pipe or a file gets none of it.
 */
#ifndef IPCQ_POOL_PROGRESS_H
#define IPCQ_POOL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define POOL_PROGRESS_MS 200

typedef struct pool_progress {
    bool on; /* stderr is a terminal */
    bool drawn;
    const char *what, *unit;
    uint64_t total;
    int64_t start_ms, last_ms;
} pool_progress;

/* Starts a line about total units of what (both borrowed). */
void pool_progress_start(pool_progress *p, const char *what, const char *unit, uint64_t total);

/* Redraws the line with done units, unless it was drawn very recently. */
void pool_progress_update(pool_progress *p, uint64_t done);

/* Erases the line, so that what follows starts on a clean line. */
void pool_progress_end(pool_progress *p);

#endif
