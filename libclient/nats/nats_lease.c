/* Leases on JetStream (D2). A leased item is a message fetched and not yet
 * acknowledged; the consumer's ack wait (NATS_ACK_WAIT_MS) is short, and
 * the handle's keeper thread renews it ("in progress") every quarter of it
 * while the lease runs, so a lease lasts what the caller asked for, and a
 * holder that dies loses its items within one ack wait. A lease that runs
 * out is handed back (Nak) by the keeper; an ack after that is IPCQ_ELEASE.
 * Ack waits for JetStream's answer (AckSync), then deletes the item
 * (nats_remove.c); release is a Nak. Leases
 * belong to the handle: any thread of it may settle them, a forked child
 * none of its parent's. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nats_internal.h"

#define KEEP_EVERY_MS (NATS_ACK_WAIT_MS / 4)

struct nats_lease {
    nats_lease *next;
    uint64_t id;
    natsMsg *msg;
    int64_t deadline; /* nats_now_ms() */
};

/* Under st->lock: the lease with this id, unlinked, or NULL. */
static nats_lease *
take(nats_state *st, uint64_t id)
{
    for (nats_lease **p = &st->leases; *p != NULL; p = &(*p)->next) {
        if ((*p)->id == id) {
            nats_lease *l = *p;
            *p = l->next;
            return l;
        }
    }
    return NULL;
}

static void *
keeper_main(void *arg)
{
    nats_state *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->keeper_stop) {
        int64_t now = nats_now_ms();
        for (nats_lease **p = &st->leases; *p != NULL;) {
            nats_lease *l = *p;
            if (l->deadline <= now) { /* ran out: back to the queue */
                *p = l->next;
                natsMsg_Nak(l->msg, NULL);
                natsMsg_Destroy(l->msg);
                free(l);
                continue;
            }
            natsMsg_InProgress(l->msg, NULL);
            p = &l->next;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(KEEP_EVERY_MS % 1000) * 1000000;
        until.tv_sec += KEEP_EVERY_MS / 1000 + until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&st->keeper_wake, &st->lock, &until);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int
nats_lease_add(ipcq_client *s, nats_state *st, natsMsg *m, int64_t lease_ms, uint64_t *id)
{
    nats_lease *l = calloc(1, sizeof *l);
    if (l == NULL)
        return client_fail(s, NULL, IPCQ_ENOMEM, NULL);
    pthread_mutex_lock(&st->lock);
    if (!st->keeper_running) {
        if (pthread_create(&st->keeper, NULL, keeper_main, st) != 0) {
            pthread_mutex_unlock(&st->lock);
            free(l);
            return client_fail(s, NULL, IPCQ_ESYSTEM, "could not start the lease keeper");
        }
        st->keeper_running = true;
    }
    l->id = *id = ++st->next_lease;
    l->msg = m;
    l->deadline = nats_now_ms() + lease_ms;
    l->next = st->leases;
    st->leases = l;
    pthread_mutex_unlock(&st->lock);
    return IPCQ_OK;
}

void
nats_leases_free(nats_state *st)
{
    pthread_mutex_lock(&st->lock);
    st->keeper_stop = true;
    pthread_cond_signal(&st->keeper_wake);
    bool running = st->keeper_running;
    pthread_mutex_unlock(&st->lock);
    if (running)
        pthread_join(st->keeper, NULL);
    while (st->leases != NULL) { /* the handle closes: its leases go back */
        nats_lease *l = st->leases;
        st->leases = l->next;
        natsMsg_Nak(l->msg, NULL);
        natsMsg_Destroy(l->msg);
        free(l);
    }
}

int
nats_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max, void **items,
                     size_t *lens, uint64_t *leases, size_t *got, int64_t timeout_ms)
{
    nats_state *st;
    natsMsg **msgs;
    size_t n;
    int rc = nats_fetch_batch(c, queue, max, timeout_ms, &st, &msgs, &n, NULL);
    if (rc != IPCQ_OK)
        return rc;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == IPCQ_OK &&
            (rc = nats_copy_item(c, queue, msgs[i], &items[kept], &lens[kept])) == IPCQ_OK) {
            if ((rc = nats_lease_add(c, st, msgs[i], lease_ms, &leases[kept])) == IPCQ_OK) {
                kept++; /* the lease holds the message now */
                continue;
            }
            free(items[kept]);
        }
        natsMsg_Nak(msgs[i], NULL); /* back to the queue: nothing is lost */
        natsMsg_Destroy(msgs[i]);
    }
    free(msgs);
    *got = kept;
    return kept > 0 ? IPCQ_OK : rc;
}

