/* A durable broker's start (SPEC D5): the log in the data directory is
 * replayed, oldest record first, into queues and items; then every queue's
 * items are put in order, and the items that were out (leased, or handed
 * out and not confirmed) go back to the head of their queue with their
 * delivery count, as if their holder had died (D1, D2, D6), which the log
 * records before the first request is served. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "idmap.h"
#include "log.h"
#include "record.h"

typedef struct replay {
    broker *b;
    store *st;
    idmap items; /* id -> item, the items replayed so far */
    char error[256];
} replay;

static void
release(store *st, store_pos *rec)
{
    if (rec->segment != 0)
        store_release(st, *rec);
    *rec = (store_pos){0};
}

/* The queue of that name, made (with default state) if the log has not yet
 * said it: its state record may come later, when it was copied forward. */
static queue *
replay_queue(replay *r, const char *name, size_t name_len)
{
    queue *q = broker_lookup_queue(r->b, name, name_len);
    if (q == NULL && (q = broker_create_queue(r->b, name, name_len, 0)) == NULL)
        snprintf(r->error, sizeof r->error, "out of memory");
    return q;
}

static bool
replay_queue_state(replay *r, const void *payload, uint32_t len, store_pos pos)
{
    record_queue rq;
    if (!record_queue_decode(payload, len, &rq))
        return false;
    queue *q = replay_queue(r, rq.name, rq.name_len);
    if (q == NULL)
        return false;
    q->maxsize = rq.maxsize;
    q->max_deliveries = rq.max_deliveries;
    q->shutdown = rq.flags & RECORD_QUEUE_SHUTDOWN;
    q->shutdown_immediate = rq.flags & RECORD_QUEUE_IMMEDIATE;
    q->unfinished = rq.unfinished;
    q->dead_lettered = rq.dead_lettered;
    release(r->st, &q->rec);
    q->rec = pos;
    return true;
}

/* The item is gone: its record is released; it is freed when its queue is
 * swept (it sits in the queue's list until then). */
static void
replay_gone(replay *r, item *it)
{
    idmap_remove(&r->items, it->id);
    release(r->st, &it->rec);
    it->state = ITEM_GONE;
}

static bool
replay_deleted(replay *r, const void *payload, uint32_t len, store_pos pos)
{
    const char *name;
    size_t name_len;
    if (!record_deleted_decode(payload, len, &name, &name_len))
        return false;
    store_release(r->st, pos);
    queue *q = broker_lookup_queue(r->b, name, name_len);
    if (q == NULL)
        return true;
    for (item *it = q->items.head; it; it = it->next)
        if (it->state != ITEM_GONE)
            replay_gone(r, it);
    release(r->st, &q->rec);
    table_remove(&r->b->queues, q->name, q->name_len);
    queue_free(q);
    return true;
}

static bool
replay_item(replay *r, uint8_t type, const void *payload, uint32_t len, store_pos pos)
{
    record_item ri;
    if (!record_item_decode(payload, len, &ri))
        return false;
    broker *b = r->b;
    if (ri.id >= b->next_item_id)
        b->next_item_id = ri.id + 1;
    item *it = idmap_get(&r->items, ri.id);
    if (it == NULL) {
        queue *q = replay_queue(r, ri.name, ri.name_len);
        if (q == NULL || (it = item_new(ri.data, ri.len, b->now_us)) == NULL) {
            snprintf(r->error, sizeof r->error, "out of memory");
            return false;
        }
        it->id = ri.id;
        item_fifo_push_tail(&q->items, it);
        if (!idmap_put(&r->items, it->id, it)) {
            snprintf(r->error, sizeof r->error, "out of memory");
            return false;
        }
        if (type == RECORD_PUT)
            q->unfinished++;
    }
    /* A copy (or, after a repair, a record seen twice): the later one wins. */
    release(r->st, &it->rec);
    it->rec = pos;
    it->key = ri.key;
    it->deliveries = ri.deliveries;
    it->state = ri.state ? ITEM_OUT : ITEM_QUEUED;
    return true;
}

static bool
replay_ref(replay *r, uint8_t type, const void *payload, uint32_t len, store_pos pos)
{
    record_ref rr;
    if (!record_ref_decode(type, payload, len, &rr))
        return false;
    store_release(r->st, pos);
    broker *b = r->b;
    if (rr.id >= b->next_item_id)
        b->next_item_id = rr.id + 1;
    item *it = idmap_get(&r->items, rr.id);
    if (it == NULL)
        return true; /* its record was copied forward: the copy says it all */
    if (type == RECORD_HANDOUT) {
        it->deliveries = (uint32_t)rr.value;
        it->state = ITEM_OUT;
    } else if (type == RECORD_RETURN) {
        it->key = rr.value;
        it->state = ITEM_QUEUED;
    } else {
        replay_gone(r, it);
    }
    return true;
}

static bool
replay_record(void *ctx, store *st, uint8_t type, const void *payload, uint32_t len, store_pos pos)
{
    replay *r = ctx;
    r->st = st;
    bool ok;
    switch (type) {
    case RECORD_QUEUE:
        ok = replay_queue_state(r, payload, len, pos);
        break;
    case RECORD_DELETED:
        ok = replay_deleted(r, payload, len, pos);
        break;
    case RECORD_PUT:
    case RECORD_ITEM:
        ok = replay_item(r, type, payload, len, pos);
        break;
    case RECORD_HANDOUT:
    case RECORD_RETURN:
    case RECORD_DONE:
        ok = replay_ref(r, type, payload, len, pos);
        break;
    default:
        snprintf(r->error, sizeof r->error,
                 "record of unknown type %u (a newer ipcqd's data directory?)", type);
        return false;
    }
    if (!ok && r->error[0] == '\0')
        snprintf(r->error, sizeof r->error, "malformed record of type %u", type);
    return ok;
}

