/* The queue operations of the public API, each one request and its reply
 * through client_call(). Arguments are checked here first, so that a bad
 * call fails the same way with or without a broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "broker_ops.h"
#include "wire.h"

int
client_check_args(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    if (timeout_ms < IPCQ_FOREVER) {
        char detail[320];
        snprintf(detail, sizeof detail, "%s%snegative timeout %lld ms", queue ? queue : "",
                 queue ? ": " : "", (long long)timeout_ms);
        return client_fail(c, NULL, IPCQ_EINVAL, detail);
    }
    if (queue != NULL && !queue_name_valid(queue, strlen(queue)))
        return client_fail(c, NULL, IPCQ_EINVAL,
                           "invalid queue name: it must be 1 to 255 bytes of UTF-8 "
                           "without control characters");
    return IPCQ_OK;
}

int
client_begin(ipcq_client *c, Ipcqwire__Request *req, Ipcqwire__Op op, const char *queue,
             int64_t timeout_ms)
{
    if (c == NULL)
        return IPCQ_EINVAL;
    c->error[0] = '\0';
    ipcqwire__request__init(req);
    /* An async put failed since the last call: this call reports it. */
    int failed = client_take_async_error(c);
    if (failed != IPCQ_OK)
        return failed;
    req->op = op;
    int rc = client_check_args(c, queue, timeout_ms);
    if (rc != IPCQ_OK)
        return rc;
    req->has_timeout_ms = 1;
    req->timeout_ms = timeout_ms;
    if (queue != NULL) {
        req->has_queue = 1;
        req->queue.data = (uint8_t *)queue;
        req->queue.len = strlen(queue);
    }
    return IPCQ_OK;
}

int
client_finish(ipcq_client *c, Ipcqwire__Request *req, const char *queue, int64_t wait_ms,
              Ipcqwire__Reply **out)
{
    Ipcqwire__Reply *r;
    int rc = client_call(c, req, wait_ms, &r);
    if (rc != IPCQ_OK)
        return rc;
    rc = r->status;
    if (rc != IPCQ_OK)
        client_fail(c, queue, rc, r->error);
    if (rc == IPCQ_OK && out != NULL)
        *out = r;
    else
        ipcqwire__reply__free_unpacked(r, NULL);
    return rc;
}

/* A simple request on a queue whose reply is only a status. */
static int
simple(ipcq_client *c, Ipcqwire__Op op, const char *queue, int64_t timeout_ms)
{
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, op, queue, timeout_ms);
    return rc != IPCQ_OK ? rc : client_finish(c, &req, queue, timeout_ms, NULL);
}

/* A put the broker's socket would drop unread (a message over its max item
 * size + IPCQ_MESSAGE_OVERHEAD) is refused here, with the broker's limit,
 * learned by one ping per connection; the broker judges smaller ones.
 * largest is the largest item, total the bytes of all of them. */
static int
check_put_size(ipcq_client *c, const char *queue, size_t largest, size_t total)
{
    if (total <= IPCQ_MESSAGE_OVERHEAD / 2)
        return IPCQ_OK;
    if (c->broker_max_item == 0) {
        int rc = broker_ping(c);
        if (rc != IPCQ_OK)
            return rc;
    }
    char detail[400];
    if (largest > c->broker_max_item) {
        snprintf(detail, sizeof detail, "%s: item of %zu bytes is over the max item size of %llu",
                 queue, largest, (unsigned long long)c->broker_max_item);
    } else if (total > c->broker_max_item + IPCQ_MESSAGE_OVERHEAD / 2) {
        snprintf(detail, sizeof detail,
                 "%s: a batch of %zu bytes is over the broker's message limit of %llu", queue,
                 total, (unsigned long long)c->broker_max_item + IPCQ_MESSAGE_OVERHEAD / 2);
    } else {
        return IPCQ_OK;
    }
    return client_fail(c, NULL, IPCQ_ETOOBIG, detail);
}

/* Checks a one-item put and fills req with it; *item holds the borrowed
 * bytes and must live as long as req. */
