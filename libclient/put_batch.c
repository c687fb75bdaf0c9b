/* Async puts travel in batches. ipcq_put_async copies its item into the
 * handle's open batch, and the batch leaves as one multi-item PUT when it is
 * full, when the pipe to the broker is idle, or before any other call on
 * the handle (and on flush, close and disconnect). One request per batch
 * instead of one per item is what lets one broker keep up with producers:
 * its cost is per message, most of it waking up.
 *
 * The broker admits a batch's items one by one as room appears
 * (admit_each), so on a bounded queue a batch behaves as its puts made one
 * after another. Items wait in the library at most until the next call on
 * the handle, as a stdio buffer waits for the next write or fflush(). */
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define BATCH_MAX_ITEMS 64
/* A batch stays well below the size above which a put needs the broker's
 * item limit (check_put_size); a larger item travels alone. */
#define BATCH_MAX_BYTES (16 * 1024)

struct client_batch {
    char *queue; /* the queue of the items waiting; NULL when none wait */
    unsigned char *bytes;
    size_t used, bytes_cap;
    size_t *lens;
    size_t count, lens_cap;
    size_t look_at; /* the count at which the answers are next looked at */
};

void
client_batch_free(ipcq_client *c)
{
    client_batch *b = c->batch;
    if (b == NULL)
        return;
    free(b->queue);
    free(b->bytes);
    free(b->lens);
    free(b);
    c->batch = NULL;
}

static void
batch_clear(client_batch *b)
{
    free(b->queue);
    b->queue = NULL;
    b->used = b->count = 0;
    b->look_at = 1;
}

int
client_batch_send(ipcq_client *c)
{
    client_batch *b = c->batch;
    if (b == NULL || b->count == 0)
        return IPCQ_OK;
    ProtobufCBinaryData one, *items = b->count == 1 ? &one : malloc(b->count * sizeof *items);
    if (items == NULL)
        return client_fail(c, b->queue, IPCQ_ENOMEM, NULL);
    size_t offset = 0;
    for (size_t i = 0; i < b->count; i++) {
        items[i] = (ProtobufCBinaryData){b->lens[i], b->bytes + offset};
        offset += b->lens[i];
    }
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.op = IPCQWIRE__OP__OP_PUT;
    req.has_queue = 1;
    req.queue = (ProtobufCBinaryData){strlen(b->queue), (uint8_t *)b->queue};
    req.has_timeout_ms = 1;
    req.timeout_ms = IPCQ_FOREVER;
    req.n_items = b->count;
    req.items = items;
    req.has_admit_each = 1;
    req.admit_each = 1;
    int rc = client_send_async(c, &req, b->count);
    if (items != &one)
        free(items);
    batch_clear(b); /* sent, or reported lost by client_send_async */
    return rc;
}

static bool
grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (q == NULL)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* Appends the item; false without memory. */
static bool
append(client_batch *b, const char *queue, const void *data, size_t len)
{
    if (b->queue == NULL && (b->queue = strdup(queue)) == NULL)
        return false;
    if (!grow((void **)&b->bytes, &b->bytes_cap, b->used + len, 1) ||
        !grow((void **)&b->lens, &b->lens_cap, b->count + 1, sizeof *b->lens))
        return false;
    if (len)
        memcpy(b->bytes + b->used, data, len);
    b->used += len;
    b->lens[b->count++] = len;
    return true;
}

int
client_batch_put(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    int rc = client_connect(c);
    if (rc != IPCQ_OK)
        return rc;
    if (c->batch == NULL) {
        if ((c->batch = calloc(1, sizeof *c->batch)) == NULL)
            return client_fail(c, queue, IPCQ_ENOMEM, NULL);
        c->batch->look_at = 1;
    }
    client_batch *b = c->batch;
    bool other_queue = b->queue != NULL && strcmp(b->queue, queue) != 0;
    if (other_queue || (b->count > 0 && b->used + len > BATCH_MAX_BYTES))
        rc = client_batch_send(c);
    /* The window counts every item not answered yet, sent or waiting here. */
    if (rc == IPCQ_OK && c->inflight_items + b->count + 1 > c->window) {
        rc = client_batch_send(c);
        if (rc == IPCQ_OK)
            rc = client_await_window(c, c->window - 1);
    }
    if (rc != IPCQ_OK)
        return rc;
    if (!append(b, queue, data, len))
        return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    size_t max_items = c->window < BATCH_MAX_ITEMS ? c->window : BATCH_MAX_ITEMS;
    if (b->count >= max_items || b->used >= BATCH_MAX_BYTES)
        return client_batch_send(c);
    /* Looking at the answers costs system calls, so it is done at counts
     * 1, 2, 4, 8...: a lone put leaves at once, a stream fills batches. */
    if (b->count == b->look_at) {
        b->look_at *= 2;
        client_settle_arrived(c);
        if (c->ninflight < 2) /* the pipe is idle enough: no reason to wait */
            return client_batch_send(c);
    }
    return IPCQ_OK;
}
