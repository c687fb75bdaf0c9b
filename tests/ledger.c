/* The shared ledger of the load and fault suites (see ledger.h). */
#include "ledger.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "ipcq.h"

#define ITEM_MAGIC 0x71637169u /* "iqcq" */
/* The items a slot got by plain gets last: enough for every confirmation
 * that can still be unsent when it dies (one prefetch buffer's worth). */
#define RECENT 64

enum { PUT_NONE, PUT_TRYING, PUT_OK, PUT_REFUSED };

typedef struct entry {
    _Atomic uint16_t got;
    _Atomic uint16_t maybe;
    _Atomic uint16_t excused; /* extra receipts excused (checker only) */
    _Atomic uint8_t put;
    _Atomic uint8_t cls;
    _Atomic uint8_t ways;    /* ledger_way bits: how it was received */
    _Atomic uint32_t who[2]; /* the first two receivers: slot + 1 (drain: 0) */
    _Atomic int64_t when[2]; /* ... and when, monotonic ms */
    _Atomic uint32_t epoch;
} entry;

/* What a durable ledger keeps besides (see ledger.h, ledger_new_durable). */
typedef struct dentry {
    /* The hand-out that began first: its begin ticket << 24 | the epoch at
     * its begin << 8 | its place in its reply. */
    _Atomic uint64_t first;
    /* The hand-out that ended first: its end ticket << 16 | the epoch at its
     * begin. */
    _Atomic uint64_t min_end;
    _Atomic uint64_t max_end; /* the latest end ticket of a hand-out */
    _Atomic uint32_t len;
    _Atomic uint16_t unconfirmed; /* plain-get receipts not known to be confirmed */
    _Atomic uint16_t handouts;    /* hand-outs recorded */
    _Atomic uint8_t queue;
} dentry;

typedef struct slot_state {
    _Atomic uint32_t in_get; /* max items of the plain get in progress; 0 when none */
    _Atomic uint32_t killed;
    _Atomic uint32_t nrecent;
    _Atomic uint32_t stop_marks;
    _Atomic int doing;
    _Atomic uint64_t recent[RECENT];
    _Atomic int64_t last_ok_ms, last_unavailable_ms, holding_until_ms;
    _Atomic uint32_t hw; /* 1 + the highest sequence number put */
} slot_state;

struct ledger {
    size_t map_len;
    uint32_t slots, per_slot;
    _Atomic uint32_t epoch;
    _Atomic int stop;
    _Atomic int64_t counters[LC_COUNTERS];
    _Atomic int problem_taken;
    char problem[256];
    slot_state *slot;
    entry *entries;
    _Atomic uint64_t ticket; /* the shared clock of durable ledgers */
    dentry *dur;             /* per item; NULL unless durable */
};

static ledger *
make_ledger(uint32_t slots, uint32_t per_slot, bool durable)
{
    size_t head = (sizeof(ledger) + 63) & ~(size_t)63;
    size_t slot_bytes = (slots * sizeof(slot_state) + 63) & ~(size_t)63;
    size_t entry_bytes = ((size_t)slots * per_slot * sizeof(entry) + 63) & ~(size_t)63;
    size_t len = head + slot_bytes + entry_bytes;
    if (durable)
        len += (size_t)slots * per_slot * sizeof(dentry);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    ledger *l = p; /* a fresh mapping is zero: every field starts at 0 */
    l->map_len = len;
    l->slots = slots;
    l->per_slot = per_slot;
    l->slot = (slot_state *)((char *)p + head);
    l->entries = (entry *)((char *)p + head + slot_bytes);
    l->dur = durable ? (dentry *)((char *)p + head + slot_bytes + entry_bytes) : NULL;
    return l;
}

ledger *
ledger_new(uint32_t slots, uint32_t per_slot)
{
    return make_ledger(slots, per_slot, false);
}

ledger *
ledger_new_durable(uint32_t slots, uint32_t per_slot)
{
    return make_ledger(slots, per_slot, true);
}

