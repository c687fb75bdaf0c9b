/* The durable store (SPEC D5, issue 12): an append-only log of records in a
 * directory, cut into segment files. It knows nothing of queues: a record is
 * a type (1..255) and opaque payload bytes. No threads; every call is made
 * from the one thread that owns the store.
 *
 * Files in DIR:
 *   LOCK                  flock()ed while a store is open: one store per DIR
 *   NNNNNNNNNNNNNNNN.log  segments, 16 decimal digits, numbered from 1 up;
 *                         each preallocated to segment_size, then filled by
 *                         records; a closed segment is cut to its records
 *   NNNNNNNNNNNNNNNN.log.damaged
 *                         a segment that --repair replaced (kept, not read)
 *
 * Writing: store_append() only copies a record into a pending buffer and
 * returns its position; store_commit() writes everything pending with one
 * write per segment it touches and then, by the fsync policy, syncs once.
 * A record never spans two segments: one that does not fit in the current
 * segment goes to the next. A failed write or sync is final ("fsyncgate":
 * it is never retried, the page cache may already have dropped the data):
 * the store refuses every later append and commit with STORE_EFAILED and
 * store_error() says what failed. Records of the commit that failed may or
 * may not be there after a reopen, as after a crash; every record of an
 * earlier successful commit is.
 *
 * Reading: store_open() replays every record, oldest first, to a callback;
 * then the caller appends. A torn record at the end of the newest segment
 * (a crash in the middle of a write, or the preallocated zeros after the
 * last record) ends the log there, and the next append overwrites it.
 * Damage anywhere else (a bad record in an older segment, records missing
 * between two segments) makes store_open() fail with STORE_ECORRUPT naming
 * the file and byte offset, unless opened with .repair (see store_options).
 * A bad record in the middle of the newest segment cannot be told from a
 * torn write, so it is cut off too (like Redis's aof-load-truncated).
 *
 * Space: every record starts live. The caller releases a record when it no
 * longer needs it to rebuild its state: a put once its item is acked (the
 * ack record being appended first), a record that only cancels others (an
 * ack, a delete) right after appending it. Segments are deleted from the
 * oldest on, never out of order: a segment goes once its records and those
 * of every older segment are released and the record that released the last
 * of them is durable (synced, or written with STORE_FSYNC_NO). So the files
 * on disk are always a suffix of the log, and a record that cancels an
 * older one is never lost while the older one is still there. A live record
 * in an old segment would pin every newer one: store_compact_list() names
 * the live records of the oldest segment when it should be copied forward;
 * the caller appends a record that stands for each (a copy: store_read()
 * gives the bytes back) and releases the old one. Until that commit is
 * durable and the old segment deleted, a crash leaves both on disk: replay
 * then shows the old record and, later, its copy, so a copy must say which
 * item it stands for (the broker's records carry item ids), the later one
 * winning. Kept up with, this holds the files within twice the live
 * records' bytes plus the current segment (store_stats); an old segment
 * more than 1/8 live may add one segment more while it drains or until it
 * is found stuck (1/64 of a segment of growth). */
#ifndef IPCQ_STORE_H
#define IPCQ_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_DEFAULT_SEGMENT_SIZE (64u << 20)
#define STORE_MIN_SEGMENT_SIZE (4u << 10)
#define STORE_MAX_SEGMENT_SIZE (1u << 30)
/* Bytes a record takes besides its payload, and a segment besides its
 * records. */
#define STORE_RECORD_HEADER 20u
#define STORE_SEGMENT_HEADER 32u
/* The largest payload a segment of segment_size bytes takes. */
#define STORE_MAX_PAYLOAD(segment_size) ((segment_size)-STORE_SEGMENT_HEADER - STORE_RECORD_HEADER)

typedef enum store_status {
    STORE_OK = 0,
    STORE_ELOCKED,  /* another store has DIR open */
    STORE_ECORRUPT, /* damage that is not a torn tail; store_open without .repair */
    STORE_EIO,      /* a system call failed (open, write, fdatasync, ...) */
    STORE_EFAILED,  /* an earlier write or sync failed: no more changes */
    STORE_EINVAL,   /* a bad argument: type 0, payload too big, not a live position */
    STORE_ENOMEM,
    STORE_EABORTED, /* the replay callback returned false */
} store_status;

typedef enum store_fsync {
    STORE_FSYNC_ALWAYS = 0, /* fdatasync once per store_commit that wrote */
    STORE_FSYNC_EVERYSEC,   /* at most once a second, by the caller's clock */
    STORE_FSYNC_NO,         /* never (but at a segment's end, and at close) */
} store_fsync;

