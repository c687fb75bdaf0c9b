/* A durable broker's log, as the core writes it (SPEC D5, issue 12): a
 * record for every change of state as the change is made (record.h), the
 * pass's replies held back, and at the end of the pass one commit, one
 * write and (with --fsync always) one fdatasync for every client and
 * queue of the pass (group commit), then the replies. Redis's
 * appendfsync always does the same in beforeSleep.
 *
 * A failed write or sync is final (store.h): the broker then refuses every
 * change with IPCQ_ESTORAGE, and so answers the changes of the pass that
 * failed, while gets, acks and reads go on from memory (unlogged: what they
 * take may come again after a restart, never less). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "record.h"

/* How many bytes of live records one commit copies forward at most (the
 * rest at the next), and how many positions it asks the store for. */
#define COMPACT_BYTES (4u << 20)
#define COMPACT_LISTED 64
/* A commit with no reply waiting still runs this often (everysec's sync,
 * the segments released since). */
#define COMMIT_IDLE_US 1000000
/* Records that no reply waits for (a one-way confirm or hand-back, a lease
 * that ran out) are committed with the next reply, or this long after
 * they were made: a strict consumer's confirm then shares the fsync of its
 * next get instead of costing one of its own. A crash in that window hands
 * the item out again (at least once, as for a confirm still in flight). */
#define COMMIT_UNANSWERED_US 10000

/* One held reply in broker->held: this header, the peer id, the queue's
 * name (of a reply that acknowledges a change to it: refused if its commit
 * fails), the bytes. */
typedef struct held_reply {
    uint32_t peer_len, len;
    uint64_t id;
    int32_t status;
    bool change;
    uint16_t name_len;
} held_reply;

static bool
logging(const broker *b)
{
    return b->store != NULL && !b->replaying && !b->store_failed;
}

static bool
pos_set(store_pos p)
{
    return p.segment != 0;
}

static void
storage_failed(broker *b)
{
    if (b->store_failed)
        return;
    b->store_failed = true;
    log_msg(LOG_LEVEL_ERROR, "data directory: %s; taking no more changes until restarted",
            store_error(b->store));
    /* No put blocks any more: dispatch refuses them from now on. */
    waiter_answer_every_queue(b, WAITING_PUTTERS, IPCQ_ESTORAGE,
                              "broker storage failed: it takes no more changes");
}

static unsigned char *
scratch(broker *b, size_t len)
{
    if (len > b->scratch_cap) {
        unsigned char *p = realloc(b->scratch, len);
        if (p == NULL)
            return NULL;
        b->scratch = p;
        b->scratch_cap = len;
    }
    return b->scratch;
}

/* Appends a record; false (the log failed) if it could not. */
static bool
append(broker *b, uint8_t type, const void *payload, size_t len, store_pos *pos)
{
    store_status rc =
        payload != NULL ? store_append(b->store, type, payload, (uint32_t)len, pos) : STORE_ENOMEM;
    if (rc == STORE_OK) {
        if (b->unanswered_since_us == 0)
            b->unanswered_since_us = b->now_us ? b->now_us : 1;
        return true;
    }
    if (rc == STORE_ENOMEM && !b->store_failed)
        log_msg(LOG_LEVEL_ERROR, "data directory: out of memory for a record");
    storage_failed(b);
    return false;
}

/* A record that changes one thing: written, and released at once. */
static void
append_ref(broker *b, enum record_type type, uint64_t id, int64_t value)
{
    unsigned char buf[16];
    record_ref r = {id, value};
    store_pos pos;
    record_ref_encode(type, &r, buf);
    if (append(b, type, buf, record_ref_size(type), &pos))
        store_release(b->store, pos);
}

static void
release(broker *b, store_pos *rec)
{
    if (b->store != NULL && pos_set(*rec))
        store_release(b->store, *rec);
    *rec = (store_pos){0};
}

/* Appends an item's record (PUT or ITEM) from its state now. */
static bool
append_item(broker *b, enum record_type type, const queue *q, const item *it, store_pos *pos)
{
    record_item r = {it->id,  it->key,     it->deliveries, it->state == ITEM_OUT,
                     q->name, q->name_len, it->data,       it->len};
    size_t len = record_item_size(q->name_len, it->len);
    unsigned char *buf = scratch(b, len);
    if (buf != NULL)
        record_item_encode(&r, buf);
    return append(b, type, buf, len, pos);
}

void
journal_put(broker *b, queue *q, item *it)
{
    if (!logging(b))
        return;
    it->id = b->next_item_id++;
    store_pos pos;
    if (!append_item(b, RECORD_PUT, q, it, &pos))
        return;
    it->rec = pos;
}

