/* Async puts travel in batches. ipcq_put_async copies its item into the
 * handle's open batch, and the batch leaves as one multi-item PUT when it is
 * full, when the pipe to the broker is idle, or before any other call on
 * the handle (and on flush, close and disconnect). One request per batch
 * instead of one per item is what lets one broker keep up with producers:
 * its cost is per message, most of it waking up.
 *
 * The broker admits a batch's items one by one as room appears
 * (admit_each), so on a bounded queue a batch behaves as its puts made one
 * after another.
 *
 * A batch left waiting when the caller turns to something else (waits for
 * a child, sleeps, blocks on another handle) is sent by the handle's
 * flusher thread FLUSH_AFTER_US later, as multiprocessing.Queue's feeder
 * thread does: no item waits in the library for the caller's next call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "clock.h"

#define BATCH_MAX_ITEMS 64
/* A batch stays well below the size above which a put needs the broker's
 * item limit (check_put_size); a larger item travels alone. */
#define BATCH_MAX_BYTES (16 * 1024)
/* How long a batch may wait for more items before the flusher sends it. */
#define FLUSH_AFTER_US 1000

struct client_batch {
    char *queue; /* the queue of the items waiting; NULL when none wait */
    unsigned char *bytes;
    size_t used, bytes_cap;
    size_t *lens;
    size_t count, lens_cap;
    size_t look_at;       /* the count at which the answers are next looked at */
    int64_t first_put_us; /* when the first item waiting was put */
    pthread_t flusher;    /* started when a batch is first left waiting */
    pthread_cond_t wake;  /* signalled when a batch starts waiting, or stop */
    bool flusher_running, stopping;
};

/* The flusher: sends a batch that waited FLUSH_AFTER_US for more items.
 * It holds the handle's lock except while it sleeps. */
static void *
flusher_main(void *arg)
{
    ipcq_client *c = arg;
    client_batch *b = c->batch;
    pthread_mutex_lock(&c->lock);
    while (!b->stopping) {
        int64_t due = b->first_put_us + FLUSH_AFTER_US;
        if (b->count > 0 && clock_now_us() >= due) {
            client_batch_send(c); /* a failure is reported by the next call */
            continue;
        }
        if (b->count == 0) {
            pthread_cond_wait(&b->wake, &c->lock);
        } else {
            struct timespec at = {.tv_sec = due / 1000000, .tv_nsec = (due % 1000000) * 1000};
            pthread_cond_timedwait(&b->wake, &c->lock, &at);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static bool
start_flusher(client_batch *b, ipcq_client *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the clock of clock_now_us */
    bool ok = pthread_cond_init(&b->wake, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (ok && pthread_create(&b->flusher, NULL, flusher_main, c) != 0) {
        pthread_cond_destroy(&b->wake);
        ok = false;
    }
    b->flusher_running = ok;
    return ok;
}

void
client_batch_stop(ipcq_client *c)
{
    client_batch *b = c->batch;
    if (b == NULL || !b->flusher_running)
        return;
    pthread_mutex_lock(&c->lock);
    b->stopping = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(b->flusher, NULL);
    pthread_cond_destroy(&b->wake);
    b->flusher_running = false;
}

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

/* Adds the item and sends the batch if it is due; with the lock held. */
static int
put_locked(ipcq_client *c, const char *queue, const void *data, size_t len)
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
    if (b->count == 1)
        b->first_put_us = clock_now_us();
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
    /* The batch waits for more items; the flusher sends it if none come. */
    if (b->count == 1) {
        if (b->flusher_running)
            pthread_cond_signal(&b->wake);
        else if (!start_flusher(b, c))
            return client_batch_send(c); /* no thread: no waiting either */
    }
    return IPCQ_OK;
}

int
client_batch_put(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    client_lock(c);
    int rc = put_locked(c, queue, data, len);
    client_unlock(c);
    return rc;
}
