/* The process pool with real forked workers: apply, apply_async with a
 * callback in the parent, map in order, failing and poison tasks, a worker
 * killed mid-task, close/join/terminate, and a private broker. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 20000

/* The work: "sq N" -> decimal N*N; "sleep MS N" sleeps first; "fail"
 * reports failure; "poison" kills the worker that takes it. */
static int
work(const void *task, size_t len, void **result, size_t *result_len, void *arg)
{
    char text[64] = {0};
    memcpy(text, task, len < sizeof text - 1 ? len : sizeof text - 1);
    long ms = 0, n = 0;
    if (strcmp(text, "fail") == 0)
        return 1;
    if (strcmp(text, "poison") == 0)
        raise(SIGKILL);
    if (sscanf(text, "sleep %ld %ld", &ms, &n) == 2) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    } else if (sscanf(text, "sq %ld", &n) != 1) {
        return 2;
    }
    char *out = malloc(32);
    if (out == NULL)
        return 3;
    *result_len = (size_t)snprintf(out, 32, "%ld", n * n);
    *result = out;
    return 0;
}

static ipcq_pool *
pool_on(const test_broker *tb, int workers)
{
    ipcq_pool *p = NULL;
    int rc = ipcq_pool_start(&p, tb ? tb->endpoint : NULL, workers, work, NULL);
    if (rc != IPCQ_OK)
        fail_msg("ipcq_pool_start: %s", ipcq_strerror(rc));
    return p;
}

static void
expect_result(int rc, void *result, size_t len, const char *want)
{
    assert_int_equal(rc, IPCQ_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(result, want, len);
    ipcq_free(result);
}

static void
apply_returns_the_result(void **state)
{
    ipcq_pool *p = pool_on(*state, 2);
    void *r;
    size_t len;
    int rc = ipcq_pool_apply(p, "sq 12", 5, &r, &len, WAIT_MS);
    expect_result(rc, r, len, "144");
    assert_int_equal(ipcq_pool_workers(p, NULL, 0), 2);
    ipcq_pool_free(&p);
    assert_null(p);
}

typedef struct seen {
    int calls;
    pid_t in_pid;
    int status;
    char result[32];
} seen;

static void
record(int status, const void *result, size_t len, void *arg)
{
    seen *s = arg;
    s->calls++;
    s->in_pid = getpid();
    s->status = status;
    if (result != NULL)
        memcpy(s->result, result, len < 31 ? len : 31);
}

static void
apply_async_runs_its_callback_in_the_parent(void **state)
{
    ipcq_pool *p = pool_on(*state, 2);
    seen s = {0};
    ipcq_pool_task *h;
    assert_int_equal(ipcq_pool_apply_async(p, "sleep 50 7", 10, record, &s, &h), IPCQ_OK);
    assert_int_equal(s.calls, 0);
    assert_int_equal(ipcq_pool_task_wait(h, WAIT_MS), IPCQ_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.in_pid, getpid());
    assert_string_equal(s.result, "49");
    const void *r;
    size_t len;
    assert_int_equal(ipcq_pool_task_result(h, &r, &len), IPCQ_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(r, "49", 2);
    ipcq_pool_task_free(&h);
    /* Without a handle: the callback still runs, from join. */
    seen later = {0};
    assert_int_equal(ipcq_pool_apply_async(p, "sq 3", 4, record, &later, NULL), IPCQ_OK);
    assert_int_equal(ipcq_pool_close_submissions(p), IPCQ_OK);
    assert_int_equal(ipcq_pool_join(p, WAIT_MS), IPCQ_OK);
    assert_int_equal(later.calls, 1);
    assert_string_equal(later.result, "9");
    ipcq_pool_free(&p);
}

static void
async_wait_times_out_then_completes(void **state)
{
    ipcq_pool *p = pool_on(*state, 1);
    ipcq_pool_task *h;
    assert_int_equal(ipcq_pool_apply_async(p, "sleep 400 2", 11, NULL, NULL, &h), IPCQ_OK);
    int64_t t0 = now_ms();
    assert_int_equal(ipcq_pool_task_wait(h, 50), IPCQ_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 50);
    assert_int_equal(ipcq_pool_task_wait(h, WAIT_MS), IPCQ_OK);
    ipcq_pool_task_free(&h);
    /* A timeout of 0 still collects a result that has arrived. */
    assert_int_equal(ipcq_pool_apply_async(p, "sq 6", 4, NULL, NULL, &h), IPCQ_OK);
    int64_t deadline = now_ms() + WAIT_MS;
    int rc;
    while ((rc = ipcq_pool_task_wait(h, 0)) == IPCQ_ETIMEDOUT)
        assert_true(now_ms() < deadline);
    assert_int_equal(rc, IPCQ_OK);
    ipcq_pool_task_free(&h);
    ipcq_pool_free(&p);
}

static void
map_keeps_task_order(void **state)
{
    enum { N = 100 };
    ipcq_pool *p = pool_on(*state, 3);
    char text[N][16];
    const void *tasks[N];
    size_t lens[N], rlens[N];
    void *results[N];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)snprintf(text[i], sizeof text[i], "sq %d", i);
        tasks[i] = text[i];
    }
    assert_int_equal(ipcq_pool_map(p, N, tasks, lens, results, rlens, WAIT_MS), IPCQ_OK);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i * i);
        expect_result(IPCQ_OK, results[i], rlens[i], want);
    }
    ipcq_pool_free(&p);
}

