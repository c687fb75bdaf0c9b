/* The durable store (broker/store, issue 12) on real files in a scratch
 * directory: round trips across segments, a torn tail cut at every byte,
 * damage in an older segment refused then repaired, the lock, a full disk
 * (RLIMIT_FSIZE), space reclamation and copy-forward under churn, and a
 * seeded random run checked against a model. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

enum { SMALL_SEG = 4096 };

/* ---- scratch directories ---- */

static char scratch_root[256];

static void
remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A fresh directory path (not created) under the scratch root. */
static void
fresh_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", scratch_root, name);
    remove_tree(out);
}

static int
setup_root(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch_root, sizeof scratch_root, "%s/test_store.XXXXXX", tmp ? tmp : "/tmp");
    return mkdtemp(scratch_root) ? 0 : -1;
}

static int
teardown_root(void **state)
{
    remove_tree(scratch_root);
    return 0;
}

static void
seg_path(char *out, size_t cap, const char *dir, uint64_t id)
{
    snprintf(out, cap, "%s/%016llu.log", dir, (unsigned long long)id);
}

static bool
exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Files in dir ending in suffix, and their total size. */
static size_t
count_files(const char *dir, const char *suffix, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    if (bytes)
        *bytes = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), s = strlen(suffix);
        if (l < s || strcmp(de->d_name + l - s, suffix) != 0)
            continue;
        n++;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        if (bytes)
            *bytes += (uint64_t)sb.st_size;
    }
    closedir(d);
    return n;
}

/* Copies src to dst, only its first len bytes (all if len is SIZE_MAX),
 * then pads it with fill bytes to pad_to (if larger). */
static void
copy_file(const char *src, const char *dst, size_t len, int fill, size_t pad_to)
{
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    static char buf[1 << 16];
    size_t done = 0;
    for (;;) {
        size_t want = len - done < sizeof buf ? len - done : sizeof buf;
        if (want == 0)
            break;
        ssize_t n = read(in, buf, want);
        assert_true(n >= 0);
        if (n == 0)
            break;
        assert_int_equal(write(out, buf, (size_t)n), n);
        done += (size_t)n;
    }
    memset(buf, fill, sizeof buf);
    while (done < pad_to) {
        size_t n = pad_to - done < sizeof buf ? pad_to - done : sizeof buf;
        assert_int_equal(write(out, buf, n), (ssize_t)n);
        done += n;
    }
    close(in);
    close(out);
}

static void
flip_bit(const char *path, off_t off, int bit)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= (unsigned char)(1u << bit);
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* ---- records: each one's bytes follow from its number ---- */

static uint32_t
rec_len(uint32_t i)
{
    return 8 + (i * 37u) % 150;
}

static uint8_t
rec_type(uint32_t i)
{
    return (uint8_t)(1 + i % 255);
}

static void
rec_fill(uint32_t i, uint8_t *buf, uint32_t len)
{
    for (uint32_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i * 131u + k * 7u);
    memcpy(buf, &i, 4);
}

typedef struct seen {
    uint8_t type;
    uint32_t len;
    uint8_t *payload;
    store_pos pos;
} seen;

typedef struct replay {
    seen *v;
    size_t n, cap;
} replay;

static bool
collect(void *ctx, store *st, uint8_t type, const void *payload, uint32_t len, store_pos pos)
{
    replay *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        assert_non_null(r->v);
    }
    seen *s = &r->v[r->n++];
    s->type = type;
    s->len = len;
    s->payload = malloc(len ? len : 1);
    memcpy(s->payload, payload, len);
    s->pos = pos;
    return true;
}

static void
replay_free(replay *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].payload);
    free(r->v);
    *r = (replay){0};
}

/* The replayed record k is record number i of rec_fill's. */
static void
assert_record(const seen *s, uint32_t i)
{
    uint8_t buf[512];
    assert_int_equal(s->type, rec_type(i));
    assert_int_equal(s->len, rec_len(i));
    rec_fill(i, buf, rec_len(i));
    assert_memory_equal(s->payload, buf, rec_len(i));
}

static store_pos
append_rec(store *st, uint32_t i)
{
    uint8_t buf[512];
    rec_fill(i, buf, rec_len(i));
    store_pos pos;
    assert_int_equal(store_append(st, rec_type(i), buf, rec_len(i), &pos), STORE_OK);
    return pos;
}

