/* Random client load for the soak and fault suites (see load.h). */
#include "load.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "harness.h"

#define MAX_BATCH 8
#define MAX_ASYNC 16
#define FLUSH_MS 5000
/* The longest a call may take to fail "broker unavailable" beyond its own
 * timeout: the client's give-up time for a request that does not wait
 * (libclient's REQUEST_TIMEOUT_MS). */
#define CLIENT_GIVE_UP_MS 5000
/* An ack may be refused this close to its lease's end: the broker's clock
 * and the client's are read at different moments. */
#define LEASE_SLACK_MS 50

#define BIT(status) (1u << (status))

typedef struct run {
    const load_config *cfg;
    ledger *l;
    uint32_t slot, seq;
    uint64_t rng;
    ipcq_client *c;
    bool prefetch;
    unsigned char *buf; /* MAX_BATCH items of up to max_item bytes */
    FILE *trace;        /* $IPCQ_LOAD_TRACE/client-SLOT.log, for debugging */
} run;

/* One call being made: what, on which queue, its timeout, when it began. */
typedef struct call {
    const char *what;
    const char *queue;
    int64_t timeout_ms;
    int64_t t0;
    uint32_t stops; /* the slot's SIGSTOP marks when it began */
} call;

static const char *const op_names[LOAD_OPS] = {
    "put",           "put_many", "put_async", "get",      "get_many", "lease_ack", "lease_release",
    "lease_abandon", "prefetch", "delete",    "shutdown", "query",    "tasks",     "reconnect",
};

/* $IPCQ_LOAD_WEIGHTS ("get=5,put=5"): the named weights replace the
 * defaults and every other weight is 0, to narrow a load down while
 * reducing a failure. */
static void
load_weights_from_env(load_config *cfg)
{
    const char *env = getenv("IPCQ_LOAD_WEIGHTS");
    if (env == NULL || *env == '\0')
        return;
    memset(cfg->weight, 0, sizeof cfg->weight);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        for (int i = 0; eq != NULL && i < LOAD_OPS; i++)
            if ((size_t)(eq - tok) == strlen(op_names[i]) &&
                strncmp(tok, op_names[i], (size_t)(eq - tok)) == 0)
                cfg->weight[i] = (unsigned)atoi(eq + 1);
    }
}

void
load_config_default(load_config *cfg, const char *endpoint, ledger *l, const char *prefix)
{
    static const unsigned weight[LOAD_OPS] = {
        [LOAD_PUT] = 18,          [LOAD_PUT_MANY] = 4,      [LOAD_PUT_ASYNC] = 2,
        [LOAD_GET] = 24,          [LOAD_GET_MANY] = 6,      [LOAD_LEASE_ACK] = 12,
        [LOAD_LEASE_RELEASE] = 3, [LOAD_LEASE_ABANDON] = 1, [LOAD_PREFETCH] = 1,
        [LOAD_DELETE] = 1,        [LOAD_SHUTDOWN] = 1,      [LOAD_QUERY] = 3,
        [LOAD_TASKS] = 2,         [LOAD_RECONNECT] = 1,
    };
    memset(cfg, 0, sizeof *cfg);
    cfg->endpoint = endpoint;
    cfg->ledger = l;
    cfg->prefix = prefix;
    cfg->kept = 6;
    cfg->chaos = 3;
    memcpy(cfg->weight, weight, sizeof weight);
    cfg->chaos_percent = 20;
    cfg->max_item = 8192;
    cfg->lease_ms = 5000;
    cfg->work_ms = 5;
    cfg->late_bound_ms = 1000;
    load_weights_from_env(cfg);
}

void
load_queue_name(const load_config *cfg, ledger_class cls, unsigned i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%c%u", cfg->prefix, cls == LEDGER_KEPT ? 'k' : 'c', i);
}

/* Even kept queues are roomy, odd ones small enough to be full often. */
static int64_t
kept_maxsize(unsigned i)
{
    return i % 2 ? 2 * MAX_BATCH : 256;
}

static uint64_t
rnd(run *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 2685821657736338717ull;
}

static uint64_t
below(run *r, uint64_t n)
{
    return n ? rnd(r) % n : 0;
}

static void
pause_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a client's simulated work, not a wait on an outcome */
}

