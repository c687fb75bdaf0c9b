/*
 * The nats:// backend (SPEC §9, docs/NATS.md) against a real NATS JetStream
 * cluster: three nats-server processes on loopback, started and stopped by
 * this suite (nats_cluster.c). It skips, saying why, only if nats-server is
 * absent; a library built without libnats must refuse nats:// with
 * IPCQ_ENOTSUP, and that is all it checks then (test_without_libnats).
 *
 * Processes: producers, consumers and lease holders are this program run
 * again (--worker ...), each with a handle of its own; libnats's threads
 * do not survive fork(), so a child execs before it touches NATS.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "nats_cluster.h"
#if IPCQ_TEST_HAVE_LIBNATS
#include <nats/nats.h>
#endif

#define ACK_WAIT_MS 4000 /* the consumer's ack wait (libclient/nats/nats_internal.h) */

static nats_cluster cluster;
static bool cluster_up;

/* ---- workers: this program run again ------------------------------------ */

/* produce EP QUEUE N: puts "item-K" for K < N, waiting for room; prints
 * "put K" once each put was acknowledged. */
static int
worker_produce(const char *ep, const char *queue, int n)
{
    ipcq_client *c;
    if (ipcq_client_open(&c, ep) != IPCQ_OK)
        return 2;
    for (int k = 0; k < n; k++) {
        char item[32];
        int len = snprintf(item, sizeof item, "item-%d", k);
        int rc = ipcq_put(c, queue, item, (size_t)len, 20000);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "put %d: %s\n", k, ipcq_client_error(c));
            return 1;
        }
        printf("put %d\n", k);
        fflush(stdout);
    }
    ipcq_client_close(&c);
    return 0;
}

/* consume EP QUEUE: gets and prints each item until "end" or a get finds
 * nothing for 10 s. */
static int
worker_consume(const char *ep, const char *queue)
{
    ipcq_client *c;
    if (ipcq_client_open(&c, ep) != IPCQ_OK)
        return 2;
    for (;;) {
        void *d;
        size_t len;
        int rc = ipcq_get(c, queue, &d, &len, 10000);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "get: %s\n", ipcq_client_error(c));
            return 1;
        }
        bool end = len == 3 && memcmp(d, "end", 3) == 0;
        if (!end)
            printf("%.*s\n", (int)len, (char *)d);
        ipcq_free(d);
        if (end)
            break;
    }
    fflush(stdout);
    ipcq_client_close(&c);
    return 0;
}

/* lease EP QUEUE: takes one item on a 60 s lease, prints it and its
 * delivery count, and waits to be killed. */
static int
worker_lease(const char *ep, const char *queue)
{
    ipcq_client *c;
    if (ipcq_client_open(&c, ep) != IPCQ_OK)
        return 2;
    void *d;
    size_t len;
    uint64_t lease;
    uint32_t deliveries;
    if (ipcq_get_leased(c, queue, 60000, &d, &len, &lease, &deliveries, 10000) != IPCQ_OK) {
        fprintf(stderr, "get_leased: %s\n", ipcq_client_error(c));
        return 1;
    }
    printf("leased %.*s %u\n", (int)len, (char *)d, deliveries);
    fflush(stdout);
    for (;;)
        pause();
}

static int
worker_main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[2], "produce") == 0)
        return worker_produce(argv[3], argv[4], atoi(argv[5]));
    if (argc == 5 && strcmp(argv[2], "consume") == 0)
        return worker_consume(argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[2], "lease") == 0)
        return worker_lease(argv[3], argv[4]);
    fprintf(stderr, "unknown worker\n");
    return 2;
}

/* Starts this program as a worker: argv after "--worker", NULL ended. */
static void
start_worker(program_run *r, ...)
{
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    const char *argv[8] = {self, "--worker"};
    va_list ap;
    va_start(ap, r);
    for (int i = 2; i < 7 && (argv[i] = va_arg(ap, const char *)) != NULL; i++) {
    }
    va_end(ap);
    argv[7] = NULL;
    program_spec sp = {.argv = argv};
    program_start(r, &sp);
}

/* ---- fixtures ------------------------------------------------------------ */

static int
cluster_setup(void **state)
{
    (void)state;
    if (nats_server_path() == NULL || !IPCQ_TEST_HAVE_LIBNATS)
        return 0;
    nats_cluster_start(&cluster);
    cluster_up = true;
    return 0;
}

static int
cluster_teardown(void **state)
{
    (void)state;
    kill_all_children(); /* workers a failed test left */
    if (cluster_up)
        nats_cluster_stop(&cluster);
    cluster_up = false;
    return 0;
}

/* A handle on the cluster; skips the test if there is none. */
static ipcq_client *
open_cluster(void)
{
    if (!IPCQ_TEST_HAVE_LIBNATS) {
        print_message("skipped: libipcq was built without libnats (test_without_libnats)\n");
        skip();
    }
    if (!cluster_up) {
        print_message("skipped: nats-server is not installed (apt-get install nats-server)\n");
        skip();
    }
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, cluster.endpoint), IPCQ_OK);
    return c;
}

static void
put_str(ipcq_client *c, const char *queue, const char *s, int64_t timeout_ms)
{
    assert_ipcq_ok(c, ipcq_put(c, queue, s, strlen(s), timeout_ms));
}

