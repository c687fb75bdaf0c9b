/* The broker object: construction, one request, the clock, and stopping. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "wire.h"

void
broker_config_defaults(broker_config *cfg)
{
    cfg->max_item_size = BROKER_DEFAULT_MAX_ITEM;
    cfg->probe_interval_ms = BROKER_DEFAULT_PROBE_MS;
    cfg->max_memory = BROKER_DEFAULT_MAX_MEMORY;
    cfg->max_queues = BROKER_DEFAULT_MAX_QUEUES;
    cfg->max_waiters = BROKER_DEFAULT_MAX_WAITERS;
    cfg->max_name_len = IPCQ_NAME_MAX;
    cfg->first_tag = 0; /* random */
}

static uint64_t
random_instance(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
            v = 0;
        close(fd);
    }
    return v ? v : (uint64_t)clock_now_us() ^ ((uint64_t)getpid() << 32);
}

broker *
broker_new(const broker_config *cfg, broker_send_fn send, void *send_ctx)
{
    broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->cfg = *cfg;
    b->send = send;
    b->send_ctx = send_ctx;
    table_init(&b->queues);
    table_init(&b->sessions);
    deadline_heap_init(&b->deadlines);
    deadline_heap_init(&b->leases);
    list_init(&b->dirty);
    list_init(&b->state_changed);
    arena_init(&b->decode);
    b->instance = random_instance();
    /* Random, and far from wrapping: tags are unique across the broker's
     * runs (a durable broker's items outlive a run, and so do the leases
     * its clients remember). */
    b->next_tag = cfg->first_tag ? cfg->first_tag - 1 : random_instance() >> 2;
    b->started_us = b->now_us = clock_now_us();
    /* Saturating: ipcqd --probe-ms takes any size, and ms * 1000 can overflow. */
    b->next_probe_us = clock_deadline_us(b->now_us, cfg->probe_interval_ms);
    return b;
}

/* Ends every waiter of the list without an answer. */
static void
end_all(broker *b, list_link *waiters)
{
    list_link *l;
    while ((l = list_first(waiters)) != NULL)
        waiter_end(b, LIST_ENTRY(l, waiter, in_queue));
}

void
broker_free(broker *b)
{
    if (b == NULL)
        return;
    journal_close(b); /* first: what is freed below is not logged as gone */
    void *v;
    for (size_t i = 0; table_next(&b->queues, &i, &v);) {
        queue *q = v;
        end_all(b, &q->getters);
        end_all(b, &q->putters);
        end_all(b, &q->joiners);
        delivery_drop_all(b, q);
        /* Ending a placeholder's getters marks it dirty (waiter_end): it must
         * leave that list before it is freed, or the next queue marked
         * would be linked to freed memory. */
        if (list_linked(&q->dirty))
            list_remove(&q->dirty);
        queue_free(q);
    }
    table_free(&b->queues);
    table_free(&b->sessions); /* empty: a session lives only with state */
    deadline_heap_free(&b->deadlines);
    deadline_heap_free(&b->leases);
    arena_free(&b->decode);
    free(b->out);
    free(b);
}

void
broker_count_bad(broker *b)
{
    b->requests++;
    b->bad_requests++;
}

void
broker_handle(broker *b, const void *peer, size_t peer_len, const void *msg, size_t len,
              int64_t now_us)
{
    b->now_us = now_us;
    b->requests++;
    Ipcqwire__Request *req = ipcqwire__request__unpack(&b->decode.unpack, len, msg);
    if (req == NULL) {
        /* No id to answer to: dropped and counted (B1). */
        b->bad_requests++;
    } else {
        dispatch_request(b, peer, peer_len, req);
        broker_serve_dirty(b);
    }
    arena_reset(&b->decode); /* the request, decoded, is gone at once */
}

/* libzmq removes a departed peer's route a moment after it reports the
 * disconnect; probing right away could still find the route. */
#define PROBE_AFTER_DISCONNECT_US 10000

void
broker_peer_connected(broker *b)
{
    b->clients++;
}

/* One connection fewer (never below none: ZeroMQ may report a peer that
 * connected before its monitor started). */
static void
client_gone(broker *b)
{
    b->disconnects++;
    if (b->clients > 0)
        b->clients--;
}

void
broker_peer_disconnected(broker *b, int64_t now_us)
{
    client_gone(b);
    if (b->next_probe_us > now_us + PROBE_AFTER_DISCONNECT_US)
        b->next_probe_us = now_us + PROBE_AFTER_DISCONNECT_US;
}

void
broker_peer_lost(broker *b, const void *peer, size_t peer_len, int64_t now_us)
{
    b->now_us = now_us;
    client_gone(b);
    session *s = session_get(b, peer, peer_len, false);
    if (s != NULL) {
        session_lost(b, s);
        broker_serve_dirty(b);
    }
}

int64_t
broker_next_wakeup_us(const broker *b)
{
    const deadline_entry *e = deadline_peek(&b->deadlines);
    const deadline_entry *lease = deadline_peek(&b->leases);
    int64_t at = e ? e->at_us : INT64_MAX;
    if (lease && lease->at_us < at)
        at = lease->at_us;
    if (b->sessions.count > 0 && b->next_probe_us < at)
        at = b->next_probe_us;
    if (journal_next_commit_us(b) < at)
        at = journal_next_commit_us(b);
    return at;
}

static void
expire(broker *b, waiter *w)
{
    switch (w->kind) {
    case WAIT_GET:
        waiter_answer(b, w, IPCQ_EMPTY, NULL);
        break;
    case WAIT_PUT:
        waiter_answer(b, w, IPCQ_FULL, NULL);
        break;
    case WAIT_JOIN:
        waiter_answer(b, w, IPCQ_ETIMEDOUT, NULL);
        break;
    }
}

void
broker_tick(broker *b, int64_t now_us)
{
    b->now_us = now_us;
    deadline_entry *e;
    while ((e = deadline_peek(&b->deadlines)) != NULL && e->at_us <= now_us)
        expire(b, LIST_ENTRY(e, waiter, deadline));
    /* A lease ran out: the item goes back (D2), its session may be idle. */
    while ((e = deadline_peek(&b->leases)) != NULL && e->at_us <= now_us) {
        delivery *d = LIST_ENTRY(e, delivery, lease);
        session *s = d->session;
        delivery_return(b, d);
        session_release_if_idle(b, s);
    }
    if (now_us >= b->next_probe_us) {
        session_probe_all(b);
        b->next_probe_us = clock_deadline_us(now_us, b->cfg.probe_interval_ms);
    }
    broker_serve_dirty(b);
}

void
broker_stop(broker *b)
{
    static const char why[] = "broker shutting down";
    b->stopping = true; /* no request blocks from now on */
    waiter_answer_every_queue(b, WAITING_GETTERS | WAITING_PUTTERS | WAITING_JOINERS,
                              IPCQ_ESTOPPING, why);
}

size_t
broker_memory_held(const broker *b)
{
    return limits_memory_held(b);
}
