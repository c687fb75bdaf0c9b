/*
 * The rules of the contract (docs/SPEC.md: Q1-Q12, D1-D3, D6), one test or a
 * few per rule, on the broker core in-process: requests built as libipcq
 * builds them go through broker_handle() from fake peers, time is a fake
 * clock, and every reply is captured (core_driver.h). The core's invariants
 * are checked after every step, and at the end every request of a live
 * peer must have had exactly one reply. Each test names its rule.
 *
 * Peer 0 sets queues up and reads their stat; peers 1 to 3 are the clients
 * whose outcomes a test is about.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core_driver.h"
#include "ipcq.h"
#include "wire.h"

#define JOBS "jobs"

/* What ipcq_full() answers from a stat row. */
static bool
stat_full(const Ipcqwire__QueueStat *st)
{
    return st->maxsize > 0 && st->size >= (uint64_t)st->maxsize;
}

/* Peer 0 puts each item (the list ends with NULL), each accepted at once. */
static void
put_all(core_driver *d, const char *queue_name, ...)
{
    va_list ap;
    va_start(ap, queue_name);
    for (const char *item_text; (item_text = va_arg(ap, const char *)) != NULL;)
        expect_reply(d, 0, send_put(d, 0, queue_name, item_text, IPCQ_NOWAIT), IPCQ_OK);
    va_end(ap);
}

/* A queue of maxsize 1 holding the item "first". */
static void
make_full_queue(core_driver *d, const char *queue_name)
{
    expect_reply(d, 0, send_create(d, 0, queue_name, 1), IPCQ_OK);
    put_all(d, queue_name, "first", NULL);
}

static int64_t
ms_from_now(const core_driver *d, int64_t ms)
{
    return d->now_us + ms * CORE_US_PER_MS;
}

/* Q1: empty, 256 bytes, invalid UTF-8 and control characters are invalid
 * names, for every request that names a queue; none creates anything. */
static void
q1_bad_names_are_invalid(void **state)
{
    core_driver *d = *state;
    char long_name[IPCQ_NAME_MAX + 1];
    memset(long_name, 'n', sizeof long_name);
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},                   /* empty */
        {NULL, IPCQ_NAME_MAX + 1}, /* 256 bytes: long_name */
        {"caf\xc3", 4},            /* a sequence cut short */
        {"\xff-x", 3},             /* a byte UTF-8 never uses */
        {"\xc0\xaf", 2},           /* an overlong '/' */
        {"\xed\xa0\x80", 3},       /* a UTF-16 surrogate */
        {"a\0b", 3},               /* NUL */
        {"a\nb", 3},               /* C0 control */
        {"del\x7f", 4},            /* DEL */
        {"c1\xc2\x85", 4},         /* C1 control (NEL) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *name = bad[i].bytes ? bad[i].bytes : long_name;
        expect_error(d, 1, send_put_named(d, 1, name, bad[i].len, IPCQ_NOWAIT), IPCQ_EINVAL,
                     "invalid queue name");
    }
    /* The same check guards every request that takes a name. */
    expect_error(d, 1, send_create(d, 1, "a\tb", 0), IPCQ_EINVAL, "invalid queue name");
    expect_error(d, 1, send_get(d, 1, "a\tb", IPCQ_FOREVER), IPCQ_EINVAL, "invalid queue name");
    expect_error(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_JOIN, "\xff", IPCQ_FOREVER),
                 IPCQ_EINVAL, "invalid queue name");
    const Ipcqwire__Reply *all = expect_reply(d, 0, send_stat(d, 0, NULL), IPCQ_OK);
    assert_int_equal(all->n_queues, 0);
}

/* Q1: 255 bytes (counted in bytes: this name ends in a 3-byte character)
 * is a valid name, kept exactly. */
static void
q1_name_of_255_bytes_is_valid(void **state)
{
    core_driver *d = *state;
    char name[IPCQ_NAME_MAX + 1];
    memset(name, 'q', IPCQ_NAME_MAX - 3);
    memcpy(name + IPCQ_NAME_MAX - 3, "\xe2\x82\xac", 3); /* U+20AC, the euro sign */
    name[IPCQ_NAME_MAX] = '\0';
    expect_reply(d, 1, send_put(d, 1, name, "x", IPCQ_NOWAIT), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, name);
    assert_int_equal(st->name.len, IPCQ_NAME_MAX);
    assert_int_equal(st->size, 1);
    take_item(d, 2, send_get(d, 2, name, IPCQ_NOWAIT), "x");
}

/* Q2: a put creates the queue it names, unbounded. */
static void
q2_put_creates_an_unbounded_queue(void **state)
{
    core_driver *d = *state;
    expect_no_queue(d, JOBS);
    for (int i = 0; i < 50; i++)
        expect_reply(d, 1, send_put(d, 1, JOBS, "item", IPCQ_NOWAIT), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->maxsize, 0);
    assert_int_equal(st->size, 50);
    assert_false(stat_full(st));
}

/* Q2: create sets the bound; creating it again with the same bound is fine,
 * with another one an error that names both values, and the bound stays. */
static void
q2_create_with_another_maxsize_is_an_error_naming_both(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 1, send_create(d, 1, JOBS, 3), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->maxsize, 3);
    assert_int_equal(stat_of(d, JOBS)->size, 0);
    expect_reply(d, 2, send_create(d, 2, JOBS, 3), IPCQ_OK);
    const Ipcqwire__Reply *r =
        expect_error(d, 2, send_create(d, 2, JOBS, 5), IPCQ_ECONFLICT, JOBS ": ");
    assert_true(text_has_number(r->error, 3));
    assert_true(text_has_number(r->error, 5));
    assert_int_equal(stat_of(d, JOBS)->maxsize, 3);
    /* A put made this one unbounded: 0 is the value to name. */
    expect_reply(d, 1, send_put(d, 1, "made", "x", IPCQ_NOWAIT), IPCQ_OK);
    r = expect_reply(d, 2, send_create(d, 2, "made", 7), IPCQ_ECONFLICT);
    assert_true(text_has_number(r->error, 0));
    assert_true(text_has_number(r->error, 7));
    assert_int_equal(stat_of(d, "made")->maxsize, 0);
}

/* Q2: the operations other than put, create and get on a queue that does
 * not exist fail with "no such queue", and create nothing. */
