/*
 * The waiters scenario (see bench_args.h): --count gets blocked on empty
 * queues, each with its own timeout, spread evenly over
 * BENCH_WAIT_MIN_MS..BENCH_WAIT_MAX_MS and sent in a shuffled order (so
 * that the broker's deadlines arrive out of order). A client handle allows
 * one blocking call at a time, so the gets go over the wire
 * (bench_wire.h), from WAIT_SOCKETS sockets, GETTERS_PER_QUEUE to a queue.
 *
 * Each socket sends its gets CHUNK at a time, each chunk followed by a ping,
 * and sends the next chunk once that ping is answered (so the broker has
 * taken the chunk in): as fast as the broker takes them, without thousands
 * waiting in a pipe, whose wait would count as lateness. Sent all at once,
 * 10,000 gets take the broker up to 150 ms to read on a loaded 2-vCPU
 * machine, and the last of them then answer that much after the deadline
 * their sender counts from.
 *
 * Each answer must be IPCQ_EMPTY (timed out), once, and not before its
 * deadline (send time + timeout; an answer up to EARLY_SLACK_MS early is
 * put down to the broker reading its clock before the request arrived);
 * its lateness is the time from that deadline until the answer arrived.
 * Reported: lateness p50/p99/max, the answers more than BENCH_LATE_MS late,
 * the longest a chunk took to be taken in, and the broker's RSS once every
 * get was sent and taken in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_pidstat.h"
#include "bench_report.h"
#include "tool_progress.h"
#include "bench_queueset.h"
#include "bench_scale.h"
#include "wire.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define WAIT_SOCKETS 4
#define CHUNK 100 /* gets a socket sends before a ping */
#define GETTERS_PER_QUEUE 100
#define EARLY_SLACK_MS 1
#define ANSWER_GRACE_MS 10000 /* after the last deadline: the rest are lost */

typedef struct getter {
    uint64_t deadline_ns; /* send time + timeout */
    int timeout_ms;
    bool answered;
} getter;

/* One socket: it sends getters s, s + WAIT_SOCKETS, ... */
typedef struct wsock {
    int64_t next;      /* the next getter it sends */
    uint64_t ping_id;  /* the ping behind its last chunk; 0 once answered */
    uint64_t chunk_ns; /* when that chunk was sent */
} wsock;