static store *
open_ok(const char *dir, const store_options *opt, replay *r)
{
    store *st;
    char err[512];
    store_status rc = store_open(&st, dir, opt, r ? collect : NULL, r, err, sizeof err);
    if (rc != STORE_OK)
        fail_msg("store_open %s: %d: %s", dir, rc, err);
    return st;
}

/* Writes n records (numbered from 0), committing every `every`; returns
 * their positions (malloc'd). */
static store_pos *
write_records(store *st, uint32_t n, uint32_t every)
{
    store_pos *pos = calloc(n, sizeof *pos);
    for (uint32_t i = 0; i < n; i++) {
        pos[i] = append_rec(st, i);
        if ((i + 1) % every == 0 || i + 1 == n)
            assert_int_equal(store_commit(st, 0), STORE_OK);
    }
    return pos;
}

/* ---- tests ---- */

static void
crc32c_matches_the_check_value(void **state)
{
    assert_int_equal(store_crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t c = store_crc32c(0, "1234", 4);
    assert_int_equal(store_crc32c(c, "56789", 5), 0xE3069283u);
    static uint8_t zeros[32];
    assert_int_equal(store_crc32c(0, zeros, 32), 0x8A9136AAu);
}

static void
round_trip_across_segments(void **state)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, "roundtrip");
    store_options opt = {.segment_size = SMALL_SEG};
    store *st = open_ok(dir, &opt, NULL);
    enum { N = 3000 };
    store_pos *pos = write_records(st, N, 7);
    store_stats s;
    store_get_stats(st, &s);
    assert_true(s.segments > 10);
    assert_int_equal(s.live_records, N);
    assert_int_equal(s.pending_bytes, 0);
    assert_int_equal(count_files(dir, ".log", NULL), s.segments);
    assert_int_equal(store_close(st), STORE_OK);

    replay r = {0};
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, N);
    for (uint32_t i = 0; i < N; i++) {
        assert_record(&r.v[i], i);
        assert_int_equal(r.v[i].pos.segment, pos[i].segment);
        assert_int_equal(r.v[i].pos.offset, pos[i].offset);
        uint8_t type, buf[512];
        uint32_t len;
        if (i % 97 == 0) { /* read back from the closed segments */
            assert_int_equal(store_read(st, pos[i], &type, buf, sizeof buf, &len), STORE_OK);
            assert_int_equal(len, rec_len(i));
        }
    }
    replay_free(&r);
    /* More after the reopen, one record per commit, then once more. */
    for (uint32_t i = N; i < N + 50; i++) {
        append_rec(st, i);
        assert_int_equal(store_commit(st, 0), STORE_OK);
    }
    assert_int_equal(store_close(st), STORE_OK);
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, N + 50);
    for (uint32_t i = 0; i < N + 50; i++)
        assert_record(&r.v[i], i);
    replay_free(&r);
    /* Pending records are dropped by a close without a commit. */
    append_rec(st, N + 50);
    assert_int_equal(store_close(st), STORE_OK);
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, N + 50);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
    free(pos);
}

static void
rejects_bad_appends(void **state)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, "badappend");
    store_options opt = {.segment_size = SMALL_SEG};
    store *st = open_ok(dir, &opt, NULL);
    static uint8_t big[SMALL_SEG];
    store_pos pos;
    assert_int_equal(store_append(st, 0, "x", 1, &pos), STORE_EINVAL);
    assert_int_equal(store_append(st, 1, big, STORE_MAX_PAYLOAD(SMALL_SEG) + 1, &pos),
                     STORE_EINVAL);
    /* The largest fits, alone in a segment, in the middle of others. */
    append_rec(st, 1);
    assert_int_equal(store_append(st, 1, big, STORE_MAX_PAYLOAD(SMALL_SEG), &pos), STORE_OK);
    assert_int_equal(pos.offset, STORE_SEGMENT_HEADER);
    append_rec(st, 2);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    assert_int_equal(store_release(st, pos), STORE_OK);
    assert_int_equal(store_release(st, pos), STORE_EINVAL);
    assert_int_equal(store_release(st, (store_pos){99, 32}), STORE_EINVAL);
    assert_int_equal(store_close(st), STORE_OK);
    replay r = {0};
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.v[1].len, STORE_MAX_PAYLOAD(SMALL_SEG));
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
}

/* Records 0..N-1, one commit each, in a store whose newest segment holds
 * the last ones; the last two records' offsets, the newest's id. */
