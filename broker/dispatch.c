/* The request handlers: one small function per request type, chosen from a
 * table by the request's op. Checks that every queue request shares (the
 * name, the timeout, finding or creating the queue, or a placeholder for a
 * get to wait on) run once, before the handler, as the table's flags ask. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "wire.h"

typedef struct request {
    broker *b;
    const unsigned char *peer;
    size_t peer_len;
    const Ipcqwire__Request *msg;
    queue *q;
    int64_t timeout_ms;
} request;

/* Flags: what a handler needs checked before it runs. */
enum {
    NEEDS_NAME = 1,     /* a valid queue name (Q1) */
    NEEDS_QUEUE = 2,    /* the queue must exist */
    CREATES_QUEUE = 4,  /* the queue is created if absent (Q2) */
    AWAITS_QUEUE = 32,  /* a get waits for an absent queue, not creating it (Q2) */
    TAKES_TIMEOUT = 8,  /* a timeout in ms: -1, 0 or positive (Q5, Q11) */
    CARRIES_ITEMS = 16, /* one or more items, none over the max item size (Q3) */
    CHANGES = 64,       /* a change a durable broker must save before it says OK (D5) */
};

static void
answer(request *r, int status, const char *detail)
{
    reply_send_status(r->b, r->peer, r->peer_len, r->msg->id, status, detail);
}

/* Answers with an error whose text names the queue: "NAME: reason". */
__attribute__((format(printf, 3, 4))) static void
fail(request *r, int status, const char *fmt, ...)
{
    char text[512];
    int n = 0;
    if (r->q != NULL)
        n = snprintf(text, sizeof text, "%s: ", r->q->name);
    else if (r->msg->has_queue && queue_name_valid(r->msg->queue.data, r->msg->queue.len))
        n = snprintf(text, sizeof text, "%.*s: ", (int)r->msg->queue.len,
                     (const char *)r->msg->queue.data);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    answer(r, status, text);
}

static int64_t
deadline_of(request *r)
{
    return clock_deadline_us(r->b->now_us, r->timeout_ms);
}

/* A new waiter for this request; answers ENOMEM itself on failure. */
static waiter *
wait_here(request *r, wait_kind kind)
{
    session *s = session_get(r->b, r->peer, r->peer_len, true);
    if (s != NULL && r->msg->has_handle)
        s->handle = r->msg->handle; /* its leases may be settled by the handle's other threads */
    waiter *w = s ? waiter_new(r->b, kind, s, r->q, r->msg->id, deadline_of(r)) : NULL;
    if (w == NULL) {
        if (s)
            session_release_if_idle(r->b, s);
        fail(r, IPCQ_ENOMEM, "broker out of memory");
    }
    return w;
}

static void
handle_ping(request *r)
{
    Ipcqwire__Reply rep = IPCQWIRE__REPLY__INIT;
    rep.id = r->msg->id;
    rep.status = IPCQ_OK;
    rep.has_instance = 1;
    rep.instance = r->b->instance;
    rep.has_version = 1;
    rep.version = IPCQ_PROTOCOL_VERSION;
    rep.has_max_item_size = 1;
    rep.max_item_size = r->b->cfg.max_item_size;
    if (r->msg->has_pending_id) {
        rep.has_pending = 1;
        session *s = session_get(r->b, r->peer, r->peer_len, false);
        for (list_link *l = s ? s->waiters.next : NULL; s && l != &s->waiters; l = l->next)
            if (LIST_ENTRY(l, waiter, in_session)->req_id == r->msg->pending_id)
                rep.pending = 1;
    }
    reply_send(r->b, r->peer, r->peer_len, &rep);
}

/* The items of a put request, copied; false after answering ENOMEM. */
static bool
copy_items(request *r, item_fifo *items)
{
    const Ipcqwire__Request *m = r->msg;
    *items = (item_fifo){0};
    for (size_t i = 0; i < m->n_items; i++) {
        item *it = item_new(m->items[i].data, m->items[i].len, r->b->now_us);
        if (it == NULL) {
            item_fifo_free(items);
            fail(r, IPCQ_ENOMEM, "broker out of memory");
            return false;
        }
        item_fifo_push_tail(items, it);
    }
    return true;
}

