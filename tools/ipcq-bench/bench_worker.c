/* The producers and consumers of an ipcq-bench run (see bench_worker.h). */
#include "bench_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tool_item.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "ipcq.h"

#define BENCH_FLUSH_TIMEOUT_MS 60000

uint64_t
bench_producer_share(const bench_opts *o, int index)
{
    uint64_t p = (uint64_t)o->producers, n = (uint64_t)o->items;
    return n / p + ((uint64_t)index < n % p ? 1 : 0);
}

/* Records a failed call in the slot; returns the exit status for it. */
static int
fail(bench_slot *slot, int status, const char *what, const ipcq_client *c)
{
    slot->status = status;
    snprintf(slot->error, sizeof slot->error, "%s: %s", what,
             c != NULL && ipcq_client_error(c)[0] != '\0' ? ipcq_client_error(c)
                                                          : ipcq_strerror(status));
    slot->exit_code = tool_exit_for(status);
    return slot->exit_code;
}

/* Opens the child's client, pings the broker, says ready and waits for the
 * start. IPCQ_OK, or the status that failed (recorded in slot). */
static int
connect_and_wait(const bench_ctx *ctx, bench_slot *slot, ipcq_client **c)
{
    int rc = ipcq_client_open(c, ctx->endpoint);
    if (rc != IPCQ_OK)
        return fail(slot, rc, "opening a client", NULL), rc;
    rc = ipcq_ping(*c);
    if (rc != IPCQ_OK)
        return fail(slot, rc, "ping", *c), rc;
    char byte = 'r';
    while (write(ctx->ready_fd, &byte, 1) < 0 && errno == EINTR)
        ;
    ssize_t n;
    while ((n = read(ctx->go_fd, &byte, 1)) < 0 && errno == EINTR)
        ;
    return IPCQ_OK; /* EOF: go (if the tool died instead, so did we) */
}

static const char *
put_name(bench_mode m)
{
    return m == BENCH_STRICT ? "ipcq_put" : m == BENCH_BATCH ? "ipcq_put_many" : "ipcq_put_async";
}

/* One put call of the mode: n items (n > 1 in batch mode only). */
static int
put_call(ipcq_client *c, bench_mode m, const char *q, size_t n, const void **items,
         const size_t *lens)
{
    switch (m) {
    case BENCH_STRICT:
        return ipcq_put(c, q, items[0], lens[0], IPCQ_FOREVER);
    case BENCH_BATCH:
        return ipcq_put_many(c, q, n, (const void *const *)items, lens, IPCQ_FOREVER);
    case BENCH_ASYNC:
    case BENCH_PREFETCH:
        break;
    }
    return ipcq_put_async(c, q, items[0], lens[0]);
}

int
bench_produce(const bench_ctx *ctx, int index)
{
    const bench_opts *o = ctx->opts;
    bench_slot *slot = bench_producer_slot(ctx->shared, index);
    /* Items per call: a batch for put_many, else one. */
    size_t batch = o->mode == BENCH_BATCH ? (size_t)o->batch : 1, size = (size_t)o->size;
    unsigned char *buf = malloc(batch * size);
    const void **ptrs = malloc(batch * sizeof *ptrs);
    size_t *lens = malloc(batch * sizeof *lens);
    ipcq_client *c = NULL;
    if (buf == NULL || ptrs == NULL || lens == NULL) {
        fail(slot, IPCQ_ENOMEM, "allocating a batch", NULL);
        goto out;
    }
    for (size_t i = 0; i < batch; i++) {
        ptrs[i] = buf + i * size;
        lens[i] = size;
    }
    if (connect_and_wait(ctx, slot, &c) != IPCQ_OK)
        goto out;
    int rc;
    if (o->window > 0 && (rc = ipcq_set_put_window(c, (size_t)o->window)) != IPCQ_OK) {
        fail(slot, rc, "ipcq_set_put_window", c);
        goto out;
    }

    uint64_t share = o->items > 0 ? bench_producer_share(o, index) : UINT64_MAX;
    uint64_t stop_ns = ctx->shared->stop_ns, now = tool_now_ns();
    uint64_t seq = 0;
    for (uint64_t k = 0; seq < share && (stop_ns == 0 || now < stop_ns); k++) {
        size_t count = share - seq < batch ? (size_t)(share - seq) : batch;
        for (size_t i = 0; i < count; i++)
            tool_item_build(buf + i * size, size, (uint32_t)index, seq + i);
        const char *q = ctx->queues[((uint64_t)index + k) % (uint64_t)o->queues];
        uint64_t t0 = tool_now_ns();
        rc = put_call(c, o->mode, q, count, ptrs, lens);
        now = tool_now_ns();
        if (rc != IPCQ_OK) {
            fail(slot, rc, put_name(o->mode), c);
            break;
        }
        bench_hist_add(&slot->latency, now - t0);
        for (size_t i = 0; i < count; i++)
            slot->sum += tool_item_mix(seq + i);
        seq += count;
        slot->items = seq;
        atomic_store_explicit(&slot->progress, seq, memory_order_relaxed);
    }
    /* Async puts are done when the broker has answered every one. At most
     * a window of them waits, for consumers that keep getting: a flush this
     * long means answers were lost, and a benchmark must not hang on it. */
    if (o->window > 0 && slot->exit_code == TOOL_EXIT_OK &&
        (rc = ipcq_flush(c, BENCH_FLUSH_TIMEOUT_MS)) != IPCQ_OK)
        fail(slot, rc, "ipcq_flush (async puts unanswered)", c);
out:
    ipcq_client_close(&c);
    free(buf);
    free(ptrs);
    free(lens);
    return slot->exit_code;
}