typedef struct torn_base {
    char dir[512];
    uint32_t n;
    store_pos *pos;
    uint64_t newest;
    uint32_t end; /* of the last record */
} torn_base;

static void
torn_tail_at_every_offset(void **state)
{
    torn_base b = {.n = 60};
    fresh_dir(b.dir, sizeof b.dir, "torn-base");
    store_options opt = {.segment_size = SMALL_SEG, .fsync = STORE_FSYNC_NO};
    store *st = open_ok(b.dir, &opt, NULL);
    b.pos = write_records(st, b.n, 1);
    b.newest = b.pos[b.n - 1].segment;
    assert_true(b.newest >= 2);
    assert_int_equal(b.pos[b.n - 2].segment, b.newest); /* both in the newest */
    b.end = b.pos[b.n - 1].offset + STORE_RECORD_HEADER + rec_len(b.n - 1);
    assert_int_equal(store_close(st), STORE_OK);

    char src[600], dst[600], work[512];
    seg_path(src, sizeof src, b.dir, b.newest);
    uint32_t from = b.pos[b.n - 2].offset;
    int cases = 0;
    for (uint32_t cut = from; cut < b.end; cut++) {
        for (int how = 0; how < 3; how++) { /* cut short, zeros after, garbage after */
            fresh_dir(work, sizeof work, "torn");
            assert_int_equal(mkdir(work, 0700), 0);
            for (uint64_t id = 1; id < b.newest; id++) {
                char a[600], c[600];
                seg_path(a, sizeof a, b.dir, id);
                seg_path(c, sizeof c, work, id);
                assert_int_equal(link(a, c), 0);
            }
            seg_path(dst, sizeof dst, work, b.newest);
            copy_file(src, dst, cut, how == 2 ? 0xA5 : 0, how == 0 ? 0 : SMALL_SEG);

            uint32_t whole = b.n - 2 + (cut >= b.pos[b.n - 1].offset); /* records kept */
            replay r = {0};
            st = open_ok(work, &opt, &r);
            assert_int_equal(r.n, whole);
            for (uint32_t i = 0; i < whole; i++)
                assert_record(&r.v[i], i);
            store_stats s;
            store_get_stats(st, &s);
            if (how == 2)
                assert_true(s.truncated_bytes > 0);
            replay_free(&r);
            /* Appends go on from the cut record's place and survive. */
            store_pos p = append_rec(st, 1000);
            assert_int_equal(p.segment, b.newest);
            assert_int_equal(p.offset, b.pos[whole].offset);
            append_rec(st, 1001);
            assert_int_equal(store_commit(st, 0), STORE_OK);
            assert_int_equal(store_close(st), STORE_OK);
            st = open_ok(work, &opt, &r);
            assert_int_equal(r.n, whole + 2);
            for (uint32_t i = 0; i < whole; i++)
                assert_record(&r.v[i], i);
            assert_record(&r.v[whole], 1000);
            assert_record(&r.v[whole + 1], 1001);
            replay_free(&r);
            assert_int_equal(store_close(st), STORE_OK);
            cases++;
        }
    }
    assert_true(cases > 100);
    /* A newest segment torn before its header was whole. */
    for (uint32_t cut = 0; cut <= STORE_SEGMENT_HEADER; cut += 8) {
        fresh_dir(work, sizeof work, "torn");
        assert_int_equal(mkdir(work, 0700), 0);
        for (uint64_t id = 1; id < b.newest; id++) {
            char a[600], c[600];
            seg_path(a, sizeof a, b.dir, id);
            seg_path(c, sizeof c, work, id);
            assert_int_equal(link(a, c), 0);
        }
        seg_path(dst, sizeof dst, work, b.newest);
        copy_file(src, dst, cut, 0, 0);
        uint32_t whole = 0;
        while (b.pos[whole].segment < b.newest)
            whole++;
        replay r = {0};
        st = open_ok(work, &opt, &r);
        assert_int_equal(r.n, whole);
        replay_free(&r);
        append_rec(st, 1000);
        assert_int_equal(store_commit(st, 0), STORE_OK);
        assert_int_equal(store_close(st), STORE_OK);
        st = open_ok(work, &opt, &r);
        assert_int_equal(r.n, whole + 1);
        assert_record(&r.v[whole], 1000);
        replay_free(&r);
        assert_int_equal(store_close(st), STORE_OK);
    }
    free(b.pos);
}

