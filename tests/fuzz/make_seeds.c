/*
 * Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/): for the
 * broker, one packed request of every type and scripts of requests from
 * several peers that reach deep states (blocked getters and putters,
 * leases, dead letters, shutdown, stop); for the client, a valid reply to
 * every call; for the CLI, typical command lines of the three tools; for
 * the unix:// lane, framed request streams.
 *
 *   make_seeds DIR     writes DIR/broker/, DIR/client/, DIR/cli/, DIR/lane/
 *
 * The formats are those the targets' header comments describe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipcq.h"
#include "ipcq.pb-c.h"
#include "wire.h"
#include "wire_request.h"

static const char *out_dir;

static void
write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- broker ---- */

enum { MAX_SCRIPT = 1 << 16 };

typedef struct script {
    uint8_t buf[MAX_SCRIPT];
    size_t len;
} script;

/* ctl bits of a script record (fuzz_broker.c) */
#define PEER(p) (p)
#define STEP(i) ((i) << 2) /* 0, 1 ms, 7 ms, 50 ms, 200 ms, 600 ms, 5 s, 120 s */
#define TICK 0x20
#define TOGGLE_DEAD 0x40
#define EVENT 0x80
enum { EV_STOP, EV_DISCONNECT, EV_BAD, EV_WAKE, EV_FAIL_ALLOC, EV_PEER_LOST = 7 };

/* config bits */
#define MAX_ITEM_16 2
#define FAST_PROBES 4
#define MEMORY_8K 8
#define QUEUES_3 16
#define WAITERS_2 32
#define NAMES_4 64

static uint64_t next_id;

static Ipcqwire__Request
request(Ipcqwire__Op op, const char *queue)
{
    return wire_request(++next_id, op, queue);
}

static Ipcqwire__Request
with_timeout(Ipcqwire__Request r, int64_t ms)
{
    r.has_timeout_ms = 1;
    r.timeout_ms = ms;
    return r;
}

static ProtobufCBinaryData item_bytes[8];

static Ipcqwire__Request
put(const char *queue, size_t n, int64_t timeout_ms)
{
    static const char *texts[8] = {"a", "bb", "ccc", "", "hello", "\xff\x00\x01", "x", "yz"};
    for (size_t i = 0; i < n; i++)
        item_bytes[i] =
            (ProtobufCBinaryData){strlen(texts[i]) + (i == 5 ? 2 : 0), (uint8_t *)texts[i]};
    Ipcqwire__Request r = with_timeout(request(IPCQWIRE__OP__OP_PUT, queue), timeout_ms);
    r.n_items = n;
    r.items = item_bytes;
    return r;
}

static Ipcqwire__Request
get(const char *queue, int64_t timeout_ms, uint32_t max_items, int64_t lease_ms)
{
    Ipcqwire__Request r = with_timeout(request(IPCQWIRE__OP__OP_GET, queue), timeout_ms);
    if (max_items) {
        r.has_max_items = 1;
        r.max_items = max_items;
    }
    if (lease_ms) {
        r.has_lease_ms = 1;
        r.lease_ms = lease_ms;
    }
    return r;
}

static uint64_t tag_store[4];

static Ipcqwire__Request
tags(Ipcqwire__Op op, uint64_t first, size_t n)
{
    Ipcqwire__Request r = request(op, NULL);
    for (size_t i = 0; i < n; i++)
        tag_store[i] = first + i;
    r.n_tags = n;
    r.tags = tag_store;
    return r;
}

static Ipcqwire__Request
create(const char *queue, int64_t maxsize)
{
    Ipcqwire__Request r = request(IPCQWIRE__OP__OP_CREATE, queue);
    r.has_maxsize = 1;
    r.maxsize = maxsize;
    return r;
}

static Ipcqwire__Request
pending(Ipcqwire__Op op, uint64_t id)
{
    Ipcqwire__Request r = request(op, NULL);
    r.has_pending_id = 1;
    r.pending_id = id;
    return r;
}

static void
begin(script *s, uint8_t config)
{
    s->buf[0] = config;
    s->len = 1;
    next_id = 0;
}

