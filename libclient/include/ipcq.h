/*
 * ipcq.h — the whole public surface of libipcq.
 *
 * ipcq gives every process on a machine named, bounded FIFO queues hosted by
 * a broker (ipcqd), with the put/get rules of Python's queue.Queue: block,
 * timeout and nowait, Full and Empty, task_done and join, shutdown.
 *
 *   ipcq_client *c;
 *   if (ipcq_client_open(&c, NULL) != IPCQ_OK) ...      // default endpoint
 *   ipcq_put(c, "jobs", "hello", 5, IPCQ_FOREVER);
 *   void *item; size_t len;
 *   if (ipcq_get(c, "jobs", &item, &len, 1000) == IPCQ_OK) { ...; ipcq_free(item); }
 *   ipcq_client_close(&c);
 *
 * Conventions:
 * - Every fallible call returns an ipcq_status; ipcq_strerror() names it and
 *   ipcq_client_error() gives the one-line detail of the calling thread's
 *   last error on the handle.
 * - Timeouts are milliseconds: IPCQ_FOREVER, IPCQ_NOWAIT or a positive bound;
 *   any other negative value is IPCQ_EINVAL.
 * - A count comes before the array it counts (n, items); a text buffer is
 *   followed by its capacity, as snprintf's.
 * - Constructors fill an out parameter and return a status; destructors
 *   (ipcq_client_close, ipcq_broker_stop, ipcq_pool_free, ipcq_stats_free,
 *   ipcq_pool_task_free) take the handle's address and set it to NULL.
 *
 * Threads (SPEC D8): any number of threads may call on one handle at once.
 * Each thread that uses a handle gets a connection of its own on its first
 * call, so one thread blocked in ipcq_get() never delays another's call;
 * a thread's calls keep their order, its error text is its own, and so are
 * its async puts, window and prefetch buffer. A lease taken in one thread
 * may be acked, extended or released in another. When a thread ends, its
 * connection stays open for the next thread that starts using the handle;
 * all are closed by ipcq_client_close(), which must not race with calls.
 * Each thread's connection that has made an async put runs a flusher thread
 * until the handle is closed (see ipcq_put_async).
 *
 * fork(): a handle inherited through fork() works in the child, which opens
 * a connection of its own on first use and never touches the parent's
 * (SPEC D4). The child inherits no prefetched items, no async puts in
 * flight and no leases (leases belong to the connection that took them).
 * A process that exits without closing its handle does not hang.
 */
#ifndef IPCQ_H
#define IPCQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPCQ_VERSION_MAJOR 0
#define IPCQ_VERSION_MINOR 1
#define IPCQ_VERSION_PATCH 0

#if defined(IPCQ_BUILDING_LIBRARY)
#define IPCQ_API __attribute__((visibility("default")))
#else
#define IPCQ_API
#endif

/* Timeouts, in milliseconds. */
#define IPCQ_FOREVER ((int64_t)-1)
#define IPCQ_NOWAIT ((int64_t)0)

/* The environment variable that names the broker endpoint for clients. */
#define IPCQ_BROKER_ENV "IPCQ_BROKER"
/* On a unix:// endpoint a call that waits for the broker first looks for
 * the answer, yielding the processor between looks, for up to this many
 * microseconds (default 50, 0 turns it off; read once per process) before
 * it sleeps: waking a sleeping process costs more than a strict round trip
 * on a small virtual machine. */
#define IPCQ_SPIN_ENV "IPCQ_SPIN_US"

