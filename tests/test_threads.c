/* One handle shared by many threads (D8): each thread's call is
 * independent of the others', leases taken in one thread may be settled in
 * another, and nothing is lost or reordered per producer when threads put
 * and get at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define WAIT_MS 10000

/* Runs fn(arg) in a thread and fails the test if it has not returned
 * within timeout_ms: a call that deadlocks on the shared handle fails here
 * instead of hanging the suite. */
static void
run_within(void *(*fn)(void *), void *arg, int64_t timeout_ms)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += timeout_ms / 1000;
    at.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (at.tv_nsec >= 1000000000) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000;
    }
    if (pthread_timedjoin_np(t, NULL, &at) != 0)
        fail_msg("a call on the shared handle did not return within %lld ms",
                 (long long)timeout_ms);
}

typedef struct blocked_get {
    ipcq_client *c;
    const char *queue;
    int rc;
    char got[32];
} blocked_get;

static void *
get_forever(void *arg)
{
    blocked_get *g = arg;
    void *data;
    size_t len;
    g->rc = ipcq_get(g->c, g->queue, &data, &len, IPCQ_FOREVER);
    if (g->rc == IPCQ_OK) {
        memcpy(g->got, data, len < sizeof g->got - 1 ? len : sizeof g->got - 1);
        ipcq_free(data);
    }
    return NULL;
}

typedef struct round_trip {
    ipcq_client *c;
    int put_rc, get_rc;
} round_trip;

static void *
put_then_get(void *arg)
{
    round_trip *t = arg;
    void *data;
    size_t len;
    t->put_rc = ipcq_put(t->c, "threads.other", "x", 1, 2000);
    t->get_rc = ipcq_get(t->c, "threads.other", &data, &len, 2000);
    if (t->get_rc == IPCQ_OK)
        ipcq_free(data);
    return NULL;
}

static void
blocked_get_does_not_hold_up_another_threads_calls(void **state)
{
    ipcq_client *c = client_on(*state);
    ipcq_client *observer = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "threads.wait", 0));
    blocked_get g = {c, "threads.wait", -1, {0}};
    pthread_t getter;
    assert_int_equal(pthread_create(&getter, NULL, get_forever, &g), 0);
    wait_queue_field(observer, "threads.wait", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);

    /* The getter's thread is blocked in the broker: this one's put and get
     * on the same handle go through at once. */
    round_trip t = {c, -1, -1};
    run_within(put_then_get, &t, WAIT_MS);
    assert_int_equal(t.put_rc, IPCQ_OK);
    assert_int_equal(t.get_rc, IPCQ_OK);

    put_text(c, "threads.wait", "for the getter");
    assert_int_equal(pthread_join(getter, NULL), 0);
    assert_int_equal(g.rc, IPCQ_OK);
    assert_string_equal(g.got, "for the getter");
    ipcq_client_close(&observer);
    ipcq_client_close(&c);
}

typedef struct leaser {
    ipcq_client *c;
    uint64_t lease;
    int rc;
} leaser;

static void *
take_lease(void *arg)
{
    leaser *l = arg;
    void *data;
    size_t len;
    l->rc = ipcq_get_leased(l->c, "threads.leased", 60000, &data, &len, &l->lease, NULL, WAIT_MS);
    if (l->rc == IPCQ_OK)
        ipcq_free(data);
    return NULL;
}

/* Takes a lease in a thread of its own, which then ends. */
static uint64_t
lease_in_other_thread(ipcq_client *c)
{
    leaser l = {c, 0, -1};
    run_within(take_lease, &l, WAIT_MS);
    assert_int_equal(l.rc, IPCQ_OK);
    return l.lease;
}

static void
lease_taken_in_one_thread_is_settled_in_another(void **state)
{
    ipcq_client *c = client_on(*state);
    ipcq_client *stranger = client_on(*state);
    for (int i = 0; i < 4; i++)
        put_text(c, "threads.leased", "job");

    uint64_t a = lease_in_other_thread(c);
    assert_ipcq_ok(c, ipcq_extend(c, a, 30000));
    assert_ipcq_ok(c, ipcq_ack(c, a));
    assert_int_equal(queue_field(c, "threads.leased", IPCQ_QUEUE_SIZE), 3);

    uint64_t b = lease_in_other_thread(c);
    /* Another handle holds no lease of this one. */
    assert_ipcq_status(stranger, ipcq_ack(stranger, b), IPCQ_ELEASE);
    assert_ipcq_ok(c, ipcq_release(c, b));
    assert_int_equal(queue_field(c, "threads.leased", IPCQ_QUEUE_SIZE), 3);
    assert_int_equal(queue_field(c, "threads.leased", IPCQ_QUEUE_LEASED), 0);

    /* ack_many over leases of two threads and of this one. */
    uint64_t many[3] = {lease_in_other_thread(c), lease_in_other_thread(c), 0};
    void *data;
    size_t len;
    assert_ipcq_ok(
        c, ipcq_get_leased(c, "threads.leased", 60000, &data, &len, &many[2], NULL, IPCQ_NOWAIT));
    ipcq_free(data);
    assert_ipcq_ok(c, ipcq_ack_many(c, 3, many));
    assert_int_equal(queue_field(c, "threads.leased", IPCQ_QUEUE_SIZE), 0);
    assert_int_equal(queue_field(c, "threads.leased", IPCQ_QUEUE_LEASED), 0);
    ipcq_client_close(&stranger);
    ipcq_client_close(&c);
}

enum { PRODUCERS = 4, CONSUMERS = 4, PER_PRODUCER = 400 };

