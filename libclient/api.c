/* The public queue operations of ipcq.h: each checks what every backend
 * shares (the handle, the queue's name, the timeout, a lease's length, the
 * out-parameters), then calls the handle's backend (backend.h). A backend
 * that cannot serve an operation leaves it NULL: IPCQ_ENOTSUP. */
#include <stdio.h>

#include "backend.h"
#include "client.h"

/* The calling thread's session of c, its error text cleared; NULL for NULL. */
static ipcq_client *
begin(ipcq_client *c)
{
    ipcq_client *s = client_session(c); /* D8 */
    if (s != NULL)
        s->error[0] = '\0';
    return s;
}

/* begin() and the checks of a call on queue (NULL: none) with a timeout. */
static int
begin_on(ipcq_client *c, const char *queue, int64_t timeout_ms, ipcq_client **s)
{
    *s = begin(c);
    return *s == NULL ? IPCQ_EINVAL : client_check_args(*s, queue, timeout_ms);
}

/* Operation op (on queue, NULL: none) that s's backend leaves NULL. */
static int
unsupported(ipcq_client *s, const char *queue, const char *op)
{
    char detail[600];
    snprintf(detail, sizeof detail, "%s%s%s: %s", queue ? queue : "", queue ? ": " : "", op,
             s->backend->unsupported ? s->backend->unsupported : "not supported");
    return client_fail(s, NULL, IPCQ_ENOTSUP, detail);
}

static int
bad_lease(ipcq_client *s, const char *queue, int64_t lease_ms)
{
    char detail[320];
    snprintf(detail, sizeof detail, "%s: a lease must be longer than 0 ms, not %lld", queue,
             (long long)lease_ms);
    return client_fail(s, NULL, IPCQ_EINVAL, detail);
}

/* Calls operation op of session s's backend, or fails IPCQ_ENOTSUP. */
#define DISPATCH(s, op, ...)                                                                       \
    ((s)->backend->op != NULL ? (s)->backend->op((s), __VA_ARGS__) : unsupported((s), NULL, #op))
/* The same for an operation on a queue (its first argument). */
#define DISPATCH_ON(s, op, queue, ...)                                                             \
    ((s)->backend->op != NULL ? (s)->backend->op((s), (queue), __VA_ARGS__)                        \
                              : unsupported((s), (queue), #op))

void
ipcq_client_close(ipcq_client **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    ipcq_client *root = (*cp)->root;
    if (root->backend->close != NULL)
        root->backend->close(root);
    client_handle_close(cp);
}

ipcq_status
ipcq_put(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK && data == NULL && len > 0)
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, put, queue, data, len, timeout_ms);
}

ipcq_status
ipcq_put_many(ipcq_client *c, const char *queue, size_t n, const void *const *items,
              const size_t *lens, int64_t timeout_ms)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK && (n == 0 || items == NULL || lens == NULL))
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, put_many, queue, n, items, lens, timeout_ms);
}

ipcq_status
ipcq_put_async(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_FOREVER, &s);
    if (rc == IPCQ_OK && data == NULL && len > 0)
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, put_async, queue, data, len);
}

ipcq_status
ipcq_flush(ipcq_client *c, int64_t timeout_ms)
{
    ipcq_client *s;
    int rc = begin_on(c, NULL, timeout_ms, &s);
    return rc != IPCQ_OK ? rc : DISPATCH(s, flush, timeout_ms);
}

ipcq_status
ipcq_set_put_window(ipcq_client *c, size_t window)
{
    ipcq_client *s = begin(c);
    return s == NULL ? IPCQ_EINVAL : DISPATCH(s, set_put_window, window);
}

ipcq_status
ipcq_get(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms)
{
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK && (data == NULL || len == NULL))
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, get, queue, data, len, timeout_ms);
}

ipcq_status
ipcq_get_many(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
              size_t *got, int64_t timeout_ms)
{
    if (got != NULL)
        *got = 0;
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK &&
        (max == 0 || max > UINT32_MAX || items == NULL || lens == NULL || got == NULL))
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, get_many, queue, max, items, lens, got, timeout_ms);
}

ipcq_status
ipcq_set_prefetch(ipcq_client *c, size_t max, int64_t lease_ms)
{
    ipcq_client *s = begin(c);
    return s == NULL ? IPCQ_EINVAL : DISPATCH(s, set_prefetch, max, lease_ms);
}

