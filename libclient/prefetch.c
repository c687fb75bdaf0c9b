/* Consumer prefetch (opt-in): ipcq_get serves a local buffer that one
 * leased batch get fills. Items in the buffer stay on a lease, so they
 * return to the head of their queue if the process dies or the lease runs
 * out (D1, D2); each is confirmed as it is handed to the caller, and the
 * rest are handed back on close, when the caller turns to another queue,
 * or when their leases are about to run out (an item whose lease ran out
 * is back in the queue, and must not be handed out here too). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "broker_ops.h"
#include "clock.h"
#include "wire.h"

struct client_prefetch {
    size_t max;
    int64_t lease_ms;
    char *queue; /* the queue the buffer holds items of */
    void **data; /* the buffer: data[head .. head+count) with lens and tags */
    size_t *lens;
    uint64_t *tags;
    size_t head, count;
    int64_t usable_until_us; /* the buffer's leases run out soon after this */
};

/* Hands every buffered item back to its queue. */
static void
give_back(ipcq_client *c, client_prefetch *pf)
{
    if (pf->count == 0)
        return;
    for (size_t i = 0; i < pf->count; i++)
        free(pf->data[pf->head + i]);
    if (c->pid == client_process_pid())
        client_send_tags(c, IPCQWIRE__OP__OP_HAND_BACK, pf->tags + pf->head, pf->count);
    pf->head = pf->count = 0;
}

void
client_prefetch_free(ipcq_client *c)
{
    client_prefetch *pf = c->prefetch;
    if (pf == NULL)
        return;
    give_back(c, pf);
    free(pf->data);
    free(pf->lens);
    free(pf->tags);
    free(pf->queue);
    free(pf);
    c->prefetch = NULL;
}

int
broker_set_prefetch(ipcq_client *c, size_t max, int64_t lease_ms)
{
    if (c == NULL || (max > 1 && lease_ms <= 0) || max > IPCQ_MAX_WINDOW)
        return IPCQ_EINVAL;
    /* for threads that start using the handle later (D8) */
    c->root->default_prefetch = max;
    c->root->default_prefetch_lease_ms = lease_ms;
    return client_prefetch_setup(client_session(c), max, lease_ms);
}

int
client_prefetch_setup(ipcq_client *c, size_t max, int64_t lease_ms)
{
    client_prefetch_free(c);
    if (max <= 1)
        return IPCQ_OK; /* off: every get is one request again */
    client_prefetch *pf = calloc(1, sizeof *pf);
    if (pf == NULL || (pf->data = calloc(max, sizeof *pf->data)) == NULL ||
        (pf->lens = calloc(max, sizeof *pf->lens)) == NULL ||
        (pf->tags = calloc(max, sizeof *pf->tags)) == NULL) {
        if (pf != NULL)
            free(pf->data), free(pf->lens);
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
    give_back(c, pf); /* another queue's, or leases about to run out */
    if (pf->queue == NULL || strcmp(pf->queue, queue) != 0) {
        free(pf->queue);
        if ((pf->queue = strdup(queue)) == NULL)
            return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    }
    size_t got;
    int rc = client_get_batch(c, queue, pf->max, pf->lease_ms, timeout_ms, pf->data, pf->lens,
                              pf->tags, NULL, &got);
    if (rc != IPCQ_OK)
        return rc;
    /* The leases started when the broker sent the items, a little before
     * now: a quarter of the lease (at most a second) is kept in hand. */
    int64_t lease_us = pf->lease_ms * 1000, spare_us = lease_us / 4;
    if (spare_us > 1000000)
        spare_us = 1000000;
    pf->usable_until_us = clock_now_us() + lease_us - spare_us;
    pf->head = 0;
    pf->count = got;
    return IPCQ_OK;
}

int
client_prefetch_get(ipcq_client *c, const char *queue, int64_t timeout_ms, void **data, size_t *len)
{
    client_prefetch *pf = c->prefetch;
    *data = NULL;
    *len = 0;
    bool same_queue = pf->queue != NULL && strcmp(pf->queue, queue) == 0;
    /* An item whose lease ran out is back in its queue, maybe with another
     * client already: never hand it out. */
    bool fresh = clock_now_us() < pf->usable_until_us;
    if (pf->count == 0 || !same_queue || !fresh) {
        int rc = refill(c, pf, queue, timeout_ms);
        if (rc != IPCQ_OK)
            return rc;
    }
    size_t at = pf->head++;
    pf->count--;
    client_send_tags(c, IPCQWIRE__OP__OP_CONFIRM, &pf->tags[at], 1); /* handed over (D1) */
    *data = pf->data[at];
    *len = pf->lens[at];
    return IPCQ_OK;
}
