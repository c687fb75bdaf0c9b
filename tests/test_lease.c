/* Leases and dead letters (D2, D6) with real processes: ack, release,
 * extend, expiry, a worker killed or stopped while it holds an item, and a
 * poison item that kills every worker that takes it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 10000

/* Takes one item on a lease and checks its bytes and delivery count. */
static uint64_t
lease_expect(ipcq_client *c, const char *queue, int64_t lease_ms, const char *want,
             uint32_t want_deliveries, int64_t timeout_ms)
{
    void *data;
    size_t len;
    uint64_t lease;
    uint32_t deliveries;
    assert_ipcq_ok(
        c, ipcq_get_leased(c, queue, lease_ms, &data, &len, &lease, &deliveries, timeout_ms));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    assert_int_equal(deliveries, want_deliveries);
    assert_true(lease != 0);
    ipcq_free(data);
    return lease;
}

static void
ack_removes_the_item_for_good(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "work", "job");
    uint64_t lease = lease_expect(c, "work", 60000, "job", 1, IPCQ_NOWAIT);
    assert_int_equal(queue_field(c, "work", IPCQ_QUEUE_LEASED), 1);
    assert_int_equal(queue_field(c, "work", IPCQ_QUEUE_SIZE), 0);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    assert_int_equal(queue_field(c, "work", IPCQ_QUEUE_LEASED), 0);
    /* A second ack is refused, never counted twice. */
    assert_ipcq_status(c, ipcq_ack(c, lease), IPCQ_ELEASE);
    assert_ipcq_status(c, ipcq_release(c, lease), IPCQ_ELEASE);
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "work", &data, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
    ipcq_client_close(&c);
}

static void
many_leases_in_one_request_and_one_ack(void **state)
{
    ipcq_client *c = client_on(*state);
    const char *jobs[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        put_text(c, "many", jobs[i]);
    void *items[4];
    size_t lens[4], got = 0;
    uint64_t leases[4];
    assert_ipcq_ok(
        c, ipcq_get_leased_many(c, "many", 60000, 4, items, lens, leases, &got, IPCQ_NOWAIT));
    assert_int_equal(got, 4);
    for (size_t i = 0; i < got; i++) {
        assert_int_equal(lens[i], 1);
        assert_memory_equal(items[i], jobs[i], 1);
        ipcq_free(items[i]);
    }
    assert_int_equal(queue_field(c, "many", IPCQ_QUEUE_LEASED), 4);
    assert_int_equal(queue_field(c, "many", IPCQ_QUEUE_SIZE), 1);
    /* One of them goes back first: the ack counts it as not held, and acks
     * the other three all the same. */
    assert_ipcq_ok(c, ipcq_release(c, leases[1]));
    assert_ipcq_status(c, ipcq_ack_many(c, got, leases), IPCQ_ELEASE);
    assert_string_equal(ipcq_client_error(c),
                        "1 of 4 leases not held: they expired, or were acked or released");
    assert_int_equal(queue_field(c, "many", IPCQ_QUEUE_LEASED), 0);
    expect_get(c, "many", "b", IPCQ_NOWAIT);
    expect_get(c, "many", "e", IPCQ_NOWAIT);
    assert_ipcq_status(c, ipcq_ack_many(c, 0, leases), IPCQ_EINVAL);
    assert_ipcq_status(c, ipcq_get_leased_many(c, "many", 0, 4, items, lens, leases, &got, 0),
                       IPCQ_EINVAL);
    ipcq_client_close(&c);
}

static void
release_puts_the_item_back_at_the_head(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "back", "first");
    put_text(c, "back", "second");
    uint64_t lease = lease_expect(c, "back", 60000, "first", 1, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_release(c, lease));
    assert_ipcq_status(c, ipcq_ack(c, lease), IPCQ_ELEASE);
    lease = lease_expect(c, "back", 60000, "first", 2, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    lease = lease_expect(c, "back", 60000, "second", 1, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    ipcq_client_close(&c);
}

static void
an_expired_lease_returns_the_item_and_refuses_the_late_ack(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "expiry", "slow");
    int64_t t0 = now_ms();
    uint64_t first = lease_expect(c, "expiry", 200, "slow", 1, IPCQ_NOWAIT);
    /* Back at the head after the lease, and handed out again. */
    uint64_t second = lease_expect(c, "expiry", 60000, "slow", 2, WAIT_MS);
    assert_true(now_ms() - t0 >= 200);
    assert_ipcq_status(c, ipcq_ack(c, first), IPCQ_ELEASE);
    assert_non_null(strstr(ipcq_client_error(c), "not held"));
    assert_int_equal(queue_field(c, "expiry", IPCQ_QUEUE_LEASED), 1);
    assert_ipcq_ok(c, ipcq_ack(c, second));
    assert_int_equal(queue_field(c, "expiry", IPCQ_QUEUE_GETS), 2);
    ipcq_client_close(&c);
}

static void
extend_keeps_the_item_while_the_work_goes_on(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "long", "task");
    uint64_t lease = lease_expect(c, "long", 150, "task", 1, IPCQ_NOWAIT);
    int64_t until = now_ms() + 600;
    while (now_ms() < until) {
        assert_ipcq_ok(c, ipcq_extend(c, lease, 150));
        assert_int_equal(queue_field(c, "long", IPCQ_QUEUE_SIZE), 0);
        assert_int_equal(queue_field(c, "long", IPCQ_QUEUE_LEASED), 1);
    }
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    assert_ipcq_status(c, ipcq_extend(c, lease, 150), IPCQ_ELEASE);
    assert_ipcq_status(c, ipcq_extend(c, lease, 0), IPCQ_EINVAL);
    ipcq_client_close(&c);
}