/* Mostly small items, a few up to max_item. */
static size_t
item_len(run *r)
{
    uint64_t p = below(r, 100);
    size_t hi = p < 90 ? 256 : p < 99 ? 4096 : r->cfg->max_item;
    if (hi > r->cfg->max_item)
        hi = r->cfg->max_item;
    return LEDGER_ITEM_MIN + below(r, hi - LEDGER_ITEM_MIN + 1);
}

static ledger_class
pick_queue(run *r, char *name, size_t cap, bool chaos_only)
{
    const load_config *cfg = r->cfg;
    bool chaos = cfg->chaos > 0 && (chaos_only || below(r, 100) < cfg->chaos_percent);
    ledger_class cls = chaos ? LEDGER_CHAOS : LEDGER_KEPT;
    load_queue_name(cfg, cls, (unsigned)below(r, chaos ? cfg->chaos : cfg->kept), name, cap);
    return cls;
}

/* Chaos queues get only bounded waits: nothing wakes a forever wait on a
 * queue that a client deletes and re-creates. */
static int64_t
pick_timeout(run *r, ledger_class cls)
{
    uint64_t p = below(r, 10);
    if (p < 2)
        return IPCQ_NOWAIT;
    if (p < 7 || cls == LEDGER_CHAOS)
        return 1 + (int64_t)below(r, 100);
    return IPCQ_FOREVER;
}

/* A line in the client's trace, when tracing is on. */
__attribute__((format(printf, 2, 3))) static void
trace(run *r, const char *fmt, ...)
{
    if (r->trace == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->trace, "%lld ", (long long)now_ms());
    vfprintf(r->trace, fmt, ap);
    fputc('\n', r->trace);
    va_end(ap);
}

/* The receipt of an item, into the ledger and the trace. */
static void
got_item(run *r, ledger_way way, const void *data, size_t len)
{
    uint64_t id = ledger_got(r->l, r->slot, way, data, len);
    trace(r, "  got %u:%u", (unsigned)(id >> 32), (unsigned)id);
}

static call
begin_call(run *r, const char *what, const char *queue, int64_t timeout_ms)
{
    return (call){what, queue, timeout_ms, now_ms(), ledger_stop_marks(r->l, r->slot)};
}

/* The statuses a call on a queue of class cls may end with: its timeout's
 * status if it had one, and on chaos queues "deleted", "shut down" and "no
 * such queue". */
static unsigned
allowed_for(ledger_class cls, int64_t timeout_ms, int timeout_status)
{
    unsigned ok = BIT(IPCQ_OK);
    if (timeout_ms != IPCQ_FOREVER)
        ok |= BIT(timeout_status);
    if (cls == LEDGER_CHAOS)
        ok |= BIT(IPCQ_EDELETED) | BIT(IPCQ_ESHUTDOWN) | BIT(IPCQ_ENOQUEUE);
    return ok;
}

/* Counts a call and checks its status and timing: a timed wait ends no
 * later than late_bound_ms past its timeout, and "broker unavailable" comes
 * within the client's own limits, with its text. A call that spanned a
 * SIGSTOP of this client is excused its timing. */
