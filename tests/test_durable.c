/* The durable broker (SPEC D5, issue 12) end to end: real ipcqd processes
 * on real data directories, killed with SIGKILL and started again.
 *
 *   - a restart after SIGKILL keeps every queue's items (in order, every
 *     byte), maxsize, max-deliveries, delivery counts, unfinished tasks,
 *     shutdown state and dead-letter queues, and deleted queues stay
 *     deleted (--fsync always, and --fsync no: a broker crash loses
 *     nothing the OS was given);
 *   - a torn tail of the newest segment is cut with a warning, and the
 *     items are exactly the acknowledged ones whose records survive;
 *   - damage in an older segment stops the start, naming file and offset,
 *     and --repair keeps every whole record (NNN.log.damaged beside);
 *   - a write error (ENOSPC on a small tmpfs, EFBIG past RLIMIT_FSIZE)
 *     makes the broker refuse changes with IPCQ_ESTORAGE while gets go on,
 *     and loses no acknowledged put;
 *   - a second ipcqd on the same data directory refuses to start;
 *   - the durable flags' usage errors.
 *
 * ipcqd runs under this very program (WRAPPER_FLAG): it dies with the
 * test, ignores SIGXFSZ, and its stderr is captured (program.c) to check
 * what it logs. Segment files are read and damaged as store.h lays them
 * out. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "record.h"
#include "store.h"

#define WAIT_MS 10000
/* argv[1] that makes this program ipcqd's wrapper (see main). */
#define WRAPPER_FLAG "--exec-ipcqd"
/* Segment sizes in bytes: ipcqd refuses "64K" (see
 * segment_size_takes_the_units_its_usage_names). */
#define SMALL_SEGMENT "65536"
#define TINY_SEGMENT "8192"
#define SEGMENT_NAME "%s/%016d.log"
/* A PUT record's payload (broker/record.c): id 8, key 8, deliveries 4,
 * state 1, name length 2, then the queue name and the item's bytes. */
#define ITEM_FIXED 23u

static char self_path[PATH_MAX];

/* ---- brokers ------------------------------------------------------------ */

/* An ipcqd of a test, run under the wrapper with its output captured. */
typedef struct dbroker {
    test_broker tb; /* endpoint, for client_on(); pid */
    program_run run;
    bool started; /* run holds descriptors to free */
    char words[16][200];
    int nwords; /* ipcqd's arguments after --bind and --log-level */
} dbroker;

typedef struct fixture {
    char root[64]; /* this test's directory: sockets, data directories */
    char mnt[96];  /* a tmpfs mounted there, or "" */
    dbroker b[2];
} fixture;

/* Starts ipcqd with b's words and waits until it answers a ping; fails the
 * test, showing its stderr, if it exits first. */
static void
broker_spawn(dbroker *b)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = self_path;
    argv[n++] = WRAPPER_FLAG;
    argv[n++] = IPCQD_PATH;
    argv[n++] = "--bind";
    argv[n++] = b->tb.endpoint;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; i < b->nwords; i++)
        argv[n++] = b->words[i];
    argv[n] = NULL;
    if (b->started)
        program_free(&b->run);
    program_start(&b->run, &(program_spec){.argv = argv});
    snprintf(b->run.name, sizeof b->run.name, "ipcqd");
    b->started = true;
    b->tb.pid = b->run.pid;
    ipcq_client *c = client_on(&b->tb);
    int64_t deadline = now_ms() + WAIT_MS;
    int rc;
    while ((rc = ipcq_ping(c)) != IPCQ_OK && now_ms() < deadline) {
        if (!program_pump(&b->run, 1)) { /* its output closed: it is gone */
            ipcq_client_close(&c);
            program_finish(&b->run, WAIT_MS);
            b->tb.pid = 0;
            fail_msg("ipcqd exited during start-up with status %d: %s", b->run.status,
                     b->run.err.data);
        }
    }
    ipcq_client_close(&c);
    if (rc != IPCQ_OK)
        fail_msg("ipcqd did not answer within %d ms: %s", WAIT_MS, b->run.err.data);
}

/* Starts ipcqd bound to NAME.sock in the test's directory with the given
 * arguments (NULL ended), kept for broker_restart(). */
static void
broker_start(fixture *f, dbroker *b, const char *name, ...)
{
    if (b->started)
        program_free(&b->run);
    memset(b, 0, sizeof *b);
    snprintf(b->tb.dir, sizeof b->tb.dir, "%s", f->root);
    snprintf(b->tb.path, sizeof b->tb.path, "%s/%s.sock", f->root, name);
    snprintf(b->tb.endpoint, sizeof b->tb.endpoint, "%s://%s", test_transport(), b->tb.path);
    va_list ap;
    va_start(ap, name);
    const char *w;
    while ((w = va_arg(ap, const char *)) != NULL) {
        assert_true(b->nwords < (int)(sizeof b->words / sizeof b->words[0]));
        snprintf(b->words[b->nwords++], sizeof b->words[0], "%s", w);
    }
    va_end(ap);
    broker_spawn(b);
}

static void
broker_restart(dbroker *b)
{
    assert_int_equal(b->tb.pid, 0);
    broker_spawn(b);
}

/* Ends ipcqd with sig and reaps it; returns its exit status. */
static int
broker_end(dbroker *b, int sig)
{
    assert_true(b->tb.pid > 0);
    kill(b->tb.pid, sig);
    program_finish(&b->run, now_ms() - b->run.started_ms + WAIT_MS);
    b->tb.pid = 0;
    return b->run.status;
}

/* A crash: SIGKILL. */
static void
broker_kill(dbroker *b)
{
    assert_int_equal(broker_end(b, SIGKILL), 128 + SIGKILL);
}

/* SIGTERM, and a clean exit (so that a leak under the sanitizers fails). */
static void
broker_stop(dbroker *b)
{
    broker_end(b, SIGTERM);
    expect_exit(&b->run, 0);
}

