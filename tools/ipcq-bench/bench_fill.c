/*
 * The fill scenario (see bench_args.h): --items items of --size bytes put
 * into one queue that nobody gets from, --batch a call with ipcq_put_many;
 * the broker's RSS before, full (VmRSS and VmHWM) and per item; then the
 * queue drained with ipcq_get_many, every item checked (in order, intact),
 * and the broker's RSS once it is empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tool_item.h"
#include "bench_report.h"
#include "tool_progress.h"
#include "bench_scale.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define DRAIN_WAIT_MS 10000 /* the longest a get of a full queue may wait */

typedef struct fill {
    const bench_opts *o;
    bench_scale_result *r;
    ipcq_client *c;
    char queue[64];
    size_t batch, size;
    void **items; /* a batch: built for put_many, got by get_many */
    size_t *lens;
    unsigned char *buf;
} fill;

/* Reports a failed call; returns the exit status for it. */
static int
failed(const fill *f, const char *what, int rc, const bench_broker *b)
{
    fprintf(stderr, "ipcq-bench: fill: %s: %s%s\n", what, ipcq_client_error(f->c),
            bench_broker_limit_hint(b, rc));
    return tool_exit_for(rc);
}

static int
put_all(fill *f, const bench_broker *b)
{
    tool_progress p;
    tool_progress_start(&p, &bench_progress_style, "fill", "items put", (uint64_t)f->o->items);
    int rc = IPCQ_OK;
    for (uint64_t seq = 0; rc == IPCQ_OK && seq < (uint64_t)f->o->items;) {
        size_t n = (uint64_t)f->o->items - seq < f->batch ? (size_t)((uint64_t)f->o->items - seq)
                                                          : f->batch;
        for (size_t i = 0; i < n; i++)
            tool_item_build(f->buf + i * f->size, f->size, 0, seq + i);
        rc = ipcq_put_many(f->c, f->queue, n, (const void *const *)f->items, f->lens, IPCQ_FOREVER);
        seq += n;
        tool_progress_update(&p, seq);
        if (tool_stop_signal() != 0)
            break;
    }
    tool_progress_end(&p);
    if (tool_stop_signal() != 0)
        return 128 + tool_stop_signal();
    return rc == IPCQ_OK ? TOOL_EXIT_OK : failed(f, "ipcq_put_many", rc, b);
}

/* Checks one drained item: the next in order, of the right size, intact. */
static void
check_item(fill *f, const void *item, size_t len, uint64_t want)
{
    uint32_t producer;
    uint64_t seq;
    if (!tool_item_parse(item, len, &producer, &seq) || producer != 0 || seq != want ||
        len != f->size || !tool_item_fill_ok(item, len, f->o->check))
        bench_scale_fail(f->r, "item %llu of the queue is not the one put there, or damaged",
                         (unsigned long long)want);
}

static int
drain(fill *f, const bench_broker *b)
{
    tool_progress p;
    tool_progress_start(&p, &bench_progress_style, "fill", "items got", (uint64_t)f->o->items);
    uint64_t got = 0;
    int rc = IPCQ_OK;
    while (got < (uint64_t)f->o->items && tool_stop_signal() == 0) {
        size_t n = 0;
        for (size_t i = 0; i < f->batch; i++)
            f->items[i] = NULL;
        rc = ipcq_get_many(f->c, f->queue, f->batch, f->items, f->lens, &n, DRAIN_WAIT_MS);
        if (rc != IPCQ_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            check_item(f, f->items[i], f->lens[i], got + i);
            ipcq_free(f->items[i]);
        }
        got += n;
        tool_progress_update(&p, got);
    }
    tool_progress_end(&p);
    if (tool_stop_signal() != 0)
        return 128 + tool_stop_signal();
    if (rc == IPCQ_EMPTY) {
        bench_scale_fail(f->r, "the queue held %llu items, not %lld", (unsigned long long)got,
                         (long long)f->o->items);
        return TOOL_EXIT_OK;
    }
    return rc == IPCQ_OK ? TOOL_EXIT_OK : failed(f, "ipcq_get_many", rc, b);
}