typedef enum ipcq_status {
    IPCQ_OK = 0,
    IPCQ_EMPTY = 1,         /* get: nothing arrived in time */
    IPCQ_FULL = 2,          /* put: no room in time */
    IPCQ_ETIMEDOUT = 3,     /* join, flush, pool waits: work still unfinished at the timeout */
    IPCQ_EINVAL = 4,        /* invalid argument: name, timeout, size */
    IPCQ_ENOQUEUE = 5,      /* no such queue */
    IPCQ_ECONFLICT = 6,     /* the queue exists with a different maxsize */
    IPCQ_EDELETED = 7,      /* the queue was deleted while the call waited */
    IPCQ_ESHUTDOWN = 8,     /* the queue is shut down */
    IPCQ_ETASKDONE = 9,     /* task_done() called too many times */
    IPCQ_ETOOBIG = 10,      /* item over the broker's max item size */
    IPCQ_EUNAVAILABLE = 11, /* broker unavailable: unreachable, or went away */
    IPCQ_ESTOPPING = 12,    /* the broker is shutting down */
    IPCQ_EPROTO = 13,       /* malformed or unexpected message */
    IPCQ_EVERSION = 14,     /* wire protocol version not supported */
    IPCQ_ENOMEM = 15,       /* out of memory */
    IPCQ_ESYSTEM = 16,      /* an operating-system call failed */
    IPCQ_ELEASE = 17,       /* the lease is not held: it expired, or was acked or released */
    IPCQ_ETASK = 18,        /* a pool task failed: its function said so, or it killed its workers */
    IPCQ_EMEMLIMIT = 19,    /* put: the broker is over its memory limit (ipcqd --max-memory) */
    IPCQ_ELIMIT = 20,       /* a broker limit was reached: max queues, max blocked waiters */
    IPCQ_EACCESS = 21,      /* permission denied: the broker's socket is not open to this user */
    /* A durable broker's log (ipcqd --data-dir) failed to write or sync: it
     * takes no more changes (puts, creates, ...) until it is restarted, and
     * still serves gets; nothing it acknowledged before is lost (SPEC D5). */
    IPCQ_ESTORAGE = 22,
    /* The endpoint's backend cannot serve this call as SPEC says (a nats://
     * endpoint: JetStream has no equivalent, docs/NATS.md; or a library
     * built without libnats); ipcq_client_error() says which call and why. */
    IPCQ_ENOTSUP = 23,
} ipcq_status;

/* A string literal naming the status ("queue is empty", ...); never NULL. */
IPCQ_API const char *ipcq_strerror(ipcq_status status);

/* "MAJOR.MINOR.PATCH" of the library that is running. */
IPCQ_API const char *ipcq_version(void);

/*
 * Who may connect (SPEC B3). A local socket (unix://, ipc://) is open to its
 * owner only, or to a group the broker names (ipcqd --group); another user's
 * calls fail with IPCQ_EACCESS. A TCP endpoint of a broker started with
 * --curve-key is reached with CURVE: the client encrypts to the broker's
 * public key and proves its own key pair, which must be among the broker's
 * --allowed-keys.
 * A handle reads both from the environment when it connects: the broker's
 * public key (its .pub file, or the key itself) and the client's key pair
 * file. Without the client's key pair it uses an anonymous one, which the
 * broker refuses. A refused client (a key the broker does not allow, an
 * anonymous one, no CURVE where the broker wants it) gets IPCQ_EACCESS,
 * its error text saying which, as soon as the handshake fails; an absent
 * broker is IPCQ_EUNAVAILABLE. Local endpoints ignore both.
 */
#define IPCQ_CURVE_SERVER_ENV "IPCQ_CURVE_SERVER"
#define IPCQ_CURVE_KEY_ENV "IPCQ_CURVE_KEY"

/* Writes a new CURVE key pair: PREFIX.key (both halves, mode 0600) and
 * PREFIX.pub (the public half, for the other side), never over existing
 * files. On failure why (may be NULL) gets one line saying what failed. */
IPCQ_API ipcq_status ipcq_curve_keygen(const char *prefix, char *why, size_t why_cap);

/* The endpoint a client uses when given none: $IPCQ_BROKER if set, else the
 * default of SPEC §1, the broker's unix:// lane in a per-user directory:
 * unix://$XDG_RUNTIME_DIR/ipcq/broker.sock, or without $XDG_RUNTIME_DIR
 * unix:///tmp/ipcq-$UID/broker.sock (where ipcqd with no --bind listens).
 * Writes at most cap bytes (NUL included) and returns IPCQ_EINVAL, writing
 * nothing, if it does not fit. */
IPCQ_API ipcq_status ipcq_default_endpoint(char *buf, size_t cap);

typedef struct ipcq_client ipcq_client;

/* Opens a handle on the broker at endpoint (NULL: ipcq_default_endpoint()).
 * Connecting is lazy: an absent broker shows as IPCQ_EUNAVAILABLE from the
 * first call, not here. On error *out is NULL. */
