/*
 * The children of `ipcq-pool prodcons`: what a producer and a consumer
 * process do from fork() to _exit(). Each first prints its one line
 * ("producer 0: pid 1234, ppid 1200") on stdout, opens its own handle on
 * the broker, and returns the exit status for the parent to see.
 *
 * By default they move items the way a user should: a producer puts with
 * ipcq_put_async (up to window puts in flight) and ends with ipcq_flush; a
 * consumer takes leased batches (ipcq_get_leased_many), records them, and
 * acks each batch with one ipcq_ack_many. With strict, one item a call:
 * ipcq_put, ipcq_get_leased and ipcq_ack.
 */
#ifndef IPCQ_POOL_ROLES_H
#define IPCQ_POOL_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pool_role {
    const char *endpoint; /* the broker */
    const char *queue;    /* the items */
    size_t item_size;     /* bytes of each item */
    bool strict;          /* one item a call; else async puts and leased batches */
    size_t window;        /* async puts in flight per producer (not strict) */
    size_t batch;         /* items per leased get and per ack (1 when strict) */
} pool_role;

/* Puts items (index, 0) .. (index, count - 1) on the queue, in order. */
int pool_producer_run(const pool_role *r, uint32_t index, uint64_t count);

/* Takes items on a lease until the queue is shut down and empty; for each,
 * writes a pool_record to record_fd, then acks (see pool_ledger.h). With
 * batches, the records of a batch are written before its ack, and an ack
 * mark (POOL_RECORD_ACKED) after it. */
int pool_consumer_run(const pool_role *r, uint32_t index, int record_fd);

#endif
