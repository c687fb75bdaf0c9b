/*
 * Many queues at once: creates or deletes the queues PREFIX.0 to
 * PREFIX.(n-1) over the wire (bench_wire.h), BENCH_QUEUESET_WINDOW requests
 * in flight, with a progress line on a terminal. The queues scenario and a
 * throughput run's --idle-queues use it; pipelined, 100,000 queues take a
 * second or two rather than 100,000 round trips.
 */
#ifndef IPCQ_BENCH_QUEUESET_H
#define IPCQ_BENCH_QUEUESET_H

#include <stddef.h>
#include <stdint.h>

#include "bench_wire.h"

#define BENCH_QUEUESET_WINDOW 1000

/* PREFIX.i into buf. */
void bench_queueset_name(char *buf, size_t cap, const char *prefix, int64_t i);

/* Creates (op BENCH_WIRE_CREATE, unbounded) or deletes (BENCH_WIRE_DELETE)
 * the n queues PREFIX.i. IPCQ_OK, or the first failure with a line saying
 * what failed in why[0..cap). */
int bench_queueset_apply(const char *endpoint, bench_wire_op op, const char *prefix, int64_t n,
                         char *why, size_t cap);

#endif