static void
lease_of_zero_or_less_is_invalid(void **state)
{
    ipcq_client *c = client_on(*state);
    void *data;
    size_t len;
    uint64_t lease = 7;
    assert_ipcq_status(c, ipcq_get_leased(c, "q", 0, &data, &len, &lease, NULL, IPCQ_NOWAIT),
                       IPCQ_EINVAL);
    assert_int_equal(lease, 0);
    assert_ipcq_status(c, ipcq_get_leased(c, "q", -5, &data, &len, &lease, NULL, IPCQ_NOWAIT),
                       IPCQ_EINVAL);
    ipcq_client_close(&c);
}

typedef struct worker_args {
    const test_broker *tb;
    const char *queue;
    int64_t lease_ms;
    int ready_fd; /* the worker writes one byte once it holds the item */
    int go_fd;    /* then reads one byte before it acks */
} worker_args;

/* Worker: takes an item on a lease, says so, waits for the word, acks;
 * exits 0 on a good ack, 100 + status otherwise. */
static int
worker_take_then_ack(void *arg)
{
    worker_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    void *data;
    size_t len;
    uint64_t lease;
    int rc = ipcq_get_leased(c, a->queue, a->lease_ms, &data, &len, &lease, NULL, WAIT_MS);
    if (rc != IPCQ_OK)
        return 100 + rc;
    ipcq_free(data);
    char byte = 'x';
    if (write(a->ready_fd, &byte, 1) != 1 || read(a->go_fd, &byte, 1) != 1)
        return 99;
    rc = ipcq_ack(c, lease);
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? 0 : 100 + rc;
}

static void
wait_byte(int fd)
{
    char byte;
    assert_int_equal(read(fd, &byte, 1), 1);
}

static void
a_worker_killed_holding_a_lease_loses_nothing(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "jobs", "survives");
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    worker_args a = {*state, "jobs", 60000, ready[1], go[0]};
    pid_t worker = fork_child(worker_take_then_ack, &a);
    wait_byte(ready[0]);
    kill_child(worker);
    /* Another worker gets it, long before the 60 s lease would end. */
    uint64_t lease = lease_expect(c, "jobs", 60000, "survives", 2, WAIT_MS);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    for (int i = 0; i < 2; i++)
        close(ready[i]), close(go[i]);
    ipcq_client_close(&c);
}