static void
get_str(ipcq_client *c, const char *queue, const char *want, int64_t timeout_ms)
{
    void *d;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, queue, &d, &len, timeout_ms));
    if (len != strlen(want) || memcmp(d, want, len) != 0)
        fail_msg("%s: got '%.*s', want '%s'", queue, (int)len, (char *)d, want);
    ipcq_free(d);
}

static void
nats_nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Polls qsize until it is want (JetStream removes an acknowledged message
 * from a replicated stream a moment after the ack's answer). */
static void
wait_qsize(ipcq_client *c, const char *queue, size_t want)
{
    int64_t deadline = now_ms() + 5000;
    size_t n = 0;
    while (now_ms() < deadline) {
        assert_ipcq_ok(c, ipcq_qsize(c, queue, &n));
        if (n == want)
            return;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("%s: qsize %zu, want %zu", queue, n, want);
}

/* Polls field f of queue until it is at least want (a getter's pull
 * request shows in the consumer's info while it waits). */
static void
wait_queue_field_nats(ipcq_client *c, const char *queue, ipcq_queue_field f, int64_t want)
{
    int64_t deadline = now_ms() + 10000;
    while (queue_field(c, queue, f) < want && now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(queue_field(c, queue, f) >= want);
}

/* ---- the queue rules that hold on JetStream ------------------------------ */

/* A library built without libnats refuses nats:// in one clear line. */
static void
test_without_libnats(void **state)
{
    (void)state;
    if (IPCQ_TEST_HAVE_LIBNATS) {
        print_message("skipped: this libipcq has the nats:// backend\n");
        skip();
    }
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, "nats://127.0.0.1:4222"), IPCQ_OK);
    assert_ipcq_status(c, ipcq_put(c, "q", "x", 1, 0), IPCQ_ENOTSUP);
    assert_string_equal(ipcq_client_error(c), "q: put: nats:// needs a libipcq built with "
                                              "libnats (install libnats-dev and rebuild)");
    ipcq_client_close(&c);
}

/* Q1, Q5, Q11: bad input fails as on a broker, before anything is sent. */
static void
test_bad_input(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_status(c, ipcq_put(c, "", "x", 1, 0), IPCQ_EINVAL);
    assert_non_null(strstr(ipcq_client_error(c), "invalid queue name"));
    assert_ipcq_status(c, ipcq_put(c, "q", "x", 1, -5), IPCQ_EINVAL);
    assert_string_equal(ipcq_client_error(c), "q: negative timeout -5 ms");
    void *d;
    size_t len;
    uint64_t lease;
    assert_ipcq_status(c, ipcq_get_leased(c, "q", 0, &d, &len, &lease, NULL, 0), IPCQ_EINVAL);
    ipcq_client_close(&c);
}

/* Q2 (create, conflict), Q3 (binary-safe, empty), Q4 (FIFO), Q8 (qsize). */
static void
test_put_get_fifo(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "fifo", 0));
    assert_ipcq_ok(c, ipcq_create(c, "fifo", 0));
    assert_ipcq_status(c, ipcq_create(c, "fifo", 4), IPCQ_ECONFLICT);
    assert_string_equal(ipcq_client_error(c), "fifo: queue exists with maxsize 0, asked for 4");
    for (int i = 0; i < 5; i++) {
        char s[8];
        snprintf(s, sizeof s, "%d", i);
        put_str(c, "fifo", s, IPCQ_FOREVER);
    }
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    assert_ipcq_ok(c, ipcq_put(c, "fifo", bin, sizeof bin, IPCQ_FOREVER));
    assert_ipcq_ok(c, ipcq_put(c, "fifo", NULL, 0, IPCQ_FOREVER));
    wait_qsize(c, "fifo", 7);
    for (int i = 0; i < 5; i++) {
        char s[8];
        snprintf(s, sizeof s, "%d", i);
        get_str(c, "fifo", s, 1000);
    }
    void *d;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, "fifo", &d, &len, 1000));
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(d, bin, sizeof bin);
    ipcq_free(d);
    assert_ipcq_ok(c, ipcq_get(c, "fifo", &d, &len, 1000));
    assert_int_equal(len, 0);
    assert_non_null(d);
    ipcq_free(d);
    wait_qsize(c, "fifo", 0);
    assert_ipcq_ok(c, ipcq_delete(c, "fifo"));
    ipcq_client_close(&c);
}