/* Waits until ipcqd has logged needle. */
static void
wait_log(dbroker *b, const char *needle)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (strstr(b->run.err.data, needle) == NULL) {
        if (now_ms() > deadline)
            fail_msg("ipcqd did not log '%s' within %d ms; it logged '%s'", needle, WAIT_MS,
                     b->run.err.data);
        program_pump(&b->run, 10);
    }
}

/* ---- files -------------------------------------------------------------- */

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void
remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool
exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void
segment_path(char *out, size_t cap, const char *dir, int id)
{
    snprintf(out, cap, SEGMENT_NAME, dir, id);
}

/* The whole of a file; *len its size. */
static unsigned char *
read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    unsigned char *p = malloc((size_t)sb.st_size + 1);
    assert_non_null(p);
    assert_int_equal(pread(fd, p, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return p;
}

static void
write_file(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, p, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Copies the plain files of directory from into a new directory to. */
static void
copy_dir(const char *from, const char *to)
{
    assert_int_equal(mkdir(to, 0700), 0);
    DIR *d = opendir(from);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char src[400], dst[400];
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
        size_t len;
        unsigned char *p = read_file(src, &len);
        write_file(dst, p, len);
        free(p);
    }
    closedir(d);
}

/* ---- segment files, as store.h lays them out ---------------------------- */

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct rec {
    uint32_t off, size; /* header and payload */
    uint8_t type;
} rec;

/* The records of a segment, from its header to the first place that holds
 * no record header (the preallocated zeros, or the end of the file). */
static size_t
parse_segment(const unsigned char *p, size_t len, rec *out, size_t max)
{
    assert_true(len >= STORE_SEGMENT_HEADER);
    assert_memory_equal(p, "ipcqlog1", 8);
    size_t n = 0;
    for (size_t off = STORE_SEGMENT_HEADER; off + STORE_RECORD_HEADER <= len;) {
        const unsigned char *h = p + off;
        if (h[4] != 0x52 || h[5] != 0x71) /* the magic 0x7152, little-endian */
            break;
        uint32_t size = STORE_RECORD_HEADER + le32(h + 8);
        assert_true(off + size <= len);
        assert_true(n < max);
        out[n++] = (rec){(uint32_t)off, size, h[6]};
        off += size;
    }
    return n;
}

/* The item bytes of the PUT record r, and their length. */
static const unsigned char *
put_data(const unsigned char *seg, const rec *r, size_t *len)
{
    const unsigned char *payload = seg + r->off + STORE_RECORD_HEADER;
    size_t name_len = (size_t)payload[21] | (size_t)payload[22] << 8;
    *len = r->size - STORE_RECORD_HEADER - ITEM_FIXED - name_len;
    return payload + ITEM_FIXED + name_len;
}

/* ---- items -------------------------------------------------------------- */

/* Item i: a length from 0 (item 0) to max_len, and bytes of every value. */
static size_t
item_len(unsigned i, size_t max_len)
{
    return i == 0 ? 0 : 1 + (size_t)(i * 2654435761u % max_len);
}

static void
item_fill(unsigned i, unsigned char *p, size_t len)
{
    uint32_t x = i * 2246822519u + 0x9e3779b9u;
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[k] = (unsigned char)(k < 256 && i % 2 ? k : x); /* odd items: 0..255 first */
    }
}

static ipcq_status
put_item(ipcq_client *c, const char *queue, unsigned i, size_t max_len)
{
    size_t len = item_len(i, max_len);
    unsigned char *p = malloc(len + 1);
    assert_non_null(p);
    item_fill(i, p, len);
    ipcq_status rc = ipcq_put(c, queue, p, len, IPCQ_NOWAIT);
    free(p);
    return rc;
}

static bool
is_item(const void *data, size_t len, unsigned i, size_t max_len)
{
    if (len != item_len(i, max_len))
        return false;
    unsigned char *p = malloc(len + 1);
    assert_non_null(p);
    item_fill(i, p, len);
    bool same = memcmp(p, data, len) == 0;
    free(p);
    return same;
}

/* Gets items first..last-1 of queue, in order. */
static void
get_items(ipcq_client *c, const char *queue, unsigned first, unsigned last, size_t max_len)
{
    for (unsigned i = first; i < last; i++) {
        void *data;
        size_t len;
        int rc = ipcq_get(c, queue, &data, &len, IPCQ_NOWAIT);
        if (rc != IPCQ_OK)
            fail_msg("%s: item %u of %u..%u: %s (%s)", queue, i, first, last - 1, ipcq_strerror(rc),
                     ipcq_client_error(c));
        if (!is_item(data, len, i, max_len))
            fail_msg("%s: got %zu bytes where item %u (%zu bytes) should be", queue, len, i,
                     item_len(i, max_len));
        ipcq_free(data);
    }
}

/* The same, and then the queue is empty. */
static void
expect_items(ipcq_client *c, const char *queue, unsigned first, unsigned last, size_t max_len)
{
    get_items(c, queue, first, last, max_len);
    void *data;
    size_t len;
    int rc = ipcq_get(c, queue, &data, &len, IPCQ_NOWAIT);
    if (rc == IPCQ_OK)
        fail_msg("%s: %zu bytes more after item %u", queue, len, last - 1);
    assert_ipcq_status(c, rc, IPCQ_EMPTY);
}

/* Takes one item on a lease and checks its bytes and delivery count. */
static void
lease_expect(ipcq_client *c, const char *queue, int64_t lease_ms, const char *want,
             uint32_t want_deliveries)
{
    void *data;
    size_t len;
    uint64_t lease;
    uint32_t deliveries;
    assert_ipcq_ok(
        c, ipcq_get_leased(c, queue, lease_ms, &data, &len, &lease, &deliveries, IPCQ_NOWAIT));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    if (deliveries != want_deliveries)
        fail_msg("%s: '%s' has %u deliveries, want %u", queue, want, deliveries, want_deliveries);
    ipcq_free(data);
}

