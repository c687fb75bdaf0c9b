/*
 * A durable broker (SPEC D5) on the broker core in-process, on a real log in
 * a scratch directory: replies wait for the commit; a restart (the broker
 * dies, what it did not commit with it, and a new one opens the same log)
 * keeps items in order, delivery counts, maxsize, max-deliveries,
 * dead-letter queues, unfinished tasks, shutdown and deletes, and brings
 * back at the head what was out; a torn tail at every offset loses only
 * the records it cuts; a log that cannot be written refuses changes and
 * keeps serving gets; and churn around one pinned item keeps the files
 * within twice the live records plus one segment.
 *
 * The driver (core_driver.h) checks the core's invariants after every step
 * and that every request of a live peer had exactly one reply.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "core_driver.h"
#include "ipcq.h"
#include "record.h"

#define JOBS "jobs"
#define SMALL_SEGMENT (16u << 10)

typedef struct durable_test {
    core_driver *d;
    char dir[64];
} durable_test;

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void
remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
start_with_segment(void **state, uint32_t segment_size)
{
    durable_test *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/ipcq-durable-core-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.max_item_size = 1024; /* fits the small segments */
    void *ds;
    if (core_driver_start_with(&ds, &cfg) != 0)
        return -1;
    t->d = ds;
    store_options opt = {.segment_size = segment_size, .fsync = STORE_FSYNC_NO};
    core_driver_open_store(t->d, t->dir, &opt);
    *state = t;
    return 0;
}

static int
start_durable(void **state)
{
    return start_with_segment(state, 0);
}

static int
start_durable_small(void **state)
{
    return start_with_segment(state, SMALL_SEGMENT);
}

static int
stop_durable(void **state)
{
    durable_test *t = *state;
    void *ds = t->d;
    int rc = core_driver_stop(&ds);
    remove_tree(t->dir);
    free(t);
    return rc;
}

static core_driver *
driver_of(void **state)
{
    return ((durable_test *)*state)->d;
}

static void
put_ok(core_driver *d, const char *queue_name, const char *text)
{
    expect_reply(d, 0, send_put(d, 0, queue_name, text, IPCQ_NOWAIT), IPCQ_OK);
}

/* Records no reply waits for (a confirm) are committed this much later. */
#define UNANSWERED_COMMIT_MS 10

/* A get by peer 1 that must return text with this delivery count: on a
 * lease (lease_ms > 0), confirmed as ipcq_get() confirms it (0), or left
 * unconfirmed (-1). */
static const Ipcqwire__Reply *
get_counted(core_driver *d, const char *queue_name, const char *text, uint32_t deliveries,
            int64_t lease_ms)
{
    uint64_t id = lease_ms > 0 ? send_get_leased(d, 1, queue_name, lease_ms, IPCQ_NOWAIT)
                               : send_get(d, 1, queue_name, IPCQ_NOWAIT);
    if (lease_ms == 0) {
        const Ipcqwire__Item *it = take_item(d, 1, id, text);
        if (it->deliveries != deliveries)
            fail_msg("%s: %s delivered %u times, want %u", queue_name, text, it->deliveries,
                     deliveries);
        return expect_reply(d, 1, id, IPCQ_OK);
    }
    const Ipcqwire__Item *it = expect_item(d, 1, id, text);
    assert_true(it->has_deliveries);
    if (it->deliveries != deliveries)
        fail_msg("%s: %s delivered %u times, want %u", queue_name, text, it->deliveries,
                 deliveries);
    return expect_reply(d, 1, id, IPCQ_OK);
}

/* The status of the one reply peer got to request id. */
static int
reply_status(const core_driver *d, unsigned peer, uint64_t id)
{
    for (size_t i = d->nsent; i-- > 0;)
        if (d->sent[i].peer == peer && d->sent[i].reply && d->sent[i].reply->id == id)
            return d->sent[i].reply->status;
    fail_msg("peer %u got no reply to request %llu", peer, (unsigned long long)id);
    return -1;
}