static void
q2_other_ops_on_a_missing_queue_fail_no_such_queue(void **state)
{
    core_driver *d = *state;
    static const Ipcqwire__Op ops[] = {IPCQWIRE__OP__OP_DELETE, IPCQWIRE__OP__OP_TASK_DONE,
                                       IPCQWIRE__OP__OP_JOIN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        expect_error(d, 1, send_queue_op(d, 1, ops[i], "ghost", IPCQ_FOREVER), IPCQ_ENOQUEUE,
                     "ghost: no such queue");
    expect_error(d, 1, send_shutdown(d, 1, "ghost", true), IPCQ_ENOQUEUE, "no such queue");
    expect_error(d, 1, send_set_max_deliveries(d, 1, "ghost", 3), IPCQ_ENOQUEUE, "no such queue");
    expect_error(d, 1, send_stat(d, 1, "ghost"), IPCQ_ENOQUEUE, "no such queue");
    expect_error(d, 1, send_set_maxsize(d, 1, "ghost", 3), IPCQ_ENOQUEUE, "no such queue");
    const Ipcqwire__Reply *all = expect_reply(d, 0, send_stat(d, 0, NULL), IPCQ_OK);
    assert_int_equal(all->n_queues, 0);
}

/* Q2: a get on a queue that does not exist waits for it as for an empty
 * queue and creates nothing; the producer's later create gives it its
 * maxsize. A getter that gives up, or whose client is lost, leaves nothing. */
static void
q2_a_get_waits_for_a_missing_queue_without_creating_it(void **state)
{
    core_driver *d = *state;
    expect_error(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY, "queue is empty");
    expect_no_queue(d, JOBS);
    uint64_t waiting = send_get(d, 1, JOBS, IPCQ_FOREVER);
    uint64_t timed = send_get(d, 2, JOBS, 100);
    expect_no_reply(d, 1, waiting);
    expect_no_queue(d, JOBS);
    expect_error(d, 3, send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_NOWAIT), IPCQ_ENOQUEUE,
                 "no such queue");
    const Ipcqwire__Reply *all = expect_reply(d, 0, send_stat(d, 0, NULL), IPCQ_OK);
    assert_int_equal(all->n_queues, 0);
    assert_int_equal(all->broker->queues, 0);
    advance_ms(d, 100);
    expect_reply(d, 2, timed, IPCQ_EMPTY);
    /* The producer comes: no conflict, its bound holds, the getter is served. */
    expect_reply(d, 3, send_create(d, 3, JOBS, 3), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->maxsize, 3);
    assert_int_equal(stat_of(d, JOBS)->getters, 1);
    expect_reply(d, 3, send_put(d, 3, JOBS, "first", IPCQ_NOWAIT), IPCQ_OK);
    expect_item(d, 1, waiting, "first");

    /* A getter that gives up, or whose client is lost, leaves nothing: the
     * checker holds every placeholder to having a getter. */
    uint64_t given_up = send_get(d, 2, "lonely", 10);
    advance_ms(d, 10);
    expect_reply(d, 2, given_up, IPCQ_EMPTY);
    uint64_t lost = send_get(d, 2, "lonely", IPCQ_FOREVER);
    expect_no_reply(d, 2, lost);
    lose_peer(d, 2);
    notice_lost_peers(d);
    all = expect_reply(d, 0, send_stat(d, 0, NULL), IPCQ_OK);
    assert_int_equal(all->broker->queues, 1);
    expect_reply(d, 3, send_create(d, 3, "lonely", 2), IPCQ_OK);
    assert_int_equal(stat_of(d, "lonely")->getters, 0);
}

/* Q2: the bound changes on purpose (Python's q.maxsize = n): a larger one
 * admits the waiting putter in the same pass, a smaller one keeps every
 * item and makes puts wait until the queue is below it. */
static void
q2_set_maxsize_admits_putters_or_keeps_items(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 1, send_create(d, 1, JOBS, 1), IPCQ_OK);
    expect_reply(d, 1, send_put(d, 1, JOBS, "a", IPCQ_NOWAIT), IPCQ_OK);
    uint64_t waiting = send_put(d, 2, JOBS, "b", IPCQ_FOREVER);
    expect_no_reply(d, 2, waiting);
    expect_reply(d, 1, send_set_maxsize(d, 1, JOBS, 2), IPCQ_OK);
    expect_reply(d, 2, waiting, IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->size, 2);
    expect_reply(d, 1, send_set_maxsize(d, 1, JOBS, 1), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->size, 2);
    expect_reply(d, 1, send_put(d, 1, JOBS, "c", IPCQ_NOWAIT), IPCQ_FULL);
    uint64_t c = send_put(d, 2, JOBS, "c", IPCQ_FOREVER);
    expect_item(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), "a");
    expect_no_reply(d, 2, c); /* one item left: not below the bound of 1 */
    expect_item(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), "b");
    expect_reply(d, 2, c, IPCQ_OK);
    expect_reply(d, 1, send_set_maxsize(d, 1, JOBS, 0), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->maxsize, 0);
}

/* Q3: an empty item and one holding every byte value come back exact. */
static void
q3_empty_and_binary_items_come_back_exact(void **state)
{
    core_driver *d = *state;
    unsigned char every_byte[256];
    for (size_t i = 0; i < sizeof every_byte; i++)
        every_byte[i] = (unsigned char)(255 - i);
    expect_reply(d, 1, send_put_bytes(d, 1, JOBS, "", 0, IPCQ_NOWAIT), IPCQ_OK);
    expect_reply(d, 1, send_put_bytes(d, 1, JOBS, every_byte, sizeof every_byte, IPCQ_NOWAIT),
                 IPCQ_OK);
    expect_reply(d, 1, send_put_bytes(d, 1, JOBS, "\0", 1, IPCQ_NOWAIT), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 3);
    assert_int_equal(st->bytes, 0 + sizeof every_byte + 1);
    expect_bytes(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "", 0);
    expect_bytes(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), every_byte, sizeof every_byte);
    expect_bytes(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "\0", 1);
}

/* With a max item size of 16 bytes (Q3's "up to the broker's max"). */
static int
start_with_small_items(void **state)
{
    broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.max_item_size = 16;
    return core_driver_start_with(state, &cfg);
}

/* Q3: an item of the max item size is accepted, one byte more is
 * IPCQ_ETOOBIG naming both sizes, and a refused put creates nothing. */
static void
q3_items_up_to_the_max_item_size(void **state)
{
    core_driver *d = *state;
    char big_item[17];
    memset(big_item, 'i', sizeof big_item);
    expect_reply(d, 1, send_put_bytes(d, 1, JOBS, big_item, 16, IPCQ_NOWAIT), IPCQ_OK);
    const Ipcqwire__Reply *r =
        expect_reply(d, 1, send_put_bytes(d, 1, JOBS, big_item, 17, IPCQ_NOWAIT), IPCQ_ETOOBIG);
    assert_true(text_has_number(r->error, 17));
    assert_true(text_has_number(r->error, 16));
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    expect_reply(d, 1, send_put_bytes(d, 1, "other", big_item, 17, IPCQ_NOWAIT), IPCQ_ETOOBIG);
    expect_no_queue(d, "other");
}

