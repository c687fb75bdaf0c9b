/* The scale and memory scenarios: broker, scenario, facts (see bench_scale.h). */
#include "bench_scale.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench_pidstat.h"
#include "tool_exit.h"

void
bench_scale_fact(bench_scale_result *r, const char *key, const char *label, const char *unit,
                 double value, int decimals, bool known)
{
    if (r->nfacts == BENCH_MAX_FACTS)
        return; /* a programming error: the scenarios add a fixed few */
    r->facts[r->nfacts++] = (bench_fact){.key = key,
                                         .label = label,
                                         .unit = unit,
                                         .value = known ? value : 0,
                                         .decimals = decimals,
                                         .known = known};
}

static void
rss_fact(bench_scale_result *r, const char *key, const char *label, int64_t *kib,
         bool (*read)(int, int64_t *))
{
    bool known = r->broker_pid > 0 && read(r->broker_pid, kib);
    if (!known)
        *kib = -1;
    bench_scale_fact(r, key, label, "MiB", known ? (double)*kib / 1024.0 : 0, 1, known);
}

void
bench_scale_rss(bench_scale_result *r, const char *key, const char *label, int64_t *kib)
{
    rss_fact(r, key, label, kib, bench_pid_rss);
}

void
bench_scale_peak_rss(bench_scale_result *r, const char *key, const char *label, int64_t *kib)
{
    rss_fact(r, key, label, kib, bench_pid_peak_rss);
}

void
bench_scale_per(bench_scale_result *r, const char *key, const char *label, int64_t before,
                int64_t after, int64_t n)
{
    bool known = before >= 0 && after >= 0 && n > 0;
    bench_scale_fact(r, key, label, "bytes",
                     known ? (double)(after - before) * 1024.0 / (double)n : 0, 0, known);
}

void
bench_scale_fail(bench_scale_result *r, const char *fmt, ...)
{
    if (r->verified) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->failure, sizeof r->failure, fmt, ap);
        va_end(ap);
    }
    r->verified = false;
}

int
bench_scale_run(const bench_opts *o, bench_scale_result *r)
{
    memset(r, 0, sizeof *r);
    r->verified = true;
    if (o->scenario == BENCH_IDLE_LANE)
        return bench_idle_lane(o, r); /* its broker serves the unix:// lane */
    bench_broker b;
    /* ZeroMQ: the scenarios that speak the wire themselves (bench_wire.c) do. */
    int rc = bench_broker_start(o, &b, "ipc");
    snprintf(r->endpoint, sizeof r->endpoint, "%s", b.endpoint);
    r->broker_kind = b.kind;
    r->broker_pid = b.pid;
    if (rc == TOOL_EXIT_OK) {
        switch (o->scenario) {
        case BENCH_FILL:
            rc = bench_fill(o, &b, r);
            break;
        case BENCH_QUEUES:
            rc = bench_queues(o, &b, r);
            break;
        case BENCH_WAITERS:
            rc = bench_waiters(o, &b, r);
            break;
        case BENCH_THROUGHPUT:
        case BENCH_IDLE_LANE:
            rc = TOOL_EXIT_ERROR; /* bench_run.h's; above */
            break;
        }
    }
    bench_broker_stop(&b);
    if (rc == TOOL_EXIT_OK && !r->verified)
        rc = TOOL_EXIT_CHECK;
    return rc;
}