static void
handle_put(request *r)
{
    const Ipcqwire__Request *m = r->msg;
    queue *q = r->q;
    bool admit_each = m->has_admit_each && m->admit_each;
    if (q->shutdown) {
        fail(r, IPCQ_ESHUTDOWN, "queue is shut down");
        return;
    }
    if (!admit_each && q->maxsize > 0 && m->n_items > (uint64_t)q->maxsize) {
        fail(r, IPCQ_EINVAL, "a batch of %zu items can never fit in maxsize %lld", m->n_items,
             (long long)q->maxsize);
        return;
    }
    bool fits_now = q->nputters == 0 && queue_has_room(q, m->n_items);
    if (!fits_now && r->timeout_ms == 0) {
        fail(r, IPCQ_FULL, "queue is full (maxsize %lld)", (long long)q->maxsize);
        return;
    }
    item_fifo items;
    if (!copy_items(r, &items))
        return;
    if (fits_now) {
        /* Answer first; add only if the answer could be routed (D3). */
        if (reply_send_status(r->b, r->peer, r->peer_len, m->id, IPCQ_OK, NULL))
            queue_add_items(r->b, q, &items);
        item_fifo_free(&items);
        return;
    }
    /* The rest wait in the putter FIFO; serve.c admits them in turn. */
    waiter *w = wait_here(r, WAIT_PUT);
    if (w == NULL) {
        item_fifo_free(&items);
        return;
    }
    w->items = items;
    w->admit_each = admit_each;
    broker_mark_dirty(r->b, q);
}

static void
handle_get(request *r)
{
    queue *q = r->q;
    if (q->items.count == 0) {
        if (queue_drained(q)) {
            fail(r, IPCQ_ESHUTDOWN, "queue is shut down");
            return;
        }
        if (r->timeout_ms == 0) {
            fail(r, IPCQ_EMPTY, "queue is empty");
            return;
        }
    }
    int64_t lease_ms = r->msg->has_lease_ms ? r->msg->lease_ms : 0;
    if (lease_ms < 0) {
        r->b->bad_requests++;
        fail(r, IPCQ_EINVAL, "negative lease %lld ms", (long long)lease_ms);
        return;
    }
    waiter *w = wait_here(r, WAIT_GET);
    if (w == NULL)
        return;
    w->lease_ms = lease_ms;
    if (r->msg->has_max_items && r->msg->max_items > 1)
        w->max_items = r->msg->max_items;
    w->redelivered_alone = r->msg->has_redelivered_alone && r->msg->redelivered_alone;
    broker_mark_dirty(r->b, q);
}

static void
handle_join(request *r)
{
    if (r->q->unfinished == 0) {
        answer(r, IPCQ_OK, NULL);
        return;
    }
    if (r->timeout_ms == 0) {
        fail(r, IPCQ_ETIMEDOUT, "%llu tasks unfinished", (unsigned long long)r->q->unfinished);
        return;
    }
    wait_here(r, WAIT_JOIN);
}

static void
handle_task_done(request *r)
{
    if (r->q->unfinished == 0) {
        fail(r, IPCQ_ETASKDONE, "task_done() called too many times");
        return;
    }
    if (--r->q->unfinished == 0)
        broker_mark_dirty(r->b, r->q);
    journal_queue_changed(r->b, r->q);
    answer(r, IPCQ_OK, NULL);
}

static void
handle_shutdown(request *r)
{
    queue *q = r->q;
    q->shutdown = true;
    if (r->msg->has_immediate && r->msg->immediate) {
        q->shutdown_immediate = true;
        uint64_t dropped = q->items.count;
        q->unfinished = q->unfinished > dropped ? q->unfinished - dropped : 0;
        queue_drop_items(r->b, q);
    }
    broker_mark_dirty(r->b, q);
    journal_queue_changed(r->b, q);
    answer(r, IPCQ_OK, NULL);
}