static int
begin_put(ipcq_client *c, Ipcqwire__Request *req, ProtobufCBinaryData *item, const char *queue,
          const void *data, size_t len, int64_t timeout_ms)
{
    int rc = client_begin(c, req, IPCQWIRE__OP__OP_PUT, queue, timeout_ms);
    if (rc != IPCQ_OK)
        return rc;
    if (data == NULL && len > 0)
        return client_fail(c, queue, IPCQ_EINVAL, NULL);
    if ((rc = check_put_size(c, queue, len, len)) != IPCQ_OK)
        return rc;
    *item = (ProtobufCBinaryData){len, (uint8_t *)(data ? data : "")};
    req->n_items = 1;
    req->items = item;
    return IPCQ_OK;
}

int
broker_put(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    ProtobufCBinaryData item;
    int rc = begin_put(c, &req, &item, queue, data, len, timeout_ms);
    return rc != IPCQ_OK ? rc : client_finish(c, &req, queue, timeout_ms, NULL);
}

int
client_get_one(ipcq_client *c, const char *queue, int64_t lease_ms, int64_t timeout_ms, void **data,
               size_t *len, uint64_t *tag, uint32_t *deliveries)
{
    if (data == NULL || len == NULL)
        return IPCQ_EINVAL;
    *data = NULL;
    *len = 0;
    size_t got;
    return client_get_batch(c, queue, 1, lease_ms, timeout_ms, data, len, tag, deliveries, &got);
}

int
broker_get(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    if (c != NULL && c->prefetch != NULL && data != NULL && len != NULL && queue != NULL &&
        timeout_ms >= IPCQ_FOREVER && c->pid == client_process_pid())
        return client_prefetch_get(c, queue, timeout_ms, data, len);
    return client_get_one(c, queue, 0, timeout_ms, data, len, NULL, NULL);
}

int
broker_put_async(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    ProtobufCBinaryData item;
    int rc = begin_put(c, &req, &item, queue, data, len, IPCQ_FOREVER);
    return rc != IPCQ_OK ? rc : client_batch_put(c, queue, data, len);
}

int
broker_put_many(ipcq_client *c, const char *queue, size_t n, const void *const *items,
                const size_t *lens, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_PUT, queue, timeout_ms);
    if (rc != IPCQ_OK)
        return rc;
    if (n == 0 || items == NULL || lens == NULL)
        return client_fail(c, queue, IPCQ_EINVAL, NULL);
    ProtobufCBinaryData *wire = malloc(n * sizeof *wire);
    if (wire == NULL)
        return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    size_t largest = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL && lens[i] > 0) {
            free(wire);
            return client_fail(c, queue, IPCQ_EINVAL, NULL);
        }
        wire[i] = (ProtobufCBinaryData){lens[i], (uint8_t *)(items[i] ? items[i] : "")};
        largest = lens[i] > largest ? lens[i] : largest;
        total += lens[i] + 8; /* each item's own encoding overhead, roughly */
    }
    rc = check_put_size(c, queue, largest, total);
    if (rc == IPCQ_OK) {
        req.n_items = n;
        req.items = wire;
        rc = client_finish(c, &req, queue, timeout_ms, NULL);
    }
    free(wire);
    return rc;
}

int
client_get_batch(ipcq_client *c, const char *queue, size_t max, int64_t lease_ms,
                 int64_t timeout_ms, void **items, size_t *lens, uint64_t *tags,
                 uint32_t *deliveries, size_t *got)
{
    *got = 0;
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_GET, queue, timeout_ms);
    if (rc != IPCQ_OK)
        return rc;
    req.has_max_items = 1;
    req.max_items = (uint32_t)max;
    req.has_redelivered_alone = c->redelivered_alone;
    req.redelivered_alone = c->redelivered_alone;
    if (lease_ms > 0) {
        req.has_lease_ms = 1;
        req.lease_ms = lease_ms;
        req.has_handle = 1; /* the handle's other threads may settle these leases */
        req.handle = client_handle_id(c);
    }
    Ipcqwire__Reply *r = NULL;
    rc = client_finish(c, &req, queue, timeout_ms, &r);
    if (rc != IPCQ_OK)
        return rc;
    size_t n = r->n_items;
    if (n == 0 || n > max)
        rc = client_fail(c, queue, IPCQ_EPROTO, NULL);
    for (size_t i = 0; rc == IPCQ_OK && i < n; i++) {
        const ProtobufCBinaryData *d = &r->items[i]->data;
        if ((items[i] = malloc(d->len ? d->len : 1)) == NULL) {
            while (i-- > 0)
                free(items[i]);
            rc = client_fail(c, queue, IPCQ_ENOMEM, NULL);
            break;
        }
        if (d->len)
            memcpy(items[i], d->data, d->len);
        lens[i] = d->len;
        if (tags != NULL)
            tags[i] = r->items[i]->tag;
        if (deliveries != NULL)
            deliveries[i] = r->items[i]->has_deliveries ? r->items[i]->deliveries : 1;
    }
    if (rc != IPCQ_OK) {
        client_release_items(c, r); /* hand back whatever came: nothing is lost */
    } else {
        if (lease_ms <= 0)
            client_send_item_tags(c, IPCQWIRE__OP__OP_CONFIRM, r); /* D1 */
        *got = n;
    }
    ipcqwire__reply__free_unpacked(r, NULL);
    return rc;
}

