/* Consumer prefetch: FIFO through the local buffer, and nothing lost when
 * the holder closes, turns to another queue, or is killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 10000

static void
put_numbers(ipcq_client *c, const char *queue, int from, int to)
{
    for (int i = from; i < to; i++) {
        char item[16];
        snprintf(item, sizeof item, "%d", i);
        put_text(c, queue, item);
    }
}

static void
expect_numbers(ipcq_client *c, const char *queue, int from, int to, int64_t timeout_ms)
{
    for (int i = from; i < to; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        expect_get(c, queue, want, timeout_ms);
    }
}

static void
prefetched_items_come_out_in_order(void **state)
{
    ipcq_client *c = client_on(*state), *watcher = client_on(*state);
    put_numbers(c, "pf", 0, 25);
    assert_ipcq_ok(c, ipcq_set_prefetch(c, 10, 60000));
    expect_numbers(c, "pf", 0, 1, IPCQ_NOWAIT);
    /* Ten taken in one request, one handed over and confirmed. */
    wait_queue_field(watcher, "pf", IPCQ_QUEUE_LEASED, 9, WAIT_MS);
    assert_int_equal(queue_field(watcher, "pf", IPCQ_QUEUE_SIZE), 15);
    expect_numbers(c, "pf", 1, 25, IPCQ_NOWAIT);
    wait_queue_field(watcher, "pf", IPCQ_QUEUE_LEASED, 0, WAIT_MS);
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "pf", &data, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
    assert_ipcq_status(c, ipcq_set_prefetch(c, 10, 0), IPCQ_EINVAL);
    ipcq_client_close(&watcher);
    ipcq_client_close(&c);
}

static void
close_and_a_new_queue_hand_buffered_items_back(void **state)
{
    ipcq_client *c = client_on(*state), *other = client_on(*state);
    put_numbers(c, "a", 0, 5);
    put_numbers(c, "b", 0, 1);
    assert_ipcq_ok(c, ipcq_set_prefetch(c, 10, 60000));
    expect_numbers(c, "a", 0, 1, IPCQ_NOWAIT);
    expect_numbers(c, "b", 0, 1, IPCQ_NOWAIT); /* "a"'s four go back */
    wait_queue_field(other, "a", IPCQ_QUEUE_SIZE, 4, WAIT_MS);
    expect_numbers(c, "a", 1, 2, IPCQ_NOWAIT);
    ipcq_client_close(&c); /* the three still buffered go back */
    wait_queue_field(other, "a", IPCQ_QUEUE_SIZE, 3, WAIT_MS);
    expect_numbers(other, "a", 2, 5, IPCQ_NOWAIT);
    ipcq_client_close(&other);
}

typedef struct child_args {
    const test_broker *tb;
    int ready_fd;
} child_args;

/* Child: prefetches, takes one item, says so, then waits to be killed. */
static int
child_prefetch_then_hang(void *arg)
{
    child_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    void *data;
    size_t len;
    if (ipcq_set_prefetch(c, 10, 60000) != IPCQ_OK ||
        ipcq_get(c, "held", &data, &len, WAIT_MS) != IPCQ_OK)
        return 1;
    ipcq_free(data);
    /* The confirm of item 0 is one-way: a round trip after it makes sure the
     * broker has it before the test kills us. */
    if (ipcq_ping(c) != IPCQ_OK)
        return 4;
    char byte = 'x';
    if (write(a->ready_fd, &byte, 1) != 1)
        return 2;
    pause();
    return 3;
}

static void
a_killed_holder_of_prefetched_items_loses_none(void **state)
{
    ipcq_client *c = client_on(*state);
    put_numbers(c, "held", 0, 5);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    child_args a = {*state, ready[1]};
    pid_t child = fork_child(child_prefetch_then_hang, &a);
    char byte;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    kill_child(child);
    /* Item 0 was handed over and confirmed; 1-4 return to the head. */
    wait_queue_field(c, "held", IPCQ_QUEUE_SIZE, 4, WAIT_MS);
    expect_numbers(c, "held", 1, 5, IPCQ_NOWAIT);
    close(ready[0]);
    close(ready[1]);
    ipcq_client_close(&c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(prefetched_items_come_out_in_order),
        T(close_and_a_new_queue_hand_buffered_items_back),
        T(a_killed_holder_of_prefetched_items_loses_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