/* Q4: items come out in the order their puts were accepted, one by one and
 * in a batch. */
static void
q4_items_come_out_in_put_order(void **state)
{
    core_driver *d = *state;
    static const char *const items[] = {"one", "two", "three", "four", "five"};
    for (size_t i = 0; i < 5; i++)
        expect_reply(d, 1 + i % 2, send_put(d, 1 + i % 2, JOBS, items[i], IPCQ_NOWAIT), IPCQ_OK);
    take_item(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), "one");
    take_item(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), "two");
    const Ipcqwire__Reply *r =
        expect_reply(d, 3, send_get_batch(d, 3, JOBS, 8, 0, IPCQ_NOWAIT), IPCQ_OK);
    assert_int_equal(r->n_items, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r->items[i]->data.len, strlen(items[2 + i]));
        assert_memory_equal(r->items[i]->data.data, items[2 + i], strlen(items[2 + i]));
    }
    send_item_tags(d, 3, IPCQWIRE__OP__OP_CONFIRM, r);
    expect_reply(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* Q5: put with timeout 0 on a full queue is Full at once, and adds nothing. */
static void
q5_put_nowait_on_a_full_queue_is_full_at_once(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    expect_error(d, 1, send_put(d, 1, JOBS, "x", IPCQ_NOWAIT), IPCQ_FULL, JOBS ": ");
    assert_int_equal(stat_of(d, JOBS)->putters, 0);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "first");
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* Q5: put with a timeout on a full queue is Full at its deadline, not a
 * microsecond before; the broker's next wake-up is that deadline. */
static void
q5_put_with_timeout_is_full_at_the_deadline_never_early(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    int64_t deadline = ms_from_now(d, 250);
    uint64_t put = send_put(d, 1, JOBS, "x", 250);
    assert_int_equal(stat_of(d, JOBS)->putters, 1);
    assert_int_equal(broker_next_wakeup_us(d->b), deadline);
    advance_to(d, deadline - 1);
    expect_no_reply(d, 1, put);
    advance_to(d, deadline);
    expect_reply(d, 1, put, IPCQ_FULL);
    assert_int_equal(stat_of(d, JOBS)->putters, 0);
    assert_int_equal(stat_of(d, JOBS)->size, 1);
}

/* Q5: put with no timeout waits as long as it takes, and goes in as soon as
 * a get makes room. */
static void
q5_put_forever_waits_until_there_is_room(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    uint64_t put = send_put(d, 1, JOBS, "x", IPCQ_FOREVER);
    advance_ms(d, 3600 * 1000); /* an hour on; the peer is alive throughout */
    expect_no_reply(d, 1, put);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "first");
    expect_reply(d, 1, put, IPCQ_OK);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "x");
}

/* Q5, Q11: a negative timeout other than forever is invalid, on a full
 * queue and where there is room, and changes nothing. */
static void
q5_put_negative_timeout_is_invalid(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    expect_error(d, 1, send_put(d, 1, JOBS, "x", -2), IPCQ_EINVAL, "negative timeout");
    expect_error(d, 1, send_put(d, 1, JOBS, "x", INT64_MIN), IPCQ_EINVAL, "negative timeout");
    expect_error(d, 1, send_put(d, 1, "roomy", "x", -5), IPCQ_EINVAL, "negative timeout");
    expect_no_queue(d, "roomy");
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    assert_int_equal(stat_of(d, JOBS)->putters, 0);
}

/* Q6: get with timeout 0 on an empty queue is Empty at once, and a later
 * item stays in the queue. */
static void
q6_get_nowait_on_an_empty_queue_is_empty_at_once(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    expect_error(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY, JOBS ": ");
    assert_int_equal(stat_of(d, JOBS)->getters, 0);
    expect_reply(d, 2, send_put(d, 2, JOBS, "x", IPCQ_NOWAIT), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->size, 1);
}

/* Q6: get with a timeout on an empty queue is Empty at its deadline, not a
 * microsecond before. */
static void
q6_get_with_timeout_is_empty_at_the_deadline_never_early(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    int64_t deadline = ms_from_now(d, 40);
    uint64_t get = send_get(d, 1, JOBS, 40);
    assert_int_equal(stat_of(d, JOBS)->getters, 1);
    assert_int_equal(broker_next_wakeup_us(d->b), deadline);
    advance_to(d, deadline - 1);
    expect_no_reply(d, 1, get);
    advance_to(d, deadline);
    expect_reply(d, 1, get, IPCQ_EMPTY);
    assert_int_equal(stat_of(d, JOBS)->getters, 0);
}

/* Q6: get with no timeout waits as long as it takes for an item. */
static void
q6_get_forever_waits_for_an_item(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    uint64_t get = send_get(d, 1, JOBS, IPCQ_FOREVER);
    advance_ms(d, 3600 * 1000);
    expect_no_reply(d, 1, get);
    expect_reply(d, 2, send_put(d, 2, JOBS, "late", IPCQ_NOWAIT), IPCQ_OK);
    take_item(d, 1, get, "late");
}

/* Q6, Q11: a negative timeout other than forever is invalid, and a get with
 * one takes nothing. */
static void
q6_get_negative_timeout_is_invalid(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    expect_error(d, 1, send_get(d, 1, JOBS, -2), IPCQ_EINVAL, "negative timeout");
    put_all(d, JOBS, "x", NULL);
    expect_error(d, 1, send_get(d, 1, JOBS, -1000), IPCQ_EINVAL, "negative timeout");
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->getters, 0);
    assert_int_equal(st->gets, 0);
}

/* Q7: blocked getters are served in the order they started waiting,
 * whatever their timeouts. */
static void
q7_getters_are_served_in_arrival_order(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    uint64_t first = send_get(d, 3, JOBS, IPCQ_FOREVER);
    uint64_t second = send_get(d, 1, JOBS, 5000);
    uint64_t third = send_get(d, 2, JOBS, IPCQ_FOREVER);
    assert_int_equal(stat_of(d, JOBS)->getters, 3);
    put_all(d, JOBS, "a", NULL);
    take_item(d, 3, first, "a");
    expect_no_reply(d, 1, second);
    expect_no_reply(d, 2, third);
    put_all(d, JOBS, "b", NULL);
    take_item(d, 1, second, "b");
    expect_no_reply(d, 2, third);
    put_all(d, JOBS, "c", NULL);
    take_item(d, 2, third, "c");
}

/* Q7: blocked putters are admitted in the order they started waiting, each
 * as soon as a get frees room. */
