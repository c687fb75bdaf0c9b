/*
 * The command line of ipcq-bench: bench_parse() fills a bench_opts from
 * argv, applying the defaults and checking every value and combination.
 * Usage errors are reported here, on stderr, as "ipcq-bench: WHAT" and a
 * hint; --help prints the usage on stdout.
 *
 * The modes pair a way to put with a way to get:
 *   strict    ipcq_put        / ipcq_get                  one item per call, each a round trip
 *   batch     ipcq_put_many   / ipcq_get_many             --batch items per call
 *   async     ipcq_put_async  / ipcq_get_many             --window puts in flight
 *   prefetch  ipcq_put_async  / ipcq_get with prefetch    --batch items leased ahead
 */
#ifndef IPCQ_BENCH_ARGS_H
#define IPCQ_BENCH_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the producers put and the consumers get. */
typedef enum bench_mode {
    BENCH_STRICT,   /* ipcq_put / ipcq_get: one item per call */
    BENCH_BATCH,    /* ipcq_put_many / ipcq_get_many: up to --batch items per call */
    BENCH_ASYNC,    /* ipcq_put_async with a window in flight / ipcq_get_many */
    BENCH_PREFETCH, /* ipcq_put_async / ipcq_get with a prefetch of --batch items */
} bench_mode;

#define BENCH_MAX_PROCS 1024 /* producers, and consumers, at most */
#define BENCH_MAX_QUEUES 1024
#define BENCH_MAX_BATCH 100000
#define BENCH_MAX_BATCH_BYTES ((int64_t)256 << 20) /* --batch x --size */
#define BENCH_DEFAULT_WINDOW 256                   /* the library's own default */
#define BENCH_PREFETCH_LEASE_MS 30000              /* lease on prefetched items */

typedef struct bench_opts {
    int producers, consumers, queues;
    int64_t size;        /* bytes per item */
    int64_t items;       /* items in all; 0 with a duration */
    int64_t duration_ms; /* how long producers put; 0 with --items */
    bench_mode mode;
    int64_t batch;      /* items per put_many, get_many or prefetch; 1 in strict mode */
    int64_t window;     /* async puts in flight (async, prefetch); 0 otherwise */
    int64_t maxsize;    /* the queues' bound; 0 unbounded */
    const char *broker; /* NULL: a private broker */
    int broker_pid;     /* 0: unknown (with --broker) */
    bool json, check;
} bench_opts;

/* What bench_parse() found. */
enum { BENCH_PARSED = 0, BENCH_HELP = -1, BENCH_BAD = 2 /* = TOOL_EXIT_USAGE */ };

/* Fills o from argv[1..argc). BENCH_HELP after printing the usage for
 * --help or --version; BENCH_BAD after reporting a usage error. */
int bench_parse(int argc, char **argv, bench_opts *o);

/* "strict", "batch", ... */
const char *bench_mode_name(bench_mode m);

#endif