typedef struct waiters {
    const bench_opts *o;
    const bench_broker *b;
    bench_scale_result *r;
    bench_wire w;
    getter *g;
    int64_t n, nqueues;
    int64_t *of_id; /* request id -> getter index, -1 for a ping */
    uint64_t nids;
    wsock socks[WAIT_SOCKETS];
    char prefix[64];
    bench_hist late_hist; /* lateness of the answers not early, in ns */
    int64_t sent, answered, late, early, wrong, duplicated;
    uint64_t start_ns, last_send_ns;
    double send_ms;         /* from the first get sent until the last was taken in */
    double chunk_max_ms;    /* the longest a chunk took to be taken in */
    int64_t rss_blocked;    /* KiB once every get was taken in; -1 unknown */
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

/* Sends socket s's next chunk of gets and a ping behind them. */
static int
send_chunk(waiters *x, int s)
{
    wsock *k = &x->socks[s];
    uint64_t id;
    for (int c = 0; c < CHUNK && k->next < x->n; c++, k->next += WAIT_SOCKETS) {
        char queue[IPCQ_NAME_MAX + 1];
        bench_queueset_name(queue, sizeof queue, x->prefix, k->next % x->nqueues);
        getter *g = &x->g[k->next];
        uint64_t now = tool_now_ns();
        if (bench_wire_send(&x->w, s, BENCH_WIRE_GET, queue, g->timeout_ms, &id) != IPCQ_OK ||
            id >= x->nids) {
            fprintf(stderr, "ipcq-bench: waiters: cannot send get %lld\n", (long long)k->next);
            return TOOL_EXIT_ERROR;
        }
        x->of_id[id] = k->next;
        g->deadline_ns = now + (uint64_t)g->timeout_ms * 1000000u;
        x->last_send_ns = now;
        x->sent++;
    }
    k->chunk_ns = tool_now_ns();
    if (bench_wire_send(&x->w, s, BENCH_WIRE_PING, NULL, 0, &k->ping_id) != IPCQ_OK ||
        k->ping_id >= x->nids) {
        fprintf(stderr, "ipcq-bench: waiters: cannot send a ping\n");
        return TOOL_EXIT_ERROR;
    }
    x->of_id[k->ping_id] = -1;
    return TOOL_EXIT_OK;
}

/* Socket s's ping was answered at now: its chunk is in. Once every get is
 * in, reads the broker's RSS. */
static void
chunk_taken(waiters *x, int s, uint64_t now)
{
    wsock *k = &x->socks[s];
    double ms = (double)(now - k->chunk_ns) / 1e6;
    if (ms > x->chunk_max_ms)
        x->chunk_max_ms = ms;
    k->ping_id = 0;
    for (int i = 0; i < WAIT_SOCKETS; i++)
        if (x->socks[i].ping_id != 0 || x->socks[i].next < x->n)
            return;
    x->send_ms = (double)(now - x->start_ns) / 1e6;
    x->blocked_at_rss = x->n - x->answered;
    if (x->b->pid <= 0 || !bench_pid_rss(x->b->pid, &x->rss_blocked))
        x->rss_blocked = -1;
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

/* The socket whose outstanding ping has this id, or -1. */
static int
ping_socket(const waiters *x, uint64_t id)
{
    for (int s = 0; s < WAIT_SOCKETS; s++)
        if (x->socks[s].ping_id == id)
            return s;
    return -1;
}

/* Sends the gets and collects the answers until every getter has one or the
 * grace after the last deadline passed. */
static int
send_and_collect(waiters *x)
{
    tool_progress p;
    tool_progress_start(&p, &bench_progress_style, "waiters", "gets answered", (uint64_t)x->n);
    for (int s = 0; s < WAIT_SOCKETS; s++)
        x->socks[s] = (wsock){.next = s};
    x->start_ns = x->last_send_ns = tool_now_ns();
    int rc = TOOL_EXIT_OK;
    while (rc == TOOL_EXIT_OK && x->answered < x->n && tool_stop_signal() == 0) {
        for (int s = 0; rc == TOOL_EXIT_OK && s < WAIT_SOCKETS; s++)
            if (x->socks[s].ping_id == 0 && x->socks[s].next < x->n)
                rc = send_chunk(x, s);
        uint64_t now = tool_now_ns(),
                 give_up =
                     x->last_send_ns + (uint64_t)(BENCH_WAIT_MAX_MS + ANSWER_GRACE_MS) * 1000000u;
        if (rc != TOOL_EXIT_OK || now >= give_up)
            break;
        bench_wire_reply rep;
        int got = bench_wire_recv(&x->w, (int64_t)((give_up - now) / 1000000u) + 1, &rep);
        now = tool_now_ns();
        if (got == IPCQ_EMPTY)
            continue;
        if (got != IPCQ_OK) {
            fprintf(stderr, "ipcq-bench: waiters: receiving: %s\n", ipcq_strerror(got));
            rc = TOOL_EXIT_ERROR;
        } else if (ping_socket(x, rep.id) >= 0) {
            chunk_taken(x, ping_socket(x, rep.id), now);
        } else if (rep.id >= x->nids || x->of_id[rep.id] < 0) {
            bench_scale_fail(x->r, "an answer to request %llu, which is no get waiting",
                             (unsigned long long)rep.id);
        } else {
            take_answer(x, x->of_id[rep.id], &rep, now);
        }
        tool_progress_update(&p, (uint64_t)x->answered);
    }
    tool_progress_end(&p);
    return tool_stop_signal() != 0 ? 128 + tool_stop_signal() : rc;
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
    bench_scale_fact(r, "send_ms", "all sent and taken in by the broker in", "ms", x->send_ms, 1,
                     x->blocked_at_rss >= 0);
    bench_scale_fact(r, "chunk_max_ms", "a chunk of 100 gets and a ping, answered in at most", "ms",
                     x->chunk_max_ms, 2, x->blocked_at_rss >= 0);
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
    if ((rc = send_and_collect(x)) != TOOL_EXIT_OK)
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
    /* Request ids run from 1: the gets and a ping per chunk per socket. */
    x.nids = (uint64_t)(x.n + x.n / CHUNK + 2 * WAIT_SOCKETS + 2);
    x.g = calloc((size_t)x.n, sizeof *x.g);
    x.of_id = malloc(x.nids * sizeof *x.of_id);
    int rc = TOOL_EXIT_ERROR;
    if (x.g == NULL || x.of_id == NULL) {
        fprintf(stderr, "ipcq-bench: waiters: out of memory\n");
    } else {
        for (uint64_t id = 0; id < x.nids; id++)
            x.of_id[id] = -1;
        assign_timeouts(&x);
        rc = run(&x, b);
    }
    bench_wire_close(&x.w);
    free(x.g);
    free(x.of_id);
    return rc;
}