static void
q7_each_get_admits_the_oldest_waiting_putter(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    uint64_t first = send_put(d, 2, JOBS, "from 2", IPCQ_FOREVER);
    uint64_t second = send_put(d, 1, JOBS, "from 1", 5000);
    uint64_t third = send_put(d, 3, JOBS, "from 3", IPCQ_FOREVER);
    assert_int_equal(stat_of(d, JOBS)->putters, 3);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "first");
    expect_reply(d, 2, first, IPCQ_OK);
    expect_no_reply(d, 1, second);
    expect_no_reply(d, 3, third);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->putters, 2);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "from 2");
    expect_reply(d, 1, second, IPCQ_OK);
    expect_no_reply(d, 3, third);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "from 1");
    expect_reply(d, 3, third, IPCQ_OK);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "from 3");
}

/* Q7: a put that finds room, but putters waiting before it, does not jump
 * the line: a batch of two waits on a queue with room for one, and a
 * single put_nowait behind it is Full. */
static void
q7_a_put_does_not_overtake_waiting_putters(void **state)
{
    core_driver *d = *state;
    static const char *const batch[] = {"b1", "b2"};
    expect_reply(d, 0, send_create(d, 0, JOBS, 2), IPCQ_OK);
    put_all(d, JOBS, "first", NULL);
    uint64_t waiting = send_put_many(d, 1, JOBS, 2, batch, IPCQ_FOREVER);
    expect_no_reply(d, 1, waiting);
    expect_reply(d, 2, send_put(d, 2, JOBS, "late", IPCQ_NOWAIT), IPCQ_FULL);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "first");
    expect_reply(d, 1, waiting, IPCQ_OK);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "b1");
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "b2");
    expect_reply(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* Q7: a put that finds a waiting getter hands its item straight to it: the
 * put is not Full even with timeout 0 on a queue of maxsize 1, and the
 * queue never holds the item. */
static void
q7_a_put_hands_its_item_straight_to_a_waiting_getter(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 1), IPCQ_OK);
    uint64_t get = send_get(d, 2, JOBS, IPCQ_FOREVER);
    expect_reply(d, 1, send_put(d, 1, JOBS, "x", IPCQ_NOWAIT), IPCQ_OK);
    take_item(d, 2, get, "x");
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->getters, 0);
    assert_int_equal(st->puts, 1);
    assert_int_equal(st->gets, 1);
    expect_reply(d, 1, send_put(d, 1, JOBS, "y", IPCQ_NOWAIT), IPCQ_OK);
}

/* Q8: qsize, empty and full (as the library derives them from the stat)
 * are exact after every change; the stat's other figures too. */
static void
q8_stat_answers_size_empty_and_full_exactly(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 2), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_false(stat_full(st));
    expect_reply(d, 1, send_put(d, 1, JOBS, "ab", IPCQ_NOWAIT), IPCQ_OK);
    advance_ms(d, 1234);
    st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->oldest_ms, 1234);
    assert_false(stat_full(st));
    expect_reply(d, 1, send_put(d, 1, JOBS, "cde", IPCQ_NOWAIT), IPCQ_OK);
    st = stat_of(d, JOBS);
    assert_int_equal(st->size, 2);
    assert_int_equal(st->bytes, 5);
    assert_true(stat_full(st));
    expect_reply(d, 1, send_put(d, 1, JOBS, "f", IPCQ_NOWAIT), IPCQ_FULL);
    /* Handed out, not yet confirmed: out of the queue, counted as leased. */
    uint64_t get = send_get(d, 2, JOBS, IPCQ_NOWAIT);
    st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->leased, 1);
    assert_false(stat_full(st));
    take_item(d, 2, get, "ab");
    assert_int_equal(stat_of(d, JOBS)->leased, 0);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "cde");
    send_get(d, 3, JOBS, IPCQ_FOREVER);
    st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->oldest_ms, 0);
    assert_int_equal(st->getters, 1);
    assert_int_equal(st->puts, 2);
    assert_int_equal(st->gets, 2);
    assert_int_equal(st->unfinished, 2);
}

/* Q9: each accepted put is an unfinished task; join waits until task_done
 * was called as many times. */
static void
q9_join_waits_until_every_task_is_done(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    expect_reply(d, 3, send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_NOWAIT),
                 IPCQ_ETIMEDOUT);
    uint64_t join = send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_FOREVER);
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "a");
    expect_no_reply(d, 3, join); /* taking an item does not finish its task */
    assert_int_equal(stat_of(d, JOBS)->unfinished, 2);
    assert_int_equal(stat_of(d, JOBS)->joiners, 1);
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT), IPCQ_OK);
    expect_no_reply(d, 3, join);
    assert_int_equal(stat_of(d, JOBS)->unfinished, 1);
    /* A change to the queue with one task left still does not end the join. */
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "b");
    expect_no_reply(d, 3, join);
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT), IPCQ_OK);
    expect_reply(d, 3, join, IPCQ_OK);
    expect_reply(d, 3, send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_NOWAIT), IPCQ_OK);
}

/* Q9: task_done more times than there were items is an error, and leaves
 * the count as it was. */
static void
q9_task_done_too_many_times_is_an_error(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    expect_error(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT),
                 IPCQ_ETASKDONE, "too many");
    put_all(d, JOBS, "a", NULL);
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "a");
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT), IPCQ_OK);
    expect_error(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT),
                 IPCQ_ETASKDONE, "too many");
    assert_int_equal(stat_of(d, JOBS)->unfinished, 0);
    put_all(d, JOBS, "b", NULL);
    assert_int_equal(stat_of(d, JOBS)->unfinished, 1);
}

/* Q9: join with a timeout fails at its deadline, not before, and a later
 * task_done does not answer it again. */
static void
q9_join_with_timeout_fails_at_the_deadline(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", NULL);
    int64_t deadline = ms_from_now(d, 300);
    uint64_t join = send_queue_op(d, 1, IPCQWIRE__OP__OP_JOIN, JOBS, 300);
    assert_int_equal(broker_next_wakeup_us(d->b), deadline);
    advance_to(d, deadline - 1);
    expect_no_reply(d, 1, join);
    advance_to(d, deadline);
    expect_reply(d, 1, join, IPCQ_ETIMEDOUT);
    assert_int_equal(stat_of(d, JOBS)->joiners, 0);
    expect_reply(d, 0, send_queue_op(d, 0, IPCQWIRE__OP__OP_TASK_DONE, JOBS, IPCQ_NOWAIT), IPCQ_OK);
}

/* Q10: deleting a queue wakes every blocked getter, putter and joiner with
 * "queue deleted"; nothing is left waiting on it. */
