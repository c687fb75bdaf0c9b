/*
 * What the views of a stat snapshot share (cli_stat.c: stat and ls;
 * cli_prom.c: stat --prometheus; cli_top.c: top): the snapshot's rows in
 * name order, and finding a queue's row by name in them.
 */
#ifndef IPCQ_CLI_STAT_H
#define IPCQ_CLI_STAT_H

#include <stdbool.h>
#include <stddef.h>

#include "ipcq.h"

/* A queue of a snapshot: its name (borrowed from the snapshot) and row. */
typedef struct row_ref {
    const char *name;
    size_t index;
} row_ref;

/* The snapshot's rows sorted by name, in an array the caller frees; NULL
 * (after saying so on stderr) when out of memory. */
row_ref *sorted_rows(const ipcq_stats *s);

/* The row named name among rows[0..n) sorted by name; NULL if none. */
const row_ref *find_row(const row_ref *rows, size_t n, const char *name);

/* Prints the snapshot in the Prometheus text exposition format: the
 * broker's figures if with_broker, then each family of queue figures with
 * one sample per queue of rows[0..n), labelled queue="NAME". */
void print_prometheus(const ipcq_stats *s, const row_ref *rows, size_t n, bool with_broker);

#endif