static void
record(script *s, uint8_t ctl, const void *payload, size_t len)
{
    if (s->len + 3 + len > MAX_SCRIPT)
        abort();
    s->buf[s->len++] = ctl;
    s->buf[s->len++] = (uint8_t)(len & 0xff);
    s->buf[s->len++] = (uint8_t)(len >> 8);
    memcpy(s->buf + s->len, payload, len);
    s->len += len;
}

static void
send(script *s, uint8_t ctl, Ipcqwire__Request r)
{
    static uint8_t buf[MAX_SCRIPT];
    size_t len = ipcqwire__request__get_packed_size(&r);
    if (len > sizeof buf)
        abort();
    record(s, ctl, buf, ipcqwire__request__pack(&r, buf));
}

static void
event(script *s, uint8_t ctl, uint8_t what)
{
    record(s, (uint8_t)(ctl | EVENT), &what, 1);
}

/* The allocation n allocations from now fails. */
static void
fail_alloc(script *s, uint8_t ctl, uint8_t n)
{
    uint8_t what[2] = {EV_FAIL_ALLOC, n};
    record(s, (uint8_t)(ctl | EVENT), what, sizeof what);
}

static void
raw_seed(const char *name, Ipcqwire__Request r)
{
    uint8_t buf[4096];
    size_t len = ipcqwire__request__pack(&r, buf);
    write_seed("broker", name, buf, len);
}

static void
broker_raw_seeds(void)
{
    next_id = 0;
    raw_seed("raw-ping", request(IPCQWIRE__OP__OP_PING, NULL));
    raw_seed("raw-ping-pending", pending(IPCQWIRE__OP__OP_PING, 5));
    raw_seed("raw-put", put("jobs", 1, -1));
    raw_seed("raw-put-batch", put("jobs", 8, 0));
    raw_seed("raw-get", get("jobs", 0, 0, 0));
    raw_seed("raw-get-many-leased", get("jobs", 100, 16, 1000));
    raw_seed("raw-confirm", tags(IPCQWIRE__OP__OP_CONFIRM, 1, 2));
    raw_seed("raw-hand-back", tags(IPCQWIRE__OP__OP_HAND_BACK, 1, 2));
    raw_seed("raw-cancel", pending(IPCQWIRE__OP__OP_CANCEL, 1));
    raw_seed("raw-create", create("jobs", 10));
    raw_seed("raw-delete", request(IPCQWIRE__OP__OP_DELETE, "jobs"));
    raw_seed("raw-stat", request(IPCQWIRE__OP__OP_STAT, NULL));
    raw_seed("raw-stat-queue", request(IPCQWIRE__OP__OP_STAT, "jobs"));
    raw_seed("raw-task-done", request(IPCQWIRE__OP__OP_TASK_DONE, "jobs"));
    raw_seed("raw-join", with_timeout(request(IPCQWIRE__OP__OP_JOIN, "jobs"), 10));
    Ipcqwire__Request sd = request(IPCQWIRE__OP__OP_SHUTDOWN, "jobs");
    sd.has_immediate = 1;
    sd.immediate = 1;
    raw_seed("raw-shutdown", sd);
    raw_seed("raw-ack", tags(IPCQWIRE__OP__OP_ACK, 1, 1));
    Ipcqwire__Request ext = tags(IPCQWIRE__OP__OP_EXTEND, 1, 1);
    ext.has_lease_ms = 1;
    ext.lease_ms = 500;
    raw_seed("raw-extend", ext);
    raw_seed("raw-release", tags(IPCQWIRE__OP__OP_RELEASE, 1, 1));
    Ipcqwire__Request conf = request(IPCQWIRE__OP__OP_CONFIGURE, "jobs");
    conf.has_max_deliveries = 1;
    conf.max_deliveries = 2;
    raw_seed("raw-configure", conf);
}