static void
q10_delete_wakes_everyone_blocked_with_queue_deleted(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, "empty", 0), IPCQ_OK);
    uint64_t get_forever = send_get(d, 1, "empty", IPCQ_FOREVER);
    uint64_t get_timed = send_get(d, 2, "empty", 1000);
    make_full_queue(d, "full");
    uint64_t put = send_put(d, 3, "full", "y", IPCQ_FOREVER);
    uint64_t join = send_queue_op(d, 1, IPCQWIRE__OP__OP_JOIN, "full", IPCQ_FOREVER);
    expect_reply(d, 0, send_queue_op(d, 0, IPCQWIRE__OP__OP_DELETE, "empty", IPCQ_NOWAIT), IPCQ_OK);
    expect_error(d, 1, get_forever, IPCQ_EDELETED, "queue deleted");
    expect_error(d, 2, get_timed, IPCQ_EDELETED, "queue deleted");
    expect_no_reply(d, 3, put);
    expect_reply(d, 0, send_queue_op(d, 0, IPCQWIRE__OP__OP_DELETE, "full", IPCQ_NOWAIT), IPCQ_OK);
    expect_error(d, 3, put, IPCQ_EDELETED, "queue deleted");
    expect_error(d, 1, join, IPCQ_EDELETED, "queue deleted");
    expect_no_queue(d, "empty");
    expect_no_queue(d, "full");
    /* No timer and no session is left; an hour on, nothing more is sent. */
    assert_int_equal(broker_next_wakeup_us(d->b), INT64_MAX);
    size_t sent = d->nsent;
    advance_ms(d, 3600 * 1000);
    assert_int_equal(d->nsent, sent);
}

/* Q11: a get that timed out never takes an item that comes later. */
static void
q11_a_timed_out_get_never_takes_a_later_item(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    uint64_t get = send_get(d, 1, JOBS, 100);
    advance_ms(d, 100);
    expect_reply(d, 1, get, IPCQ_EMPTY);
    expect_reply(d, 2, send_put(d, 2, JOBS, "x", IPCQ_NOWAIT), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->gets, 0);
    take_item(d, 3, send_get(d, 3, JOBS, IPCQ_NOWAIT), "x");
}

/* Q11: a put that timed out never adds its item when room comes later. */
static void
q11_a_timed_out_put_never_adds_its_item(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    uint64_t put = send_put(d, 1, JOBS, "late", 100);
    advance_ms(d, 100);
    expect_reply(d, 1, put, IPCQ_FULL);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "first");
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->puts, 1);
    assert_int_equal(st->unfinished, 1);
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* Q11: a request the client gave up on (it sends a cancel when interrupted
 * or when its own wait ran out) is never answered, never takes an item and
 * never adds one. */
static void
q11_a_cancelled_request_never_acts(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 1), IPCQ_OK);
    uint64_t get = send_get(d, 1, JOBS, IPCQ_FOREVER);
    send_cancel(d, 1, get);
    assert_int_equal(stat_of(d, JOBS)->getters, 0);
    expect_reply(d, 2, send_put(d, 2, JOBS, "x", IPCQ_NOWAIT), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    expect_no_reply(d, 1, get);
    uint64_t put = send_put(d, 3, JOBS, "y", IPCQ_FOREVER);
    send_cancel(d, 3, put);
    assert_int_equal(stat_of(d, JOBS)->putters, 0);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "x");
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
    expect_no_reply(d, 3, put);
}

/* Q12: after a shutdown puts fail with "shut down"; gets drain the items
 * left, then fail at once, whatever their timeout. */
static void
q12_after_shutdown_puts_fail_and_gets_drain_then_fail(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    expect_reply(d, 0, send_shutdown(d, 0, JOBS, false), IPCQ_OK);
    assert_true(stat_of(d, JOBS)->shutdown);
    expect_error(d, 1, send_put(d, 1, JOBS, "c", IPCQ_FOREVER), IPCQ_ESHUTDOWN, "shut down");
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_FOREVER), "a");
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "b");
    expect_error(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_ESHUTDOWN, "shut down");
    expect_error(d, 3, send_get(d, 3, JOBS, IPCQ_FOREVER), IPCQ_ESHUTDOWN, "shut down");
    assert_int_equal(stat_of(d, JOBS)->getters, 0);
}

/* Q12: a shutdown wakes every blocked getter and putter. */
static void
q12_shutdown_wakes_every_blocked_caller(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, "empty", 0), IPCQ_OK);
    uint64_t get = send_get(d, 1, "empty", IPCQ_FOREVER);
    make_full_queue(d, "full");
    uint64_t put = send_put(d, 2, "full", "y", IPCQ_FOREVER);
    expect_reply(d, 0, send_shutdown(d, 0, "empty", false), IPCQ_OK);
    expect_error(d, 1, get, IPCQ_ESHUTDOWN, "shut down");
    expect_reply(d, 0, send_shutdown(d, 0, "full", false), IPCQ_OK);
    expect_error(d, 2, put, IPCQ_ESHUTDOWN, "shut down");
    take_item(d, 3, send_get(d, 3, "full", IPCQ_NOWAIT), "first");
    expect_reply(d, 3, send_get(d, 3, "full", IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
}

/* Q12 (and D2): after a shutdown, a get waits for an item out on a lease
 * that may still come back, and gets it when it does. */
static void
q12_after_shutdown_a_get_waits_for_a_leased_item_that_may_come_back(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", NULL);
    const Ipcqwire__Item *leased = expect_item(d, 1, send_get_leased(d, 1, JOBS, 60000, 0), "a");
    uint64_t lease = leased->tag;
    expect_reply(d, 0, send_shutdown(d, 0, JOBS, false), IPCQ_OK);
    uint64_t get = send_get(d, 2, JOBS, IPCQ_FOREVER);
    expect_no_reply(d, 2, get);
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_OK);
    take_item(d, 2, get, "a");
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_FOREVER), IPCQ_ESHUTDOWN);
}

/* Q12: shutdown immediate drops the items, each counted as a task done (a
 * blocked join returns), and gets fail at once. */
static void
q12_shutdown_immediate_drops_items_and_gets_fail_at_once(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    uint64_t join = send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_FOREVER);
    expect_reply(d, 0, send_shutdown(d, 0, JOBS, true), IPCQ_OK);
    expect_reply(d, 3, join, IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->unfinished, 0);
    expect_error(d, 1, send_get(d, 1, JOBS, IPCQ_FOREVER), IPCQ_ESHUTDOWN, "shut down");
    expect_error(d, 1, send_put(d, 1, JOBS, "c", IPCQ_NOWAIT), IPCQ_ESHUTDOWN, "shut down");
}

/* Q12: with immediate, gets fail at once even while an item is out on a
 * lease: if it comes back it is dropped, so there is nothing to wait for. */
static void
q12_shutdown_immediate_fails_gets_at_once_with_an_item_out(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", NULL);
    const Ipcqwire__Item *leased = expect_item(d, 1, send_get_leased(d, 1, JOBS, 60000, 0), "a");
    uint64_t lease = leased->tag;
    expect_reply(d, 0, send_shutdown(d, 0, JOBS, true), IPCQ_OK);
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    uint64_t get = send_get(d, 2, JOBS, IPCQ_FOREVER);
    expect_reply(d, 2, get, IPCQ_ESHUTDOWN);
    /* The item that comes back is dropped, its task done. */
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->size, 0);
    assert_int_equal(stat_of(d, JOBS)->unfinished, 0);
}