static void
end_call(run *r, const call *k, int status, unsigned allowed)
{
    const load_config *cfg = r->cfg;
    int64_t t1 = now_ms(), elapsed = t1 - k->t0;
    trace(r, "%s %s t=%lld: %s after %lld ms", k->what, k->queue ? k->queue : "-",
          (long long)k->timeout_ms, ipcq_strerror(status), (long long)elapsed);
    bool was_stopped = ledger_stop_marks(r->l, r->slot) != k->stops;
    ledger_count(r->l, LC_CALLS, 1);
    ledger_mark_call(r->l, r->slot, status, t1);
    if (cfg->broker_may_die || was_stopped)
        allowed |= BIT(IPCQ_EUNAVAILABLE);
    if (ledger_stopping(r->l))
        allowed |= BIT(IPCQ_ESHUTDOWN); /* load_stop() shuts the kept queues */
    if (status == IPCQ_EUNAVAILABLE) {
        ledger_count(r->l, LC_UNAVAILABLE, 1);
        int64_t bound = (k->timeout_ms > 0 ? k->timeout_ms : 0) + CLIENT_GIVE_UP_MS;
        if (strstr(ipcq_client_error(r->c), "broker unavailable") == NULL)
            ledger_problem(r->l, "%s %s: unavailable, but the text is '%s'", k->what, k->queue,
                           ipcq_client_error(r->c));
        if (k->timeout_ms != IPCQ_FOREVER && !was_stopped && elapsed > bound + cfg->late_bound_ms)
            ledger_problem(r->l, "%s %s (timeout %lld ms) took %lld ms to fail unavailable",
                           k->what, k->queue, (long long)k->timeout_ms, (long long)elapsed);
    }
    bool timed_out = status == IPCQ_EMPTY || status == IPCQ_FULL || status == IPCQ_ETIMEDOUT;
    if (timed_out && k->timeout_ms >= 0 && !was_stopped) {
        int64_t late = elapsed - k->timeout_ms;
        ledger_count(r->l, LC_TIMEOUTS, 1);
        ledger_count_max(r->l, LC_MAX_LATE_MS, late);
        ledger_count(r->l,
                     late < 10    ? LC_LATE_UNDER_10
                     : late < 100 ? LC_LATE_UNDER_100
                     : late < 500 ? LC_LATE_UNDER_500
                                  : LC_LATE_OVER_500,
                     1);
        if (late > cfg->late_bound_ms) {
            ledger_count(r->l, LC_LATE_WAITS, 1);
            ledger_problem(r->l, "%s %s: a %lld ms wait ended %lld ms late", k->what, k->queue,
                           (long long)k->timeout_ms, (long long)late);
        }
    }
    if (status < 0 || status >= 32 || !(allowed & BIT(status)))
        ledger_problem(r->l, "client %u: %s %s (timeout %lld ms): %s: %s", r->slot, k->what,
                       k->queue ? k->queue : "-", (long long)k->timeout_ms, ipcq_strerror(status),
                       ipcq_client_error(r->c));
}

/* A chaos queue found shut down is deleted, so that it comes back. */
static void
revive(run *r, const char *queue, ledger_class cls, int status)
{
    if (cls != LEDGER_CHAOS || status != IPCQ_ESHUTDOWN)
        return;
    call k = begin_call(r, "delete", queue, IPCQ_NOWAIT);
    int rc = ipcq_delete(r->c, queue);
    end_call(r, &k, rc, BIT(IPCQ_OK) | BIT(IPCQ_ENOQUEUE));
    if (rc == IPCQ_OK)
        ledger_count(r->l, LC_DELETES, 1);
}

/* The next item of this slot into place i of the buffer; false when the
 * slot has used up its sequence numbers. */
static bool
next_item(run *r, unsigned i, size_t len, ledger_class cls, uint32_t *seq)
{
    if (r->seq >= ledger_per_slot(r->l))
        return false;
    *seq = r->seq++;
    ledger_encode(r->slot, *seq, r->buf + (size_t)i * r->cfg->max_item, len);
    ledger_put_begin(r->l, r->slot, *seq, cls);
    return true;
}

static void
op_put(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    size_t len = item_len(r);
    uint32_t seq;
    if (!next_item(r, 0, len, cls, &seq))
        return;
    int64_t t = pick_timeout(r, cls);
    call k = begin_call(r, "put", q, t);
    int rc = ipcq_put(r->c, q, r->buf, len, t);
    ledger_put_end(r->l, r->slot, seq, rc);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_FULL));
    revive(r, q, cls, rc);
}

static void
op_put_many(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    unsigned n = 2 + (unsigned)below(r, MAX_BATCH - 1);
    const void *items[MAX_BATCH];
    size_t lens[MAX_BATCH];
    uint32_t seqs[MAX_BATCH];
    for (unsigned i = 0; i < n; i++) {
        lens[i] = LEDGER_ITEM_MIN + below(r, 512);
        if (lens[i] > r->cfg->max_item)
            lens[i] = r->cfg->max_item;
        if (!next_item(r, i, lens[i], cls, &seqs[i])) {
            n = i;
            break;
        }
        items[i] = r->buf + (size_t)i * r->cfg->max_item;
    }
    if (n == 0)
        return;
    int64_t t = pick_timeout(r, cls);
    call k = begin_call(r, "put_many", q, t);
    int rc = ipcq_put_many(r->c, q, n, items, lens, t);
    for (unsigned i = 0; i < n; i++)
        ledger_put_end(r->l, r->slot, seqs[i], rc);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_FULL));
    revive(r, q, cls, rc);
}

/* Async puts to a kept queue, then a flush: the items are accepted when the
 * flush says so; after any failure their outcome stays unknown. */
