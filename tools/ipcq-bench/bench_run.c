/* One ipcq-bench run, from start to result (see bench_run.h). */
#include "bench_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_broker.h"
#include "tool_item.h"
#include "bench_pidstat.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"
#include "bench_report.h"
#include "tool_progress.h"
#include "bench_queueset.h"
#include "bench_verify.h"
#include "bench_worker.h"
#include "ipcq.h"

#define STOP_GRACE_MS 2000 /* from SIGTERM to SIGKILL when stopping children */

typedef struct run {
    const bench_opts *o;
    bench_result *r;
    bench_broker broker;
    bool idle_created; /* the --idle-queues exist (and are deleted after) */
    char idle_prefix[64];
    ipcq_client *client;
    bench_shared *shared;
    char (*queues)[BENCH_QUEUE_NAME_MAX];
    pid_t *pids; /* producers first, then consumers; 0 once reaped */
    int nprocs;
    int ready[2], go[2];
    tool_progress progress;
} run;

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* "producer 2 (pid 1234)" */
static void
describe_child(const run *u, int i, char *buf, size_t cap)
{
    if (i < u->o->producers)
        snprintf(buf, cap, "producer %d (pid %d)", i, (int)u->pids[i]);
    else
        snprintf(buf, cap, "consumer %d (pid %d)", i - u->o->producers, (int)u->pids[i]);
}

/* Reports child i, which ended with status, and returns the run's exit
 * status for it. */
static int
child_failed(run *u, int i, int status)
{
    tool_progress_end(&u->progress);
    const bench_slot *slot = &u->shared->slots[i];
    char who[64];
    describe_child(u, i, who, sizeof who);
    if (slot->error[0] != '\0')
        fprintf(stderr, "ipcq-bench: %s: %s\n", who, slot->error);
    else if (status >= 128)
        fprintf(stderr, "ipcq-bench: %s was killed by signal %d\n", who, status - 128);
    else
        fprintf(stderr, "ipcq-bench: %s exited with status %d\n", who, status);
    return status > 0 && status < 128 && status != TOOL_EXIT_CHECK ? status : TOOL_EXIT_ERROR;
}

/* Reaps the children that ended. TOOL_EXIT_OK while all is well; else
 * the exit status of the run (a child failed). */
static int
reap_children(run *u, int *producers_left, int *consumers_left)
{
    for (int i = 0; i < u->nprocs; i++) {
        int status;
        if (u->pids[i] <= 0 || !tool_reap(u->pids[i], &status))
            continue;
        if (status != TOOL_EXIT_OK) {
            int rc = child_failed(u, i, status);
            u->pids[i] = 0;
            return rc;
        }
        u->pids[i] = 0;
        if (i < u->o->producers)
            (*producers_left)--;
        else
            (*consumers_left)--;
    }
    return TOOL_EXIT_OK;
}

static int
start_broker(run *u)
{
    /* A broker started here serves ipc://, as it did when docs/BENCHMARKS.md's
     * scale rows were measured; --broker picks any endpoint. */
    int rc = bench_broker_start(u->o, &u->broker, "ipc");
    snprintf(u->r->endpoint, sizeof u->r->endpoint, "%s", u->broker.endpoint);
    u->r->broker_kind = u->broker.kind;
    u->r->broker_pid = u->broker.pid;
    return rc;
}

/* Forks every child; each runs its body and exits with its status. */
static int
fork_children(run *u, const bench_ctx *ctx)
{
    for (int i = 0; i < u->nprocs; i++) {
        pid_t pid = tool_fork();
        if (pid < 0) {
            fprintf(stderr, "ipcq-bench: fork: %s\n", strerror(errno));
            return TOOL_EXIT_ERROR;
        }
        if (pid == 0) {
            close(u->ready[0]);
            close(u->go[1]);
            int code = i < u->o->producers ? bench_produce(ctx, i)
                                           : bench_consume(ctx, i - u->o->producers);
            exit(code); /* exit(), not _exit(): a sanitizer's leak check runs */
        }
        u->pids[i] = pid;
    }
    close_fd(&u->ready[1]);
    close_fd(&u->go[0]);
    return TOOL_EXIT_OK;
}

