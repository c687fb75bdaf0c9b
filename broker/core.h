/*
 * The broker's internal model, shared by its files:
 *
 *   queue     a bounded FIFO of items plus FIFOs of blocked getters,
 *             putters and joiners (queue.c)
 *   waiter    one blocked request; it ends exactly once: served, timed out,
 *             cancelled, or its queue/session/broker went away (waiter.c)
 *   delivery  an item handed to a client whose receipt is not confirmed
 *             yet; it returns to the head of its queue if the client dies
 *             (D1) (session.c)
 *   session   a client (a routing id) that holds waiters or deliveries;
 *             sessions without state are not kept (session.c)
 *
 * Changes that can wake someone mark their queue dirty; serve.c then hands
 * items over and answers waiters at the end of each pass, so that no handler
 * recurses into another.
 *
 * A durable broker (ipcqd --data-dir, SPEC D5) also logs every change as it
 * makes it (journal.c), holds the pass's replies, and sends them once the
 * pass's records are written and synced (broker_commit); recover.c rebuilds
 * the queues from the log at start.
 */
#ifndef IPCQ_CORE_H
#define IPCQ_CORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "broker.h"
#include "deadline.h"
#include "ipcq.h"
#include "ipcq.pb-c.h"
#include "list.h"
#include "store.h"
#include "table.h"

/* Where an item is, as the log knows it. */
typedef enum item_state {
    ITEM_QUEUED = 0, /* in its queue's FIFO (or a putter's batch) */
    ITEM_OUT,        /* handed out: a delivery, unconfirmed or on a lease */
    ITEM_GONE,       /* recovery only: done, waiting to be swept */
} item_state;

typedef struct item {
    struct item *next;
    int64_t enqueued_us;
    uint32_t deliveries;
    uint8_t state; /* item_state */
    /* Durable brokers only (zero otherwise): */
    uint64_t id;   /* its name in the log, unique in the log's life */
    int64_t key;   /* its place in its queue: the FIFO is in key order */
    store_pos rec; /* its live record (segment 0: none) */
    size_t len;
    unsigned char data[];
} item;

typedef struct item_fifo {
    item *head, *tail;
    size_t count, bytes;
} item_fifo;

typedef struct queue {
    char *name; /* NUL-terminated copy; name_len excludes the NUL */
    size_t name_len;
    int64_t maxsize;         /* 0: unbounded */
    uint32_t max_deliveries; /* past it, an item goes to NAME.dlq; 0: no limit */
    uint64_t dead_lettered;
    item_fifo items;
    list_link getters, putters, joiners, deliveries;
    size_t ngetters, nputters, njoiners, nleased;
    uint64_t unfinished, puts, gets;
    bool shutdown, shutdown_immediate;
    /* No put or create has made it: getters wait for it (Q2). Invisible to
     * every other request, and gone with its last getter. */
    bool placeholder;
    list_link dirty; /* in broker->dirty while it has wake-ups to serve */
    /* Durable brokers only: */
    int64_t head_key, tail_key; /* the keys the next return to the head / put take */
    store_pos rec;              /* its live state record (segment 0: none) */
    list_link state_changed;    /* in broker->state_changed: record it at the commit */
} queue;

typedef enum wait_kind { WAIT_GET, WAIT_PUT, WAIT_JOIN } wait_kind;

typedef struct session session;

typedef struct waiter {
    wait_kind kind;
    uint64_t req_id;
    session *session;
    queue *queue;
    list_link in_queue;
    list_link in_session;
    deadline_entry deadline;
    uint32_t max_items;     /* get */
    int64_t lease_ms;       /* get: > 0 takes the items on a lease */
    bool redelivered_alone; /* get: an item handed out before comes by itself */
    item_fifo items;        /* put: the items it waits to add */
    bool admit_each;        /* put: items may enter one by one as room appears */
} waiter;

typedef struct delivery {
    uint64_t tag;
    deadline_entry lease; /* in broker->leases when the item is on a lease */
    item *item;
    queue *queue;
    session *session;
    list_link in_session;
    list_link in_queue;
} delivery;

struct session {
    list_link waiters;
    list_link deliveries;
    uint64_t handle; /* the client handle's id, if it sent one (D8); 0: none */
    size_t id_len;
    unsigned char id[]; /* the routing id */
};