/* Q5, Q6, Q11: nowait and timeouts fail with Full and Empty, in time. */
static void
test_full_empty_timeouts(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "bounded", 2));
    put_str(c, "bounded", "a", 0);
    put_str(c, "bounded", "b", 0);
    bool full = false;
    assert_ipcq_ok(c, ipcq_full(c, "bounded", &full));
    assert_true(full);
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_put(c, "bounded", "c", 1, IPCQ_NOWAIT), IPCQ_FULL);
    assert_true(now_ms() - t0 < 1000);
    assert_string_equal(ipcq_client_error(c), "bounded: queue is full");
    t0 = now_ms();
    assert_ipcq_status(c, ipcq_put(c, "bounded", "c", 1, 300), IPCQ_FULL);
    int64_t took = now_ms() - t0;
    if (took < 300 || took > 2000)
        fail_msg("a put of timeout 300 ms took %lld ms", (long long)took);
    /* Q2: a larger bound admits the next put. */
    assert_ipcq_ok(c, ipcq_set_maxsize(c, "bounded", 3));
    put_str(c, "bounded", "c", 0);
    /* A smaller bound than the items held: JetStream would drop items. */
    assert_ipcq_status(c, ipcq_set_maxsize(c, "bounded", 1), IPCQ_ENOTSUP);
    get_str(c, "bounded", "a", 0);
    get_str(c, "bounded", "b", 0);
    get_str(c, "bounded", "c", 0);
    t0 = now_ms();
    void *d;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "bounded", &d, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
    assert_null(d);
    assert_true(now_ms() - t0 < 1000);
    t0 = now_ms();
    assert_ipcq_status(c, ipcq_get(c, "bounded", &d, &len, 300), IPCQ_EMPTY);
    took = now_ms() - t0;
    if (took < 300 || took > 2000)
        fail_msg("a get of timeout 300 ms took %lld ms", (long long)took);
    assert_ipcq_ok(c, ipcq_delete(c, "bounded"));
    ipcq_client_close(&c);
}

/* Q2: a get on a queue that does not exist waits and does not create it. */
static void
test_get_absent_queue(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    void *d;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "absent", &d, &len, 200), IPCQ_EMPTY);
    size_t n;
    assert_ipcq_status(c, ipcq_qsize(c, "absent", &n), IPCQ_ENOQUEUE);
    assert_ipcq_status(c, ipcq_delete(c, "absent"), IPCQ_ENOQUEUE);
    ipcq_client_close(&c);
}

typedef struct blocked_get {
    const char *queue;
    int rc;
} blocked_get;

static void *
get_forever(void *arg)
{
    blocked_get *g = arg;
    ipcq_client *c;
    g->rc = ipcq_client_open(&c, cluster.endpoint);
    void *d;
    size_t len;
    if (g->rc == IPCQ_OK)
        g->rc = ipcq_get(c, g->queue, &d, &len, IPCQ_FOREVER);
    ipcq_client_close(&c);
    return NULL;
}

/* Q10: deleting a queue wakes a getter blocked on it. */
static void
test_delete_wakes_getter(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "doomed", 0));
    blocked_get g = {"doomed", -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, get_forever, &g), 0);
    wait_queue_field_nats(c, "doomed", IPCQ_QUEUE_GETTERS, 1);
    assert_ipcq_ok(c, ipcq_delete(c, "doomed"));
    pthread_join(t, NULL);
    assert_int_equal(g.rc, IPCQ_EDELETED);
    ipcq_client_close(&c);
}

/* What JetStream cannot serve is IPCQ_ENOTSUP with one line naming it. */
static void
test_unsupported(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "plain", 0));
    assert_ipcq_status(c, ipcq_set_prefetch(c, 8, 1000), IPCQ_ENOTSUP);
    assert_string_equal(ipcq_client_error(c), "set_prefetch: not supported on a nats:// "
                                              "endpoint (JetStream; see docs/NATS.md)");
    assert_ipcq_ok(c, ipcq_delete(c, "plain"));
    ipcq_client_close(&c);
}

/* D2, D6: a lease is released to the queue, its count kept; past the
 * limit the item goes to NAME.dlq. Ack of a settled lease: IPCQ_ELEASE. */
static void
test_leases_dead_letter(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "work", 0));
    assert_ipcq_ok(c, ipcq_set_max_deliveries(c, "work", 2));
    assert_int_equal(queue_field(c, "work", IPCQ_QUEUE_MAX_DELIVERIES), 2);
    put_str(c, "work", "job", IPCQ_FOREVER);
    void *d;
    size_t len;
    uint64_t lease;
    uint32_t deliveries;
    for (uint32_t want = 1; want <= 2; want++) {
        assert_ipcq_ok(c, ipcq_get_leased(c, "work", 5000, &d, &len, &lease, &deliveries, 2000));
        assert_int_equal(deliveries, want);
        assert_memory_equal(d, "job", 3);
        ipcq_free(d);
        assert_ipcq_ok(c, ipcq_extend(c, lease, 5000));
        assert_ipcq_ok(c, ipcq_release(c, lease));
        assert_ipcq_status(c, ipcq_ack(c, lease), IPCQ_ELEASE);
    }
    /* A third delivery is past the limit: the item is in work.dlq. */
    assert_ipcq_status(c, ipcq_get_leased(c, "work", 5000, &d, &len, &lease, &deliveries, 300),
                       IPCQ_EMPTY);
    get_str(c, "work.dlq", "job", 2000);
    put_str(c, "work", "next", IPCQ_FOREVER);
    assert_ipcq_ok(c, ipcq_get_leased(c, "work", 5000, &d, &len, &lease, &deliveries, 2000));
    ipcq_free(d);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    wait_qsize(c, "work", 0);
    assert_ipcq_ok(c, ipcq_delete(c, "work"));
    assert_ipcq_ok(c, ipcq_delete(c, "work.dlq"));
    ipcq_client_close(&c);
}

/* B: get_many and ack_many acknowledge a batch in one round trip (all but
 * the last without waiting): every item of it is gone afterwards. */
