/* The durable store: see store.h for what it promises.
 *
 * A segment file is a 32-byte header, then records, then (for the newest)
 * the zeros of its preallocation. All numbers are little-endian.
 *
 *   segment header  0 "ipcqlog1"  8 u64 segment id  16 u64 first sequence
 *                   24 u32 version (1)  28 u32 CRC-32C of bytes 0..27
 *   record header   0 u32 CRC-32C of bytes 4..19 and the payload
 *                   4 u16 magic 0x7152  6 u8 type  7 u8 flags (0)
 *                   8 u32 payload length  12 u64 sequence number
 *
 * Sequence numbers go up by one from record to record across segments, so
 * a missing record (a lost segment, a cut-off end) shows. Type 0 is the
 * store's own: a "skip" record, whose 8-byte payload is the sequence number
 * of the record after it; --repair writes one where it leaves a gap, and
 * the replay never shows it. Zeros never pass for a record (magic).
 *
 * In memory each segment keeps one entry (offset, size, dead bit) per
 * record of the caller's, for release, copy-forward and the live counts. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_MAGIC "ipcqlog1"
#define SEG_VERSION 1u
#define REC_MAGIC 0x7152u
#define TYPE_SKIP 0
#define DEAD 0x80000000u /* in entry.size */
#define NAME_LEN 21      /* 16 digits, ".log" and NUL */
#define SECOND_US 1000000

typedef struct entry {
    uint32_t off;
    uint32_t size; /* header and payload; DEAD once released */
} entry;

typedef struct segment {
    uint64_t id;
    uint64_t first_seq;
    uint64_t file_size; /* on disk; 0 while not created */
    uint32_t written;   /* end of what is written */
    uint32_t appended;  /* end of what is written or pending */
    bool on_disk;
    entry *entries;
    size_t n, cap;
    size_t first_live; /* no entry before it is live (entries only die) */
    size_t live;
    uint64_t live_bytes;
    uint64_t dead_at; /* last sequence appended when live fell to 0 */
} segment;

struct store {
    char *dir;
    int dirfd, lockfd;
    int fd;         /* the segment written to; -1 before it exists */
    uint64_t fd_id; /* its id */
    int read_fd;    /* an older segment open for store_read */
    uint64_t read_id;
    uint32_t seg_size;
    store_fsync policy;
    segment *segs; /* oldest first; the last one is appended to */
    size_t nsegs, segcap;
    uint8_t *pending;
    size_t pending_len, pending_cap;
    uint64_t next_seq; /* of the next record appended */
    /* Compaction's watch on the oldest segment (store_compact_list): */
    uint64_t appended_total; /* bytes ever appended */
    uint64_t watch_id;       /* the oldest segment when last looked at */
    size_t watch_live;       /* its live records then */
    uint64_t watch_mark;     /* appended_total when they last fell */
    uint64_t compacting_id;  /* the segment being emptied, once begun */
    uint64_t written_seq;    /* last sequence written */
    uint64_t synced_seq;     /* last sequence on stable storage */
    int64_t last_sync_us;
    uint64_t live_bytes, live_records;
    store_stats stats;
    bool failed;
    char error[512];
};

/* ---- bytes ---- */

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void
seg_name(char name[NAME_LEN], uint64_t id)
{
    snprintf(name, NAME_LEN, "%016" PRIu64 ".log", id);
}

static void
make_seg_header(uint8_t h[STORE_SEGMENT_HEADER], uint64_t id, uint64_t first_seq)
{
    memcpy(h, SEG_MAGIC, 8);
    put64(h + 8, id);
    put64(h + 16, first_seq);
    put32(h + 24, SEG_VERSION);
    put32(h + 28, store_crc32c(0, h, 28));
}

/* NULL if h is a good header of segment id, else why not. */
static const char *
check_seg_header(const uint8_t *h, size_t avail, uint64_t id)
{
    if (avail < STORE_SEGMENT_HEADER)
        return "segment header cut short";
    if (memcmp(h, SEG_MAGIC, 8) != 0 || get32(h + 24) != SEG_VERSION ||
        get32(h + 28) != store_crc32c(0, h, 28))
        return "bad segment header";
    if (get64(h + 8) != id)
        return "segment header names another segment";
    return NULL;
}

static void
make_rec_header(uint8_t h[STORE_RECORD_HEADER], uint8_t type, const void *payload, uint32_t len,
                uint64_t seq)
{
    put16(h + 4, REC_MAGIC);
    h[6] = type;
    h[7] = 0;
    put32(h + 8, len);
    put64(h + 12, seq);
    uint32_t crc = store_crc32c(0, h + 4, STORE_RECORD_HEADER - 4);
    put32(h, store_crc32c(crc, payload, len));
}