static void
expect_status(ipcq_client *c, const char *queue, ipcq_status rc, ipcq_status want)
{
    if (rc != want)
        fail_msg("%s: got %d (%s) '%s', want %d (%s)", queue, rc, ipcq_strerror(rc),
                 ipcq_client_error(c), want, ipcq_strerror(want));
}

/* ---- fixtures ----------------------------------------------------------- */

static int
fixture_up(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/ipcq-dur-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    *state = f;
    return 0;
}

/* Pass or fail: every process stopped, the tmpfs unmounted, the directory
 * removed. */
static int
fixture_down(void **state)
{
    fixture *f = *state;
    kill_all_children(); /* the brokers and programs a failed test left */
    for (size_t i = 0; i < sizeof f->b / sizeof f->b[0]; i++)
        if (f->b[i].started)
            program_free(&f->b[i].run);
    int rc = 0;
    if (f->mnt[0] != '\0' && umount(f->mnt) != 0) {
        fprintf(stderr, "umount %s: %s; detaching it\n", f->mnt, strerror(errno));
        rc = umount2(f->mnt, MNT_DETACH);
    }
    remove_tree(f->root);
    bool left = exists(f->root);
    free(f);
    assert_int_equal(rc, 0);
    assert_false(left);
    return 0;
}

/* ---- 1. a restart keeps every queue's state ------------------------------ */

#define FIFO_ITEMS 40
#define FIFO_MAX_LEN 3000
#define BIG_ITEM 20 /* FIFO_ITEMS's item 20 is 200 KiB */
#define BIG_LEN 200000

static ipcq_status
put_fifo_item(ipcq_client *c, unsigned i)
{
    if (i != BIG_ITEM)
        return put_item(c, "fifo", i, FIFO_MAX_LEN);
    unsigned char *p = malloc(BIG_LEN);
    assert_non_null(p);
    item_fill(i, p, BIG_LEN);
    ipcq_status rc = ipcq_put(c, "fifo", p, BIG_LEN, IPCQ_NOWAIT);
    free(p);
    return rc;
}

static void
expect_fifo(ipcq_client *c)
{
    for (unsigned i = 0; i < FIFO_ITEMS; i++) {
        void *data;
        size_t len;
        assert_ipcq_ok(c, ipcq_get(c, "fifo", &data, &len, IPCQ_NOWAIT));
        bool same = i == BIG_ITEM ? len == BIG_LEN : is_item(data, len, i, FIFO_MAX_LEN);
        if (i == BIG_ITEM && same) {
            unsigned char *p = malloc(BIG_LEN);
            assert_non_null(p);
            item_fill(i, p, BIG_LEN);
            same = memcmp(p, data, BIG_LEN) == 0;
            free(p);
        }
        if (!same)
            fail_msg("fifo: got %zu bytes where item %u should be", len, i);
        ipcq_free(data);
    }
}

static int
child_join(void *arg)
{
    ipcq_client *c = client_on(arg);
    int rc = ipcq_join(c, "tasks", IPCQ_FOREVER);
    ipcq_client_close(&c);
    return rc;
}

/* Every kind of state, made before the crash. */
static void
make_state(ipcq_client *c)
{
    for (unsigned i = 0; i < FIFO_ITEMS; i++)
        assert_ipcq_ok(c, put_fifo_item(c, i));
    /* Bounds: one created so, one changed after. */
    assert_ipcq_ok(c, ipcq_create(c, "bounded", 3));
    put_text(c, "bounded", "b1");
    put_text(c, "bounded", "b2");
    put_text(c, "bounded", "b3");
    assert_ipcq_ok(c, ipcq_create(c, "resized", 2));
    assert_ipcq_ok(c, ipcq_set_maxsize(c, "resized", 7));
    assert_ipcq_ok(c, ipcq_set_max_deliveries(c, "fifo", 4));
    /* Out on a lease at the crash: back at the head, counted. */
    put_text(c, "leased", "lease-1");
    put_text(c, "leased", "lease-2");
    lease_expect(c, "leased", 600000, "lease-1", 1);
    /* A plain get is confirmed: gone for good once the broker read the
     * confirmation (a stat on the same connection comes after it). */
    put_text(c, "plain", "plain-1");
    put_text(c, "plain", "plain-2");
    expect_get(c, "plain", "plain-1", IPCQ_NOWAIT);
    assert_int_equal(queue_field(c, "plain", IPCQ_QUEUE_LEASED), 0);
    /* Out at the crash on its last allowed delivery: dead-lettered at the
     * restart. */
    assert_ipcq_ok(c, ipcq_create(c, "poison", 0));
    assert_ipcq_ok(c, ipcq_set_max_deliveries(c, "poison", 1));
    put_text(c, "poison", "p");
    lease_expect(c, "poison", 600000, "p", 1);
    /* Dead-lettered before the crash: its lease ran out. */
    assert_ipcq_ok(c, ipcq_create(c, "expired", 0));
    assert_ipcq_ok(c, ipcq_set_max_deliveries(c, "expired", 1));
    put_text(c, "expired", "e");
    lease_expect(c, "expired", 1, "e", 1);
    wait_queue_field(c, "expired", IPCQ_QUEUE_DEAD_LETTERED, 1, WAIT_MS);
    /* Three tasks, all got, one done. */
    for (int i = 0; i < 3; i++)
        put_text(c, "tasks", "t");
    for (int i = 0; i < 3; i++)
        expect_get(c, "tasks", "t", IPCQ_NOWAIT);
    assert_ipcq_ok(c, ipcq_task_done(c, "tasks"));
    /* Shut down: gently (items kept), at once (items dropped). */
    put_text(c, "shut", "s1");
    put_text(c, "shut", "s2");
    assert_ipcq_ok(c, ipcq_shutdown(c, "shut", false));
    put_text(c, "shutnow", "x1");
    put_text(c, "shutnow", "x2");
    assert_ipcq_ok(c, ipcq_shutdown(c, "shutnow", true));
    /* Deleted; deleted and made again. */
    put_text(c, "gone", "g");
    assert_ipcq_ok(c, ipcq_delete(c, "gone"));
    put_text(c, "again", "old");
    assert_ipcq_ok(c, ipcq_delete(c, "again"));
    assert_ipcq_ok(c, ipcq_create(c, "again", 5));
    put_text(c, "again", "new");
}

