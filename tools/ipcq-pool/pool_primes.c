/*
 * ipcq-pool primes: the sum of the primes below L, computed by an ipcq_pool
 * of W worker processes, each task one chunk [lo, hi) of K numbers, and
 * checked against a single-process sieve.
 *
 * The tool starts one private broker (unless given --broker) that every
 * pool of the run uses, so that it can report the broker's pid with the
 * workers'. Each pool gets all chunks through ipcq_pool_apply_async(); the
 * callbacks add up the results while the tool polls the pool in slices of
 * TOOL_SLICE_MS, looking at the stop flag and at the worker list between
 * polls (a worker it has not seen yet is reported: the first ones, and the
 * replacement of one that died). With --kill-one, half of the chunks go in
 * first; once one of them is done a worker is SIGKILLed, and the rest
 * follow: the pool replaces the worker and does its task again. With
 * --compare, a fresh pool runs the same chunks for each worker count and a
 * table of wall times and speed-ups follows.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcq.h"
#include "le_bytes.h"
#include "pool_args.h"
#include "pool_modes.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"
#include "tool_progress.h"
#include "pool_sieve.h"

#define MAX_WORKERS 256
#define MAX_CHUNKS 1000000
#define TASK_BYTES 16 /* [lo:8][hi:8], little-endian */

typedef struct primes_opts {
    int64_t workers, limit, chunk;
    const char *method; /* "trial" or "sieve" */
    pool_list compare;
    const char *broker;
    bool kill_one;
} primes_opts;

/* One pool's run over every chunk. */
typedef struct primes_job {
    const primes_opts *o;
    const char *endpoint;
    uint64_t nchunks;
    uint64_t done, sum;
    int failed;                  /* the first task status that was not IPCQ_OK */
    pid_t seen[4 * MAX_WORKERS]; /* workers reported so far */
    size_t nseen;
    double secs;
} primes_job;

/* ---- the worker's side ---------------------------------------------------- */

/* The task function: the sum of the primes of one chunk, by the method
 * arg names. */
static int
sum_chunk(const void *task, size_t task_len, void **result, size_t *result_len, void *arg)
{
    uint64_t sum;
    if (task_len != TASK_BYTES)
        return 1;
    uint64_t lo = get_le(task, 8), hi = get_le((const unsigned char *)task + 8, 8);
    if (hi > POOL_SIEVE_MAX)
        return 1;
    if (strcmp(arg, "sieve") != 0)
        sum = pool_sum_primes_trial(lo, hi);
    else if (!pool_sum_primes_range(lo, hi, &sum))
        return 1;
    unsigned char *out = malloc(8);
    if (out == NULL)
        return 1;
    put_le(out, sum, 8);
    *result = out;
    *result_len = 8;
    return 0;
}

/* ---- the parent's side ---------------------------------------------------- */

static void
on_result(ipcq_status status, const void *result, size_t result_len, void *arg)
{
    primes_job *j = arg;
    j->done++;
    if (status == IPCQ_OK && result_len == 8)
        j->sum += get_le(result, 8);
    else if (j->failed == IPCQ_OK)
        j->failed = status == IPCQ_OK ? IPCQ_EPROTO : status;
}

/* Prints a line for each worker of the pool not reported yet. */
static void
report_workers(primes_job *j, ipcq_pool *p, tool_progress *progress)
{
    int pids[MAX_WORKERS];
    size_t n = ipcq_pool_workers(p, MAX_WORKERS, pids);
    for (size_t i = 0; i < n && i < MAX_WORKERS; i++) {
        bool known = false;
        for (size_t k = 0; k < j->nseen && !known; k++)
            known = j->seen[k] == pids[i];
        if (known || j->nseen == sizeof j->seen / sizeof j->seen[0])
            continue;
        tool_progress_end(progress);
        printf("worker %zu: pid %d, ppid %d\n", j->nseen, pids[i], (int)tool_parent_of(pids[i]));
        j->seen[j->nseen++] = pids[i];
    }
    fflush(stdout);
}

/* Polls the pool until done reaches want, a task fails or a stop signal
 * comes. */
