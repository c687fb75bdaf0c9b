/*
 * Drives the broker core (broker.h) in-process for cmocka tests, with no
 * socket, no thread and no sleep:
 *
 *   peers     numbered 0 to CORE_PEERS - 1, each a routing id, sending
 *             requests built field by field as libipcq builds them
 *             (libclient/ops.c, lease.c, stats.c, client.c)
 *   clock     a fake monotonic clock that moves only when a test moves it;
 *             the broker's timers (timeouts, leases, probes) run then
 *   replies   every message the broker sends is captured and decoded, in
 *             order; a peer can be made unreachable, as a client that died
 *             is to ipcqd, and the send then fails
 *   checks    after every step the invariants of core_check.c; when the
 *             test ends, exactly one reply to every request of a live peer
 *   durable   with a data directory (core_driver_open_store), the broker
 *             logs its changes; every step ends with broker_commit(), as
 *             ipcqd's loop ends each pass, unless the test commits itself;
 *             core_driver_restart() is a crash and a start on the same log
 *
 * Each send_* helper returns the request's id, the key to its reply. The
 * expect_* assertions name the file and line of the test, the peer, the
 * request and the status by its text, so that a red test says what broke.
 */
#ifndef IPCQ_CORE_DRIVER_H
#define IPCQ_CORE_DRIVER_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core_check.h"

enum { CORE_PEERS = 4 };

#define CORE_US_PER_MS ((int64_t)1000)

/* One message the broker sent. */
typedef struct core_sent {
    unsigned peer;
    bool delivered;         /* false: the peer was unreachable, the send failed */
    Ipcqwire__Reply *reply; /* decoded; NULL if it did not decode */
} core_sent;

typedef struct core_driver {
    broker *b;
    broker_config cfg;
    const char *data_dir; /* NULL: memory only */
    store_options store_opt;
    bool manual_commit; /* steps do not commit: the test calls driver_commit() */
    int64_t now_us;
    uint64_t last_id; /* request ids run on across peers, so each names one request */
    bool gone[CORE_PEERS];
    core_sent *sent;
    size_t nsent, sent_cap;
    size_t nchecked; /* messages already checked against the ledger */
    core_ledger ledger;
} core_driver;

/* cmocka setup and teardown: a broker with the default configuration, or
 * with cfg; and its end, which stops it (broker_stop answers every blocked
 * caller), checks that every request of a live peer had exactly one reply,
 * frees it and checks that no item is left alive. */
int core_driver_start(void **state);
int core_driver_start_with(void **state, const broker_config *cfg);
int core_driver_stop(void **state);

/* Makes the broker durable on dir (which outlives the driver), as
 * ipcqd --data-dir does; fails the test if the log cannot be opened. */
void core_driver_open_store(core_driver *d, const char *dir, const store_options *opt);
/* The broker dies (what it did not commit is lost, and with it every reply
 * it owed) and a new one starts on the same data directory. */
void core_driver_restart(core_driver *d);
/* The end of a pass: the broker commits and sends what it held. */
void driver_commit(core_driver *d);

/* The clock moves to at_us (never back) and the broker's timers run. */
void advance_to(core_driver *d, int64_t at_us);
void advance_ms(core_driver *d, int64_t ms);

/* From now on the peer cannot be reached: every send to it fails. */
void lose_peer(core_driver *d, unsigned peer);
/* A connection closed, as the transport reports it: the broker probes its
 * sessions soon, well before its regular probe, and finds the lost ones. */
void notice_lost_peers(core_driver *d);

/* Requests, as libipcq sends them. timeout_ms: IPCQ_FOREVER, IPCQ_NOWAIT
 * or a bound (or, to test the broker's own check, anything else). */
uint64_t send_put(core_driver *d, unsigned peer, const char *queue_name, const char *text,
                  int64_t timeout_ms);
uint64_t send_put_bytes(core_driver *d, unsigned peer, const char *queue_name, const void *data,
                        size_t len, int64_t timeout_ms);
uint64_t send_put_many(core_driver *d, unsigned peer, const char *queue_name, size_t n,
                       const char *const *items, int64_t timeout_ms);
/* A put on a queue name given as bytes, which may be anything (Q1). */
uint64_t send_put_named(core_driver *d, unsigned peer, const void *name, size_t name_len,
                        int64_t timeout_ms);
uint64_t send_get(core_driver *d, unsigned peer, const char *queue_name, int64_t timeout_ms);
/* Up to max items; lease_ms > 0 takes them on a lease (D2). */
uint64_t send_get_batch(core_driver *d, unsigned peer, const char *queue_name, uint32_t max,
                        int64_t lease_ms, int64_t timeout_ms);