static void
test_batch_acks(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    enum { N = 40 };
    const void *items[N];
    size_t lens[N];
    char text[N][8];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)snprintf(text[i], sizeof text[i], "%d", i);
        items[i] = text[i];
    }
    assert_ipcq_ok(c, ipcq_put_many(c, "batch", N, items, lens, IPCQ_FOREVER));
    wait_qsize(c, "batch", N);
    void *got[N];
    size_t got_lens[N], n = 0, total = 0;
    while (total < N) {
        assert_ipcq_ok(c, ipcq_get_many(c, "batch", N, got, got_lens, &n, 2000));
        for (size_t i = 0; i < n; i++, total++) {
            assert_int_equal(got_lens[i], lens[total]);
            assert_memory_equal(got[i], text[total], lens[total]);
            ipcq_free(got[i]);
        }
    }
    wait_qsize(c, "batch", 0);
    assert_int_equal(queue_field(c, "batch", IPCQ_QUEUE_LEASED), 0);
    /* leases: ack_many */
    assert_ipcq_ok(c, ipcq_put_many(c, "batch", N, items, lens, IPCQ_FOREVER));
    uint64_t leases[N];
    for (total = 0; total < N; total += n) {
        assert_ipcq_ok(c, ipcq_get_leased_many(c, "batch", 30000, N - total, got, got_lens,
                                               leases + total, &n, 2000));
        for (size_t i = 0; i < n; i++)
            ipcq_free(got[i]);
    }
    assert_int_equal(queue_field(c, "batch", IPCQ_QUEUE_LEASED), N);
    assert_ipcq_ok(c, ipcq_ack_many(c, N, leases));
    assert_ipcq_status(c, ipcq_ack_many(c, N, leases), IPCQ_ELEASE);
    wait_qsize(c, "batch", 0);
    assert_int_equal(queue_field(c, "batch", IPCQ_QUEUE_LEASED), 0);
    assert_ipcq_ok(c, ipcq_delete(c, "batch"));
    ipcq_client_close(&c);
}

/* Q12 for async puts: one after a shutdown is reported IPCQ_ESHUTDOWN by
 * flush; a plain put on a handle that knew the queue open fails the same. */
static void
test_shutdown_async_put(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_put_async(c, "closing", "a", 1));
    assert_ipcq_ok(c, ipcq_flush(c, 10000));
    assert_ipcq_ok(c, ipcq_shutdown(c, "closing", false));
    assert_int_equal(queue_field(c, "closing", IPCQ_QUEUE_SHUTDOWN), 1);
    assert_ipcq_ok(c, ipcq_put_async(c, "closing", "b", 1));
    assert_ipcq_status(c, ipcq_flush(c, 10000), IPCQ_ESHUTDOWN);
    assert_string_equal(ipcq_client_error(c), "closing: queue is shut down");
    assert_ipcq_status(c, ipcq_put(c, "closing", "c", 1, 5000), IPCQ_ESHUTDOWN);
    get_str(c, "closing", "a", 1000);
    void *d;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "closing", &d, &len, 5000), IPCQ_ESHUTDOWN);
    assert_ipcq_ok(c, ipcq_task_done(c, "closing"));
    assert_ipcq_ok(c, ipcq_join(c, "closing", 1000));
    assert_ipcq_ok(c, ipcq_delete(c, "closing"));
    ipcq_client_close(&c);
}

/* A bounded queue under churn: a producer thread puts CHURN_ITEMS through a
 * bound-3 queue, half by blocking puts and half by async puts (window 4),
 * while this thread takes them. Every item comes out once, and every
 * server's copy of the stream ends the same: empty, with one sequence per
 * item. (A work-queue stream under nats-server 2.9.10 failed this: its
 * servers removed acknowledged messages out of step with the stream's log
 * and checked the bound each by its own count, so they disagreed on which
 * puts the full queue refused; nats_remove.c.) */
enum { CHURN_ITEMS = 300 };

typedef struct churn_producer {
    int put_rc, flush_rc;
    char error[256];
} churn_producer;

static void *
churn_produce(void *arg)
{
    churn_producer *p = arg;
    ipcq_client *c;
    if ((p->put_rc = ipcq_client_open(&c, cluster.endpoint)) != IPCQ_OK)
        return NULL;
    ipcq_set_put_window(c, 4);
    for (int i = 0; i < CHURN_ITEMS && p->put_rc == IPCQ_OK; i++) {
        char item[16];
        int len = snprintf(item, sizeof item, "i%d", i);
        p->put_rc = i < CHURN_ITEMS / 2 ? ipcq_put(c, "churn", item, (size_t)len, 30000)
                                        : ipcq_put_async(c, "churn", item, (size_t)len);
    }
    p->flush_rc = ipcq_flush(c, 30000);
    snprintf(p->error, sizeof p->error, "%s", ipcq_client_error(c));
    ipcq_client_close(&c);
    return NULL;
}

/* True once every server holds stream with no message and last sequence
 * last_seq; false at the deadline, with what each one held printed. */
static bool
replicas_settle(const char *stream, unsigned long long last_seq, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    nats_replica_state r[NATS_NODES] = {{0}};
    bool known[NATS_NODES];
    for (;;) {
        int agree = 0;
        for (int i = 0; i < NATS_NODES; i++) {
            known[i] = nats_node_stream_state(&cluster, i, stream, &r[i]);
            agree += known[i] && r[i].msgs == 0 && r[i].last_seq == last_seq;
        }
        if (agree == NATS_NODES)
            return true;
        if (now_ms() >= deadline)
            break;
        nats_nap_ms(50);
    }
    for (int i = 0; i < NATS_NODES; i++)
        print_message("node %d: %s msgs %llu first %llu last %llu\n", i,
                      known[i] ? "" : "(no answer)", r[i].msgs, r[i].first_seq, r[i].last_seq);
    return false;
}