void
ledger_free(ledger **l)
{
    if (l == NULL || *l == NULL)
        return;
    munmap(*l, (*l)->map_len);
    *l = NULL;
}

void
ledger_reset(ledger *l)
{
    memset(l->slot, 0, l->slots * sizeof(slot_state));
    memset(l->entries, 0, (size_t)l->slots * l->per_slot * sizeof(entry));
    if (l->dur != NULL)
        memset(l->dur, 0, (size_t)l->slots * l->per_slot * sizeof(dentry));
    atomic_store(&l->ticket, 0);
    for (int k = 0; k < LC_COUNTERS; k++)
        atomic_store(&l->counters[k], 0);
    atomic_store(&l->stop, 0);
    atomic_store(&l->problem_taken, 0);
    l->problem[0] = '\0';
}

uint32_t
ledger_slots(const ledger *l)
{
    return l->slots;
}

uint32_t
ledger_per_slot(const ledger *l)
{
    return l->per_slot;
}

void
ledger_set_epoch(ledger *l, uint32_t epoch)
{
    atomic_store(&l->epoch, epoch);
}

uint32_t
ledger_epoch(const ledger *l)
{
    return atomic_load(&((ledger *)l)->epoch);
}

void
ledger_stop(ledger *l)
{
    atomic_store(&l->stop, 1);
}

bool
ledger_stopping(const ledger *l)
{
    return atomic_load(&((ledger *)l)->stop) != 0;
}

/* The payload byte at offset i of item (slot, seq). */
static unsigned char
pattern(uint32_t slot, uint32_t seq, size_t i)
{
    uint32_t x = slot * 2654435761u ^ seq * 40503u ^ (uint32_t)i * 2246822519u;
    return (unsigned char)(x ^ x >> 13 ^ x >> 24);
}

