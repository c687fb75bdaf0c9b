/* The bounded FIFO of items, and the broker's registry of queues by name.
 * Waiters hang off the queue's lists but are managed in waiter.c; the rules
 * that hand items over live in serve.c. */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "wire.h"

item *
item_new(const void *data, size_t len, int64_t now_us)
{
    item *it = malloc(sizeof *it + len);
    if (it == NULL)
        return NULL;
    limits_charge_item(len);
    it->next = NULL;
    it->enqueued_us = now_us;
    it->deliveries = 0;
    it->len = len;
    if (len)
        memcpy(it->data, data, len);
    return it;
}

void
item_free(item *it)
{
    if (it == NULL)
        return;
    limits_release_item(it->len);
    free(it);
}

void
item_fifo_push_tail(item_fifo *f, item *it)
{
    it->next = NULL;
    if (f->tail)
        f->tail->next = it;
    else
        f->head = it;
    f->tail = it;
    f->count++;
    f->bytes += it->len;
}

void
item_fifo_push_head(item_fifo *f, item *it)
{
    it->next = f->head;
    f->head = it;
    if (f->tail == NULL)
        f->tail = it;
    f->count++;
    f->bytes += it->len;
}

item *
item_fifo_pop_head(item_fifo *f)
{
    item *it = f->head;
    if (it == NULL)
        return NULL;
    f->head = it->next;
    if (f->head == NULL)
        f->tail = NULL;
    it->next = NULL;
    f->count--;
    f->bytes -= it->len;
    return it;
}

void
item_fifo_append(item_fifo *dst, item_fifo *src)
{
    if (src->head == NULL)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->count += src->count;
    dst->bytes += src->bytes;
    *src = (item_fifo){0};
}

void
item_discard(broker *b, item *it)
{
    journal_forget(b, it);
    item_free(it);
}

void
item_fifo_discard(broker *b, item_fifo *f)
{
    item *it;
    while ((it = item_fifo_pop_head(f)) != NULL)
        item_discard(b, it);
}

void
item_fifo_free(item_fifo *f)
{
    item *it;
    while ((it = item_fifo_pop_head(f)) != NULL)
        item_free(it);
}

queue *
queue_new(const void *name, size_t name_len, int64_t maxsize)
{
    queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->name = malloc(name_len + 1);
    if (q->name == NULL) {
        free(q);
        return NULL;
    }
    memcpy(q->name, name, name_len);
    q->name[name_len] = '\0';
    q->name_len = name_len;
    q->maxsize = maxsize > 0 ? maxsize : 0;
    q->max_deliveries = IPCQ_DEFAULT_MAX_DELIVERIES;
    list_init(&q->getters);
    list_init(&q->putters);
    list_init(&q->joiners);
    list_init(&q->deliveries);
    list_init(&q->dirty);
    list_init(&q->state_changed);
    return q;
}

void
queue_free(queue *q)
{
    if (q == NULL)
        return;
    item_fifo_free(&q->items);
    free(q->name);
    free(q);
}

bool
queue_drained(const queue *q)
{
    /* After an immediate shutdown nothing out can come back: a returned
     * item is dropped (queue_return_head), so gets fail at once (Q12). */
    return q->shutdown && q->items.count == 0 && (q->nleased == 0 || q->shutdown_immediate);
}

bool
queue_has_room(const queue *q, size_t n)
{
    return q->maxsize == 0 || q->items.count + n <= (uint64_t)q->maxsize;
}

void
queue_add_items(broker *b, queue *q, item_fifo *items)
{
    for (item *it = items->head; it; it = it->next) {
        it->enqueued_us = b->now_us;
        it->key = ++q->tail_key;
        it->state = ITEM_QUEUED;
        journal_put(b, q, it);
    }
    b->total_items += items->count;
    b->total_bytes += items->bytes;
    q->puts += items->count;
    q->unfinished += items->count;
    item_fifo_append(&q->items, items);
    broker_mark_dirty(b, q);
}

item *
queue_take_head(broker *b, queue *q)
{
    item *it = item_fifo_pop_head(&q->items);
    if (it) {
        b->total_items--;
        b->total_bytes -= it->len;
    }
    return it;
}

