/*
 * The broker core: every queue, waiter and client session, driven by
 * messages and by the clock, with no socket of its own. ipcqd wraps it in a
 * ZeroMQ loop (router.c); tests and fuzzers drive it directly.
 *
 * The owner feeds each request with broker_handle(), calls broker_tick()
 * when broker_next_wakeup_us() is due, and supplies a send function through
 * which every reply and probe leaves.
 */
#ifndef IPCQ_BROKER_H
#define IPCQ_BROKER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct broker broker;

/* Sends one message to a peer. Returns 0 when the message was queued for
 * the peer, IPCQ_EUNAVAILABLE when the peer is gone or cannot take it now;
 * the broker then treats the peer's session as lost. */
typedef int (*broker_send_fn)(void *ctx, const void *peer, size_t peer_len, const void *data,
                              size_t len);

typedef struct broker_config {
    size_t max_item_size;      /* bytes; items above it are IPCQ_ETOOBIG */
    int64_t probe_interval_ms; /* how often clients holding state are probed */
    /* Limits (B2), enforced by limits.c: */
    size_t max_memory;   /* bytes held (estimated); past it puts are IPCQ_EMEMLIMIT */
    size_t max_queues;   /* queues a client may create; more are IPCQ_ELIMIT */
    size_t max_waiters;  /* blocked getters (putters, joiners) per queue; IPCQ_ELIMIT */
    size_t max_name_len; /* bytes of a queue name, at most IPCQ_NAME_MAX; IPCQ_EINVAL */
    /* The first delivery tag; 0: a random one, so that a tag a client kept
     * from an earlier run of the broker (a lease it still means to ack)
     * names nothing in this one. Fuzzers fix it. */
    uint64_t first_tag;
} broker_config;

#define BROKER_DEFAULT_MAX_ITEM ((size_t)16 << 20)
#define BROKER_DEFAULT_PROBE_MS 500
#define BROKER_DEFAULT_MAX_MEMORY ((size_t)1 << 30)
#define BROKER_DEFAULT_MAX_QUEUES 100000
#define BROKER_DEFAULT_MAX_WAITERS 10000

void broker_config_defaults(broker_config *cfg);

/* NULL if out of memory. */
broker *broker_new(const broker_config *cfg, broker_send_fn send, void *send_ctx);
void broker_free(broker *b);

/* Handles one request message from peer, received at now_us. */
void broker_handle(broker *b, const void *peer, size_t peer_len, const void *msg, size_t len,
                   int64_t now_us);

/* Counts a message that could not even be read as a request (bad framing). */
void broker_count_bad(broker *b);

/* A client connection opened (either transport): counted as open until it
 * closes (broker_peer_disconnected, broker_peer_lost). */
void broker_peer_connected(broker *b);

/* A connection closed (the transport saw it; which peer is unknown): counts
 * it, and probes the sessions soon, so that a departed client's state is
 * cleaned up promptly (D3). */
void broker_peer_disconnected(broker *b, int64_t now_us);

/* Peer ids that start with this byte belong to a transport that sees each
 * peer leave and says so through broker_peer_lost() (the unix:// lane):
 * the broker never probes them. */
#define BROKER_PEER_LINKED 0xFF

/* That peer is gone (its connection closed): counted as a disconnect, and
 * its session, if it has one, is dropped now as a lost one is (D1, D3):
 * its waiters end unanswered, its unconfirmed items return to the head. */
void broker_peer_lost(broker *b, const void *peer, size_t peer_len, int64_t now_us);

/* The monotonic µs at which broker_tick() is next due (INT64_MAX: never). */
int64_t broker_next_wakeup_us(const broker *b);

/* Expires due deadlines and probes idle sessions. */
void broker_tick(broker *b, int64_t now_us);

/* The memory the broker's queues, items and waiters hold, as --max-memory
 * counts it. */
size_t broker_memory_held(const broker *b);

/* What the transport holds for its connections (the unix:// lane's records,
 * unfinished input and unsent replies) counts against --max-memory too (B2):
 * it says when that changes, from before bytes to after. */
void broker_transport_held(broker *b, size_t before, size_t after);

/* True when the memory held is past --max-memory by more than slack bytes:
 * a transport then cuts off the connections that would make it grow. */
bool broker_memory_over(const broker *b, size_t slack);

/* Makes the broker durable (ipcqd --data-dir, SPEC D5): opens the log in
 * dir, rebuilds every queue from it, and from then on logs every change.
 * Call it once, before the first request. On failure returns -1 with one
 * line in err naming what failed (a file and offset for damage, another
 * broker holding dir, ...). */
int broker_open_store(broker *b, const char *dir, const store_options *opt, char *err,
                      size_t err_size);

/* The end of a pass: a durable broker writes (and syncs, by its --fsync)
 * the records of every change made since the last commit, and only then
 * sends the replies it held for them (group commit). A memory-only broker
 * sends each reply at once, and this does nothing. Call it after every
 * pass that handled requests or ticked. */
void broker_commit(broker *b, int64_t now_us);

/* Answers every blocked caller with IPCQ_ESTOPPING; from then on every
 * request is answered so too (one-way messages are still applied). */
void broker_stop(broker *b);

#endif