/* NULL if a whole good record starts at p (and, unless want_seq is 0, has
 * that sequence number), with its size in *size; else why not. */
static const char *
check_record(const uint8_t *p, size_t avail, uint64_t want_seq, uint32_t *size)
{
    if (avail < STORE_RECORD_HEADER)
        return "record header cut short";
    if (get16(p + 4) != REC_MAGIC || p[7] != 0)
        return "no record header";
    uint32_t len = get32(p + 8);
    if (len > avail - STORE_RECORD_HEADER)
        return "record runs past the end of the file";
    if (get32(p) !=
        store_crc32c(store_crc32c(0, p + 4, STORE_RECORD_HEADER - 4), p + STORE_RECORD_HEADER, len))
        return "checksum mismatch";
    if (want_seq != 0 && get64(p + 12) != want_seq)
        return "out of sequence";
    if (p[6] == TYPE_SKIP && (len != 8 || get64(p + STORE_RECORD_HEADER) <= get64(p + 12)))
        return "bad skip record";
    *size = STORE_RECORD_HEADER + len;
    return NULL;
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static void
say(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* A write or sync failed: from now on the store refuses changes. */
static store_status
fail(store *st, const char *what, uint64_t id, int err)
{
    char name[NAME_LEN];
    seg_name(name, id);
    say(st->error, sizeof st->error, "%s %s/%s: %s", what, st->dir, name, strerror(err));
    st->failed = true;
    return STORE_EIO;
}

/* ---- segments in memory ---- */

static segment *
find_segment(store *st, uint64_t id)
{
    size_t lo = 0, hi = st->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->segs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nsegs && st->segs[lo].id == id ? &st->segs[lo] : NULL;
}

static entry *
find_entry(segment *s, uint32_t off)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->entries[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->entries[lo].off == off ? &s->entries[lo] : NULL;
}

static segment *
add_segment(store *st, uint64_t id, uint64_t first_seq)
{
    if (st->nsegs == st->segcap) {
        size_t cap = st->segcap ? st->segcap * 2 : 8;
        segment *segs = realloc(st->segs, cap * sizeof *segs);
        if (segs == NULL)
            return NULL;
        st->segs = segs;
        st->segcap = cap;
    }
    segment *s = &st->segs[st->nsegs++];
    *s = (segment){.id = id, .first_seq = first_seq};
    s->written = s->appended = STORE_SEGMENT_HEADER;
    return s;
}

static bool
add_entry(store *st, segment *s, uint32_t off, uint32_t size)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        entry *e = realloc(s->entries, cap * sizeof *e);
        if (e == NULL)
            return false;
        s->entries = e;
        s->cap = cap;
    }
    s->entries[s->n++] = (entry){off, size};
    s->live++;
    s->live_bytes += size;
    st->live_records++;
    st->live_bytes += size;
    return true;
}

/* ---- files ---- */

/* pwrite (writing) or pread all of len bytes at off; false with errno set
 * (EIO for a file that ends first). */
static bool
transfer_all(int fd, void *buf, size_t len, off_t off, bool writing)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = writing ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return true;
}

static bool
write_all(int fd, const void *buf, size_t len, off_t off)
{
    return transfer_all(fd, (void *)buf, len, off, true);
}

static bool
read_all(int fd, void *buf, size_t len, off_t off)
{
    return transfer_all(fd, buf, len, off, false);
}

/* posix_fallocate returns its error instead of setting errno. */
static bool
preallocate(int fd, off_t size)
{
    int rc = posix_fallocate(fd, 0, size);
    if (rc != 0) {
        errno = rc;
        return false;
    }
    return true;
}

/* Creates segment id, preallocated, with its header, and makes its name
 * durable; its fd becomes the one written to. */
