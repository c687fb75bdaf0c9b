/* Delivery guarantees with real processes: a handle inherited through
 * fork() (D4), clients killed while blocked (D3) or while holding an item
 * they never confirmed (D1). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 10000

typedef struct child_args {
    const test_broker *tb;
    ipcq_client *inherited;
    const char *queue;
    int index;
} child_args;

/* Child: puts "child-N" through the handle inherited from the parent, then
 * leaves with exit() (not _exit), without closing the handle. */
static int
child_put_inherited(void *arg)
{
    child_args *a = arg;
    char item[32];
    snprintf(item, sizeof item, "child-%d", a->index);
    int rc = ipcq_put(a->inherited, a->queue, item, strlen(item), 5000);
    exit(rc == IPCQ_OK ? 0 : 100 + rc);
}

static void
forked_children_use_the_inherited_handle(void **state)
{
    ipcq_client *c = client_on(*state);
    /* The parent's connection is live before the fork. */
    assert_ipcq_ok(c, ipcq_put(c, "forked", "parent-before", 13, IPCQ_FOREVER));
    enum { CHILDREN = 8 };
    child_args args[CHILDREN];
    pid_t pids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        args[i] = (child_args){*state, c, "forked", i};
        pids[i] = fork_child(child_put_inherited, &args[i]);
    }
    for (int i = 0; i < CHILDREN; i++)
        assert_int_equal(reap_child(pids[i], WAIT_MS), 0);

    bool seen[CHILDREN] = {false};
    void *data;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, "forked", &data, &len, IPCQ_NOWAIT));
    assert_memory_equal(data, "parent-before", len);
    ipcq_free(data);
    for (int i = 0; i < CHILDREN; i++) {
        assert_ipcq_ok(c, ipcq_get(c, "forked", &data, &len, IPCQ_NOWAIT));
        int n = -1;
        char text[32] = {0};
        memcpy(text, data, len < 31 ? len : 31);
        assert_int_equal(sscanf(text, "child-%d", &n), 1);
        assert_true(n >= 0 && n < CHILDREN && !seen[n]);
        seen[n] = true;
        ipcq_free(data);
    }
    /* The parent goes on with the same handle. */
    assert_ipcq_ok(c, ipcq_put(c, "forked", "parent-after", 12, IPCQ_FOREVER));
    assert_ipcq_ok(c, ipcq_get(c, "forked", &data, &len, IPCQ_NOWAIT));
    assert_memory_equal(data, "parent-after", len);
    ipcq_free(data);
    ipcq_client_close(&c);
}

static void
getter_killed_while_blocked_never_swallows_a_later_item(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "victim", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {*state, "victim", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "victim", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    kill_child(getter);
    /* Put at once, before the broker may have noticed the death. */
    assert_ipcq_ok(c, ipcq_put(c, "victim", "after-death", 11, IPCQ_FOREVER));
    expect_get(c, "victim", "after-death", WAIT_MS);
    wait_queue_field(c, "victim", IPCQ_QUEUE_GETTERS, 0, WAIT_MS);
    assert_int_equal(queue_field(c, "victim", IPCQ_QUEUE_LEASED), 0);
    ipcq_client_close(&c);
}

static void
dead_getter_is_forgotten_promptly(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "forgotten", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {*state, "forgotten", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "forgotten", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    kill_child(getter);
    int64_t t0 = now_ms();
    wait_queue_field(c, "forgotten", IPCQ_QUEUE_GETTERS, 0, WAIT_MS);
    print_message("dead getter forgotten after %lld ms\n", (long long)(now_ms() - t0));
    assert_ipcq_ok(c, ipcq_put(c, "forgotten", "kept", 4, IPCQ_FOREVER));
    assert_int_equal(queue_field(c, "forgotten", IPCQ_QUEUE_SIZE), 1);
    ipcq_client_close(&c);
}

/* Child: blocks in put forever on a full queue. */
static int
child_put_forever(void *arg)
{
    child_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    int rc = ipcq_put(c, a->queue, "from-the-dead", 13, IPCQ_FOREVER);
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? 0 : 100 + rc;
}

static void
putter_killed_while_blocked_never_adds(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "tight", 1));
    assert_ipcq_ok(c, ipcq_put(c, "tight", "first", 5, IPCQ_NOWAIT));
    child_args a = {*state, NULL, "tight", 0};
    pid_t putter = fork_child(child_put_forever, &a);
    wait_queue_field(c, "tight", IPCQ_QUEUE_PUTTERS, 1, WAIT_MS);
    kill_child(putter);
    wait_queue_field(c, "tight", IPCQ_QUEUE_PUTTERS, 0, WAIT_MS);
    expect_get(c, "tight", "first", IPCQ_NOWAIT);
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "tight", &data, &len, 100), IPCQ_EMPTY);
    assert_int_equal(queue_field(c, "tight", IPCQ_QUEUE_PUTS), 1);
    ipcq_client_close(&c);
}

