/* Leases (D2): take an item (or many), then ack, release or extend it; and
 * the dead-letter limit (D6). Each is one request through client_call(). */
#include "client.h"
#include "broker_ops.h"

/* The public functions (api.c) checked the arguments. */
int
broker_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                  uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    return client_get_one(c, queue, lease_ms, timeout_ms, data, len, lease, deliveries);
}

int
broker_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max,
                       void **items, size_t *lens, uint64_t *leases, size_t *got,
                       int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    return client_get_batch(c, queue, max, lease_ms, timeout_ms, items, lens, leases, NULL, got);
}

/* One request about n leases. */
static int
lease_request(ipcq_client *c, Ipcqwire__Op op, const uint64_t *leases, size_t n, int64_t lease_ms)
{
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, op, NULL, IPCQ_NOWAIT);
    if (rc != IPCQ_OK)
        return rc;
    req.n_tags = n;
    req.has_handle = 1; /* a lease another thread of this handle took (D8) */
    req.handle = client_handle_id(c);
    req.tags = (uint64_t *)leases;
    if (lease_ms > 0) {
        req.has_lease_ms = 1;
        req.lease_ms = lease_ms;
    }
    return client_finish(c, &req, NULL, IPCQ_NOWAIT, NULL);
}

int
broker_ack(ipcq_client *c, uint64_t lease)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_ACK, &lease, 1, 0);
}

int
broker_ack_many(ipcq_client *c, size_t n, const uint64_t *leases)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_ACK, leases, n, 0);
}

int
broker_release(ipcq_client *c, uint64_t lease)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0);
}

int
broker_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_EXTEND, &lease, 1, lease_ms);
}