static uint32_t
header_check(uint32_t slot, uint32_t seq, size_t len)
{
    return (slot * 31u + seq) * 2654435761u ^ (uint32_t)len;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

static uint32_t
get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

void
ledger_encode(uint32_t slot, uint32_t seq, void *buf, size_t len)
{
    unsigned char *p = buf;
    put_u32(p, ITEM_MAGIC);
    put_u32(p + 4, slot);
    put_u32(p + 8, seq);
    put_u32(p + 12, header_check(slot, seq, len));
    for (size_t i = LEDGER_ITEM_MIN; i < len; i++)
        p[i] = pattern(slot, seq, i);
}

static entry *
entry_at(const ledger *l, uint32_t slot, uint32_t seq)
{
    if (slot >= l->slots || seq >= l->per_slot)
        return NULL;
    return &l->entries[(size_t)slot * l->per_slot + seq];
}

void
ledger_put_begin(ledger *l, uint32_t slot, uint32_t seq, ledger_class cls)
{
    entry *e = entry_at(l, slot, seq);
    atomic_store(&e->cls, (uint8_t)cls);
    atomic_store(&e->epoch, ledger_epoch(l));
    atomic_store(&e->put, PUT_TRYING);
    uint32_t hw = atomic_load(&l->slot[slot].hw);
    while (seq + 1 > hw && !atomic_compare_exchange_weak(&l->slot[slot].hw, &hw, seq + 1))
        ;
}

/* Statuses after which a put may or may not have been accepted. */
static bool
outcome_unknown(int status)
{
    return status == IPCQ_EUNAVAILABLE || status == IPCQ_ETIMEDOUT || status == IPCQ_ENOMEM ||
           status == IPCQ_ESYSTEM;
}

void
ledger_put_end(ledger *l, uint32_t slot, uint32_t seq, int status)
{
    entry *e = entry_at(l, slot, seq);
    if (status == IPCQ_OK) {
        atomic_store(&e->put, PUT_OK);
        ledger_count(l, LC_PUTS, 1);
    } else if (!outcome_unknown(status)) {
        atomic_store(&e->put, PUT_REFUSED);
    }
}

/* The entry of a received item, or NULL (counted, with a line) if the
 * bytes are no item the ledger could have produced. */
static entry *
decode(ledger *l, const void *data, size_t len, uint64_t *id)
{
    const unsigned char *p = data;
    if (len < LEDGER_ITEM_MIN || get_u32(p) != ITEM_MAGIC) {
        ledger_count(l, LC_BAD_ITEMS, 1);
        ledger_problem(l, "an item of %zu bytes that no client put", len);
        return NULL;
    }
    uint32_t slot = get_u32(p + 4), seq = get_u32(p + 8);
    entry *e = entry_at(l, slot, seq);
    if (e == NULL || get_u32(p + 12) != header_check(slot, seq, len)) {
        ledger_count(l, LC_BAD_ITEMS, 1);
        ledger_problem(l, "item %u:%u: damaged header (%zu bytes)", slot, seq, len);
        return NULL;
    }
    for (size_t i = LEDGER_ITEM_MIN; i < len; i++) {
        if (p[i] != pattern(slot, seq, i)) {
            ledger_count(l, LC_BAD_ITEMS, 1);
            ledger_problem(l, "item %u:%u: byte %zu damaged", slot, seq, i);
            return NULL;
        }
    }
    *id = (uint64_t)slot << 32 | seq;
    return e;
}

/* Counts one receipt of e, by slot, remembering the first two. */
static void
note_receipt(entry *e, uint32_t slot, ledger_way way)
{
    unsigned n = atomic_fetch_add(&e->got, 1);
    atomic_fetch_or(&e->ways, (uint8_t)way);
    if (n < 2) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        atomic_store(&e->who[n], slot + 1);
        atomic_store(&e->when[n], (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    }
}

static dentry *dentry_of(const ledger *l, uint64_t id);

static uint64_t
got(ledger *l, uint32_t slot, ledger_way way, const void *data, size_t len, bool unconfirmed)
{
    uint64_t id = UINT64_MAX;
    entry *e = decode(l, data, len, &id);
    if (e == NULL)
        return UINT64_MAX;
    dentry *d = unconfirmed ? dentry_of(l, id) : NULL;
    if (d != NULL) /* first: a reader never sees the receipt without it */
        atomic_fetch_add(&d->unconfirmed, 1);
    note_receipt(e, slot, way);
    if (slot < l->slots) {
        slot_state *s = &l->slot[slot];
        uint32_t n = atomic_fetch_add(&s->nrecent, 1);
        atomic_store(&s->recent[n % RECENT], id + 1); /* 0: an empty place */
    }
    return id;
}

uint64_t
ledger_got(ledger *l, uint32_t slot, ledger_way way, const void *data, size_t len)
{
    return got(l, slot, way, data, len, false);
}

void
ledger_get_begin(ledger *l, uint32_t slot, uint32_t max)
{
    atomic_store(&l->slot[slot].in_get, max);
}

void
ledger_get_end(ledger *l, uint32_t slot)
{
    atomic_store(&l->slot[slot].in_get, 0);
}

uint64_t
ledger_leased(ledger *l, const void *data, size_t len)
{
    uint64_t id = UINT64_MAX;
    entry *e = decode(l, data, len, &id);
    if (e != NULL)
        atomic_fetch_add(&e->maybe, 1);
    return e ? id : UINT64_MAX;
}

void
ledger_lease_end(ledger *l, uint32_t slot, uint64_t id, bool acked, int status)
{
    entry *e = entry_at(l, (uint32_t)(id >> 32), (uint32_t)id);
    if (e == NULL)
        return;
    if (acked && status == IPCQ_OK) {
        note_receipt(e, slot, LEDGER_BY_ACK);
        atomic_fetch_sub(&e->maybe, 1);
    } else if (!acked || !outcome_unknown(status)) {
        /* Released, or an ack refused: the item is not taken by this lease. */
        atomic_fetch_sub(&e->maybe, 1);
    }
}

void
ledger_killed(ledger *l, uint32_t slot)
{
    atomic_store(&l->slot[slot].killed, 1);
}

void
ledger_count(ledger *l, ledger_counter k, int64_t n)
{
    atomic_fetch_add(&l->counters[k], n);
}

void
ledger_count_max(ledger *l, ledger_counter k, int64_t v)
{
    int64_t cur = atomic_load(&l->counters[k]);
    while (v > cur && !atomic_compare_exchange_weak(&l->counters[k], &cur, v))
        ;
}

int64_t
ledger_counter_value(const ledger *l, ledger_counter k)
{
    return atomic_load(&((ledger *)l)->counters[k]);
}

void
ledger_problem(ledger *l, const char *fmt, ...)
{
    ledger_count(l, LC_UNEXPECTED, 1);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&l->problem_taken, &expected, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->problem, sizeof l->problem, fmt, ap);
    va_end(ap);
}

const char *
ledger_first_problem(const ledger *l)
{
    return l->problem;
}

void
ledger_mark_call(ledger *l, uint32_t slot, int status, int64_t at_ms)
{
    if (status == IPCQ_EUNAVAILABLE)
        atomic_store(&l->slot[slot].last_unavailable_ms, at_ms);
    else
        atomic_store(&l->slot[slot].last_ok_ms, at_ms);
}

int64_t
ledger_last_ok(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].last_ok_ms);
}

