/*
 * The waiters scenario (see bench_args.h): --count gets blocked at once on
 * empty queues, each with its own timeout, spread evenly over
 * BENCH_WAIT_MIN_MS..BENCH_WAIT_MAX_MS and sent in a shuffled order (so
 * that the broker's deadlines arrive out of order). A client handle allows
 * one blocking call at a time, so the gets go over the wire
 * (bench_wire.h), from WAIT_SOCKETS sockets, GETTERS_PER_QUEUE to a queue.
 *
 * Each answer must be IPCQ_EMPTY (timed out), once, and not before its
 * deadline (send time + timeout; an answer up to EARLY_SLACK_MS early is
 * put down to the broker reading its clock before the request arrived);
 * its lateness is the time from that deadline until the answer arrived.
 * Reported: lateness p50/p99/max, the answers more than BENCH_LATE_MS late,
 * and the broker's RSS with every getter blocked (read once a ping on each
 * socket, sent behind the gets, was answered).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_pidstat.h"
#include "bench_progress.h"
#include "bench_queueset.h"
#include "bench_scale.h"
#include "names.h"
#include "proc.h"

#define WAIT_SOCKETS 4
#define GETTERS_PER_QUEUE 100
#define EARLY_SLACK_MS 1
#define ANSWER_GRACE_MS 10000 /* after the last deadline: the rest are lost */

typedef struct getter {
    uint64_t id;
    uint64_t deadline_ns; /* send time + timeout */
    int timeout_ms;
    bool answered;
} getter;

typedef struct waiters {
    const bench_opts *o;
    const bench_broker *b;
    bench_scale_result *r;
    bench_wire w;
    getter *g;
    int64_t n, nqueues;
    uint64_t first_id; /* getter i has id first_id + i; the pings come after */
    char prefix[64];
    bench_hist late_hist; /* lateness of the answers not early, in ns */
    int64_t answered, late, early, wrong, duplicated;
    uint64_t sent_ns;       /* when the first get was sent */
    double intake_ms;       /* from then until every socket's ping was answered */
    int64_t rss_blocked;    /* KiB once every get is in; -1 unknown */
    int64_t blocked_at_rss; /* getters not answered yet then */
    double min_lateness_ms;
} waiters;

/* The timeouts, spread evenly, in a shuffled order (a fixed seed: every run
 * sends the same sequence). */
static void
assign_timeouts(waiters *x)
{
    int64_t span = BENCH_WAIT_MAX_MS - BENCH_WAIT_MIN_MS;
    for (int64_t i = 0; i < x->n; i++)
        x->g[i].timeout_ms = BENCH_WAIT_MIN_MS + (int)(x->n > 1 ? span * i / (x->n - 1) : 0);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int64_t i = x->n - 1; i > 0; i--) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        int64_t j = (int64_t)((s >> 33) % (uint64_t)(i + 1));
        int t = x->g[i].timeout_ms;
        x->g[i].timeout_ms = x->g[j].timeout_ms;
        x->g[j].timeout_ms = t;
    }
}

static int
send_all(waiters *x)
{
    for (int64_t i = 0; i < x->n; i++) {
        char queue[IPCQ_NAME_MAX + 1];
        bench_queueset_name(queue, sizeof queue, x->prefix, i % x->nqueues);
        getter *g = &x->g[i];
        uint64_t now = tool_now_ns();
        int rc = bench_wire_send(&x->w, (int)(i % WAIT_SOCKETS), BENCH_WIRE_GET, queue,
                                 g->timeout_ms, &g->id);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "ipcq-bench: waiters: sending get %lld: %s\n", (long long)i,
                    ipcq_strerror(rc));
            return TOOL_EXIT_ERROR;
        }
        g->deadline_ns = now + (uint64_t)g->timeout_ms * 1000000u;
    }
    x->first_id = x->g[0].id;
    for (int s = 0; s < WAIT_SOCKETS; s++) {
        uint64_t id;
        if (bench_wire_send(&x->w, s, BENCH_WIRE_PING, NULL, 0, &id) != IPCQ_OK) {
            fprintf(stderr, "ipcq-bench: waiters: sending a ping\n");
            return TOOL_EXIT_ERROR;
        }
    }
    return TOOL_EXIT_OK;
}