static void
handle_create(request *r)
{
    /* resolve_queue() created it, or found it with the same maxsize. */
    answer(r, IPCQ_OK, NULL);
}

static void
handle_delete(request *r)
{
    broker_delete_queue(r->b, r->q);
    r->q = NULL;
    answer(r, IPCQ_OK, NULL);
}

/* This process's resident memory, from /proc/self/statm; false where
 * there is none. */
static bool
resident_bytes(uint64_t *out)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, resident;
    bool ok = f != NULL && fscanf(f, "%llu %llu", &size, &resident) == 2;
    if (f != NULL)
        fclose(f);
    if (ok)
        *out = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    return ok;
}

static void
fill_queue_stat(broker *b, const queue *q, Ipcqwire__QueueStat *st)
{
    ipcqwire__queue_stat__init(st);
    st->name.data = (uint8_t *)q->name;
    st->name.len = q->name_len;
    st->size = q->items.count;
    st->maxsize = q->maxsize;
    st->bytes = q->items.bytes;
    st->getters = q->ngetters;
    st->putters = q->nputters;
    st->unfinished = q->unfinished;
    st->leased = q->nleased;
    st->oldest_ms = q->items.head ? (uint64_t)(b->now_us - q->items.head->enqueued_us) / 1000 : 0;
    st->puts = q->puts;
    st->gets = q->gets;
    st->has_shutdown = 1;
    st->shutdown = q->shutdown;
    st->has_joiners = 1;
    st->joiners = q->njoiners;
    st->has_max_deliveries = 1;
    st->max_deliveries = q->max_deliveries;
    st->has_dead_lettered = 1;
    st->dead_lettered = q->dead_lettered;
}