int64_t
ledger_last_unavailable(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].last_unavailable_ms);
}

void
ledger_mark_stopped(ledger *l, uint32_t slot)
{
    atomic_fetch_add(&l->slot[slot].stop_marks, 1);
}

uint32_t
ledger_stop_marks(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].stop_marks);
}

void
ledger_set_doing(ledger *l, uint32_t slot, int what)
{
    atomic_store(&l->slot[slot].doing, what);
}

int
ledger_doing(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].doing);
}

uint32_t
ledger_in_get(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].in_get);
}

void
ledger_hold(ledger *l, uint32_t slot, int64_t until_ms)
{
    atomic_store(&l->slot[slot].holding_until_ms, until_ms);
}

int64_t
ledger_holding(const ledger *l, uint32_t slot)
{
    return atomic_load(&l->slot[slot].holding_until_ms);
}

/* What the killed slots excuse: each item a killed client got by its last
 * plain gets may come again (its confirmation may have died with it), and a
 * client killed inside a plain get may have taken up to that many items
 * without writing them down. Returns the number of such items. */
static uint64_t
excuse_killed(const ledger *l)
{
    uint64_t may_vanish = 0;
    for (uint32_t s = 0; s < l->slots; s++) {
        slot_state *st = &l->slot[s];
        if (!atomic_load(&st->killed))
            continue;
        may_vanish += atomic_load(&st->in_get);
        for (int i = 0; i < RECENT; i++) {
            uint64_t v = atomic_load(&st->recent[i]);
            entry *e = v ? entry_at(l, (uint32_t)((v - 1) >> 32), (uint32_t)(v - 1)) : NULL;
            if (e != NULL)
                atomic_fetch_add(&e->excused, 1);
        }
    }
    return may_vanish;
}

__attribute__((format(printf, 2, 3))) static void
first_failure(ledger_report *r, const char *fmt, ...)
{
    if (r->first[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof r->first, fmt, ap);
    va_end(ap);
}

static const char *
ways_text(unsigned ways)
{
    static char text[80];
    static const char *const names[] = {"get", "get_many", "prefetch", "ack", "drain"};
    text[0] = '\0';
    for (unsigned i = 0; i < 5; i++)
        if (ways & 1u << i)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", text[0] ? "+" : "",
                     names[i]);
    return text;
}