static void
check_state(dbroker *b, ipcq_client *c)
{
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_SIZE), FIFO_ITEMS);
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_MAX_DELIVERIES), 4);
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_UNFINISHED), FIFO_ITEMS);
    expect_fifo(c);

    assert_int_equal(queue_field(c, "bounded", IPCQ_QUEUE_MAXSIZE), 3);
    assert_ipcq_status(c, ipcq_put(c, "bounded", "b4", 2, IPCQ_NOWAIT), IPCQ_FULL);
    expect_get(c, "bounded", "b1", IPCQ_NOWAIT);
    put_text(c, "bounded", "b4");
    assert_int_equal(queue_field(c, "resized", IPCQ_QUEUE_MAXSIZE), 7);
    assert_int_equal(queue_field(c, "leased", IPCQ_QUEUE_MAX_DELIVERIES),
                     IPCQ_DEFAULT_MAX_DELIVERIES);

    /* Back first, delivered once more; the second one was never out. */
    assert_int_equal(queue_field(c, "leased", IPCQ_QUEUE_SIZE), 2);
    lease_expect(c, "leased", 600000, "lease-1", 2);
    lease_expect(c, "leased", 600000, "lease-2", 1);

    assert_int_equal(queue_field(c, "plain", IPCQ_QUEUE_SIZE), 1);
    expect_get(c, "plain", "plain-2", IPCQ_NOWAIT);

    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_SIZE), 0);
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_DEAD_LETTERED), 1);
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_MAX_DELIVERIES), 1);
    assert_int_equal(queue_field(c, "poison", IPCQ_QUEUE_UNFINISHED), 0);
    expect_get(c, "poison.dlq", "p", IPCQ_NOWAIT);
    assert_int_equal(queue_field(c, "expired", IPCQ_QUEUE_SIZE), 0);
    assert_int_equal(queue_field(c, "expired", IPCQ_QUEUE_DEAD_LETTERED), 1);
    expect_get(c, "expired.dlq", "e", IPCQ_NOWAIT);

    /* Two tasks open: join waits until both are done. */
    assert_int_equal(queue_field(c, "tasks", IPCQ_QUEUE_UNFINISHED), 2);
    assert_ipcq_status(c, ipcq_join(c, "tasks", 20), IPCQ_ETIMEDOUT);
    pid_t joiner = fork_child(child_join, &b->tb);
    wait_queue_field(c, "tasks", IPCQ_QUEUE_JOINERS, 1, WAIT_MS);
    assert_ipcq_ok(c, ipcq_task_done(c, "tasks"));
    assert_ipcq_status(c, ipcq_join(c, "tasks", 20), IPCQ_ETIMEDOUT);
    assert_int_equal(queue_field(c, "tasks", IPCQ_QUEUE_JOINERS), 1);
    assert_ipcq_ok(c, ipcq_task_done(c, "tasks"));
    assert_int_equal(reap_child(joiner, WAIT_MS), IPCQ_OK);
    assert_ipcq_status(c, ipcq_task_done(c, "tasks"), IPCQ_ETASKDONE);

    void *data;
    size_t len;
    assert_int_equal(queue_field(c, "shut", IPCQ_QUEUE_SHUTDOWN), 1);
    assert_ipcq_status(c, ipcq_put(c, "shut", "s3", 2, IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    expect_get(c, "shut", "s1", IPCQ_NOWAIT);
    expect_get(c, "shut", "s2", IPCQ_NOWAIT);
    assert_ipcq_status(c, ipcq_get(c, "shut", &data, &len, IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    assert_int_equal(queue_field(c, "shutnow", IPCQ_QUEUE_SIZE), 0);
    assert_int_equal(queue_field(c, "shutnow", IPCQ_QUEUE_UNFINISHED), 0);
    assert_ipcq_status(c, ipcq_put(c, "shutnow", "x3", 2, IPCQ_NOWAIT), IPCQ_ESHUTDOWN);
    assert_ipcq_status(c, ipcq_get(c, "shutnow", &data, &len, WAIT_MS), IPCQ_ESHUTDOWN);
    assert_ipcq_ok(c, ipcq_join(c, "shutnow", IPCQ_NOWAIT));

    size_t size;
    assert_ipcq_status(c, ipcq_qsize(c, "gone", &size), IPCQ_ENOQUEUE);
    assert_int_equal(queue_field(c, "again", IPCQ_QUEUE_MAXSIZE), 5);
    assert_int_equal(queue_field(c, "again", IPCQ_QUEUE_UNFINISHED), 1);
    expect_get(c, "again", "new", IPCQ_NOWAIT);

    /* No queue but these. */
    static const char *const names[] = {
        "again",  "bounded",    "expired", "expired.dlq", "fifo",    "leased", "plain",
        "poison", "poison.dlq", "resized", "shut",        "shutnow", "tasks",
    };
    size_t want = sizeof names / sizeof names[0];
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    for (size_t i = 0; i < ipcq_stats_count(s); i++) {
        const char *name = ipcq_stats_name(s, i);
        size_t k = 0;
        while (k < want && strcmp(names[k], name) != 0)
            k++;
        if (k == want)
            fail_msg("queue %s is back after the restart", name);
    }
    assert_int_equal(ipcq_stats_count(s), want);
    ipcq_stats_free(&s);
}

static void
restart_keeps_every_queue(void **state, const char *fsync)
{
    fixture *f = *state;
    dbroker *b = &f->b[0];
    char data[128];
    snprintf(data, sizeof data, "%s/data", f->root);
    broker_start(f, b, "broker", "--data-dir", data, "--fsync", fsync, "--segment-size", "1048576",
                 "--max-item-size", "262144", NULL);
    ipcq_client *c = client_on(&b->tb);
    make_state(c);
    broker_kill(b); /* the client still holds its leases */
    ipcq_client_close(&c);

    broker_restart(b);
    c = client_on(&b->tb);
    check_state(b, c);
    ipcq_client_close(&c);

    /* What the restart and the gets after it changed is kept too: the item
     * leased again is out a third time, the drained queues stay empty. */
    broker_kill(b);
    broker_restart(b);
    c = client_on(&b->tb);
    lease_expect(c, "leased", 600000, "lease-1", 3);
    lease_expect(c, "leased", 600000, "lease-2", 2);
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_SIZE), 0);
    assert_int_equal(queue_field(c, "tasks", IPCQ_QUEUE_UNFINISHED), 0);
    assert_int_equal(queue_field(c, "poison.dlq", IPCQ_QUEUE_SIZE), 0);
    expect_get(c, "bounded", "b2", IPCQ_NOWAIT);
    expect_get(c, "bounded", "b3", IPCQ_NOWAIT);
    expect_get(c, "bounded", "b4", IPCQ_NOWAIT);
    ipcq_client_close(&c);
    broker_stop(b);
}

static void
restart_after_sigkill_keeps_every_queue_fsync_always(void **state)
{
    restart_keeps_every_queue(state, "always");
}

/* A broker crash loses nothing it acknowledged even without fsync: the
 * OS keeps what was written. */
static void
restart_after_sigkill_keeps_every_queue_fsync_no(void **state)
{
    restart_keeps_every_queue(state, "no");
}

/* ---- 2. a torn tail --------------------------------------------------- */

#define TORN_ITEMS 100
#define TORN_MAX_LEN 300

static void
a_torn_tail_is_cut_and_the_acknowledged_prefix_kept(void **state)
{
    fixture *f = *state;
    dbroker *b = &f->b[0];
    char data[128], seg[200], seg2[200];
    snprintf(data, sizeof data, "%s/data", f->root);
    segment_path(seg, sizeof seg, data, 1);
    segment_path(seg2, sizeof seg2, data, 2);
    broker_start(f, b, "broker", "--data-dir", data, "--segment-size", SMALL_SEGMENT,
                 "--max-item-size", "4096", NULL);
    ipcq_client *c = client_on(&b->tb);
    for (unsigned i = 0; i < TORN_ITEMS; i++)
        assert_ipcq_ok(c, put_item(c, "t", i, TORN_MAX_LEN));
    broker_kill(b);
    ipcq_client_close(&c);
    assert_false(exists(seg2)); /* every record in one segment */

    size_t len;
    unsigned char *pristine = read_file(seg, &len);
    assert_int_equal(len, 65536); /* preallocated */
    rec recs[1024];
    size_t n = parse_segment(pristine, len, recs, 1024);
    /* The PUT records are the items, in order. */
    size_t puts[TORN_ITEMS], nputs = 0;
    for (size_t r = 0; r < n; r++) {
        if (recs[r].type != RECORD_PUT)
            continue;
        assert_true(nputs < TORN_ITEMS);
        size_t dlen;
        const unsigned char *d = put_data(pristine, &recs[r], &dlen);
        if (!is_item(d, dlen, (unsigned)nputs, TORN_MAX_LEN))
            fail_msg("PUT record at offset %u is not item %zu", recs[r].off, nputs);
        puts[nputs++] = r;
    }
    assert_int_equal(nputs, TORN_ITEMS);
    const rec *last = &recs[puts[TORN_ITEMS - 1]], *prev = &recs[puts[TORN_ITEMS - 2]];
    uint32_t end = recs[n - 1].off + recs[n - 1].size;
    assert_true(last->size > STORE_RECORD_HEADER + 1 && prev->size > STORE_RECORD_HEADER + 1);

    /* Cut inside the last records: the file shortened (a crash that left
     * the file short), or zeros where the write did not land. */
    struct {
        uint32_t at;
        bool zeros;
    } cuts[] = {
        {last->off + 6, false},                      /* in its header, past the magic */
        {last->off + STORE_RECORD_HEADER, true},     /* the header without its payload */
        {last->off + last->size - 1, false},         /* its last byte missing */
        {prev->off + STORE_RECORD_HEADER + 1, true}, /* the one before, and it */
        {prev->off + prev->size - 1, false},
    };
    size_t ncuts = sizeof cuts / sizeof cuts[0];
    for (size_t k = 0; k < ncuts; k++) {
        unsigned survivors = 0;
        for (size_t i = 0; i < nputs; i++)
            survivors += recs[puts[i]].off + recs[puts[i]].size <= cuts[k].at;
        write_file(seg, pristine, len);
        if (cuts[k].zeros) {
            int fd = open(seg, O_WRONLY | O_CLOEXEC);
            assert_true(fd >= 0);
            unsigned char zeros[8192] = {0};
            assert_true(end - cuts[k].at <= sizeof zeros);
            assert_int_equal(pwrite(fd, zeros, end - cuts[k].at, cuts[k].at),
                             (ssize_t)(end - cuts[k].at));
            close(fd);
        } else {
            assert_int_equal(truncate(seg, cuts[k].at), 0);
        }
        print_message("cut at %u (%s): %u of %d items survive\n", cuts[k].at,
                      cuts[k].zeros ? "zeros" : "truncated", survivors, TORN_ITEMS);
        broker_restart(b);
        wait_log(b, "cut a torn tail");
        c = client_on(&b->tb);
        assert_int_equal(queue_field(c, "t", IPCQ_QUEUE_UNFINISHED), survivors);
        if (k + 1 < ncuts) {
            expect_items(c, "t", 0, survivors, TORN_MAX_LEN);
            ipcq_client_close(&c);
            broker_kill(b);
            continue;
        }
        /* The next record goes where the torn one was, and is read back. */
        assert_ipcq_ok(c, put_item(c, "t", TORN_ITEMS, TORN_MAX_LEN));
        broker_kill(b);
        ipcq_client_close(&c);
        broker_restart(b);
        c = client_on(&b->tb);
        get_items(c, "t", 0, survivors, TORN_MAX_LEN);
        expect_items(c, "t", TORN_ITEMS, TORN_ITEMS + 1, TORN_MAX_LEN);
        ipcq_client_close(&c);
        broker_stop(b);
    }
    free(pristine);
}

/* ---- 3. damage in an older segment ------------------------------------- */

#define OLD_ITEMS 150

/* Runs ipcqd to its end with b's words (and extra, if not NULL). */
static void
run_ipcqd(program_run *run, dbroker *b, const char *extra)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = IPCQD_PATH;
    argv[n++] = "--bind";
    argv[n++] = b->tb.endpoint;
    for (int i = 0; i < b->nwords; i++)
        argv[n++] = b->words[i];
    if (extra != NULL)
        argv[n++] = extra;
    argv[n] = NULL;
    program_start(run, &(program_spec){.argv = argv});
    program_finish(run, WAIT_MS);
}