static void
damage_in_an_older_segment_is_refused_then_repaired(void **state)
{
    char dir[512], path[600], err[512];
    fresh_dir(dir, sizeof dir, "damage");
    store_options opt = {.segment_size = SMALL_SEG};
    store *st = open_ok(dir, &opt, NULL);
    enum { N = 300 };
    store_pos *pos = write_records(st, N, 5);
    assert_int_equal(store_close(st), STORE_OK);
    /* A record in the middle of segment 2. */
    uint32_t victim = 0;
    while (pos[victim].segment != 2)
        victim++;
    victim += 3;
    assert_int_equal(pos[victim].segment, 2);
    seg_path(path, sizeof path, dir, 2);
    flip_bit(path, pos[victim].offset + STORE_RECORD_HEADER + 5, 3);

    store *bad;
    assert_int_equal(store_open(&bad, dir, &opt, NULL, NULL, err, sizeof err), STORE_ECORRUPT);
    assert_null(bad);
    char want[64];
    snprintf(want, sizeof want, "offset %u", (unsigned)pos[victim].offset);
    assert_non_null(strstr(err, "0000000000000002.log"));
    assert_non_null(strstr(err, want));
    /* Still refused the second time: nothing was changed. */
    assert_int_equal(store_open(&bad, dir, &opt, NULL, NULL, err, sizeof err), STORE_ECORRUPT);

    store_options fix = opt;
    fix.repair = true;
    replay r = {0};
    st = open_ok(dir, &fix, &r);
    /* Every record but the damaged one: the prefix, the rest of the damaged
     * segment found again after it, and the later segments. */
    assert_int_equal(r.n, N - 1);
    for (uint32_t i = 0, k = 0; i < N; i++)
        if (i != victim)
            assert_record(&r.v[k++], i);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.repaired_segments, 1);
    replay_free(&r);
    snprintf(path, sizeof path, "%s/0000000000000002.log.damaged", dir);
    assert_true(exists(path));
    append_rec(st, 5000);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    assert_int_equal(store_close(st), STORE_OK);
    /* The repaired log opens without repair, gap and all. */
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, N);
    assert_record(&r.v[N - 1], 5000);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);

    /* A damaged length in segment 3's first record: found again by its
     * successors; a damaged header of segment 4; a missing segment 6. */
    uint32_t first3 = 0, first4 = 0;
    while (pos[first3].segment != 3)
        first3++;
    while (pos[first4].segment != 4)
        first4++;
    seg_path(path, sizeof path, dir, 3);
    flip_bit(path, pos[first3].offset + 9, 6);
    assert_int_equal(store_open(&bad, dir, &opt, NULL, NULL, err, sizeof err), STORE_ECORRUPT);
    snprintf(want, sizeof want, "offset %u", (unsigned)pos[first3].offset);
    assert_non_null(strstr(err, "0000000000000003.log"));
    assert_non_null(strstr(err, want));
    seg_path(path, sizeof path, dir, 4);
    flip_bit(path, 17, 0);
    seg_path(path, sizeof path, dir, 6);
    assert_int_equal(unlink(path), 0);
    assert_true(pos[N - 1].segment > 7);
    st = open_ok(dir, &fix, &r);
    uint32_t k = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (i == victim || i == first3 || pos[i].segment == 6)
            continue;
        assert_true(k < r.n);
        assert_record(&r.v[k++], i);
    }
    assert_record(&r.v[k++], 5000);
    assert_int_equal(r.n, k);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, k);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
    free(pos);
}

/* The newest segment's header is damaged while good records follow it:
 * not a segment torn at its creation, so refused, then rebuilt. */
static void
damage_in_the_newest_header_is_not_a_torn_tail(void **state)
{
    char dir[512], path[600], err[512];
    fresh_dir(dir, sizeof dir, "newest-header");
    store_options opt = {.segment_size = SMALL_SEG};
    store *st = open_ok(dir, &opt, NULL);
    enum { N = 100 };
    store_pos *pos = write_records(st, N, 3);
    assert_int_equal(store_close(st), STORE_OK);
    seg_path(path, sizeof path, dir, pos[N - 1].segment);
    flip_bit(path, 3, 1);
    store *bad;
    assert_int_equal(store_open(&bad, dir, &opt, NULL, NULL, err, sizeof err), STORE_ECORRUPT);
    assert_non_null(strstr(err, "offset 0"));
    store_options fix = opt;
    fix.repair = true;
    replay r = {0};
    st = open_ok(dir, &fix, &r);
    assert_int_equal(r.n, N);
    for (uint32_t i = 0; i < N; i++)
        assert_record(&r.v[i], i);
    replay_free(&r);
    append_rec(st, N);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    assert_int_equal(store_close(st), STORE_OK);
    st = open_ok(dir, &opt, &r);
    assert_int_equal(r.n, N + 1);
    assert_record(&r.v[N], N);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
    free(pos);
}