/* Checks one item; the rules are in ledger.h. */
static void
check_entry(const entry *e, uint32_t slot, uint32_t seq, uint32_t since_epoch, ledger_report *r)
{
    unsigned put = atomic_load(&e->put), got = atomic_load(&e->got);
    unsigned maybe = atomic_load(&e->maybe), excused = atomic_load(&e->excused);
    r->seen += got;
    if (put == PUT_NONE) {
        if (got || maybe) {
            r->unknown_seen++;
            first_failure(r, "item %u:%u was seen but never put", slot, seq);
        }
        return;
    }
    if (put == PUT_REFUSED) {
        r->refused++;
        if (got || maybe) {
            r->refused_seen++;
            first_failure(r, "item %u:%u: its put was refused, yet it was seen %u times", slot, seq,
                          got);
        }
        return;
    }
    if (put == PUT_TRYING)
        r->unknown++;
    else
        r->accepted++;
    if (got > 1 + excused) {
        r->duplicated++;
        first_failure(r,
                      "item %u:%u seen %u times (%u excused by kills), by %s: first by client "
                      "%d at %lld ms, then by client %d at %lld ms (-1: the drain)",
                      slot, seq, got, excused, ways_text(atomic_load(&e->ways)),
                      (int)atomic_load(&e->who[0]) - 1, (long long)atomic_load(&e->when[0]),
                      (int)atomic_load(&e->who[1]) - 1, (long long)atomic_load(&e->when[1]));
    } else if (got > 1) {
        r->excused_dups += got - 1;
    }
    bool must_see = put == PUT_OK && atomic_load(&e->cls) == LEDGER_KEPT;
    if (must_see && got == 0 && maybe == 0) {
        if (since_epoch == 0) {
            r->lost++;
        } else if (atomic_load(&e->epoch) >= since_epoch) {
            r->epoch_lost++;
            first_failure(r, "item %u:%u, accepted by the broker that still runs, was lost", slot,
                          seq);
        }
    }
}

bool
ledger_check(const ledger *l, uint32_t since_epoch, ledger_report *r)
{
    memset(r, 0, sizeof *r);
    uint64_t may_vanish = excuse_killed(l);
    for (uint32_t s = 0; s < l->slots; s++)
        for (uint32_t q = 0; q < l->per_slot; q++)
            check_entry(entry_at(l, s, q), s, q, since_epoch, r);
    /* Undo the excuses, so a second check counts the same. */
    for (size_t i = 0; i < (size_t)l->slots * l->per_slot; i++)
        atomic_store(&l->entries[i].excused, 0);
    if (r->lost > 0 && r->lost <= may_vanish) {
        r->excused_lost = r->lost;
        r->lost = 0;
    } else if (r->lost > 0) {
        first_failure(r, "%llu accepted items lost (killed getters excuse at most %llu)",
                      (unsigned long long)r->lost, (unsigned long long)may_vanish);
    }
    if (ledger_counter_value(l, LC_UNEXPECTED) > 0)
        first_failure(r, "a client saw: %s", l->problem);
    r->unknown_seen += (uint64_t)ledger_counter_value(l, LC_BAD_ITEMS);
    return r->lost == 0 && r->duplicated == 0 && r->refused_seen == 0 && r->unknown_seen == 0 &&
           r->epoch_lost == 0 && ledger_counter_value(l, LC_UNEXPECTED) == 0;
}

void
ledger_report_print(const ledger_report *r, const char *label)
{
    fprintf(stderr,
            "%s: accepted %llu, unknown %llu, refused %llu, receipts %llu; lost %llu "
            "(excused %llu), duplicated %llu (excused receipts %llu), refused-but-seen %llu, "
            "unknown-seen %llu, lost-since-restart %llu\n",
            label, (unsigned long long)r->accepted, (unsigned long long)r->unknown,
            (unsigned long long)r->refused, (unsigned long long)r->seen,
            (unsigned long long)r->lost, (unsigned long long)r->excused_lost,
            (unsigned long long)r->duplicated, (unsigned long long)r->excused_dups,
            (unsigned long long)r->refused_seen, (unsigned long long)r->unknown_seen,
            (unsigned long long)r->epoch_lost);
    if (r->durable)
        fprintf(stderr,
                "%s: plain-get receipts never confirmed %llu; FIFO held to %llu items' first "
                "hand-outs (%llu excused by kills), out of order %llu\n",
                label, (unsigned long long)r->unconfirmed, (unsigned long long)r->order_checked,
                (unsigned long long)r->order_excused, (unsigned long long)r->out_of_order);
    if (r->first[0] != '\0')
        fprintf(stderr, "%s: first failure: %s\n", label, r->first);
}