/* stderr is one line that holds needle. */
static void
expect_one_line(const program_run *run, const char *needle)
{
    expect_err_has(run, needle);
    const char *nl = strchr(run->err.data, '\n');
    if (nl == NULL || nl[1] != '\0')
        fail_msg("%s: stderr is not one line: '%s'", run->name, run->err.data);
}

static void
damage_in_an_older_segment_stops_the_start_unless_repair(void **state)
{
    fixture *f = *state;
    dbroker *b = &f->b[0];
    char data[128], seg[200], seg3[200], damaged[220];
    snprintf(data, sizeof data, "%s/data", f->root);
    segment_path(seg, sizeof seg, data, 1);
    segment_path(seg3, sizeof seg3, data, 3);
    snprintf(damaged, sizeof damaged, "%s.damaged", seg);
    broker_start(f, b, "broker", "--data-dir", data, "--segment-size", TINY_SEGMENT,
                 "--max-item-size", "4096", NULL);
    ipcq_client *c = client_on(&b->tb);
    for (unsigned i = 0; i < OLD_ITEMS; i++)
        assert_ipcq_ok(c, put_item(c, "old", i, TORN_MAX_LEN));
    broker_kill(b);
    ipcq_client_close(&c);
    assert_true(exists(seg3)); /* segment 1 is old: two came after it */

    /* One bit flipped in the bytes of an item in the middle of segment 1. */
    size_t len;
    unsigned char *p = read_file(seg, &len);
    rec recs[256];
    size_t n = parse_segment(p, len, recs, 256), nputs = 0;
    assert_int_equal(recs[n - 1].off + recs[n - 1].size, len); /* a closed segment: cut */
    unsigned hit = UINT_MAX;
    uint32_t hit_off = 0;
    for (size_t r = 0; r < n; r++) {
        if (recs[r].type != RECORD_PUT)
            continue;
        size_t dlen;
        const unsigned char *d = put_data(p, &recs[r], &dlen);
        assert_true(is_item(d, dlen, (unsigned)nputs, TORN_MAX_LEN));
        if (hit == UINT_MAX && nputs >= 10 && dlen > 0) {
            hit = (unsigned)nputs;
            hit_off = recs[r].off;
            p[(d - p) + dlen / 2] ^= 0x10;
        }
        nputs++;
    }
    assert_true(hit != UINT_MAX && nputs > hit + 5); /* damage in the middle */
    write_file(seg, p, len);

    /* Refused: one line naming the file and the record's offset. */
    program_run run;
    run_ipcqd(&run, b, NULL);
    if (run.status == 0 || run.status >= 128)
        fail_msg("ipcqd on a damaged log exited %d, want a failure: %s", run.status, run.err.data);
    char where[300];
    snprintf(where, sizeof where, "%s: damaged at offset %u", seg, hit_off);
    expect_one_line(&run, where);
    expect_err_has(&run, "repair");
    program_free(&run);
    assert_false(exists(damaged));
    size_t len_now;
    unsigned char *now = read_file(seg, &len_now);
    assert_true(len_now == len && memcmp(now, p, len) == 0); /* untouched */
    free(now);

    /* --repair: every other item, in order; the damaged file kept. */
    snprintf(b->words[b->nwords++], sizeof b->words[0], "--repair");
    broker_restart(b);
    assert_true(exists(damaged));
    c = client_on(&b->tb);
    assert_int_equal(queue_field(c, "old", IPCQ_QUEUE_SIZE), OLD_ITEMS - 1);
    ipcq_client_close(&c);
    broker_kill(b);

    /* The log it left is whole: a start without --repair reads it. */
    b->nwords--;
    broker_restart(b);
    c = client_on(&b->tb);
    get_items(c, "old", 0, hit, TORN_MAX_LEN);
    expect_items(c, "old", hit + 1, OLD_ITEMS, TORN_MAX_LEN);
    ipcq_client_close(&c);
    broker_stop(b);
    free(p);
}