void
queue_return_head(broker *b, queue *q, item *it)
{
    if (q->shutdown_immediate) {
        /* Shut down at once: what comes back is dropped, its task done. */
        if (q->unfinished)
            q->unfinished--;
        journal_done(b, it);
        journal_queue_changed(b, q);
        item_free(it);
    } else {
        it->key = q->head_key--;
        journal_return(b, it);
        item_fifo_push_head(&q->items, it);
        b->total_items++;
        b->total_bytes += it->len;
    }
    broker_mark_dirty(b, q);
}

/* Moves an item that was delivered too often to NAME.dlq, as a new task
 * there; in its own queue it counts as done, so join does not wait on it.
 * A name too long for a ".dlq" suffix, or no memory: the item is dropped,
 * and still counted. A durable broker logs the new item before the old one
 * goes, so that a crash between the two keeps it (at least once). */
static void
dead_letter(broker *b, queue *q, item *it)
{
    static const char suffix[] = ".dlq";
    char name[IPCQ_NAME_MAX + 1];
    q->dead_lettered++;
    if (q->unfinished)
        q->unfinished--;
    broker_mark_dirty(b, q);
    journal_queue_changed(b, q);
    queue *dlq = NULL;
    if (q->name_len + sizeof suffix - 1 <= IPCQ_NAME_MAX) {
        memcpy(name, q->name, q->name_len);
        memcpy(name + q->name_len, suffix, sizeof suffix);
        size_t len = q->name_len + sizeof suffix - 1;
        dlq = broker_find_queue(b, name, len);
        if (dlq == NULL && (dlq = broker_create_queue(b, name, len, 0)) != NULL) {
            dlq->max_deliveries = 0;
            journal_queue_now(b, dlq);
        }
    }
    item *moved = NULL;
    if (dlq != NULL && b->store == NULL) {
        moved = it; /* nothing logged: the same item moves */
        it = NULL;
    } else if (dlq != NULL && (moved = item_new(it->data, it->len, b->now_us)) != NULL) {
        moved->deliveries = it->deliveries;
    }
    if (moved != NULL) {
        item_fifo one = {0};
        item_fifo_push_tail(&one, moved);
        queue_add_items(b, dlq, &one);
    }
    if (it != NULL) {
        journal_done(b, it);
        item_free(it);
    }
}

void
queue_redeliver(broker *b, queue *q, item *it)
{
    if (q->max_deliveries > 0 && it->deliveries >= q->max_deliveries)
        dead_letter(b, q, it);
    else
        queue_return_head(b, q, it);
}

void
queue_drop_items(broker *b, queue *q)
{
    b->total_items -= q->items.count;
    b->total_bytes -= q->items.bytes;
    item_fifo_discard(b, &q->items);
}

queue *
broker_lookup_queue(broker *b, const void *name, size_t len)
{
    return table_get(&b->queues, name, len);
}

queue *
broker_find_queue(broker *b, const void *name, size_t len)
{
    queue *q = table_get(&b->queues, name, len);
    return q != NULL && !q->placeholder ? q : NULL;
}

queue *
broker_create_queue(broker *b, const void *name, size_t len, int64_t maxsize)
{
    queue *q = table_get(&b->queues, name, len);
    if (q != NULL) {
        if (q->placeholder) { /* getters waited for it: it is made now (Q2) */
            q->placeholder = false;
            q->maxsize = maxsize;
            b->nplaceholders--;
        }
        return q;
    }
    q = queue_new(name, len, maxsize);
    if (q == NULL)
        return NULL;
    if (!table_put(&b->queues, q->name, q->name_len, q)) {
        queue_free(q);
        return NULL;
    }
    return q;
}

queue *
broker_await_queue(broker *b, const void *name, size_t len)
{
    queue *q = table_get(&b->queues, name, len);
    if (q != NULL)
        return q;
    q = broker_create_queue(b, name, len, 0);
    if (q != NULL) {
        q->placeholder = true;
        b->nplaceholders++;
    }
    return q;
}

void
broker_delete_queue(broker *b, queue *q)
{
    static const char why[] = "queue deleted";
    journal_queue_deleted(b, q);
    waiter_answer_all(b, &q->getters, IPCQ_EDELETED, why);
    waiter_answer_all(b, &q->putters, IPCQ_EDELETED, why);
    waiter_answer_all(b, &q->joiners, IPCQ_EDELETED, why);
    delivery_drop_all(b, q);
    queue_drop_items(b, q);
    if (list_linked(&q->dirty))
        list_remove(&q->dirty);
    table_remove(&b->queues, q->name, q->name_len);
    if (q->placeholder)
        b->nplaceholders--;
    queue_free(q);
}
