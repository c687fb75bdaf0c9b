/* The in-process driver of the broker core for cmocka tests (see
 * core_driver.h): fake peers and clock, captured replies, assertions. */
#include "core_driver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "ipcq.h"
#include "wire.h"

enum { PEER_ID_LEN = 5 };

static const char peer_ids[CORE_PEERS][PEER_ID_LEN + 1] = {"peer0", "peer1", "peer2", "peer3"};

__attribute__((format(printf, 3, 4))) static void
fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    _fail(file, line); /* leaves the test */
}

/* A broken invariant fails the running test instead of aborting. */
static void
fail_running_test(const char *file, int line, const char *what)
{
    fail_at(file, line, "broker invariant broken: %s", what);
}

static unsigned
peer_of(const void *id, size_t len)
{
    for (unsigned i = 0; i < CORE_PEERS; i++)
        if (len == PEER_ID_LEN && memcmp(id, peer_ids[i], len) == 0)
            return i;
    return CORE_PEERS;
}

/* The broker's send function: keeps the message, and fails for a peer that
 * is gone (or unknown). Checks wait until the step is over (after_step),
 * so that a failure never leaves the broker halfway through a pass. */
static int
capture_send(void *ctx, const void *peer, size_t peer_len, const void *data, size_t len)
{
    core_driver *d = ctx;
    unsigned i = peer_of(peer, peer_len);
    bool reachable = i < CORE_PEERS && !d->gone[i];
    if (d->nsent == d->sent_cap) {
        size_t cap = d->sent_cap ? 2 * d->sent_cap : 64;
        core_sent *grown = realloc(d->sent, cap * sizeof *grown);
        if (grown == NULL)
            abort();
        d->sent = grown;
        d->sent_cap = cap;
    }
    d->sent[d->nsent++] = (core_sent){i, reachable, ipcqwire__reply__unpack(NULL, len, data)};
    return reachable ? 0 : IPCQ_EUNAVAILABLE;
}

/* After each call into the broker: every message it sent answers a request
 * owed one, and its bookkeeping holds. */
static void
after_step(core_driver *d)
{
    for (; d->nchecked < d->nsent; d->nchecked++) {
        const core_sent *m = &d->sent[d->nchecked];
        if (m->reply == NULL)
            fail_at(__FILE__, __LINE__, "the broker sent peer %u a message that is not a Reply",
                    m->peer);
        if (m->peer >= CORE_PEERS)
            fail_at(__FILE__, __LINE__, "the broker sent a reply to a peer it never heard from");
        core_ledger_answered(&d->ledger, m->peer, m->reply);
    }
    core_check_broker(d->b);
}

int
core_driver_start_with(void **state, const broker_config *cfg)
{
    core_check_on_failure(fail_running_test);
    core_driver *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    d->cfg = *cfg;
    d->b = broker_new(cfg, capture_send, d);
    if (d->b == NULL) {
        free(d);
        return -1;
    }
    d->now_us = d->b->now_us; /* the broker's start, read from the real clock once */
    *state = d;
    return 0;
}

int
core_driver_start(void **state)
{
    broker_config cfg;
    broker_config_defaults(&cfg);
    return core_driver_start_with(state, &cfg);
}

int
core_driver_stop(void **state)
{
    core_driver *d = *state;
    broker_stop(d->b);
    broker_commit(d->b, d->now_us); /* a durable broker's answers leave */
    after_step(d);
    unsigned owed_peer = CORE_PEERS;
    size_t owed = 0;
    for (unsigned p = 0; p < CORE_PEERS && owed == 0; p++)
        if (!d->gone[p] && (owed = core_ledger_unanswered(&d->ledger, p)) > 0)
            owed_peer = p;
    broker_free(d->b);
    size_t items_left = core_check_items_held();
    for (size_t i = 0; i < d->nsent; i++)
        ipcqwire__reply__free_unpacked(d->sent[i].reply, NULL);
    free(d->sent);
    free(d);
    if (owed > 0)
        fail_at(__FILE__, __LINE__, "peer %u is owed %zu replies after broker_stop()", owed_peer,
                owed);
    if (items_left > 0)
        fail_at(__FILE__, __LINE__, "items of %zu bytes alive after broker_free()", items_left);
    return 0;
}

