/* Batches: ipcq_put_many is accepted all together or not at all;
 * ipcq_get_many blocks only for the first item and keeps FIFO order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define WAIT_MS 10000

static void
put_batch(ipcq_client *c, const char *queue, int first, int n, int expect, int64_t timeout_ms)
{
    char text[64][16];
    const void *items[64];
    size_t lens[64];
    for (int i = 0; i < n; i++) {
        lens[i] = (size_t)snprintf(text[i], sizeof text[i], "%d", first + i);
        items[i] = text[i];
    }
    assert_ipcq_status(c, ipcq_put_many(c, queue, (size_t)n, items, lens, timeout_ms), expect);
}

/* Gets up to max and checks they are first, first+1, ... */
static size_t
get_batch(ipcq_client *c, const char *queue, size_t max, int first, int64_t timeout_ms)
{
    void *items[64];
    size_t lens[64], got = 99;
    assert_ipcq_ok(c, ipcq_get_many(c, queue, max, items, lens, &got, timeout_ms));
    assert_true(got >= 1 && got <= max);
    for (size_t i = 0; i < got; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", first + (int)i);
        assert_int_equal(lens[i], strlen(want));
        assert_memory_equal(items[i], want, lens[i]);
        ipcq_free(items[i]);
    }
    return got;
}

static void
batches_keep_fifo_order(void **state)
{
    ipcq_client *c = client_on(*state);
    put_batch(c, "b", 0, 5, IPCQ_OK, IPCQ_NOWAIT);
    put_batch(c, "b", 5, 3, IPCQ_OK, IPCQ_NOWAIT);
    assert_int_equal(queue_field(c, "b", IPCQ_QUEUE_SIZE), 8);
    assert_int_equal(queue_field(c, "b", IPCQ_QUEUE_UNFINISHED), 8);
    assert_int_equal(get_batch(c, "b", 3, 0, IPCQ_NOWAIT), 3);
    assert_int_equal(get_batch(c, "b", 10, 3, IPCQ_NOWAIT), 5);
    void *items[4];
    size_t lens[4], got = 7;
    assert_ipcq_status(c, ipcq_get_many(c, "b", 4, items, lens, &got, IPCQ_NOWAIT), IPCQ_EMPTY);
    assert_int_equal(got, 0);
    assert_ipcq_status(c, ipcq_get_many(c, "b", 0, items, lens, &got, IPCQ_NOWAIT), IPCQ_EINVAL);
    ipcq_client_close(&c);
}

static void
a_batch_waits_for_room_for_all_of_it(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "room", 3));
    put_batch(c, "room", 0, 2, IPCQ_OK, IPCQ_NOWAIT);
    /* Room for one, not two: nothing of it goes in. */
    put_batch(c, "room", 2, 2, IPCQ_FULL, IPCQ_NOWAIT);
    put_batch(c, "room", 2, 2, IPCQ_FULL, 100);
    assert_int_equal(queue_field(c, "room", IPCQ_QUEUE_SIZE), 2);
    /* More than maxsize can never fit. */
    put_batch(c, "room", 2, 4, IPCQ_EINVAL, IPCQ_NOWAIT);
    assert_int_equal(get_batch(c, "room", 1, 0, IPCQ_NOWAIT), 1);
    put_batch(c, "room", 2, 2, IPCQ_OK, IPCQ_NOWAIT);
    assert_int_equal(get_batch(c, "room", 10, 1, IPCQ_NOWAIT), 3);
    ipcq_client_close(&c);
}

typedef struct child_args {
    const test_broker *tb;
} child_args;

/* Child: get_many(10) forever; exits with the number of items it got. */
static int
child_get_many(void *arg)
{
    child_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    void *items[10];
    size_t lens[10], got = 0;
    int rc = ipcq_get_many(c, "first", 10, items, lens, &got, IPCQ_FOREVER);
    for (size_t i = 0; i < got; i++)
        ipcq_free(items[i]);
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? (int)got : 100 + rc;
}

static void
get_many_blocks_only_for_the_first_item(void **state)
{
    ipcq_client *c = client_on(*state);
    assert_ipcq_ok(c, ipcq_create(c, "first", 0)); /* a get waits, creating nothing (Q2) */
    child_args a = {*state};
    pid_t getter = fork_child(child_get_many, &a);
    wait_queue_field(c, "first", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    put_batch(c, "first", 0, 1, IPCQ_OK, IPCQ_NOWAIT);
    assert_int_equal(reap_child(getter, WAIT_MS), 1);
    ipcq_client_close(&c);
}

static void
a_batch_reply_is_capped_at_one_items_worth_of_bytes(void **state)
{
    test_broker tb;
    test_broker_start(&tb, "--max-item-size", "1024", NULL);
    ipcq_client *c = client_on(&tb);
    static char big[600];
    const void *items[] = {big, big, big};
    size_t lens[] = {600, 600, 600};
    assert_ipcq_ok(c, ipcq_put_many(c, "capped", 3, items, lens, IPCQ_NOWAIT));
    void *got_items[3];
    size_t got_lens[3], got;
    for (int round = 0; round < 3; round++) {
        assert_ipcq_ok(c, ipcq_get_many(c, "capped", 3, got_items, got_lens, &got, IPCQ_NOWAIT));
        assert_int_equal(got, 1); /* two would be 1200 bytes > 1024 */
        ipcq_free(got_items[0]);
    }
    /* A batch over the broker's message limit is refused before it is sent. */
    static char chunk[1000];
    const void *many[64];
    size_t many_lens[64];
    for (int i = 0; i < 64; i++)
        many[i] = chunk, many_lens[i] = sizeof chunk;
    assert_ipcq_status(c, ipcq_put_many(c, "capped", 64, many, many_lens, IPCQ_NOWAIT),
                       IPCQ_ETOOBIG);
    assert_non_null(strstr(ipcq_client_error(c), "message limit"));
    assert_int_equal(queue_field(c, "capped", IPCQ_QUEUE_SIZE), 0);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(batches_keep_fifo_order),
        T(a_batch_waits_for_room_for_all_of_it),
        T(get_many_blocks_only_for_the_first_item),
        cmocka_unit_test(a_batch_reply_is_capped_at_one_items_worth_of_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
