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
 *           disconnected, a bad frame, a tick at the next wake-up, an
 *           allocation failure payload[1] allocations on (4-6), or the
 *           record's peer lost as the unix:// lane reports it (7)).
 *
 * Either way the run ends with the clock an hour on, a tick, and
 * broker_free(): whatever was not freed is a leak, reported by LSan.
 * After every step the broker's own bookkeeping is checked against what it
 * holds (counts, lists, heaps, sessions, memory charged, the hand-over
 * rules of serve.c); every message it sends must decode as a Reply and
 * answer a request still owed one (none twice, none to a one-way request).
 * A mismatch aborts. The checks are tests/core_check.c, which the unit
 * tests of the core (test_core_rules) run too.
 * tests/fuzz/make_seeds.c writes the seed corpus.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_check.h"
#include "fuzz.h"

enum { NPEERS = 4, PEER_ID_LEN = 5 };
#define HOUR_US ((int64_t)3600 * 1000000)

typedef struct fuzz_state {
    bool dead[NPEERS]; /* sends to this peer fail */
    core_ledger ledger;
} fuzz_state;

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
    if (trace)
        fprintf(stderr, "-> peer %u%s: id %llu status %d items %zu%s%s\n", i,
                st->dead[i] ? " (gone)" : "", (unsigned long long)r->id, (int)r->status, r->n_items,
                r->error ? ": " : "", r->error ? r->error : "");
    core_ledger_answered(&st->ledger, i, r);
    ipcqwire__reply__free_unpacked(r, NULL);
    return st->dead[i] ? IPCQ_EUNAVAILABLE : 0;
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
    cfg->first_tag = 1; /* tags 1, 2, ...: the seeds' acks name them */
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
 * tick at the next wake-up, (4-6) an allocation failure armed, arg
 * allocations from now, or (7) peer lost (broker_peer_lost). */
static void
event(broker *b, unsigned peer, uint8_t what, uint8_t arg, int64_t *now)
{
    if (what % 8 == 7) {
        unsigned char id[PEER_ID_LEN];
        peer_id(peer, id);
        broker_peer_lost(b, id, sizeof id, *now);
        return;
    }
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
            event(b, peer, len ? payload[0] : 0, len > 1 ? payload[1] : 0, now);
        } else {
            unsigned char id[PEER_ID_LEN];
            peer_id(peer, id);
            core_ledger_owe(&st->ledger, peer, payload, len);
            broker_handle(b, id, sizeof id, payload, len, *now);
        }
        if (ctl & 0x20)
            broker_tick(b, *now);
        core_check_broker(b);
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
    FUZZ_CHECK(core_check_items_held() == 0); /* the last input's broker released every item */
    int64_t now = b->now_us;
    if (raw) {
        unsigned char id[PEER_ID_LEN];
        peer_id(0, id);
        core_ledger_owe(&st.ledger, 0, data, size);
        broker_handle(b, id, sizeof id, data, size, now);
        core_check_broker(b);
    } else {
        run_script(b, &st, &r, &now);
    }
    fail_in = -1;
    /* An hour on, the waits and leases of an hour or less have run out. */
    now += HOUR_US;
    broker_tick(b, now);
    core_check_broker(b);
    broker_free(b);
    return 0;
}
