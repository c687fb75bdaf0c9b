/*
 * The progress line of a tool: what was done so far and the rate, on
 * stderr and only when stderr is a terminal (a pipe or a file gets none of
 * it), redrawn in place with '\r' at most every so often, and erased before
 * anything else is printed. Each tool words it its own way, once, in a
 * tool_progress_style:
 *
 *   ipcq-pool    "prodcons: 120/500 items, 4000 items/s"
 *   ipcq-bench   "ipcq-bench: async: 120/500 items got, 4000/s", and for a
 *                run with a duration, "... 120 items got in 1.5 s, 80/s"
 */
#ifndef IPCQ_TOOL_PROGRESS_H
#define IPCQ_TOOL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tool_progress_style {
    const char *prefix;  /* before the line's label: "ipcq-bench: ", or "" */
    bool unit_per_s;     /* the rate as "4000 items/s" rather than "4000/s" */
    int64_t interval_ms; /* the least time between two redraws */
} tool_progress_style;

typedef struct tool_progress {
    tool_progress_style style;
    bool on; /* stderr is a terminal */
    bool drawn;
    const char *label; /* "prodcons", "async" */
    const char *unit;  /* "items", "items got" */
    uint64_t total;    /* expected; 0 when the run has a duration */
    uint64_t start_ns, last_ns;
} tool_progress;

/* Starts a line about total units (label and unit borrowed). */
void tool_progress_start(tool_progress *p, const tool_progress_style *style, const char *label,
                         const char *unit, uint64_t total);

/* Redraws the line with done units, unless it was drawn very recently. */
void tool_progress_update(tool_progress *p, uint64_t done);

/* Erases the line, so that what follows starts on a clean line. */
void tool_progress_end(tool_progress *p);

#endif