static void
a_failing_task_gives_an_error_result(void **state)
{
    ipcq_pool *p = pool_on(*state, 2);
    void *r;
    size_t len;
    assert_int_equal(ipcq_pool_apply(p, "fail", 4, &r, &len, WAIT_MS), IPCQ_ETASK);
    assert_null(r);
    int rc = ipcq_pool_apply(p, "sq 5", 4, &r, &len, WAIT_MS);
    expect_result(rc, r, len, "25");
    ipcq_pool_free(&p);
}

static void
a_poison_task_fails_instead_of_killing_workers_for_ever(void **state)
{
    ipcq_pool *p = pool_on(*state, 2);
    void *r;
    size_t len;
    assert_int_equal(ipcq_pool_apply(p, "poison", 6, &r, &len, WAIT_MS), IPCQ_ETASK);
    /* The pool replaced the dead workers and goes on. */
    int rc = ipcq_pool_apply(p, "sq 4", 4, &r, &len, WAIT_MS);
    expect_result(rc, r, len, "16");
    assert_int_equal(ipcq_pool_workers(p, NULL, 0), 2);
    ipcq_pool_free(&p);
}

static void
a_poison_task_among_quick_ones_takes_no_other_task_down(void **state)
{
    /* Quick tasks travel to workers in batches: the poison's batch comes
     * back with it each time it kills a worker, and only the poison may
     * reach the delivery limit. */
    enum { N = 600, POISON = 400 };
    ipcq_pool *p = pool_on(*state, 2);
    static char text[N][16];
    const void *tasks[N];
    size_t lens[N], rlens[N];
    void *results[N];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)(i == POISON ? snprintf(text[i], sizeof text[i], "poison")
                                       : snprintf(text[i], sizeof text[i], "sq %d", i));
        tasks[i] = text[i];
    }
    assert_int_equal(ipcq_pool_map(p, N, tasks, lens, results, rlens, WAIT_MS), IPCQ_ETASK);
    for (int i = 0; i < N; i++) {
        if (i == POISON) {
            assert_null(results[i]);
            continue;
        }
        char want[16];
        snprintf(want, sizeof want, "%d", i * i);
        expect_result(IPCQ_OK, results[i], rlens[i], want);
    }
    ipcq_pool_free(&p);
}

static bool
pid_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void
the_pool_survives_kill_9_of_a_busy_worker(void **state)
{
    test_broker *tb = *state;
    ipcq_pool *p = pool_on(tb, 2);
    ipcq_client *c = client_on(tb);
    int before[2];
    assert_int_equal(ipcq_pool_workers(p, before, 2), 2);
    ipcq_pool_task *h[4];
    for (int i = 0; i < 4; i++) {
        char task[32];
        int n = snprintf(task, sizeof task, "sleep 300 %d", i + 1);
        assert_int_equal(ipcq_pool_apply_async(p, task, (size_t)n, NULL, NULL, &h[i]), IPCQ_OK);
    }
    /* Both workers hold a task on a lease: kill one of them. */
    char tasks_queue[128];
    ipcq_stats *s;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    tasks_queue[0] = '\0';
    for (size_t i = 0; i < ipcq_stats_count(s); i++) {
        const char *name = ipcq_stats_name(s, i);
        size_t n = strlen(name);
        if (n > 6 && strcmp(name + n - 6, ".tasks") == 0)
            snprintf(tasks_queue, sizeof tasks_queue, "%s", name);
    }
    ipcq_stats_free(&s);
    assert_true(tasks_queue[0] != '\0');
    wait_queue_field(c, tasks_queue, IPCQ_QUEUE_LEASED, 2, WAIT_MS);
    assert_int_equal(kill(before[0], SIGKILL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ipcq_pool_task_wait(h[i], WAIT_MS), IPCQ_OK);
        const void *r;
        size_t len;
        assert_int_equal(ipcq_pool_task_result(h[i], &r, &len), IPCQ_OK);
        char want[8];
        snprintf(want, sizeof want, "%d", (i + 1) * (i + 1));
        assert_int_equal(len, strlen(want));
        assert_memory_equal(r, want, len);
        ipcq_pool_task_free(&h[i]);
    }
    /* The dead worker was reaped and replaced. */
    int after[2];
    assert_int_equal(ipcq_pool_workers(p, after, 2), 2);
    assert_true(after[0] != before[0] && after[1] != before[0]);
    assert_true(pid_gone(before[0]));
    ipcq_client_close(&c);
    ipcq_pool_free(&p);
}