static void
broker_script_seeds(void)
{
    static script s;

    begin(&s, 0); /* put, get, confirm, a batch get, stat */
    send(&s, PEER(0), put("q", 3, -1));
    send(&s, PEER(1), get("q", 0, 0, 0));
    send(&s, PEER(1) | STEP(1), tags(IPCQWIRE__OP__OP_CONFIRM, 1, 1));
    send(&s, PEER(1), get("q", 0, 5, 0));
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_STAT, NULL));
    write_seed("broker", "put-get-confirm", s.buf, s.len);

    begin(&s, 0); /* a blocked getter served by a put; another one times out */
    send(&s, PEER(1), get("q", 100, 0, 0));
    send(&s, PEER(0) | STEP(1), put("q", 1, -1));
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_CONFIRM, 1, 1));
    send(&s, PEER(1), get("q", 50, 0, 0));
    event(&s, PEER(0) | STEP(4), EV_WAKE);
    write_seed("broker", "blocked-get", s.buf, s.len);

    begin(&s, 0); /* a bounded queue: a putter blocks until a get frees room */
    send(&s, PEER(0), create("q", 1));
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(0), put("q", 1, 100));
    send(&s, PEER(3), put("q", 1, 0));
    send(&s, PEER(1) | STEP(2), get("q", -1, 0, 0));
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_CONFIRM, 1, 1));
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_STAT, "q"));
    send(&s, PEER(2), create("q", 2));
    write_seed("broker", "bounded-put", s.buf, s.len);

    begin(&s, 0); /* leases: extend, ack, return, expiry */
    send(&s, PEER(0), put("q", 2, -1));
    send(&s, PEER(1), get("q", 0, 0, 50));
    Ipcqwire__Request ext = tags(IPCQWIRE__OP__OP_EXTEND, 1, 1);
    ext.has_lease_ms = 1;
    ext.lease_ms = 100;
    send(&s, PEER(1) | STEP(2), ext);
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_ACK, 1, 1));
    send(&s, PEER(1), get("q", 0, 0, 50));
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_RELEASE, 2, 1));
    send(&s, PEER(2), get("q", 0, 0, 10));
    event(&s, PEER(0) | STEP(3), EV_WAKE);
    send(&s, PEER(2), tags(IPCQWIRE__OP__OP_ACK, 3, 1));
    send(&s, PEER(3), get("q", 0, 4, 0));
    write_seed("broker", "leases", s.buf, s.len);

    begin(&s, FAST_PROBES); /* a dead consumer's item goes to the dead-letter queue */
    send(&s, PEER(0), create("q", 0));
    Ipcqwire__Request conf = request(IPCQWIRE__OP__OP_CONFIGURE, "q");
    conf.has_max_deliveries = 1;
    conf.max_deliveries = 1;
    send(&s, PEER(0), conf);
    send(&s, PEER(0), put("q", 2, -1));
    send(&s, PEER(1), get("q", 0, 2, 0));
    event(&s, PEER(1) | TOGGLE_DEAD | STEP(2), EV_WAKE);
    send(&s, PEER(2), get("q.dlq", 0, 0, 0));
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_STAT, NULL));
    write_seed("broker", "dead-letter", s.buf, s.len);

    begin(&s, 0); /* a batch admitted item by item as room appears */
    send(&s, PEER(0), create("q", 2));
    Ipcqwire__Request each = put("q", 5, -1);
    each.has_admit_each = 1;
    each.admit_each = 1;
    send(&s, PEER(0), each);
    send(&s, PEER(1), get("q", 0, 2, 0));
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_CONFIRM, 1, 2));
    send(&s, PEER(2), get("q", -1, 1, 50));
    event(&s, PEER(0) | STEP(3), EV_WAKE);
    send(&s, PEER(3) | TICK, get("q", 0, 8, 0));
    send(&s, PEER(3) | TOGGLE_DEAD, put("q", 1, 10));
    write_seed("broker", "admit-each", s.buf, s.len);

    begin(&s, 0); /* join waits for task_done */
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(1), with_timeout(request(IPCQWIRE__OP__OP_JOIN, "q"), 1000));
    send(&s, PEER(2), get("q", 0, 0, 0));
    send(&s, PEER(2), tags(IPCQWIRE__OP__OP_CONFIRM, 1, 1));
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_TASK_DONE, "q"));
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_TASK_DONE, "q"));
    send(&s, PEER(1), with_timeout(request(IPCQWIRE__OP__OP_JOIN, "q"), 0));
    write_seed("broker", "join", s.buf, s.len);

    begin(&s, 0); /* shutdown: putters fail, getters drain then fail */
    send(&s, PEER(0), create("q", 1));
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(1), put("q", 1, -1));
    send(&s, PEER(2), with_timeout(request(IPCQWIRE__OP__OP_JOIN, "q"), -1));
    Ipcqwire__Request sd = request(IPCQWIRE__OP__OP_SHUTDOWN, "q");
    send(&s, PEER(0), sd);
    send(&s, PEER(3), get("q", 0, 0, 5));
    send(&s, PEER(3), get("q", -1, 0, 0));
    sd.has_immediate = 1;
    sd.immediate = 1;
    send(&s, PEER(0), sd);
    send(&s, PEER(3), tags(IPCQWIRE__OP__OP_RELEASE, 1, 1));
    send(&s, PEER(0), put("q", 1, 0));
    write_seed("broker", "shutdown", s.buf, s.len);

    begin(&s, 0); /* deleting a queue wakes its waiters */
    send(&s, PEER(1), get("q", -1, 0, 0));
    send(&s, PEER(0), put("q", 2, -1));
    send(&s, PEER(2), get("q", -1, 0, 0));
    send(&s, PEER(3), with_timeout(request(IPCQWIRE__OP__OP_JOIN, "q"), -1));
    send(&s, PEER(0), request(IPCQWIRE__OP__OP_DELETE, "q"));
    send(&s, PEER(0), request(IPCQWIRE__OP__OP_DELETE, "q"));
    write_seed("broker", "delete", s.buf, s.len);

    begin(&s, 0); /* ping asks whether a request still waits; cancel ends it */
    send(&s, PEER(1), get("q", -1, 0, 0));
    send(&s, PEER(1), pending(IPCQWIRE__OP__OP_PING, 1));
    send(&s, PEER(1), pending(IPCQWIRE__OP__OP_CANCEL, 1));
    send(&s, PEER(1), pending(IPCQWIRE__OP__OP_PING, 1));
    send(&s, PEER(0), put("q", 1, -1));
    write_seed("broker", "cancel", s.buf, s.len);

    begin(&s, 0); /* stop: every blocked caller answered, new requests refused */
    send(&s, PEER(0), create("q", 1));
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(1), get("r", -1, 0, 0));
    send(&s, PEER(2), get("q", 0, 0, 1000));
    event(&s, PEER(0), EV_STOP);
    send(&s, PEER(2), tags(IPCQWIRE__OP__OP_HAND_BACK, 1, 1));
    send(&s, PEER(3), put("q", 1, -1));
    write_seed("broker", "stop", s.buf, s.len);

    begin(&s, 0); /* a getter that is gone: its item returns to the head */
    event(&s, PEER(1) | TOGGLE_DEAD, EV_DISCONNECT);
    send(&s, PEER(1), get("q", -1, 0, 0));
    send(&s, PEER(0), put("q", 1, -1));
    send(&s, PEER(2), get("q", 0, 0, 0));
    send(&s, PEER(1) | TOGGLE_DEAD, get("q", 0, 0, 0));
    write_seed("broker", "dead-getter", s.buf, s.len);

    begin(&s, 0); /* a lane peer lost: its item back at the head, its get gone */
    send(&s, PEER(0), put("q", 2, -1));
    send(&s, PEER(1), get("q", 0, 0, 0));
    send(&s, PEER(1), get("r", -1, 0, 0));
    event(&s, PEER(1), EV_PEER_LOST);
    send(&s, PEER(0), put("r", 1, -1));
    send(&s, PEER(2), get("q", 0, 2, 0));
    send(&s, PEER(2), get("r", 0, 0, 0));
    write_seed("broker", "peer-lost", s.buf, s.len);

    begin(&s, 0); /* a pool worker lost: its batch comes back one by one (D6) */
    Ipcqwire__Request alone = get("q", 0, 3, 1000);
    alone.has_redelivered_alone = 1;
    alone.redelivered_alone = 1;
    send(&s, PEER(0), put("q", 4, -1));
    send(&s, PEER(1), alone);
    event(&s, PEER(1), EV_PEER_LOST);
    send(&s, PEER(2), alone);
    send(&s, PEER(2), alone);
    send(&s, PEER(2), alone);
    write_seed("broker", "redelivered-alone", s.buf, s.len);

    begin(&s, 0); /* release hands items back in order */
    send(&s, PEER(0), put("q", 3, -1));
    send(&s, PEER(1), get("q", 0, 2, 0));
    send(&s, PEER(1), tags(IPCQWIRE__OP__OP_HAND_BACK, 1, 2));
    send(&s, PEER(2), get("q", 0, 3, 0));
    write_seed("broker", "release", s.buf, s.len);

    begin(&s, MEMORY_8K | QUEUES_3 | WAITERS_2 | NAMES_4); /* every limit reached */
    send(&s, PEER(0), put("abcde", 1, -1));
    send(&s, PEER(0), create("a", 0));
    send(&s, PEER(0), create("b", 1));
    send(&s, PEER(0), put("b", 1, -1));
    send(&s, PEER(0), create("c", 0));
    send(&s, PEER(0), create("d", 0));
    send(&s, PEER(1), get("a", -1, 0, 0));
    send(&s, PEER(2), get("a", -1, 0, 0));
    send(&s, PEER(3), get("a", 100, 0, 0));
    send(&s, PEER(1), put("b", 1, -1));
    send(&s, PEER(2), put("b", 1, 100));
    send(&s, PEER(3), put("b", 1, 100));
    static uint8_t blob[1200];
    ProtobufCBinaryData two[2] = {{sizeof blob, blob}, {sizeof blob, blob}};
    Ipcqwire__Request huge = put("c", 1, 0);
    huge.items = two;
    send(&s, PEER(0), huge);
    huge.n_items = 2;
    send(&s, PEER(0), huge);
    send(&s, PEER(0), get("c", 0, 0, 0));
    write_seed("broker", "limits", s.buf, s.len);

    begin(&s, 0); /* allocations that fail: each request answered or dropped cleanly */
    fail_alloc(&s, PEER(0), 0);
    send(&s, PEER(0), put("q", 2, -1));
    fail_alloc(&s, PEER(0), 1);
    send(&s, PEER(0), put("q", 3, -1));
    send(&s, PEER(0), put("q", 3, -1));
    fail_alloc(&s, PEER(1), 0);
    send(&s, PEER(1), get("q", 0, 2, 0));
    fail_alloc(&s, PEER(1), 2);
    send(&s, PEER(1), get("q", 0, 2, 1000));
    fail_alloc(&s, PEER(2), 0);
    send(&s, PEER(2), get("r", -1, 0, 0));
    fail_alloc(&s, PEER(2), 1);
    send(&s, PEER(2), request(IPCQWIRE__OP__OP_STAT, NULL));
    fail_alloc(&s, PEER(3), 0);
    send(&s, PEER(3), put("q", 1, -1));
    write_seed("broker", "alloc-failures", s.buf, s.len);

    begin(&s, MAX_ITEM_16); /* a batch get stops before it outgrows one item's size */
    send(&s, PEER(0), put("q", 8, -1));
    send(&s, PEER(1), get("q", 0, 8, 0));
    send(&s, PEER(1), get("q", 0, 8, 0));
    write_seed("broker", "batch-split", s.buf, s.len);

    begin(&s, MAX_ITEM_16); /* errors, each answered */
    Ipcqwire__Request bad = request(IPCQWIRE__OP__OP_PING, NULL);
    bad.version = 99;
    send(&s, PEER(0), bad);
    send(&s, PEER(0), put("q", 1, -7));
    send(&s, PEER(0), put("bad\x01name", 1, -1));
    send(&s, PEER(0), put("q", 0, -1));
    ProtobufCBinaryData big = {17, (uint8_t *)"seventeen bytes!!"};
    Ipcqwire__Request too_big = put("q", 1, -1);
    too_big.items = &big;
    send(&s, PEER(0), too_big);
    send(&s, PEER(0), create("q", 5));
    send(&s, PEER(0), create("q", 6));
    send(&s, PEER(0), request((Ipcqwire__Op)42, "q"));
    send(&s, PEER(0), request(IPCQWIRE__OP__OP_STAT, "missing"));
    send(&s, PEER(0), get("q", 0, 0, -5));
    send(&s, PEER(0), tags(IPCQWIRE__OP__OP_EXTEND, 1, 1));
    event(&s, PEER(0), EV_BAD);
    record(&s, PEER(0), "\xff\xff", 2);
    write_seed("broker", "errors", s.buf, s.len);
}

