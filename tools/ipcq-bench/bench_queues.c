/*
 * The queues scenario (see bench_args.h): --count empty queues created over
 * the wire, pipelined (bench_queueset.h); the broker's RSS before, with
 * them (VmRSS and VmHWM) and per queue; then every one deleted, and its RSS
 * again.
 */
#include <stdio.h>
#include <unistd.h>

#include "bench_queueset.h"
#include "bench_scale.h"
#include "ipcq.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

/* Creates or deletes the queues, timed, as a fact "KEY" in seconds. */
static int
apply(const bench_opts *o, const bench_broker *b, bench_scale_result *r, bench_wire_op op,
      const char *prefix, const char *key, const char *label)
{
    char why[400];
    uint64_t t0 = tool_now_ns();
    int rc = bench_queueset_apply(b->endpoint, op, prefix, o->count, why, sizeof why);
    if (tool_stop_signal() != 0)
        return 128 + tool_stop_signal();
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: queues: %s%s\n", why, bench_broker_limit_hint(b, rc));
        return tool_exit_for(rc);
    }
    bench_scale_fact(r, key, label, "s", (double)(tool_now_ns() - t0) / 1e9, 3, true);
    return TOOL_EXIT_OK;
}

int
bench_queues(const bench_opts *o, const bench_broker *b, bench_scale_result *r)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bench.%d.q", (int)getpid());
    bench_scale_fact(r, "queues", "empty queues", "", (double)o->count, 0, true);
    int64_t before, full, peak, after;
    bench_scale_rss(r, "rss_before_mib", "broker RSS before", &before);
    int rc = apply(o, b, r, BENCH_WIRE_CREATE, prefix, "create_s", "created in");
    if (rc != TOOL_EXIT_OK)
        return rc;
    bench_scale_rss(r, "rss_full_mib", "broker RSS with the queues (VmRSS)", &full);
    bench_scale_peak_rss(r, "peak_rss_mib", "broker peak RSS (VmHWM)", &peak);
    bench_scale_per(r, "bytes_per_queue", "RSS per queue (with - before)", before, full, o->count);
    rc = apply(o, b, r, BENCH_WIRE_DELETE, prefix, "delete_s", "deleted in");
    if (rc != TOOL_EXIT_OK)
        return rc;
    bench_scale_rss(r, "rss_deleted_mib", "broker RSS after deleting them (VmRSS)", &after);
    return TOOL_EXIT_OK;
}
