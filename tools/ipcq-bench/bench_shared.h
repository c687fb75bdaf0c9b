/*
 * The memory an ipcq-bench run shares between the tool and its children: one
 * MAP_SHARED anonymous mapping, made before the children are forked, that
 * holds the run's clock, one slot per child (what it did, its latencies and
 * its error) and, for each consumer, a tally per producer of the items it
 * got. Each child writes only its own slot and tallies; the tool reads them
 * once the child has been reaped, except the progress counters, which it
 * reads while the run goes on.
 */
#ifndef IPCQ_BENCH_SHARED_H
#define IPCQ_BENCH_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_hist.h"

typedef struct bench_slot {
    _Atomic uint64_t progress; /* items so far, for the progress line */
    int exit_code;             /* TOOL_EXIT_*: what the child decided */
    int status;                /* the failed call's ipcq status, IPCQ_OK if none */
    char error[256];           /* and what it said */
    uint64_t items;            /* put (producer) or got (consumer), stop markers aside */
    uint64_t sum;              /* producer: tool_item_mix() of every seq it put */
    uint64_t last_ns;          /* consumer: when it got its last item */
    uint64_t damaged;          /* consumer: items of the wrong size, bytes or producer */
    uint64_t reordered;        /* consumer: items of a producer older than one it had */
    bench_hist latency;        /* per call: put (producer) or get (consumer) */
} bench_slot;

/* What one consumer got from one producer. */
typedef struct bench_tally {
    uint64_t count, sum;
} bench_tally;

typedef struct bench_shared {
    int producers, consumers;
    uint64_t start_ns; /* when the tool let the children go */
    uint64_t stop_ns;  /* with a duration: when producers stop putting; else 0 */
    bench_slot *slots; /* producers first, then consumers */
    bench_tally *tallies;
    size_t bytes; /* of the mapping */
} bench_shared;

/* Maps the shared memory of a run; NULL if mmap() failed. */
bench_shared *bench_shared_map(int producers, int consumers);

void bench_shared_unmap(bench_shared **s);

bench_slot *bench_producer_slot(bench_shared *s, int producer);
bench_slot *bench_consumer_slot(bench_shared *s, int consumer);

/* The tally of consumer's items from producer. */
bench_tally *bench_tally_of(bench_shared *s, int consumer, int producer);

#endif