ipcq_status
ipcq_create(ipcq_client *c, const char *queue, int64_t maxsize)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, create, queue, maxsize);
}

ipcq_status
ipcq_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, set_maxsize, queue, maxsize);
}

ipcq_status
ipcq_set_max_deliveries(ipcq_client *c, const char *queue, uint32_t max_deliveries)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, set_max_deliveries, queue, max_deliveries);
}

ipcq_status
ipcq_delete(ipcq_client *c, const char *queue)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    if (rc != IPCQ_OK)
        return rc;
    return s->backend->delete_queue ? s->backend->delete_queue(s, queue)
                                    : unsupported(s, queue, "delete");
}

ipcq_status
ipcq_task_done(ipcq_client *c, const char *queue)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    if (rc != IPCQ_OK)
        return rc;
    return s->backend->task_done ? s->backend->task_done(s, queue)
                                 : unsupported(s, queue, "task_done");
}

ipcq_status
ipcq_join(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, join, queue, timeout_ms);
}

ipcq_status
ipcq_shutdown(ipcq_client *c, const char *queue, bool immediate)
{
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, shutdown, queue, immediate);
}

ipcq_status
ipcq_ping(ipcq_client *c)
{
    ipcq_client *s = begin(c);
    return s == NULL          ? IPCQ_EINVAL
           : s->backend->ping ? s->backend->ping(s)
                              : unsupported(s, NULL, "ping");
}

ipcq_status
ipcq_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms)
{
    if (lease != NULL)
        *lease = 0;
    if (deliveries != NULL)
        *deliveries = 0;
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK && (lease == NULL || data == NULL || len == NULL))
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    if (rc == IPCQ_OK && lease_ms <= 0)
        rc = bad_lease(s, queue, lease_ms);
    return rc != IPCQ_OK ? rc
                         : DISPATCH_ON(s, get_leased, queue, lease_ms, data, len, lease, deliveries,
                                       timeout_ms);
}

ipcq_status
ipcq_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max, void **items,
                     size_t *lens, uint64_t *leases, size_t *got, int64_t timeout_ms)
{
    if (got != NULL)
        *got = 0;
    ipcq_client *s;
    int rc = begin_on(c, queue, timeout_ms, &s);
    if (rc == IPCQ_OK && (max == 0 || max > UINT32_MAX || items == NULL || lens == NULL ||
                          leases == NULL || got == NULL))
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    if (rc == IPCQ_OK && lease_ms <= 0)
        rc = bad_lease(s, queue, lease_ms);
    return rc != IPCQ_OK ? rc
                         : DISPATCH_ON(s, get_leased_many, queue, lease_ms, max, items, lens,
                                       leases, got, timeout_ms);
}

ipcq_status
ipcq_ack(ipcq_client *c, uint64_t lease)
{
    ipcq_client *s = begin(c);
    return s == NULL ? IPCQ_EINVAL : DISPATCH(s, ack, lease);
}

ipcq_status
ipcq_ack_many(ipcq_client *c, size_t n, const uint64_t *leases)
{
    ipcq_client *s = begin(c);
    if (s == NULL)
        return IPCQ_EINVAL;
    if (leases == NULL || n == 0)
        return client_fail(s, NULL, IPCQ_EINVAL, "ack of no lease");
    return DISPATCH(s, ack_many, n, leases);
}

ipcq_status
ipcq_release(ipcq_client *c, uint64_t lease)
{
    ipcq_client *s = begin(c);
    return s == NULL ? IPCQ_EINVAL : DISPATCH(s, release, lease);
}

ipcq_status
ipcq_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms)
{
    ipcq_client *s = begin(c);
    if (s == NULL)
        return IPCQ_EINVAL;
    if (lease_ms <= 0)
        return client_fail(s, NULL, IPCQ_EINVAL, "a lease must be longer than 0 ms");
    return DISPATCH(s, extend, lease, lease_ms);
}

ipcq_status
ipcq_stat(ipcq_client *c, const char *queue, ipcq_stats **out)
{
    if (out != NULL)
        *out = NULL;
    ipcq_client *s;
    int rc = begin_on(c, queue, IPCQ_NOWAIT, &s);
    if (rc == IPCQ_OK && out == NULL)
        rc = client_fail(s, queue, IPCQ_EINVAL, NULL);
    return rc != IPCQ_OK ? rc : DISPATCH_ON(s, stat, queue, out);
}
