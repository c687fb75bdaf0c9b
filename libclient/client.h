/* The client handle and its one request/reply engine, shared by the API
 * files (ops.c, stats.c). */
#ifndef IPCQ_CLIENT_INTERNAL_H
#define IPCQ_CLIENT_INTERNAL_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcq.h"
#include "ipcq.pb-c.h"

typedef struct client_prefetch client_prefetch;
typedef struct client_batch client_batch;

/* An async put request in flight and how many items it carries. */
typedef struct inflight_put {
    uint64_t id;
    size_t items;
} inflight_put;

struct client_thread;

/* A session: one thread's use of a handle (thread_session.c, D8). The
 * handle the user opened is the root session; every other thread that
 * calls on it gets a session of its own, so each has its own connection. */
struct ipcq_client {
    /* Held by every call that uses the socket or the batch; besides the
     * owner thread, only the batch's flusher thread takes it (and any
     * thread, if memory ran out for a session of its own). */
    pthread_mutex_t lock;
    ipcq_client *root;                     /* the handle the user opened */
    ipcq_client *next_session;             /* root: the other sessions */
    _Atomic(struct client_thread *) owner; /* the thread using it; NULL: free */
    ipcq_client *next_owned;               /* in the owner thread's list */
    uint64_t serial;                       /* root: unique, tells a reused address apart */
    uint64_t nonce;                        /* root: with the pid, the handle's id on the wire */
    /* root: the settings sessions opened later start with */
    _Atomic size_t default_window, default_prefetch;
    _Atomic int64_t default_prefetch_lease_ms;
    char *endpoint;
    pid_t pid;                             /* the process that owns conn */
    const struct client_backend *backend;  /* chosen by the endpoint's scheme (backend.h) */
    void *backend_state;                   /* root: what a backend other than the broker keeps */
    const struct transport_ops *transport; /* chosen by the endpoint's scheme */
    struct transport_conn *conn;           /* NULL until first use in this process */
    uint64_t next_id;
    uint64_t confirm_id;      /* the last one-way CONFIRM sent */
    uint64_t answered_id;     /* the highest request id answered */
    uint64_t broker_max_item; /* learned by ping; 0 until known on this connection */
    int64_t last_reply_us;    /* when the last reply came (transports with hung_up) */
    inflight_put *inflight;   /* async put requests not answered yet */
    size_t ninflight, inflight_cap;
    size_t inflight_items;     /* the items they carry */
    size_t window;             /* at most this many async put items unanswered */
    client_batch *batch;       /* async puts not sent yet (put_batch.c); NULL: none yet */
    int async_status;          /* first failure of an async put not reported yet */
    client_prefetch *prefetch; /* NULL unless ipcq_set_prefetch turned it on */
    bool redelivered_alone;    /* batch gets ask for items handed out before by
                                  themselves (a pool worker's handle, D6) */
    char async_error[512];
    char error[512];
};

/* Sends req (its version and id are filled in here) and waits for the reply
 * to it. wait_ms is how long the broker may keep the request waiting
 * (IPCQ_FOREVER, 0 or a bound); the client adds a grace for the round trip
 * and, while waiting, checks with heartbeats that the broker is alive and
 * still holds the request. On IPCQ_OK *reply holds the broker's answer,
 * whatever its status; free it with ipcqwire__reply__free_unpacked(). */
int client_call(ipcq_client *c, Ipcqwire__Request *req, int64_t wait_ms, Ipcqwire__Reply **reply);

/* The calling thread's session of handle c (c itself for the thread that
 * owns it; made or adopted on a thread's first call), or NULL for NULL.
 * Every public call starts here. */
ipcq_client *client_session(ipcq_client *c);
/* The calling thread's session of c if it has one, else NULL; never makes one. */
const ipcq_client *client_session_found(const ipcq_client *c);
/* Makes root the first session of a new handle, owned by the calling thread. */
int client_threads_init_root(ipcq_client *root);
/* A new session of root with root's endpoint and settings (client.c). */
ipcq_client *client_session_new(ipcq_client *root);
/* Unlinks every session of root from its thread and returns the list of
 * those other than root (linked by next_session), for close. */
ipcq_client *client_sessions_detach(ipcq_client *root);
/* The handle's id sent with lease requests: sessions of one handle in one
 * process share it, so that any of them may settle another's leases. */
uint64_t client_handle_id(const ipcq_client *c);
/* Turns prefetch on (max > 1) or off for session c (prefetch.c). */
int client_prefetch_setup(ipcq_client *c, size_t max, int64_t lease_ms);

/* This process's pid, without a system call (refreshed after fork()). */
pid_t client_process_pid(void);

/* Takes and gives back the handle's lock (recursive). In a process that
 * inherited the handle through fork(), taking it first drops the parent's
 * state, lock included. */
void client_lock(ipcq_client *c);
void client_unlock(ipcq_client *c);

/* Connects the handle in this process if it is not yet; a handle inherited
 * through fork() first drops the parent's state (its batch, prefetch and
 * puts in flight belong to the parent). */
