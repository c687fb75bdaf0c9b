/* The result of a run and its check (see bench_verify.h). */
#include "bench_verify.h"

#include "bench_worker.h"

/* What --check asks of the figures beyond the items: NULL, or the name of
 * the first figure that is missing or does not add up. */
static const char *
check_figures(const bench_opts *o, const bench_result *r)
{
    if (o->items > 0 && r->put_items != (uint64_t)o->items)
        return "items put";
    if (o->mode != BENCH_BATCH && r->put_calls != r->put_items)
        return "put calls"; /* one item per put call */
    if (o->items > 0 && o->mode == BENCH_BATCH) {
        uint64_t calls = 0;
        for (int p = 0; p < o->producers; p++)
            calls += (bench_producer_share(o, p) + (uint64_t)o->batch - 1) / (uint64_t)o->batch;
        if (r->put_calls != calls)
            return "put calls";
    }
    /* Each get call brings 1 to --batch items, or a stop marker (one per
     * call but in batch and async mode, whose get_many takes a batch). */
    if (r->get_calls * (uint64_t)o->batch < r->got_items ||
        r->get_calls > r->got_items + (uint64_t)o->consumers)
        return "get calls";
    if (r->got_items == 0 || r->seconds <= 0)
        return "items_per_s";
    const bench_hist *h[] = {&r->put_latency, &r->get_latency};
    for (int i = 0; i < 2; i++) {
        uint64_t p50 = bench_hist_quantile(h[i], 0.5), p99 = bench_hist_quantile(h[i], 0.99),
                 p999 = bench_hist_quantile(h[i], 0.999);
        if (p50 == 0 || p50 > p99 || p99 > p999 || p999 > h[i]->max_ns)
            return i == 0 ? "put latency" : "get latency";
    }
    if (r->broker_pid > 0 && !r->cpu_known)
        return "broker CPU time";
    if (r->broker_pid > 0 && !r->rss_known)
        return "broker peak RSS";
    return NULL;
}

void
bench_verify(const bench_opts *o, bench_shared *s, bench_result *r)
{
    uint64_t end_ns = s->start_ns;
    for (int p = 0; p < o->producers; p++) {
        const bench_slot *slot = bench_producer_slot(s, p);
        r->put_items += slot->items;
        r->put_calls += slot->latency.count;
        bench_hist_merge(&r->put_latency, &slot->latency);
        uint64_t count = 0, sum = 0;
        for (int c = 0; c < o->consumers; c++) {
            const bench_tally *t = bench_tally_of(s, c, p);
            count += t->count;
            sum += t->sum;
        }
        if (count < slot->items)
            r->lost += slot->items - count;
        else if (count > slot->items)
            r->duplicated += count - slot->items;
        else if (sum != slot->sum)
            r->mismatched++; /* as many got as put, but not the same ones */
    }
    for (int c = 0; c < o->consumers; c++) {
        const bench_slot *slot = bench_consumer_slot(s, c);
        r->got_items += slot->items;
        r->get_calls += slot->latency.count;
        bench_hist_merge(&r->get_latency, &slot->latency);
        r->damaged += slot->damaged;
        r->reordered += slot->reordered;
        if (slot->last_ns > end_ns)
            end_ns = slot->last_ns;
    }
    r->seconds = (double)(end_ns - s->start_ns) / 1e9;
    r->verified = r->lost == 0 && r->duplicated == 0 && r->mismatched == 0 && r->damaged == 0 &&
                  r->reordered == 0 && (o->items == 0 || r->put_items == (uint64_t)o->items);
    r->check_failed = o->check ? check_figures(o, r) : NULL;
}