static bool
create_segment_file(store *st, segment *s)
{
    char name[NAME_LEN];
    seg_name(name, s->id);
    int fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    uint8_t h[STORE_SEGMENT_HEADER];
    make_seg_header(h, s->id, s->first_seq);
    if (!preallocate(fd, st->seg_size) || !write_all(fd, h, sizeof h, 0) || fdatasync(fd) != 0 ||
        fsync(st->dirfd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return false;
    }
    if (st->fd >= 0)
        close(st->fd);
    st->fd = fd;
    st->fd_id = s->id;
    s->on_disk = true;
    s->file_size = st->seg_size;
    st->stats.segments++;
    return true;
}

/* A segment the log has moved past: cut its preallocation off and make it
 * durable whatever the policy, before the next segment exists, so that a
 * closed segment always ends with its last record. */
static bool
finish_segment(store *st, segment *s)
{
    if (ftruncate(st->fd, s->written) != 0 || fsync(st->fd) != 0)
        return false;
    close(st->fd);
    st->fd = -1;
    s->file_size = s->written;
    return true;
}

static bool
sync_current(store *st)
{
    if (st->fd >= 0 && fdatasync(st->fd) != 0)
        return false;
    st->synced_seq = st->written_seq;
    st->stats.syncs++;
    return true;
}

/* Deletes the oldest segments while they are closed, wholly released, and
 * the records that released them are durable. */
static void
delete_dead_segments(store *st)
{
    uint64_t durable = st->policy == STORE_FSYNC_NO ? st->written_seq : st->synced_seq;
    size_t n = 0;
    while (n + 1 < st->nsegs) {
        segment *s = &st->segs[n];
        if (s->live != 0 || s->dead_at > durable || s->written != s->appended || !s->on_disk ||
            (st->fd >= 0 && st->fd_id == s->id))
            break;
        char name[NAME_LEN];
        seg_name(name, s->id);
        if (unlinkat(st->dirfd, name, 0) != 0 && errno != ENOENT)
            break; /* tried again at the next commit */
        if (st->read_fd >= 0 && st->read_id == s->id) {
            close(st->read_fd);
            st->read_fd = -1;
        }
        st->stats.segments--;
        st->stats.deleted_segments++;
        free(s->entries);
        n++;
    }
    if (n == 0)
        return;
    memmove(st->segs, st->segs + n, (st->nsegs - n) * sizeof *st->segs);
    st->nsegs -= n;
    if (st->policy != STORE_FSYNC_NO)
        fsync(st->dirfd); /* best effort: a segment that comes back is all dead */
}

/* ---- writing ---- */

static bool
reserve_pending(store *st, size_t more)
{
    if (st->pending_len + more <= st->pending_cap)
        return true;
    size_t cap = st->pending_cap ? st->pending_cap : 64 << 10;
    while (cap < st->pending_len + more)
        cap *= 2;
    uint8_t *p = realloc(st->pending, cap);
    if (p == NULL)
        return false;
    st->pending = p;
    st->pending_cap = cap;
    return true;
}

store_status
store_append(store *st, uint8_t type, const void *payload, uint32_t len, store_pos *pos)
{
    if (st->failed)
        return STORE_EFAILED;
    if (type == TYPE_SKIP || len > STORE_MAX_PAYLOAD(st->seg_size))
        return STORE_EINVAL;
    uint32_t size = STORE_RECORD_HEADER + len;
    if (!reserve_pending(st, size))
        return STORE_ENOMEM;
    segment *s = &st->segs[st->nsegs - 1];
    if ((uint64_t)s->appended + size > st->seg_size) {
        s = add_segment(st, s->id + 1, st->next_seq);
        if (s == NULL)
            return STORE_ENOMEM;
    }
    if (!add_entry(st, s, s->appended, size))
        return STORE_ENOMEM; /* an empty new segment is harmless */
    uint8_t *p = st->pending + st->pending_len;
    make_rec_header(p, type, payload, len, st->next_seq);
    if (len > 0)
        memcpy(p + STORE_RECORD_HEADER, payload, len);
    st->pending_len += size;
    st->appended_total += size;
    if (pos != NULL)
        *pos = (store_pos){s->id, s->appended};
    s->appended += size;
    st->next_seq++;
    return STORE_OK;
}

store_status
store_commit(store *st, int64_t now_us)
{
    if (st->failed)
        return STORE_EFAILED;
    size_t at = 0;
    bool wrote = false;
    for (size_t i = 0; i < st->nsegs; i++) {
        segment *s = &st->segs[i];
        if (s->appended != s->written) {
            if (!s->on_disk && !create_segment_file(st, s))
                return fail(st, "cannot create", s->id, errno);
            if (st->fd_id != s->id || st->fd < 0)
                return fail(st, "no descriptor for", s->id, EBADF); /* cannot happen */
            uint32_t len = s->appended - s->written;
            if (!write_all(st->fd, st->pending + at, len, s->written))
                return fail(st, "cannot write", s->id, errno);
            at += len;
            s->written = s->appended;
            wrote = true;
        }
        /* Records went on to a newer segment: this one is done. */
        if (i + 1 < st->nsegs && st->fd >= 0 && st->fd_id == s->id && !finish_segment(st, s))
            return fail(st, "cannot close", s->id, errno);
    }
    st->pending_len = 0;
    if (wrote) {
        st->written_seq = st->next_seq - 1;
        st->stats.commits++;
    }
    /* everysec syncs early when a dead segment waits for that sync to be
     * deleted: a second of writes would otherwise outgrow the disk bound
     * (one sync per segment at most). */
    bool segment_waits = st->nsegs > 1 && st->segs[0].live == 0 &&
                         st->segs[0].dead_at > st->synced_seq &&
                         st->segs[0].dead_at <= st->written_seq;
    bool due = st->policy == STORE_FSYNC_ALWAYS ||
               (st->policy == STORE_FSYNC_EVERYSEC &&
                (now_us - st->last_sync_us >= SECOND_US || segment_waits));
    if (due && st->synced_seq < st->written_seq) {
        if (!sync_current(st))
            return fail(st, "cannot sync", st->fd_id, errno);
        st->last_sync_us = now_us;
    }
    delete_dead_segments(st);
    return STORE_OK;
}

store_status
store_release(store *st, store_pos pos)
{
    segment *s = find_segment(st, pos.segment);
    entry *e = s ? find_entry(s, pos.offset) : NULL;
    if (e == NULL || (e->size & DEAD))
        return STORE_EINVAL;
    s->live--;
    s->live_bytes -= e->size;
    st->live_records--;
    st->live_bytes -= e->size;
    e->size |= DEAD;
    if (s->live == 0)
        s->dead_at = st->next_seq ? st->next_seq - 1 : 0; /* 0: during the first replay */
    return STORE_OK;
}

size_t
store_compact_list(store *st, store_pos *out, size_t max)
{
    if (st->failed || st->nsegs < 2)
        return 0;
    segment *old = &st->segs[0];
    if (old->live == 0)
        return 0;
    uint64_t closed = 0;
    for (size_t i = 0; i + 1 < st->nsegs; i++)
        closed += st->segs[i].appended;
    if (old->id != st->watch_id || old->live < st->watch_live) {
        st->watch_id = old->id;
        st->watch_live = old->live;
        st->watch_mark = st->appended_total;
    }
    /* Worth copying when little in it is live (at most an eighth: one slow
     * item pinning a segment of dead ones, or the few items still queued
     * when it was closed), or when it is stuck: the log grew by 1/64 of a
     * segment and none of its records died. A segment more live than that
     * and being drained (the head of a long queue being got) empties by
     * itself: copying what is about to be got would only cost writes. */
    bool nearly_dead = old->live_bytes * 8 <= old->appended;
    bool stuck = st->appended_total - st->watch_mark >= st->seg_size / 64;
    if (closed <= 2 * st->live_bytes || !(nearly_dead || stuck || old->id == st->compacting_id))
        return 0;
    st->compacting_id = old->id;
    while (old->first_live < old->n && (old->entries[old->first_live].size & DEAD))
        old->first_live++;
    size_t n = 0;
    for (size_t i = old->first_live; i < old->n && n < max; i++)
        if (!(old->entries[i].size & DEAD))
            out[n++] = (store_pos){old->id, old->entries[i].off};
    return n;
}

store_status
store_read(store *st, store_pos pos, uint8_t *type, void *buf, uint32_t cap, uint32_t *len)
{
    segment *s = find_segment(st, pos.segment);
    entry *e = s ? find_entry(s, pos.offset) : NULL;
    if (e == NULL || (e->size & DEAD))
        return STORE_EINVAL;
    uint32_t size = e->size;
    uint8_t h[STORE_RECORD_HEADER];
    if (pos.offset >= s->written) { /* still pending */
        size_t at = 0;
        for (segment *t = st->segs; t < s; t++)
            at += t->appended - t->written;
        const uint8_t *p = st->pending + at + (pos.offset - s->written);
        *type = p[6];
        *len = size - STORE_RECORD_HEADER;
        if (*len > cap)
            return STORE_EINVAL;
        memcpy(buf, p + STORE_RECORD_HEADER, *len);
        return STORE_OK;
    }
    int fd = st->fd;
    if (st->fd < 0 || st->fd_id != s->id) {
        if (st->read_fd < 0 || st->read_id != s->id) {
            char name[NAME_LEN];
            seg_name(name, s->id);
            int rfd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
            if (rfd < 0) {
                say(st->error, sizeof st->error, "cannot open %s/%s: %s", st->dir, name,
                    strerror(errno));
                return STORE_EIO;
            }
            if (st->read_fd >= 0)
                close(st->read_fd);
            st->read_fd = rfd;
            st->read_id = s->id;
        }
        fd = st->read_fd;
    }
    *len = size - STORE_RECORD_HEADER;
    if (!read_all(fd, h, sizeof h, pos.offset))
        return STORE_EIO;
    *type = h[6];
    if (*len > cap)
        return STORE_EINVAL;
    if (!read_all(fd, buf, *len, (off_t)pos.offset + STORE_RECORD_HEADER))
        return STORE_EIO;
    uint32_t crc = store_crc32c(store_crc32c(0, h + 4, sizeof h - 4), buf, *len);
    return crc == get32(h) && get32(h + 8) == *len ? STORE_OK : STORE_ECORRUPT;
}

void
store_get_stats(const store *st, store_stats *out)
{
    *out = st->stats;
    out->disk_bytes = 0;
    for (size_t i = 0; i < st->nsegs; i++)
        out->disk_bytes += st->segs[i].file_size;
    out->live_bytes = st->live_bytes;
    out->live_records = st->live_records;
    out->pending_bytes = st->pending_len;
    out->current_segment = st->segs[st->nsegs - 1].id;
}

const char *
store_error(const store *st)
{
    return st->failed ? st->error : "";
}

static void
free_store(store *st)
{
    if (st->fd >= 0)
        close(st->fd);
    if (st->read_fd >= 0)
        close(st->read_fd);
    if (st->dirfd >= 0)
        close(st->dirfd);
    if (st->lockfd >= 0)
        close(st->lockfd); /* and the lock with it */
    for (size_t i = 0; i < st->nsegs; i++)
        free(st->segs[i].entries);
    free(st->segs);
    free(st->pending);
    free(st->dir);
    free(st);
}

store_status
store_close(store *st)
{
    store_status rc = STORE_OK;
    if (!st->failed && st->synced_seq < st->written_seq) {
        if (sync_current(st))
            delete_dead_segments(st);
        else
            rc = STORE_EIO;
    }
    free_store(st);
    return rc;
}

/* ---- opening ---- */

typedef struct recdesc {
    uint32_t off, size;
} recdesc;

/* One segment file read at open. */
typedef struct scan {
    uint64_t id;
    int fd;
    uint8_t *map;
    size_t size;
    const char *hdr_bad; /* why the header is bad, or NULL */
    uint64_t first_seq;
    recdesc *recs; /* the caller's records, in order */
    size_t n, cap;
    uint32_t end;         /* where parsing stopped */
    uint64_t next_seq;    /* sequence expected after the last record */
    const char *stop_why; /* why it stopped before the end of file, or NULL */
    uint64_t size_now;    /* the file's size after mend_newest */
} scan;

static void
scan_free(scan *sc)
{
    if (sc->map != NULL)
        munmap(sc->map, sc->size);
    if (sc->fd >= 0)
        close(sc->fd);
    free(sc->recs);
    *sc = (scan){.fd = -1};
}

static bool
scan_map(store *st, scan *sc, uint64_t id, char *err, size_t cap)
{
    char name[NAME_LEN];
    seg_name(name, id);
    *sc = (scan){.id = id, .fd = -1};
    sc->fd = openat(st->dirfd, name, O_RDWR | O_CLOEXEC);
    struct stat sb;
    if (sc->fd < 0 || fstat(sc->fd, &sb) != 0) {
        say(err, cap, "cannot open %s/%s: %s", st->dir, name, strerror(errno));
        return false;
    }
    sc->size = (size_t)sb.st_size;
    if (sc->size > 0) {
        sc->map = mmap(NULL, sc->size, PROT_READ, MAP_SHARED, sc->fd, 0);
        if (sc->map == MAP_FAILED) {
            sc->map = NULL;
            say(err, cap, "cannot map %s/%s: %s", st->dir, name, strerror(errno));
            return false;
        }
    }
    return true;
}

/* Parses the records of a mapped segment, from after its header until the
 * end of the file or the first that is not good. */
static bool
scan_parse(scan *sc)
{
    sc->n = 0;
    sc->stop_why = NULL;
    sc->hdr_bad = check_seg_header(sc->map, sc->size, sc->id);
    if (sc->hdr_bad != NULL) {
        sc->end = 0;
        return true;
    }
    sc->first_seq = get64(sc->map + 16);
    uint64_t seq = sc->first_seq;
    size_t off = STORE_SEGMENT_HEADER;
    while (off < sc->size) {
        uint32_t size;
        const char *why = check_record(sc->map + off, sc->size - off, seq, &size);
        if (why != NULL) {
            sc->stop_why = why;
            break;
        }
        const uint8_t *p = sc->map + off;
        if (p[6] == TYPE_SKIP) {
            seq = get64(p + STORE_RECORD_HEADER);
        } else {
            if (sc->n == sc->cap) {
                size_t c = sc->cap ? sc->cap * 2 : 1024;
                recdesc *r = realloc(sc->recs, c * sizeof *r);
                if (r == NULL)
                    return false;
                sc->recs = r;
                sc->cap = c;
            }
            sc->recs[sc->n++] = (recdesc){(uint32_t)off, size};
            seq++;
        }
        off += size;
    }
    sc->end = (uint32_t)off;
    sc->next_seq = seq;
    return true;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* The first sequence number in the header of segment id, or 0 if it has no
 * good header. */
static uint64_t
peek_first_seq(store *st, uint64_t id)
{
    char name[NAME_LEN];
    seg_name(name, id);
    int fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint8_t h[STORE_SEGMENT_HEADER];
    bool ok = read_all(fd, h, sizeof h, 0) && check_seg_header(h, sizeof h, id) == NULL;
    close(fd);
    return ok ? get64(h + 16) : 0;
}

typedef struct outbuf {
    uint8_t *p;
    size_t len, cap;
} outbuf;

static bool
out_add(outbuf *o, const void *data, size_t len)
{
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 64 << 10;
        while (cap < o->len + len)
            cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (p == NULL)
            return false;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, data, len);
    o->len += len;
    return true;
}

static bool
out_skip(outbuf *o, uint64_t seq, uint64_t to)
{
    uint8_t rec[STORE_RECORD_HEADER + 8], target[8];
    put64(target, to);
    make_rec_header(rec, TYPE_SKIP, target, 8, seq);
    memcpy(rec + STORE_RECORD_HEADER, target, 8);
    return out_add(o, rec, sizeof rec);
}

/* --repair: replaces segment sc->id with one that holds every good record
 * found in it, in order, with skip records over the gaps (and to next_first,
 * the next segment's first sequence, if known), and keeps the damaged file
 * as NNN.log.damaged. first is the sequence it should start at (0 if not
 * known). Records are found again after damage by trying every offset for
 * a good record with a later sequence number. */
static bool
repair_segment(store *st, scan *sc, uint64_t first, uint64_t next_first, char *err, size_t cap)
{
    char name[NAME_LEN], tmp[NAME_LEN + 8], aside[NAME_LEN + 32];
    seg_name(name, sc->id);
    outbuf o = {0};
    uint8_t h[STORE_SEGMENT_HEADER];
    bool ok = out_add(&o, h, sizeof h); /* filled in below */
    uint64_t seq = 0;                   /* the next sequence in the new file, once known */
    uint64_t start = 0;                 /* its first */
    uint64_t lo = first;                /* records below it are not taken */
    if (lo == 0 && sc->hdr_bad == NULL)
        lo = sc->first_seq;
    for (size_t off = STORE_SEGMENT_HEADER; ok && off + STORE_RECORD_HEADER <= sc->size;) {
        uint32_t size;
        const uint8_t *p = sc->map + off;
        uint64_t rseq = get64(p + 12);
        if (check_record(p, sc->size - off, 0, &size) != NULL || rseq < lo ||
            (seq != 0 && rseq < seq) || (next_first != 0 && rseq >= next_first)) {
            off++;
            continue;
        }
        if (seq == 0)
            seq = start = first != 0 ? first : rseq;
        if (rseq != seq)
            ok = out_skip(&o, seq, rseq);
        ok = ok && out_add(&o, p, size);
        seq = p[6] == TYPE_SKIP ? get64(p + STORE_RECORD_HEADER) : rseq + 1;
        off += size;
    }
    if (seq == 0)
        seq = start = first != 0 ? first : next_first != 0 ? next_first : 1;
    if (ok && next_first != 0 && seq < next_first)
        ok = out_skip(&o, seq, next_first);
    if (!ok) {
        free(o.p);
        say(err, cap, "out of memory repairing %s/%s", st->dir, name);
        return false;
    }
    make_seg_header(h, sc->id, start);
    memcpy(o.p, h, sizeof h);

    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    snprintf(aside, sizeof aside, "%s.damaged", name);
    for (int i = 1; faccessat(st->dirfd, aside, F_OK, 0) == 0; i++)
        snprintf(aside, sizeof aside, "%s.damaged.%d", name, i);
    int fd = openat(st->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    /* The damaged file gets its second name first, then the new one takes
     * its place in one rename: NNN.log is never missing. */
    ok = fd >= 0 && write_all(fd, o.p, o.len, 0) && fsync(fd) == 0 &&
         linkat(st->dirfd, name, st->dirfd, aside, 0) == 0 &&
         renameat(st->dirfd, tmp, st->dirfd, name) == 0 && fsync(st->dirfd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    free(o.p);
    if (!ok) {
        say(err, cap, "cannot repair %s/%s: %s", st->dir, name, strerror(e));
        return false;
    }
    st->stats.repaired_segments++;
    return true;
}

/* The newest segment's header is bad: torn at its creation (nothing after
 * it) or damaged (a good record follows). */
static bool
torn_at_creation(const scan *sc)
{
    uint32_t size;
    return sc->size < STORE_SEGMENT_HEADER ||
           check_record(sc->map + STORE_SEGMENT_HEADER, sc->size - STORE_SEGMENT_HEADER, 0,
                        &size) != NULL;
}

/* Writes a fresh header (the file torn at creation) or cuts a torn tail off
 * at sc->end, zeroing what follows, and preallocates the newest segment. */
static bool
mend_newest(store *st, scan *sc, uint64_t first_seq, char *err, size_t cap)
{
    char name[NAME_LEN];
    seg_name(name, sc->id);
    bool fresh = sc->hdr_bad != NULL;
    size_t end = fresh ? 0 : sc->end;
    bool dirty = sc->size > end && !all_zero(sc->map + end, sc->size - end);
    if (dirty) {
        size_t last = sc->size;
        while (last > end && sc->map[last - 1] == 0)
            last--;
        st->stats.truncated_bytes += last - end;
    }
    bool ok = true;
    if (fresh || dirty)
        ok = ftruncate(sc->fd, (off_t)end) == 0;
    if (ok && (fresh || dirty || sc->size < st->seg_size))
        ok = preallocate(sc->fd, st->seg_size);
    if (ok && fresh) {
        uint8_t h[STORE_SEGMENT_HEADER];
        make_seg_header(h, sc->id, first_seq);
        ok = write_all(sc->fd, h, sizeof h, 0);
        sc->end = STORE_SEGMENT_HEADER;
        sc->first_seq = sc->next_seq = first_seq;
    }
    struct stat sb;
    if (ok)
        ok = fsync(sc->fd) == 0 && fstat(sc->fd, &sb) == 0;
    if (ok) {
        sc->hdr_bad = NULL;
        sc->size_now = (uint64_t)sb.st_size;
    }
    if (!ok)
        say(err, cap, "cannot mend the end of %s/%s: %s", st->dir, name, strerror(errno));
    return ok;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The ids of the segment files in dir, sorted. */
static bool
list_segments(store *st, uint64_t **ids, size_t *n, char *err, size_t cap)
{
    int fd = dup(st->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        say(err, cap, "cannot read %s: %s", st->dir, strerror(errno));
        return false;
    }
    size_t c = 0;
    *ids = NULL;
    *n = 0;
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (strlen(s) != NAME_LEN - 1 || strcmp(s + 16, ".log") != 0 ||
            strspn(s, "0123456789") != 16)
            continue;
        if (*n == c) {
            c = c ? c * 2 : 16;
            uint64_t *p = realloc(*ids, c * sizeof *p);
            if (p == NULL) {
                say(err, cap, "out of memory");
                ok = false;
                break;
            }
            *ids = p;
        }
        (*ids)[(*n)++] = strtoull(s, NULL, 10);
    }
    closedir(d);
    if (ok && *n > 1)
        qsort(*ids, *n, sizeof **ids, cmp_u64);
    return ok;
}

static store_status
take_lock(store *st, char *err, size_t cap)
{
    st->lockfd = openat(st->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lockfd < 0) {
        say(err, cap, "cannot open %s/LOCK: %s", st->dir, strerror(errno));
        return STORE_EIO;
    }
    if (flock(st->lockfd, LOCK_EX | LOCK_NB) == 0) {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(st->lockfd, 0) == 0)
            write_all(st->lockfd, pid, (size_t)n, 0); /* for the message below only */
        return STORE_OK;
    }
    if (errno == EWOULDBLOCK) {
        char pid[32] = {0};
        ssize_t n = pread(st->lockfd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        say(err, cap, "%s is in use by another store (process %s holds %s/LOCK)", st->dir,
            pid[0] ? pid : "?", st->dir);
        return STORE_ELOCKED;
    }
    say(err, cap, "cannot lock %s/LOCK: %s", st->dir, strerror(errno));
    return STORE_EIO;
}

/* Reads, checks (mends, repairs) and replays segment ids[i]. */
static store_status
open_segment(store *st, const store_options *opt, const uint64_t *ids, size_t i, size_t n,
             store_replay_fn fn, void *ctx, char *err, size_t cap)
{
    uint64_t id = ids[i];
    bool newest = i + 1 == n;
    uint64_t first = st->next_seq; /* 0 for the oldest: any */
    uint64_t next_first = newest ? 0 : peek_first_seq(st, ids[i + 1]);
    char name[NAME_LEN];
    seg_name(name, id);
    scan sc;
    for (int attempt = 0;; attempt++) {
        if (!scan_map(st, &sc, id, err, cap))
            goto io;
        if (!scan_parse(&sc)) {
            say(err, cap, "out of memory");
            scan_free(&sc);
            return STORE_ENOMEM;
        }
        /* Where it is damaged, if it is: the offset and why. */
        size_t bad = SIZE_MAX;
        char why[160] = "";
        if (sc.hdr_bad != NULL) {
            if (!newest || !torn_at_creation(&sc)) {
                bad = 0;
                snprintf(why, sizeof why, "%s", sc.hdr_bad);
            }
        } else if (first != 0 && sc.first_seq != first) {
            bad = 0;
            snprintf(why, sizeof why, "starts at record %" PRIu64 ", expected %" PRIu64,
                     sc.first_seq, first);
        } else if (!newest && sc.stop_why != NULL) {
            bad = sc.end;
            snprintf(why, sizeof why, "%s", sc.stop_why);
        } else if (!newest && next_first != 0 && sc.next_seq != next_first) {
            bad = sc.end;
            snprintf(why, sizeof why,
                     "records %" PRIu64 " to %" PRIu64 " are missing (the next segment starts "
                     "at %" PRIu64 ")",
                     sc.next_seq, next_first - 1, next_first);
        }
        if (bad == SIZE_MAX)
            break;
        if (!opt->repair || attempt > 0) {
            say(err, cap, "%s/%s: damaged at offset %zu: %s%s", st->dir, name, bad, why,
                opt->repair ? " (repair failed)" : "; open with repair to keep what is good");
            scan_free(&sc);
            return STORE_ECORRUPT;
        }
        bool ok = repair_segment(st, &sc, first, next_first, err, cap);
        scan_free(&sc);
        if (!ok)
            return STORE_EIO;
    }
    if (newest && !mend_newest(st, &sc, first != 0 ? first : 1, err, cap))
        goto io;
    segment *s = add_segment(st, id, sc.first_seq);
    if (s == NULL) {
        scan_free(&sc);
        return STORE_ENOMEM;
    }
    s->on_disk = true;
    s->written = s->appended = newest ? sc.end : (uint32_t)sc.size;
    s->file_size = newest ? sc.size_now : sc.size;
    st->stats.segments++;
    for (size_t r = 0; r < sc.n; r++) {
        const uint8_t *p = sc.map + sc.recs[r].off;
        if (!add_entry(st, s, sc.recs[r].off, sc.recs[r].size)) {
            scan_free(&sc);
            return STORE_ENOMEM;
        }
        if (fn != NULL && !fn(ctx, st, p[6], p + STORE_RECORD_HEADER, get32(p + 8),
                              (store_pos){id, sc.recs[r].off})) {
            say(err, cap, "replay stopped by the caller at %s/%s offset %" PRIu32, st->dir, name,
                sc.recs[r].off);
            scan_free(&sc);
            return STORE_EABORTED;
        }
    }
    st->next_seq = sc.next_seq;
    if (s->live == 0)
        s->dead_at = sc.next_seq - 1;
    if (newest) {
        st->fd = sc.fd;
        st->fd_id = id;
        sc.fd = -1;
    }
    scan_free(&sc);
    return STORE_OK;
io:
    scan_free(&sc);
    return STORE_EIO;
}

store_status
store_open(store **out, const char *dir, const store_options *opt, store_replay_fn fn, void *ctx,
           char *err, size_t err_size)
{
    static const store_options defaults = {0};
    if (opt == NULL)
        opt = &defaults;
    *out = NULL;
    say(err, err_size, "%s", "");
    store *st = calloc(1, sizeof *st);
    if (st == NULL || (st->dir = strdup(dir)) == NULL) {
        free(st);
        say(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    st->dirfd = st->lockfd = st->fd = st->read_fd = -1;
    st->policy = opt->fsync;
    uint32_t size = opt->segment_size ? opt->segment_size : STORE_DEFAULT_SEGMENT_SIZE;
    if (size < STORE_MIN_SEGMENT_SIZE)
        size = STORE_MIN_SEGMENT_SIZE;
    if (size > STORE_MAX_SEGMENT_SIZE)
        size = STORE_MAX_SEGMENT_SIZE;
    st->seg_size = (size + 4095) & ~4095u;
    st->last_sync_us = INT64_MIN / 2;

    store_status rc = STORE_EIO;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        say(err, err_size, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        say(err, err_size, "cannot open %s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = take_lock(st, err, err_size);
    if (rc != STORE_OK)
        goto fail;
    rc = STORE_EIO;
    if (!list_segments(st, &ids, &n, err, err_size))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        rc = open_segment(st, opt, ids, i, n, fn, ctx, err, err_size);
        if (rc != STORE_OK)
            goto fail;
    }
    rc = STORE_EIO;
    if (n == 0) {
        segment *s = add_segment(st, 1, 1);
        if (s == NULL) {
            rc = STORE_ENOMEM;
            goto fail;
        }
        st->next_seq = 1;
        if (!create_segment_file(st, s)) {
            say(err, err_size, "cannot create %s/%016d.log: %s", dir, 1, strerror(errno));
            goto fail;
        }
    }
    /* What was replayed counts as durable from here on. */
    if (fdatasync(st->fd) != 0) {
        say(err, err_size, "cannot sync %s: %s", dir, strerror(errno));
        goto fail;
    }
    st->written_seq = st->synced_seq = st->next_seq - 1;
    free(ids);
    *out = st;
    return STORE_OK;
fail:
    free(ids);
    free_store(st);
    return rc;
}