/* ---- client ---- */

static void
client_seed(const char *name, uint8_t op, uint8_t flags, const Ipcqwire__Reply *r)
{
    uint8_t buf[8192];
    size_t len = ipcqwire__reply__get_packed_size(r);
    if (len + 2 > sizeof buf)
        abort();
    buf[0] = op;
    buf[1] = flags;
    write_seed("client", name, buf, 2 + ipcqwire__reply__pack(r, buf + 2));
}

static Ipcqwire__Item wire_items[4];
static Ipcqwire__Item *wire_ptrs[4];

static Ipcqwire__Reply
reply_items(size_t n)
{
    static const char *texts[4] = {"hello", "", "\x01\x02", "world"};
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    for (size_t i = 0; i < n; i++) {
        ipcqwire__item__init(&wire_items[i]);
        wire_items[i].data = (ProtobufCBinaryData){strlen(texts[i]), (uint8_t *)texts[i]};
        wire_items[i].tag = 10 + i;
        wire_items[i].has_deliveries = 1;
        wire_items[i].deliveries = 1 + (uint32_t)i;
        wire_ptrs[i] = &wire_items[i];
    }
    r.n_items = n;
    r.items = wire_ptrs;
    return r;
}

static Ipcqwire__Reply
reply_status(int status, const char *error)
{
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.status = status;
    r.error = (char *)error;
    return r;
}