/* The end of a step: a durable broker's pass ends with its commit. */
static void
end_step(core_driver *d)
{
    if (!d->manual_commit)
        broker_commit(d->b, d->now_us);
    after_step(d);
}

void
driver_commit(core_driver *d)
{
    broker_commit(d->b, d->now_us);
    after_step(d);
}

void
core_driver_open_store(core_driver *d, const char *dir, const store_options *opt)
{
    char err[1024];
    if (broker_open_store(d->b, dir, opt, err, sizeof err) != 0)
        fail_at(__FILE__, __LINE__, "cannot open the data directory: %s", err);
    d->data_dir = dir;
    d->store_opt = *opt;
    after_step(d);
}

void
core_driver_restart(core_driver *d)
{
    assert_non_null(d->data_dir);
    broker_free(d->b);
    d->ledger.nowed = 0; /* the requests in flight died with it */
    d->b = broker_new(&d->cfg, capture_send, d);
    assert_non_null(d->b);
    if (d->b->now_us > d->now_us)
        d->now_us = d->b->now_us;
    core_driver_open_store(d, d->data_dir, &d->store_opt);
}

void
advance_to(core_driver *d, int64_t at_us)
{
    assert_true(at_us >= d->now_us);
    d->now_us = at_us;
    broker_tick(d->b, at_us);
    end_step(d);
}

void
advance_ms(core_driver *d, int64_t ms)
{
    advance_to(d, d->now_us + ms * CORE_US_PER_MS);
}

void
lose_peer(core_driver *d, unsigned peer)
{
    assert_true(peer < CORE_PEERS);
    d->gone[peer] = true;
}

void
notice_lost_peers(core_driver *d)
{
    broker_peer_disconnected(d->b, d->now_us);
    if (d->b->sessions.count == 0)
        return; /* no client holds state: none to probe */
    int64_t probe_at = broker_next_wakeup_us(d->b);
    assert_true(probe_at < d->now_us + BROKER_DEFAULT_PROBE_MS * CORE_US_PER_MS);
    advance_to(d, probe_at > d->now_us ? probe_at : d->now_us);
}

/* Sends req from peer (with this protocol's version and the next id), as
 * the client's send_request() encodes it. */
static uint64_t
send_request(core_driver *d, unsigned peer, Ipcqwire__Request *req)
{
    assert_true(peer < CORE_PEERS);
    req->version = IPCQ_PROTOCOL_VERSION;
    req->id = ++d->last_id;
    size_t len = ipcqwire__request__get_packed_size(req);
    unsigned char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    ipcqwire__request__pack(req, buf);
    core_ledger_owe(&d->ledger, peer, buf, len);
    broker_handle(d->b, peer_ids[peer], PEER_ID_LEN, buf, len, d->now_us);
    free(buf);
    end_step(d);
    return req->id;
}

/* client_begin(): the op, always a timeout, and the queue's name if any. */
static void
begin(Ipcqwire__Request *req, Ipcqwire__Op op, const char *queue_name, int64_t timeout_ms)
{
    ipcqwire__request__init(req);
    req->op = op;
    req->has_timeout_ms = 1;
    req->timeout_ms = timeout_ms;
    if (queue_name != NULL) {
        req->has_queue = 1;
        req->queue.data = (uint8_t *)queue_name;
        req->queue.len = strlen(queue_name);
    }
}