static void
op_put_async(run *r)
{
    char q[300];
    load_queue_name(r->cfg, LEDGER_KEPT, (unsigned)below(r, r->cfg->kept), q, sizeof q);
    unsigned n = 1 + (unsigned)below(r, MAX_ASYNC);
    uint32_t first = r->seq, sent = 0;
    int rc = IPCQ_OK;
    call k = begin_call(r, "put_async", q, IPCQ_FOREVER);
    for (; sent < n && rc == IPCQ_OK; sent++) {
        size_t len = LEDGER_ITEM_MIN + below(r, 256);
        uint32_t seq;
        if (!next_item(r, 0, len, LEDGER_KEPT, &seq))
            break;
        rc = ipcq_put_async(r->c, q, r->buf, len);
    }
    end_call(r, &k, rc, BIT(IPCQ_OK));
    if (rc != IPCQ_OK)
        return;
    k = begin_call(r, "flush", q, FLUSH_MS);
    rc = ipcq_flush(r->c, FLUSH_MS);
    end_call(r, &k, rc, BIT(IPCQ_OK) | BIT(IPCQ_ETIMEDOUT));
    if (rc == IPCQ_OK)
        for (uint32_t seq = first; seq < first + sent; seq++)
            ledger_put_end(r->l, r->slot, seq, IPCQ_OK);
}

static void
op_get(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    int64_t t = pick_timeout(r, cls);
    void *data;
    size_t len;
    ledger_get_begin(r->l, r->slot, 1);
    call k = begin_call(r, r->prefetch ? "get (prefetch)" : "get", q, t);
    int rc = ipcq_get(r->c, q, &data, &len, t);
    if (rc == IPCQ_OK) {
        got_item(r, r->prefetch ? LEDGER_BY_PREFETCH : LEDGER_BY_GET, data, len);
        ledger_count(r->l, LC_GETS, 1);
        ipcq_free(data);
    }
    ledger_get_end(r->l, r->slot);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_EMPTY));
    revive(r, q, cls, rc);
}

static void
op_get_many(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    int64_t t = pick_timeout(r, cls);
    unsigned max = 2 + (unsigned)below(r, MAX_BATCH - 1);
    void *items[MAX_BATCH];
    size_t lens[MAX_BATCH], got = 0;
    ledger_get_begin(r->l, r->slot, max);
    call k = begin_call(r, "get_many", q, t);
    int rc = ipcq_get_many(r->c, q, max, items, lens, &got, t);
    for (size_t i = 0; i < got; i++) {
        got_item(r, LEDGER_BY_GET_MANY, items[i], lens[i]);
        ipcq_free(items[i]);
    }
    ledger_count(r->l, LC_GETS, (int64_t)got);
    ledger_get_end(r->l, r->slot);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_EMPTY));
    revive(r, q, cls, rc);
}

/* Takes an item on a lease, works a little (sometimes extending the lease),
 * then acks or releases it. */
static void
op_lease(run *r, bool ack)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    int64_t t = pick_timeout(r, cls), lease_ms = r->cfg->lease_ms;
    void *data;
    size_t len;
    uint64_t lease;
    call k = begin_call(r, "get_leased", q, t);
    int64_t asked = now_ms();
    int rc = ipcq_get_leased(r->c, q, lease_ms, &data, &len, &lease, NULL, t);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_EMPTY));
    revive(r, q, cls, rc);
    if (rc != IPCQ_OK)
        return;
    /* The lease runs from the broker's hand-out, which came after the ask
     * (and maybe long before the reply was read, on a loaded machine): the
     * ask's time is the one sure to be no later. */
    int64_t taken = asked;
    uint64_t id = ledger_leased(r->l, data, len);
    trace(r, "  leased %u:%u as %llu", (unsigned)(id >> 32), (unsigned)id,
          (unsigned long long)lease);
    ipcq_free(data);
    /* ... and it has surely run out lease_ms after the reply was read */
    ledger_hold(r->l, r->slot, now_ms() + lease_ms);
    /* The lease may have run out (or gone with a restarted broker, or with
     * a delete) by the time the client speaks of it again. */
    unsigned lease_gone = r->cfg->broker_may_die || cls == LEDGER_CHAOS ? BIT(IPCQ_ELEASE) : 0;
    pause_ms((int64_t)below(r, (uint64_t)r->cfg->work_ms + 1));
    if (below(r, 4) == 0) {
        k = begin_call(r, "extend", q, IPCQ_NOWAIT);
        int64_t extended = now_ms(); /* the new lease runs from later than this */
        bool late = extended - taken >= lease_ms - LEASE_SLACK_MS;
        rc = ipcq_extend(r->c, lease, lease_ms);
        if (rc == IPCQ_OK)
            taken = extended;
        end_call(r, &k, rc, BIT(IPCQ_OK) | lease_gone | (late ? BIT(IPCQ_ELEASE) : 0));
    }
    k = begin_call(r, ack ? "ack" : "release", q, IPCQ_NOWAIT);
    bool late = now_ms() - taken >= lease_ms - LEASE_SLACK_MS;
    rc = ack ? ipcq_ack(r->c, lease) : ipcq_release(r->c, lease);
    ledger_hold(r->l, r->slot, 0);
    if (id != UINT64_MAX)
        ledger_lease_end(r->l, r->slot, id, ack, rc);
    bool was_stopped = ledger_stop_marks(r->l, r->slot) != k.stops;
    if (rc == IPCQ_ELEASE)
        ledger_count(r->l, LC_LATE_ACKS, 1);
    else if (rc == IPCQ_OK && ack)
        ledger_count(r->l, LC_ACKS, 1);
    end_call(r, &k, rc, BIT(IPCQ_OK) | lease_gone | (late || was_stopped ? BIT(IPCQ_ELEASE) : 0));
}