static Ipcqwire__Reply
reply_stats(size_t n)
{
    static Ipcqwire__QueueStat qs[2];
    static Ipcqwire__QueueStat *ptrs[2];
    static Ipcqwire__BrokerStat bs = IPCQWIRE__BROKER_STAT__INIT;
    static const char *names[2] = {"q", "jobs.dlq"};
    for (size_t i = 0; i < n; i++) {
        ipcqwire__queue_stat__init(&qs[i]);
        qs[i].name = (ProtobufCBinaryData){strlen(names[i]), (uint8_t *)names[i]};
        qs[i].size = 3;
        qs[i].maxsize = 3;
        qs[i].bytes = 12;
        qs[i].has_shutdown = 1;
        qs[i].has_joiners = 1;
        qs[i].has_max_deliveries = 1;
        qs[i].max_deliveries = 10;
        qs[i].has_dead_lettered = 1;
        ptrs[i] = &qs[i];
    }
    bs.queues = n;
    bs.requests = 7;
    bs.max_item_size = 16 << 20;
    bs.pid = 1234;
    bs.has_disconnects = 1;
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.n_queues = n;
    r.queues = ptrs;
    r.broker = &bs;
    return r;
}

/* flags of fuzz_client.c */
#define NO_REWRITE 1
#define PROBE 2
#define LATE 4
#define ARG(a) ((a) << 3)

