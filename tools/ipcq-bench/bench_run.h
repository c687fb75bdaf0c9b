/*
 * One ipcq-bench run, from start to result: starts the broker of the run
 * (bench_broker.h), forks the producers and consumers, creates the
 * --idle-queues and the run's queues, lets the children go at once,
 * watches them (progress line, stop signals, a child that fails), puts the
 * stop markers once every producer is done, reaps every child, reads the
 * broker's CPU time and peak RSS, and adds up what the children recorded
 * into a bench_result, checked item by item (tool_item.h).
 */
#ifndef IPCQ_BENCH_RUN_H
#define IPCQ_BENCH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_args.h"
#include "bench_hist.h"

typedef struct bench_result {
    char endpoint[512];
    const char *broker_kind; /* "private", "ipcqd", "shared" (bench_broker.h) */
    int broker_pid;          /* 0: unknown */
    double seconds;          /* from the start until the last item was got */
    uint64_t put_items, got_items, put_calls, get_calls;
    bench_hist put_latency, get_latency;
    bool cpu_known, rss_known;
    double broker_cpu_s; /* utime + stime during the run */
    int64_t broker_rss_kib;
    /* The check: every item got exactly once, in order, intact. */
    uint64_t lost, duplicated, damaged, reordered, mismatched;
    bool verified;
    const char *check_failed; /* with --check: the figure that did not add up, else NULL */
} bench_result;

/* Runs the benchmark described by o into *r; returns the exit status
 * (TOOL_EXIT_OK when every item checked out, or 128 + a stop signal). */
int bench_run(const bench_opts *o, bench_result *r);

#endif