struct broker {
    broker_config cfg;
    broker_send_fn send;
    void *send_ctx;
    table queues;            /* name -> queue, placeholders (Q2) too */
    size_t nplaceholders;    /* queues that exist only for their getters */
    table sessions;          /* routing id -> session */
    deadline_heap deadlines; /* waiters' timeouts */
    deadline_heap leases;    /* leased deliveries' expiries */
    list_link dirty;
    uint64_t next_tag;
    uint64_t instance;
    int64_t started_us, now_us, next_probe_us;
    uint64_t requests, bad_requests, unroutable, disconnects;
    uint64_t clients; /* connections open now: lane ones and ZeroMQ peers */
    bool stopping;
    size_t total_items, total_bytes;
    size_t nwaiters;    /* blocked requests, for the memory estimate (limits.c) */
    arena decode;       /* the request being handled, decoded */
    unsigned char *out; /* reply encoding buffer */
    size_t out_cap;
    size_t transport_held; /* the transport's buffers (broker_transport_held) */
    /* Durable brokers only (journal.c): */
    store *store;      /* NULL: memory only */
    bool store_failed; /* a write or sync failed: no more changes (IPCQ_ESTORAGE) */
    bool replaying;    /* recovery: nothing is logged */
    /* The reply being sent acknowledges a change to the queue of this name
     * (NULL: none); the name lives as long as the request or the queue. */
    const char *answering_change;
    size_t answering_change_len;
    uint64_t next_item_id;
    list_link state_changed; /* queues whose state record is due */
    unsigned char *held;     /* the pass's replies, until its records are durable */
    size_t held_len, held_cap, nheld;
    int64_t commit_due_us;       /* commit by then even with nothing held */
    int64_t unanswered_since_us; /* the first record since the last commit; 0: none */
    unsigned char *scratch;      /* encoding and copying records */
    size_t scratch_cap;
};

/* item.c-like helpers live in queue.c */
item *item_new(const void *data, size_t len, int64_t now_us);
void item_fifo_push_tail(item_fifo *f, item *it);
void item_fifo_push_head(item_fifo *f, item *it);
item *item_fifo_pop_head(item_fifo *f);
void item_fifo_append(item_fifo *dst, item_fifo *src); /* moves all of src */
void item_fifo_free(item_fifo *f);
void item_free(item *it); /* every item is freed here, for the memory count */
/* Frees an item the broker is done with, forgetting its record (journal). */
void item_discard(broker *b, item *it);
void item_fifo_discard(broker *b, item_fifo *f);

/* queue.c */
queue *queue_new(const void *name, size_t name_len, int64_t maxsize);
void queue_free(queue *q); /* the queue must have no waiters or deliveries */
bool queue_has_room(const queue *q, size_t n);
/* Shut down, empty, and nothing out that could come back (after an
 * immediate shutdown nothing comes back): gets now fail. */
bool queue_drained(const queue *q);
void queue_add_items(broker *b, queue *q, item_fifo *items); /* accepted puts */
item *queue_take_head(broker *b, queue *q);
void queue_return_head(broker *b, queue *q, item *it); /* back to the head */
/* Back to the head, or past max-deliveries to NAME.dlq (D6). */
void queue_redeliver(broker *b, queue *q, item *it);
void queue_drop_items(broker *b, queue *q);
/* The queue of that name; NULL if none, or only a placeholder. */
queue *broker_find_queue(broker *b, const void *name, size_t len);
/* The same, placeholders included. */
queue *broker_lookup_queue(broker *b, const void *name, size_t len);
/* A new queue, or the placeholder of that name made a queue with maxsize;
 * NULL if out of memory. */
queue *broker_create_queue(broker *b, const void *name, size_t len, int64_t maxsize);
/* The queue a get waits on: the queue, or a placeholder for it (Q2). */
queue *broker_await_queue(broker *b, const void *name, size_t len);
void broker_delete_queue(broker *b, queue *q);

/* waiter.c */
waiter *waiter_new(broker *b, wait_kind kind, session *s, queue *q, uint64_t req_id,
                   int64_t deadline_us);