typedef struct store_options {
    uint32_t segment_size; /* 0: STORE_DEFAULT_SEGMENT_SIZE; rounded to 4 KiB */
    store_fsync fsync;
    /* Damage that is not a torn tail is repaired instead of refused: the
     * damaged segment is renamed to NNN.log.damaged and a new NNN.log holds
     * every valid record found in it (those before the damage and those the
     * store finds again after it); the segments after it are kept, so that
     * only the damaged records are lost, and the log notes the gap for the
     * next open. The replay sees the valid records in order; a record whose
     * cancelling record was lost may come back (at least once). */
    bool repair;
} store_options;

/* Where a record is: valid from its append until it is released. */
typedef struct store_pos {
    uint64_t segment;
    uint32_t offset;
} store_pos;

typedef struct store store;

/* Called once per record at open, oldest first. payload is valid only
 * during the call. The callback may store_release() records already
 * replayed (all of them start live). Returning false stops the open with
 * STORE_EABORTED. */
typedef bool (*store_replay_fn)(void *ctx, store *st, uint8_t type, const void *payload,
                                uint32_t len, store_pos pos);

/* Opens (creating if need be) the store in dir, takes its lock, replays the
 * log to fn (may be NULL). On failure *out is NULL and err (if not NULL)
 * holds one line naming what failed; the caller drops what it was replayed. */
store_status store_open(store **out, const char *dir, const store_options *opt, store_replay_fn fn,
                        void *ctx, char *err, size_t err_size);

/* Adds a record to the pending buffer (no I/O); type is 1..255, len at most
 * STORE_MAX_PAYLOAD(segment_size). *pos (if not NULL) is where it will be. */
store_status store_append(store *st, uint8_t type, const void *payload, uint32_t len,
                          store_pos *pos);
/* Writes what is pending and syncs by the policy; now_us is the caller's
 * monotonic clock (clock_now_us) for STORE_FSYNC_EVERYSEC. With nothing
 * pending it still syncs what an earlier commit left unsynced once a second
 * is up, and deletes what was released: call it at least once a second.
 * STORE_OK means every record appended so far is written (and synced, with
 * STORE_FSYNC_ALWAYS). */
store_status store_commit(store *st, int64_t now_us);
/* Declares the record at pos no longer needed (see above). STORE_EINVAL if
 * pos is not a live record. Allowed after a failure (no I/O). */
store_status store_release(store *st, store_pos pos);

/* Copy-forward: the positions of up to max live records of the oldest
 * segment, in log order, when it should be emptied: it is not the current
 * segment, the closed segments hold more than twice the live bytes, and it
 * is nearly dead (at most 1/8 of it live) or stuck: the log grew by 1/64
 * of a segment since one of its records last died (a long queue consumed
 * in order empties its oldest segment by itself, and copying what is
 * about to be got would only cost writes).
 * Once begun, a segment is listed until it is empty. 0 when none need
 * moving (or after a failure). Amortized O(1) when the head of the oldest
 * segment dies first, as it does under FIFO consumption. */
size_t store_compact_list(store *st, store_pos *out, size_t max);
/* The record at pos (live, pending or written): its type and, when it fits
 * in cap bytes, its payload copied into buf. *len is its payload's length
 * either way; STORE_EINVAL if it does not fit or pos is not live. */
store_status store_read(store *st, store_pos pos, uint8_t *type, void *buf, uint32_t cap,
                        uint32_t *len);

typedef struct store_stats {
    uint64_t segments;   /* segment files */
    uint64_t disk_bytes; /* their sizes, preallocation included */
    uint64_t live_bytes; /* live records, headers included */
    uint64_t live_records;
    uint64_t pending_bytes; /* appended, not yet committed */
    uint64_t current_segment;
    uint64_t commits, syncs, deleted_segments;
    uint64_t repaired_segments; /* at open */
    uint64_t truncated_bytes;   /* torn tail cut at open */
} store_stats;
void store_get_stats(const store *st, store_stats *out);

/* "" while the store works; after a failure, what failed, in one line. */
const char *store_error(const store *st);

/* Syncs what is unsynced (unless failed), deletes nothing more, unlocks and
 * frees; pending records are dropped. STORE_EIO if that last sync failed. */
store_status store_close(store *st);

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (0 to start). */
uint32_t store_crc32c(uint32_t crc, const void *data, size_t len);

#endif
