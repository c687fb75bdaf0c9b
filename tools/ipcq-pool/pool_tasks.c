/*
 * ipcq-pool tasks: how many tiny tasks per second an ipcq_pool of W workers
 * completes, measured as tools/ipcq-bench/peers/peers.py measures
 * multiprocessing.Pool.apply_async: rounds of --window tasks submitted
 * with ipcq_pool_apply_async(), each waited for, for --seconds. Each task
 * returns its own 8-byte argument, and each result is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcq.h"
#include "le_bytes.h"
#include "pool_args.h"
#include "pool_modes.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define MAX_WORKERS 256
#define MAX_WINDOW 100000

typedef struct tasks_opts {
    int64_t workers, window, seconds_x1000;
    const char *broker;
    bool json;
} tasks_opts;

typedef struct tasks_round {
    uint64_t first, done;
    bool wrong; /* a result that was not its task's argument */
    int failed; /* the first task status that was not IPCQ_OK */
} tasks_round;

/* The task: hands its argument back. */
static int
echo_task(const void *task, size_t task_len, void **result, size_t *result_len, void *arg)
{
    if ((*result = malloc(task_len ? task_len : 1)) == NULL)
        return 1;
    memcpy(*result, task, task_len);
    *result_len = task_len;
    return 0;
}

typedef struct task_ref {
    tasks_round *round;
    uint64_t n;
} task_ref;

static void
on_result(ipcq_status status, const void *result, size_t result_len, void *arg)
{
    task_ref *t = arg;
    t->round->done++;
    if (status != IPCQ_OK && t->round->failed == IPCQ_OK)
        t->round->failed = status;
    else if (status == IPCQ_OK && (result_len != 8 || get_le(result, 8) != t->n))
        t->round->wrong = true;
}

/* One round: window tasks in, every result back. */
static int
run_round(ipcq_pool *p, tasks_round *r, task_ref *refs, int64_t window)
{
    r->done = 0;
    for (int64_t i = 0; i < window; i++) {
        refs[i] = (task_ref){r, r->first + (uint64_t)i};
        unsigned char task[8];
        put_le(task, refs[i].n, 8);
        int rc = ipcq_pool_apply_async(p, task, sizeof task, on_result, &refs[i], NULL);
        if (rc != IPCQ_OK)
            return rc;
    }
    while (r->done < (uint64_t)window && !tool_stop_signal()) {
        int rc = ipcq_pool_poll(p, TOOL_SLICE_MS);
        if (rc != IPCQ_OK)
            return rc;
    }
    r->first += (uint64_t)window;
    return r->failed;
}

static int
tasks_run(const tasks_opts *o)
{
    ipcq_pool *p;
    int rc = ipcq_pool_start(&p, o->broker, (int)o->workers, echo_task, NULL);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-pool: tasks: starting a pool of %lld workers: %s\n",
                (long long)o->workers, ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    task_ref *refs = calloc((size_t)o->window, sizeof *refs);
    tasks_round r = {0};
    rc = refs ? IPCQ_OK : IPCQ_ENOMEM;
    /* One task first, so that every worker has started, as peers.py does. */
    if (rc == IPCQ_OK)
        rc = run_round(p, &r, refs, 1);
    int64_t start = tool_now_ms(), stop = start + o->seconds_x1000;
    uint64_t tasks = 0;
    while (rc == IPCQ_OK && !r.wrong && !tool_stop_signal() && tool_now_ms() < stop) {
        rc = run_round(p, &r, refs, o->window);
        tasks += rc == IPCQ_OK ? (uint64_t)o->window : 0;
    }
    double secs = (double)(tool_now_ms() - start) / 1000.0;
    ipcq_pool_free(&p);
    free(refs);
    if (tool_stop_signal())
        return 128 + tool_stop_signal();
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-pool: tasks: %s\n", ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    if (r.wrong) {
        fprintf(stderr, "ipcq-pool: tasks: a task returned the wrong result\n");
        return TOOL_EXIT_CHECK;
    }
    double rate = secs > 0 ? (double)tasks / secs : 0.0;
    if (o->json)
        printf("{\"peer\": \"ipcq\", \"mode\": \"pool apply_async, %lld workers\", "
               "\"items_per_s\": %.1f, \"unit\": \"tasks/s\", \"items\": %llu, "
               "\"seconds\": %.3f, \"workers\": %lld, \"window\": %lld}\n",
               (long long)o->workers, rate, (unsigned long long)tasks, secs, (long long)o->workers,
               (long long)o->window);
    else
        printf("tasks: %llu in %.3f s: %.0f tasks/s (%lld workers, rounds of %lld)\n",
               (unsigned long long)tasks, secs, rate, (long long)o->workers, (long long)o->window);
    return TOOL_EXIT_OK;
}

static const char tasks_help[] =
    "Usage: ipcq-pool tasks [--workers W] [--window N] [--seconds S] [--broker EP] [--json]\n\n"
    "Measures tiny tasks per second through a process pool of W workers, as\n"
    "tools/ipcq-bench/peers/peers.py measures multiprocessing.Pool.apply_async:\n"
    "rounds of N tasks, each returning its argument, every result waited for and\n"
    "checked.\n\n"
    "  --workers W     worker processes (default 2, at most 256)\n"
    "  --window N      tasks per round (default 1000)\n"
    "  --seconds S     how long to run, in whole seconds (default 3)\n"
    "  --broker EP     use the broker at EP; default: the pool starts a private one\n"
    "  --json          print the result as one JSON object\n";

static int
tasks_main(int argc, char **argv)
{
    int64_t seconds = 3;
    tasks_opts o = {.workers = 2, .window = 1000};
    const pool_opt opts[] = {
        {"--workers", POOL_ARG_INT, false, 1, MAX_WORKERS, &o.workers},
        {"--window", POOL_ARG_INT, false, 1, MAX_WINDOW, &o.window},
        {"--seconds", POOL_ARG_INT, false, 1, 3600, &seconds},
        {"--broker", POOL_ARG_STRING, false, 0, 0, &o.broker},
        {"--json", POOL_ARG_FLAG, false, 0, 0, &o.json},
    };
    int rc = pool_parse("tasks", argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc == POOL_HELP) {
        printf("%s\n%s", tasks_help, pool_exit_help);
        return TOOL_EXIT_OK;
    }
    if (rc != POOL_PARSED)
        return rc;
    o.seconds_x1000 = seconds * 1000;
    return tasks_run(&o);
}

const pool_mode pool_tasks_mode = {
    "tasks",
    "tasks [--workers W] [--window N] [--seconds S] [--broker EP] [--json]",
    "tiny tasks per second through a process pool (as Pool.apply_async)",
    tasks_main,
};