static void
a_worker_stopped_past_its_lease_has_its_late_ack_refused(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "stalled", "redo");
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    worker_args a = {*state, "stalled", 300, ready[1], go[0]};
    pid_t worker = fork_child(worker_take_then_ack, &a);
    wait_byte(ready[0]);
    assert_int_equal(kill(worker, SIGSTOP), 0);
    /* The lease runs out while the worker is stopped: redelivered. */
    uint64_t lease = lease_expect(c, "stalled", 60000, "redo", 2, WAIT_MS);
    assert_int_equal(kill(worker, SIGCONT), 0);
    char byte = 'g';
    assert_int_equal(write(go[1], &byte, 1), 1);
    assert_int_equal(reap_child(worker, WAIT_MS), 100 + IPCQ_ELEASE);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    assert_int_equal(queue_field(c, "stalled", IPCQ_QUEUE_GETS), 2);
    assert_int_equal(queue_field(c, "stalled", IPCQ_QUEUE_LEASED), 0);
    assert_int_equal(queue_field(c, "stalled", IPCQ_QUEUE_SIZE), 0);
    for (int i = 0; i < 2; i++)
        close(ready[i]), close(go[i]);
    ipcq_client_close(&c);
}

/* Worker: takes the item on a lease, then dies of it. */
static int
worker_poisoned(void *arg)
{
    worker_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    void *data;
    size_t len;
    uint64_t lease;
    if (ipcq_get_leased(c, a->queue, a->lease_ms, &data, &len, &lease, NULL, WAIT_MS) != IPCQ_OK)
        return 1;
    raise(SIGKILL);
    return 2;
}

static void
a_poison_item_ends_in_the_dead_letter_queue(void **state)
{
    ipcq_client *c = client_on(*state);
    /* Alone in its queue, so that each worker blocks until the broker has
     * taken the item back from the one before. */
    put_text(c, "poison", "kills");
    assert_ipcq_ok(c, ipcq_set_max_deliveries(c, "poison", 3));
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_MAX_DELIVERIES), 3);
    worker_args a = {*state, "poison", 60000, -1, -1};
    for (int i = 0; i < 3; i++) {
        pid_t worker = fork_child(worker_poisoned, &a);
        assert_int_equal(reap_child(worker, WAIT_MS), 128 + SIGKILL);
    }
    wait_queue_field(c, "poison.dlq", IPCQ_QUEUE_SIZE, 1, WAIT_MS);
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_DEAD_LETTERED), 1);
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_SIZE), 0);
    /* The dead letter counts as done in its queue: join does not wait on it. */
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_UNFINISHED), 0);
    assert_ipcq_ok(c, ipcq_join(c, "poison", IPCQ_NOWAIT));
    put_text(c, "poison", "fine");
    uint64_t lease = lease_expect(c, "poison", 60000, "fine", 1, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    /* In the dead-letter queue it keeps its count, and is not limited. */
    lease = lease_expect(c, "poison.dlq", 60000, "kills", 4, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    assert_int_equal(queue_field(c, "poison.dlq", IPCQ_QUEUE_MAX_DELIVERIES), 0);
    ipcq_client_close(&c);
}

static void
shut_down_getters_wait_for_items_out_on_a_lease(void **state)
{
    ipcq_client *c = client_on(*state);
    put_text(c, "ending", "one");
    put_text(c, "ending", "two");
    uint64_t one = lease_expect(c, "ending", 60000, "one", 1, IPCQ_NOWAIT);
    uint64_t two = lease_expect(c, "ending", 60000, "two", 1, IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_shutdown(c, "ending", false));
    /* Empty, but two items may still come back: a getter waits. */
    getter_args a = {*state, "ending", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "ending", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    assert_ipcq_ok(c, ipcq_release(c, one));
    assert_int_equal(reap_child(getter, WAIT_MS), 0);
    /* The last lease is acked: nothing can come back, getters fail. */
    getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "ending", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    assert_ipcq_ok(c, ipcq_ack(c, two));
    assert_int_equal(reap_child(getter, WAIT_MS), 100 + IPCQ_ESHUTDOWN);
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "ending", &data, &len, IPCQ_FOREVER), IPCQ_ESHUTDOWN);
    ipcq_client_close(&c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(ack_removes_the_item_for_good),
        T(many_leases_in_one_request_and_one_ack),
        T(release_puts_the_item_back_at_the_head),
        T(an_expired_lease_returns_the_item_and_refuses_the_late_ack),
        T(extend_keeps_the_item_while_the_work_goes_on),
        T(lease_of_zero_or_less_is_invalid),
        T(a_worker_killed_holding_a_lease_loses_nothing),
        T(a_worker_stopped_past_its_lease_has_its_late_ack_refused),
        T(a_poison_item_ends_in_the_dead_letter_queue),
        T(shut_down_getters_wait_for_items_out_on_a_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