void
journal_handout(broker *b, item *it)
{
    it->state = ITEM_OUT;
    if (logging(b) && pos_set(it->rec))
        append_ref(b, RECORD_HANDOUT, it->id, it->deliveries);
}

void
journal_return(broker *b, item *it)
{
    it->state = ITEM_QUEUED;
    if (logging(b) && pos_set(it->rec))
        append_ref(b, RECORD_RETURN, it->id, it->key);
}

void
journal_forget(broker *b, item *it)
{
    release(b, &it->rec);
}

void
journal_done(broker *b, item *it)
{
    if (logging(b) && pos_set(it->rec))
        append_ref(b, RECORD_DONE, it->id, 0);
    journal_forget(b, it);
}

void
journal_queue_now(broker *b, queue *q)
{
    if (list_linked(&q->state_changed))
        list_remove(&q->state_changed);
    if (!logging(b) || q->placeholder)
        return;
    record_queue r = {(uint8_t)((q->shutdown ? RECORD_QUEUE_SHUTDOWN : 0) |
                                (q->shutdown_immediate ? RECORD_QUEUE_IMMEDIATE : 0)),
                      q->max_deliveries,
                      q->maxsize,
                      q->unfinished,
                      q->dead_lettered,
                      q->name,
                      q->name_len};
    size_t len = record_queue_size(q->name_len);
    unsigned char *buf = scratch(b, len);
    if (buf != NULL)
        record_queue_encode(&r, buf);
    store_pos pos;
    if (append(b, RECORD_QUEUE, buf, len, &pos)) {
        release(b, &q->rec);
        q->rec = pos;
    }
}

void
journal_queue_changed(broker *b, queue *q)
{
    /* Written at the commit, after every record of the pass, so it counts
     * them all; a replay applies the puts before it, then sets its state. */
    if (logging(b) && !list_linked(&q->state_changed))
        list_push_back(&b->state_changed, &q->state_changed);
}

void
journal_queue_deleted(broker *b, queue *q)
{
    if (list_linked(&q->state_changed))
        list_remove(&q->state_changed);
    if (logging(b) && !q->placeholder) {
        unsigned char *buf = scratch(b, 2 + q->name_len);
        store_pos pos;
        if (buf != NULL)
            record_deleted_encode(q->name, q->name_len, buf);
        if (append(b, RECORD_DELETED, buf, 2 + q->name_len, &pos))
            store_release(b->store, pos);
    }
    release(b, &q->rec);
}

bool
journal_hold(broker *b, const void *peer, size_t peer_len, uint64_t id, int status,
             const void *data, size_t len)
{
    if (b->store == NULL || b->store_failed || b->replaying)
        return false;
    const char *name = b->answering_change;
    size_t name_len = name != NULL ? b->answering_change_len : 0;
    size_t need = sizeof(held_reply) + peer_len + name_len + len;
    if (b->held_len + need > b->held_cap) {
        size_t cap = b->held_cap ? b->held_cap : 4096;
        while (cap < b->held_len + need)
            cap *= 2;
        unsigned char *p = realloc(b->held, cap);
        if (p == NULL) {
            /* Dropped, not sent: an OK must not leave before its change is
             * durable. The client's call fails in its own time (D7). */
            b->unroutable++;
            return true;
        }
        b->held = p;
        b->held_cap = cap;
    }
    held_reply h = {(uint32_t)peer_len, (uint32_t)len,     id, status,
                    name != NULL,       (uint16_t)name_len};
    unsigned char *at = b->held + b->held_len;
    memcpy(at, &h, sizeof h);
    memcpy(at + sizeof h, peer, peer_len);
    if (name_len)
        memcpy(at + sizeof h + peer_len, name, name_len);
    memcpy(at + sizeof h + peer_len + name_len, data, len);
    b->held_len += need;
    b->nheld++;
    return true;
}

/* Copies an item's record forward if it lies in segment seg; the bytes
 * copied. */
static size_t
copy_item_from(broker *b, const queue *q, item *it, uint64_t seg)
{
    store_pos pos;
    if (it->rec.segment != seg || !append_item(b, RECORD_ITEM, q, it, &pos))
        return 0;
    release(b, &it->rec);
    it->rec = pos;
    return record_item_size(q->name_len, it->len);
}

/* Copies the live records of the oldest segment forward when the store
 * asks, so that it can go (the disk bound of D5): a queue's state, and an
 * item's record as it stands now, each taken from memory. The broker keeps
 * no map from a record to its owner: it walks its queues, their items and
 * the items out on deliveries, which costs a look at every item once per
 * segment emptied (the store asks for a segment at most once per segment
 * of growth, or while emptying one). At most COMPACT_BYTES a commit. A
 * record the walk does not find is an orphan (nothing stands on it) and is
 * released, so it cannot pin the log. */