static void
handle_stat(request *r)
{
    broker *b = r->b;
    size_t n = r->q ? 1 : b->queues.count - b->nplaceholders;
    Ipcqwire__QueueStat *stats = calloc(n ? n : 1, sizeof *stats);
    Ipcqwire__QueueStat **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (stats == NULL || ptrs == NULL) {
        free(stats), free(ptrs);
        fail(r, IPCQ_ENOMEM, "broker out of memory");
        return;
    }
    if (r->q) {
        fill_queue_stat(b, r->q, &stats[0]);
    } else {
        void *v;
        size_t i = 0;
        for (size_t cur = 0; i < n && table_next(&b->queues, &cur, &v);)
            if (!((queue *)v)->placeholder)
                fill_queue_stat(b, v, &stats[i++]);
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &stats[i];
    Ipcqwire__BrokerStat bs = IPCQWIRE__BROKER_STAT__INIT;
    bs.queues = b->queues.count - b->nplaceholders;
    bs.sessions = b->sessions.count;
    bs.items = b->total_items;
    bs.bytes = b->total_bytes;
    bs.uptime_ms = (uint64_t)(b->now_us - b->started_us) / 1000;
    bs.requests = b->requests;
    bs.bad_requests = b->bad_requests;
    bs.unroutable = b->unroutable;
    bs.max_item_size = b->cfg.max_item_size;
    bs.pid = (uint32_t)getpid();
    bs.has_disconnects = 1;
    bs.disconnects = b->disconnects;
    bs.has_clients = 1;
    bs.clients = b->clients;
    bs.has_rss_bytes = resident_bytes(&bs.rss_bytes);
    if (b->store != NULL) {
        store_stats st;
        store_get_stats(b->store, &st);
        bs.has_log_disk_bytes = bs.has_log_live_bytes = bs.has_log_segments = 1;
        bs.log_disk_bytes = st.disk_bytes;
        bs.log_live_bytes = st.live_bytes;
        bs.log_segments = st.segments;
        bs.has_storage_failed = 1;
        bs.storage_failed = b->store_failed;
    }
    Ipcqwire__Reply rep = IPCQWIRE__REPLY__INIT;
    rep.id = r->msg->id;
    rep.status = IPCQ_OK;
    rep.n_queues = n;
    rep.queues = ptrs;
    rep.broker = &bs;
    reply_send(b, r->peer, r->peer_len, &rep);
    free(stats), free(ptrs);
}

/* The delivery with this tag held by the requesting session or, when the
 * request names its client handle, by another session of that handle (D8). */
static delivery *
request_delivery(request *r, session *own, uint64_t tag)
{
    delivery *d = own != NULL ? session_find_delivery(own, tag) : NULL;
    if (d == NULL && r->msg->has_handle)
        d = session_find_handle_delivery(r->b, own, r->msg->handle, tag);
    return d;
}

/* Applies done or return to each of the request's tags held (see
 * request_delivery); unknown tags (already returned, or never handed out)
 * are skipped and counted: the count is returned. */
static size_t
for_each_tag(request *r, void (*apply)(broker *, delivery *), bool newest_first)
{
    size_t n = r->msg->n_tags;
    session *own = session_get(r->b, r->peer, r->peer_len, false);
    size_t unknown = 0;
    for (size_t k = 0; k < n; k++) {
        delivery *d = request_delivery(r, own, r->msg->tags[newest_first ? n - 1 - k : k]);
        if (d == NULL) {
            unknown++;
            continue;
        }
        session *holder = d->session;
        apply(r->b, d);
        if (holder != own)
            session_release_if_idle(r->b, holder);
    }
    if (own != NULL)
        session_release_if_idle(r->b, own);
    return unknown;
}

/* Confirm, release and cancel are one-way: no reply. */
static void
handle_confirm(request *r)
{
    for_each_tag(r, delivery_done, false);
}

static void
handle_hand_back(request *r)
{
    /* Newest first, so the items keep their order at the head. */
    for_each_tag(r, delivery_return, true);
}

/* The lease named by tags[0]: NULL after answering IPCQ_ELEASE. */
static delivery *
held_lease(request *r, session **s)
{
    session *own = session_get(r->b, r->peer, r->peer_len, false);
    delivery *d = r->msg->n_tags == 1 ? request_delivery(r, own, r->msg->tags[0]) : NULL;
    *s = d != NULL ? d->session : NULL;
    if (d == NULL)
        fail(r, IPCQ_ELEASE, "lease %llu is not held: it expired, or was acked or released",
             r->msg->n_tags ? (unsigned long long)r->msg->tags[0] : 0ULL);
    return d;
}

static void
handle_ack(request *r)
{
    size_t n = r->msg->n_tags;
    if (n > 1) { /* ipcq_ack_many */
        size_t unknown = for_each_tag(r, delivery_done, false);
        if (unknown > 0) {
            fail(r, IPCQ_ELEASE,
                 "%zu of %zu leases not held: they expired, or were acked or released", unknown, n);
            return;
        }
        answer(r, IPCQ_OK, NULL);
        return;
    }
    session *s;
    delivery *d = held_lease(r, &s);
    if (d == NULL)
        return;
    delivery_done(r->b, d);
    session_release_if_idle(r->b, s);
    answer(r, IPCQ_OK, NULL);
}

static void
handle_release(request *r)
{
    session *s;
    delivery *d = held_lease(r, &s);
    if (d == NULL)
        return;
    delivery_return(r->b, d);
    session_release_if_idle(r->b, s);
    answer(r, IPCQ_OK, NULL);
}

static void
handle_extend(request *r)
{
    int64_t lease_ms = r->msg->has_lease_ms ? r->msg->lease_ms : 0;
    if (lease_ms <= 0) {
        r->b->bad_requests++;
        fail(r, IPCQ_EINVAL, "a lease must be longer than 0 ms, not %lld", (long long)lease_ms);
        return;
    }
    session *s;
    delivery *d = held_lease(r, &s);
    if (d == NULL)
        return;
    if (!delivery_extend(r->b, d, lease_ms)) {
        fail(r, IPCQ_ENOMEM, "broker out of memory");
        return;
    }
    answer(r, IPCQ_OK, NULL);
}

static void
handle_configure(request *r)
{
    if (r->msg->has_max_deliveries)
        r->q->max_deliveries = r->msg->max_deliveries;
    if (r->msg->has_maxsize) {
        /* Python's q.maxsize = n: a larger bound admits waiting putters at
         * once; a smaller one keeps every item, and puts wait until the
         * queue is below it (Q2). */
        r->q->maxsize = r->msg->maxsize > 0 ? r->msg->maxsize : 0;
        broker_mark_dirty(r->b, r->q);
    }
    journal_queue_changed(r->b, r->q);
    answer(r, IPCQ_OK, NULL);
}

static void
handle_cancel(request *r)
{
    session *s = session_get(r->b, r->peer, r->peer_len, false);
    if (s == NULL || !r->msg->has_pending_id)
        return;
    for (list_link *l = s->waiters.next; l != &s->waiters; l = l->next) {
        waiter *w = LIST_ENTRY(l, waiter, in_session);
        if (w->req_id == r->msg->pending_id) {
            broker_mark_dirty(r->b, w->queue);
            waiter_end(r->b, w); /* may free s */
            return;
        }
    }
}

typedef struct handler {
    void (*fn)(request *r);
    unsigned flags;
    bool replies; /* false: one-way, errors are counted, not answered */
} handler;

static const handler handlers[] = {
    [IPCQWIRE__OP__OP_PING] = {handle_ping, 0, true},
    [IPCQWIRE__OP__OP_PUT] = {handle_put,
                              NEEDS_NAME | CREATES_QUEUE | TAKES_TIMEOUT | CARRIES_ITEMS | CHANGES,
                              true},
    [IPCQWIRE__OP__OP_GET] = {handle_get, NEEDS_NAME | AWAITS_QUEUE | TAKES_TIMEOUT, true},
    [IPCQWIRE__OP__OP_CONFIRM] = {handle_confirm, 0, false},
    [IPCQWIRE__OP__OP_HAND_BACK] = {handle_hand_back, 0, false},
    [IPCQWIRE__OP__OP_CANCEL] = {handle_cancel, 0, false},
    [IPCQWIRE__OP__OP_CREATE] = {handle_create, NEEDS_NAME | CREATES_QUEUE | CHANGES, true},
    [IPCQWIRE__OP__OP_DELETE] = {handle_delete, NEEDS_NAME | NEEDS_QUEUE | CHANGES, true},
    [IPCQWIRE__OP__OP_STAT] = {handle_stat, 0, true},
    [IPCQWIRE__OP__OP_TASK_DONE] = {handle_task_done, NEEDS_NAME | NEEDS_QUEUE | CHANGES, true},
    [IPCQWIRE__OP__OP_JOIN] = {handle_join, NEEDS_NAME | NEEDS_QUEUE | TAKES_TIMEOUT, true},
    [IPCQWIRE__OP__OP_SHUTDOWN] = {handle_shutdown, NEEDS_NAME | NEEDS_QUEUE | CHANGES, true},
    [IPCQWIRE__OP__OP_ACK] = {handle_ack, 0, true},
    [IPCQWIRE__OP__OP_EXTEND] = {handle_extend, 0, true},
    [IPCQWIRE__OP__OP_RELEASE] = {handle_release, 0, true},
    [IPCQWIRE__OP__OP_CONFIGURE] = {handle_configure, NEEDS_NAME | NEEDS_QUEUE | CHANGES, true},
};

/* Checks a request's items before anything changes, so that a refused put
 * does not even create its queue. Returns false after answering. */
static bool
check_items(request *r)
{
    const Ipcqwire__Request *m = r->msg;
    if (m->n_items == 0) {
        fail(r, IPCQ_EINVAL, "put without an item");
        return false;
    }
    for (size_t i = 0; i < m->n_items; i++) {
        if (m->items[i].len > r->b->cfg.max_item_size) {
            fail(r, IPCQ_ETOOBIG, "item of %zu bytes is over the max item size of %zu",
                 m->items[i].len, r->b->cfg.max_item_size);
            return false;
        }
    }
    return true;
}

/* Finds (or creates) the request's queue. Returns false after answering. */
static bool
resolve_queue(request *r, unsigned flags)
{
    const Ipcqwire__Request *m = r->msg;
    bool named = m->has_queue && m->queue.len > 0;
    if (!(flags & NEEDS_NAME)) {
        /* stat: a queue is optional, but a given one must exist */
        if (!named)
            return true;
        flags |= NEEDS_QUEUE;
    }
    if (!named || !queue_name_valid(m->queue.data, m->queue.len)) {
        r->b->bad_requests++;
        fail(r, IPCQ_EINVAL,
             "invalid queue name: it must be 1 to 255 bytes of UTF-8 without control characters");
        return false;
    }
    r->q = broker_find_queue(r->b, m->queue.data, m->queue.len);
    if (r->q == NULL && (flags & AWAITS_QUEUE)) {
        if (r->timeout_ms == 0) {
            fail(r, IPCQ_EMPTY, "queue is empty"); /* as if it existed, empty */
            return false;
        }
        r->q = broker_await_queue(r->b, m->queue.data, m->queue.len);
        if (r->q == NULL) {
            fail(r, IPCQ_ENOMEM, "broker out of memory");
            return false;
        }
        broker_mark_dirty(r->b, r->q); /* removed at the pass's end if no getter stays */
        return true;
    }
    int64_t maxsize = m->has_maxsize && m->maxsize > 0 ? m->maxsize : 0;
    if (r->q == NULL) {
        if (!(flags & CREATES_QUEUE)) {
            fail(r, IPCQ_ENOQUEUE, "no such queue");
            return false;
        }
        r->q = broker_create_queue(r->b, m->queue.data, m->queue.len, maxsize);
        if (r->q == NULL) {
            fail(r, IPCQ_ENOMEM, "broker out of memory");
            return false;
        }
        journal_queue_now(r->b, r->q);
    } else if ((flags & CREATES_QUEUE) && m->has_maxsize && r->q->maxsize != maxsize) {
        fail(r, IPCQ_ECONFLICT, "queue exists with maxsize %lld, asked for %lld",
             (long long)r->q->maxsize, (long long)maxsize);
        return false;
    }
    return true;
}

void
dispatch_request(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Request *msg)
{
    request r = {b, peer, peer_len, msg, NULL, IPCQ_FOREVER};
    if (msg->version != IPCQ_PROTOCOL_VERSION) {
        b->bad_requests++;
        fail(&r, IPCQ_EVERSION, "protocol version %u not supported (broker speaks %u)",
             msg->version, IPCQ_PROTOCOL_VERSION);
        return;
    }
    size_t op = (size_t)msg->op;
    if (op >= sizeof handlers / sizeof handlers[0] || handlers[op].fn == NULL) {
        b->bad_requests++;
        fail(&r, IPCQ_EPROTO, "unknown request type %d", (int)msg->op);
        return;
    }
    const handler *h = &handlers[op];
    if (!h->replies) {
        h->fn(&r);
        return;
    }
    if (b->stopping) {
        answer(&r, IPCQ_ESTOPPING, "broker shutting down");
        return;
    }
    if ((h->flags & CHANGES) && b->store_failed) {
        fail(&r, IPCQ_ESTORAGE, "broker storage failed: it takes no more changes");
        return;
    }
    if (h->flags & TAKES_TIMEOUT) {
        r.timeout_ms = msg->has_timeout_ms ? msg->timeout_ms : IPCQ_FOREVER;
        if (r.timeout_ms < IPCQ_FOREVER) {
            b->bad_requests++;
            fail(&r, IPCQ_EINVAL, "negative timeout %lld ms", (long long)r.timeout_ms);
            return;
        }
    }
    if ((h->flags & CARRIES_ITEMS) && !check_items(&r)) {
        b->bad_requests++;
        return;
    }
    if (!limits_admit(b, peer, peer_len, msg, r.timeout_ms) || !resolve_queue(&r, h->flags))
        return;
    /* Its OK waits for a durable commit, and is refused if that fails. */
    if (h->flags & CHANGES) { /* the request's name: a delete frees the queue's */
        b->answering_change = (const char *)msg->queue.data;
        b->answering_change_len = msg->queue.len;
    }
    h->fn(&r);
    b->answering_change = NULL;
}