static void
client_seeds(void)
{
    Ipcqwire__Reply r = reply_items(1);
    client_seed("get", 0, 0, &r);
    client_seed("get-probe-late", 0, PROBE | LATE, &r);
    client_seed("get-leased", 2, 0, &r);
    r = reply_items(3);
    client_seed("get-many", 1, ARG(3), &r);
    client_seed("get-too-many", 1, ARG(1), &r);
    client_seed("prefetch", 10, ARG(2), &r);
    client_seed("get-leased-many", 13, ARG(3), &r);
    r = reply_items(0);
    client_seed("get-none", 0, 0, &r);
    r = reply_stats(2);
    client_seed("stat", 3, 0, &r);
    client_seed("qsize", 4, ARG(1), &r);
    r = reply_stats(1);
    client_seed("stat-queue", 3, ARG(1), &r);
    client_seed("full", 4, 0, &r);
    client_seed("empty", 5, 0, &r);
    r = reply_status(IPCQ_OK, NULL);
    r.has_instance = r.has_version = r.has_max_item_size = 1;
    r.instance = 77;
    r.version = 1;
    r.max_item_size = 1 << 20;
    client_seed("ping", 8, 0, &r);
    r.max_item_size = 1024;
    client_seed("big-put-refused", 15, 0, &r);
    r.max_item_size = 1 << 24;
    client_seed("big-put", 15, 0, &r);
    r = reply_status(IPCQ_OK, NULL);
    client_seed("put", 6, 0, &r);
    client_seed("put-many", 7, 0, &r);
    client_seed("put-async", 11, 0, &r);
    client_seed("release", 12, 0, &r);
    client_seed("ack-many", 14, ARG(2), &r);
    r = reply_status(IPCQ_ELEASE,
                     "2 of 3 leases not held: they expired, or were acked or released");
    client_seed("ack-many-elease", 14, ARG(2), &r);
    r = reply_status(IPCQ_OK, NULL);
    for (unsigned i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "status-%u", i);
        client_seed(name, 9, (uint8_t)ARG(i), &r);
    }
    r = reply_status(IPCQ_FULL, "q: queue is full (maxsize 3)");
    client_seed("put-full", 6, 0, &r);
    client_seed("put-async-full", 11, 0, &r);
    r = reply_status(IPCQ_EMPTY, "q: queue is empty");
    client_seed("get-empty", 0, 0, &r);
    r = reply_status(12345, "");
    client_seed("unknown-status", 9, 0, &r);
    r = reply_items(2);
    client_seed("raw-items", 0, NO_REWRITE, &r);
    static const uint8_t junk[] = {0x08, 0x01, 0x10, 0x00, 0x22, 0x05, 0x0a, 0xff};
    uint8_t buf[2 + sizeof junk] = {1, ARG(2)};
    memcpy(buf + 2, junk, sizeof junk);
    write_seed("client", "truncated", buf, sizeof buf);
}