static int
wait_for(primes_job *j, ipcq_pool *p, uint64_t want, tool_progress *progress)
{
    while (j->done < want && j->failed == IPCQ_OK && !tool_stop_signal()) {
        int rc = ipcq_pool_poll(p, TOOL_SLICE_MS);
        if (rc != IPCQ_OK)
            return rc;
        report_workers(j, p, progress);
        tool_progress_update(progress, j->done);
    }
    return j->failed;
}

static int
submit(primes_job *j, ipcq_pool *p, uint64_t from, uint64_t to)
{
    uint64_t limit = (uint64_t)j->o->limit, k = (uint64_t)j->o->chunk;
    for (uint64_t i = from; i < to && !tool_stop_signal(); i++) {
        unsigned char task[TASK_BYTES];
        put_le(task, i * k, 8);
        put_le(task + 8, (i + 1) * k < limit ? (i + 1) * k : limit, 8);
        int rc = ipcq_pool_apply_async(p, task, sizeof task, on_result, j, NULL);
        if (rc != IPCQ_OK)
            return rc;
    }
    return IPCQ_OK;
}

/* SIGKILLs a worker; 0 if there was none. */
static pid_t
kill_a_worker(primes_job *j, ipcq_pool *p, tool_progress *progress)
{
    int pid;
    if (ipcq_pool_workers(p, 1, &pid) == 0)
        return 0;
    kill(pid, SIGKILL);
    tool_progress_end(progress);
    printf("killed worker pid %d after %llu of %llu chunks\n", pid, (unsigned long long)j->done,
           (unsigned long long)j->nchunks);
    return pid;
}

/* Polls until the pool has reaped the killed worker and started another
 * (it does so while it is open), and reports the new one. */
static int
wait_for_replacement(primes_job *j, ipcq_pool *p, pid_t killed, tool_progress *progress)
{
    for (;;) {
        int pids[MAX_WORKERS];
        size_t n = ipcq_pool_workers(p, MAX_WORKERS, pids);
        bool there = false;
        for (size_t i = 0; i < n && i < MAX_WORKERS; i++)
            there = there || pids[i] == killed;
        if (!there || tool_stop_signal())
            return IPCQ_OK;
        int rc = ipcq_pool_poll(p, TOOL_SLICE_MS);
        if (rc != IPCQ_OK)
            return rc;
        report_workers(j, p, progress);
    }
}

/* Runs every chunk through the pool, then closes and joins it. */
static int
drive(primes_job *j, ipcq_pool *p)
{
    tool_progress progress;
    tool_progress_start(&progress, &pool_progress_style, "primes", "chunks", j->nchunks);
    report_workers(j, p, &progress);
    int64_t start = tool_now_ms();
    uint64_t first = j->o->kill_one ? (j->nchunks + 1) / 2 : j->nchunks;
    pid_t killed = 0;
    int rc = submit(j, p, 0, first);
    if (rc == IPCQ_OK && j->o->kill_one) {
        rc = wait_for(j, p, 1, &progress);
        if (rc == IPCQ_OK && !tool_stop_signal()) {
            killed = kill_a_worker(j, p, &progress);
            rc = submit(j, p, first, j->nchunks);
        }
    }
    if (rc == IPCQ_OK)
        rc = wait_for(j, p, j->nchunks, &progress);
    j->secs = (double)(tool_now_ms() - start) / 1000.0;
    if (rc == IPCQ_OK && killed > 0)
        rc = wait_for_replacement(j, p, killed, &progress);
    tool_progress_end(&progress);
    if (rc == IPCQ_OK && !tool_stop_signal())
        rc = ipcq_pool_close_submissions(p);
    while (rc == IPCQ_OK && !tool_stop_signal() &&
           (rc = ipcq_pool_join(p, TOOL_SLICE_MS)) == IPCQ_ETIMEDOUT)
        rc = IPCQ_OK;
    return rc;
}

