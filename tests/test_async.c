/* Async puts: a window of puts in flight, answered in order, with failures
 * reported by flush or by the next call, and nothing lost on close or fork. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 10000

static void
expect_sequence(ipcq_client *c, const char *queue, int n)
{
    for (int i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        expect_get(c, queue, want, IPCQ_NOWAIT);
    }
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, queue, &data, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
}

static void
put_numbers(ipcq_client *c, const char *queue, int n)
{
    for (int i = 0; i < n; i++) {
        char item[16];
        int len = snprintf(item, sizeof item, "%d", i);
        assert_ipcq_ok(c, ipcq_put_async(c, queue, item, (size_t)len));
    }
}

static void
async_puts_arrive_in_order_after_flush(void **state)
{
    ipcq_client *c = client_on(*state);
    put_numbers(c, "stream", 2000); /* several windows' worth */
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    assert_int_equal(queue_field(c, "stream", IPCQ_QUEUE_SIZE), 2000);
    expect_sequence(c, "stream", 2000);
    ipcq_client_close(&c);
}

static void
a_failed_async_put_is_reported_by_flush(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "closed", 0));
    assert_ipcq_ok(c, ipcq_shutdown(c, "closed", false));
    assert_ipcq_ok(c, ipcq_put_async(c, "closed", "x", 1));
    assert_ipcq_status(c, ipcq_flush(c, WAIT_MS), IPCQ_ESHUTDOWN);
    assert_string_equal(ipcq_client_error(c), "closed: queue is shut down");
    /* Reported once. */
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    ipcq_client_close(&c);
}

static void
a_failed_async_put_is_reported_by_the_next_call(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "closed", 0));
    assert_ipcq_ok(c, ipcq_shutdown(c, "closed", false));
    assert_ipcq_ok(c, ipcq_put_async(c, "closed", "x", 1));
    /* The broker answers the put before this ping: the answer is settled
     * while the ping waits, and the call after reports it. */
    assert_ipcq_ok(c, ipcq_ping(c));
    assert_ipcq_status(c, ipcq_ping(c), IPCQ_ESHUTDOWN);
    assert_ipcq_ok(c, ipcq_ping(c));
    ipcq_client_close(&c);
}

static void
flush_times_out_while_puts_wait_for_room_and_loses_none(void **state)
{
    ipcq_client *c = client_on(*state), *reader = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "narrow", 1));
    assert_ipcq_ok(c, ipcq_set_put_window(c, 8));
    put_numbers(c, "narrow", 3); /* 0 fits; 1 and 2 wait in the broker */
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_flush(c, 100), IPCQ_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 100);
    wait_queue_field(reader, "narrow", IPCQ_QUEUE_PUTTERS, 2, WAIT_MS);
    for (int i = 0; i < 3; i++) {
        char want[4];
        snprintf(want, sizeof want, "%d", i);
        expect_get(reader, "narrow", want, WAIT_MS);
    }
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    assert_ipcq_status(c, ipcq_set_put_window(c, 0), IPCQ_EINVAL);
    ipcq_client_close(&reader);
    ipcq_client_close(&c);
}

static void
close_flushes_what_is_in_flight(void **state)
{
    ipcq_client *c = client_on(*state);
    put_numbers(c, "closing", 100);
    ipcq_client_close(&c);
    ipcq_client *reader = client_on(*state);
    expect_sequence(reader, "closing", 100);
    ipcq_client_close(&reader);
}

static void
a_lone_async_put_leaves_at_once(void **state)
{
    ipcq_client *c = client_on(*state), *watcher = client_on(*state);
    assert_ipcq_ok(c, ipcq_put_async(c, "lone", "x", 1));
    /* No flush and no other call: the item must not wait in the library. */
    wait_queue_field(watcher, "lone", IPCQ_QUEUE_SIZE, 1, WAIT_MS);
    ipcq_client_close(&watcher);
    ipcq_client_close(&c);
}

static void
a_call_after_async_puts_sees_them_all(void **state)
{
    ipcq_client *c = client_on(*state);
    put_numbers(c, "seen", 1000);
    /* qsize travels behind every put made before it, sent or batched. */
    size_t n = 0;
    assert_ipcq_ok(c, ipcq_qsize(c, "seen", &n));
    assert_int_equal(n, 1000);
    expect_sequence(c, "seen", 1000);
    ipcq_client_close(&c);
}

static void
async_batches_enter_a_bounded_queue_one_item_at_a_time(void **state)
{
    ipcq_client *c = client_on(*state), *reader = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "small", 3));
    put_numbers(c, "small", 200); /* batches far larger than maxsize 3 */
    for (int i = 0; i < 200; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        expect_get(reader, "small", want, WAIT_MS);
        size_t size = 0;
        assert_ipcq_ok(reader, ipcq_qsize(reader, "small", &size));
        assert_true(size <= 3);
    }
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    ipcq_client_close(&reader);
    ipcq_client_close(&c);
}