static void
test_bounded_queue_churn(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "churn", 3));
    churn_producer p = {.put_rc = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_produce, &p), 0);
    bool seen[CHURN_ITEMS] = {false};
    for (int n = 0; n < CHURN_ITEMS; n++) {
        void *d;
        size_t len;
        int rc = ipcq_get(c, "churn", &d, &len, 10000);
        if (rc != IPCQ_OK) {
            pthread_join(t, NULL);
            fail_msg("get %d of %d: %s (producer: %d %d %s)", n + 1, CHURN_ITEMS,
                     ipcq_client_error(c), p.put_rc, p.flush_rc, p.error);
        }
        char item[16] = {0};
        memcpy(item, d, len < sizeof item - 1 ? len : sizeof item - 1);
        ipcq_free(d);
        int i = item[0] == 'i' ? atoi(item + 1) : -1;
        if (i < 0 || i >= CHURN_ITEMS || seen[i])
            fail_msg("item '%s' after %d gets: unknown or seen before", item, n);
        seen[i] = true;
    }
    pthread_join(t, NULL);
    assert_int_equal(p.put_rc, IPCQ_OK);
    assert_int_equal(p.flush_rc, IPCQ_OK);
    assert_true(replicas_settle("Q_churn", CHURN_ITEMS, 10000));
    assert_ipcq_ok(c, ipcq_delete(c, "churn"));
    ipcq_client_close(&c);
}

#if IPCQ_TEST_HAVE_LIBNATS
/* Takes the next item of queue QUEUE (its stream Q_QUEUE) and acknowledges
 * it through libnats itself, as a get does, but does not delete it: what a
 * taker killed between its ack and its delete leaves (nats_remove.c). */