/* Waits until every child said ready. */
static int
wait_ready(run *u)
{
    int ready = 0, producers = u->o->producers, consumers = u->o->consumers;
    while (ready < u->nprocs) {
        if (tool_stop_signal() != 0)
            return 128 + tool_stop_signal();
        int rc = reap_children(u, &producers, &consumers);
        if (rc != TOOL_EXIT_OK)
            return rc;
        if (producers + consumers < u->nprocs) {
            fprintf(stderr, "ipcq-bench: a child ended before the run started\n");
            return TOOL_EXIT_ERROR;
        }
        struct pollfd pfd = {.fd = u->ready[0], .events = POLLIN};
        if (poll(&pfd, 1, TOOL_SLICE_MS) <= 0)
            continue;
        char buf[64];
        ssize_t n = read(u->ready[0], buf, sizeof buf);
        if (n > 0)
            ready += (int)n;
    }
    return TOOL_EXIT_OK;
}

/* The --idle-queues, before the run's own. */
static int
create_idle_queues(run *u)
{
    if (u->o->idle_queues == 0)
        return IPCQ_OK;
    char why[400];
    snprintf(u->idle_prefix, sizeof u->idle_prefix, "bench.%d.idle", (int)getpid());
    u->idle_created = true;
    int rc = bench_queueset_apply(u->r->endpoint, BENCH_WIRE_CREATE, u->idle_prefix,
                                  u->o->idle_queues, why, sizeof why);
    if (rc != IPCQ_OK)
        fprintf(stderr, "ipcq-bench: %s%s\n", why, bench_broker_limit_hint(&u->broker, rc));
    return rc;
}

static int
create_queues(run *u)
{
    int rc = create_idle_queues(u);
    if (rc == IPCQ_OK)
        rc = ipcq_client_open(&u->client, u->r->endpoint);
    for (int q = 0; rc == IPCQ_OK && q < u->o->queues; q++) {
        rc = ipcq_create(u->client, u->queues[q], u->o->maxsize);
        if (rc != IPCQ_OK)
            fprintf(stderr, "ipcq-bench: creating queue %s: %s%s\n", u->queues[q],
                    ipcq_client_error(u->client), bench_broker_limit_hint(&u->broker, rc));
    }
    if (rc != IPCQ_OK && u->client == NULL && u->o->idle_queues == 0)
        fprintf(stderr, "ipcq-bench: opening a client: %s\n", ipcq_strerror(rc));
    return rc == IPCQ_OK ? TOOL_EXIT_OK : tool_exit_for(rc);
}

/* One stop marker per consumer, into its queue, behind every item. */
static int
put_stop_markers(run *u)
{
    unsigned char marker[TOOL_ITEM_HEADER];
    tool_item_build(marker, sizeof marker, BENCH_STOP, 0);
    for (int j = 0; j < u->o->consumers; j++) {
        const char *q = u->queues[j % u->o->queues];
        int rc = ipcq_put(u->client, q, marker, sizeof marker, IPCQ_FOREVER);
        if (rc != IPCQ_OK) {
            tool_progress_end(&u->progress);
            fprintf(stderr, "ipcq-bench: putting a stop marker: %s\n",
                    ipcq_client_error(u->client));
            return tool_exit_for(rc);
        }
    }
    return TOOL_EXIT_OK;
}

static uint64_t
items_got(const run *u)
{
    uint64_t n = 0;
    for (int j = 0; j < u->o->consumers; j++)
        n += atomic_load_explicit(&bench_consumer_slot(u->shared, j)->progress,
                                  memory_order_relaxed);
    return n;
}

/* From the start until every consumer got its stop marker. */
static int
watch(run *u)
{
    int producers = u->o->producers, consumers = u->o->consumers;
    bool markers_sent = false;
    while (consumers > 0) {
        if (tool_stop_signal() != 0)
            return 128 + tool_stop_signal();
        int rc = reap_children(u, &producers, &consumers);
        if (rc != TOOL_EXIT_OK)
            return rc;
        if (producers == 0 && !markers_sent) {
            rc = put_stop_markers(u);
            if (rc != TOOL_EXIT_OK)
                return rc;
            markers_sent = true;
            continue;
        }
        tool_progress_update(&u->progress, items_got(u));
        tool_sleep_ms(producers == 0 ? 5 : 20);
    }
    tool_progress_end(&u->progress);
    return TOOL_EXIT_OK;
}