/* ---- cli ---- */

static void
cli_seed(const char *name, uint8_t parser, uint8_t mask, const char *const *words, size_t n)
{
    uint8_t buf[1024];
    size_t len = 2;
    buf[0] = parser;
    buf[1] = mask;
    for (size_t i = 0; i < n; i++) {
        size_t w = strlen(words[i]);
        if (len + w + 1 > sizeof buf)
            abort();
        memcpy(buf + len, words[i], w);
        len += w;
        if (i + 1 < n)
            buf[len++] = '\0';
    }
    write_seed("cli", name, buf, len);
}

#define CLI_SEED(name, parser, mask, ...)                                                          \
    do {                                                                                           \
        static const char *const words[] = {__VA_ARGS__};                                          \
        cli_seed(name, parser, mask, words, sizeof words / sizeof words[0]);                       \
    } while (0)

static void
cli_seeds(void)
{
    CLI_SEED("ipcq-put", 0, 0xff, "q", "a", "b", "--timeout", "0.25");
    CLI_SEED("ipcq-put-nowait", 0, 0xff, "q", "--nowait", "--maxsize", "10", "--lines");
    CLI_SEED("ipcq-get", 0, 0xff, "q", "-n", "5", "--timeout=1.5", "--broker", "ipc:///tmp/x");
    CLI_SEED("ipcq-inline", 0, 0xff, "-n5", "--json", "--immediate", "--", "-x");
    CLI_SEED("ipcq-help", 0, 0, "q", "--help");
    CLI_SEED("ipcq-bad", 0, 0x10, "q", "--timeout", "-1", "--maxsize", "99999999999999999999");
    CLI_SEED("pool", 1, 0, "--workers", "4", "--limit", "1000", "--compare", "1,2,4",
             "--broker=ipc://x", "--kill-one");
    CLI_SEED("pool-bad", 1, 0, "--limit=1", "--compare", "1,,2", "--kill-one=yes");
    CLI_SEED("bench-batch", 2, 0, "--producers", "2", "--consumers", "2", "--queues", "2", "--size",
             "100", "--items", "1000", "--mode", "batch", "--batch", "10");
    CLI_SEED("bench-async", 2, 0, "--duration", "0.5", "--mode=async", "--window", "64", "--json",
             "--check");
    CLI_SEED("bench-prefetch", 2, 0, "--broker", "ipc:///tmp/b", "--broker-pid", "5", "--maxsize",
             "100", "--mode", "prefetch");
    CLI_SEED("bench-help", 2, 0, "--version");
    CLI_SEED("ipcqd-sizes", 3, 1, "64M", "1", "0", "1g", "9223372036854775807", "8388607T");
    CLI_SEED("ipcqd-names", 3, 4, "255", "256", "4k");
}