static void
expect_empty(core_driver *d, const char *queue_name)
{
    expect_reply(d, 1, send_get(d, 1, queue_name, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* D5: replies wait for the commit that makes their change durable. */
static void
d5_replies_wait_for_the_commit(void **state)
{
    core_driver *d = driver_of(state);
    d->manual_commit = true;
    uint64_t put = send_put(d, 0, JOBS, "a", IPCQ_NOWAIT);
    uint64_t stat = send_stat(d, 0, JOBS);
    expect_no_reply(d, 0, put);
    expect_no_reply(d, 0, stat);
    driver_commit(d);
    expect_reply(d, 0, put, IPCQ_OK);
    expect_reply(d, 0, stat, IPCQ_OK);
    /* A put the broker never committed was never acknowledged: it may be
     * gone after a crash, and here it is. */
    uint64_t lost = send_put(d, 0, JOBS, "b", IPCQ_NOWAIT);
    core_driver_restart(d);
    expect_no_reply(d, 0, lost);
    d->manual_commit = false;
    get_counted(d, JOBS, "a", 1, 0);
    expect_empty(d, JOBS);
}

/* D5, Q4, Q9: items in order, binary-safe, and the unfinished count. */
static void
d5_items_and_unfinished_tasks_survive(void **state)
{
    core_driver *d = driver_of(state);
    static const unsigned char odd[] = {0, 255, '\n', 0, 7};
    put_ok(d, JOBS, "one");
    expect_reply(d, 0, send_put_bytes(d, 0, JOBS, odd, sizeof odd, IPCQ_NOWAIT), IPCQ_OK);
    put_ok(d, JOBS, "three");
    put_ok(d, JOBS, "four");
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "one");
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, 0), IPCQ_OK);
    core_driver_restart(d);
    assert_int_equal(stat_of(d, JOBS)->size, 3);
    assert_int_equal(stat_of(d, JOBS)->unfinished, 3);
    uint64_t id = send_get(d, 1, JOBS, IPCQ_NOWAIT);
    expect_bytes(d, 1, id, odd, sizeof odd);
    send_item_tags(d, 1, IPCQWIRE__OP__OP_CONFIRM, expect_reply(d, 1, id, IPCQ_OK));
    advance_ms(d, UNANSWERED_COMMIT_MS); /* the confirm's commit */
    core_driver_restart(d);
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "three");
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), "four");
    expect_empty(d, JOBS);
    /* join waits for the three tasks still unfinished, across restarts */
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_JOIN, JOBS, 0), IPCQ_ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, 0), IPCQ_OK);
    core_driver_restart(d);
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_JOIN, JOBS, 0), IPCQ_OK);
    expect_reply(d, 1, send_queue_op(d, 1, IPCQWIRE__OP__OP_TASK_DONE, JOBS, 0), IPCQ_ETASKDONE);
}

/* D5 with D1, D2: what was out (on a lease, or handed out unconfirmed)
 * comes back at the head, in queue order, its delivery count kept; what
 * was acked or confirmed does not come back. */
static void
d5_items_out_come_back_at_the_head(void **state)
{
    core_driver *d = driver_of(state);
    put_ok(d, JOBS, "a");
    put_ok(d, JOBS, "b");
    put_ok(d, JOBS, "c");
    put_ok(d, JOBS, "d");
    put_ok(d, JOBS, "e");
    get_counted(d, JOBS, "a", 1, 60000); /* on a lease */
    get_counted(d, JOBS, "b", 1, -1);    /* never confirmed */
    const Ipcqwire__Reply *c = get_counted(d, JOBS, "c", 1, 60000);
    uint64_t tag = c->items[0]->tag;
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_ACK, &tag, 1, 0), IPCQ_OK);
    get_counted(d, JOBS, "d", 1, 0); /* confirmed */
    advance_ms(d, UNANSWERED_COMMIT_MS);
    core_driver_restart(d);
    assert_int_equal(stat_of(d, JOBS)->size, 3);
    get_counted(d, JOBS, "a", 2, 60000);
    get_counted(d, JOBS, "b", 2, -1);
    /* out again at the second crash: counted again */
    core_driver_restart(d);
    get_counted(d, JOBS, "a", 3, 0);
    get_counted(d, JOBS, "b", 3, 0);
    get_counted(d, JOBS, "e", 1, 0);
    expect_empty(d, JOBS);
}