/* broker_stop(): every blocked caller is answered "broker shutting down",
 * and so is every request after it. */
static void
broker_stop_answers_every_blocked_caller_and_every_later_request(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, "empty", 0), IPCQ_OK);
    uint64_t get = send_get(d, 1, "empty", IPCQ_FOREVER);
    make_full_queue(d, "full");
    uint64_t put = send_put(d, 2, "full", "y", 5000);
    uint64_t join = send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, "full", IPCQ_FOREVER);
    broker_stop(d->b);
    advance_ms(d, 0);
    expect_error(d, 1, get, IPCQ_ESTOPPING, "shutting down");
    expect_error(d, 2, put, IPCQ_ESTOPPING, "shutting down");
    expect_error(d, 3, join, IPCQ_ESTOPPING, "shutting down");
    expect_reply(d, 1, send_get(d, 1, "full", IPCQ_FOREVER), IPCQ_ESTOPPING);
    expect_reply(d, 1, send_put(d, 1, "empty", "x", IPCQ_FOREVER), IPCQ_ESTOPPING);
    assert_int_equal(broker_next_wakeup_us(d->b), INT64_MAX);
}

/* D1: the reply handing an item to a getter cannot be routed (the client
 * is gone): the item stays at the head of the queue for the next getter,
 * its delivery count not raised. */
static void
d1_an_item_whose_hand_over_fails_stays_at_the_head(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    uint64_t lost_get = send_get(d, 1, JOBS, IPCQ_FOREVER);
    lose_peer(d, 1);
    put_all(d, JOBS, "a", "b", NULL);
    expect_no_reply(d, 1, lost_get); /* it was sent, and never arrived */
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 2);
    assert_int_equal(st->getters, 0);
    assert_int_equal(st->leased, 0);
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "a")->deliveries, 1);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "b");
}

/* D1: a client got items but died before its library confirmed them: when
 * the broker's probe finds it gone, they return to the head, in order,
 * ahead of the items behind them, their delivery count raised. */
static void
d1_a_lost_peers_unconfirmed_items_return_to_the_head(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", "c", "d", NULL);
    const Ipcqwire__Reply *r =
        expect_reply(d, 1, send_get_batch(d, 1, JOBS, 2, 0, IPCQ_NOWAIT), IPCQ_OK);
    assert_int_equal(r->n_items, 2);
    assert_int_equal(stat_of(d, JOBS)->leased, 2);
    lose_peer(d, 1);
    int64_t probe_at = broker_next_wakeup_us(d->b);
    assert_true(probe_at <= ms_from_now(d, BROKER_DEFAULT_PROBE_MS));
    advance_to(d, probe_at);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 4);
    assert_int_equal(st->leased, 0);
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "a")->deliveries, 2);
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "b")->deliveries, 2);
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "c")->deliveries, 1);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "d");
}

/* D1: an item whose receipt was confirmed has left for good: the client's
 * death later gives nothing back, and the broker keeps no state for it. */
static void
d1_a_confirmed_item_is_gone_for_good(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "a");
    assert_int_equal(broker_next_wakeup_us(d->b), INT64_MAX); /* no session to probe */
    lose_peer(d, 1);
    notice_lost_peers(d);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 1);
    assert_int_equal(st->leased, 0);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "b");
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* D2: an acked lease is gone for good, even past its end; acking it again
 * is an error; ack_many acks several at once. */
static void
d2_an_acked_lease_is_gone_for_good(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", "c", NULL);
    uint64_t lease = expect_item(d, 1, send_get_leased(d, 1, JOBS, 1000, 0), "a")->tag;
    assert_int_equal(stat_of(d, JOBS)->leased, 1);
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_ACK, &lease, 1, 0), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->leased, 0);
    advance_ms(d, 2000);
    assert_int_equal(stat_of(d, JOBS)->size, 2);
    expect_error(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_ACK, &lease, 1, 0), IPCQ_ELEASE,
                 "not held");
    const Ipcqwire__Reply *r =
        expect_reply(d, 2, send_get_batch(d, 2, JOBS, 2, 1000, IPCQ_NOWAIT), IPCQ_OK);
    assert_int_equal(r->n_items, 2);
    uint64_t leases[2] = {r->items[0]->tag, r->items[1]->tag};
    expect_reply(d, 2, send_lease_op(d, 2, IPCQWIRE__OP__OP_ACK, leases, 2, 0), IPCQ_OK);
    advance_ms(d, 2000);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->leased, 0);
}

/* D2: a released lease goes back to the head at once, ahead of the rest,
 * and the next getter sees its delivery count raised. */
static void
d2_a_released_lease_goes_back_to_the_head(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    uint64_t lease = expect_item(d, 1, send_get_leased(d, 1, JOBS, 60000, 0), "a")->tag;
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 2);
    assert_int_equal(st->leased, 0);
    expect_error(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_ELEASE,
                 "not held");
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "a")->deliveries, 2);
}

/* D2: a lease that runs out returns its item to the head at its end, not a
 * microsecond before, with its delivery count raised; the old lease can no
 * longer be acked. */
static void
d2_an_expired_lease_returns_to_the_head_at_its_end(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    int64_t lease_end = ms_from_now(d, 300);
    const Ipcqwire__Item *it = expect_item(d, 1, send_get_leased(d, 1, JOBS, 300, 0), "a");
    assert_int_equal(it->deliveries, 1);
    uint64_t lease = it->tag;
    assert_int_equal(broker_next_wakeup_us(d->b), lease_end);
    advance_to(d, lease_end - 1);
    assert_int_equal(stat_of(d, JOBS)->leased, 1);
    advance_to(d, lease_end);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->leased, 0);
    assert_int_equal(st->size, 2);
    expect_error(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_ACK, &lease, 1, 0), IPCQ_ELEASE,
                 "not held");
    it = expect_item(d, 2, send_get_leased(d, 2, JOBS, 300, 0), "a");
    assert_int_equal(it->deliveries, 2);
}

/* D2: extending a lease makes it run lease_ms from the extension; once it
 * ran out, it cannot be extended. */
