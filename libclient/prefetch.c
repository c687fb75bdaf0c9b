/* Consumer prefetch (opt-in): ipcq_get serves a local buffer that one
 * leased batch get fills. Items in the buffer stay on a lease, so they
 * return to the head of their queue if the process dies or the lease runs
 * out (D1, D2); each is confirmed as it is handed to the caller, and the
 * rest are handed back on close or when the caller turns to another queue. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "names.h"

typedef struct prefetched {
    void *data;
    size_t len;
    uint64_t tag;
} prefetched;

struct client_prefetch {
    size_t max;
    int64_t lease_ms;
    char *queue; /* the queue the buffer holds items of */
    prefetched *items;
    size_t head, count;
};

/* Hands every buffered item back to its queue. */
static void
give_back(ipcq_client *c, client_prefetch *pf)
{
    if (pf->count == 0)
        return;
    uint64_t *tags = malloc(pf->count * sizeof *tags);
    for (size_t i = 0; i < pf->count; i++) {
        prefetched *it = &pf->items[pf->head + i];
        if (tags)
            tags[i] = it->tag;
        free(it->data);
    }
    if (tags && c->pid == getpid())
        client_send_tags(c, IPCQWIRE__OP__OP_RELEASE, tags, pf->count);
    free(tags); /* without memory to say so, the leases return them */
    pf->head = pf->count = 0;
}

void
client_prefetch_free(ipcq_client *c)
{
    client_prefetch *pf = c->prefetch;
    if (pf == NULL)
        return;
    give_back(c, pf);
    free(pf->items);
    free(pf->queue);
    free(pf);
    c->prefetch = NULL;
}

int
ipcq_set_prefetch(ipcq_client *c, size_t max, int64_t lease_ms)
{
    if (c == NULL || (max > 1 && lease_ms <= 0) || max > IPCQ_MAX_WINDOW)
        return IPCQ_EINVAL;
    client_prefetch_free(c);
    if (max <= 1)
        return IPCQ_OK; /* off: every get is one request again */
    client_prefetch *pf = calloc(1, sizeof *pf);
    if (pf == NULL || (pf->items = calloc(max, sizeof *pf->items)) == NULL) {
        free(pf);
        return IPCQ_ENOMEM;
    }
    pf->max = max;
    pf->lease_ms = lease_ms;
    c->prefetch = pf;
    return IPCQ_OK;
}

/* Fills the buffer with up to max items of queue, blocking for the first. */
static int
refill(ipcq_client *c, client_prefetch *pf, const char *queue, int64_t timeout_ms)
{
    if (pf->queue == NULL || strcmp(pf->queue, queue) != 0) {
        give_back(c, pf);
        free(pf->queue);
        if ((pf->queue = strdup(queue)) == NULL)
            return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    }
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_GET, queue, timeout_ms);
    if (rc != IPCQ_OK)
        return rc;
    req.has_max_items = 1;
    req.max_items = (uint32_t)pf->max;
    req.has_lease_ms = 1;
    req.lease_ms = pf->lease_ms;
    Ipcqwire__Reply *r = NULL;
    if ((rc = client_finish(c, &req, queue, timeout_ms, &r)) != IPCQ_OK)
        return rc;
    size_t n = r->n_items <= pf->max ? r->n_items : 0;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCBinaryData *d = &r->items[i]->data;
        prefetched *it = &pf->items[i];
        if ((it->data = malloc(d->len ? d->len : 1)) == NULL) {
            pf->count = i;
            give_back(c, pf);
            client_release_items(c, r);
            ipcqwire__reply__free_unpacked(r, NULL);
            return client_fail(c, queue, IPCQ_ENOMEM, NULL);
        }
        if (d->len)
            memcpy(it->data, d->data, d->len);
        it->len = d->len;
        it->tag = r->items[i]->tag;
    }
    pf->head = 0;
    pf->count = n;
    ipcqwire__reply__free_unpacked(r, NULL);
    return n ? IPCQ_OK : client_fail(c, queue, IPCQ_EPROTO, NULL);
}

int
client_prefetch_get(ipcq_client *c, const char *queue, int64_t timeout_ms, void **data, size_t *len)
{
    client_prefetch *pf = c->prefetch;
    *data = NULL;
    *len = 0;
    bool same_queue = pf->queue != NULL && strcmp(pf->queue, queue) == 0;
    if (pf->count == 0 || !same_queue) {
        int rc = refill(c, pf, queue, timeout_ms);
        if (rc != IPCQ_OK)
            return rc;
    }
    prefetched *it = &pf->items[pf->head++];
    pf->count--;
    client_send_tags(c, IPCQWIRE__OP__OP_CONFIRM, &it->tag, 1); /* handed over: done (D1) */
    *data = it->data;
    *len = it->len;
    return IPCQ_OK;
}