static int
by_key(const void *x, const void *y)
{
    int64_t a = (*(item *const *)x)->key, c = (*(item *const *)y)->key;
    return (a > c) - (a < c);
}

/* Sorts q's items by key into its FIFO; the items that were out are added
 * to *out (to go back to the head once every queue is in order); items
 * done are freed, and so are the queued items of a queue shut down at once
 * (they were dropped then). */
static bool
settle_queue(broker *b, queue *q, item ***out, size_t *nout)
{
    size_t n = q->items.count, kept = 0, nback = 0;
    item **all = malloc((n ? n : 1) * sizeof *all);
    item **back = realloc(*out, (*nout + n + 1) * sizeof *back);
    if (all == NULL || back == NULL) {
        free(all);
        if (back != NULL)
            *out = back;
        return false;
    }
    *out = back;
    back += *nout;
    item *it;
    while ((it = item_fifo_pop_head(&q->items)) != NULL) {
        if (it->state == ITEM_GONE) {
            item_free(it);
        } else if (it->state == ITEM_OUT) {
            back[nback++] = it;
        } else if (q->shutdown_immediate) {
            journal_forget(b, it);
            item_free(it);
        } else {
            all[kept++] = it;
        }
    }
    qsort(all, kept, sizeof *all, by_key);
    qsort(back, nback, sizeof *back, by_key);
    q->head_key = kept ? all[0]->key - 1 : 0;
    q->tail_key = kept ? all[kept - 1]->key : 0;
    for (size_t i = 0; i < nback; i++) {
        if (back[i]->key - 1 < q->head_key)
            q->head_key = back[i]->key - 1;
        if (back[i]->key > q->tail_key)
            q->tail_key = back[i]->key;
    }
    for (size_t i = 0; i < kept; i++)
        item_fifo_push_tail(&q->items, all[i]);
    b->total_items += q->items.count;
    b->total_bytes += q->items.bytes;
    free(all);
    *nout += nback;
    /* They go back newest first, so that the oldest ends at the head. */
    for (size_t i = 0; i < nback / 2; i++) {
        item *t = back[i];
        back[i] = back[nback - 1 - i];
        back[nback - 1 - i] = t;
    }
    return true;
}

int
broker_open_store(broker *b, const char *dir, const store_options *opt, char *err, size_t err_size)
{
    int64_t started = clock_now_us();
    replay r = {.b = b};
    b->replaying = true;
    b->next_item_id = 1;
    store *st = NULL;
    char store_err[512] = "";
    idmap_init(&r.items);
    store_status rc = store_open(&st, dir, opt, replay_record, &r, store_err, sizeof store_err);
    idmap_free(&r.items); /* the items are in their queues now */
    b->replaying = false;
    if (rc != STORE_OK) {
        snprintf(err, err_size, "%s%s%s%s", store_err, r.error[0] ? ": " : "", r.error,
                 rc == STORE_ECORRUPT ? " (ipcqd --repair starts with every record that is whole)"
                                      : "");
        return -1;
    }
    b->store = st;
    /* Every queue in order, then the items that were out back at the head
     * of theirs (logged: a dead-letter move may create a queue, so the
     * queues are scanned first and changed after). */
    item **out = NULL;
    queue **owner = NULL;
    size_t nout = 0, nqueues = b->queues.count;
    void *v;
    bool ok = true;
    queue **queues = malloc((nqueues ? nqueues : 1) * sizeof *queues);
    ok = queues != NULL;
    for (size_t i = 0, k = 0; ok && table_next(&b->queues, &i, &v);)
        queues[k++] = v;
    for (size_t k = 0; ok && k < nqueues; k++) {
        size_t before = nout;
        ok = settle_queue(b, queues[k], &out, &nout);
        queue **grown = ok ? realloc(owner, (nout ? nout : 1) * sizeof *owner) : NULL;
        ok = grown != NULL;
        if (ok) {
            owner = grown;
            for (size_t i = before; i < nout; i++)
                owner[i] = queues[k];
        }
    }
    for (size_t i = 0; ok && i < nout; i++) {
        queue_redeliver(b, owner[i], out[i]);
        out[i] = NULL;
    }
    for (size_t i = 0; i < nout; i++)
        item_free(out[i]); /* after a failure only */
    free(out), free(owner), free(queues);
    if (!ok) {
        snprintf(err, err_size, "%s: out of memory while recovering", dir);
        return -1;
    }
    /* The returns are durable before any client sees the queues. */
    broker_serve_dirty(b);
    list_link *l;
    while ((l = list_first(&b->state_changed)) != NULL)
        journal_queue_now(b, LIST_ENTRY(l, queue, state_changed));
    if (store_commit(st, clock_now_us()) != STORE_OK) {
        snprintf(err, err_size, "%s", store_error(st));
        return -1;
    }
    store_stats stats;
    store_get_stats(st, &stats);
    log_msg(LOG_LEVEL_INFO,
            "data directory %s: %zu queues, %zu items (%zu back from clients) in %" PRIu64
            " segments, %.1f MB, recovered in %" PRId64 " ms",
            dir, (size_t)(b->queues.count - b->nplaceholders), b->total_items, nout, stats.segments,
            stats.disk_bytes / 1e6, (clock_now_us() - started) / 1000);
    if (stats.truncated_bytes)
        log_msg(LOG_LEVEL_WARN, "data directory %s: cut a torn tail of %" PRIu64 " bytes", dir,
                stats.truncated_bytes);
    return 0;
}