static void
ack_without_delete(const char *queue)
{
    char url[64], stream[64], subject[80];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", cluster.client_port[0]);
    snprintf(stream, sizeof stream, "Q_%s", queue);
    snprintf(subject, sizeof subject, "ipcq.q.%s", stream);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    natsMsgList list = {0};
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = "ipcq";
    assert_int_equal(natsConnection_ConnectTo(&nc, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_PullSubscribe(&sub, js, subject, "ipcq", NULL, &so, NULL), NATS_OK);
    assert_int_equal(natsSubscription_Fetch(&list, sub, 1, 5000, NULL), NATS_OK);
    assert_int_equal(list.Count, 1);
    assert_int_equal(natsMsg_AckSync(list.Msgs[0], NULL, NULL), NATS_OK);
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}
#endif

/* An item taken and acknowledged whose delete was lost stays in the stream,
 * out of qsize but counted against the bound: a put the full queue refuses
 * sweeps it (purges below the consumer's ack floor) and gets in. */
static void
test_sweep_lost_delete(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
#if IPCQ_TEST_HAVE_LIBNATS
    assert_ipcq_ok(c, ipcq_create(c, "sweep", 1));
    put_str(c, "sweep", "a", 5000);
    ack_without_delete("sweep");
    wait_qsize(c, "sweep", 0);
    assert_ipcq_status(c, ipcq_put(c, "sweep", "b", 1, IPCQ_NOWAIT), IPCQ_FULL);
    put_str(c, "sweep", "b", 5000);
    get_str(c, "sweep", "b", 5000);
    wait_qsize(c, "sweep", 0);
    assert_ipcq_ok(c, ipcq_delete(c, "sweep"));
#endif
    ipcq_client_close(&c);
}

/* D4: a child forked from a process that used its nats:// handle uses the
 * handle it inherited (its own connection, never the parent's), and the
 * parent's goes on working. */
static int
child_on_inherited(void *arg)
{
    ipcq_client *c = arg;
    void *d;
    size_t len;
    if (ipcq_get(c, "forked", &d, &len, 10000) != IPCQ_OK)
        return 1;
    bool right = len == 6 && memcmp(d, "parent", 6) == 0;
    ipcq_free(d);
    int rc = ipcq_put(c, "forked", "child", 5, 10000);
    ipcq_client_close(&c);
    return !right ? 2 : rc == IPCQ_OK ? 0 : 3;
}

static void
test_fork_inherited_handle(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    put_str(c, "forked", "warm", IPCQ_FOREVER);
    get_str(c, "forked", "warm", 2000); /* the parent's connection and threads are up */
    put_str(c, "forked", "parent", IPCQ_FOREVER);
    pid_t child = fork_child(child_on_inherited, c);
    assert_int_equal(reap_child(child, 30000), 0);
    get_str(c, "forked", "child", 5000);
    wait_qsize(c, "forked", 0);
    assert_ipcq_ok(c, ipcq_delete(c, "forked"));
    ipcq_client_close(&c);
}

/* Threads of this process. */
static int
thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A child forked after its parent closed every handle: one put and get on a
 * handle of its own; exits 0 if it then runs as many threads as its parent
 * did for the same (libnats's process-wide ones among them: the collector
 * that frees every message, which a child forked while they ran lacks). */
static int
child_after_close(void *arg)
{
    int want = *(const int *)arg;
    ipcq_client *c;
    void *d = NULL;
    size_t len;
    if (ipcq_client_open(&c, cluster.endpoint) != IPCQ_OK ||
        ipcq_put(c, "afterclose", "child", 5, 10000) != IPCQ_OK ||
        ipcq_get(c, "afterclose", &d, &len, 10000) != IPCQ_OK)
        return 2;
    ipcq_free(d);
    int n = thread_count();
    ipcq_client_close(&c);
    return n == want ? 0 : 10 + n;
}

/* D4: closing the last handle stops libnats's process-wide threads, so that
 * a child forked afterwards starts them afresh and frees its messages. */
static void
test_fork_after_close(void **state)
{
    (void)state;
    int before = thread_count();
    ipcq_client *c = open_cluster();
    put_str(c, "afterclose", "parent", IPCQ_FOREVER);
    get_str(c, "afterclose", "parent", 5000);
    int connected = thread_count();
    assert_true(connected > before);
    ipcq_client_close(&c);
    assert_int_equal(thread_count(), before);
    pid_t child = fork_child(child_after_close, &connected);
    assert_int_equal(reap_child(child, 30000), 0);
    c = open_cluster();
    assert_ipcq_ok(c, ipcq_delete(c, "afterclose"));
    ipcq_client_close(&c);
}

/* A pool task: its result is the task, echoed. */
static int
echo_task(const void *task, size_t len, void **result, size_t *result_len, void *arg)
{
    (void)arg;
    if ((*result = malloc(len ? len : 1)) == NULL)
        return 1;
    memcpy(*result, task, len);
    *result_len = len;
    return 0;
}

/* D4 for the pool: its workers are forked after its connection let go of
 * libnats, never while it runs, which a forked child says on stderr (its
 * messages would never be freed). The workers' stderr goes to a file here. */
static void
test_pool_workers_start_clean(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    ipcq_client_close(&c);
    char path[] = "/tmp/ipcq-test-nats-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    ipcq_pool *p = NULL;
    int rc = ipcq_pool_start(&p, cluster.endpoint, 2, echo_task, NULL);
    int done = 0;
    for (int i = 0; rc == IPCQ_OK && i < 6; i++, done++) {
        void *r = NULL;
        size_t len = 0;
        rc = ipcq_pool_apply(p, "task", 4, &r, &len, 20000);
        rc = rc == IPCQ_OK && (len != 4 || memcmp(r, "task", 4) != 0) ? IPCQ_ESYSTEM : rc;
        ipcq_free(r);
    }
    ipcq_pool_free(&p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char text[4096] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_int_equal(rc, IPCQ_OK);
    assert_int_equal(done, 6);
    assert_true(n >= 0);
    if (strstr(text, "forked while libnats ran") != NULL)
        fail_msg("a worker inherited a running libnats: %s", text);
}

typedef struct shared_get {
    ipcq_client *c;
    int rc;
} shared_get;

static void *
get_on_shared(void *arg)
{
    shared_get *g = arg;
    void *d;
    size_t len;
    g->rc = ipcq_get(g->c, "d8-wait", &d, &len, 30000);
    ipcq_free(d);
    return NULL;
}

/* D8: threads share one handle; one blocked in a get does not hold up
 * another's puts (each thread has its own subscription; the connection is
 * libnats's, thread-safe). */
static void
test_threads_share_handle(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    assert_ipcq_ok(c, ipcq_create(c, "d8-wait", 0));
    put_str(c, "d8-puts", "warm", IPCQ_FOREVER);
    shared_get g = {c, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, get_on_shared, &g), 0);
    wait_queue_field_nats(c, "d8-wait", IPCQ_QUEUE_GETTERS, 1);
    int64_t t0 = now_ms();
    for (int i = 0; i < 20; i++)
        put_str(c, "d8-puts", "x", 10000);
    int64_t took = now_ms() - t0;
    /* Behind the get, each put would wait out a fetch slice (1 s). */
    if (took > 5000)
        fail_msg("20 puts beside a blocked get took %lld ms", (long long)took);
    put_str(c, "d8-wait", "go", IPCQ_FOREVER);
    pthread_join(t, NULL);
    assert_int_equal(g.rc, IPCQ_OK);
    assert_ipcq_ok(c, ipcq_delete(c, "d8-wait"));
    assert_ipcq_ok(c, ipcq_delete(c, "d8-puts"));
    ipcq_client_close(&c);
}

/* ---- processes ------------------------------------------------------------ */

/* Counts the lines "item-K" of out into seen[K] (K < n). */
static void
count_items(const char *out, int *seen, int n)
{
    for (const char *p = out; (p = strstr(p, "item-")) != NULL; p++) {
        int k = atoi(p + 5);
        assert_true(k >= 0 && k < n);
        seen[k]++;
    }
}

/* A producer and two consumers, each a process of its own: every item
 * comes out once. */
static void
test_producer_consumers(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    enum { N = 200 };
    assert_ipcq_ok(c, ipcq_create(c, "pc", 16));
    program_run prod, cons[2];
    start_worker(&cons[0], "consume", cluster.endpoint, "pc", NULL);
    start_worker(&cons[1], "consume", cluster.endpoint, "pc", NULL);
    start_worker(&prod, "produce", cluster.endpoint, "pc", "200", NULL);
    program_finish(&prod, 60000);
    expect_exit(&prod, 0);
    put_str(c, "pc", "end", IPCQ_FOREVER);
    put_str(c, "pc", "end", IPCQ_FOREVER);
    int seen[N] = {0};
    for (int i = 0; i < 2; i++) {
        program_finish(&cons[i], 60000);
        expect_exit(&cons[i], 0);
        count_items(cons[i].out.data, seen, N);
        program_free(&cons[i]);
    }
    program_free(&prod);
    for (int k = 0; k < N; k++)
        if (seen[k] != 1)
            fail_msg("item-%d came out %d times", k, seen[k]);
    assert_ipcq_ok(c, ipcq_delete(c, "pc"));
    ipcq_client_close(&c);
}

/* D1, D2: an item leased by a worker that dies comes back to the next
 * getter with its delivery count raised. */
static void
test_leased_worker_dies(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    put_str(c, "leased", "precious", IPCQ_FOREVER);
    program_run w;
    start_worker(&w, "lease", cluster.endpoint, "leased", NULL);
    while (strstr(w.out.data, "\n") == NULL && program_pump(&w, 100)) {
    }
    assert_string_equal(w.out.data, "leased precious 1\n");
    kill_child(w.pid);
    program_free(&w);
    void *d;
    size_t len;
    uint64_t lease;
    uint32_t deliveries;
    /* back within the consumer's ack wait (4 s) */
    assert_ipcq_ok(c, ipcq_get_leased(c, "leased", 5000, &d, &len, &lease, &deliveries, 10000));
    assert_int_equal(len, 8);
    assert_memory_equal(d, "precious", 8);
    assert_int_equal(deliveries, 2);
    ipcq_free(d);
    assert_ipcq_ok(c, ipcq_ack(c, lease));
    assert_ipcq_ok(c, ipcq_delete(c, "leased"));
    ipcq_client_close(&c);
}

/* True if every item the producer's output says was acknowledged ("put K")
 * is counted in seen; else *missing is the first that is not. */
static bool
all_acked_seen(const char *out, const int *seen, int n, int *missing)
{
    for (const char *p = out; (p = strstr(p, "put ")) != NULL; p++) {
        int k = atoi(p + 4);
        if (k >= 0 && k < n && seen[k] == 0) {
            *missing = k;
            return false;
        }
    }
    return true;
}

/* How many of seen[0..n) are not 0. */
static int
distinct(const int *seen, int n)
{
    int d = 0;
    for (int k = 0; k < n; k++)
        d += seen[k] > 0;
    return d;
}

/* Gets one "item-K" (K < n) of queue within timeout_ms into seen[K];
 * false if the queue stayed empty. */
static bool
get_item(ipcq_client *c, const char *queue, int *seen, int n, int64_t timeout_ms)
{
    void *d;
    size_t len;
    int rc = ipcq_get(c, queue, &d, &len, timeout_ms);
    if (rc == IPCQ_EMPTY)
        return false;
    assert_ipcq_ok(c, rc);
    char item[32];
    snprintf(item, sizeof item, "%.*s", (int)(len < 31 ? len : 31), (char *)d);
    ipcq_free(d);
    int k = atoi(item + 5);
    if (strncmp(item, "item-", 5) != 0 || k < 0 || k >= n)
        fail_msg("%s: an item nobody put: '%s'", queue, item);
    seen[k]++;
    return true;
}

/* SPEC §9: one server of three SIGKILLed while a producer puts and this
 * process gets, then restarted: every acknowledged put comes out, and every
 * get returns within its timeout. Both connect to the server that is
 * killed (servers are tried in the order listed, and it comes first), so
 * both must move to another. An item may come out twice (at least once:
 * an ack lost with the server), so this gets until every item the producer
 * had acknowledged was seen, not a fixed count, then drains the queue. */
static void
test_server_killed(void **state)
{
    (void)state;
    ipcq_client *admin = open_cluster();
    enum { N = 300 };
    assert_ipcq_ok(admin, ipcq_create(admin, "survive", 0));
    char first[128];
    snprintf(first, sizeof first, "nats://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
             cluster.client_port[1], cluster.client_port[0], cluster.client_port[2]);
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, first), IPCQ_OK);
    assert_ipcq_ok(c, ipcq_ping(c));
    program_run prod;
    start_worker(&prod, "produce", first, "survive", "300", NULL);
    int seen[N] = {0};
    int64_t slowest = 0, deadline = now_ms() + 120000;
    bool producing = true;
    int missing = -1;
    /* Until every item came out, or the producer ended (a failed put:
     * expect_exit says) and every one it had acknowledged did. */
    for (int got = 0;
         distinct(seen, N) < N && (producing || !all_acked_seen(prod.out.data, seen, N, &missing));
         got++) {
        if (got == 80)
            nats_node_kill(&cluster, 1);
        if (got == 160)
            nats_node_restart(&cluster, 1);
        if (now_ms() > deadline)
            fail_msg("not every acknowledged item came out in 120 s (item-%d did not); "
                     "producer: %s",
                     missing, prod.err.data);
        int64_t t0 = now_ms();
        if (!get_item(c, "survive", seen, N, 15000)) {
            if (!producing && all_acked_seen(prod.out.data, seen, N, &missing))
                break;
            fail_msg("get %d: %s after %lld ms (item-%d was acknowledged, not seen; the "
                     "queue holds %lld, %lld leased); producer: %s, last put: %s",
                     got, ipcq_client_error(c), (long long)(now_ms() - t0), missing,
                     (long long)queue_field(admin, "survive", IPCQ_QUEUE_SIZE),
                     (long long)queue_field(admin, "survive", IPCQ_QUEUE_LEASED), prod.err.data,
                     strrchr(prod.out.data, 'p') ? strrchr(prod.out.data, 'p') : "none");
        }
        slowest = now_ms() - t0 > slowest ? now_ms() - t0 : slowest;
        producing = producing && program_pump(&prod, 0);
    }
    program_finish(&prod, 60000);
    expect_exit(&prod, 0);
    print_message("slowest get across the kill: %lld ms\n", (long long)slowest);
    /* What is left is duplicates only: a message whose ack was lost comes
     * back after the ack wait. */
    while (get_item(c, "survive", seen, N, ACK_WAIT_MS + 1000)) {
    }
    for (int k = 0; k < N; k++) {
        if (seen[k] == 0)
            fail_msg("item-%d was acknowledged and lost", k);
        if (seen[k] > 1)
            print_message("item-%d came out %d times (at least once)\n", k, seen[k]);
    }
    /* Every item came out and a get finds nothing more. JetStream may still
     * count a message it will not deliver (nats-server 2.9.10, after a
     * leader change: docs/NATS.md): said, not failed. */
    int64_t deadline_empty = now_ms() + 5000;
    size_t left = 1;
    while (ipcq_qsize(c, "survive", &left) == IPCQ_OK && left > 0 && now_ms() < deadline_empty)
        nats_nap_ms(20);
    if (left > 0)
        print_message("JetStream still counts %zu message(s) of 'survive' that no get receives "
                      "(%lld leased)\n",
                      left, (long long)queue_field(c, "survive", IPCQ_QUEUE_LEASED));
    program_free(&prod);
    assert_ipcq_ok(admin, ipcq_delete(admin, "survive"));
    ipcq_client_close(&c);
    ipcq_client_close(&admin);
}