/* Takes an item on a short lease and forgets it: the lease runs out and the
 * item comes back with one more delivery (past the limit, to NAME.dlq). */
static void
op_lease_abandon(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    int64_t t = below(r, 2) ? IPCQ_NOWAIT : 1 + (int64_t)below(r, 50);
    void *data;
    size_t len;
    uint64_t lease;
    call k = begin_call(r, "get_leased (abandoned)", q, t);
    int rc = ipcq_get_leased(r->c, q, 20 + (int64_t)below(r, 200), &data, &len, &lease, NULL, t);
    if (rc == IPCQ_OK)
        ipcq_free(data);
    end_call(r, &k, rc, allowed_for(cls, t, IPCQ_EMPTY));
    revive(r, q, cls, rc);
}

static void
op_prefetch(run *r)
{
    call k = begin_call(r, "set_prefetch", NULL, IPCQ_NOWAIT);
    int rc = r->prefetch ? ipcq_set_prefetch(r->c, 0, 0)
                         : ipcq_set_prefetch(r->c, 2 + below(r, 15), r->cfg->lease_ms);
    end_call(r, &k, rc, BIT(IPCQ_OK));
    if (rc == IPCQ_OK)
        r->prefetch = !r->prefetch;
}

static void
op_delete_or_shutdown(run *r, bool delete)
{
    if (r->cfg->chaos == 0)
        return;
    char q[300];
    pick_queue(r, q, sizeof q, true);
    bool immediate = below(r, 2);
    call k = begin_call(r,
                        delete      ? "delete"
                        : immediate ? "shutdown immediate"
                                    : "shutdown",
                        q, IPCQ_NOWAIT);
    int rc = delete ? ipcq_delete(r->c, q) : ipcq_shutdown(r->c, q, immediate);
    end_call(r, &k, rc, BIT(IPCQ_OK) | BIT(IPCQ_ENOQUEUE));
    if (rc == IPCQ_OK)
        ledger_count(r->l, delete ? LC_DELETES : LC_SHUTDOWNS, 1);
}

/* A figure of a queue, or of all. */
static void
op_query(run *r)
{
    char q[300];
    ledger_class cls = pick_queue(r, q, sizeof q, false);
    bool may_be_gone = cls == LEDGER_CHAOS || r->cfg->broker_may_die;
    unsigned allowed = BIT(IPCQ_OK) | (may_be_gone ? BIT(IPCQ_ENOQUEUE) : 0);
    size_t size = 0;
    bool flag;
    ipcq_stats *s = NULL;
    int rc;
    call k = begin_call(r, "query", q, IPCQ_NOWAIT);
    switch (below(r, 4)) {
    case 0:
        rc = ipcq_stat(r->c, below(r, 4) ? q : NULL, &s);
        ipcq_stats_free(&s);
        break;
    case 1:
        /* No check against maxsize: items that come back (a lease ran out,
         * a release, a client died) return to the head even when that puts
         * the queue over its bound. */
        rc = ipcq_qsize(r->c, q, &size);
        break;
    case 2:
        rc = ipcq_empty(r->c, q, &flag);
        break;
    default:
        rc = ipcq_full(r->c, q, &flag);
        break;
    }
    end_call(r, &k, rc, allowed);
}