int client_connect(ipcq_client *c);

/* Closes the handle's connection (and stops its transport's threads, if
 * any) but keeps the handle: the next call reconnects. Called before the
 * library forks. */
void client_disconnect(ipcq_client *c);

/* Checks what every call on a queue checks: the name (Q1) and the timeout
 * (queue NULL: the timeout only); on failure records the error text. */
int client_check_args(ipcq_client *c, const char *queue, int64_t timeout_ms);

/* Closes every session of the handle and frees it (what ipcq_client_close
 * does once the backend let go of its own state). */
void client_handle_close(ipcq_client **cp);

/* A snapshot of count queue rows, all fields 0 and the broker's -1, for a
 * backend other than the broker to fill (stats.c); NULL if out of memory. */
ipcq_stats *client_stats_new(size_t count);
/* Names row i and sets its field f, or the broker's field f. */
void client_stats_name(ipcq_stats *s, size_t i, const char *name);
void client_stats_set(ipcq_stats *s, size_t i, ipcq_queue_field f, int64_t value);
void client_stats_set_broker(ipcq_stats *s, ipcq_broker_field f, int64_t value);

/* Starts a request of type op on queue (NULL: none): checks the handle, the
 * name (Q1) and the timeout, and clears the handle's error text. */
int client_begin(ipcq_client *c, Ipcqwire__Request *req, Ipcqwire__Op op, const char *queue,
                 int64_t timeout_ms);

/* Sends req through client_call() and turns the reply's status into the
 * result, recording the error text. On IPCQ_OK with out != NULL the reply
 * is handed to the caller. */
int client_finish(ipcq_client *c, Ipcqwire__Request *req, const char *queue, int64_t wait_ms,
                  Ipcqwire__Reply **out);

/* Gets one item (lease_ms > 0: on a lease, else confirmed at once, D1) into
 * a buffer the caller frees with ipcq_free(); tag and deliveries may be NULL. */
int client_get_one(ipcq_client *c, const char *queue, int64_t lease_ms, int64_t timeout_ms,
                   void **data, size_t *len, uint64_t *tag, uint32_t *deliveries);

/* Sends req, a put of nitems items, without waiting for its answer. The
 * caller has made room in the window (client_await_window). */
int client_send_async(ipcq_client *c, Ipcqwire__Request *req, size_t nitems);

/* Waits until at most target async put items are unanswered. */
int client_await_window(ipcq_client *c, size_t target);

/* Settles the answers to async puts that have already arrived; never waits. */
void client_settle_arrived(ipcq_client *c);

/* Appends one item to the handle's batch of async puts, sending the batch
 * when it is full or the pipe to the broker is idle (put_batch.c). */
int client_batch_put(ipcq_client *c, const char *queue, const void *data, size_t len);
/* Sends the batch, if any items wait in it. */
int client_batch_send(ipcq_client *c);
/* Stops the batch's flusher thread, if it runs; called unlocked, by close. */
void client_batch_stop(ipcq_client *c);
/* Frees the batch; its items are dropped unsent (an inherited handle, or
 * after client_batch_stop). */
void client_batch_free(ipcq_client *c);

/* Reports (and forgets) the first failure of an async put, if any: the
 * handle's error text says what failed. IPCQ_OK when there was none. */
int client_take_async_error(ipcq_client *c);

/* ipcq_get with prefetch on (prefetch.c). */
int client_prefetch_get(ipcq_client *c, const char *queue, int64_t timeout_ms, void **data,
                        size_t *len);
/* Hands the buffered items back and turns prefetch off. */
void client_prefetch_free(ipcq_client *c);

/* Gets up to max items of queue, blocking only for the first, each copied
 * into a buffer of its own (items[i], lens[i]; tags[i] and deliveries[i]
 * unless NULL). lease_ms > 0 takes them on a lease; else they are
 * confirmed (D1). */
int client_get_batch(ipcq_client *c, const char *queue, size_t max, int64_t lease_ms,
                     int64_t timeout_ms, void **items, size_t *lens, uint64_t *tags,
                     uint32_t *deliveries, size_t *got);

/* Sends a one-way CONFIRM (done with them) or RELEASE (back to the head)
 * of n delivery tags or leases; best effort. */
void client_send_tags(ipcq_client *c, Ipcqwire__Op op, uint64_t *tags, size_t n);

/* The same for the delivery tags of the items of reply r. */
void client_send_item_tags(ipcq_client *c, Ipcqwire__Op op, const Ipcqwire__Reply *r);

/* Sends a one-way request (confirm, release, cancel); best effort. */
void client_send_oneway(ipcq_client *c, Ipcqwire__Request *req);

/* Hands the items of a reply back to the head of their queue: they came
 * for a call that already returned, or that cannot use them. */
void client_release_items(ipcq_client *c, const Ipcqwire__Reply *r);

/* Records the error text for status on queue (NULL: none) and returns status. */
int client_fail(ipcq_client *c, const char *queue, int status, const char *detail);

#endif