/* The time since t0 in which n items were put (or got, drained), and the
 * rate, as facts. */
static void
timed(bench_scale_result *r, bool put, uint64_t t0, int64_t n)
{
    double s = (double)(tool_now_ns() - t0) / 1e9;
    bench_scale_fact(r, put ? "put_s" : "get_s", put ? "put in" : "drained in", "s", s, 3, true);
    bench_scale_fact(r, put ? "put_items_per_s" : "get_items_per_s",
                     put ? "put rate" : "drain rate", "items/s", s > 0 ? (double)n / s : 0, 0,
                     true);
}

static int
run(fill *f, const bench_broker *b)
{
    const bench_opts *o = f->o;
    bench_scale_result *r = f->r;
    int rc = ipcq_client_open(&f->c, b->endpoint);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: opening a client: %s\n", ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    if ((rc = ipcq_create(f->c, f->queue, 0)) != IPCQ_OK)
        return failed(f, "ipcq_create", rc, b);
    bench_scale_fact(r, "items", "items", "", (double)o->items, 0, true);
    bench_scale_fact(r, "size", "bytes per item", "", (double)o->size, 0, true);
    int64_t before, full, peak, empty;
    bench_scale_rss(r, "rss_before_mib", "broker RSS before the fill", &before);

    uint64_t t0 = tool_now_ns();
    if ((rc = put_all(f, b)) != TOOL_EXIT_OK)
        return rc;
    timed(r, true, t0, o->items);
    size_t qsize = 0;
    if ((rc = ipcq_qsize(f->c, f->queue, &qsize)) != IPCQ_OK)
        return failed(f, "ipcq_qsize", rc, b);
    if (qsize != (size_t)o->items)
        bench_scale_fail(r, "the broker says the queue holds %zu items, not %lld", qsize,
                         (long long)o->items);
    bench_scale_rss(r, "rss_full_mib", "broker RSS full (VmRSS)", &full);
    bench_scale_peak_rss(r, "peak_rss_mib", "broker peak RSS (VmHWM)", &peak);
    bench_scale_fact(r, "held_mib", "held for the items (RSS full - before)", "MiB",
                     (double)(full - before) / 1024.0, 1, before >= 0 && full >= 0);
    bench_scale_per(r, "bytes_per_item", "RSS per item (full - before)", before, full, o->items);
    bench_scale_per(r, "peak_bytes_per_item", "peak RSS per item (VmHWM - before)", before, peak,
                    o->items);

    t0 = tool_now_ns();
    if ((rc = drain(f, b)) != TOOL_EXIT_OK)
        return rc;
    timed(r, false, t0, o->items);
    bench_scale_rss(r, "rss_drained_mib", "broker RSS drained (VmRSS)", &empty);
    return TOOL_EXIT_OK;
}

int
bench_fill(const bench_opts *o, const bench_broker *b, bench_scale_result *r)
{
    fill f = {.o = o, .r = r, .batch = (size_t)o->batch, .size = (size_t)o->size};
    snprintf(f.queue, sizeof f.queue, "bench.%d.fill", (int)getpid());
    f.items = calloc(f.batch, sizeof *f.items);
    f.lens = calloc(f.batch, sizeof *f.lens);
    f.buf = malloc(f.batch * f.size);
    int rc = TOOL_EXIT_ERROR;
    if (f.items == NULL || f.lens == NULL || f.buf == NULL) {
        fprintf(stderr, "ipcq-bench: fill: out of memory\n");
    } else {
        for (size_t i = 0; i < f.batch; i++) {
            f.items[i] = f.buf + i * f.size;
            f.lens[i] = f.size;
        }
        rc = run(&f, b);
    }
    /* Whatever happened, a shared broker is left without the queue. */
    int deleted = f.c != NULL ? ipcq_delete(f.c, f.queue) : IPCQ_OK;
    if (rc == TOOL_EXIT_OK && deleted != IPCQ_OK)
        rc = failed(&f, "ipcq_delete", deleted, b);
    ipcq_client_close(&f.c);
    free(f.items);
    free(f.lens);
    free(f.buf);
    return rc;
}