/* ---- durable brokers (see ledger.h) -------------------------------------- */

static dentry *
dentry_of(const ledger *l, uint64_t id)
{
    uint32_t slot = (uint32_t)(id >> 32), seq = (uint32_t)id;
    if (l->dur == NULL || id == UINT64_MAX || slot >= l->slots || seq >= l->per_slot)
        return NULL;
    return &l->dur[(size_t)slot * l->per_slot + seq];
}

ledger_stamp
ledger_stamp_now(ledger *l)
{
    ledger_stamp s;
    s.ticket = atomic_fetch_add(&l->ticket, 1) + 1;
    s.epoch = ledger_epoch(l);
    return s;
}

void
ledger_put_queue(ledger *l, uint32_t slot, uint32_t seq, unsigned queue, size_t len)
{
    dentry *d = dentry_of(l, (uint64_t)slot << 32 | seq);
    if (d == NULL)
        return;
    atomic_store(&d->queue, (uint8_t)queue);
    atomic_store(&d->len, (uint32_t)len);
}

uint64_t
ledger_got_unconfirmed(ledger *l, uint32_t slot, ledger_way way, const void *data, size_t len)
{
    return got(l, slot, way, data, len, true);
}

void
ledger_confirmed(ledger *l, uint64_t id)
{
    dentry *d = dentry_of(l, id);
    if (d != NULL)
        atomic_fetch_sub(&d->unconfirmed, 1);
}

/* *v = x if *v is 0 (none yet) or greater. */
static void
min_nonzero(_Atomic uint64_t *v, uint64_t x)
{
    uint64_t cur = atomic_load(v);
    while ((cur == 0 || x < cur) && !atomic_compare_exchange_weak(v, &cur, x))
        ;
}

static void
max_of(_Atomic uint64_t *v, uint64_t x)
{
    uint64_t cur = atomic_load(v);
    while (x > cur && !atomic_compare_exchange_weak(v, &cur, x))
        ;
}

static bool
even(uint32_t epoch)
{
    return epoch % 2 == 0;
}

void
ledger_handouts(ledger *l, const uint64_t *ids, size_t n, const ledger_stamp *begin,
                const ledger_stamp *end, const uint32_t *deliveries)
{
    /* Checked before any is recorded: "no hand-out before" means before
     * this reply. */
    for (size_t j = 0; j < n; j++) {
        dentry *dx = dentry_of(l, ids[j]);
        if (dx == NULL)
            continue;
        uint32_t xslot = (uint32_t)(ids[j] >> 32), xseq = (uint32_t)ids[j];
        const entry *ex = entry_at(l, xslot, xseq);
        unsigned before = atomic_load(&dx->handouts);
        /* Read after the count: a hand-out counted there that came after
         * this one (the item back meanwhile) has its end in max_end. */
        uint64_t max_end = atomic_load(&dx->max_end);
        if (deliveries != NULL &&
            (deliveries[j] == 0 || (max_end < begin->ticket && deliveries[j] < before + 1)))
            ledger_problem(l,
                           "item %u:%u was leased with delivery count %u after %u hand-outs "
                           "that ended before the get began",
                           xslot, xseq, deliveries[j], before);
        /* The reply's order: an item accepted before a later item of its
         * producer, never handed out before, comes first. (Even if a killed
         * broker handed it out unseen, it came back to the head: ahead of
         * the later item, or back with it, in key order.) */
        if (before > 0 || atomic_load(&ex->put) != PUT_OK)
            continue;
        for (size_t i = 0; i < j; i++) {
            uint32_t yslot = (uint32_t)(ids[i] >> 32), yseq = (uint32_t)ids[i];
            if (ids[i] != UINT64_MAX && yslot == xslot && yseq > xseq)
                ledger_problem(l,
                               "FIFO: item %u:%u came after item %u:%u in one reply (tickets "
                               "%llu to %llu, epochs %u to %u), yet it was put first and never "
                               "handed out before",
                               xslot, xseq, yslot, yseq, (unsigned long long)begin->ticket,
                               (unsigned long long)end->ticket, begin->epoch, end->epoch);
        }
    }
    for (size_t j = 0; j < n; j++) {
        dentry *d = dentry_of(l, ids[j]);
        if (d == NULL)
            continue;
        min_nonzero(&d->first, begin->ticket << 24 | (uint64_t)(begin->epoch & 0xffff) << 8 |
                                   (j < 255 ? j : 255));
        min_nonzero(&d->min_end, end->ticket << 16 | (begin->epoch & 0xffff));
        max_of(&d->max_end, end->ticket); /* before the count: see above */
        atomic_fetch_add(&d->handouts, 1);
    }
}

