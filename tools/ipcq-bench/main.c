/*
 * ipcq-bench — the load generator and benchmark of SPEC §7 and issue 4:
 * forks producers and consumers against a private broker (or --broker),
 * moves items through ipcq queues (strict, batch, async or prefetch mode:
 * see bench_args.h), checks that each arrived exactly once,
 * and reports items/s, per-call put and get latency, and the broker's CPU
 * time and peak RSS, for a person or as JSON. Its other scenarios measure
 * the broker's memory and timeouts at scale (bench_scale.h).
 *
 *   bench_args.c      the command line
 *   bench_broker.c    the broker of a run: private, an ipcqd started, or shared
 *   bench_run.c       one run: broker, children, start, watch, stop markers
 *   bench_worker.c    the producers' and consumers' loops
 *   bench_verify.c    adding up the children's records, exactly-once check
 *   bench_report.c    the text and JSON report
 *   bench_scale.c     the scale scenarios: bench_fill.c, bench_queues.c,
 *                     bench_waiters.c, over bench_queueset.c and bench_wire.c
 *   bench_hist.c, bench_shared.c, bench_pidstat.c: histograms, shared
 *                     memory, /proc figures
 *
 * From tools/common: the items (tool_item.h), processes and signals
 * (tool_proc.h), the clock, the progress line, numbers and usage errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "tool_exit.h"
#include "tool_proc.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_scale.h"

/* The exit status after a stop signal, once the run has cleaned up; 0 if
 * none came. */
static int
stopped(void)
{
    int sig = tool_stop_signal();
    if (sig != 0)
        fprintf(stderr, "ipcq-bench: stopped by %s; every child was stopped\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    return sig != 0 ? 128 + sig : 0;
}

static int
scale(const bench_opts *o)
{
    bench_scale_result *r = malloc(sizeof *r);
    if (r == NULL) {
        fprintf(stderr, "ipcq-bench: out of memory\n");
        return TOOL_EXIT_ERROR;
    }
    int rc = bench_scale_run(o, r);
    int sig = stopped();
    if (sig == 0 && (rc == TOOL_EXIT_OK || rc == TOOL_EXIT_CHECK)) {
        if (o->json)
            bench_report_scale_json(stdout, o, r);
        else
            bench_report_scale_text(stdout, o, r);
        if (rc == TOOL_EXIT_CHECK)
            fprintf(stderr, "ipcq-bench: the check failed: %s\n", r->failure);
    }
    free(r);
    return sig != 0 ? sig : tool_flush_stdout("ipcq-bench", rc);
}

int
main(int argc, char **argv)
{
    tool_signals_install();
    bench_opts o;
    int rc = bench_parse(argc, argv, &o);
    if (rc == BENCH_HELP)
        return tool_flush_stdout("ipcq-bench", TOOL_EXIT_OK);
    if (rc != BENCH_PARSED)
        return rc;
    if (o.scenario != BENCH_THROUGHPUT)
        return scale(&o);

    bench_result *r = malloc(sizeof *r); /* two histograms: too big for the stack */
    if (r == NULL) {
        fprintf(stderr, "ipcq-bench: out of memory\n");
        return TOOL_EXIT_ERROR;
    }
    rc = bench_run(&o, r);
    int sig = stopped();
    if (sig != 0) {
        free(r);
        return sig;
    }
    if (rc == TOOL_EXIT_OK || rc == TOOL_EXIT_CHECK) {
        if (o.json)
            bench_report_json(stdout, &o, r);
        else
            bench_report_text(stdout, &o, r);
        if (rc == TOOL_EXIT_CHECK)
            fprintf(stderr, "ipcq-bench: the check failed: items were lost, duplicated, "
                            "reordered or damaged, or a figure did not add up\n");
    }
    free(r);
    return tool_flush_stdout("ipcq-bench", rc);
}