/* D5 with D6 and Q2: max-deliveries, the dead-letter queue and maxsize. */
static void
d5_settings_and_dead_letters_survive(void **state)
{
    core_driver *d = driver_of(state);
    expect_reply(d, 0, send_create(d, 0, JOBS, 2), IPCQ_OK);
    expect_reply(d, 0, send_set_max_deliveries(d, 0, JOBS, 2), IPCQ_OK);
    put_ok(d, JOBS, "poison");
    put_ok(d, JOBS, "fine");
    core_driver_restart(d);
    expect_reply(d, 0, send_put(d, 0, JOBS, "over", IPCQ_NOWAIT), IPCQ_FULL);
    assert_int_equal(stat_of(d, JOBS)->max_deliveries, 2);
    /* delivered once, out at a crash; delivered twice, released: dead */
    get_counted(d, JOBS, "poison", 1, 60000);
    core_driver_restart(d);
    const Ipcqwire__Reply *r = get_counted(d, JOBS, "poison", 2, 60000);
    uint64_t tag = r->items[0]->tag;
    expect_reply(d, 1, send_lease_op(d, 1, IPCQWIRE__OP__OP_RELEASE, &tag, 1, 0), IPCQ_OK);
    core_driver_restart(d);
    assert_int_equal(stat_of(d, JOBS)->dead_lettered, 1);
    assert_int_equal(stat_of(d, JOBS)->unfinished, 1);
    assert_int_equal(stat_of(d, JOBS ".dlq")->max_deliveries, 0);
    /* moved with its count: this is its third delivery */
    get_counted(d, JOBS ".dlq", "poison", 3, 0);
    get_counted(d, JOBS, "fine", 1, 0);
    expect_reply(d, 0, send_set_maxsize(d, 0, JOBS, 5), IPCQ_OK);
    core_driver_restart(d);
    assert_int_equal(stat_of(d, JOBS)->maxsize, 5);
}