/* Whether an item's put was accepted: acknowledged, or unknown but seen. */
static bool
accepted(const entry *e)
{
    unsigned put = atomic_load(&e->put);
    return put == PUT_OK ||
           (put == PUT_TRYING && (atomic_load(&e->got) > 0 || atomic_load(&e->maybe) > 0));
}

uint64_t
ledger_accepted_on(const ledger *l, unsigned queue)
{
    uint64_t n = 0;
    for (uint32_t s = 0; l->dur != NULL && s < l->slots; s++) {
        uint32_t hw = atomic_load(&l->slot[s].hw);
        for (uint32_t q = 0; q < hw; q++)
            n += atomic_load(&l->dur[(size_t)s * l->per_slot + q].queue) == queue &&
                 accepted(entry_at(l, s, q));
    }
    return n;
}

uint64_t
ledger_live_bytes(const ledger *l, size_t per_item)
{
    uint64_t bytes = 0;
    for (uint32_t s = 0; l->dur != NULL && s < l->slots; s++) {
        uint32_t hw = atomic_load(&l->slot[s].hw);
        for (uint32_t q = 0; q < hw; q++) {
            const entry *e = entry_at(l, s, q);
            const dentry *d = &l->dur[(size_t)s * l->per_slot + q];
            unsigned put = atomic_load(&e->put);
            /* unconfirmed first: it is counted up before got */
            int confirmed = -(int)atomic_load(&d->unconfirmed);
            confirmed += (int)atomic_load(&e->got);
            if ((put == PUT_OK || put == PUT_TRYING) && confirmed < 1)
                bytes += atomic_load(&d->len) + per_item;
        }
    }
    return bytes;
}

/* The earliest-ended hand-out of a later item of one producer on one
 * queue, per epoch at its begin: the ticket it ended at and the item. */
typedef struct later {
    uint64_t end;
    uint32_t seq;
} later;

/* The per-item rules of ledger_check_durable (all but the order). */
static void
check_durable_entry(const entry *e, const dentry *d, uint32_t slot, uint32_t seq, ledger_report *r)
{
    unsigned put = atomic_load(&e->put), got = atomic_load(&e->got);
    unsigned maybe = atomic_load(&e->maybe), unconfirmed = atomic_load(&d->unconfirmed);
    r->seen += got;
    r->unconfirmed += unconfirmed;
    if (put == PUT_NONE || put == PUT_REFUSED) {
        if (got || maybe) {
            if (put == PUT_NONE)
                r->unknown_seen++;
            else
                r->refused_seen++;
            first_failure(r,
                          "item %u:%u was seen %u times (and leased %u times unsettled), yet "
                          "its put was %s",
                          slot, seq, got, maybe, put == PUT_NONE ? "never made" : "refused");
        }
        if (put == PUT_REFUSED)
            r->refused++;
        return;
    }
    if (put == PUT_TRYING)
        r->unknown++;
    else
        r->accepted++;
    if (got > unconfirmed + 1) {
        r->duplicated++;
        first_failure(r,
                      "item %u:%u seen %u times, %u of them confirmed (plain gets confirmed, "
                      "leases acked, the drain), by %s: first by client %d at %lld ms, then by "
                      "client %d at %lld ms (-1: the drain)",
                      slot, seq, got, got - unconfirmed, ways_text(atomic_load(&e->ways)),
                      (int)atomic_load(&e->who[0]) - 1, (long long)atomic_load(&e->when[0]),
                      (int)atomic_load(&e->who[1]) - 1, (long long)atomic_load(&e->when[1]));
    } else if (got > 1) {
        r->excused_dups += got - 1;
    }
    if (put == PUT_OK && atomic_load(&e->cls) == LEDGER_KEPT && got == 0 && maybe == 0) {
        r->lost++;
        first_failure(r,
                      "item %u:%u (%u bytes, queue %u), accepted in epoch %u, was never seen: "
                      "lost by a durable broker",
                      slot, seq, atomic_load(&d->len), atomic_load(&d->queue),
                      atomic_load(&e->epoch));
    }
}