IPCQ_API ipcq_status ipcq_client_open(ipcq_client **out, const char *endpoint);

/* Closes the handle and sets *c to NULL; NULL or *c == NULL is a no-op.
 * Waits at most a short linger for unsent confirmations. */
IPCQ_API void ipcq_client_close(ipcq_client **c);

/* One line saying what the calling thread's last failed call on the handle
 * failed on and why ("jobs: queue is full"); "" after a success, or if this
 * thread made no call on it. Valid until the thread's next call. */
IPCQ_API const char *ipcq_client_error(const ipcq_client *c);

/* Puts one item; borrows data[0..len). The queue is created, unbounded, if it
 * does not exist. IPCQ_FULL when there was no room within timeout_ms. */
IPCQ_API ipcq_status ipcq_put(ipcq_client *c, const char *queue, const void *data, size_t len,
                              int64_t timeout_ms);

/* Gets one item. On IPCQ_OK *data is a buffer the library allocated (free it
 * with ipcq_free(); a 0-byte item still gives a non-NULL buffer) and *len its
 * length; on error *data is NULL and *len 0. A queue that does not exist is
 * waited for as an empty one, not created (SPEC Q2). IPCQ_EMPTY when nothing
 * arrived within timeout_ms. */
IPCQ_API ipcq_status ipcq_get(ipcq_client *c, const char *queue, void **data, size_t *len,
                              int64_t timeout_ms);

/* Puts n (>= 1) items in one request, accepted all together in order (or
 * none: on a bounded queue it waits for room for all n; n over maxsize is
 * IPCQ_EINVAL). Borrows items[i][0..lens[i]). */
IPCQ_API ipcq_status ipcq_put_many(ipcq_client *c, const char *queue, size_t n,
                                   const void *const *items, const size_t *lens,
                                   int64_t timeout_ms);

/* Gets up to max (>= 1) items in one request, blocking (by the usual timeout
 * rules) only for the first: *got items are stored in items[0..*got) and
 * lens[0..*got), each freed with ipcq_free(). IPCQ_EMPTY with *got 0 when
 * none arrived in time. */
IPCQ_API ipcq_status ipcq_get_many(ipcq_client *c, const char *queue, size_t max, void **items,
                                   size_t *lens, size_t *got, int64_t timeout_ms);

/* Puts one item without waiting for the broker's answer, as Python's
 * multiprocessing.Queue.put returns before the item reaches the pipe: up to
 * a window of puts (ipcq_set_put_window, default 256) stay in flight, and
 * when it is full this call waits for the oldest answers. Puts wait for room
 * as IPCQ_FOREVER does, in order. A put that fails is reported, with its
 * error text, by ipcq_flush() or else by the next call on the handle;
 * ipcq_client_close() flushes first. Copies data before it returns. The
 * first async put starts the handle's flusher thread, which sends a batch
 * left waiting 1 ms, so that no item waits for the caller's next call. */
IPCQ_API ipcq_status ipcq_put_async(ipcq_client *c, const char *queue, const void *data,
                                    size_t len);

/* Waits until every async put the calling thread made on the handle was
 * answered (another thread's are its own to flush; close flushes all);
 * returns the first failure among
 * them (IPCQ_OK if none), IPCQ_ETIMEDOUT if some still wait (for room) when
 * timeout_ms passes, or IPCQ_EUNAVAILABLE if the broker went away. */
IPCQ_API ipcq_status ipcq_flush(ipcq_client *c, int64_t timeout_ms);

/* How many async puts may be in flight at once (1 to 65536), for the calling
 * thread and threads that start using the handle after this call. */
IPCQ_API ipcq_status ipcq_set_put_window(ipcq_client *c, size_t window);

/* Consumer prefetch, opt-in: with max > 1 (at most 65536), ipcq_get() takes up to max
 * items of a queue in one request, on a lease of lease_ms (> 0), and hands
 * them out one per call; each is confirmed as it is handed over. Buffered
 * items are reserved for this handle (other getters do not see them) but
 * stay safe: they return to the head of their queue if the process dies or
 * the lease runs out, and are handed back at once on close, on a get from
 * another queue, or when prefetch is turned off (max <= 1). The setting
 * applies to the calling thread and threads that start using the handle
 * after this call; each has a buffer of its own. A child forked with a
 * handle inherits neither the buffer nor the setting. */
