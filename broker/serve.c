/* The hand-over rules of a queue (Q7, Q9, Q12), applied at the end of each
 * pass to every queue whose state changed:
 *   - items at the head go to blocked getters, oldest getter first, and
 *     each handed item becomes an unconfirmed delivery (D1);
 *   - while there is room, the oldest blocked putter is admitted: it is
 *     answered first, and its items are added only if the answer could be
 *     routed, so a dead putter never adds (D3);
 *   - joiners are answered once no task is unfinished;
 *   - on a shut-down queue, putters fail, and getters fail once it is
 *     drained: empty, with nothing out on a lease that could come back;
 *   - a placeholder that no getter waits on any more is removed (Q2). */
#include <stdlib.h>

#include "core.h"

void
broker_mark_dirty(broker *b, queue *q)
{
    if (!list_linked(&q->dirty))
        list_push_back(&b->dirty, &q->dirty);
}

/* Hands up to max_items from the head of q to the getter w, each tracked as
 * a delivery (on a lease if the getter asked) before the reply leaves. If
 * the reply cannot be routed, session_lost() returns those deliveries to
 * the head in order, their delivery counts unchanged. A getter that asked
 * for redelivered items alone gets an item handed out before by itself: a
 * batch stops before one, so that an item that killed its taker never
 * takes fresh items down with it again (D6). */
static void
hand_to_getter(broker *b, queue *q, waiter *w)
{
    session *s = w->session;
    size_t n = q->items.count < w->max_items ? q->items.count : w->max_items;
    if (w->redelivered_alone && q->items.head->deliveries > 0)
        n = 1;
    Ipcqwire__Item *wire = calloc(n, sizeof *wire);
    Ipcqwire__Item **ptrs = calloc(n, sizeof *ptrs);
    item **handed = calloc(n, sizeof *handed);
    if (wire == NULL || ptrs == NULL || handed == NULL) {
        free(wire), free(ptrs), free(handed);
        waiter_answer(b, w, IPCQ_ENOMEM, "broker out of memory");
        return;
    }
    size_t count = 0, bytes = 0;
    for (; count < n; count++) {
        /* A batch stops before it would outgrow one item's worth of bytes
         * (it always carries at least one item). */
        if (count > 0 && bytes + q->items.head->len > b->cfg.max_item_size)
            break;
        if (count > 0 && w->redelivered_alone && q->items.head->deliveries > 0)
            break;
        item *it = queue_take_head(b, q);
        bytes += it->len;
        uint64_t tag;
        if (!session_deliver(b, s, q, it, w->lease_ms, &tag)) {
            queue_return_head(b, q, it);
            break;
        }
        handed[count] = it;
        ipcqwire__item__init(&wire[count]);
        wire[count].data.data = it->data;
        wire[count].data.len = it->len;
        wire[count].tag = tag;
        wire[count].has_deliveries = 1;
        wire[count].deliveries = it->deliveries + 1;
        ptrs[count] = &wire[count];
    }
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = w->req_id;
    r.status = count ? IPCQ_OK : IPCQ_ENOMEM;
    r.n_items = count;
    r.items = ptrs;
    if (reply_send(b, s->id, s->id_len, &r)) {
        for (size_t i = 0; i < count; i++) {
            handed[i]->deliveries++;
            journal_handout(b, handed[i]);
        }
        q->gets += count;
        waiter_end(b, w);
    } else {
        session_lost(b, s);
    }
    free(wire), free(ptrs), free(handed);
}

/* Admits the oldest putter: answer first, add only if the answer was routed. */
static void
admit_putter(broker *b, queue *q, waiter *w)
{
    session *s = w->session;
    b->answering_change = q->name;
    b->answering_change_len = q->name_len;
    bool routed = reply_send_status(b, s->id, s->id_len, w->req_id, IPCQ_OK, NULL);
    b->answering_change = NULL;
    if (!routed) {
        session_lost(b, s);
        return;
    }
    queue_add_items(b, q, &w->items);
    waiter_end(b, w);
}

/* A putter whose items may enter one by one (an async put batch) moves as
 * many as there is room for; it is answered when the last one is in. */
static void
admit_some(broker *b, queue *q, waiter *w)
{
    item_fifo part = {0};
    while (w->items.count > 1 && queue_has_room(q, part.count + 1)) {
        item *it = item_fifo_pop_head(&w->items);
        item_fifo_push_tail(&part, it);
    }
    queue_add_items(b, q, &part);
}

static waiter *
first_waiter(list_link *l)
{
    list_link *f = list_first(l);
    return f ? LIST_ENTRY(f, waiter, in_queue) : NULL;
}

static void
serve_queue(broker *b, queue *q)
{
    for (;;) {
        waiter *w;
        if (q->items.count > 0 && (w = first_waiter(&q->getters)) != NULL) {
            hand_to_getter(b, q, w);
            continue;
        }
        if ((w = first_waiter(&q->putters)) != NULL) {
            if (q->shutdown) {
                waiter_answer(b, w, IPCQ_ESHUTDOWN, "queue is shut down");
                continue;
            }
            if (queue_has_room(q, w->items.count)) {
                admit_putter(b, q, w);
                continue;
            }
            if (w->admit_each && queue_has_room(q, 1)) {
                admit_some(b, q, w); /* leaves the last item, which admit_putter adds */
                continue;
            }
        }
        if (queue_drained(q) && (w = first_waiter(&q->getters)) != NULL) {
            waiter_answer(b, w, IPCQ_ESHUTDOWN, "queue is shut down");
            continue;
        }
        if (q->unfinished == 0 && (w = first_waiter(&q->joiners)) != NULL) {
            waiter_answer(b, w, IPCQ_OK, NULL);
            continue;
        }
        break;
    }
}

void
broker_serve_dirty(broker *b)
{
    list_link *l;
    while ((l = list_first(&b->dirty)) != NULL) {
        queue *q = LIST_ENTRY(l, queue, dirty);
        list_remove(l);
        serve_queue(b, q);
        if (q->placeholder && q->ngetters == 0)
            broker_delete_queue(b, q);
    }
}
