/* The broker's limits end to end (SPEC B2, B4): max name length, max
 * queues, max blocked waiters per queue and max memory, each against a real
 * ipcqd started with a small limit. Each refused request fails with its own
 * status and one line naming the queue and the flag, leaves the broker as it
 * was, and the broker goes on serving. (Max item size and the socket's
 * ZMQ_MAXMSGSIZE are tested in test_badinput.c.)
 *
 * The memory tests flood a broker started with --max-memory 64M from
 * several processes at once (64 KiB items, 16 in flight each; then 100-byte
 * items, 256 in flight each),
 * until every one of them is refused "over memory limit", and samples the
 * broker's VmRSS all the while: it must stay within the limit plus a small
 * slack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CALL_MS 10000
#define CHILD_MS 60000

/* Fails the test unless the handle's last error contains want. */
static void
expect_error_text(ipcq_client *c, const char *want)
{
    if (strstr(ipcq_client_error(c), want) == NULL)
        fail_msg("error text '%s' does not contain '%s'", ipcq_client_error(c), want);
}

static void
name_over_the_max_name_length_is_einval(void **state)
{
    (void)state;
    test_broker tb;
    test_broker_start(&tb, "--max-name-length", "8", NULL);
    ipcq_client *c = client_on(&tb);
    assert_ipcq_status(c, ipcq_put(c, "ninebytes", "x", 1, CALL_MS), IPCQ_EINVAL);
    expect_error_text(c, "queue name of 9 bytes is over the max name length of 8");
    expect_error_text(c, "--max-name-length");
    assert_ipcq_status(c, ipcq_create(c, "ninebytes", 0), IPCQ_EINVAL);
    assert_ipcq_status(c, ipcq_get(c, "ninebytes", &(void *){NULL}, &(size_t){0}, 0), IPCQ_EINVAL);
    /* Nothing was created; a name of 8 bytes works. */
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    assert_int_equal(ipcq_stats_count(s), 0);
    ipcq_stats_free(&s);
    put_text(c, "eightbyt", "ok");
    expect_get(c, "eightbyt", "ok", CALL_MS);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

static void
queues_past_max_queues_are_elimit(void **state)
{
    (void)state;
    test_broker tb;
    test_broker_start(&tb, "--max-queues", "3", NULL);
    ipcq_client *c = client_on(&tb);
    assert_ipcq_ok(c, ipcq_create(c, "q1", 0));
    put_text(c, "q2", "two");
    assert_ipcq_status(c, ipcq_get(c, "q3", &(void *){NULL}, &(size_t){0}, IPCQ_NOWAIT),
                       IPCQ_EMPTY); /* a get creates nothing (Q2) */
    assert_ipcq_ok(c, ipcq_create(c, "q3", 0));
    assert_ipcq_status(c, ipcq_create(c, "q4", 0), IPCQ_ELIMIT);
    expect_error_text(c, "q4: cannot create the queue: the broker holds its max of 3 queues");
    expect_error_text(c, "--max-queues");
    assert_ipcq_status(c, ipcq_put(c, "q4", "x", 1, CALL_MS), IPCQ_ELIMIT);
    assert_ipcq_status(c, ipcq_get(c, "q4", &(void *){NULL}, &(size_t){0}, CALL_MS), IPCQ_ELIMIT);
    /* The queues there still work, and deleting one makes room. */
    assert_ipcq_status(c, ipcq_delete(c, "q4"), IPCQ_ENOQUEUE);
    expect_get(c, "q2", "two", CALL_MS);
    put_text(c, "q1", "one");
    assert_ipcq_ok(c, ipcq_delete(c, "q3"));
    put_text(c, "q4", "four");
    expect_get(c, "q4", "four", CALL_MS);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

static int
child_put_one(void *arg)
{
    const test_broker *tb = arg;
    ipcq_client *c = client_on(tb);
    int rc = ipcq_put(c, "bounded", "late", 4, CHILD_MS);
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? 0 : 100 + rc;
}

static void
waiters_past_max_waiters_are_elimit(void **state)
{
    (void)state;
    test_broker tb;
    test_broker_start(&tb, "--max-waiters", "2", NULL);
    ipcq_client *c = client_on(&tb);
    assert_ipcq_ok(c, ipcq_create(c, "w", 0)); /* a get waits, creating nothing (Q2) */
    /* Two getters block; a third would be one too many. */
    getter_args ga = {&tb, "w", CHILD_MS};
    pid_t getters[2] = {fork_child(child_get_one, &ga), fork_child(child_get_one, &ga)};
    wait_queue_field(c, "w", IPCQ_QUEUE_GETTERS, 2, CALL_MS);
    assert_ipcq_status(c, ipcq_get(c, "w", &(void *){NULL}, &(size_t){0}, CALL_MS), IPCQ_ELIMIT);
    expect_error_text(c, "w: too many blocked getters: the queue has its max of 2");
    expect_error_text(c, "--max-waiters");
    /* A get that does not block is no waiter: it is answered as usual. */
    assert_ipcq_status(c, ipcq_get(c, "w", &(void *){NULL}, &(size_t){0}, IPCQ_NOWAIT), IPCQ_EMPTY);
    assert_int_equal(queue_field(c, "w", IPCQ_QUEUE_GETTERS), 2);
    put_text(c, "w", "a");
    put_text(c, "w", "b");
    for (int i = 0; i < 2; i++)
        assert_int_equal(reap_child(getters[i], CALL_MS), 0);

    /* The same for putters on a full queue. */
    assert_ipcq_ok(c, ipcq_create(c, "bounded", 1));
    put_text(c, "bounded", "first");
    pid_t putters[2] = {fork_child(child_put_one, &tb), fork_child(child_put_one, &tb)};
    wait_queue_field(c, "bounded", IPCQ_QUEUE_PUTTERS, 2, CALL_MS);
    assert_ipcq_status(c, ipcq_put(c, "bounded", "x", 1, CALL_MS), IPCQ_ELIMIT);
    expect_error_text(c, "bounded: too many blocked putters");
    assert_ipcq_status(c, ipcq_put(c, "bounded", "x", 1, IPCQ_NOWAIT), IPCQ_FULL);
    expect_get(c, "bounded", "first", CALL_MS);
    expect_get(c, "bounded", "late", CALL_MS);
    expect_get(c, "bounded", "late", CALL_MS);
    for (int i = 0; i < 2; i++)
        assert_int_equal(reap_child(putters[i], CALL_MS), 0);
    assert_int_equal(queue_field(c, "bounded", IPCQ_QUEUE_PUTTERS), 0);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

/* ---- max memory ---- */

#define MEMORY_LIMIT_MB 64
#define FLOOD_ITEM (64 * 1024)
#define FLOODERS 4
/* Async puts in flight per flooder: the library's default window. Requests
 * in transit (sent, not yet read by the broker's loop) wait in libzmq's
 * pipes, which the limit does not count; the broker lets libzmq read only
 * 32 ahead per client (router.c), so that they stay few. Measured in a
 * release build: peak RSS 76 MiB for this 64 MiB limit (allowed 86); with
 * libzmq reading up to 100,000 ahead, 87-126 MiB. Under ASan the flooders
 * are too slow to pile requests up either way. */
#define FLOOD_WINDOW 256
/* Over the limit and the broker's RSS when idle: requests in flight in
 * libzmq's pipes, the allocator's own waste. */
#define RSS_SLACK_MB 16

#ifdef __has_feature
#define IPCQ_HAS_FEATURE(f) __has_feature(f)
#else
#define IPCQ_HAS_FEATURE(f) 0
#endif

/* The RSS the broker may reach, in KiB. Under AddressSanitizer its
 * allocator rounds each block up to a size class (up to a quarter more: a
 * 64 KiB item takes 80 KiB) and shadows the heap (an eighth more). */
static long
rss_allowed_kib(long idle_kib)
{
    long limit = MEMORY_LIMIT_MB * 1024L;
#if defined(__SANITIZE_ADDRESS__) || IPCQ_HAS_FEATURE(address_sanitizer)
    limit += limit / 4 + limit / 8;
#endif
    return idle_kib + limit + RSS_SLACK_MB * 1024L;
}

/* What each flooder puts: item_size bytes, window of them in flight. */
typedef struct flood_args {
    const test_broker *tb;
    size_t item_size, window;
} flood_args;

/* A flooder: async puts until the broker refuses them; exits 0 when the
 * refusal was "over memory limit" (and said so). */
static int
child_flood(void *arg)
{
    const flood_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    char *item = calloc(1, a->item_size);
    assert_ipcq_ok(c, ipcq_set_put_window(c, a->window));
    int rc = IPCQ_OK;
    for (size_t i = 0; item != NULL && rc == IPCQ_OK && i < 400000; i++) {
        item[i % a->item_size] = (char)i;
        rc = ipcq_put_async(c, "flood", item, a->item_size);
    }
    if (rc == IPCQ_OK)
        rc = ipcq_flush(c, CHILD_MS);
    bool said_so = strstr(ipcq_client_error(c), "over memory limit") != NULL;
    free(item);
    ipcq_client_close(&c);
    return rc == IPCQ_EMEMLIMIT && said_so ? 0 : 100 + rc;
}

/* Starts a broker with --max-memory 64M and FLOODERS processes putting
 * until each is refused, sampling the broker's VmRSS all the while; checks
 * that it stayed within the limit and the slack. The broker runs with the
 * sanitizers' quarantine of freed memory kept small: it holds freed blocks
 * (256 MiB by default) to catch uses after free, memory the broker itself
 * gave back. Returns with *tb running and full. */
static void
flood(test_broker *tb, size_t item_size, size_t window)
{
    const char *old = getenv("ASAN_OPTIONS");
    char *saved = old ? strdup(old) : NULL;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=4", old ? old : "", old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    test_broker_start(tb, "--max-memory", "64M", NULL);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);

    long rss_idle = proc_rss_kb(tb->pid), rss_peak = rss_idle;
    assert_true(rss_idle > 0); /* the broker's /proc status is readable */
    flood_args args = {tb, item_size, window};
    pid_t flooders[FLOODERS];
    for (int i = 0; i < FLOODERS; i++)
        flooders[i] = fork_child(child_flood, &args);
    for (int left = FLOODERS; left > 0;) {
        long rss = proc_rss_kb(tb->pid);
        if (rss > rss_peak)
            rss_peak = rss;
        left = 0;
        for (int i = 0; i < FLOODERS; i++) {
            int st;
            if (flooders[i] == 0)
                continue;
            if (waitpid(flooders[i], &st, WNOHANG) == flooders[i]) {
                /* reaped here; reap_child would find nothing */
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 0);
                flooders[i] = 0;
            } else {
                left++;
            }
        }
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL); /* sampling interval */
    }
    ipcq_client *c = client_on(tb);
    print_message("memory flood of %zu-byte items: %lld items, %lld MiB of them; VmRSS idle "
                  "%ld MiB, peak %ld MiB (allowed %ld MiB)\n",
                  item_size, (long long)queue_field(c, "flood", IPCQ_QUEUE_SIZE),
                  (long long)queue_field(c, "flood", IPCQ_QUEUE_BYTES) >> 20, rss_idle / 1024,
                  rss_peak / 1024, rss_allowed_kib(rss_idle) / 1024);
    ipcq_client_close(&c);
    assert_true(rss_peak <= rss_allowed_kib(rss_idle));
}

static void
puts_past_max_memory_fail_and_rss_stays_within_it(void **state)
{
    (void)state;
    test_broker tb;
    flood(&tb, FLOOD_ITEM, FLOOD_WINDOW);
    ipcq_client *c = client_on(&tb);
    int64_t held = queue_field(c, "flood", IPCQ_QUEUE_BYTES);
    assert_true(held <= (int64_t)MEMORY_LIMIT_MB << 20);
    assert_true(held >= (int64_t)(MEMORY_LIMIT_MB - 8) << 20); /* it filled up to the limit */

    /* Over the limit: a put fails, with the figures; a get still works and
     * makes room, and a small put fits again. */
    static char big[FLOOD_ITEM];
    assert_ipcq_status(c, ipcq_put(c, "flood", big, sizeof big, CALL_MS), IPCQ_EMEMLIMIT);
    expect_error_text(c, "flood: over memory limit: the broker holds ");
    expect_error_text(c, "the limit is 67108864 (ipcqd --max-memory)");
    static char text[FLOOD_ITEM + 1];
    memset(text, 'x', FLOOD_ITEM);
    const char *cli[] = {IPCQ_CLI_PATH, "--broker", tb.endpoint, "put", "flood", text, NULL};
    assert_int_equal(run_quietly(cli), 4); /* the CLI's "any other error" */
    for (int i = 0; i < 16; i++) {
        void *data;
        size_t len;
        assert_ipcq_ok(c, ipcq_get(c, "flood", &data, &len, CALL_MS));
        assert_int_equal(len, FLOOD_ITEM);
        ipcq_free(data);
    }
    assert_ipcq_ok(c, ipcq_put(c, "flood", big, sizeof big, CALL_MS));
    assert_ipcq_ok(c, ipcq_delete(c, "flood"));
    put_text(c, "after", "served");
    expect_get(c, "after", "served", CALL_MS);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

/* Small items: the per-item overhead the estimate charges must cover what
 * they really cost (headers, allocator rounding), or RSS would outgrow the
 * limit long before the estimate reached it. */
static void
small_items_count_their_overhead(void **state)
{
    (void)state;
    test_broker tb;
    flood(&tb, 100, 256);
    /* A refused batch may have left room for a few more items, no more. */
    ipcq_client *c = client_on(&tb);
    int rc = IPCQ_OK, puts = 0;
    static const char item[100];
    while (rc == IPCQ_OK && puts++ < 256)
        rc = ipcq_put(c, "flood", item, sizeof item, CALL_MS);
    assert_ipcq_status(c, rc, IPCQ_EMEMLIMIT);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

/* ---- the flags ---- */

/* Runs ipcqd with one bad flag; returns its exit status. */
static int
ipcqd_status(const char *flag, const char *value)
{
    const char *argv[] = {IPCQD_PATH, "--bind", "ipc:///nonexistent/limits.sock",
                          flag,       value,    NULL};
    return run_quietly(argv);
}

static void
bad_limit_flags_are_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(ipcqd_status("--max-name-length", "256"), 2);
    assert_int_equal(ipcqd_status("--max-name-length", "0"), 2);
    assert_int_equal(ipcqd_status("--max-queues", "0"), 2);
    assert_int_equal(ipcqd_status("--max-waiters", "-1"), 2);
    assert_int_equal(ipcqd_status("--max-memory", "12X"), 2);
    assert_int_equal(ipcqd_status("--max-memory", "99999999999G"), 2);
    assert_int_equal(ipcqd_status("--spin-us", "-1"), 2);
    assert_int_equal(ipcqd_status("--spin-us", "1000001"), 2);
    assert_int_equal(ipcqd_status("--spin-us", "30x"), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name_over_the_max_name_length_is_einval),
        cmocka_unit_test(queues_past_max_queues_are_elimit),
        cmocka_unit_test(waiters_past_max_waiters_are_elimit),
        cmocka_unit_test(puts_past_max_memory_fail_and_rss_stays_within_it),
        cmocka_unit_test(small_items_count_their_overhead),
        cmocka_unit_test(bad_limit_flags_are_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