/* Takes one answer to getter index i, which arrived at now. */
static void
take_answer(waiters *x, int64_t i, const bench_wire_reply *rep, uint64_t now)
{
    getter *g = &x->g[i];
    if (g->answered) {
        x->duplicated++;
        bench_scale_fail(x->r, "get %lld was answered twice", (long long)i);
        return;
    }
    g->answered = true;
    x->answered++;
    if (rep->status != IPCQ_EMPTY) {
        x->wrong++;
        bench_scale_fail(x->r, "get %lld was answered %s, not %s: %s", (long long)i,
                         ipcq_strerror(rep->status), ipcq_strerror(IPCQ_EMPTY), rep->error);
        return;
    }
    double lateness_ms = ((double)now - (double)g->deadline_ns) / 1e6;
    if (x->answered == 1 || lateness_ms < x->min_lateness_ms)
        x->min_lateness_ms = lateness_ms;
    if (lateness_ms < -EARLY_SLACK_MS) {
        x->early++;
        bench_scale_fail(x->r, "get %lld (timeout %d ms) was answered %.1f ms early", (long long)i,
                         g->timeout_ms, -lateness_ms);
        return;
    }
    bench_hist_add(&x->late_hist, now > g->deadline_ns ? now - g->deadline_ns : 0);
    if (lateness_ms > BENCH_LATE_MS)
        x->late++;
}

/* Collects the answers until every getter has one or the grace after the
 * last deadline passed. */
static int
collect(waiters *x)
{
    int pings = WAIT_SOCKETS;
    uint64_t last_deadline = 0;
    for (int64_t i = 0; i < x->n; i++)
        if (x->g[i].deadline_ns > last_deadline)
            last_deadline = x->g[i].deadline_ns;
    uint64_t give_up = last_deadline + (uint64_t)ANSWER_GRACE_MS * 1000000u;
    bench_progress p;
    bench_progress_start(&p, "waiters", "gets answered", (uint64_t)x->n);
    while (x->answered < x->n || pings > 0) {
        uint64_t now = tool_now_ns();
        if (now >= give_up || tool_stop_signal() != 0)
            break;
        bench_wire_reply rep;
        int rc = bench_wire_recv(&x->w, (int64_t)((give_up - now) / 1000000u) + 1, &rep);
        now = tool_now_ns();
        if (rc == IPCQ_EMPTY)
            continue;
        if (rc != IPCQ_OK) {
            bench_progress_end(&p);
            fprintf(stderr, "ipcq-bench: waiters: receiving: %s\n", ipcq_strerror(rc));
            return TOOL_EXIT_ERROR;
        }
        int64_t i = (int64_t)(rep.id - x->first_id);
        if (rep.id < x->first_id || i >= x->n + WAIT_SOCKETS) {
            bench_scale_fail(x->r, "an answer to request %llu, which was never sent",
                             (unsigned long long)rep.id);
        } else if (i >= x->n) {
            if (--pings == 0) { /* every socket's gets are in: all are blocked */
                x->intake_ms = (double)(now - x->sent_ns) / 1e6;
                x->blocked_at_rss = x->n - x->answered;
                if (x->b->pid <= 0 || !bench_pid_rss(x->b->pid, &x->rss_blocked))
                    x->rss_blocked = -1;
            }
        } else {
            take_answer(x, i, &rep, now);
        }
        bench_progress_update(&p, (uint64_t)x->answered);
    }
    bench_progress_end(&p);
    return tool_stop_signal() != 0 ? 128 + tool_stop_signal() : TOOL_EXIT_OK;
}

