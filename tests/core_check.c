/* The broker core's invariants and the ledger of replies owed (see
 * core_check.h), shared by test_core_rules and fuzz_broker. */
#include "core_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void
fail_and_abort(const char *file, int line, const char *what)
{
    /* Written to descriptor 2 itself: a fuzz target may point the stdio
     * stream stderr elsewhere. */
    dprintf(2, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static core_check_fail_fn fail_hook = fail_and_abort;

void
core_check_on_failure(core_check_fail_fn fail)
{
    fail_hook = fail ? fail : fail_and_abort;
}

static void
check_failed(const char *file, int line, const char *what)
{
    fail_hook(file, line, what);
    abort(); /* a hook that returns breaks its contract */
}

#define CHECK(cond) ((cond) ? (void)0 : check_failed(__FILE__, __LINE__, #cond))

static size_t
count_links(const list_link *head)
{
    size_t n = 0;
    for (const list_link *l = head->next; l != head; l = l->next)
        n++;
    return n;
}

/* What limits.c charges for the items alive: checked against the sum of
 * limits_item_cost() over every item found in a queue, a putter or a
 * delivery. */
static size_t charged;

size_t
core_check_items_held(void)
{
    /* limits_memory_held() adds the broker's own costs to the items':
     * those of a broker with nothing are nothing. */
    broker none;
    memset(&none, 0, sizeof none);
    return limits_memory_held(&none);
}

static void
check_fifo(const item_fifo *f)
{
    size_t n = 0, bytes = 0;
    const item *last = NULL;
    for (const item *it = f->head; it; it = it->next) {
        n++, bytes += it->len, last = it;
        charged += limits_item_cost(it->len);
    }
    CHECK(n == f->count && bytes == f->bytes && last == f->tail);
}

/* The waiters of one queue list: theirs, in their session, and in the
 * deadline heap exactly when they have a finite deadline. */
static size_t
check_waiters(broker *b, queue *q, const list_link *head, wait_kind kind)
{
    size_t timed = 0;
    for (const list_link *l = head->next; l != head; l = l->next) {
        const waiter *w = LIST_ENTRY(l, waiter, in_queue);
        CHECK(w->kind == kind && w->queue == q);
        CHECK(table_get(&b->sessions, w->session->id, w->session->id_len) == w->session);
        CHECK(list_linked(&w->in_session));
        CHECK(kind == WAIT_PUT || w->items.count == 0);
        check_fifo(&w->items);
        if (w->deadline.index != DEADLINE_NONE) {
            CHECK(w->deadline.index < b->deadlines.count);
            CHECK(b->deadlines.slots[w->deadline.index] == &w->deadline);
            timed++;
        }
    }
    return timed;
}

/* The hand-over rules hold after every pass (serve.c): nobody waits for
 * what could be given to them now. */
static void
check_served(const broker *b, const queue *q)
{
    CHECK(q->items.count == 0 || q->ngetters == 0);
    list_link *first = list_first(&q->putters);
    if (first != NULL) {
        const waiter *w = LIST_ENTRY(first, waiter, in_queue);
        CHECK(!q->shutdown);
        CHECK(!queue_has_room(q, w->items.count));
    }
    CHECK(!queue_drained(q) || q->ngetters == 0);
    CHECK(q->unfinished > 0 || q->njoiners == 0);
    if (b->stopping) /* every blocked caller was answered, and none blocks since */
        CHECK(q->ngetters == 0 && q->nputters == 0 && q->njoiners == 0);
}

void
core_check_broker(broker *b)
{
    size_t items = 0, bytes = 0, timed = 0, leased = 0, on_lease = 0, waiters = 0;
    size_t placeholders = 0;
    charged = 0;
    void *v;
    for (size_t i = 0; table_next(&b->queues, &i, &v);) {
        queue *q = v;
        CHECK(queue_name_valid(q->name, q->name_len) && q->name[q->name_len] == '\0');
        CHECK(broker_lookup_queue(b, q->name, q->name_len) == q);
        if (q->placeholder) {
            /* Q2: only getters wait on it, and only while one does. */
            placeholders++;
            CHECK(broker_find_queue(b, q->name, q->name_len) == NULL);
            CHECK(b->stopping || q->ngetters > 0);
            CHECK(q->items.count == 0 && q->nputters == 0 && q->njoiners == 0 && q->nleased == 0 &&
                  q->unfinished == 0 && q->maxsize == 0 && !q->shutdown);
        }
        check_fifo(&q->items);
        items += q->items.count;
        bytes += q->items.bytes;
        CHECK(count_links(&q->getters) == q->ngetters);
        CHECK(count_links(&q->putters) == q->nputters);
        CHECK(count_links(&q->joiners) == q->njoiners);
        CHECK(count_links(&q->deliveries) == q->nleased);
        waiters += q->ngetters + q->nputters + q->njoiners;
        timed += check_waiters(b, q, &q->getters, WAIT_GET);
        timed += check_waiters(b, q, &q->putters, WAIT_PUT);
        timed += check_waiters(b, q, &q->joiners, WAIT_JOIN);
        for (const list_link *l = q->deliveries.next; l != &q->deliveries; l = l->next) {
            const delivery *d = LIST_ENTRY(l, delivery, in_queue);
            CHECK(d->queue == q && d->item != NULL && d->tag != 0 && d->tag <= b->next_tag);
            CHECK(session_find_delivery(d->session, d->tag) == d);
            charged += limits_item_cost(d->item->len);
            if (d->lease.index != DEADLINE_NONE) {
                CHECK(b->leases.slots[d->lease.index] == &d->lease);
                on_lease++;
            }
        }
        leased += q->nleased;
        check_served(b, q);
    }
    /* broker_stop() serves no queue: one that a lost session gave items
     * back to stays marked, with no waiter left to serve. */
    CHECK(b->stopping || list_empty(&b->dirty));
    CHECK(placeholders == b->nplaceholders);
    CHECK(items == b->total_items && bytes == b->total_bytes);
    CHECK(waiters == b->nwaiters);
    CHECK(charged == core_check_items_held());
    CHECK(timed == b->deadlines.count);
    CHECK(on_lease == b->leases.count);
    /* A session is kept only while it holds state. */
    size_t in_sessions = 0;
    for (size_t i = 0; table_next(&b->sessions, &i, &v);) {
        session *s = v;
        CHECK(!list_empty(&s->waiters) || !list_empty(&s->deliveries));
        for (const list_link *l = s->waiters.next; l != &s->waiters; l = l->next)
            CHECK(LIST_ENTRY(l, waiter, in_session)->session == s);
        for (const list_link *l = s->deliveries.next; l != &s->deliveries; l = l->next)
            CHECK(LIST_ENTRY(l, delivery, in_session)->session == s);
        in_sessions += count_links(&s->deliveries);
    }
    CHECK(in_sessions == leased);
}

static core_owed_reply *
find_owed(core_ledger *l, unsigned peer, uint64_t id)
{
    for (size_t i = 0; i < l->nowed; i++)
        if (l->owed[i].peer == peer && l->owed[i].id == id)
            return &l->owed[i];
    return NULL;
}

void
core_ledger_owe(core_ledger *l, unsigned peer, const void *msg, size_t len)
{
    Ipcqwire__Request *req = ipcqwire__request__unpack(NULL, len, msg);
    if (req == NULL)
        return;
    bool one_way = req->version == IPCQ_PROTOCOL_VERSION &&
                   (req->op == IPCQWIRE__OP__OP_CONFIRM || req->op == IPCQWIRE__OP__OP_HAND_BACK ||
                    req->op == IPCQWIRE__OP__OP_CANCEL);
    if (!one_way && req->id != 0) {
        core_owed_reply *o = find_owed(l, peer, req->id);
        if (o == NULL && l->nowed < CORE_LEDGER_MAX) {
            o = &l->owed[l->nowed++];
            *o = (core_owed_reply){peer, req->id, 0};
        }
        CHECK(o != NULL);
        o->count++;
    }
    ipcqwire__request__free_unpacked(req, NULL);
}

void
core_ledger_answered(core_ledger *l, unsigned peer, const Ipcqwire__Reply *r)
{
    CHECK(r->status == IPCQ_OK || r->n_items == 0);
    if (r->id != 0) {
        core_owed_reply *o = find_owed(l, peer, r->id);
        CHECK(o != NULL && o->count > 0);
        o->count--;
    }
}

void
core_ledger_forget(core_ledger *l, unsigned peer, uint64_t id)
{
    core_owed_reply *o = find_owed(l, peer, id);
    if (o != NULL && o->count > 0)
        o->count--;
}

size_t
core_ledger_unanswered(const core_ledger *l, unsigned peer)
{
    size_t n = 0;
    for (size_t i = 0; i < l->nowed; i++)
        if (l->owed[i].peer == peer)
            n += l->owed[i].count;
    return n;
}