static void
op_tasks(run *r)
{
    if (r->cfg->chaos == 0)
        return;
    char q[300];
    pick_queue(r, q, sizeof q, true);
    call k = begin_call(r, "task_done", q, IPCQ_NOWAIT);
    int rc = ipcq_task_done(r->c, q);
    end_call(r, &k, rc, BIT(IPCQ_OK) | BIT(IPCQ_ETASKDONE) | BIT(IPCQ_ENOQUEUE));
    int64_t t = 1 + (int64_t)below(r, 30);
    k = begin_call(r, "join", q, t);
    rc = ipcq_join(r->c, q, t);
    end_call(r, &k, rc,
             BIT(IPCQ_OK) | BIT(IPCQ_ETIMEDOUT) | BIT(IPCQ_ENOQUEUE) | BIT(IPCQ_EDELETED));
}

static void
open_handle(run *r)
{
    if (ipcq_client_open(&r->c, r->cfg->endpoint) != IPCQ_OK) {
        ledger_problem(r->l, "client %u: cannot open a handle", r->slot);
        r->c = NULL;
    }
    r->prefetch = false;
}

/* Closes the handle right after whatever call came last: the library
 * itself makes sure a plain get's one-way confirmation is read first (see
 * test_churn's a_close_right_after_a_get_never_redelivers). */
static void
close_handle(run *r)
{
    ipcq_client_close(&r->c);
}

static void
op_reconnect(run *r)
{
    close_handle(r);
    open_handle(r);
    ledger_count(r->l, LC_RECONNECTS, 1);
    trace(r, "reconnected");
}

static load_op
pick_op(run *r)
{
    unsigned total = 0;
    for (int i = 0; i < LOAD_OPS; i++)
        total += r->cfg->weight[i];
    unsigned x = (unsigned)below(r, total);
    for (int i = 0; i < LOAD_OPS; i++) {
        if (x < r->cfg->weight[i])
            return (load_op)i;
        x -= r->cfg->weight[i];
    }
    return LOAD_QUERY;
}

static void
do_op(run *r, load_op op)
{
    switch (op) {
    case LOAD_PUT:
        op_put(r);
        break;
    case LOAD_PUT_MANY:
        op_put_many(r);
        break;
    case LOAD_PUT_ASYNC:
        op_put_async(r);
        break;
    case LOAD_GET:
        op_get(r);
        break;
    case LOAD_GET_MANY:
        op_get_many(r);
        break;
    case LOAD_LEASE_ACK:
        op_lease(r, true);
        break;
    case LOAD_LEASE_RELEASE:
        op_lease(r, false);
        break;
    case LOAD_LEASE_ABANDON:
        op_lease_abandon(r);
        break;
    case LOAD_PREFETCH:
        op_prefetch(r);
        break;
    case LOAD_DELETE:
        op_delete_or_shutdown(r, true);
        break;
    case LOAD_SHUTDOWN:
        op_delete_or_shutdown(r, false);
        break;
    case LOAD_QUERY:
        op_query(r);
        break;
    case LOAD_TASKS:
        op_tasks(r);
        break;
    case LOAD_RECONNECT:
    case LOAD_OPS:
        break;
    }
    op_reconnect(r);
}

int
load_client(const load_config *cfg, uint32_t slot, uint64_t seed)
{
    run r = {cfg, cfg->ledger, slot, 0, seed | 1, NULL, false, NULL, NULL};
    const char *dir = getenv("IPCQ_LOAD_TRACE");
    char path[512];
    if (dir != NULL && *dir != '\0' &&
        snprintf(path, sizeof path, "%s/client-%u.log", dir, slot) < (int)sizeof path &&
        (r.trace = fopen(path, "a")) != NULL)
        setvbuf(r.trace, NULL, _IOLBF, 0);
    r.buf = malloc(MAX_BATCH * cfg->max_item);
    if (r.buf == NULL) {
        ledger_problem(r.l, "client %u: out of memory", slot);
        return 0;
    }
    open_handle(&r);
    while (r.c != NULL && !ledger_stopping(r.l)) {
        load_op op = pick_op(&r);
        ledger_set_doing(r.l, slot, (int)op + 1);
        do_op(&r, op);
        ledger_set_doing(r.l, slot, 0);
    }
    close_handle(&r);
    free(r.buf);
    if (r.trace)
        fclose(r.trace);
    return 0;
}