/* D5 with Q12, Q10: shutdown (both kinds) and delete survive. */
static void
d5_shutdown_and_delete_survive(void **state)
{
    core_driver *d = driver_of(state);
    put_ok(d, "calm", "left");
    expect_reply(d, 0, send_shutdown(d, 0, "calm", false), IPCQ_OK);
    put_ok(d, "now", "x");
    put_ok(d, "now", "y");
    put_ok(d, "now", "z");
    get_counted(d, "now", "x", 1, 60000); /* out: dropped when it comes back */
    expect_reply(d, 0, send_shutdown(d, 0, "now", true), IPCQ_OK);
    put_ok(d, "gone", "x");
    expect_reply(d, 0, send_queue_op(d, 0, IPCQWIRE__OP__OP_DELETE, "gone", 0), IPCQ_OK);
    core_driver_restart(d);
    expect_reply(d, 0, send_put(d, 0, "calm", "more", IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    get_counted(d, "calm", "left", 1, 0);
    expect_reply(d, 1, send_get(d, 1, "calm", IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    expect_reply(d, 1, send_get(d, 1, "now", IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    assert_int_equal(stat_of(d, "now")->size, 0);
    assert_int_equal(stat_of(d, "now")->unfinished, 0);
    expect_no_queue(d, "gone");
    put_ok(d, "gone", "new");
    core_driver_restart(d);
    get_counted(d, "gone", "new", 1, 0);
    expect_empty(d, "gone");
}

/* The newest segment's file (the log's last records). */
static void
newest_segment(const char *dir, char *path, size_t cap)
{
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n == 20 && strcmp(e->d_name + 16, ".log") == 0 && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(dh);
    assert_true(best[0] != '\0');
    snprintf(path, cap, "%s/%s", dir, best);
}

static void
copy_file(const char *from, const char *to, off_t keep)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    char buf[8192];
    ssize_t n;
    off_t done = 0;
    while (done < keep && (n = read(in, buf, sizeof buf)) > 0) {
        size_t take = (size_t)n < (size_t)(keep - done) ? (size_t)n : (size_t)(keep - done);
        assert_true(write(out, buf, take) == (ssize_t)take);
        done += (off_t)take;
    }
    close(in);
    close(out);
}

/* D5: a torn tail, cut at every byte of the last records' span, loses the
 * records it cuts and nothing before them; the broker starts each time. */
static void
d5_torn_tail_at_every_offset(void **state)
{
    durable_test *t = *state;
    core_driver *d = t->d;
    enum { N = 6 };
    char text[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "item-%d", i);
        put_ok(d, JOBS, text[i]);
    }
    /* Where the records end: the queue's record, then the puts, all in
     * the first segment. */
    size_t queue_rec = STORE_RECORD_HEADER + record_queue_size(strlen(JOBS));
    size_t put_rec = STORE_RECORD_HEADER + record_item_size(strlen(JOBS), strlen(text[0]));
    size_t first = STORE_SEGMENT_HEADER + queue_rec;
    core_driver_restart(d); /* the log as a crash leaves it */
    char seg[256], cut_dir[96], cut_seg[256];
    newest_segment(t->dir, seg, sizeof seg);
    snprintf(cut_dir, sizeof cut_dir, "%s-cut", t->dir);
    const char *name = strrchr(seg, '/') + 1;
    snprintf(cut_seg, sizeof cut_seg, "%s/%s", cut_dir, name);
    for (size_t end = first + (N - 3) * put_rec; end <= first + N * put_rec; end++) {
        assert_int_equal(mkdir(cut_dir, 0700), 0);
        copy_file(seg, cut_seg, (off_t)end);
        broker_config cfg;
        broker_config_defaults(&cfg);
        broker *b = broker_new(&cfg, NULL, NULL);
        char err[512];
        store_options opt = {.fsync = STORE_FSYNC_NO};
        if (broker_open_store(b, cut_dir, &opt, err, sizeof err) != 0)
            fail_msg("cut at %zu: %s", end, err);
        size_t whole = (end - first) / put_rec;
        queue *q = broker_find_queue(b, JOBS, strlen(JOBS));
        assert_non_null(q);
        if (q->items.count != whole)
            fail_msg("cut at %zu: %zu items, want the %zu whole ones", end, q->items.count, whole);
        size_t i = 0;
        for (item *it = q->items.head; it; it = it->next, i++)
            assert_memory_equal(it->data, text[i], strlen(text[i]));
        broker_free(b);
        remove_tree(cut_dir);
    }
}

/* D5: a log that cannot be written (here: past the file size limit, EFBIG
 * when a new segment is made) refuses every change with IPCQ_ESTORAGE,
 * the change of the pass that failed too, and gets go on; after a restart
 * every put acknowledged is there. */
static void
d5_storage_failure_refuses_changes_keeps_gets(void **state)
{
    durable_test *t = *state;
    core_driver *d = t->d;
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = SMALL_SEGMENT / 2; /* a write past it fails (EFBIG) */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    char text[300];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    int acked = 0, status = IPCQ_OK;
    while (acked < 1000) {
        uint64_t id = send_put(d, 0, JOBS, text, IPCQ_NOWAIT);
        status = reply_status(d, 0, id);
        if (status != IPCQ_OK)
            break;
        acked++;
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_status(status, IPCQ_ESTORAGE);
    /* the put of the pass that failed: refused, naming its queue */
    for (size_t i = d->nsent; i-- > 0;)
        if (d->sent[i].reply != NULL && d->sent[i].reply->status == IPCQ_ESTORAGE) {
            assert_non_null(strstr(d->sent[i].reply->error, JOBS ": broker storage failed"));
            break;
        }
    assert_true(acked > 10);
    /* no more changes, whatever their kind */
    expect_error(d, 0, send_put(d, 0, JOBS, "late", IPCQ_NOWAIT), IPCQ_ESTORAGE,
                 JOBS ": broker storage failed");
    expect_reply(d, 0, send_create(d, 0, "other", 0), IPCQ_ESTORAGE);
    expect_reply(d, 0, send_queue_op(d, 0, IPCQWIRE__OP__OP_TASK_DONE, JOBS, 0), IPCQ_ESTORAGE);
    /* gets go on */
    take_item(d, 1, send_get(d, 1, JOBS, IPCQ_NOWAIT), text);
    advance_ms(d, UNANSWERED_COMMIT_MS);
    core_driver_restart(d);
    /* the get after the failure was not logged: its item comes again (at
     * least once); every acknowledged put is there */
    assert_int_equal(stat_of(d, JOBS)->size, (uint64_t)acked);
    put_ok(d, JOBS, "after");
}

/* D5: the disk bound. One item out for the whole run pins the oldest
 * segment; churn around it must not grow the files past twice the live
 * records plus one segment; after it all, the pinned item is still out. */
static void
d5_disk_stays_bounded_under_churn(void **state)
{
    durable_test *t = *state;
    core_driver *d = t->d;
    put_ok(d, JOBS, "pinned");
    get_counted(d, JOBS, "pinned", 1, -1); /* never confirmed */
    char text[1000];
    memset(text, 'c', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    uint64_t worst = 0, worst_live = 0;
    for (int i = 0; i < 900; i++) { /* the driver's ledger holds 2048 requests */
        put_ok(d, JOBS, text);
        take_item(d, 2, send_get(d, 2, JOBS, IPCQ_NOWAIT), text);
        store_stats st;
        store_get_stats(d->b->store, &st);
        /* Twice the live records and the current segment: the segment the
         * pinned item is in is nearly dead, and copied at once. */
        uint64_t bound = 2 * st.live_bytes + SMALL_SEGMENT;
        if (st.disk_bytes > worst) {
            worst = st.disk_bytes;
            worst_live = st.live_bytes;
        }
        if (st.disk_bytes > bound)
            fail_msg("after %d puts: %llu bytes on disk for %llu live", i,
                     (unsigned long long)st.disk_bytes, (unsigned long long)st.live_bytes);
    }
    print_message("worst: %llu bytes on disk for %llu live bytes\n", (unsigned long long)worst,
                  (unsigned long long)worst_live);
    store_stats st;
    store_get_stats(d->b->store, &st);
    assert_true(st.deleted_segments > 10);
    advance_ms(d, UNANSWERED_COMMIT_MS);
    core_driver_restart(d);
    get_counted(d, JOBS, "pinned", 2, 0);
    expect_empty(d, JOBS);
}

int
main(void)
{
#define DURABLE(test) cmocka_unit_test_setup_teardown(test, start_durable, stop_durable)
#define SMALL(test) cmocka_unit_test_setup_teardown(test, start_durable_small, stop_durable)
    const struct CMUnitTest tests[] = {
        DURABLE(d5_replies_wait_for_the_commit),
        DURABLE(d5_items_and_unfinished_tasks_survive),
        DURABLE(d5_items_out_come_back_at_the_head),
        DURABLE(d5_settings_and_dead_letters_survive),
        DURABLE(d5_shutdown_and_delete_survive),
        SMALL(d5_torn_tail_at_every_offset),
        SMALL(d5_storage_failure_refuses_changes_keeps_gets),
        SMALL(d5_disk_stays_bounded_under_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