/* How often each policy syncs: always once per commit that wrote, everysec
 * once a second by the caller's clock (also with nothing new), no never. */
static void
fsync_policies(void **state)
{
    char dir[512];
    store_stats s;
    store_fsync policies[] = {STORE_FSYNC_ALWAYS, STORE_FSYNC_EVERYSEC, STORE_FSYNC_NO};
    uint64_t want[] = {10, 2, 0};
    for (int p = 0; p < 3; p++) {
        fresh_dir(dir, sizeof dir, "policy");
        store_options opt = {.segment_size = 1 << 20, .fsync = policies[p]};
        store *st = open_ok(dir, &opt, NULL);
        store_get_stats(st, &s);
        uint64_t base = s.syncs;
        int64_t now = 5000000;
        for (uint32_t i = 0; i < 10; i++) { /* 10 commits within 0.9 s */
            append_rec(st, i);
            append_rec(st, i + 100);
            assert_int_equal(store_commit(st, now), STORE_OK);
            now += 100000;
        }
        assert_int_equal(store_commit(st, now), STORE_OK); /* nothing new: no sync */
        now += 1000000;
        assert_int_equal(store_commit(st, now), STORE_OK); /* a second later */
        store_get_stats(st, &s);
        assert_int_equal(s.syncs - base, want[p]);
        assert_int_equal(s.commits, 10);
        assert_int_equal(store_close(st), STORE_OK);
    }
}

static void
a_second_store_on_the_same_dir_is_refused(void **state)
{
    char dir[512], err[512];
    fresh_dir(dir, sizeof dir, "lock");
    store *a = open_ok(dir, NULL, NULL), *b;
    assert_int_equal(store_open(&b, dir, NULL, NULL, NULL, err, sizeof err), STORE_ELOCKED);
    assert_null(b);
    assert_non_null(strstr(err, "in use by another store"));
    assert_int_equal(store_close(a), STORE_OK);
    b = open_ok(dir, NULL, NULL);
    assert_int_equal(store_close(b), STORE_OK);
}

/* The disk fills up extra bytes after the last record committed
 * (RLIMIT_FSIZE: a write past it fails with EFBIG). */
static void
full_disk(const char *name, rlim_t extra, uint32_t batch)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, name);
    store_options opt = {.segment_size = 64 << 10};
    store *st = open_ok(dir, &opt, NULL);
    enum { N = 200 };
    store_pos *pos = write_records(st, N, 10);
    rlim_t end = pos[N - 1].offset + STORE_RECORD_HEADER + rec_len(N - 1);
    free(pos);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = end + extra;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (uint32_t i = N; i < N + batch; i++)
        append_rec(st, i);
    store_status rc = store_commit(st, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, STORE_EIO);
    assert_non_null(strstr(store_error(st), "File too large"));
    /* Refused from now on, even with room again: never retried. */
    uint8_t x = 0;
    assert_int_equal(store_append(st, 1, &x, 1, NULL), STORE_EFAILED);
    assert_int_equal(store_commit(st, 0), STORE_EFAILED);
    assert_int_equal(store_compact_list(st, NULL, 0), 0);
    store_close(st);

    /* What was committed is there; of the failed batch, at most a prefix. */
    replay r = {0};
    st = open_ok(dir, &opt, &r);
    assert_true(r.n >= N && r.n < N + batch);
    for (uint32_t i = 0; i < r.n; i++)
        assert_record(&r.v[i], i);
    replay_free(&r);
    append_rec(st, 7000);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    size_t kept = 0;
    assert_int_equal(store_close(st), STORE_OK);
    st = open_ok(dir, &opt, &r);
    kept = r.n;
    assert_record(&r.v[kept - 1], 7000);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
}

static void
a_failed_write_is_final(void **state)
{
    signal(SIGXFSZ, SIG_IGN);
    /* The write is cut short in the middle of a record. */
    full_disk("efbig-write", 500, 100);
    /* The first byte written fails. */
    full_disk("efbig-at-once", 0, 10);
    signal(SIGXFSZ, SIG_DFL);
}

