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
 *
 * The scenarios (--scenario) measure issue 4's scale and memory targets:
 *   throughput  the run above, with --idle-queues K empty queues created
 *               first, to show that the cost of an item does not grow with
 *               the queues the broker holds (default)
 *   fill        --items N items (default 1,000,000) put into one queue with
 *               no consumer: the broker's RSS full (VmRSS, VmHWM, less its
 *               RSS before) and per item; then drained, and its RSS again
 *   queues      --count N empty queues (default 100,000) created: the
 *               broker's RSS and bytes per queue; then deleted, RSS again
 *   waiters     --count N blocked getters (default 10,000) on empty queues,
 *               timeouts spread over 200-1000 ms, sent over the wire from a
 *               few sockets (bench_wire.h), paced by the broker's intake: how
 *               late each answer came after its deadline (p50, p99, max) and
 *               how many came over 10 ms late
 *   idle-lane   --count N idle unix:// connections (default 10,000), each
 *               answered one PING: the broker's RSS with them and per
 *               connection, and async items/s (--items, default 300,000)
 *               beside them and with none (bench_idle.c); needs an ipcqd
 *               (--ipcqd, or --broker unix://PATH)
 * The broker of a run is the library's private one, the one at --broker, or
 * (--ipcqd PATH) an ipcqd started for the run with its limits out of the way:
 * the private broker keeps ipcqd's default limits (10,000 queues).
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

/* What the run measures. */
typedef enum bench_scenario {
    BENCH_THROUGHPUT, /* producers and consumers move items (bench_run.h) */
    BENCH_FILL,       /* one queue filled, then drained (bench_fill.c) */
    BENCH_QUEUES,     /* many empty queues created, then deleted (bench_queues.c) */
    BENCH_WAITERS,    /* many blocked getters time out (bench_waiters.c) */
    BENCH_IDLE_LANE,  /* async runs beside many idle unix:// clients (bench_idle.c) */
} bench_scenario;

#define BENCH_MAX_PROCS 1024 /* producers, and consumers, at most */
#define BENCH_MAX_QUEUES 1024
#define BENCH_MAX_BATCH 100000
#define BENCH_MAX_BATCH_BYTES ((int64_t)256 << 20) /* --batch x --size */
#define BENCH_DEFAULT_WINDOW 256                   /* the library's own default */
#define BENCH_PREFETCH_LEASE_MS 30000              /* lease on prefetched items */
#define BENCH_MAX_COUNT 10000000                   /* --count, --idle-queues */
#define BENCH_WAIT_MIN_MS 200                      /* waiters: the shortest timeout */
#define BENCH_WAIT_MAX_MS 1000                     /* ... and the longest */
#define BENCH_LATE_MS 10                           /* waiters: an answer later is late */

typedef struct bench_opts {
    bench_scenario scenario;
    int producers, consumers, queues;
    int64_t size;        /* bytes per item */
    int64_t items;       /* items in all; 0 with a duration, and in queues and waiters */
    int64_t duration_ms; /* how long producers put; throughput only; 0 with --items */
    bench_mode mode;
    int64_t batch;       /* items per put_many, get_many or prefetch; 1 in strict mode */
    int64_t window;      /* async puts in flight (async, prefetch); 0 otherwise */
    int64_t maxsize;     /* the queues' bound; 0 unbounded */
    int64_t count;       /* queues: queues created; waiters: blocked getters; else 0 */
    int64_t idle_queues; /* throughput: empty queues created before the run */
    const char *broker;  /* NULL: a private broker */
    const char *ipcqd;   /* with no --broker: start this ipcqd, not the library's broker */
    int broker_pid;      /* 0: unknown (with --broker) */
    bool json, check;
} bench_opts;

/* What bench_parse() found. */
enum { BENCH_PARSED = 0, BENCH_HELP = -1, BENCH_BAD = 2 /* = TOOL_EXIT_USAGE */ };

/* Fills o from argv[1..argc). BENCH_HELP after printing the usage for
 * --help or --version; BENCH_BAD after reporting a usage error. */
int bench_parse(int argc, char **argv, bench_opts *o);

/* "strict", "batch", ... */
const char *bench_mode_name(bench_mode m);

/* "throughput", "fill", "queues", "waiters", "idle-lane" */
const char *bench_scenario_name(bench_scenario s);

#endif