IPCQ_API ipcq_status ipcq_set_prefetch(ipcq_client *c, size_t max, int64_t lease_ms);

/* Frees what ipcq_get() returned. NULL is a no-op. */
IPCQ_API void ipcq_free(void *p);

/* Creates a queue with this bound (<= 0: unbounded). Creating a queue that
 * exists with the same bound is IPCQ_OK; with another, IPCQ_ECONFLICT. A
 * get on a queue that does not exist waits for it without creating it, so
 * a producer may create it after its consumers started (SPEC Q2). */
IPCQ_API ipcq_status ipcq_create(ipcq_client *c, const char *queue, int64_t maxsize);

/* Changes the bound of a queue that exists (<= 0: unbounded), as Python's
 * q.maxsize = n: a larger bound admits waiting putters at once; a smaller
 * one keeps every item, and puts wait until the queue is below it.
 * IPCQ_ENOQUEUE if there is no such queue. */
IPCQ_API ipcq_status ipcq_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize);

/* Deletes a queue and its items; everyone blocked on it gets IPCQ_EDELETED. */
IPCQ_API ipcq_status ipcq_delete(ipcq_client *c, const char *queue);

/* Marks one task done (Python's task_done); IPCQ_ETASKDONE if none is open. */
IPCQ_API ipcq_status ipcq_task_done(ipcq_client *c, const char *queue);

/* Waits until every put item was marked done; IPCQ_ETIMEDOUT if the timeout
 * passed first. */
IPCQ_API ipcq_status ipcq_join(ipcq_client *c, const char *queue, int64_t timeout_ms);

/* Shuts the queue down (Python 3.13 Queue.shutdown): puts fail with
 * IPCQ_ESHUTDOWN; gets drain what is left, then fail; with immediate the
 * items are dropped (each counted as done) and gets fail at once. */
IPCQ_API ipcq_status ipcq_shutdown(ipcq_client *c, const char *queue, bool immediate);

/* Exact figures, as of the broker's state when it answered. */
IPCQ_API ipcq_status ipcq_qsize(ipcq_client *c, const char *queue, size_t *size);
IPCQ_API ipcq_status ipcq_empty(ipcq_client *c, const char *queue, bool *empty);
IPCQ_API ipcq_status ipcq_full(ipcq_client *c, const char *queue, bool *full);

/* A round trip to the broker: IPCQ_OK when it answers. */
IPCQ_API ipcq_status ipcq_ping(ipcq_client *c);

/*
 * Leases (explicit acknowledgement) for work that must survive a worker's
 * death. An item taken on a lease stays out of the queue while the lease
 * runs; ipcq_ack() removes it for good, ipcq_release() puts it back at the
 * head, ipcq_extend() renews the lease. If the lease runs out, or the
 * client dies, the item returns to the head of its queue with its delivery
 * count raised; an item delivered more than the queue's max-deliveries
 * times goes to the dead-letter queue "QUEUE.dlq" instead.
 */

/* The default limit of deliveries of an item before it is dead-lettered. */
#define IPCQ_DEFAULT_MAX_DELIVERIES 10

/* Gets one item on a lease of lease_ms (> 0). On IPCQ_OK, *data and *len as for
 * ipcq_get(), *lease identifies the lease (for ack, release, extend) and
 * *deliveries (may be NULL) is how many times the item was handed out,
 * this time included. On error the outputs are NULL/0. */
IPCQ_API ipcq_status ipcq_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms,
                                     void **data, size_t *len, uint64_t *lease,
                                     uint32_t *deliveries, int64_t timeout_ms);

/* Up to max items on leases of lease_ms (> 0) in one request, blocking only
 * for the first (timeout_ms as for ipcq_get()): items[i] (free each with
 * ipcq_free()), lens[i] and leases[i] for i < *got. */
IPCQ_API ipcq_status ipcq_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms,
                                          size_t max, void **items, size_t *lens, uint64_t *leases,
                                          size_t *got, int64_t timeout_ms);

