/* The nats:// backend (backend.h, SPEC §9): a queue is a JetStream
 * stream with one shared durable pull consumer, whose taken items ipcq
 * deletes (nats_remove.c says why); docs/NATS.md
 * holds the mapping rule by rule. Its files:
 *
 * - nats_backend.c: the table of operations;
 * - nats_conn.c: the handle's connection (made on first use, made anew in a
 *   forked child) and libnats's statuses turned into ipcq's;
 * - nats_names.c: queue names to stream names and subjects;
 * - nats_queue.c: create, delete, bounds, dead-letter limit, stat, ping;
 * - nats_put.c: put, put_many, put_async and flush;
 * - nats_get.c: get, get_many, and fetching for leases (dead-lettering);
 * - nats_lease.c: the lease table and its keeper thread;
 * - nats_remove.c: deleting taken items from their stream, and sweeping
 *   those a lost delete left;
 * - nats_tasks.c: task_done, join, shutdown (a key-value bucket, and the
 *   stream moved off its subject).
 */
#ifndef IPCQ_CLIENT_NATS_INTERNAL_H
#define IPCQ_CLIENT_NATS_INTERNAL_H
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "wire.h"

#define NATS_CONSUMER "ipcq"  /* the durable pull consumer of every queue */
#define NATS_ACK_WAIT_MS 4000 /* how long a taken item stays out unconfirmed */
#define NATS_REQUEST_MS 5000  /* a call that does not wait: its JetStream budget */
#define NATS_STREAM_MAX 255   /* JetStream's longest stream name */
#define NATS_SUBJECT_PREFIX "ipcq.q."
#define NATS_SHUT_PREFIX "ipcq.x." /* a shut-down queue's stream: as long as the above */

typedef struct nats_sub nats_sub;
typedef struct nats_lease nats_lease;

/* What a handle keeps (its root's backend_state), shared by its sessions;
 * libnats's connection and JetStream context are thread-safe. */
typedef struct nats_state {
    pid_t pid;            /* the process that made it: a forked child makes its own */
    pthread_mutex_t lock; /* guards subs, leases, async_* */
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;    /* the tasks bucket (nats_tasks.c), bound on first use */
    nats_sub *subs; /* pull subscriptions, one per (session, queue) */
    /* leases (nats_lease.c) */
    nats_lease *leases;
    uint64_t next_lease;
    pthread_t keeper;
    pthread_cond_t keeper_wake;
    bool keeper_running, keeper_stop;
    /* async puts (nats_put.c): their context, whose limit of puts in flight
     * is the handle's window; the first failure not reported yet */
    jsCtx *put_ctx;
    size_t put_ctx_window;
    pthread_rwlock_t put_ctx_lock; /* written to make put_ctx anew */
    int async_status;
    bool async_no_stream; /* that failure was "no responders": shut down? */
    char async_error[512];
    char async_queue[IPCQ_NAME_MAX + 1]; /* the last queue an async put made sure of */
    _Atomic uint64_t msg_serial;         /* with msg_nonce, the de-duplication id of each put */
    uint64_t msg_nonce;
    _Atomic int64_t last_sweep_ms; /* nats_sweep's last look, nats_now_ms() */
} nats_state;

/* The handle's state, connected; made on first use (and again in a forked
 * child, which leaves its parent's alone). IPCQ_EUNAVAILABLE, with the
 * error text, when no server answers. */
int nats_state_get(ipcq_client *s, nats_state **out);
/* Lets go of the handle's state (the backend's close). */
void nats_state_close(ipcq_client *root);

/* Records on session s the failure of a libnats call on queue (NULL: none)
 * and returns its ipcq status: no server, or no answer in time, is
 * IPCQ_EUNAVAILABLE; JetStream's "stream not found" IPCQ_ENOQUEUE;
 * "maximum messages exceeded" IPCQ_FULL; too large IPCQ_ETOOBIG. */
