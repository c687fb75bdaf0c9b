/* Leases (D2): take an item (or many), then ack, release or extend it; and
 * the dead-letter limit (D6). Each is one request through client_call(). */
#include <stdio.h>

#include "client.h"

/* A lease must be longer than 0 ms: the error text says so. */
static int
bad_lease(ipcq_client *c, const char *queue, int64_t lease_ms)
{
    char detail[320];
    snprintf(detail, sizeof detail, "%s: a lease must be longer than 0 ms, not %lld",
             queue ? queue : "", (long long)lease_ms);
    return client_fail(c, NULL, IPCQ_EINVAL, detail);
}

ipcq_status
ipcq_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    if (lease != NULL)
        *lease = 0;
    if (deliveries != NULL)
        *deliveries = 0;
    if (c == NULL || lease == NULL || data == NULL || len == NULL)
        return IPCQ_EINVAL;
    if (lease_ms <= 0) {
        *data = NULL;
        *len = 0;
        return bad_lease(c, queue, lease_ms);
    }
    return client_get_one(c, queue, lease_ms, timeout_ms, data, len, lease, deliveries);
}

ipcq_status
ipcq_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max, void **items,
                     size_t *lens, uint64_t *leases, size_t *got, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    if (got != NULL)
        *got = 0;
    if (c == NULL)
        return IPCQ_EINVAL;
    if (max == 0 || max > UINT32_MAX || items == NULL || lens == NULL || leases == NULL ||
        got == NULL)
        return client_fail(c, queue, IPCQ_EINVAL, NULL);
    if (lease_ms <= 0)
        return bad_lease(c, queue, lease_ms);
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

ipcq_status
ipcq_ack(ipcq_client *c, uint64_t lease)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_ACK, &lease, 1, 0);
}

ipcq_status
ipcq_ack_many(ipcq_client *c, size_t n, const uint64_t *leases)
{
    c = client_session(c); /* D8 */
    if (c != NULL && (leases == NULL || n == 0))
        return client_fail(c, NULL, IPCQ_EINVAL, "ack of no lease");
    return lease_request(c, IPCQWIRE__OP__OP_ACK, leases, n, 0);
}

ipcq_status
ipcq_release(ipcq_client *c, uint64_t lease)
{
    c = client_session(c); /* D8 */
    return lease_request(c, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0);
}

ipcq_status
ipcq_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms)
{
    c = client_session(c); /* D8 */
    if (c != NULL && lease_ms <= 0)
        return client_fail(c, NULL, IPCQ_EINVAL, "a lease must be longer than 0 ms");
    return lease_request(c, IPCQWIRE__OP__OP_EXTEND, &lease, 1, lease_ms);
}