/* ---- 4. storage errors ------------------------------------------------- */

#define FILL_LEN 1000
#define FILL_MAX 5000

/* Puts items 0, 1, ... on "fill" until one fails, which must be with
 * IPCQ_ESTORAGE; returns how many were acknowledged. trigger(arg) is
 * called once after start items, to make the storage fail. */
static unsigned
fill_until_storage_fails(ipcq_client *c, unsigned start, void (*trigger)(void *), void *arg)
{
    unsigned i = 0;
    ipcq_status rc = IPCQ_OK;
    for (; i < FILL_MAX; i++) {
        if (i == start && trigger != NULL)
            trigger(arg);
        rc = put_item(c, "fill", i, FILL_LEN);
        if (rc != IPCQ_OK)
            break;
    }
    if (rc != IPCQ_ESTORAGE)
        fail_msg("put %u of fill: got %d (%s) '%s', want IPCQ_ESTORAGE", i, rc, ipcq_strerror(rc),
                 ipcq_client_error(c));
    print_message("%u puts acknowledged before the storage failed\n", i);
    assert_true(i > start);
    assert_non_null(strstr(ipcq_client_error(c), "broker storage failed"));
    return i;
}

/* Items 0..acked-1 of "fill", then perhaps the item whose put failed (its
 * record may have been written: its put was not acknowledged, and a
 * failed write, like a crash, may keep it), then nothing. */