uint64_t
send_put_bytes(core_driver *d, unsigned peer, const char *queue_name, const void *data, size_t len,
               int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_PUT, queue_name, timeout_ms);
    ProtobufCBinaryData one = {len, (uint8_t *)(data ? data : "")};
    req.n_items = 1;
    req.items = &one;
    return send_request(d, peer, &req);
}

uint64_t
send_put(core_driver *d, unsigned peer, const char *queue_name, const char *text,
         int64_t timeout_ms)
{
    return send_put_bytes(d, peer, queue_name, text, strlen(text), timeout_ms);
}

uint64_t
send_put_many(core_driver *d, unsigned peer, const char *queue_name, size_t n,
              const char *const *items, int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_PUT, queue_name, timeout_ms);
    ProtobufCBinaryData wire[16];
    assert_true(n <= sizeof wire / sizeof wire[0]);
    for (size_t i = 0; i < n; i++)
        wire[i] = (ProtobufCBinaryData){strlen(items[i]), (uint8_t *)items[i]};
    req.n_items = n;
    req.items = wire;
    return send_request(d, peer, &req);
}

uint64_t
send_put_named(core_driver *d, unsigned peer, const void *name, size_t name_len, int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_PUT, NULL, timeout_ms);
    req.has_queue = 1;
    req.queue = (ProtobufCBinaryData){name_len, (uint8_t *)name};
    ProtobufCBinaryData one = {1, (uint8_t *)"x"};
    req.n_items = 1;
    req.items = &one;
    return send_request(d, peer, &req);
}

/* A GET of up to max items. */
static void
begin_get(Ipcqwire__Request *req, const char *queue_name, uint32_t max, int64_t timeout_ms)
{
    begin(req, IPCQWIRE__OP__OP_GET, queue_name, timeout_ms);
    req->has_max_items = 1;
    req->max_items = max;
}

uint64_t
send_get_batch(core_driver *d, unsigned peer, const char *queue_name, uint32_t max,
               int64_t lease_ms, int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin_get(&req, queue_name, max, timeout_ms);
    if (lease_ms > 0) {
        req.has_lease_ms = 1;
        req.lease_ms = lease_ms;
    }
    return send_request(d, peer, &req);
}

uint64_t
send_get_redelivered_alone(core_driver *d, unsigned peer, const char *queue_name, uint32_t max,
                           int64_t lease_ms, int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin_get(&req, queue_name, max, timeout_ms);
    req.has_lease_ms = 1;
    req.lease_ms = lease_ms;
    req.has_redelivered_alone = 1;
    req.redelivered_alone = 1;
    return send_request(d, peer, &req);
}

uint64_t
send_get(core_driver *d, unsigned peer, const char *queue_name, int64_t timeout_ms)
{
    return send_get_batch(d, peer, queue_name, 1, 0, timeout_ms);
}

uint64_t
send_get_leased(core_driver *d, unsigned peer, const char *queue_name, int64_t lease_ms,
                int64_t timeout_ms)
{
    return send_get_batch(d, peer, queue_name, 1, lease_ms, timeout_ms);
}

uint64_t
send_create(core_driver *d, unsigned peer, const char *queue_name, int64_t maxsize)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_CREATE, queue_name, IPCQ_NOWAIT);
    req.has_maxsize = 1;
    req.maxsize = maxsize > 0 ? maxsize : 0;
    return send_request(d, peer, &req);
}

uint64_t
send_queue_op(core_driver *d, unsigned peer, Ipcqwire__Op op, const char *queue_name,
              int64_t timeout_ms)
{
    Ipcqwire__Request req;
    begin(&req, op, queue_name, timeout_ms);
    return send_request(d, peer, &req);
}

uint64_t
send_shutdown(core_driver *d, unsigned peer, const char *queue_name, bool immediate)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_SHUTDOWN, queue_name, IPCQ_NOWAIT);
    req.has_immediate = 1;
    req.immediate = immediate;
    return send_request(d, peer, &req);
}