int nats_fail(ipcq_client *s, const char *queue, natsStatus st, jsErrCode jerr);
/* True for the statuses that mean "no server now" (retry within the deadline). */
bool nats_transient(natsStatus st);

/* Monotonic milliseconds, and the deadline of a timeout (IPCQ_FOREVER: INT64_MAX). */
int64_t nats_now_ms(void);
int64_t nats_deadline(int64_t timeout_ms);
/* Sleeps ms, but not past deadline. */
void nats_nap(int64_t ms, int64_t deadline);

/* The stream of queue (at least NATS_STREAM_MAX + 1 bytes) and its subject
 * (at least NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX bytes). */
void nats_stream_name(const char *queue, char *stream);
void nats_subject(const char *queue, char *subject);
/* True if stream is one of ipcq's. */
bool nats_is_queue_stream(const char *stream);

/* Creates queue if it does not exist: a stream with maxsize
 * (<= 0: unbounded) and its consumer. exists_ok: a queue there with
 * another bound is fine (a put); else it is IPCQ_ECONFLICT (create). */
int nats_queue_ensure(ipcq_client *s, nats_state *st, const char *queue, int64_t maxsize,
                      bool exists_ok);
/* The queue's dead-letter limit (0: none), kept in its consumer's
 * description; IPCQ_ENOQUEUE if there is no such queue. */
int nats_max_deliveries(ipcq_client *s, nats_state *st, const char *queue, uint32_t *max);

/* What task_done, join and shutdown look at: the queue's stream's creation
 * time, the puts it accepted (its last sequence), and whether it is shut
 * down. */
typedef struct nats_look {
    int64_t created;
    uint64_t puts;
    bool shut;
} nats_look;

/* The items of a stream not handed out yet (qsize): the messages past the
 * last one its consumer delivered, by the stream's leader's last sequence
 * (the consumer's own NumPending comes from its leader's copy of the
 * stream, which may not have the latest put yet), and no more than the
 * stream holds (a purge); the stream's count without ci. Taken items are
 * all at or before the consumer's position, so their messages, deleted or
 * not yet, do not count. */
uint64_t nats_items_waiting(const jsStreamInfo *si, const jsConsumerInfo *ci);
/* Looks at queue: IPCQ_OK, IPCQ_ENOQUEUE, or another failure (nats_tasks.c). */
int nats_queue_look(ipcq_client *s, nats_state *st, const char *queue, nats_look *out);
/* The subject a shut-down queue's stream moves to (as nats_subject's). */
void nats_shut_subject(const char *queue, char *subject);
/* True if the stream of si is a shut-down queue's. */
bool nats_stream_is_shut(const jsStreamInfo *si);
/* The tasks done on queue (its stream made at created). */
int nats_tasks_done(ipcq_client *s, nats_state *st, const char *queue, int64_t created,
                    uint64_t *done);
/* Counts an item of queue moved to its dead-letter queue as a task done. */
void nats_dead_lettered(ipcq_client *s, nats_state *st, const char *queue);
/* Makes the tasks bucket if there is none (a queue is made). */
void nats_tasks_prepare(ipcq_client *s, nats_state *st);
/* Forgets the tasks done on queue (deleted). */
void nats_tasks_forget(ipcq_client *s, nats_state *st, const char *queue);

/* Publishes one item to queue and waits for JetStream's answer, retrying a
 * full queue or an absent server until deadline (nats_put.c). */
int nats_publish(ipcq_client *s, nats_state *st, const char *queue, const void *data, size_t len,
                 int64_t deadline, bool create);

/* Waits up to timeout_ms for the answers to every async put in flight. */
natsStatus nats_puts_answered(nats_state *st, int64_t timeout_ms);

/* libnats calls this, from its own thread, for each async put that failed:
 * one refused by a full queue is sent again; the first other failure is
 * kept for flush or the next put_async (closure: the state). */
void nats_async_failed(jsCtx *js, jsPubAckErr *pae, void *closure);

