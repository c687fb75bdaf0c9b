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
 * Every fallible call returns an ipcq_status; ipcq_strerror() names it and
 * ipcq_client_error() gives the one-line detail of the handle's last error.
 * Timeouts are milliseconds: IPCQ_FOREVER, IPCQ_NOWAIT or a positive bound;
 * any other negative value is IPCQ_EINVAL.
 *
 * A handle serves one thread at a time. A handle inherited through fork()
 * works in the child: the child transparently opens a connection of its own
 * and never touches the parent's.
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

typedef enum ipcq_status {
    IPCQ_OK = 0,
    IPCQ_EMPTY = 1,         /* get: nothing arrived in time */
    IPCQ_FULL = 2,          /* put: no room in time */
    IPCQ_ETIMEDOUT = 3,     /* join: tasks still unfinished when the timeout passed */
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
} ipcq_status;

/* A string literal naming the status ("queue is empty", ...); never NULL. */
IPCQ_API const char *ipcq_strerror(int status);

/* "MAJOR.MINOR.PATCH" of the library that is running. */
IPCQ_API const char *ipcq_version(void);

/* The endpoint a client uses when given none: $IPCQ_BROKER if set, else the
 * default ipc socket of SPEC §1. Writes at most cap bytes (NUL included) and
 * returns IPCQ_EINVAL, writing nothing, if it does not fit. */
IPCQ_API int ipcq_default_endpoint(char *buf, size_t cap);

typedef struct ipcq_client ipcq_client;

/* Opens a handle on the broker at endpoint (NULL: ipcq_default_endpoint()).
 * Connecting is lazy: an absent broker shows as IPCQ_EUNAVAILABLE from the
 * first call, not here. On error *out is NULL. */
IPCQ_API int ipcq_client_open(ipcq_client **out, const char *endpoint);

/* Closes the handle and sets *c to NULL; NULL or *c == NULL is a no-op.
 * Waits at most a short linger for unsent confirmations. */
IPCQ_API void ipcq_client_close(ipcq_client **c);

/* One line saying what the handle's last failed call failed on and why
 * ("jobs: queue is full"); "" after a success. Valid until the next call. */
IPCQ_API const char *ipcq_client_error(const ipcq_client *c);

/* Puts one item; borrows data[0..len). The queue is created, unbounded, if it
 * does not exist. IPCQ_FULL when there was no room within timeout_ms. */
IPCQ_API int ipcq_put(ipcq_client *c, const char *queue, const void *data, size_t len,
                      int64_t timeout_ms);

/* Gets one item. On IPCQ_OK *data is a buffer the library allocated (free it
 * with ipcq_free(); a 0-byte item still gives a non-NULL buffer) and *len its
 * length; on error *data is NULL and *len 0. The queue is created if it does
 * not exist. IPCQ_EMPTY when nothing arrived within timeout_ms. */
IPCQ_API int ipcq_get(ipcq_client *c, const char *queue, void **data, size_t *len,
                      int64_t timeout_ms);

/* Frees what ipcq_get() returned. NULL is a no-op. */
IPCQ_API void ipcq_free(void *p);

/* Creates a queue with this bound (<= 0: unbounded). Creating a queue that
 * exists with the same bound is IPCQ_OK; with another, IPCQ_ECONFLICT. */
IPCQ_API int ipcq_create(ipcq_client *c, const char *queue, int64_t maxsize);

/* Deletes a queue and its items; everyone blocked on it gets IPCQ_EDELETED. */
IPCQ_API int ipcq_delete(ipcq_client *c, const char *queue);

/* Marks one task done (Python's task_done); IPCQ_ETASKDONE if none is open. */
IPCQ_API int ipcq_task_done(ipcq_client *c, const char *queue);

/* Waits until every put item was marked done; IPCQ_ETIMEDOUT if the timeout
 * passed first. */
IPCQ_API int ipcq_join(ipcq_client *c, const char *queue, int64_t timeout_ms);

/* Shuts the queue down (Python 3.13 Queue.shutdown): puts fail with
 * IPCQ_ESHUTDOWN; gets drain what is left, then fail; with immediate the
 * items are dropped (each counted as done) and gets fail at once. */
IPCQ_API int ipcq_shutdown(ipcq_client *c, const char *queue, bool immediate);

/* Exact figures, as of the broker's state when it answered. */
IPCQ_API int ipcq_qsize(ipcq_client *c, const char *queue, size_t *size);
IPCQ_API int ipcq_empty(ipcq_client *c, const char *queue, bool *empty);
IPCQ_API int ipcq_full(ipcq_client *c, const char *queue, bool *full);

/* A round trip to the broker: IPCQ_OK when it answers. */
IPCQ_API int ipcq_ping(ipcq_client *c);

/* Statistics: one snapshot of a queue (or of every queue) and the broker. */
typedef struct ipcq_stats ipcq_stats;

typedef enum ipcq_queue_field {
    IPCQ_QUEUE_SIZE,       /* items in the queue */
    IPCQ_QUEUE_MAXSIZE,    /* the bound; 0 = unbounded */
    IPCQ_QUEUE_BYTES,      /* bytes of the items in the queue */
    IPCQ_QUEUE_GETTERS,    /* blocked getters */
    IPCQ_QUEUE_PUTTERS,    /* blocked putters */
    IPCQ_QUEUE_UNFINISHED, /* tasks not yet marked done */
    IPCQ_QUEUE_LEASED,     /* items handed out, receipt not yet confirmed */
    IPCQ_QUEUE_OLDEST_MS,  /* age of the oldest item; 0 when empty */
    IPCQ_QUEUE_PUTS,       /* items accepted since creation */
    IPCQ_QUEUE_GETS,       /* items handed out since creation */
    IPCQ_QUEUE_SHUTDOWN,   /* 1 once shut down */
    IPCQ_QUEUE_JOINERS,    /* blocked in join */
} ipcq_queue_field;

typedef enum ipcq_broker_field {
    IPCQ_BROKER_QUEUES,
    IPCQ_BROKER_SESSIONS, /* clients holding waiters or unconfirmed items */
    IPCQ_BROKER_ITEMS,
    IPCQ_BROKER_BYTES,
    IPCQ_BROKER_UPTIME_MS,
    IPCQ_BROKER_REQUESTS,
    IPCQ_BROKER_BAD_REQUESTS, /* malformed, unknown or over-limit requests */
    IPCQ_BROKER_UNROUTABLE,   /* replies whose client was gone */
    IPCQ_BROKER_MAX_ITEM_SIZE,
    IPCQ_BROKER_PID,
    IPCQ_BROKER_DISCONNECTS, /* connections closed: by clients, or dropped by the
                                broker's transport (an oversized frame) */
} ipcq_broker_field;

/* queue NULL: every queue. On IPCQ_OK *out holds the snapshot; free it with
 * ipcq_stats_free(). On error *out is NULL. */
IPCQ_API int ipcq_stat(ipcq_client *c, const char *queue, ipcq_stats **out);
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