static void
expect_acknowledged(ipcq_client *c, unsigned acked)
{
    for (unsigned i = 0; i <= acked; i++) {
        void *data;
        size_t len;
        int rc = ipcq_get(c, "fill", &data, &len, IPCQ_NOWAIT);
        if (i == acked && rc == IPCQ_EMPTY)
            return;
        if (i == acked)
            print_message("the item whose put failed is there too\n");
        if (rc != IPCQ_OK)
            fail_msg("fill: item %u of %u acknowledged: %s (%s)", i, acked, ipcq_strerror(rc),
                     ipcq_client_error(c));
        if (!is_item(data, len, i, FILL_LEN))
            fail_msg("fill: got %zu bytes where item %u should be", len, i);
        ipcq_free(data);
    }
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "fill", &data, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
}

/* A failed broker: changes refused, reads and gets served; the ipcq CLI
 * says so in one line, which is returned (free() it). */
static char *
check_failed_broker(dbroker *b, ipcq_client *c, unsigned acked, const char *why)
{
    wait_log(b, why);
    wait_log(b, "taking no more changes");
    expect_status(c, "fill", put_item(c, "fill", FILL_MAX, FILL_LEN), IPCQ_ESTORAGE);
    expect_status(c, "other", ipcq_create(c, "other", 0), IPCQ_ESTORAGE);
    expect_status(c, "fill", ipcq_task_done(c, "fill"), IPCQ_ESTORAGE);
    assert_int_equal(queue_field(c, "fill", IPCQ_QUEUE_UNFINISHED) >= acked, true);

    const char *argv[] = {IPCQ_CLI_PATH, "--broker", b->tb.endpoint, "put", "fill", "x", NULL};
    program_run run;
    program_start(&run, &(program_spec){.argv = argv});
    program_finish(&run, WAIT_MS);
    expect_exit(&run, 4);
    expect_one_line(&run, "broker storage failed");
    char *said = strdup(run.err.data);
    assert_non_null(said);
    program_free(&run);

    /* Gets go on, from memory. */
    expect_acknowledged(c, acked);
    return said;
}

static void
lower_file_size_limit(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    struct rlimit lim = {32768, 32768};
    if (prlimit(pid, RLIMIT_FSIZE, &lim, NULL) != 0)
        fail_msg("prlimit(%d, RLIMIT_FSIZE): %s", (int)pid, strerror(errno));
}

/* RLIMIT_FSIZE set at the start could not fail a write: every segment is
 * preallocated to the same size at its creation, so a limit either stops
 * the start or is never reached. It is lowered on the running broker
 * instead (prlimit, as its owner may): the next write past 32 KiB in the
 * current segment fails with EFBIG (SIGXFSZ is ignored, see main). */
static void
a_write_error_refuses_changes_and_keeps_every_acknowledged_put(void **state)
{
    fixture *f = *state;
    dbroker *b = &f->b[0];
    char data[128];
    snprintf(data, sizeof data, "%s/data", f->root);
    broker_start(f, b, "broker", "--data-dir", data, "--segment-size", SMALL_SEGMENT,
                 "--max-item-size", "4096", NULL);
    ipcq_client *c = client_on(&b->tb);
    pid_t pid = b->tb.pid;
    unsigned acked = fill_until_storage_fails(c, 10, lower_file_size_limit, &pid);
    char *cli_said = check_failed_broker(b, c, acked, "File too large");
    ipcq_client_close(&c);
    broker_stop(b);

    /* Started again, without the limit: every acknowledged put is there. */
    broker_restart(b);
    c = client_on(&b->tb);
    expect_acknowledged(c, acked);
    put_text(c, "fill", "after");
    ipcq_client_close(&c);
    broker_stop(b);

    /* SPEC B4 and §5: "ipcq: QUEUE: reason", as for every other error. */
    bool named = strstr(cli_said, "ipcq: fill: ") != NULL;
    if (!named)
        fail_msg("BUG (broker/journal.c journal_refuses, send_held): the refusal does not "
                 "name the queue: ipcq put fill printed '%s', want 'ipcq: fill: broker storage "
                 "failed...'",
                 cli_said);
    free(cli_said);
}

static void
a_full_disk_refuses_changes_and_keeps_every_acknowledged_put(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        print_message("not root: cannot mount a small tmpfs; skipped\n");
        skip();
    }
    char mnt[96];
    snprintf(mnt, sizeof mnt, "%s/mnt", f->root);
    assert_int_equal(mkdir(mnt, 0700), 0);
    /* 256 KiB: the LOCK file and three segments of 64 KiB, not four. */
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") != 0) {
        print_message("cannot mount a tmpfs on %s: %s; skipped\n", mnt, strerror(errno));
        rmdir(mnt);
        skip();
    }
    snprintf(f->mnt, sizeof f->mnt, "%s", mnt); /* the teardown unmounts it */
    dbroker *b = &f->b[0];
    char data[128], copy[128];
    snprintf(data, sizeof data, "%s/data", mnt);
    snprintf(copy, sizeof copy, "%s/copy", f->root);
    broker_start(f, b, "broker", "--data-dir", data, "--segment-size", SMALL_SEGMENT,
                 "--max-item-size", "4096", NULL);
    ipcq_client *c = client_on(&b->tb);
    unsigned acked = fill_until_storage_fails(c, 0, NULL, NULL);
    assert_true(acked > 100); /* not before the disk was full */
    free(check_failed_broker(b, c, acked, "No space left on device"));
    ipcq_client_close(&c);
    broker_stop(b);

    /* The log, copied to a disk with room, holds every acknowledged put. */
    copy_dir(data, copy);
    assert_int_equal(umount(mnt), 0);
    f->mnt[0] = '\0';
    broker_start(f, b, "broker", "--data-dir", copy, "--segment-size", SMALL_SEGMENT,
                 "--max-item-size", "4096", NULL);
    c = client_on(&b->tb);
    expect_acknowledged(c, acked);
    ipcq_client_close(&c);
    broker_stop(b);
}