static void
dead_segments_are_deleted_oldest_first(void **state)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, "reclaim");
    store_options opt = {.segment_size = SMALL_SEG};
    store *st = open_ok(dir, &opt, NULL);
    enum { N = 500 };
    store_pos *pos = write_records(st, N, 25);
    store_stats s;
    store_get_stats(st, &s);
    uint64_t segs = s.segments, cur = s.current_segment;
    assert_true(segs > 5);
    /* Segment 3 wholly released: kept, 1 and 2 still live before it. */
    for (uint32_t i = 0; i < N; i++)
        if (pos[i].segment == 3)
            assert_int_equal(store_release(st, pos[i]), STORE_OK);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    store_get_stats(st, &s);
    assert_int_equal(s.segments, segs);
    /* Then 1 and 2: 1 to 3 go. */
    for (uint32_t i = 0; i < N; i++)
        if (pos[i].segment < 3)
            assert_int_equal(store_release(st, pos[i]), STORE_OK);
    store_get_stats(st, &s);
    assert_int_equal(s.segments, segs); /* not before a commit */
    assert_int_equal(store_commit(st, 0), STORE_OK);
    store_get_stats(st, &s);
    assert_int_equal(s.segments, segs - 3);
    assert_int_equal(count_files(dir, ".log", NULL), segs - 3);
    /* All but the current one. */
    for (uint32_t i = 0; i < N; i++)
        if (pos[i].segment > 3 && pos[i].segment < cur)
            assert_int_equal(store_release(st, pos[i]), STORE_OK);
    assert_int_equal(store_commit(st, 0), STORE_OK);
    assert_int_equal(count_files(dir, ".log", NULL), 1);
    store_get_stats(st, &s);
    assert_int_equal(s.deleted_segments, segs - 1);
    assert_int_equal(store_close(st), STORE_OK);
    /* The reopened log holds exactly the current segment's records. */
    replay r = {0};
    st = open_ok(dir, &opt, &r);
    uint32_t first = 0;
    while (pos[first].segment != cur)
        first++;
    assert_int_equal(r.n, N - first);
    for (uint32_t i = first; i < N; i++)
        assert_record(&r.v[i - first], i);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
    free(pos);
}

/* ---- churn: live items, one pinned for long, copy-forward ---- */

typedef struct item {
    uint32_t rec; /* its record number (rec_fill) */
    store_pos pos;
} item;

static void
disk_stays_bounded_under_churn(void **state)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, "churn");
    enum { SEG = 16 << 10, LIVE = 120, ROUNDS = 30000 };
    store_options opt = {.segment_size = SEG, .fsync = STORE_FSYNC_NO};
    store *st = open_ok(dir, &opt, NULL);
    item items[LIVE + 64];
    size_t n = 0;
    uint32_t next = 0;
    srand(12);
    item pinned = {next, append_rec(st, next)};
    next++;
    uint64_t peak = 0, copies = 0;
    for (int round = 0; round < ROUNDS; round++) {
        items[n].rec = next;
        items[n].pos = append_rec(st, next++);
        n++;
        if (n > LIVE) { /* release one, at random: segments die unevenly */
            size_t k = (size_t)rand() % n;
            assert_int_equal(store_release(st, items[k].pos), STORE_OK);
            items[k] = items[--n];
        }
        if (round % 5 != 4)
            continue;
        assert_int_equal(store_commit(st, 0), STORE_OK);
        store_pos move[64];
        size_t m = store_compact_list(st, move, 64);
        for (size_t j = 0; j < m; j++) {
            item *it = NULL;
            if (move[j].segment == pinned.pos.segment && move[j].offset == pinned.pos.offset)
                it = &pinned;
            for (size_t k = 0; it == NULL && k < n; k++)
                if (items[k].pos.segment == move[j].segment &&
                    items[k].pos.offset == move[j].offset)
                    it = &items[k];
            assert_non_null(it);
            uint8_t type, buf[512];
            uint32_t len;
            assert_int_equal(store_read(st, it->pos, &type, buf, sizeof buf, &len), STORE_OK);
            assert_int_equal(type, rec_type(it->rec));
            assert_int_equal(len, rec_len(it->rec));
            store_pos np;
            assert_int_equal(store_append(st, type, buf, len, &np), STORE_OK);
            assert_int_equal(store_release(st, it->pos), STORE_OK);
            it->pos = np;
            copies++;
        }
        assert_int_equal(store_commit(st, 0), STORE_OK);
        store_stats s;
        store_get_stats(st, &s);
        assert_int_equal(s.live_records, n + 1);
        if (round % 50 == 49) {
            uint64_t bytes;
            count_files(dir, ".log", &bytes);
            assert_int_equal(bytes, s.disk_bytes);
        }
        if (s.disk_bytes > peak)
            peak = s.disk_bytes;
        if (s.disk_bytes > 2 * s.live_bytes + 2 * SEG)
            fail_msg("round %d: %llu bytes on disk for %llu live", round,
                     (unsigned long long)s.disk_bytes, (unsigned long long)s.live_bytes);
    }
    store_stats s;
    store_get_stats(st, &s);
    assert_true(s.deleted_segments > 100);
    assert_true(copies > 0);
    print_message("churn: %llu segments deleted, %llu records copied forward, peak %llu bytes "
                  "on disk, %llu live at the end\n",
                  (unsigned long long)s.deleted_segments, (unsigned long long)copies,
                  (unsigned long long)peak, (unsigned long long)s.live_bytes);
    assert_int_equal(store_close(st), STORE_OK);
    /* Everything live comes back (and dead records only from segments that
     * are still there). */
    replay r = {0};
    st = open_ok(dir, &opt, &r);
    size_t found = 0;
    for (size_t i = 0; i < r.n; i++) {
        uint32_t rec;
        memcpy(&rec, r.v[i].payload, 4);
        bool live = rec == pinned.rec && r.v[i].pos.segment == pinned.pos.segment &&
                    r.v[i].pos.offset == pinned.pos.offset;
        for (size_t k = 0; !live && k < n; k++)
            live = items[k].rec == rec && items[k].pos.segment == r.v[i].pos.segment &&
                   items[k].pos.offset == r.v[i].pos.offset;
        assert_record(&r.v[i], rec);
        found += live;
    }
    assert_int_equal(found, n + 1);
    replay_free(&r);
    assert_int_equal(store_close(st), STORE_OK);
}