void waiter_detach(broker *b, waiter *w);
/* Unlinks and frees a waiter; frees its session if that was its last state. */
void waiter_end(broker *b, waiter *w);
/* Answers the waiter with status (and detail text) and ends it. */
void waiter_answer(broker *b, waiter *w, int status, const char *detail);
void waiter_answer_all(broker *b, list_link *waiters, int status, const char *detail);
enum { WAITING_GETTERS = 1, WAITING_PUTTERS = 2, WAITING_JOINERS = 4 };
/* Answers every waiter of these kinds on every queue; the caller has made
 * sure that no new request of them blocks. */
void waiter_answer_every_queue(broker *b, unsigned kinds, int status, const char *detail);

/* session.c */
session *session_get(broker *b, const void *id, size_t id_len, bool create);
void session_release_if_idle(broker *b, session *s);
/* The client went away: its waiters end unanswered, its deliveries return to
 * the head of their queues. Frees the session. */
void session_lost(broker *b, session *s);
/* Tracks it as handed to s; lease_ms > 0 puts it on a lease. */
bool session_deliver(broker *b, session *s, queue *q, item *it, int64_t lease_ms, uint64_t *tag);
/* The delivery of s with this tag, or NULL (gone back, acked, unknown). */
delivery *session_find_delivery(session *s, uint64_t tag);
/* The delivery with this tag held by a session other than own of the same
 * client handle (D8: each thread of a handle has its own connection), or
 * NULL; handle 0 matches none. */
delivery *session_find_handle_delivery(broker *b, const session *own, uint64_t handle,
                                       uint64_t tag);
/* The client is done with the item: it is gone for good. */
void delivery_done(broker *b, delivery *d);
/* The item goes back to the head of its queue, or, past the queue's
 * max-deliveries, to its dead-letter queue (D6). */
void delivery_return(broker *b, delivery *d);
/* Renews a lease to end lease_ms from now; false if out of memory. */
bool delivery_extend(broker *b, delivery *d, int64_t lease_ms);
void delivery_drop_all(broker *b, queue *q); /* queue deleted: items gone */
void session_probe_all(broker *b);

/* serve.c */
void broker_mark_dirty(broker *b, queue *q);
void broker_serve_dirty(broker *b);

/* dispatch.c */
void dispatch_request(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Request *msg);

/* limits.c: max name length, queues, waiters per queue, memory (B2) */
/* Checks a request against the limits before anything changes; answers and
 * returns false when one is reached. */
bool limits_admit(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Request *m,
                  int64_t timeout_ms);
size_t limits_item_cost(size_t len);
void limits_charge_item(size_t len);  /* item_new */
void limits_release_item(size_t len); /* item_free */
/* The memory the broker holds, estimated: items, waiters, queues, buffers. */
size_t limits_memory_held(const broker *b);

/* journal.c: the records of a durable broker; each is a no-op without a
 * store, and while recovering. */
void journal_put(broker *b, queue *q, item *it); /* it->key set: logs it, gives it an id */
void journal_handout(broker *b, item *it);       /* its delivery counted */
void journal_return(broker *b, item *it);        /* it->key set: back in its queue */
void journal_done(broker *b, item *it);          /* gone for good: acked, confirmed, moved */
void journal_forget(broker *b, item *it);        /* dropped with its queue: only its record goes */
void journal_queue_now(broker *b, queue *q);     /* logs q's state now */
void journal_queue_changed(broker *b, queue *q); /* logs q's state before the commit */
void journal_queue_deleted(broker *b, queue *q);
/* Keeps an encoded reply until the pass's records are durable; false when
 * it is to be sent now (memory only, or the log failed). */
bool journal_hold(broker *b, const void *peer, size_t peer_len, uint64_t id, int status,
                  const void *data, size_t len);
/* When broker_commit() is next due with nothing held (INT64_MAX: never). */
int64_t journal_next_commit_us(const broker *b);
void journal_close(broker *b);

/* reply.c */
/* Sends a reply to a peer; false if the peer is gone (counted as
 * unroutable). The caller decides what the failure means. */
bool reply_send(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Reply *r);
bool reply_send_status(broker *b, const void *peer, size_t peer_len, uint64_t id, int status,
                       const char *detail);
/* Sends at once, never held: a probe asks whether the peer is there now. */
bool reply_send_now(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Reply *r);

#endif
