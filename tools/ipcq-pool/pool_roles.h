/*
 * The children of `ipcq-pool prodcons`: what a producer and a consumer
 * process do from fork() to _exit(). Each first prints its one line
 * ("producer 0: pid 1234, ppid 1200") on stdout, opens its own handle on
 * the broker, and returns the exit status for the parent to see.
 */
#ifndef IPCQ_POOL_ROLES_H
#define IPCQ_POOL_ROLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct pool_role {
    const char *endpoint; /* the broker */
    const char *queue;    /* the items */
    size_t item_size;     /* bytes of each item */
} pool_role;

/* Puts items (index, 0) .. (index, count - 1) on the queue, in order. */
int pool_producer_run(const pool_role *r, uint32_t index, uint64_t count);

/* Takes items on a lease until the queue is shut down and empty; for each,
 * writes a pool_record to record_fd, then acks (see pool_ledger.h). */
int pool_consumer_run(const pool_role *r, uint32_t index, int record_fd);

#endif