/* The work is done: the item is gone for good. IPCQ_ELEASE if the lease is
 * no longer held (it ran out and the item went back): nothing is counted
 * twice. Leases belong to the connection that took them: a forked child
 * cannot ack its parent's. */
IPCQ_API ipcq_status ipcq_ack(ipcq_client *c, uint64_t lease);

/* Acks n leases in one request. IPCQ_ELEASE if any of them was no longer
 * held (the error text says how many); the others are acked all the same. */
IPCQ_API ipcq_status ipcq_ack_many(ipcq_client *c, size_t n, const uint64_t *leases);

/* Hands the item back to the head of its queue now. */
IPCQ_API ipcq_status ipcq_release(ipcq_client *c, uint64_t lease);

/* Renews the lease: it now runs out lease_ms (> 0) from now. */
IPCQ_API ipcq_status ipcq_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms);

/* Sets how many deliveries an item of queue may have before it goes to the
 * dead-letter queue; 0 means no limit. */
IPCQ_API ipcq_status ipcq_set_max_deliveries(ipcq_client *c, const char *queue,
                                             uint32_t max_deliveries);

/*
 * A private broker, as Python's Manager() starts a server process: a broker
 * process of the caller's own (forked, not exec'd) on a fresh unix://
 * endpoint (the native lane; ZeroMQ's ipc:// if asked) in a private
 * temporary directory, stopped by ipcq_broker_stop() — or by the death of
 * its starter. Contracts:
 * - It dies with the *thread* that started it (Linux's PR_SET_PDEATHSIG
 *   follows the forking thread): start it from a thread that lives as long
 *   as the broker is needed, typically the main thread.
 * - The starter reaps it. A caller that ignores SIGCHLD (SIG_IGN) or reaps
 *   with waitpid(-1, ...) takes its exit status away: ipcq_broker_stop()
 *   then reports IPCQ_ESYSTEM (and never signals a pid that may have been
 *   reused).
 * - Only the process that started it stops it: in a forked child,
 *   ipcq_broker_stop() frees the inherited handle, leaves the broker alone
 *   and returns IPCQ_EINVAL.
 * - It shares the caller's process group, so Ctrl-C stops it with the caller.
 */
typedef struct ipcq_broker ipcq_broker;

/* Starts the broker and waits until it answers. On error *out is NULL. */
IPCQ_API ipcq_status ipcq_broker_start(ipcq_broker **out);

/* The same on the transport scheme names: "unix" (the native lane, what
 * ipcq_broker_start() uses) or "ipc" (ZeroMQ); anything else is IPCQ_EINVAL. */
IPCQ_API ipcq_status ipcq_broker_start_on(ipcq_broker **out, const char *scheme);

/* The endpoint to give ipcq_client_open(). */
IPCQ_API const char *ipcq_broker_endpoint(const ipcq_broker *b);

/* The broker's process id. */
IPCQ_API int ipcq_broker_pid(const ipcq_broker *b);

/* Stops the broker (SIGTERM; SIGKILL if it does not exit in time), reaps it,
 * removes its directory, frees *b and sets it to NULL. IPCQ_OK if it exited
 * cleanly. NULL or *b == NULL is a no-op. Call it from the process that
 * started the broker. */
IPCQ_API ipcq_status ipcq_broker_stop(ipcq_broker **b);

/*
 * A process pool, as Python's multiprocessing.Pool: N forked workers run a
 * C function from task bytes to result bytes. Tasks and results travel
 * through broker queues; a worker takes each task on a lease and acks it
 * after putting the result, so a worker that dies (kill -9) is reaped and
 * replaced and its task is done again. A task that kills every worker that
 * takes it ends with IPCQ_ETASK instead of looping for ever.
 *
 * Completion callbacks run in the parent, in the thread that calls into the
 * pool (ipcq_pool_apply, _map, ipcq_pool_task_wait, _poll, _join): there is
 * no hidden thread. A pool serves one thread at a time. Its workers are
 * children of the caller: the caller's SIGCHLD handling must let the pool
 * reap them (no SIG_IGN, no waitpid(-1, ...)).
 *
 * Python's pool.close() is ipcq_pool_close_submissions() here: "close" is
 * kept for what destroys a handle (ipcq_client_close); the pool is freed by
 * ipcq_pool_free().
 */