/* ... on a lease, as a pool worker asks: an item handed out before comes
 * by itself (libclient/pool.c). */
uint64_t send_get_redelivered_alone(core_driver *d, unsigned peer, const char *queue_name,
                                    uint32_t max, int64_t lease_ms, int64_t timeout_ms);
uint64_t send_get_leased(core_driver *d, unsigned peer, const char *queue_name, int64_t lease_ms,
                         int64_t timeout_ms);
uint64_t send_create(core_driver *d, unsigned peer, const char *queue_name, int64_t maxsize);
/* delete, task_done, join: a queue and a timeout, a status back. */
uint64_t send_queue_op(core_driver *d, unsigned peer, Ipcqwire__Op op, const char *queue_name,
                       int64_t timeout_ms);
uint64_t send_shutdown(core_driver *d, unsigned peer, const char *queue_name, bool immediate);
uint64_t send_set_max_deliveries(core_driver *d, unsigned peer, const char *queue_name,
                                 uint32_t max_deliveries);
uint64_t send_set_maxsize(core_driver *d, unsigned peer, const char *queue_name, int64_t maxsize);
/* ack (of one lease or many), release (OP_RELEASE), extend (lease_ms). */
uint64_t send_lease_op(core_driver *d, unsigned peer, Ipcqwire__Op op, const uint64_t *leases,
                       size_t n, int64_t lease_ms);
/* One-way: the tags of a reply's items confirmed (OP_CONFIRM, what a plain
 * get does at once) or handed back (OP_HAND_BACK). */
void send_item_tags(core_driver *d, unsigned peer, Ipcqwire__Op op, const Ipcqwire__Reply *r);
/* One-way: the client gave up on request id (interrupted, or its own wait
 * ran out); no reply to it is owed any more. */
void send_cancel(core_driver *d, unsigned peer, uint64_t id);
/* A stat of one queue, or (queue_name NULL) of all. */
uint64_t send_stat(core_driver *d, unsigned peer, const char *queue_name);

/* The reply peer got to request id, which must have this status. */
#define expect_reply(d, peer, id, status) expect_reply_at(d, peer, id, status, __FILE__, __LINE__)
/* ... and an error text that contains text. */
#define expect_error(d, peer, id, status, text)                                                    \
    expect_error_at(d, peer, id, status, text, __FILE__, __LINE__)
/* No reply to request id has been sent to peer (yet). */
#define expect_no_reply(d, peer, id) expect_no_reply_at(d, peer, id, __FILE__, __LINE__)
/* An IPCQ_OK reply with exactly one item, these bytes. */
#define expect_item(d, peer, id, text)                                                             \
    expect_item_at(d, peer, id, text, strlen(text), __FILE__, __LINE__)
#define expect_bytes(d, peer, id, data, len)                                                       \
    expect_item_at(d, peer, id, data, len, __FILE__, __LINE__)
/* What ipcq_get() returns: the item, its receipt confirmed at once (D1). */
#define take_item(d, peer, id, text) take_item_at(d, peer, id, text, __FILE__, __LINE__)
/* The stat row of a queue that exists, asked by peer 0. */
#define stat_of(d, queue_name) stat_of_at(d, queue_name, __FILE__, __LINE__)
/* A stat of the queue fails: no such queue. */
#define expect_no_queue(d, queue_name) expect_no_queue_at(d, queue_name, __FILE__, __LINE__)
/* Fails the test with both statuses' texts unless got is want. */
#define assert_status(got, want) assert_status_at(got, want, __FILE__, __LINE__)

const Ipcqwire__Reply *expect_reply_at(core_driver *d, unsigned peer, uint64_t id, int status,
                                       const char *file, int line);
const Ipcqwire__Reply *expect_error_at(core_driver *d, unsigned peer, uint64_t id, int status,
                                       const char *text, const char *file, int line);
void expect_no_reply_at(core_driver *d, unsigned peer, uint64_t id, const char *file, int line);
const Ipcqwire__Item *expect_item_at(core_driver *d, unsigned peer, uint64_t id, const void *data,
                                     size_t len, const char *file, int line);
const Ipcqwire__Item *take_item_at(core_driver *d, unsigned peer, uint64_t id, const char *text,
                                   const char *file, int line);
const Ipcqwire__QueueStat *stat_of_at(core_driver *d, const char *queue_name, const char *file,
                                      int line);
void expect_no_queue_at(core_driver *d, const char *queue_name, const char *file, int line);
void assert_status_at(int got, int want, const char *file, int line);

/* True when text holds the number n as a whole number ("maxsize 3" holds
 * 3, not 30): to check that an error names a value. */
bool text_has_number(const char *text, long long n);

#endif