/* Takes up to max items of queue, waiting until deadline for the first:
 * msgs[0..*got) are the messages, not yet acknowledged, items past the
 * queue's dead-letter limit already moved to QUEUE.dlq (nats_get.c);
 * *used (if not NULL): the subscription that took them. */
int nats_fetch(ipcq_client *s, nats_state *st, const char *queue, size_t max, int64_t timeout_ms,
               natsMsg **msgs, size_t *got, nats_sub **used);
/* The handle's state (*st), and nats_fetch() of up to max items into *msgs
 * (free() it), waiting only for the first: how a batch get starts. */
int nats_fetch_batch(ipcq_client *c, const char *queue, size_t max, int64_t timeout_ms,
                     nats_state **st, natsMsg ***msgs, size_t *got, nats_sub **used);
/* Copies a message's bytes into a buffer for ipcq_free(). */
int nats_copy_item(ipcq_client *s, const char *queue, natsMsg *m, void **data, size_t *len);
/* How many times message m was handed out, this time included. */
uint32_t nats_deliveries(natsMsg *m);
/* Acknowledges m, and if remove deletes it from its stream
 * (nats_remove_taken): the last of a batch waits for JetStream's answer to
 * the ack (AckSync), the others do not (their acks leave first, on the same
 * connection, and are taken in order). */
natsStatus nats_ack_in_order(nats_state *st, natsMsg *m, bool last, bool remove);
/* Deletes m, taken and acknowledged, from its stream; sent without waiting
 * for the answer (nats_remove.c). */
void nats_remove_taken(nats_state *st, natsMsg *m);
/* A put found a queue full: purges its stream below the consumer's ack
 * floor (acknowledged messages not deleted yet), at most every so often. */
void nats_sweep(nats_state *st, const char *stream);
/* A getter's housekeeping, every so often: the same purge, and whether the
 * stream is bounded (its items then deleted one by one as they are taken);
 * *bounded is left as it was if the stream does not answer. */
void nats_tidy(nats_state *st, const char *stream, bool *bounded);
/* Frees the subscriptions of the state (close). */
void nats_subs_free(nats_state *st);

/* Leases (nats_lease.c): takes m on a lease of lease_ms and returns its id. */
int nats_lease_add(ipcq_client *s, nats_state *st, natsMsg *m, int64_t lease_ms, uint64_t *id);
/* Hands back every lease still held and stops the keeper (close). */
void nats_leases_free(nats_state *st);

/* The backend's operations, as backend.h declares them. */
int nats_put(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms);
int nats_put_many(ipcq_client *c, const char *queue, size_t n, const void *const *items,
                  const size_t *lens, int64_t timeout_ms);
int nats_put_async(ipcq_client *c, const char *queue, const void *data, size_t len);
int nats_flush(ipcq_client *c, int64_t timeout_ms);
int nats_set_put_window(ipcq_client *c, size_t window);
int nats_get(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms);
int nats_get_many(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
                  size_t *got, int64_t timeout_ms);
int nats_create(ipcq_client *c, const char *queue, int64_t maxsize);
int nats_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize);
int nats_set_max_deliveries(ipcq_client *c, const char *queue, uint32_t max_deliveries);
int nats_delete(ipcq_client *c, const char *queue);
int nats_ping(ipcq_client *c);
int nats_task_done(ipcq_client *c, const char *queue);
int nats_join(ipcq_client *c, const char *queue, int64_t timeout_ms);
int nats_shutdown(ipcq_client *c, const char *queue, bool immediate);
int nats_stat(ipcq_client *c, const char *queue, ipcq_stats **out);
int nats_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                    uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms);
int nats_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max,
                         void **items, size_t *lens, uint64_t *leases, size_t *got,
                         int64_t timeout_ms);
int nats_ack(ipcq_client *c, uint64_t lease);
int nats_ack_many(ipcq_client *c, size_t n, const uint64_t *leases);
int nats_release(ipcq_client *c, uint64_t lease);
int nats_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms);

#endif