static double
ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void
report(waiters *x, int64_t before)
{
    bench_scale_result *r = x->r;
    const bench_hist *h = &x->late_hist;
    bool any = h->count > 0;
    bench_scale_fact(r, "intake_ms", "all taken in by the broker (a ping behind them answered) in",
                     "ms", x->intake_ms, 1, x->blocked_at_rss >= 0);
    bench_scale_fact(r, "getters_blocked", "getters blocked when the RSS was read", "",
                     (double)x->blocked_at_rss, 0, x->rss_blocked >= 0);
    bench_scale_fact(r, "rss_blocked_mib", "broker RSS with them blocked (VmRSS)", "MiB",
                     (double)x->rss_blocked / 1024.0, 1, x->rss_blocked >= 0);
    bench_scale_per(r, "bytes_per_getter", "RSS per blocked getter", before, x->rss_blocked,
                    x->blocked_at_rss);
    bench_scale_fact(r, "answered", "gets answered", "", (double)x->answered, 0, true);
    bench_scale_fact(r, "timed_out", "of them timed out (IPCQ_EMPTY)", "",
                     (double)(x->answered - x->wrong), 0, true);
    bench_scale_fact(r, "lateness_p50_ms", "lateness after the deadline, p50", "ms",
                     ms(bench_hist_quantile(h, 0.5)), 2, any);
    bench_scale_fact(r, "lateness_p99_ms", "lateness p99", "ms", ms(bench_hist_quantile(h, 0.99)),
                     2, any);
    bench_scale_fact(r, "lateness_max_ms", "lateness max", "ms", ms(h->max_ns), 2, any);
    bench_scale_fact(r, "lateness_min_ms", "lateness min (< 0: before the deadline)", "ms",
                     x->min_lateness_ms, 2, x->answered > 0);
    bench_scale_fact(r, "late", "answered more than 10 ms late", "", (double)x->late, 0, true);
    bench_scale_fact(r, "early", "answered more than 1 ms early", "", (double)x->early, 0, true);
    if (x->answered < x->n)
        bench_scale_fail(r, "%lld gets were never answered", (long long)(x->n - x->answered));
}

static int
run(waiters *x, const bench_broker *b)
{
    char why[400];
    int rc = bench_queueset_apply(b->endpoint, BENCH_WIRE_CREATE, x->prefix, x->nqueues, why,
                                  sizeof why);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: waiters: %s%s\n", why, bench_broker_limit_hint(b, rc));
        return tool_exit_for(rc);
    }
    int64_t before;
    bench_scale_rss(x->r, "rss_before_mib", "broker RSS before", &before);
    if ((rc = bench_wire_open(&x->w, b->endpoint, WAIT_SOCKETS)) != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: waiters: connecting: %s\n", ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    x->sent_ns = tool_now_ns();
    if ((rc = send_all(x)) != TOOL_EXIT_OK)
        return rc;
    bench_scale_fact(x->r, "send_ms", "all sent in", "ms",
                     (double)(tool_now_ns() - x->sent_ns) / 1e6, 1, true);
    if ((rc = collect(x)) != TOOL_EXIT_OK)
        return rc;
    report(x, before);
    bench_wire_close(&x->w);
    rc = bench_queueset_apply(b->endpoint, BENCH_WIRE_DELETE, x->prefix, x->nqueues, why,
                              sizeof why);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: waiters: %s\n", why);
        return tool_exit_for(rc);
    }
    return TOOL_EXIT_OK;
}

int
bench_waiters(const bench_opts *o, const bench_broker *b, bench_scale_result *r)
{
    waiters x = {.o = o, .b = b, .r = r, .n = o->count, .rss_blocked = -1, .blocked_at_rss = -1};
    x.nqueues = (x.n + GETTERS_PER_QUEUE - 1) / GETTERS_PER_QUEUE;
    snprintf(x.prefix, sizeof x.prefix, "bench.%d.wait", (int)getpid());
    bench_hist_init(&x.late_hist);
    bench_scale_fact(r, "getters", "blocked gets", "", (double)x.n, 0, true);
    bench_scale_fact(r, "queues", "on empty queues", "", (double)x.nqueues, 0, true);
    bench_scale_fact(r, "timeout_min_ms", "timeouts from", "ms", BENCH_WAIT_MIN_MS, 0, true);
    bench_scale_fact(r, "timeout_max_ms", "timeouts to", "ms", BENCH_WAIT_MAX_MS, 0, true);
    x.g = calloc((size_t)x.n, sizeof *x.g);
    if (x.g == NULL) {
        fprintf(stderr, "ipcq-bench: waiters: out of memory\n");
        return TOOL_EXIT_ERROR;
    }
    assign_timeouts(&x);
    int rc = run(&x, b);
    bench_wire_close(&x.w);
    free(x.g);
    return rc;
}