/* ---- 5. one broker per data directory ---------------------------------- */

static void
a_second_broker_on_the_same_data_dir_refuses_to_start(void **state)
{
    fixture *f = *state;
    dbroker *first = &f->b[0], *second = &f->b[1];
    char data[128], pid[32];
    snprintf(data, sizeof data, "%s/data", f->root);
    broker_start(f, first, "first", "--data-dir", data, NULL);
    ipcq_client *c = client_on(&first->tb);
    put_text(c, "q", "kept");

    /* Its own endpoint: only the data directory is shared. */
    snprintf(second->tb.endpoint, sizeof second->tb.endpoint, "%s://%s/second.sock",
             test_transport(), f->root);
    snprintf(second->words[0], sizeof second->words[0], "--data-dir");
    snprintf(second->words[1], sizeof second->words[1], "%s", data);
    second->nwords = 2;
    program_run run;
    run_ipcqd(&run, second, NULL);
    if (run.status == 0 || run.status >= 128)
        fail_msg("a second ipcqd on %s exited %d, want a failure: %s", data, run.status,
                 run.err.data);
    expect_one_line(&run, data);
    expect_err_has(&run, "in use");
    snprintf(pid, sizeof pid, "process %d", (int)first->tb.pid);
    expect_err_has(&run, pid);
    program_free(&run);

    /* The first goes on, its log whole. */
    put_text(c, "q", "more");
    expect_get(c, "q", "kept", IPCQ_NOWAIT);
    ipcq_client_close(&c);
    broker_kill(first);
    broker_restart(first);
    c = client_on(&first->tb);
    expect_get(c, "q", "more", IPCQ_NOWAIT);
    ipcq_client_close(&c);
    broker_stop(first);
}

/* ---- 6. usage ---------------------------------------------------------- */

static void
durable_flags_misused_are_usage_errors(void **state)
{
    fixture *f = *state;
    char data[128];
    snprintf(data, sizeof data, "%s/data", f->root);
    const struct {
        const char *args[7];
        const char *says;
    } cases[] = {
        {{"--data-dir", data, "--fsync", "bad"}, "--fsync: expected always, everysec or no: bad"},
        {{"--repair"}, "--repair needs --data-dir"},
        {{"--fsync", "no"}, "--fsync needs --data-dir"},
        {{"--segment-size", "65536"}, "--segment-size needs --data-dir"},
        {{"--data-dir", data, "--segment-size", TINY_SEGMENT, "--max-item-size", "8192"},
         "--max-item-size 8192 does not fit in a log segment of 8192 bytes"},
        {{"--data-dir", data, "--segment-size", "1000"}, "--segment-size"},
        {{"--data-dir", ""}, "--data-dir: empty path"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *argv[12] = {IPCQD_PATH, "--bind"};
        char ep[200];
        snprintf(ep, sizeof ep, "%s://%s/usage.sock", test_transport(), f->root);
        argv[2] = ep;
        int n = 3;
        for (int i = 0; cases[k].args[i] != NULL; i++)
            argv[n++] = cases[k].args[i];
        program_run run;
        program_start(&run, &(program_spec){.argv = argv});
        program_finish(&run, WAIT_MS);
        expect_exit(&run, 2);
        expect_one_line(&run, cases[k].says);
        program_free(&run);
        assert_false(exists(data)); /* nothing made */
    }
}

/* The usage says "--segment-size N ... (default 64M, 4K to 1G)" and sizes
 * "take a K, M or G suffix"; ipcqd must take 64K as 65536. */
static void
segment_size_takes_the_units_its_usage_names(void **state)
{
    fixture *f = *state;
    dbroker *b = &f->b[0];
    char data[128], seg[200];
    snprintf(data, sizeof data, "%s/data", f->root);
    segment_path(seg, sizeof seg, data, 1);
    const char *argv[] = {IPCQD_PATH, "--data-dir",      data, "--segment-size",
                          "64K",      "--max-item-size", "4K", "--help",
                          NULL};
    program_run run;
    program_start(&run, &(program_spec){.argv = argv});
    program_finish(&run, WAIT_MS);
    if (run.status != 0)
        fail_msg("BUG (broker/options.c store_flag): ipcqd refuses --segment-size 64K, which "
                 "its usage allows: exit %d, '%s' (options_parse_size checks the minimum 4096 "
                 "against the digits before the suffix)",
                 run.status, run.err.data);
    program_free(&run);
    broker_start(f, b, "broker", "--data-dir", data, "--segment-size", "64K", "--max-item-size",
                 "4K", NULL);
    struct stat sb;
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(sb.st_size, 65536);
    broker_stop(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_up, fixture_down)

int
main(int argc, char **argv)
{
    /* As ipcqd's wrapper: die with the test, ignore SIGXFSZ (a write past
     * RLIMIT_FSIZE then fails with EFBIG), become ipcqd. */
    if (argc > 2 && strcmp(argv[1], WRAPPER_FLAG) == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1)
            _exit(127);
        signal(SIGXFSZ, SIG_IGN);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 1;
    }
    self_path[n] = '\0';
    const struct CMUnitTest tests[] = {
        T(restart_after_sigkill_keeps_every_queue_fsync_always),
        T(restart_after_sigkill_keeps_every_queue_fsync_no),
        T(a_torn_tail_is_cut_and_the_acknowledged_prefix_kept),
        T(damage_in_an_older_segment_stops_the_start_unless_repair),
        T(a_write_error_refuses_changes_and_keeps_every_acknowledged_put),
        T(a_full_disk_refuses_changes_and_keeps_every_acknowledged_put),
        T(a_second_broker_on_the_same_data_dir_refuses_to_start),
        T(durable_flags_misused_are_usage_errors),
        T(segment_size_takes_the_units_its_usage_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
