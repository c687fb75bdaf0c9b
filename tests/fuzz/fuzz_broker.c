/*
 * Fuzz target: the broker's request decoding and dispatch (SPEC B1), run on
 * the socket-free core of broker.h with a fake clock and four fake peers.
 *
 * An input is read in one of two ways:
 *
 *   raw     it starts with 0x08 (the tag of Request.version, the first
 *           field of every packed Request): the whole input is one request
 *           from one peer.
 *   script  anything else: a config byte, then records of
 *             ctl (1 byte) | len (2 bytes, little-endian) | payload
 *           where ctl picks the peer (bits 0-1), how far the clock moves
 *           first (bits 2-4), a tick after the request (bit 5), and toggles
 *           whether the peer is reachable (bit 6); with bit 7 the record is
 *           an event instead of a request (payload[0] % 8: stop, a peer
 *           disconnected, a bad frame, a tick at the next wake-up, or an
 *           allocation failure payload[1] allocations on).
 *
 * Either way the run ends with the clock an hour on, a tick, and
 * broker_free(): whatever was not freed is a leak, reported by LSan.
 * After every step the broker's own bookkeeping is checked against what it
 * holds (counts, lists, heaps, sessions, memory charged, the hand-over
 * rules of serve.c); every message it sends must decode as a Reply and
 * answer a request still owed one (none twice, none to a one-way request).
 * A mismatch aborts.
 * tests/fuzz/make_seeds.c writes the seed corpus.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "fuzz.h"
#include "wire.h"

enum { NPEERS = 4, PEER_ID_LEN = 5 };
#define HOUR_US ((int64_t)3600 * 1000000)

/* Replies still owed to a peer for a request id: every reply must answer a
 * request that expects one, and no request is answered twice (a waiter
 * ends exactly once). Ids are the client's; 0 is left out (probes). */
typedef struct owed_reply {
    unsigned peer;
    uint64_t id;
    unsigned count;
} owed_reply;

enum { MAX_OWED = 2048 }; /* more than the records of a 4 KiB input */

typedef struct fuzz_state {
    bool dead[NPEERS]; /* sends to this peer fail */
    owed_reply owed[MAX_OWED];
    size_t nowed;
} fuzz_state;

static owed_reply *
find_owed(fuzz_state *st, unsigned peer, uint64_t id)
{
    for (size_t i = 0; i < st->nowed; i++)
        if (st->owed[i].peer == peer && st->owed[i].id == id)
            return &st->owed[i];
    return NULL;
}

/* Notes the reply a request from peer is owed: none if it cannot be read,
 * or is one-way (confirm, release, cancel; of this protocol version). */
static void
owe_reply(fuzz_state *st, unsigned peer, const void *msg, size_t len)
{
    Ipcqwire__Request *req = ipcqwire__request__unpack(NULL, len, msg);
    if (req == NULL)
        return;
    bool one_way = req->version == IPCQ_PROTOCOL_VERSION &&
                   (req->op == IPCQWIRE__OP__OP_CONFIRM || req->op == IPCQWIRE__OP__OP_HAND_BACK ||
                    req->op == IPCQWIRE__OP__OP_CANCEL);
    if (!one_way && req->id != 0) {
        owed_reply *o = find_owed(st, peer, req->id);
        if (o == NULL && st->nowed < MAX_OWED) {
            o = &st->owed[st->nowed++];
            *o = (owed_reply){peer, req->id, 0};
        }
        FUZZ_CHECK(o != NULL);
        o->count++;
    }
    ipcqwire__request__free_unpacked(req, NULL);
}

/* The routing id of peer i: five bytes, as libzmq makes them. */
static void
peer_id(unsigned i, unsigned char id[PEER_ID_LEN])
{
    memcpy(id, "\0peer", PEER_ID_LEN);
    id[PEER_ID_LEN - 1] = (unsigned char)('0' + i);
}

/* FUZZ_TRACE=1 in the environment: every reply on stderr, to read what
 * an input does. */
static bool trace;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    trace = getenv("FUZZ_TRACE") != NULL;
    return 0;
}

static int
fuzz_send(void *ctx, const void *peer, size_t peer_len, const void *data, size_t len)
{
    fuzz_state *st = ctx;
    FUZZ_CHECK(peer_len == PEER_ID_LEN);
    unsigned i = ((const unsigned char *)peer)[PEER_ID_LEN - 1] - '0';
    FUZZ_CHECK(i < NPEERS);
    /* Whatever the broker sends, a client must be able to read. */
    Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, len, data);
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(r->status == IPCQ_OK || r->n_items == 0);
    if (trace)
        fprintf(stderr, "-> peer %u%s: id %llu status %d items %zu%s%s\n", i,
                st->dead[i] ? " (gone)" : "", (unsigned long long)r->id, (int)r->status, r->n_items,
                r->error ? ": " : "", r->error ? r->error : "");
    if (r->id != 0) {
        owed_reply *o = find_owed(st, i, r->id);
        FUZZ_CHECK(o != NULL && o->count > 0);
        o->count--;
    }
    ipcqwire__reply__free_unpacked(r, NULL);
    return st->dead[i] ? IPCQ_EUNAVAILABLE : 0;
}

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

