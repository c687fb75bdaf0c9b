/*
 * Random client load for the soak and fault suites: the body of one forked
 * client, which makes random calls of every kind (puts, gets, batches,
 * async puts, prefetch, leases acked, released or left to run out, deletes,
 * shutdowns, joins, stats, reconnects) with random timeouts until the
 * ledger says stop, writing everything it puts and gets into the ledger
 * and checking each call's status and timing as it goes.
 *
 * Queues are PREFIX.kN (kept: created by the test, never deleted while
 * clients run) and PREFIX.cN (chaos: deleted and shut down at random).
 */
#ifndef IPCQ_TEST_LOAD_H
#define IPCQ_TEST_LOAD_H
#include <stdbool.h>
#include <stdint.h>

#include "ipcq.h"
#include "ledger.h"

typedef enum load_op {
    LOAD_PUT,
    LOAD_PUT_MANY,
    LOAD_PUT_ASYNC,
    LOAD_GET,
    LOAD_GET_MANY,
    LOAD_LEASE_ACK,
    LOAD_LEASE_RELEASE,
    LOAD_LEASE_ABANDON, /* take an item on a short lease and let it run out */
    LOAD_PREFETCH,      /* turn consumer prefetch on or off */
    LOAD_DELETE,        /* chaos queues only */
    LOAD_SHUTDOWN,      /* chaos queues only; immediate or not */
    LOAD_QUERY,         /* stat, qsize, empty, full */
    LOAD_TASKS,         /* task_done and join on a chaos queue */
    LOAD_RECONNECT,     /* close the handle and open another */
    LOAD_OPS
} load_op;

typedef struct load_config {
    const char *endpoint;
    ledger *ledger;
    const char *prefix;
    unsigned kept, chaos; /* how many queues of each class (kept >= 1) */
    unsigned weight[LOAD_OPS];
    unsigned chaos_percent; /* of puts and gets, the share that go to chaos queues */
    size_t max_item;        /* largest item, bytes */
    int64_t lease_ms;       /* leases that are acked or released */
    int64_t work_ms;        /* up to this long between taking a lease and its ack */
    int64_t late_bound_ms;  /* how late past its timeout a timed wait may end */
    bool broker_may_die;    /* "broker unavailable" is an expected outcome */
} load_config;

/* A configuration with every kind of call, for the soak. */
void load_config_default(load_config *cfg, const char *endpoint, ledger *l, const char *prefix);

/* Names queue i of a class into buf. */
void load_queue_name(const load_config *cfg, ledger_class cls, unsigned i, char *buf, size_t cap);

/* The body of forked client slot (a fork_child function after binding its
 * arguments): runs until ledger_stop(), then closes its handle and returns
 * 0. Problems go to the ledger, not to the exit status. */
int load_client(const load_config *cfg, uint32_t slot, uint64_t seed);

/* Arguments of load_child(), a fork_child() body. */
typedef struct load_child_args {
    const load_config *cfg;
    uint32_t slot;
    uint64_t seed;
} load_child_args;
int load_child(void *arg);

/* Creates the kept queues, each with its bound. */
void load_prepare(const load_config *cfg, ipcq_client *c);

/* Stops the clients: ledger_stop(), then shuts every kept queue down (its
 * blocked getters and putters are woken; gets drain what is left) and every
 * chaos queue down at once. The caller then reaps them. */
void load_stop(const load_config *cfg, ipcq_client *c);

/* After every client is gone: takes every item left, in each kept queue,
 * its dead-letter queue and each chaos queue, into the ledger, and deletes
 * those queues. Fails the running test if that takes over timeout_ms. */
void load_drain(const load_config *cfg, ipcq_client *c, int64_t timeout_ms);

#endif