/* ---- the CLI ----------------------------------------------------------------- */

static int
cli(const char *ep, ...)
{
    const char *argv[16] = {IPCQ_CLI_PATH, "--broker", ep};
    va_list ap;
    va_start(ap, ep);
    int i = 3;
    while (i < 15 && (argv[i] = va_arg(ap, const char *)) != NULL)
        i++;
    va_end(ap);
    argv[i] = NULL;
    return run_quietly(argv);
}

/* SPEC §5's exit statuses on nats://. */
static void
test_cli_exit_codes(void **state)
{
    (void)state;
    ipcq_client *c = open_cluster();
    ipcq_client_close(&c);
    const char *ep = cluster.endpoint;
    assert_int_equal(cli(ep, "ping", NULL), 0);
    assert_int_equal(cli(ep, "create", "cliq", "--maxsize", "1", NULL), 0);
    assert_int_equal(cli(ep, "put", "cliq", "one", NULL), 0);
    assert_int_equal(cli(ep, "put", "cliq", "two", "--nowait", NULL), 1);
    assert_int_equal(cli(ep, "get", "cliq", "--timeout", "1", NULL), 0);
    assert_int_equal(cli(ep, "get", "cliq", "--nowait", NULL), 1);
    assert_int_equal(cli(ep, "get", "cliq", "--timeout", "-1", NULL), 2);
    assert_int_equal(cli(ep, "join", "cliq", "--timeout", "0.2", NULL), 1);
    assert_int_equal(cli(ep, "task-done", "cliq", NULL), 0);
    assert_int_equal(cli(ep, "join", "cliq", "--timeout", "1", NULL), 0);
    assert_int_equal(cli(ep, "task-done", "cliq", NULL), 4);
    assert_int_equal(cli(ep, "shutdown", "cliq", NULL), 0);
    assert_int_equal(cli(ep, "put", "cliq", "three", NULL), 4);
    assert_int_equal(cli(ep, "rm", "cliq", NULL), 0);
    assert_int_equal(cli(ep, "rm", "cliq", NULL), 4);
    assert_int_equal(cli("nats://127.0.0.1:1", "ping", NULL), 3);
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_libnats),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_put_get_fifo),
        cmocka_unit_test(test_full_empty_timeouts),
        cmocka_unit_test(test_get_absent_queue),
        cmocka_unit_test(test_delete_wakes_getter),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_leases_dead_letter),
        cmocka_unit_test(test_producer_consumers),
        cmocka_unit_test(test_leased_worker_dies),
        cmocka_unit_test(test_batch_acks),
        cmocka_unit_test(test_shutdown_async_put),
        cmocka_unit_test(test_bounded_queue_churn),
        cmocka_unit_test(test_sweep_lost_delete),
        cmocka_unit_test(test_fork_inherited_handle),
        cmocka_unit_test(test_fork_after_close),
        cmocka_unit_test(test_pool_workers_start_clean),
        cmocka_unit_test(test_threads_share_handle),
        cmocka_unit_test(test_cli_exit_codes),
        cmocka_unit_test(test_server_killed),
    };
    return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