/* One pool of workers over every chunk; the sum in j->sum. */
static int
run_pool(primes_job *j, int64_t workers)
{
    ipcq_pool *p;
    int rc = ipcq_pool_start(&p, j->endpoint, (int)workers, sum_chunk, (void *)j->o->method);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-pool: primes: starting a pool of %lld workers: %s\n",
                (long long)workers, ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    rc = drive(j, p);
    ipcq_pool_free(&p); /* terminates what is left after a signal or an error */
    if (tool_stop_signal())
        return 128 + tool_stop_signal();
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-pool: primes: %s\n", ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    return TOOL_EXIT_OK;
}

static int
check_sums(const primes_opts *o, const uint64_t *sums, int n, uint64_t want)
{
    int status = TOOL_EXIT_OK;
    for (int i = 0; i < n; i++) {
        if (sums[i] == want)
            continue;
        fprintf(stderr,
                "ipcq-pool: primes: %lld workers summed %llu, the single-process sieve %llu\n",
                (long long)o->compare.v[i], (unsigned long long)sums[i], (unsigned long long)want);
        status = TOOL_EXIT_CHECK;
    }
    if (status == TOOL_EXIT_OK)
        printf("checked: a single-process sieve gives %llu too\n", (unsigned long long)want);
    return status;
}

static void
print_table(const primes_opts *o, const double *secs, int n)
{
    printf("%8s %10s %9s\n", "workers", "time (s)", "speed-up");
    for (int i = 0; i < n; i++)
        printf("%8lld %10.3f %9.2f\n", (long long)o->compare.v[i], secs[i],
               secs[i] > 0 ? secs[0] / secs[i] : 0.0);
}

/* Asks the given broker for an answer before a pool is started on it. */
static int
ping(const char *endpoint)
{
    ipcq_client *c;
    int rc = ipcq_client_open(&c, endpoint);
    if (rc == IPCQ_OK)
        rc = ipcq_ping(c);
    if (rc != IPCQ_OK) {
        const char *detail = c ? ipcq_client_error(c) : "";
        if (detail[0] != '\0')
            fprintf(stderr, "ipcq-pool: primes: %s\n", detail);
        else
            fprintf(stderr, "ipcq-pool: primes: %s: %s\n", endpoint, ipcq_strerror(rc));
    }
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? TOOL_EXIT_OK : tool_exit_for(rc);
}

static bool
stop_requested(void)
{
    return tool_stop_signal() != 0;
}

static int
primes_run(primes_opts *o)
{
    ipcq_broker *broker = NULL;
    const char *endpoint = o->broker;
    if (endpoint == NULL) {
        int rc = ipcq_broker_start(&broker);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "ipcq-pool: primes: starting a private broker: %s\n",
                    ipcq_strerror(rc));
            return tool_exit_for(rc);
        }
        endpoint = ipcq_broker_endpoint(broker);
        printf("broker: pid %d, %s (private)\n", ipcq_broker_pid(broker), endpoint);
    } else {
        printf("broker: %s\n", endpoint);
        int rc = ping(endpoint);
        if (rc != TOOL_EXIT_OK)
            return rc;
    }
    uint64_t sums[POOL_LIST_MAX];
    double secs[POOL_LIST_MAX];
    int status = TOOL_EXIT_OK, n = 0;
    uint64_t nchunks = ((uint64_t)o->limit + (uint64_t)o->chunk - 1) / (uint64_t)o->chunk;
    for (; n < o->compare.n && status == TOOL_EXIT_OK; n++) {
        primes_job j = {.o = o, .endpoint = endpoint, .nchunks = nchunks};
        status = run_pool(&j, o->compare.v[n]);
        sums[n] = j.sum;
        secs[n] = j.secs;
        if (status == TOOL_EXIT_OK)
            printf("primes below %lld: %llu (workers %lld, %llu chunks of %lld by %s, %.3f s)\n",
                   (long long)o->limit, (unsigned long long)j.sum, (long long)o->compare.v[n],
                   (unsigned long long)nchunks, (long long)o->chunk, o->method, j.secs);
        fflush(stdout);
    }
    ipcq_broker_stop(&broker);
    if (status != TOOL_EXIT_OK)
        return status;
    if (o->compare.n > 1)
        print_table(o, secs, n);
    uint64_t want;
    if (!pool_sum_primes_below((uint64_t)o->limit, &want, stop_requested)) {
        if (tool_stop_signal())
            return 128 + tool_stop_signal();
        fprintf(stderr, "ipcq-pool: primes: out of memory for the check\n");
        return TOOL_EXIT_ERROR;
    }
    return check_sums(o, sums, n, want);
}