static int
execute(run *u)
{
    const bench_opts *o = u->o;
    bench_result *r = u->r;
    int rc = start_broker(u);
    if (rc != TOOL_EXIT_OK)
        return rc;
    u->nprocs = o->producers + o->consumers;
    u->queues = calloc((size_t)o->queues, sizeof *u->queues);
    u->pids = calloc((size_t)u->nprocs, sizeof *u->pids);
    u->shared = bench_shared_map(o->producers, o->consumers);
    if (u->queues == NULL || u->pids == NULL || u->shared == NULL ||
        pipe2(u->ready, O_CLOEXEC) != 0 || pipe2(u->go, O_CLOEXEC) != 0) {
        fprintf(stderr, "ipcq-bench: setting up the run: %s\n", strerror(errno));
        return TOOL_EXIT_ERROR;
    }
    for (int q = 0; q < o->queues; q++)
        snprintf(u->queues[q], BENCH_QUEUE_NAME_MAX, "bench.%d.%d", (int)getpid(), q);

    bench_ctx ctx = {.opts = o,
                     .endpoint = r->endpoint,
                     .queues = (const char(*)[BENCH_QUEUE_NAME_MAX])u->queues,
                     .shared = u->shared,
                     .ready_fd = u->ready[1],
                     .go_fd = u->go[0]};
    /* The tool's own client is opened after the fork: no child inherits it. */
    if ((rc = fork_children(u, &ctx)) != TOOL_EXIT_OK || (rc = wait_ready(u)) != TOOL_EXIT_OK ||
        (rc = create_queues(u)) != TOOL_EXIT_OK)
        return rc;

    double cpu_before = 0;
    r->cpu_known = r->broker_pid > 0 && bench_pid_cpu(r->broker_pid, &cpu_before);
    tool_progress_start(&u->progress, &bench_progress_style, bench_mode_name(o->mode), "items got",
                        (uint64_t)o->items);
    u->shared->start_ns = tool_now_ns();
    if (o->duration_ms > 0)
        u->shared->stop_ns = u->shared->start_ns + (uint64_t)o->duration_ms * 1000000u;
    close_fd(&u->go[1]); /* go */

    if ((rc = watch(u)) != TOOL_EXIT_OK)
        return rc;
    double cpu_after = 0;
    r->cpu_known = r->cpu_known && bench_pid_cpu(r->broker_pid, &cpu_after);
    r->broker_cpu_s = r->cpu_known ? cpu_after - cpu_before : 0;
    r->rss_known = r->broker_pid > 0 && bench_pid_peak_rss(r->broker_pid, &r->broker_rss_kib);
    bench_verify(o, u->shared, r);
    return r->verified && r->check_failed == NULL ? TOOL_EXIT_OK : TOOL_EXIT_CHECK;
}

/* Stops and reaps whatever is left, deletes the queues on a shared broker,
 * stops a private one. */
static void
clean_up(run *u)
{
    tool_progress_end(&u->progress);
    if (u->pids != NULL)
        tool_stop_children(u->pids, (size_t)u->nprocs, STOP_GRACE_MS);
    bool shared = !bench_broker_owned(&u->broker);
    if (u->client != NULL && shared)
        for (int q = 0; q < u->o->queues; q++)
            ipcq_delete(u->client, u->queues[q]);
    ipcq_client_close(&u->client);
    if (u->idle_created && shared) {
        char why[400];
        if (bench_queueset_apply(u->r->endpoint, BENCH_WIRE_DELETE, u->idle_prefix,
                                 u->o->idle_queues, why, sizeof why) != IPCQ_OK)
            fprintf(stderr, "ipcq-bench: %s\n", why);
    }
    bench_broker_stop(&u->broker);
    close_fd(&u->ready[0]);
    close_fd(&u->ready[1]);
    close_fd(&u->go[0]);
    close_fd(&u->go[1]);
    bench_shared_unmap(&u->shared);
    free(u->queues);
    free(u->pids);
}

int
bench_run(const bench_opts *o, bench_result *r)
{
    memset(r, 0, sizeof *r);
    bench_hist_init(&r->put_latency);
    bench_hist_init(&r->get_latency);
    run u = {.o = o, .r = r, .ready = {-1, -1}, .go = {-1, -1}};
    int rc = execute(&u);
    clean_up(&u);
    return rc;
}
