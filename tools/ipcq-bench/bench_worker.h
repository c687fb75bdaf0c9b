/*
 * The children of an ipcq-bench run: producers, which put their share of
 * the items, and consumers, which get them until a stop marker comes.
 *
 * Each opens its own client, pings the broker (so that connecting is not
 * timed), says it is ready on the ready pipe and waits for the go pipe to
 * close; the run starts for every child at once. A producer puts its items
 * round-robin over the queues, starting with queue (index % Q); consumer j
 * gets from queue j % Q. Each child records what it did in its slot of the
 * shared memory and returns its exit status.
 *
 * How they put and get follows the mode (bench_args.h): with async puts a
 * producer flushes before it ends, so every item it counted was accepted;
 * a prefetching consumer's buffer, holding at most other consumers' stop
 * markers when it stops, goes back to the queue when it closes.
 */
#ifndef IPCQ_BENCH_WORKER_H
#define IPCQ_BENCH_WORKER_H

#include <stdint.h>

#include "bench_args.h"
#include "bench_shared.h"

#define BENCH_QUEUE_NAME_MAX 64

/* The stop marker, one per consumer at the end of a run: a bare item header
 * (tool_item.h) from this producer, sequence number 0. */
#define BENCH_STOP UINT32_MAX

typedef struct bench_ctx {
    const bench_opts *opts;
    const char *endpoint;
    const char (*queues)[BENCH_QUEUE_NAME_MAX]; /* opts->queues names */
    bench_shared *shared;
    int ready_fd; /* write end: one byte per ready child */
    int go_fd;    /* read end: closed by the tool when the run starts */
} bench_ctx;

/* How many items producer index puts with --items. */
uint64_t bench_producer_share(const bench_opts *o, int index);

/* The bodies of the children: each returns its exit status (TOOL_EXIT_*). */
int bench_produce(const bench_ctx *ctx, int index);
int bench_consume(const bench_ctx *ctx, int index);

#endif