/* CONFIGURE with the fields that want has, as libipcq's configure(). */
static uint64_t
send_configure(core_driver *d, unsigned peer, const char *queue_name, const Ipcqwire__Request *want)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_CONFIGURE, queue_name, IPCQ_NOWAIT);
    req.has_max_deliveries = want->has_max_deliveries;
    req.max_deliveries = want->max_deliveries;
    req.has_maxsize = want->has_maxsize;
    req.maxsize = want->maxsize;
    return send_request(d, peer, &req);
}

uint64_t
send_set_max_deliveries(core_driver *d, unsigned peer, const char *queue_name,
                        uint32_t max_deliveries)
{
    Ipcqwire__Request want = {.has_max_deliveries = 1, .max_deliveries = max_deliveries};
    return send_configure(d, peer, queue_name, &want);
}

uint64_t
send_set_maxsize(core_driver *d, unsigned peer, const char *queue_name, int64_t maxsize)
{
    Ipcqwire__Request want = {.has_maxsize = 1, .maxsize = maxsize};
    return send_configure(d, peer, queue_name, &want);
}

uint64_t
send_lease_op(core_driver *d, unsigned peer, Ipcqwire__Op op, const uint64_t *leases, size_t n,
              int64_t lease_ms)
{
    Ipcqwire__Request req;
    begin(&req, op, NULL, IPCQ_NOWAIT);
    req.n_tags = n;
    req.tags = (uint64_t *)leases;
    if (lease_ms > 0) {
        req.has_lease_ms = 1;
        req.lease_ms = lease_ms;
    }
    return send_request(d, peer, &req);
}

/* One-way requests (client_send_oneway) carry no timeout and no queue. */
void
send_item_tags(core_driver *d, unsigned peer, Ipcqwire__Op op, const Ipcqwire__Reply *r)
{
    uint64_t tags[64];
    assert_true(r->n_items > 0 && r->n_items <= sizeof tags / sizeof tags[0]);
    for (size_t i = 0; i < r->n_items; i++)
        tags[i] = r->items[i]->tag;
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.op = op;
    req.n_tags = r->n_items;
    req.tags = tags;
    send_request(d, peer, &req);
}

void
send_cancel(core_driver *d, unsigned peer, uint64_t id)
{
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.op = IPCQWIRE__OP__OP_CANCEL;
    req.has_pending_id = 1;
    req.pending_id = id;
    send_request(d, peer, &req);
    core_ledger_forget(&d->ledger, peer, id);
}

uint64_t
send_stat(core_driver *d, unsigned peer, const char *queue_name)
{
    Ipcqwire__Request req;
    begin(&req, IPCQWIRE__OP__OP_STAT, queue_name, IPCQ_NOWAIT);
    return send_request(d, peer, &req);
}

void
assert_status_at(int got, int want, const char *file, int line)
{
    if (got != want)
        fail_at(file, line, "status %d (%s), want %d (%s)", got, ipcq_strerror(got), want,
                ipcq_strerror(want));
}

/* The replies delivered to peer for request id: the first, and how many. */
static const Ipcqwire__Reply *
find_reply(const core_driver *d, unsigned peer, uint64_t id, size_t *count)
{
    const Ipcqwire__Reply *first = NULL;
    *count = 0;
    for (size_t i = 0; i < d->nsent; i++) {
        const core_sent *m = &d->sent[i];
        if (m->peer == peer && m->delivered && m->reply && m->reply->id == id) {
            if ((*count)++ == 0)
                first = m->reply;
        }
    }
    return first;
}

const Ipcqwire__Reply *
expect_reply_at(core_driver *d, unsigned peer, uint64_t id, int status, const char *file, int line)
{
    size_t n;
    const Ipcqwire__Reply *r = find_reply(d, peer, id, &n);
    if (n != 1) {
        fail_at(file, line, "peer %u got %zu replies to request %llu, want 1 with status %d (%s)",
                peer, n, (unsigned long long)id, status, ipcq_strerror(status));
        return NULL;
    }
    if (r->status != status)
        fail_at(file, line, "peer %u, request %llu: status %d (%s) \"%s\", want %d (%s)", peer,
                (unsigned long long)id, (int)r->status, ipcq_strerror(r->status),
                r->error ? r->error : "", status, ipcq_strerror(status));
    return r;
}