static void
d2_an_extended_lease_runs_from_the_extension(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", NULL);
    int64_t first_end = ms_from_now(d, 300);
    uint64_t lease = expect_item(d, 1, send_get_leased(d, 1, JOBS, 300, 0), "a")->tag;
    advance_ms(d, 200);
    int64_t new_end = ms_from_now(d, 300);
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_EXTEND, &lease, 1, 300), IPCQ_OK);
    advance_to(d, first_end);
    assert_int_equal(stat_of(d, JOBS)->leased, 1);
    advance_to(d, new_end - 1);
    assert_int_equal(stat_of(d, JOBS)->leased, 1);
    assert_int_equal(stat_of(d, JOBS)->size, 0);
    advance_to(d, new_end);
    assert_int_equal(stat_of(d, JOBS)->leased, 0);
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    expect_error(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_EXTEND, &lease, 1, 300), IPCQ_ELEASE,
                 "not held");
}

/* D2: the leases of a client that dies return to the head. */
static void
d2_a_lost_peers_lease_returns_to_the_head(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", NULL);
    expect_item(d, 1, send_get_leased(d, 1, JOBS, 3600 * 1000, 0), "a");
    lose_peer(d, 1);
    notice_lost_peers(d);
    assert_int_equal(stat_of(d, JOBS)->leased, 0);
    assert_int_equal(take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "a")->deliveries, 2);
}

/* D3: a client that died while blocked in get never swallows a later item:
 * offered to it before the broker knows, the item goes to the next getter;
 * once the broker knows, the client no longer waits at all. */
static void
d3_a_lost_getter_never_swallows_a_later_item(void **state)
{
    core_driver *d = *state;
    expect_reply(d, 0, send_create(d, 0, JOBS, 0), IPCQ_OK);
    send_get(d, 1, JOBS, IPCQ_FOREVER);
    uint64_t live = send_get(d, 2, JOBS, IPCQ_FOREVER);
    lose_peer(d, 1);
    put_all(d, JOBS, "a", NULL);
    take_item(d, 2, live, "a");
    send_get(d, 3, JOBS, 60000);
    lose_peer(d, 3);
    notice_lost_peers(d);
    assert_int_equal(stat_of(d, JOBS)->getters, 0);
    put_all(d, JOBS, "b", NULL);
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), "b");
}

/* D3: a client that died while blocked in put never adds its item: when
 * room comes before the broker knows, the next putter gets it; once the
 * broker knows, the client no longer waits at all. */
static void
d3_a_lost_putter_never_adds_its_item(void **state)
{
    core_driver *d = *state;
    make_full_queue(d, JOBS);
    send_put(d, 1, JOBS, "ghost", IPCQ_FOREVER);
    uint64_t live = send_put(d, 2, JOBS, "live", IPCQ_FOREVER);
    lose_peer(d, 1);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "first");
    expect_reply(d, 2, live, IPCQ_OK);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "live");
    put_all(d, JOBS, "x", NULL);
    send_put(d, 3, JOBS, "ghost 2", 60000);
    lose_peer(d, 3);
    notice_lost_peers(d);
    assert_int_equal(stat_of(d, JOBS)->putters, 0);
    take_item(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), "x");
    expect_reply(d, 0, send_get(d, 0, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->puts, 3);
    assert_int_equal(st->unfinished, 3);
}

/* D6: with max-deliveries 2, an item handed out twice and returned again
 * goes to NAME.dlq, as a task there and done in its own queue (a join on it
 * returns), instead of a third delivery. */
static void
d6_an_item_returned_past_max_deliveries_goes_to_the_dlq(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "poison", NULL);
    expect_reply(d, 0, send_set_max_deliveries(d, 0, JOBS, 2), IPCQ_OK);
    assert_int_equal(stat_of(d, JOBS)->max_deliveries, 2);
    uint64_t join = send_queue_op(d, 3, IPCQWIRE__OP__OP_JOIN, JOBS, IPCQ_FOREVER);
    const Ipcqwire__Item *it = expect_item(d, 1, send_get_leased(d, 1, JOBS, 100, 0), "poison");
    assert_int_equal(it->deliveries, 1);
    advance_ms(d, 100); /* the lease runs out: back, once more */
    assert_int_equal(stat_of(d, JOBS)->size, 1);
    it = expect_item(d, 1, send_get_leased(d, 1, JOBS, 100, 0), "poison");
    assert_int_equal(it->deliveries, 2);
    uint64_t lease = it->tag;
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_OK);
    const Ipcqwire__QueueStat *st = stat_of(d, JOBS);
    assert_int_equal(st->size, 0);
    assert_int_equal(st->dead_lettered, 1);
    assert_int_equal(st->unfinished, 0);
    expect_reply(d, 3, join, IPCQ_OK);
    st = stat_of(d, JOBS ".dlq");
    assert_int_equal(st->size, 1);
    assert_int_equal(st->unfinished, 1);
    take_item(d, 2, send_get(d, 2, JOBS ".dlq", IPCQ_NOWAIT), "poison");
    expect_reply(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* The items of reply id to peer, in order, as one comma-joined string. */
static void
expect_batch_at(core_driver *d, unsigned peer, uint64_t id, const char *want, int line)
{
    const Ipcqwire__Reply *r = expect_reply_at(d, peer, id, IPCQ_OK, __FILE__, line);
    char got[256] = "";
    for (size_t i = 0; i < r->n_items; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "",
                 (int)r->items[i]->data.len, (const char *)r->items[i]->data.data);
    if (strcmp(got, want) != 0)
        fail_msg("%s:%d: peer %u got items [%s], wanted [%s]", __FILE__, line, peer, got, want);
}
#define expect_batch(d, peer, id, want) expect_batch_at(d, peer, id, want, __LINE__)

/* D6, a pool worker's get (redelivered_alone): the batch of a client that
 * died comes back, and each of its items is handed out by itself, so that
 * the one that killed its taker takes no other down with it again; a batch
 * stops before an item handed out before; fresh items still come in
 * batches, and a getter that did not ask still gets the returned ones
 * whole. */
static void
d6_a_getter_can_take_redelivered_items_alone(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "a", "b", "c", "d", "e", NULL);
    expect_batch(d, 1, send_get_redelivered_alone(d, 1, JOBS, 3, 1000, 0), "a,b,c");
    lose_peer(d, 1); /* the worker dies holding a, b and c */
    notice_lost_peers(d);
    assert_int_equal(stat_of(d, JOBS)->size, 5);
    const char *alone[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        uint64_t id = send_get_redelivered_alone(d, 2, JOBS, 4, 1000, 0);
        const Ipcqwire__Reply *r = expect_reply(d, 2, id, IPCQ_OK);
        assert_int_equal(r->n_items, 1);
        expect_batch(d, 2, id, alone[i]);
        assert_int_equal(r->items[0]->deliveries, 2);
        uint64_t lease = r->items[0]->tag;
        expect_reply(d, 2, send_lease_op(d, 2, IPCQWIRE__OP__OP_ACK, &lease, 1, 0), IPCQ_OK);
    }
    expect_batch(d, 2, send_get_redelivered_alone(d, 2, JOBS, 4, 1000, 0), "d,e");

    /* Without the flag, the returned batch comes whole, as before. */
    put_all(d, "plain", "x", "y", NULL);
    expect_batch(d, 3, send_get_batch(d, 3, "plain", 2, 1000, 0), "x,y");
    lose_peer(d, 3);
    notice_lost_peers(d);
    expect_batch(d, 2, send_get_batch(d, 2, "plain", 2, 1000, 0), "x,y");

    /* A dead-letter queue holds a fresh item before one handed out before:
     * the batch stops before the second. */
    put_all(d, "poisoned", "p", NULL);
    expect_reply(d, 0, send_set_max_deliveries(d, 0, "poisoned", 1), IPCQ_OK);
    put_all(d, "poisoned.dlq", "fresh", NULL);
    uint64_t id = send_get_leased(d, 0, "poisoned", 1000, 0);
    const Ipcqwire__Reply *r = expect_reply(d, 0, id, IPCQ_OK);
    uint64_t lease = r->items[0]->tag;
    expect_reply(d, 0, send_lease_op(d, 0, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0), IPCQ_OK);
    assert_int_equal(stat_of(d, "poisoned.dlq")->size, 2);
    expect_batch(d, 0, send_get_redelivered_alone(d, 0, "poisoned.dlq", 2, 1000, 0), "fresh");
    expect_batch(d, 0, send_get_redelivered_alone(d, 0, "poisoned.dlq", 2, 1000, 0), "p");
}

