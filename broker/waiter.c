/* Blocked requests. A waiter sits in its queue's list (getters, putters or
 * joiners, in arrival order: Q7), in its session's list, and, when it has a
 * finite timeout, in the deadline heap. It ends exactly once, through
 * waiter_end(), whichever of those events comes first. */
#include <stdlib.h>

#include "core.h"

static list_link *
queue_list(queue *q, wait_kind kind)
{
    switch (kind) {
    case WAIT_GET:
        return &q->getters;
    case WAIT_PUT:
        return &q->putters;
    case WAIT_JOIN:
        break;
    }
    return &q->joiners;
}

static size_t *
queue_count(queue *q, wait_kind kind)
{
    switch (kind) {
    case WAIT_GET:
        return &q->ngetters;
    case WAIT_PUT:
        return &q->nputters;
    case WAIT_JOIN:
        break;
    }
    return &q->njoiners;
}

/* Takes w out of its queue's list and count, and out of the deadline heap;
 * it stays in its session's list. */
void
waiter_detach(broker *b, waiter *w)
{
    deadline_remove(&b->deadlines, &w->deadline);
    list_remove(&w->in_queue);
    (*queue_count(w->queue, w->kind))--;
    b->nwaiters--;
}

waiter *
waiter_new(broker *b, wait_kind kind, session *s, queue *q, uint64_t req_id, int64_t deadline_us)
{
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->kind = kind;
    w->req_id = req_id;
    w->session = s;
    w->queue = q;
    w->max_items = 1;
    deadline_entry_init(&w->deadline);
    if (deadline_us != INT64_MAX && !deadline_add(&b->deadlines, &w->deadline, deadline_us)) {
        free(w);
        return NULL;
    }
    list_push_back(queue_list(q, kind), &w->in_queue);
    list_push_back(&s->waiters, &w->in_session);
    (*queue_count(q, kind))++;
    b->nwaiters++;
    return w;
}

void
waiter_end(broker *b, waiter *w)
{
    session *s = w->session;
    if (w->queue->placeholder)
        broker_mark_dirty(b, w->queue); /* to go if this was its last getter */
    waiter_detach(b, w);
    list_remove(&w->in_session);
    item_fifo_free(&w->items);
    free(w);
    session_release_if_idle(b, s);
}

void
waiter_answer(broker *b, waiter *w, int status, const char *detail)
{
    session *s = w->session;
    if (reply_send_status(b, s->id, s->id_len, w->req_id, status, detail))
        waiter_end(b, w);
    else
        session_lost(b, s); /* ends w with the rest of the session */
}

void
waiter_answer_all(broker *b, list_link *waiters, int status, const char *detail)
{
    list_link *first;
    while ((first = list_first(waiters)) != NULL)
        waiter_answer(b, LIST_ENTRY(first, waiter, in_queue), status, detail);
}

void
waiter_answer_every_queue(broker *b, unsigned kinds, int status, const char *detail)
{
    /* An answer that cannot be routed loses its session, whose items may go
     * to a dead-letter queue created on the spot: the table can grow under
     * the scan and move a queue behind it. So scan again until a scan finds
     * nobody waiting. */
    bool answered;
    do {
        answered = false;
        void *v;
        for (size_t i = 0; table_next(&b->queues, &i, &v);) {
            queue *q = v;
            size_t n = (kinds & WAITING_GETTERS ? q->ngetters : 0) +
                       (kinds & WAITING_PUTTERS ? q->nputters : 0) +
                       (kinds & WAITING_JOINERS ? q->njoiners : 0);
            if (n == 0)
                continue;
            answered = true;
            if (kinds & WAITING_GETTERS)
                waiter_answer_all(b, &q->getters, status, detail);
            if (kinds & WAITING_PUTTERS)
                waiter_answer_all(b, &q->putters, status, detail);
            if (kinds & WAITING_JOINERS)
                waiter_answer_all(b, &q->joiners, status, detail);
        }
    } while (answered);
}