static void
client_killed_holding_an_unconfirmed_item_does_not_lose_it(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "held", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {*state, "held", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "held", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    /* Stopped, the child cannot confirm what the broker hands it. */
    assert_int_equal(kill(getter, SIGSTOP), 0);
    assert_ipcq_ok(c, ipcq_put(c, "held", "precious", 8, IPCQ_FOREVER));
    wait_queue_field(c, "held", IPCQ_QUEUE_LEASED, 1, WAIT_MS);
    assert_int_equal(queue_field(c, "held", IPCQ_QUEUE_SIZE), 0);
    kill_child(getter);
    /* The item returns to the head of the queue for a live getter. */
    expect_get(c, "held", "precious", WAIT_MS);
    assert_int_equal(queue_field(c, "held", IPCQ_QUEUE_LEASED), 0);
    ipcq_client_close(&c);
}

static void
returned_item_goes_back_to_the_head(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "order", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {*state, "order", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "order", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    assert_int_equal(kill(getter, SIGSTOP), 0);
    assert_ipcq_ok(c, ipcq_put(c, "order", "one", 3, IPCQ_FOREVER));
    assert_ipcq_ok(c, ipcq_put(c, "order", "two", 3, IPCQ_FOREVER));
    wait_queue_field(c, "order", IPCQ_QUEUE_LEASED, 1, WAIT_MS);
    kill_child(getter);
    wait_queue_field(c, "order", IPCQ_QUEUE_SIZE, 2, WAIT_MS);
    expect_get(c, "order", "one", IPCQ_NOWAIT);
    expect_get(c, "order", "two", IPCQ_NOWAIT);
    ipcq_client_close(&c);
}

static void
late_reply_with_an_item_goes_back_to_the_queue(void **state)
{
    test_broker *tb = *state;
    ipcq_client *late = client_on(tb), *other = client_on(tb);
    assert_ipcq_ok(other, ipcq_put(other, "late", "x", 1, IPCQ_NOWAIT));
    assert_ipcq_ok(late, ipcq_ping(late)); /* connected */
    /* A frozen broker answers nothing: the get gives up client-side. */
    assert_int_equal(kill(tb->pid, SIGSTOP), 0);
    void *data;
    size_t len;
    assert_ipcq_status(late, ipcq_get(late, "late", &data, &len, 100), IPCQ_EUNAVAILABLE);
    assert_int_equal(kill(tb->pid, SIGCONT), 0);
    /* On resume the broker serves the stale get; its reply reaches a handle
     * that no longer waits for it, which hands the item back. */
    assert_ipcq_ok(late, ipcq_ping(late));
    wait_queue_field(other, "late", IPCQ_QUEUE_SIZE, 1, WAIT_MS);
    expect_get(other, "late", "x", IPCQ_NOWAIT);
    ipcq_client_close(&late);
    ipcq_client_close(&other);
}

static void
get_abandoned_by_its_client_never_consumes_a_later_item(void **state)
{
    test_broker *tb = *state;
    ipcq_client *quitter = client_on(tb), *other = client_on(tb);
    assert_ipcq_ok(quitter, ipcq_create(quitter, "abandoned", 0));
    assert_int_equal(kill(tb->pid, SIGSTOP), 0);
    void *data;
    size_t len;
    assert_ipcq_status(quitter, ipcq_get(quitter, "abandoned", &data, &len, 5000),
                       IPCQ_EUNAVAILABLE);
    assert_int_equal(kill(tb->pid, SIGCONT), 0);
    /* A round trip on the same connection: the broker has now read the get
     * and then its cancel, in order. No getter is left. */
    assert_ipcq_ok(quitter, ipcq_ping(quitter));
    assert_int_equal(queue_field(other, "abandoned", IPCQ_QUEUE_GETTERS), 0);
    assert_ipcq_ok(other, ipcq_put(other, "abandoned", "kept", 4, IPCQ_NOWAIT));
    assert_int_equal(queue_field(other, "abandoned", IPCQ_QUEUE_SIZE), 1);
    expect_get(other, "abandoned", "kept", IPCQ_NOWAIT);
    ipcq_client_close(&quitter);
    ipcq_client_close(&other);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(forked_children_use_the_inherited_handle),
        T(getter_killed_while_blocked_never_swallows_a_later_item),
        T(dead_getter_is_forgotten_promptly),
        T(putter_killed_while_blocked_never_adds),
        T(client_killed_holding_an_unconfirmed_item_does_not_lose_it),
        T(returned_item_goes_back_to_the_head),
        T(late_reply_with_an_item_goes_back_to_the_queue),
        T(get_abandoned_by_its_client_never_consumes_a_later_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