bool
ledger_check_durable(const ledger *l, ledger_report *r)
{
    memset(r, 0, sizeof *r);
    r->durable = true;
    if (l->dur == NULL) {
        first_failure(r, "not a durable ledger");
        return false;
    }
    size_t epochs = (size_t)ledger_epoch(l) + 1, queues = 256;
    later *min = malloc(queues * epochs * sizeof *min);
    if (min == NULL) {
        first_failure(r, "out of memory");
        return false;
    }
    for (uint32_t s = 0; s < l->slots; s++) {
        uint32_t hw = atomic_load(&l->slot[s].hw);
        for (size_t i = 0; i < queues * epochs; i++)
            min[i] = (later){UINT64_MAX, 0};
        /* From the last item put to the first: min holds, per queue and
         * epoch, the earliest end among the items put after, of the
         * hand-out of each that ended first, by the epoch it began in. */
        for (uint32_t q = hw; q-- > 0;) {
            const entry *e = entry_at(l, s, q);
            const dentry *d = &l->dur[(size_t)s * l->per_slot + q];
            check_durable_entry(e, d, s, q, r);
            unsigned queue = atomic_load(&d->queue);
            uint64_t first = atomic_load(&d->first), min_end = atomic_load(&d->min_end);
            /* The epoch when x's earliest-begun hand-out began. */
            uint32_t epoch = (uint32_t)(first >> 8 & 0xffff);
            bool ok_put = atomic_load(&e->put) == PUT_OK;
            if (ok_put && first != 0 && even(epoch) && epoch < epochs) {
                const later *y = &min[queue * epochs + epoch];
                r->order_checked++;
                if (y->end < first >> 24) {
                    r->out_of_order++;
                    first_failure(r,
                                  "FIFO: item %u:%u was first handed out in a call that began at "
                                  "ticket %llu, after item %u:%u, put after it on queue %u, was "
                                  "handed out in a call that ended at ticket %llu; both calls "
                                  "began in epoch %u: one broker ran, unkilled, between them",
                                  s, q, (unsigned long long)(first >> 24), s, y->seq, queue,
                                  (unsigned long long)y->end, epoch);
                }
            } else if (ok_put && first != 0) {
                r->order_excused++;
            }
            if (min_end != 0 && (min_end & 0xffff) < epochs) {
                later *m = &min[queue * epochs + (min_end & 0xffff)];
                if (min_end >> 16 < m->end)
                    *m = (later){min_end >> 16, q};
            }
        }
    }
    free(min);
    if (ledger_counter_value(l, LC_UNEXPECTED) > 0)
        first_failure(r, "a client saw: %s", l->problem);
    r->unknown_seen += (uint64_t)ledger_counter_value(l, LC_BAD_ITEMS);
    return r->lost == 0 && r->duplicated == 0 && r->refused_seen == 0 && r->unknown_seen == 0 &&
           r->out_of_order == 0 && ledger_counter_value(l, LC_UNEXPECTED) == 0;
}