typedef struct crowd {
    ipcq_client *c;
    atomic_int seen[PRODUCERS][PER_PRODUCER];
    atomic_int taken;
    atomic_int failures;
} crowd;

typedef struct worker {
    crowd *cr;
    int index;
} worker;

static void *
produce(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        char item[32];
        int n = snprintf(item, sizeof item, "%d:%d", w->index, i);
        /* Half the producers put one at a time, half asynchronously. */
        int rc = w->index % 2 ? ipcq_put(w->cr->c, "threads.crowd", item, (size_t)n, WAIT_MS)
                              : ipcq_put_async(w->cr->c, "threads.crowd", item, (size_t)n);
        if (rc != IPCQ_OK)
            atomic_fetch_add(&w->cr->failures, 1);
    }
    if (ipcq_flush(w->cr->c, WAIT_MS) != IPCQ_OK)
        atomic_fetch_add(&w->cr->failures, 1);
    return NULL;
}

static void *
consume(void *arg)
{
    worker *w = arg;
    int last[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++)
        last[p] = -1;
    while (atomic_fetch_add(&w->cr->taken, 1) < PRODUCERS * PER_PRODUCER) {
        void *data;
        size_t len;
        if (ipcq_get(w->cr->c, "threads.crowd", &data, &len, WAIT_MS) != IPCQ_OK) {
            atomic_fetch_add(&w->cr->failures, 1);
            return NULL;
        }
        char text[32] = {0};
        memcpy(text, data, len < sizeof text - 1 ? len : sizeof text - 1);
        ipcq_free(data);
        int p = -1, i = -1;
        if (sscanf(text, "%d:%d", &p, &i) != 2 || p < 0 || p >= PRODUCERS || i < 0 ||
            i >= PER_PRODUCER || i <= last[p]) { /* unknown, or out of its producer's order */
            atomic_fetch_add(&w->cr->failures, 1);
            continue;
        }
        last[p] = i;
        atomic_fetch_add(&w->cr->seen[p][i], 1);
    }
    return NULL;
}

static void
threads_put_and_get_on_one_handle_lose_nothing(void **state)
{
    crowd *cr = calloc(1, sizeof *cr);
    assert_non_null(cr);
    cr->c = client_on(*state);
    assert_ipcq_ok(cr->c, ipcq_create(cr->c, "threads.crowd", 64)); /* puts block at times */
    pthread_t threads[PRODUCERS + CONSUMERS];
    worker workers[PRODUCERS + CONSUMERS];
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
        workers[i] = (worker){cr, i < PRODUCERS ? i : i - PRODUCERS};
        assert_int_equal(
            pthread_create(&threads[i], NULL, i < PRODUCERS ? produce : consume, &workers[i]), 0);
    }
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(atomic_load(&cr->failures), 0);
    for (int p = 0; p < PRODUCERS; p++)
        for (int i = 0; i < PER_PRODUCER; i++)
            assert_int_equal(atomic_load(&cr->seen[p][i]), 1); /* exactly once */
    assert_int_equal(queue_field(cr->c, "threads.crowd", IPCQ_QUEUE_SIZE), 0);
    ipcq_client_close(&cr->c);
    free(cr);
}

typedef struct error_text {
    ipcq_client *c;
    int rc;
    char text[256];
} error_text;

static void *
get_from_empty(void *arg)
{
    error_text *e = arg;
    void *data;
    size_t len;
    e->rc = ipcq_get(e->c, "threads.empty", &data, &len, IPCQ_NOWAIT);
    snprintf(e->text, sizeof e->text, "%s", ipcq_client_error(e->c));
    return NULL;
}

static void
each_thread_reads_its_own_error_text(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "threads.empty", 0));
    assert_int_equal(ipcq_put(c, "", "x", 1, IPCQ_NOWAIT), IPCQ_EINVAL);
    error_text e = {c, -1, {0}};
    run_within(get_from_empty, &e, WAIT_MS);
    assert_int_equal(e.rc, IPCQ_EMPTY);
    assert_non_null(strstr(e.text, "threads.empty"));
    /* This thread's text is still about its own call. */
    assert_non_null(strstr(ipcq_client_error(c), "invalid queue name"));
    ipcq_client_close(&c);
}

typedef struct pinger {
    ipcq_client *c;
    int rc;
} pinger;

static void *
ping_once(void *arg)
{
    pinger *p = arg;
    p->rc = ipcq_ping(p->c);
    return NULL;
}

/* cmocka's asserts work only in the test's own thread: this one checks. */
static void
ping_in_a_thread(ipcq_client *c)
{
    pinger p = {c, -1};
    run_within(ping_once, &p, WAIT_MS);
    assert_int_equal(p.rc, IPCQ_OK);
}

static void
threads_that_end_pass_their_connection_on(void **state)
{
    const test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_ping(c));
    ping_in_a_thread(c);
    int fds = proc_fd_count(tb->pid);
    /* Twenty threads, one after another: each adopts the connection the
     * one before it left, so the broker sees no new connections. */
    for (int i = 0; i < 20; i++)
        ping_in_a_thread(c);
    assert_int_equal(proc_fd_count(tb->pid), fds);
    ipcq_client_close(&c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(blocked_get_does_not_hold_up_another_threads_calls),
        T(lease_taken_in_one_thread_is_settled_in_another),
        T(threads_put_and_get_on_one_handle_lose_nothing),
        T(each_thread_reads_its_own_error_text),
        T(threads_that_end_pass_their_connection_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