typedef struct ipcq_pool ipcq_pool;
/* One submitted task of a pool (Python's AsyncResult). */
typedef struct ipcq_pool_task ipcq_pool_task;

/* The work, run in a worker: reads task[0..task_len), and on success stores
 * a malloc()ed result (or NULL with *result_len 0) and returns 0; any other
 * return value fails the task with IPCQ_ETASK. */
typedef int (*ipcq_task_fn)(const void *task, size_t task_len, void **result, size_t *result_len,
                            void *arg);

/* Called once per apply_async task, in the parent: status IPCQ_OK with the
 * result (borrowed for the call), or the error. */
typedef void (*ipcq_callback)(ipcq_status status, const void *result, size_t result_len, void *arg);

/* Starts workers (>= 1) forked processes running fn(task, ..., arg). With
 * endpoint NULL the pool starts a private broker of its own (see
 * ipcq_broker_start) and stops it when freed. On error *out is NULL. */
IPCQ_API ipcq_status ipcq_pool_start(ipcq_pool **out, const char *endpoint, int workers,
                                     ipcq_task_fn fn, void *arg);

/* Runs one task and waits for its result (ipcq_free() it). IPCQ_ETIMEDOUT if
 * it did not finish within timeout_ms (the task still runs). */
IPCQ_API ipcq_status ipcq_pool_apply(ipcq_pool *p, const void *task, size_t task_len, void **result,
                                     size_t *result_len, int64_t timeout_ms);

/* Submits one task; callback (may be NULL) runs when it completes. With
 * handle != NULL, *handle can be waited on and must be freed with
 * ipcq_pool_task_free(). Borrows task for the call only. */
IPCQ_API ipcq_status ipcq_pool_apply_async(ipcq_pool *p, const void *task, size_t task_len,
                                           ipcq_callback callback, void *callback_arg,
                                           ipcq_pool_task **handle);

/* Waits until the task completed: returns the task's status (IPCQ_OK, or
 * IPCQ_ETASK...) or IPCQ_ETIMEDOUT if it has not completed in time. */
IPCQ_API ipcq_status ipcq_pool_task_wait(ipcq_pool_task *h, int64_t timeout_ms);

/* The result of a completed task, borrowed until ipcq_pool_task_free(). */
IPCQ_API ipcq_status ipcq_pool_task_result(const ipcq_pool_task *h, const void **result,
                                           size_t *result_len);

IPCQ_API void ipcq_pool_task_free(ipcq_pool_task **h);

/* Runs n tasks and fills results[i]/result_lens[i] in task order (each
 * freed with ipcq_free(); NULL/0 for a task that failed). Returns IPCQ_OK
 * if every task succeeded, else the first failure's status. */
IPCQ_API ipcq_status ipcq_pool_map(ipcq_pool *p, size_t n, const void *const *tasks,
                                   const size_t *task_lens, void **results, size_t *result_lens,
                                   int64_t timeout_ms);

/* Runs completions that arrived (callbacks, dead-worker replacement) and
 * waits at most timeout_ms for one. */
IPCQ_API ipcq_status ipcq_pool_poll(ipcq_pool *p, int64_t timeout_ms);

/* No more tasks (Python's pool.close()): workers finish what was submitted,
 * then exit. */
IPCQ_API ipcq_status ipcq_pool_close_submissions(ipcq_pool *p);

/* After close: waits until every task completed and every worker exited and
 * was reaped. IPCQ_ETIMEDOUT if that took longer than timeout_ms. */
IPCQ_API ipcq_status ipcq_pool_join(ipcq_pool *p, int64_t timeout_ms);

/* Stops every worker now (SIGTERM, then SIGKILL) and reaps it; tasks not
 * completed end with IPCQ_ESHUTDOWN. */
IPCQ_API ipcq_status ipcq_pool_terminate(ipcq_pool *p);

/* Writes up to cap worker pids into pids; returns the number of workers. */
IPCQ_API size_t ipcq_pool_workers(const ipcq_pool *p, size_t cap, int *pids);

/* Terminates the pool if needed, stops its private broker, frees *p and sets
 * it to NULL. */
IPCQ_API void ipcq_pool_free(ipcq_pool **p);