int
broker_get_many(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
                size_t *got, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    if (got != NULL)
        *got = 0;
    if (max == 0 || max > UINT32_MAX || items == NULL || lens == NULL || got == NULL)
        return c ? client_fail(c, queue, IPCQ_EINVAL, NULL) : IPCQ_EINVAL;
    return client_get_batch(c, queue, max, 0, timeout_ms, items, lens, NULL, NULL, got);
}

void
ipcq_free(void *p)
{
    free(p);
}

int
broker_create(ipcq_client *c, const char *queue, int64_t maxsize)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_CREATE, queue, IPCQ_NOWAIT);
    if (rc != IPCQ_OK)
        return rc;
    req.has_maxsize = 1;
    req.maxsize = maxsize > 0 ? maxsize : 0;
    return client_finish(c, &req, queue, IPCQ_NOWAIT, NULL);
}

/* CONFIGURE: sets, on a queue that exists, the fields that want has. */
static ipcq_status
configure(ipcq_client *c, const char *queue, const Ipcqwire__Request *want)
{
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_CONFIGURE, queue, IPCQ_NOWAIT);
    if (rc != IPCQ_OK)
        return rc;
    req.has_maxsize = want->has_maxsize;
    req.maxsize = want->maxsize;
    req.has_max_deliveries = want->has_max_deliveries;
    req.max_deliveries = want->max_deliveries;
    return client_finish(c, &req, queue, IPCQ_NOWAIT, NULL);
}

int
broker_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request want = {.has_maxsize = 1, .maxsize = maxsize > 0 ? maxsize : 0};
    return configure(c, queue, &want);
}

int
broker_set_max_deliveries(ipcq_client *c, const char *queue, uint32_t max_deliveries)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request want = {.has_max_deliveries = 1, .max_deliveries = max_deliveries};
    return configure(c, queue, &want);
}

int
broker_delete(ipcq_client *c, const char *queue)
{
    c = client_session(c); /* D8 */
    return simple(c, IPCQWIRE__OP__OP_DELETE, queue, IPCQ_NOWAIT);
}

int
broker_task_done(ipcq_client *c, const char *queue)
{
    c = client_session(c); /* D8 */
    return simple(c, IPCQWIRE__OP__OP_TASK_DONE, queue, IPCQ_NOWAIT);
}

int
broker_join(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    c = client_session(c); /* D8 */
    return simple(c, IPCQWIRE__OP__OP_JOIN, queue, timeout_ms);
}

int
broker_shutdown(ipcq_client *c, const char *queue, bool immediate)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_SHUTDOWN, queue, IPCQ_NOWAIT);
    if (rc != IPCQ_OK)
        return rc;
    req.has_immediate = 1;
    req.immediate = immediate;
    return client_finish(c, &req, queue, IPCQ_NOWAIT, NULL);
}

int
broker_ping(ipcq_client *c)
{
    c = client_session(c); /* D8 */
    Ipcqwire__Request req;
    Ipcqwire__Reply *r = NULL;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_PING, NULL, IPCQ_NOWAIT);
    if (rc == IPCQ_OK)
        rc = client_finish(c, &req, NULL, IPCQ_NOWAIT, &r);
    if (rc == IPCQ_OK) {
        c->broker_max_item = r->has_max_item_size ? r->max_item_size : 0;
        ipcqwire__reply__free_unpacked(r, NULL);
    }
    return rc;
}
