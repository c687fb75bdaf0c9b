/*
 * The scale and memory scenarios of ipcq-bench (--scenario fill, queues,
 * waiters; see bench_args.h): bench_scale_run() starts the broker
 * (bench_broker.h), runs the scenario, stops the broker, and leaves the
 * figures in a bench_scale_result as a list of facts, each with a JSON key,
 * a label and a unit, which bench_report.c prints for a person or as JSON.
 *
 *   bench_fill.c     one queue filled with items, then drained
 *   bench_queues.c   many empty queues created, then deleted
 *   bench_waiters.c  many blocked getters, answered at their deadlines
 *   bench_idle.c     async runs beside many idle unix:// connections (it
 *                    starts its own broker: one that serves the lane)
 */
#ifndef IPCQ_BENCH_SCALE_H
#define IPCQ_BENCH_SCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_args.h"
#include "bench_broker.h"

#define BENCH_MAX_FACTS 32

typedef struct bench_fact {
    const char *key;   /* JSON key */
    const char *label; /* for a person */
    const char *unit;  /* "MiB", "ms", "" */
    double value;
    int decimals;
    bool known; /* false: null in JSON, "unknown" in text */
} bench_fact;

typedef struct bench_scale_result {
    char endpoint[512];
    const char *broker_kind; /* "private", "ipcqd", "shared" */
    int broker_pid;          /* 0: unknown */
    bench_fact facts[BENCH_MAX_FACTS];
    int nfacts;
    bool verified;     /* every check of the scenario held */
    char failure[256]; /* else what did not */
} bench_scale_result;

/* Runs o->scenario into *r; returns the exit status (TOOL_EXIT_OK, or
 * TOOL_EXIT_CHECK when a check failed, after which *r is still reported). */
int bench_scale_run(const bench_opts *o, bench_scale_result *r);

/* Adds a fact; with known false the value is unknown. */
void bench_scale_fact(bench_scale_result *r, const char *key, const char *label, const char *unit,
                      double value, int decimals, bool known);

/* The broker's VmRSS now, as a fact in MiB; the KiB in *kib (-1: unknown). */
void bench_scale_rss(bench_scale_result *r, const char *key, const char *label, int64_t *kib);

/* The broker's VmHWM, as a fact in MiB; the KiB in *kib (-1: unknown). */
void bench_scale_peak_rss(bench_scale_result *r, const char *key, const char *label, int64_t *kib);

/* (after - before) KiB over n things, as a fact in bytes each. */
void bench_scale_per(bench_scale_result *r, const char *key, const char *label, int64_t before,
                     int64_t after, int64_t n);

/* Records the first failed check (printf-style) and clears r->verified. */
__attribute__((format(printf, 2, 3))) void bench_scale_fail(bench_scale_result *r, const char *fmt,
                                                            ...);

/* The scenarios, on a running broker b. Each returns an exit status. */
int bench_fill(const bench_opts *o, const bench_broker *b, bench_scale_result *r);
int bench_queues(const bench_opts *o, const bench_broker *b, bench_scale_result *r);
int bench_waiters(const bench_opts *o, const bench_broker *b, bench_scale_result *r);
/* With the broker of its own: --ipcqd started on unix://, or --broker. */
int bench_idle_lane(const bench_opts *o, bench_scale_result *r);

#endif