/* D6: without a configured limit, IPCQ_DEFAULT_MAX_DELIVERIES applies,
 * whichever way the item came back (release, lease run out, client lost). */
static void
d6_the_default_limit_is_ipcq_default_max_deliveries(void **state)
{
    core_driver *d = *state;
    put_all(d, JOBS, "poison", NULL);
    assert_int_equal(stat_of(d, JOBS)->max_deliveries, IPCQ_DEFAULT_MAX_DELIVERIES);
    for (uint32_t n = 1; n <= IPCQ_DEFAULT_MAX_DELIVERIES; n++) {
        assert_int_equal(stat_of(d, JOBS)->size, 1);
        unsigned peer = n == IPCQ_DEFAULT_MAX_DELIVERIES ? 3 : 1;
        const Ipcqwire__Item *it =
            expect_item(d, peer, send_get_leased(d, peer, JOBS, 100, 0), "poison");
        assert_int_equal(it->deliveries, n);
        uint64_t lease = it->tag;
        if (peer == 3) {
            lose_peer(d, 3);
            notice_lost_peers(d);
        } else if (n % 2) {
            expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &lease, 1, 0),
                         IPCQ_OK);
        } else {
            advance_ms(d, 100);
        }
    }
    assert_int_equal(stat_of(d, JOBS)->size, 0);
    assert_int_equal(stat_of(d, JOBS)->dead_lettered, 1);
    assert_int_equal(stat_of(d, JOBS ".dlq")->size, 1);
}

int
main(void)
{
#define RULE(test) cmocka_unit_test_setup_teardown(test, core_driver_start, core_driver_stop)
    const struct CMUnitTest tests[] = {
        RULE(q1_bad_names_are_invalid),
        RULE(q1_name_of_255_bytes_is_valid),
        RULE(q2_put_creates_an_unbounded_queue),
        RULE(q2_create_with_another_maxsize_is_an_error_naming_both),
        RULE(q2_other_ops_on_a_missing_queue_fail_no_such_queue),
        RULE(q2_a_get_waits_for_a_missing_queue_without_creating_it),
        RULE(q2_set_maxsize_admits_putters_or_keeps_items),
        RULE(q3_empty_and_binary_items_come_back_exact),
        cmocka_unit_test_setup_teardown(q3_items_up_to_the_max_item_size, start_with_small_items,
                                        core_driver_stop),
        RULE(q4_items_come_out_in_put_order),
        RULE(q5_put_nowait_on_a_full_queue_is_full_at_once),
        RULE(q5_put_with_timeout_is_full_at_the_deadline_never_early),
        RULE(q5_put_forever_waits_until_there_is_room),
        RULE(q5_put_negative_timeout_is_invalid),
        RULE(q6_get_nowait_on_an_empty_queue_is_empty_at_once),
        RULE(q6_get_with_timeout_is_empty_at_the_deadline_never_early),
        RULE(q6_get_forever_waits_for_an_item),
        RULE(q6_get_negative_timeout_is_invalid),
        RULE(q7_getters_are_served_in_arrival_order),
        RULE(q7_each_get_admits_the_oldest_waiting_putter),
        RULE(q7_a_put_does_not_overtake_waiting_putters),
        RULE(q7_a_put_hands_its_item_straight_to_a_waiting_getter),
        RULE(q8_stat_answers_size_empty_and_full_exactly),
        RULE(q9_join_waits_until_every_task_is_done),
        RULE(q9_task_done_too_many_times_is_an_error),
        RULE(q9_join_with_timeout_fails_at_the_deadline),
        RULE(q10_delete_wakes_everyone_blocked_with_queue_deleted),
        RULE(q11_a_timed_out_get_never_takes_a_later_item),
        RULE(q11_a_timed_out_put_never_adds_its_item),
        RULE(q11_a_cancelled_request_never_acts),
        RULE(q12_after_shutdown_puts_fail_and_gets_drain_then_fail),
        RULE(q12_shutdown_wakes_every_blocked_caller),
        RULE(q12_after_shutdown_a_get_waits_for_a_leased_item_that_may_come_back),
        RULE(q12_shutdown_immediate_drops_items_and_gets_fail_at_once),
        RULE(q12_shutdown_immediate_fails_gets_at_once_with_an_item_out),
        RULE(broker_stop_answers_every_blocked_caller_and_every_later_request),
        RULE(d1_an_item_whose_hand_over_fails_stays_at_the_head),
        RULE(d1_a_lost_peers_unconfirmed_items_return_to_the_head),
        RULE(d1_a_confirmed_item_is_gone_for_good),
        RULE(d2_an_acked_lease_is_gone_for_good),
        RULE(d2_a_released_lease_goes_back_to_the_head),
        RULE(d2_an_expired_lease_returns_to_the_head_at_its_end),
        RULE(d2_an_extended_lease_runs_from_the_extension),
        RULE(d2_a_lost_peers_lease_returns_to_the_head),
        RULE(d3_a_lost_getter_never_swallows_a_later_item),
        RULE(d3_a_lost_putter_never_adds_its_item),
        RULE(d6_an_item_returned_past_max_deliveries_goes_to_the_dlq),
        RULE(d6_a_getter_can_take_redelivered_items_alone),
        RULE(d6_the_default_limit_is_ipcq_default_max_deliveries),
    };
#undef RULE
    return cmocka_run_group_tests(tests, NULL, NULL);
}