static size_t
items_held(void)
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
    FUZZ_CHECK(n == f->count && bytes == f->bytes && last == f->tail);
}

/* The waiters of one queue list: theirs, in their session, and in the
 * deadline heap exactly when they have a finite deadline. */
static size_t
check_waiters(broker *b, queue *q, const list_link *head, wait_kind kind)
{
    size_t timed = 0;
    for (const list_link *l = head->next; l != head; l = l->next) {
        const waiter *w = LIST_ENTRY(l, waiter, in_queue);
        FUZZ_CHECK(w->kind == kind && w->queue == q);
        FUZZ_CHECK(table_get(&b->sessions, w->session->id, w->session->id_len) == w->session);
        FUZZ_CHECK(list_linked(&w->in_session));
        FUZZ_CHECK(kind == WAIT_PUT || w->items.count == 0);
        check_fifo(&w->items);
        if (w->deadline.index != DEADLINE_NONE) {
            FUZZ_CHECK(w->deadline.index < b->deadlines.count);
            FUZZ_CHECK(b->deadlines.slots[w->deadline.index] == &w->deadline);
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
    FUZZ_CHECK(q->items.count == 0 || q->ngetters == 0);
    list_link *first = list_first(&q->putters);
    if (first != NULL) {
        const waiter *w = LIST_ENTRY(first, waiter, in_queue);
        FUZZ_CHECK(!q->shutdown);
        FUZZ_CHECK(!queue_has_room(q, w->items.count));
    }
    FUZZ_CHECK(!queue_drained(q) || q->ngetters == 0);
    FUZZ_CHECK(q->unfinished > 0 || q->njoiners == 0);
    if (b->stopping) /* every blocked caller was answered, and none blocks since */
        FUZZ_CHECK(q->ngetters == 0 && q->nputters == 0 && q->njoiners == 0);
}

static void
check_broker(broker *b)
{
    size_t items = 0, bytes = 0, timed = 0, leased = 0, on_lease = 0, waiters = 0;
    charged = 0;
    void *v;
    for (size_t i = 0; table_next(&b->queues, &i, &v);) {
        queue *q = v;
        FUZZ_CHECK(queue_name_valid(q->name, q->name_len) && q->name[q->name_len] == '\0');
        FUZZ_CHECK(broker_find_queue(b, q->name, q->name_len) == q);
        check_fifo(&q->items);
        items += q->items.count;
        bytes += q->items.bytes;
        FUZZ_CHECK(count_links(&q->getters) == q->ngetters);
        FUZZ_CHECK(count_links(&q->putters) == q->nputters);
        FUZZ_CHECK(count_links(&q->joiners) == q->njoiners);
        FUZZ_CHECK(count_links(&q->deliveries) == q->nleased);
        waiters += q->ngetters + q->nputters + q->njoiners;
        timed += check_waiters(b, q, &q->getters, WAIT_GET);
        timed += check_waiters(b, q, &q->putters, WAIT_PUT);
        timed += check_waiters(b, q, &q->joiners, WAIT_JOIN);
        for (const list_link *l = q->deliveries.next; l != &q->deliveries; l = l->next) {
            const delivery *d = LIST_ENTRY(l, delivery, in_queue);
            FUZZ_CHECK(d->queue == q && d->item != NULL && d->tag != 0 && d->tag <= b->next_tag);
            FUZZ_CHECK(session_find_delivery(d->session, d->tag) == d);
            charged += limits_item_cost(d->item->len);
            if (d->lease.index != DEADLINE_NONE) {
                FUZZ_CHECK(b->leases.slots[d->lease.index] == &d->lease);
                on_lease++;
            }
        }
        leased += q->nleased;
        check_served(b, q);
    }
    /* broker_stop() serves no queue: one that a lost session gave items
     * back to stays marked, with no waiter left to serve. */
    FUZZ_CHECK(b->stopping || list_empty(&b->dirty));
    FUZZ_CHECK(items == b->total_items && bytes == b->total_bytes);
    FUZZ_CHECK(waiters == b->nwaiters);
    FUZZ_CHECK(charged == items_held());
    FUZZ_CHECK(timed == b->deadlines.count);
    FUZZ_CHECK(on_lease == b->leases.count);
    /* A session is kept only while it holds state. */
    size_t in_sessions = 0;
    for (size_t i = 0; table_next(&b->sessions, &i, &v);) {
        session *s = v;
        FUZZ_CHECK(!list_empty(&s->waiters) || !list_empty(&s->deliveries));
        for (const list_link *l = s->waiters.next; l != &s->waiters; l = l->next)
            FUZZ_CHECK(LIST_ENTRY(l, waiter, in_session)->session == s);
        for (const list_link *l = s->deliveries.next; l != &s->deliveries; l = l->next)
            FUZZ_CHECK(LIST_ENTRY(l, delivery, in_session)->session == s);
        in_sessions += count_links(&s->deliveries);
    }
    FUZZ_CHECK(in_sessions == leased);
}

static const int64_t time_steps_us[8] = {
    0, 1000, 7000, 50000, 200000, 600000, 5000000, 120000000,
};

/* The config byte of a script: a small max item size makes batches split
 * and items too big; a short probe interval makes probes frequent, a huge
 * one rare; small limits (limits.c) make them reached. */
static void
config_from(uint8_t c, broker_config *cfg)
{
    static const size_t max_items[4] = {BROKER_DEFAULT_MAX_ITEM, 0, 16, 1024};
    broker_config_defaults(cfg);
    cfg->max_item_size = max_items[c & 3];
    if (c & 4)
        cfg->probe_interval_ms = 5;
    if (c & 8)
        cfg->max_memory = 8 << 10;
    if (c & 16)
        cfg->max_queues = 3;
    if (c & 32)
        cfg->max_waiters = 2;
    if (c & 64)
        cfg->max_name_len = 4;
    if (c & 128) /* ipcqd --probe-ms takes any size */
        cfg->probe_interval_ms = (c & 4) ? INT64_MAX / 1000 + 1 : INT64_MAX;
}

/* Allocation failures, injected. fuzz_broker links with --wrap for
 * malloc, calloc and realloc, so that every allocation of the broker core
 * (and of this file; protobuf-c is a shared library, and not) passes here:
 * once armed, the allocation fail_in from now returns NULL, and the broker
 * must answer "out of memory", or drop what it cannot keep, without leaking
 * or losing count. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long fail_in = -1; /* -1: no failure armed */

static bool
fail_now(void)
{
    return fail_in >= 0 && fail_in-- == 0;
}

void *
__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

/* An event record: what % 8 is stop, a peer disconnected, a bad frame, a
 * tick at the next wake-up, or (4-7) an allocation failure armed, arg
 * allocations from now. */
static void
event(broker *b, uint8_t what, uint8_t arg, int64_t *now)
{
    if (what % 8 >= 4) {
        fail_in = arg;
        return;
    }
    switch (what % 4) {
    case 0:
        broker_stop(b);
        break;
    case 1:
        broker_peer_disconnected(b, *now);
        break;
    case 2:
        broker_count_bad(b);
        break;
    default: {
        /* At most an hour on, so that the fake clock never nears INT64_MAX. */
        int64_t at = broker_next_wakeup_us(b);
        *now = at > *now && at - *now <= HOUR_US ? at : *now + HOUR_US;
        broker_tick(b, *now);
        break;
    }
    }
}

static void
run_script(broker *b, fuzz_state *st, fuzz_reader *r, int64_t *now)
{
    while (r->left > 0) {
        uint8_t ctl = fuzz_byte(r);
        size_t len;
        const uint8_t *payload = fuzz_take(r, fuzz_u16(r), &len);
        unsigned peer = ctl & 3;
        *now += time_steps_us[(ctl >> 2) & 7];
        if (ctl & 0x40)
            st->dead[peer] = !st->dead[peer];
        if (ctl & 0x80) {
            event(b, len ? payload[0] : 0, len > 1 ? payload[1] : 0, now);
        } else {
            unsigned char id[PEER_ID_LEN];
            peer_id(peer, id);
            owe_reply(st, peer, payload, len);
            broker_handle(b, id, sizeof id, payload, len, *now);
        }
        if (ctl & 0x20)
            broker_tick(b, *now);
        check_broker(b);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_state st;
    memset(&st, 0, sizeof st);
    broker_config cfg;
    fuzz_reader r = {data, size};
    bool raw = size > 0 && data[0] == 0x08;
    fail_in = -1;
    config_from(raw ? 0 : fuzz_byte(&r), &cfg);
    broker *b = broker_new(&cfg, fuzz_send, &st);
    if (b == NULL)
        abort();
    FUZZ_CHECK(items_held() == 0); /* the last input's broker released every item */
    int64_t now = b->now_us;
    if (raw) {
        unsigned char id[PEER_ID_LEN];
        peer_id(0, id);
        owe_reply(&st, 0, data, size);
        broker_handle(b, id, sizeof id, data, size, now);
        check_broker(b);
    } else {
        run_script(b, &st, &r, &now);
    }
    fail_in = -1;
    /* An hour on, the waits and leases of an hour or less have run out. */
    now += HOUR_US;
    broker_tick(b, now);
    check_broker(b);
    broker_free(b);
    return 0;
}