/* ---- a seeded random run against a model ---- */

typedef struct mrec {
    uint32_t rec;
    store_pos pos;
    bool live, committed;
} mrec;

typedef struct model {
    mrec *v;
    size_t n, cap;
} model;

static uint64_t rng_state;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static mrec *
model_find(model *m, store_pos pos)
{
    for (size_t i = m->n; i-- > 0;)
        if (m->v[i].pos.segment == pos.segment && m->v[i].pos.offset == pos.offset)
            return &m->v[i];
    return NULL;
}

typedef struct fuzz_replay {
    model *m;
    size_t next; /* index in the model of the next record expected */
    size_t seen;
} fuzz_replay;

/* The replay is a suffix of the committed records (those of deleted
 * segments gone), in order; the dead ones among them are released again. */
static bool
fuzz_collect(void *ctx, store *st, uint8_t type, const void *payload, uint32_t len, store_pos pos)
{
    fuzz_replay *f = ctx;
    model *m = f->m;
    while (f->next < m->n &&
           (m->v[f->next].pos.segment != pos.segment || m->v[f->next].pos.offset != pos.offset)) {
        /* skipped: must be dead and in an older, deleted segment */
        assert_false(m->v[f->next].live);
        assert_true(f->seen == 0);
        f->next++;
    }
    assert_true(f->next < m->n);
    mrec *r = &m->v[f->next++];
    uint8_t buf[2048];
    uint32_t want = rec_len(r->rec) * (r->rec % 11 == 0 ? 9 : 1);
    assert_int_equal(len, want);
    assert_int_equal(type, rec_type(r->rec));
    rec_fill(r->rec, buf, want);
    assert_memory_equal(payload, buf, want);
    if (!r->live)
        assert_int_equal(store_release(st, pos), STORE_OK);
    f->seen++;
    return true;
}