int
nats_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    natsMsg *m = NULL;
    size_t got = 0;
    if ((rc = nats_fetch(c, st, queue, 1, timeout_ms, &m, &got, NULL)) != IPCQ_OK)
        return rc;
    uint32_t d = nats_deliveries(m);
    if ((rc = nats_copy_item(c, queue, m, data, len)) != IPCQ_OK ||
        (rc = nats_lease_add(c, st, m, lease_ms, lease)) != IPCQ_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
        natsMsg_Nak(m, NULL);
        natsMsg_Destroy(m);
        return rc;
    }
    if (deliveries != NULL)
        *deliveries = d;
    return IPCQ_OK;
}

/* Takes lease id out of the table into *m: IPCQ_ELEASE if it is not there. */
static int
settle(ipcq_client *c, uint64_t id, nats_state **stp, natsMsg **m)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    pthread_mutex_lock(&st->lock);
    nats_lease *l = take(st, id);
    pthread_mutex_unlock(&st->lock);
    if (l == NULL)
        return client_fail(c, NULL, IPCQ_ELEASE, NULL);
    *stp = st;
    *m = l->msg;
    free(l);
    return IPCQ_OK;
}

int
nats_ack(ipcq_client *c, uint64_t lease)
{
    nats_state *st = NULL;
    natsMsg *m = NULL;
    int rc = settle(c, lease, &st, &m);
    if (rc != IPCQ_OK)
        return rc;
    natsStatus ns = nats_ack_in_order(st, m, true, true); /* leases end out of order */
    natsMsg_Destroy(m);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, NULL, ns, 0);
}

natsStatus
nats_ack_in_order(nats_state *st, natsMsg *m, bool last, bool remove)
{
    natsStatus ns = last ? natsMsg_AckSync(m, NULL, NULL) : natsMsg_Ack(m, NULL);
    if (ns == NATS_OK && remove)
        nats_remove_taken(st, m);
    return ns;
}

/* One round trip for the batch: the acks leave on one connection in order
 * and the consumer's leader takes them in order, so the answer to the last
 * one (nats_ack_in_order) says the others were taken too. */
int
nats_ack_many(ipcq_client *c, size_t n, const uint64_t *leases)
{
    size_t lost = 0;
    int rc = IPCQ_OK;
    nats_state *st = NULL;
    natsMsg *held = NULL; /* the latest settled, acknowledged when the next one is */
    for (size_t i = 0; i <= n; i++) {
        natsMsg *m = NULL;
        int one = i < n ? settle(c, leases[i], &st, &m) : IPCQ_OK;
        lost += one == IPCQ_ELEASE;
        if (one != IPCQ_OK && one != IPCQ_ELEASE && rc == IPCQ_OK)
            rc = one;
        if (held != NULL && (m != NULL || i == n)) {
            natsStatus ns = nats_ack_in_order(st, held, i == n, true);
            natsMsg_Destroy(held);
            held = NULL;
            if (ns != NATS_OK && rc == IPCQ_OK)
                rc = nats_fail(c, NULL, ns, 0);
        }
        if (m != NULL)
            held = m;
    }
    if (rc == IPCQ_OK && lost > 0) {
        char detail[120];
        snprintf(detail, sizeof detail, "%zu of %zu leases no longer held", lost, n);
        return client_fail(c, NULL, IPCQ_ELEASE, detail);
    }
    return rc;
}

int
nats_release(ipcq_client *c, uint64_t lease)
{
    nats_state *st = NULL;
    natsMsg *m = NULL;
    int rc = settle(c, lease, &st, &m);
    if (rc != IPCQ_OK)
        return rc;
    natsStatus ns = natsMsg_Nak(m, NULL);
    natsMsg_Destroy(m);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, NULL, ns, 0);
}

int
nats_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    pthread_mutex_lock(&st->lock);
    nats_lease *l = st->leases;
    while (l != NULL && l->id != lease)
        l = l->next;
    if (l != NULL) {
        l->deadline = nats_now_ms() + lease_ms;
        natsMsg_InProgress(l->msg, NULL);
    }
    pthread_mutex_unlock(&st->lock);
    return l != NULL ? IPCQ_OK : client_fail(c, NULL, IPCQ_ELEASE, NULL);
}
