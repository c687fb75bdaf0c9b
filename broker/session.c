/* Client sessions: who holds which waiters and unconfirmed deliveries.
 *
 * ZeroMQ does not tell a ROUTER that a peer went away, so the broker learns
 * it when a reply or probe cannot be routed (ZMQ_ROUTER_MANDATORY); the
 * unix:// lane tells at once (broker_peer_lost). All
 * clean-up of a client that went away happens in session_lost(). A session
 * exists only while it holds state, so the table stays as small as the
 * number of clients that are blocked or hold items. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"

session *
session_get(broker *b, const void *id, size_t id_len, bool create)
{
    session *s = table_get(&b->sessions, id, id_len);
    if (s != NULL || !create)
        return s;
    s = malloc(sizeof *s + id_len);
    if (s == NULL)
        return NULL;
    list_init(&s->waiters);
    list_init(&s->deliveries);
    s->handle = 0;
    s->id_len = id_len;
    memcpy(s->id, id, id_len);
    if (!table_put(&b->sessions, s->id, s->id_len, s)) {
        free(s);
        return NULL;
    }
    return s;
}

void
session_release_if_idle(broker *b, session *s)
{
    if (list_empty(&s->waiters) && list_empty(&s->deliveries)) {
        table_remove(&b->sessions, s->id, s->id_len);
        free(s);
    }
}

static void
delivery_free(broker *b, delivery *d)
{
    if (d->queue->shutdown)
        broker_mark_dirty(b, d->queue); /* the last one out lets getters fail */
    deadline_remove(&b->leases, &d->lease);
    list_remove(&d->in_session);
    list_remove(&d->in_queue);
    d->queue->nleased--;
    free(d);
}

void
delivery_return(broker *b, delivery *d)
{
    queue *q = d->queue;
    item *it = d->item;
    delivery_free(b, d);
    queue_redeliver(b, q, it);
}

void
delivery_done(broker *b, delivery *d)
{
    journal_done(b, d->item);
    item_free(d->item);
    delivery_free(b, d);
}

bool
delivery_extend(broker *b, delivery *d, int64_t lease_ms)
{
    deadline_remove(&b->leases, &d->lease);
    return deadline_add(&b->leases, &d->lease, clock_deadline_us(b->now_us, lease_ms));
}

void
session_lost(broker *b, session *s)
{
    list_link *l;
    while ((l = list_first(&s->waiters)) != NULL) {
        waiter *w = LIST_ENTRY(l, waiter, in_session);
        broker_mark_dirty(b, w->queue); /* the next waiter may now be served */
        waiter_detach(b, w);
        list_remove(&w->in_session);
        item_fifo_free(&w->items);
        free(w);
    }
    /* Return the newest first, so that the oldest ends at the head. */
    while (!list_empty(&s->deliveries))
        delivery_return(b, LIST_ENTRY(s->deliveries.prev, delivery, in_session));
    table_remove(&b->sessions, s->id, s->id_len);
    free(s);
}

bool
session_deliver(broker *b, session *s, queue *q, item *it, int64_t lease_ms, uint64_t *tag)
{
    delivery *d = malloc(sizeof *d);
    if (d == NULL)
        return false;
    deadline_entry_init(&d->lease);
    if (lease_ms > 0 &&
        !deadline_add(&b->leases, &d->lease, clock_deadline_us(b->now_us, lease_ms))) {
        free(d);
        return false;
    }
    d->tag = ++b->next_tag;
    d->item = it;
    d->queue = q;
    d->session = s;
    list_push_back(&s->deliveries, &d->in_session);
    list_push_back(&q->deliveries, &d->in_queue);
    q->nleased++;
    *tag = d->tag;
    return true;
}

delivery *
session_find_delivery(session *s, uint64_t tag)
{
    for (list_link *l = s->deliveries.next; l != &s->deliveries; l = l->next) {
        delivery *d = LIST_ENTRY(l, delivery, in_session);
        if (d->tag == tag)
            return d;
    }
    return NULL;
}

delivery *
session_find_handle_delivery(broker *b, const session *own, uint64_t handle, uint64_t tag)
{
    if (handle == 0)
        return NULL;
    void *v;
    for (size_t i = 0; table_next(&b->sessions, &i, &v);) {
        session *s = v;
        delivery *d = s != own && s->handle == handle ? session_find_delivery(s, tag) : NULL;
        if (d != NULL)
            return d;
    }
    return NULL;
}

void
delivery_drop_all(broker *b, queue *q)
{
    list_link *l;
    while ((l = list_first(&q->deliveries)) != NULL) {
        delivery *d = LIST_ENTRY(l, delivery, in_queue);
        session *s = d->session;
        delivery_done(b, d);
        session_release_if_idle(b, s);
    }
}

/* A probe is a reply with id 0: clients ignore it, and routing it tells the
 * broker whether the peer is still connected. A peer whose transport
 * reports its departure (BROKER_PEER_LINKED) needs none. */
void
session_probe_all(broker *b)
{
    const Ipcqwire__Reply probe_reply = IPCQWIRE__REPLY__INIT;
    session **lost = NULL;
    size_t nlost = 0, cap = 0;
    void *v;
    for (size_t i = 0; table_next(&b->sessions, &i, &v);) {
        session *s = v;
        if ((s->id_len > 0 && s->id[0] == BROKER_PEER_LINKED) ||
            reply_send_now(b, s->id, s->id_len, &probe_reply))
            continue;
        if (nlost == cap) {
            cap = cap ? cap * 2 : 16;
            session **grown = realloc(lost, cap * sizeof *lost);
            if (grown == NULL)
                break; /* the rest is found lost at the next probe */
            lost = grown;
        }
        lost[nlost++] = s;
    }
    for (size_t i = 0; i < nlost; i++)
        session_lost(b, lost[i]);
    free(lost);
}