/* Checks and counts one item a consumer got; true if it is a stop marker. */
static bool
take_item(const bench_ctx *ctx, int index, uint64_t *next_seq, const void *item, size_t len)
{
    bench_slot *slot = bench_consumer_slot(ctx->shared, index);
    uint32_t producer;
    uint64_t seq;
    if (!tool_item_parse(item, len, &producer, &seq)) {
        slot->damaged++;
        return false;
    }
    if (producer == BENCH_STOP && len == TOOL_ITEM_HEADER)
        return true;
    if (producer >= (uint32_t)ctx->opts->producers || len != (size_t)ctx->opts->size ||
        !tool_item_fill_ok(item, len, ctx->opts->check)) {
        slot->damaged++;
        return false;
    }
    /* A consumer's items are a subsequence of its queue's FIFO order, so
     * each producer's sequence numbers only grow (Q4). */
    if (seq < next_seq[producer])
        slot->reordered++;
    next_seq[producer] = seq + 1;
    bench_tally *t = bench_tally_of(ctx->shared, index, (int)producer);
    t->count++;
    t->sum += tool_item_mix(seq);
    slot->items++;
    return false;
}

int
bench_consume(const bench_ctx *ctx, int index)
{
    const bench_opts *o = ctx->opts;
    bench_slot *slot = bench_consumer_slot(ctx->shared, index);
    size_t batch = (size_t)o->batch;
    void **items = calloc(batch, sizeof *items);
    size_t *lens = calloc(batch, sizeof *lens);
    uint64_t *next_seq = calloc((size_t)o->producers, sizeof *next_seq);
    ipcq_client *c = NULL;
    if (items == NULL || lens == NULL || next_seq == NULL) {
        fail(slot, IPCQ_ENOMEM, "allocating a batch", NULL);
        goto out;
    }
    if (connect_and_wait(ctx, slot, &c) != IPCQ_OK)
        goto out;
    int rc;
    if (o->mode == BENCH_PREFETCH &&
        (rc = ipcq_set_prefetch(c, batch, BENCH_PREFETCH_LEASE_MS)) != IPCQ_OK) {
        fail(slot, rc, "ipcq_set_prefetch", c);
        goto out;
    }
    /* One item per call, or up to a batch with get_many. */
    bool many = o->mode == BENCH_BATCH || o->mode == BENCH_ASYNC;

    const char *q = ctx->queues[index % o->queues];
    for (size_t stops = 0; stops == 0;) {
        size_t got = 0;
        uint64_t t0 = tool_now_ns();
        rc = many ? ipcq_get_many(c, q, batch, items, lens, &got, IPCQ_FOREVER)
                  : ipcq_get(c, q, &items[0], &lens[0], IPCQ_FOREVER);
        uint64_t t1 = tool_now_ns();
        if (rc != IPCQ_OK) {
            fail(slot, rc, many ? "ipcq_get_many" : "ipcq_get", c);
            break;
        }
        if (!many)
            got = 1;
        bench_hist_add(&slot->latency, t1 - t0);
        for (size_t i = 0; i < got; i++) {
            stops += take_item(ctx, index, next_seq, items[i], lens[i]);
            ipcq_free(items[i]);
            items[i] = NULL;
        }
        if (got > stops)
            slot->last_ns = t1;
        atomic_store_explicit(&slot->progress, slot->items, memory_order_relaxed);
        /* One marker per consumer of the queue: hand back the ones that a
         * batch took for the others. */
        unsigned char marker[TOOL_ITEM_HEADER];
        tool_item_build(marker, sizeof marker, BENCH_STOP, 0);
        for (; stops > 1; stops--) {
            rc = ipcq_put(c, q, marker, sizeof marker, IPCQ_FOREVER);
            if (rc != IPCQ_OK) {
                fail(slot, rc, "ipcq_put of a stop marker", c);
                break;
            }
        }
    }
out:
    ipcq_client_close(&c);
    free(items);
    free(lens);
    free(next_seq);
    return slot->exit_code;
}