static void
random_operations_match_a_model(void **state)
{
    char dir[512];
    fresh_dir(dir, sizeof dir, "fuzz");
    store_options opt = {.segment_size = SMALL_SEG, .fsync = STORE_FSYNC_EVERYSEC};
    rng_state = 0x9E3779B97F4A7C15ull;
    model m = {0};
    store *st = open_ok(dir, &opt, NULL);
    uint32_t next = 0;
    int64_t now = 0;
    size_t reopens = 0, live = 0, copies = 0;
    for (int step = 0; step < 12000; step++) {
        uint32_t op = rng() % 100;
        now += 1000 * (rng() % 300);
        if (op < 50) { /* append; every 11th is large, to fill segments unevenly */
            uint32_t rec = next++, len = rec_len(rec) * (rec % 11 == 0 ? 9 : 1);
            uint8_t buf[2048];
            rec_fill(rec, buf, len);
            store_pos pos;
            assert_int_equal(store_append(st, rec_type(rec), buf, len, &pos), STORE_OK);
            if (m.n == m.cap) {
                m.cap = m.cap ? m.cap * 2 : 1024;
                m.v = realloc(m.v, m.cap * sizeof *m.v);
            }
            m.v[m.n++] = (mrec){rec, pos, true, false};
            live++;
        } else if (op < 70) {
            assert_int_equal(store_commit(st, now), STORE_OK);
            for (size_t i = m.n; i-- > 0 && !m.v[i].committed;)
                m.v[i].committed = true;
        } else if (op < 90) { /* release live records, more often old ones: up to
                                 three, so that releases outrun appends at times
                                 and the log asks for compaction */
            for (int r = 0; r < 3 && m.n > 0; r++) {
                size_t k = rng() % m.n;
                if (rng() % 2)
                    k = k / 8;
                while (k < m.n && !m.v[k].live)
                    k++;
                if (k == m.n)
                    break;
                assert_int_equal(store_release(st, m.v[k].pos), STORE_OK);
                m.v[k].live = false;
                live--;
            }
        } else if (op < 97) { /* copy forward what the store asks for */
            store_pos move[16];
            size_t c = store_compact_list(st, move, 16);
            for (size_t j = 0; j < c; j++) {
                mrec *r = model_find(&m, move[j]);
                assert_non_null(r);
                assert_true(r->live);
                uint8_t type, buf[2048];
                uint32_t len;
                assert_int_equal(store_read(st, r->pos, &type, buf, sizeof buf, &len), STORE_OK);
                store_pos np;
                assert_int_equal(store_append(st, type, buf, len, &np), STORE_OK);
                assert_int_equal(store_release(st, r->pos), STORE_OK);
                r->live = false;
                uint32_t rec = r->rec;
                if (m.n == m.cap) {
                    m.cap *= 2;
                    m.v = realloc(m.v, m.cap * sizeof *m.v);
                }
                m.v[m.n++] = (mrec){rec, np, true, false};
                copies++;
            }
        } else { /* close (pending records are lost) and reopen */
            assert_int_equal(store_close(st), STORE_OK);
            size_t w = 0;
            for (size_t i = 0; i < m.n; i++) {
                if (m.v[i].committed)
                    m.v[w++] = m.v[i];
                else
                    live -= m.v[i].live;
            }
            m.n = w;
            fuzz_replay f = {&m, 0, 0};
            char err[512];
            assert_int_equal(store_open(&st, dir, &opt, fuzz_collect, &f, err, sizeof err),
                             STORE_OK);
            /* Everything after the first replayed record was replayed. */
            assert_int_equal(f.next, m.n);
            /* Records of deleted segments leave the model. */
            size_t drop = m.n - f.seen;
            memmove(m.v, m.v + drop, (m.n - drop) * sizeof *m.v);
            m.n -= drop;
            reopens++;
        }
        store_stats s;
        store_get_stats(st, &s);
        assert_int_equal(s.live_records, live);
    }
    store_stats s;
    store_get_stats(st, &s);
    print_message("model: %zu reopens, %zu records copied forward, %llu segments deleted since "
                  "the last reopen, %zu records in the model\n",
                  reopens, copies, (unsigned long long)s.deleted_segments, m.n);
    assert_true(reopens > 200);
    assert_true(copies > 10);
    assert_int_equal(store_close(st), STORE_OK);
    free(m.v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_the_check_value),
        cmocka_unit_test(round_trip_across_segments),
        cmocka_unit_test(rejects_bad_appends),
        cmocka_unit_test(torn_tail_at_every_offset),
        cmocka_unit_test(damage_in_an_older_segment_is_refused_then_repaired),
        cmocka_unit_test(damage_in_the_newest_header_is_not_a_torn_tail),
        cmocka_unit_test(fsync_policies),
        cmocka_unit_test(a_second_store_on_the_same_dir_is_refused),
        cmocka_unit_test(a_failed_write_is_final),
        cmocka_unit_test(dead_segments_are_deleted_oldest_first),
        cmocka_unit_test(disk_stays_bounded_under_churn),
        cmocka_unit_test(random_operations_match_a_model),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
