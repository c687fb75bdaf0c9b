/* The operations of ipcq.h, one interface with two implementations, chosen
 * once per handle from its endpoint's scheme (backend_for), as transports
 * are (transport.h):
 *
 * - backend_broker (broker_ops.h): an ipcqd broker over the unix:// lane or
 *   ZeroMQ; each operation is a request through client_call().
 * - backend_nats (nats/): a NATS JetStream cluster, no broker (SPEC §9); in
 *   a library built without libnats, a table that refuses every call.
 *
 * The public functions (api.c) check what both share (the handle, the
 * queue's name, the timeout, the lease, the out-parameters) before they
 * dispatch, so bad input fails the same way on both. A NULL entry is an
 * operation the backend cannot serve: the call fails with IPCQ_ENOTSUP and
 * the table's why. Every entry takes the handle the user holds (the root);
 * client_session() gives the calling thread's session (D8). */
#ifndef IPCQ_CLIENT_BACKEND_H
#define IPCQ_CLIENT_BACKEND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipcq.h"

typedef struct client_backend {
    const char *name; /* "broker", "nats" */
    /* Why an operation this backend leaves NULL fails (after its name). */
    const char *unsupported;
    /* Frees what the backend keeps for handle c (the root), before its
     * sessions are closed; NULL: nothing. */
    void (*close)(ipcq_client *c);
    /* Lets go of handle c's connection before a fork() whose child must not
     * inherit it running (the pool's workers); the next call makes it
     * anew. NULL: nothing to do. */
    void (*before_fork)(ipcq_client *c);

    int (*put)(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms);
    int (*put_many)(ipcq_client *c, const char *queue, size_t n, const void *const *items,
                    const size_t *lens, int64_t timeout_ms);
    int (*put_async)(ipcq_client *c, const char *queue, const void *data, size_t len);
    int (*flush)(ipcq_client *c, int64_t timeout_ms);
    int (*set_put_window)(ipcq_client *c, size_t window);
    int (*get)(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms);
    int (*get_many)(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
                    size_t *got, int64_t timeout_ms);
    int (*set_prefetch)(ipcq_client *c, size_t max, int64_t lease_ms);
    int (*create)(ipcq_client *c, const char *queue, int64_t maxsize);
    int (*set_maxsize)(ipcq_client *c, const char *queue, int64_t maxsize);
    int (*set_max_deliveries)(ipcq_client *c, const char *queue, uint32_t max_deliveries);
    int (*delete_queue)(ipcq_client *c, const char *queue);
    int (*task_done)(ipcq_client *c, const char *queue);
    int (*join)(ipcq_client *c, const char *queue, int64_t timeout_ms);
    int (*shutdown)(ipcq_client *c, const char *queue, bool immediate);
    int (*ping)(ipcq_client *c);
    int (*get_leased)(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                      uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms);
    int (*get_leased_many)(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max,
                           void **items, size_t *lens, uint64_t *leases, size_t *got,
                           int64_t timeout_ms);
    int (*ack)(ipcq_client *c, uint64_t lease);
    int (*ack_many)(ipcq_client *c, size_t n, const uint64_t *leases);
    int (*release)(ipcq_client *c, uint64_t lease);
    int (*extend)(ipcq_client *c, uint64_t lease, int64_t lease_ms);
    /* queue NULL: every queue. */
    int (*stat)(ipcq_client *c, const char *queue, ipcq_stats **out);
} client_backend;

extern const client_backend backend_broker;
extern const client_backend backend_nats;

/* The backend of endpoint: nats:// is JetStream, anything else a broker. */
const client_backend *backend_for(const char *endpoint);

#endif