/* Statistics: one snapshot of a queue (or of every queue) and the broker. */
typedef struct ipcq_stats ipcq_stats;

typedef enum ipcq_queue_field {
    IPCQ_QUEUE_SIZE,           /* items in the queue */
    IPCQ_QUEUE_MAXSIZE,        /* the bound; 0 = unbounded */
    IPCQ_QUEUE_BYTES,          /* bytes of the items in the queue */
    IPCQ_QUEUE_GETTERS,        /* blocked getters */
    IPCQ_QUEUE_PUTTERS,        /* blocked putters */
    IPCQ_QUEUE_UNFINISHED,     /* tasks not yet marked done */
    IPCQ_QUEUE_LEASED,         /* items handed out, receipt not yet confirmed */
    IPCQ_QUEUE_OLDEST_MS,      /* age of the oldest item; 0 when empty */
    IPCQ_QUEUE_PUTS,           /* items accepted since creation */
    IPCQ_QUEUE_GETS,           /* items handed out since creation */
    IPCQ_QUEUE_SHUTDOWN,       /* 1 once shut down */
    IPCQ_QUEUE_JOINERS,        /* blocked in join */
    IPCQ_QUEUE_MAX_DELIVERIES, /* deliveries before NAME.dlq; 0 = no limit */
    IPCQ_QUEUE_DEAD_LETTERED,  /* items moved to NAME.dlq */
} ipcq_queue_field;

/* The broker's own figures (ipcq_stats_broker); not to be confused with the
 * private broker of ipcq_broker_start(). */
typedef enum ipcq_broker_field {
    IPCQ_BROKER_STAT_QUEUES,
    IPCQ_BROKER_STAT_SESSIONS, /* clients holding waiters or unconfirmed items */
    IPCQ_BROKER_STAT_ITEMS,
    IPCQ_BROKER_STAT_BYTES,
    IPCQ_BROKER_STAT_UPTIME_MS,
    IPCQ_BROKER_STAT_REQUESTS,
    IPCQ_BROKER_STAT_BAD_REQUESTS, /* malformed, unknown or over-limit requests */
    IPCQ_BROKER_STAT_UNROUTABLE,   /* replies whose client was gone */
    IPCQ_BROKER_STAT_MAX_ITEM_SIZE,
    IPCQ_BROKER_STAT_PID,
    IPCQ_BROKER_STAT_DISCONNECTS, /* connections closed: by clients, or dropped by the
                                broker's transport (an oversized frame) */
    /* A durable broker's log (ipcqd --data-dir); -1 when memory only: */
    IPCQ_BROKER_STAT_LOG_DISK_BYTES, /* its files, preallocation included */
    IPCQ_BROKER_STAT_LOG_LIVE_BYTES, /* the records still needed */
    IPCQ_BROKER_STAT_LOG_SEGMENTS,
    IPCQ_BROKER_STAT_STORAGE_FAILED, /* 1: it takes no more changes (IPCQ_ESTORAGE) */
    IPCQ_BROKER_STAT_CLIENTS,        /* client connections open now; -1 if not told */
    IPCQ_BROKER_STAT_RSS_BYTES,      /* the broker's resident memory; -1 if not told */
} ipcq_broker_field;

/* queue NULL: every queue. On IPCQ_OK *out holds the snapshot; free it with
 * ipcq_stats_free(). On error *out is NULL. */
IPCQ_API ipcq_status ipcq_stat(ipcq_client *c, const char *queue, ipcq_stats **out);
IPCQ_API size_t ipcq_stats_count(const ipcq_stats *s);
/* The name of queue i (NUL-terminated); NULL if i is out of range. */
IPCQ_API const char *ipcq_stats_name(const ipcq_stats *s, size_t i);
/* Field f of queue i; -1 if i or f is out of range. */
IPCQ_API int64_t ipcq_stats_queue(const ipcq_stats *s, size_t i, ipcq_queue_field f);
/* Field f of the broker; -1 if f is out of range. */
IPCQ_API int64_t ipcq_stats_broker(const ipcq_stats *s, ipcq_broker_field f);
IPCQ_API void ipcq_stats_free(ipcq_stats **s);

#ifdef __cplusplus
}
#endif
#endif /* IPCQ_H */