const Ipcqwire__Reply *
expect_error_at(core_driver *d, unsigned peer, uint64_t id, int status, const char *text,
                const char *file, int line)
{
    const Ipcqwire__Reply *r = expect_reply_at(d, peer, id, status, file, line);
    if (r->error == NULL || strstr(r->error, text) == NULL)
        fail_at(file, line, "peer %u, request %llu: error \"%s\" does not say \"%s\"", peer,
                (unsigned long long)id, r->error ? r->error : "(none)", text);
    return r;
}

void
expect_no_reply_at(core_driver *d, unsigned peer, uint64_t id, const char *file, int line)
{
    size_t n;
    const Ipcqwire__Reply *r = find_reply(d, peer, id, &n);
    if (n > 0)
        fail_at(file, line, "peer %u got a reply to request %llu too soon: status %d (%s) \"%s\"",
                peer, (unsigned long long)id, (int)r->status, ipcq_strerror(r->status),
                r->error ? r->error : "");
}

const Ipcqwire__Item *
expect_item_at(core_driver *d, unsigned peer, uint64_t id, const void *data, size_t len,
               const char *file, int line)
{
    const Ipcqwire__Reply *r = expect_reply_at(d, peer, id, IPCQ_OK, file, line);
    if (r->n_items != 1)
        fail_at(file, line, "peer %u, request %llu: %zu items, want 1", peer,
                (unsigned long long)id, r->n_items);
    const ProtobufCBinaryData *got = &r->items[0]->data;
    if (got->len != len || (len > 0 && memcmp(got->data, data, len) != 0))
        fail_at(file, line, "peer %u, request %llu: item \"%.*s\" (%zu bytes), want \"%.*s\" (%zu)",
                peer, (unsigned long long)id, (int)got->len, (const char *)got->data, got->len,
                (int)len, (const char *)data, len);
    return r->items[0];
}

const Ipcqwire__Item *
take_item_at(core_driver *d, unsigned peer, uint64_t id, const char *text, const char *file,
             int line)
{
    const Ipcqwire__Item *it = expect_item_at(d, peer, id, text, strlen(text), file, line);
    size_t n;
    send_item_tags(d, peer, IPCQWIRE__OP__OP_CONFIRM, find_reply(d, peer, id, &n));
    return it;
}

const Ipcqwire__QueueStat *
stat_of_at(core_driver *d, const char *queue_name, const char *file, int line)
{
    const Ipcqwire__Reply *r =
        expect_reply_at(d, 0, send_stat(d, 0, queue_name), IPCQ_OK, file, line);
    if (r->n_queues != 1 || r->queues[0]->name.len != strlen(queue_name) ||
        memcmp(r->queues[0]->name.data, queue_name, strlen(queue_name)) != 0)
        fail_at(file, line, "stat of %s: %zu rows, not the queue's one", queue_name, r->n_queues);
    return r->queues[0];
}

void
expect_no_queue_at(core_driver *d, const char *queue_name, const char *file, int line)
{
    expect_error_at(d, 0, send_stat(d, 0, queue_name), IPCQ_ENOQUEUE, "no such queue", file, line);
}

bool
text_has_number(const char *text, long long n)
{
    for (const char *p = text; p && *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > text && isdigit((unsigned char)p[-1])))
            continue;
        char *end;
        long long v = strtoll(p, &end, 10);
        bool negative = p > text && p[-1] == '-';
        if ((negative ? -v : v) == n)
            return true;
        p = end - 1;
    }
    return false;
}