/* ---- options ------------------------------------------------------------- */

static const char primes_help[] =
    "Usage: ipcq-pool primes --workers W --limit L [--chunk K] [--method trial|sieve]\n"
    "                        [--compare W1,W2,...] [--broker EP] [--kill-one]\n\n"
    "Sums the primes below L with a process pool of W workers, one task per chunk\n"
    "of K numbers, prints the sum and checks it against a single-process sieve.\n\n"
    "  --workers W     worker processes (1 to 256)\n"
    "  --limit L       sum the primes below L (2 to 1000000000)\n"
    "  --chunk K       numbers per task (default: L / (32 x the most workers), rounded up)\n"
    "  --method M      how a worker finds the primes of its chunk: trial (default;\n"
    "                  trial division, the CPU-bound exercise of Python's pool\n"
    "                  examples) or sieve (a segmented sieve: far quicker, so the\n"
    "                  pool's own costs dominate)\n"
    "  --compare LIST  run a fresh pool for each worker count in LIST (such as 1,4,10;\n"
    "                  --workers is then not needed) and print wall times and speed-ups\n"
    "  --broker EP     use the broker at EP; default: start a private one for the run\n"
    "                  ($IPCQ_BROKER is not read)\n"
    "  --kill-one      SIGKILL one worker mid-run: the pool replaces it, its task is\n"
    "                  done again, and the sum must still be right\n";

static int
primes_main(int argc, char **argv)
{
    primes_opts o = {0};
    const pool_opt opts[] = {
        {"--workers", POOL_ARG_INT, false, 1, MAX_WORKERS, &o.workers},
        {"--limit", POOL_ARG_INT, true, 2, (int64_t)POOL_SIEVE_MAX, &o.limit},
        {"--chunk", POOL_ARG_INT, false, 1, (int64_t)POOL_SIEVE_MAX, &o.chunk},
        {"--method", POOL_ARG_STRING, false, 0, 0, &o.method},
        {"--compare", POOL_ARG_LIST, false, 1, MAX_WORKERS, &o.compare},
        {"--broker", POOL_ARG_STRING, false, 0, 0, &o.broker},
        {"--kill-one", POOL_ARG_FLAG, false, 0, 0, &o.kill_one},
    };
    int rc = pool_parse("primes", argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc == POOL_HELP) {
        printf("%s\n%s", primes_help, pool_exit_help);
        return TOOL_EXIT_OK; /* main() flushes stdout */
    }
    if (rc != POOL_PARSED)
        return rc;
    if (o.method == NULL)
        o.method = "trial";
    if (strcmp(o.method, "trial") != 0 && strcmp(o.method, "sieve") != 0)
        return tool_usage_error(&pool_usage, "primes", "--method wants trial or sieve, not '%s'",
                                o.method);
    if (o.compare.n == 0 && o.workers == 0)
        return tool_usage_error(&pool_usage, "primes", "missing --workers (or --compare)");
    if (o.compare.n == 0)
        o.compare = (pool_list){.v = {o.workers}, .n = 1};
    int64_t most = 1;
    for (int i = 0; i < o.compare.n; i++)
        most = o.compare.v[i] > most ? o.compare.v[i] : most;
    if (o.chunk == 0)
        o.chunk = (o.limit + most * 32 - 1) / (most * 32);
    if ((o.limit + o.chunk - 1) / o.chunk > MAX_CHUNKS)
        return tool_usage_error(&pool_usage, "primes", "--chunk %lld makes more than %d tasks",
                                (long long)o.chunk, MAX_CHUNKS);
    return primes_run(&o);
}

const pool_mode pool_primes_mode = {
    "primes",
    "primes --workers W --limit L [--chunk K] [--method trial|sieve]\n"
    "           [--compare W1,W2,...] [--broker EP] [--kill-one]",
    "sums primes with a process pool; checks the sum; compares worker counts",
    primes_main,
};