typedef struct child_args {
    ipcq_client *inherited;
} child_args;

static int
child_put_async(void *arg)
{
    child_args *a = arg;
    for (int i = 0; i < 50; i++)
        if (ipcq_put_async(a->inherited, "from-child", "c", 1) != IPCQ_OK)
            return 1;
    return ipcq_flush(a->inherited, WAIT_MS) == IPCQ_OK ? 0 : 2;
}

static void
a_forked_child_has_its_own_window(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "parent", 1));
    put_numbers(c, "parent", 2); /* one waits for room in the broker */
    child_args a = {c};
    pid_t child = fork_child(child_put_async, &a);
    assert_int_equal(reap_child(child, WAIT_MS), 0);
    assert_int_equal(queue_field(c, "from-child", IPCQ_QUEUE_SIZE), 50);
    /* The parent's own put in flight is still the parent's. */
    expect_get(c, "parent", "0", IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    expect_get(c, "parent", "1", IPCQ_NOWAIT);
    ipcq_client_close(&c);
}

enum { STREAM = 20000 };

/* Child: prefetching consumer; exits 0 if it got 0..STREAM-1 in order. */
static int
child_consume_stream(void *arg)
{
    const test_broker *tb = arg;
    ipcq_client *c = client_on(tb);
    if (ipcq_set_prefetch(c, 1000, 60000) != IPCQ_OK)
        return 1;
    for (int i = 0; i < STREAM; i++) {
        void *data;
        size_t len;
        char want[16];
        int n = snprintf(want, sizeof want, "%d", i);
        if (ipcq_get(c, "wide", &data, &len, WAIT_MS) != IPCQ_OK)
            return 2;
        int same = len == (size_t)n && memcmp(data, want, len) == 0;
        ipcq_free(data);
        if (!same)
            return 3;
    }
    ipcq_client_close(&c);
    return 0;
}

static void
a_wide_window_is_not_mistaken_for_a_dead_client(void **state)
{
    ipcq_client *c = client_on(*state);
    ipcq_stats *s;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    int64_t unroutable0 = ipcq_stats_broker(s, IPCQ_BROKER_STAT_UNROUTABLE);
    ipcq_stats_free(&s);
    /* Thousands of answers pile up for a producer that is busy sending:
     * more than libzmq's default high-water mark of 1000. */
    assert_ipcq_ok(c, ipcq_set_put_window(c, 5000));
    pid_t consumer = fork_child(child_consume_stream, *state);
    put_numbers(c, "wide", STREAM);
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    assert_int_equal(reap_child(consumer, WAIT_MS * 3), 0);
    assert_int_equal(queue_field(c, "wide", IPCQ_QUEUE_PUTS), STREAM);
    assert_int_equal(queue_field(c, "wide", IPCQ_QUEUE_GETS), STREAM);
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    assert_int_equal(ipcq_stats_broker(s, IPCQ_BROKER_STAT_UNROUTABLE), unroutable0);
    ipcq_stats_free(&s);
    assert_ipcq_status(c, ipcq_set_put_window(c, 65537), IPCQ_EINVAL);
    ipcq_client_close(&c);
}

static void
flush_learns_that_a_restarted_broker_lost_its_puts(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_create(c, "lost", 1));
    put_numbers(c, "lost", 3); /* two wait for room in this broker */
    wait_queue_field(c, "lost", IPCQ_QUEUE_PUTTERS, 2, WAIT_MS);
    test_broker_kill(tb);
    test_broker_restart(tb);
    /* The new broker never heard of them: flush says so, not for ever. */
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_flush(c, IPCQ_FOREVER), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < WAIT_MS);
    assert_ipcq_ok(c, ipcq_ping(c)); /* and the handle works on */
    ipcq_client_close(&c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(async_puts_arrive_in_order_after_flush),
        T(a_failed_async_put_is_reported_by_flush),
        T(a_failed_async_put_is_reported_by_the_next_call),
        T(flush_times_out_while_puts_wait_for_room_and_loses_none),
        T(close_flushes_what_is_in_flight),
        T(a_lone_async_put_leaves_at_once),
        T(a_call_after_async_puts_sees_them_all),
        T(async_batches_enter_a_bounded_queue_one_item_at_a_time),
        T(a_forked_child_has_its_own_window),
        T(a_wide_window_is_not_mistaken_for_a_dead_client),
        T(flush_learns_that_a_restarted_broker_lost_its_puts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