int
load_child(void *arg)
{
    const load_child_args *a = arg;
    /* A client outlives no test: a failed check ends the test process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return 1;
    return load_client(a->cfg, a->slot, a->seed);
}

/* Creates each kept queue with its bound (after a broker restart a client
 * may have created it unbounded first). */
static void
create_kept(const load_config *cfg, ipcq_client *c, unsigned i, char *q, size_t cap)
{
    load_queue_name(cfg, LEDGER_KEPT, i, q, cap);
    int rc = ipcq_create(c, q, kept_maxsize(i));
    if (rc != IPCQ_OK && !(cfg->broker_may_die && rc == IPCQ_ECONFLICT))
        fail_msg("create %s: %s: %s", q, ipcq_strerror(rc), ipcq_client_error(c));
}

void
load_prepare(const load_config *cfg, ipcq_client *c)
{
    char q[300];
    for (unsigned i = 0; i < cfg->kept; i++)
        create_kept(cfg, c, i, q, sizeof q);
}

void
load_stop(const load_config *cfg, ipcq_client *c)
{
    char q[300];
    ledger_stop(cfg->ledger);
    for (unsigned i = 0; i < cfg->kept; i++) {
        create_kept(cfg, c, i, q, sizeof q);
        assert_ipcq_ok(c, ipcq_shutdown(c, q, false));
    }
    for (unsigned i = 0; i < cfg->chaos; i++) {
        load_queue_name(cfg, LEDGER_CHAOS, i, q, sizeof q);
        int rc = ipcq_shutdown(c, q, true);
        if (rc != IPCQ_ENOQUEUE)
            assert_ipcq_ok(c, rc);
    }
}

/* Takes every item of queue into the ledger, then deletes the queue. With
 * until_shut, waits (for leases to come back) until the shut-down queue
 * says it is drained; else stops when it is empty. */
static void
drain_one(const load_config *cfg, ipcq_client *c, const char *q, bool until_shut, int64_t deadline)
{
    for (;;) {
        void *data;
        size_t len;
        int rc = ipcq_get(c, q, &data, &len, until_shut ? 200 : IPCQ_NOWAIT);
        if (rc == IPCQ_OK) {
            ledger_got(cfg->ledger, UINT32_MAX, LEDGER_BY_DRAIN, data, len);
            ipcq_free(data);
            continue;
        }
        if (rc == IPCQ_ESHUTDOWN || rc == IPCQ_ENOQUEUE || (rc == IPCQ_EMPTY && !until_shut))
            break;
        if (rc != IPCQ_EMPTY)
            fail_msg("drain %s: %s: %s", q, ipcq_strerror(rc), ipcq_client_error(c));
        if (now_ms() > deadline)
            fail_msg("drain %s: items still out on leases", q);
    }
    int rc = ipcq_delete(c, q);
    if (rc != IPCQ_ENOQUEUE)
        assert_ipcq_ok(c, rc);
}

void
load_drain(const load_config *cfg, ipcq_client *c, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char q[300], dlq[310];
    for (unsigned i = 0; i < cfg->kept; i++) {
        load_queue_name(cfg, LEDGER_KEPT, i, q, sizeof q);
        drain_one(cfg, c, q, true, deadline);
    }
    /* A chaos queue revived after the stop is shut down again: its leases
     * then come back, or are dropped at once. */
    for (unsigned i = 0; i < cfg->chaos; i++) {
        load_queue_name(cfg, LEDGER_CHAOS, i, q, sizeof q);
        drain_one(cfg, c, q, false, deadline);
    }
    /* Nothing is out on a lease any more: the dead letters are all in. */
    for (unsigned i = 0; i < cfg->kept + cfg->chaos; i++) {
        load_queue_name(cfg, i < cfg->kept ? LEDGER_KEPT : LEDGER_CHAOS,
                        i < cfg->kept ? i : i - cfg->kept, q, sizeof q);
        snprintf(dlq, sizeof dlq, "%s.dlq", q);
        drain_one(cfg, c, dlq, false, deadline);
    }
}
