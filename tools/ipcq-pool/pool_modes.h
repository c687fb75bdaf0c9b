/*
 * The modes of ipcq-pool. Each is a program of its own under the tool's
 * name: it reads its options, prints its help, runs, and returns the exit
 * status (tool_exit.h). What they share (pool_modes.c): the exit statuses'
 * help and the style of the progress line.
 */
#ifndef IPCQ_POOL_MODES_H
#define IPCQ_POOL_MODES_H

#include "tool_progress.h"

typedef struct pool_mode {
    const char *name;
    const char *synopsis;              /* after "ipcq-pool " */
    const char *summary;               /* one line */
    int (*run)(int argc, char **argv); /* the words after the mode's name */
} pool_mode;

extern const pool_mode pool_prodcons_mode; /* pool_prodcons.c */
extern const pool_mode pool_primes_mode;   /* pool_primes.c */
extern const pool_mode pool_tasks_mode;    /* pool_tasks.c */

/* "Exit status: ..." for every help text. */
extern const char pool_exit_help[];

/* "prodcons: 120/500 items, 4000 items/s", redrawn every 200 ms. */
extern const tool_progress_style pool_progress_style;

#endif
