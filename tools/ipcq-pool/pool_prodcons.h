/*
 * The run of `ipcq-pool prodcons`, shared by the mode (pool_prodcons.c:
 * options, set-up, the report) and its loop (pool_prodcons_run.c: the
 * children, their records, the steps to the end).
 */
#ifndef IPCQ_POOL_PRODCONS_H
#define IPCQ_POOL_PRODCONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcq.h"
#include "pool_ledger.h"
#include "tool_progress.h"
#include "pool_roles.h"

#define POOL_MAX_CHILDREN 256 /* producers, and consumers */

typedef struct prodcons_opts {
    int64_t producers, consumers, items, maxsize, size;
    int64_t batch, window; /* 0: not given (the defaults, or 1 with --strict) */
    const char *broker;
    bool kill_one, strict;
} prodcons_opts;

typedef struct consumer {
    pid_t pid; /* 0 once reaped */
    int fd;    /* the read end of its record pipe; -1 at end of file */
    uint32_t index;
    bool killed; /* by --kill-one */
    uint64_t records;
    /* Its records since its last ack mark: the ones that may stand for
     * unacked items (pool_ledger.h). A ring of the last role.batch of
     * them; a strict consumer writes no marks, and its last record is the
     * one. */
    pool_record *unacked;
    uint64_t nunacked; /* records since the last mark; the ring holds the last of them */
    unsigned char partial[sizeof(pool_record)];
    size_t npartial;
} consumer;

typedef struct prodcons {
    prodcons_opts o;
    pool_role role;
    ipcq_broker *broker; /* private, or NULL */
    ipcq_client *c;      /* the parent's handle; closed while it forks */
    char queue[64];
    bool created;     /* the queue was created: removed at the end from a given broker */
    pid_t *producers; /* 0 once reaped */
    int64_t producers_done;
    consumer *consumers; /* o.consumers, and room for one replacement; each one's
                            unacked ring is freed by prodcons_run */
    int nconsumers;
    pool_ledger ledger;
    tool_progress progress;
    bool shut; /* the queue is shut down: consumers drain it and end */
    bool killed_one;
    int failure; /* the exit status once something failed, else 0 */
    int64_t start_ms, end_ms, idle_check_ms;
} prodcons;

/* Forks the consumers and the producers and runs until every consumer has
 * ended after the queue's shutdown, a child failed (pc->failure) or a stop
 * signal came. pc holds the broker handle, the queue and the ledger. */
void pool_prodcons_loop(prodcons *pc);

/* Opens the parent's handle again if a fork closed it. */
int pool_prodcons_client(prodcons *pc);

/* Stops every child still running (SIGTERM, then SIGKILL) and reaps it. */
void pool_prodcons_stop(prodcons *pc);

#endif