static void
close_and_join_reap_every_worker(void **state)
{
    ipcq_pool *p = pool_on(*state, 3);
    int pids[3];
    assert_int_equal(ipcq_pool_workers(p, pids, 3), 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ipcq_pool_apply_async(p, "sleep 20 1", 10, NULL, NULL, NULL), IPCQ_OK);
    assert_int_equal(ipcq_pool_join(p, 100), IPCQ_EINVAL); /* not closed yet */
    assert_int_equal(ipcq_pool_close_submissions(p), IPCQ_OK);
    assert_int_equal(ipcq_pool_apply_async(p, "sq 1", 4, NULL, NULL, NULL), IPCQ_ESHUTDOWN);
    assert_int_equal(ipcq_pool_join(p, WAIT_MS), IPCQ_OK);
    assert_int_equal(ipcq_pool_workers(p, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        assert_true(pid_gone(pids[i]));
    ipcq_pool_free(&p);
}

static void
terminate_stops_workers_and_fails_pending_tasks(void **state)
{
    ipcq_pool *p = pool_on(*state, 2);
    int pids[2];
    assert_int_equal(ipcq_pool_workers(p, pids, 2), 2);
    seen s = {0};
    ipcq_pool_task *h;
    assert_int_equal(ipcq_pool_apply_async(p, "sleep 10000 1", 13, record, &s, &h), IPCQ_OK);
    assert_int_equal(ipcq_pool_terminate(p), IPCQ_OK);
    assert_int_equal(ipcq_pool_task_wait(h, 0), IPCQ_ESHUTDOWN);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, IPCQ_ESHUTDOWN);
    for (int i = 0; i < 2; i++)
        assert_true(pid_gone(pids[i]));
    ipcq_pool_task_free(&h);
    ipcq_pool_free(&p);
}

static void
a_pool_without_a_broker_starts_its_own(void **state)
{
    ipcq_pool *p = pool_on(NULL, 2);
    void *r;
    size_t len;
    int rc = ipcq_pool_apply(p, "sq 9", 4, &r, &len, WAIT_MS);
    expect_result(rc, r, len, "81");
    ipcq_pool_free(&p);
}

static void
reap_all(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void
join_survives_a_caller_that_reaps_every_child(void **state)
{
    struct sigaction sa = {.sa_handler = reap_all}, old;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
    ipcq_pool *p = pool_on(*state, 2);
    void *r;
    size_t len;
    int rc = ipcq_pool_apply(p, "sq 7", 4, &r, &len, WAIT_MS);
    expect_result(rc, r, len, "49");
    assert_int_equal(ipcq_pool_close_submissions(p), IPCQ_OK);
    assert_int_equal(ipcq_pool_join(p, WAIT_MS), IPCQ_OK);
    assert_int_equal(ipcq_pool_workers(p, NULL, 0), 0);
    ipcq_pool_free(&p);
    sigaction(SIGCHLD, &old, NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(apply_returns_the_result),
        T(apply_async_runs_its_callback_in_the_parent),
        T(async_wait_times_out_then_completes),
        T(map_keeps_task_order),
        T(a_failing_task_gives_an_error_result),
        T(a_poison_task_fails_instead_of_killing_workers_for_ever),
        T(a_poison_task_among_quick_ones_takes_no_other_task_down),
        T(the_pool_survives_kill_9_of_a_busy_worker),
        T(close_and_join_reap_every_worker),
        T(terminate_stops_workers_and_fails_pending_tasks),
        cmocka_unit_test(a_pool_without_a_broker_starts_its_own),
        T(join_survives_a_caller_that_reaps_every_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