/* ---- lane (fuzz_lane.c: limit, seed, stop, then the stream) ---- */

typedef struct lane_stream {
    uint8_t buf[8192];
    size_t len;
} lane_stream;

static void
lane_frame(lane_stream *ls, const void *body, size_t len, uint32_t claimed)
{
    if (ls->len + 4 + len > sizeof ls->buf)
        abort();
    for (int i = 0; i < 4; i++)
        ls->buf[ls->len++] = (uint8_t)(claimed >> (8 * i));
    if (len > 0)
        memcpy(ls->buf + ls->len, body, len);
    ls->len += len;
}

static void
lane_request(lane_stream *ls, Ipcqwire__Request r)
{
    uint8_t body[4096];
    size_t len = ipcqwire__request__pack(&r, body);
    lane_frame(ls, body, len, (uint32_t)len);
}

static void
lane_seeds(void)
{
    /* 0x84: a 5 KiB limit; reads cut from seed 7; never stopped. */
    lane_stream ls = {.buf = {0x84, 7, 255}, .len = 3};
    next_id = 0;
    lane_request(&ls, request(IPCQWIRE__OP__OP_PING, NULL));
    lane_request(&ls, put("jobs", 3, -1));
    lane_request(&ls, get("jobs", 0, 2, 0));
    lane_request(&ls, request(IPCQWIRE__OP__OP_STAT, NULL));
    write_seed("lane", "requests", ls.buf, ls.len);
    /* N = 0, a frame cut short, then one that runs past the end. */
    ls = (lane_stream){.buf = {0x84, 0, 255}, .len = 3};
    lane_frame(&ls, NULL, 0, 0);
    lane_frame(&ls, "\x08\x01\x10", 3, 3);
    lane_request(&ls, request(IPCQWIRE__OP__OP_PING, NULL));
    lane_frame(&ls, "\x08\x01", 2, 100);
    write_seed("lane", "malformed", ls.buf, ls.len);
    /* A 16-byte limit (3): a ping fits, the next length does not. */
    ls = (lane_stream){.buf = {3, 1, 255}, .len = 3};
    lane_request(&ls, request(IPCQWIRE__OP__OP_PING, NULL));
    lane_frame(&ls, "", 0, 17);
    write_seed("lane", "over-limit", ls.buf, ls.len);
    /* The consumer stops after the second of three frames. */
    ls = (lane_stream){.buf = {0x84, 200, 1}, .len = 3};
    for (int i = 0; i < 3; i++)
        lane_request(&ls, request(IPCQWIRE__OP__OP_PING, NULL));
    write_seed("lane", "stopped", ls.buf, ls.len);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    broker_raw_seeds();
    broker_script_seeds();
    client_seeds();
    cli_seeds();
    lane_seeds();
    return 0;
}