static void
compact_oldest(broker *b)
{
    store_pos list[COMPACT_LISTED];
    size_t n = store_compact_list(b->store, list, COMPACT_LISTED);
    if (n == 0)
        return;
    uint64_t seg = list[0].segment;
    size_t copied = 0;
    void *v;
    for (size_t i = 0; copied < COMPACT_BYTES && logging(b) && table_next(&b->queues, &i, &v);) {
        queue *q = v;
        if (q->rec.segment == seg) {
            journal_queue_now(b, q);
            copied += record_queue_size(q->name_len);
        }
        for (item *it = q->items.head; it && copied < COMPACT_BYTES; it = it->next)
            copied += copy_item_from(b, q, it, seg);
        for (list_link *l = q->deliveries.next; l != &q->deliveries && copied < COMPACT_BYTES;
             l = l->next)
            copied += copy_item_from(b, q, LIST_ENTRY(l, delivery, in_queue)->item, seg);
    }
    if (copied >= COMPACT_BYTES || !logging(b))
        return; /* the rest at the next commit */
    while ((n = store_compact_list(b->store, list, COMPACT_LISTED)) > 0 && list[0].segment == seg) {
        log_msg(LOG_LEVEL_WARN, "data directory: released %zu orphan records of segment %llu", n,
                (unsigned long long)seg);
        for (size_t k = 0; k < n; k++)
            store_release(b->store, list[k]);
    }
}

/* Sends the held replies; those that acknowledge a change are refused if
 * the commit failed. A peer that cannot be reached loses its session (its
 * deliveries return, D1). */
static void
send_held(broker *b)
{
    unsigned char *held = b->held;
    size_t held_len = b->held_len;
    b->held = NULL;
    b->held_len = b->held_cap = b->nheld = 0;
    for (size_t at = 0; at < held_len;) {
        held_reply h;
        memcpy(&h, held + at, sizeof h);
        const unsigned char *peer = held + at + sizeof h;
        const unsigned char *name = peer + h.peer_len;
        const unsigned char *data = name + h.name_len;
        at += sizeof h + h.peer_len + h.name_len + h.len;
        bool sent;
        if (b->store_failed && h.change && h.status == IPCQ_OK) {
            /* Made in memory, maybe on disk: as after a crash, it may or
             * may not be there after a restart. */
            char text[300];
            snprintf(text, sizeof text, "%.*s: broker storage failed: this change may not be saved",
                     (int)h.name_len, (const char *)name);
            sent = reply_send_status(b, peer, h.peer_len, h.id, IPCQ_ESTORAGE, text);
        } else if (!(sent = b->send(b->send_ctx, peer, h.peer_len, data, h.len) == 0))
            b->unroutable++;
        session *s = sent ? NULL : session_get(b, peer, h.peer_len, false);
        if (s != NULL)
            session_lost(b, s);
    }
    free(held);
}

void
broker_commit(broker *b, int64_t now_us)
{
    if (b->store == NULL)
        return;
    for (int rounds = 0; rounds < 100; rounds++) {
        list_link *l;
        while (logging(b) && (l = list_first(&b->state_changed)) != NULL)
            journal_queue_now(b, LIST_ENTRY(l, queue, state_changed));
        if (b->nheld == 0 && now_us < journal_next_commit_us(b))
            return;
        if (logging(b)) {
            compact_oldest(b);
            if (store_commit(b->store, now_us) != STORE_OK)
                storage_failed(b);
        }
        b->commit_due_us = now_us + COMMIT_IDLE_US;
        b->unanswered_since_us = 0;
        if (b->scratch_cap > (1u << 20)) { /* one huge item does not pin its copy */
            free(b->scratch);
            b->scratch = NULL;
            b->scratch_cap = 0;
        }
        send_held(b);
        /* A lost session's items went back: serve them, and commit that. */
        broker_serve_dirty(b);
        if (b->nheld == 0 && list_empty(&b->state_changed))
            return;
    }
}

int64_t
journal_next_commit_us(const broker *b)
{
    if (b->store == NULL || b->store_failed)
        return INT64_MAX;
    if (b->unanswered_since_us != 0 &&
        b->unanswered_since_us + COMMIT_UNANSWERED_US < b->commit_due_us)
        return b->unanswered_since_us + COMMIT_UNANSWERED_US;
    return b->commit_due_us;
}

void
journal_close(broker *b)
{
    if (b->store != NULL) {
        if (store_close(b->store) != STORE_OK)
            log_msg(LOG_LEVEL_ERROR, "data directory: the last sync failed");
        b->store = NULL;
    }
    free(b->held);
    free(b->scratch);
    b->held = b->scratch = NULL;
}
