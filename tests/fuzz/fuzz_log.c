/*
 * Fuzz target: a durable broker's start on a log it did not write (SPEC D5,
 * B1): whatever records a data directory holds, with valid checksums, the
 * broker rebuilds a consistent state or refuses to start; it never crashes,
 * and what it rebuilt passes the core's invariant checks (core_check.c).
 *
 * An input is a script of records, each
 *
 *   type   one byte: the record type (1..7 are the broker's, record.h;
 *          others must make the start fail cleanly)
 *   len    two bytes, little-endian: the payload's length (cut short at the
 *          input's end)
 *   bytes  the payload
 *
 * written through the store (so the checksums are right) to a fresh data
 * directory with small segments, committed, and then opened by a broker
 * core as ipcqd --data-dir opens it. After a start the broker serves a get
 * of every queue's head, commits, and is started once more on the same
 * directory: the second start must succeed too (what the first wrote is a
 * log the broker understands).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "core.h"
#include "core_check.h"
#include "fuzz.h"
#include "ipcq.pb-c.h"
#include "store.h"
#include "wire.h"

#define SEGMENT (16u << 10)
#define MAX_RECORDS 256

static char dir[64];

static void
fail_check(const char *file, int line, const char *what)
{
    fuzz_fail(file, line, what);
}

static int
remove_any(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void
remove_dir(void)
{
    nftw(dir, remove_any, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* In memory when it can be: every input opens, syncs and closes a
     * store, which on a disk costs far more than the broker's work. */
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ipcq-fuzz-log-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    atexit(remove_dir);
    core_check_on_failure(fail_check);
    return 0;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return ftw->level > 0 ? remove(path) : 0;
}

static int
check_reply(void *ctx, const void *peer, size_t peer_len, const void *data, size_t len)
{
    (void)ctx, (void)peer, (void)peer_len;
    Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, len, data);
    FUZZ_CHECK(r != NULL);
    ipcqwire__reply__free_unpacked(r, NULL);
    return 0;
}

/* A broker started on dir: NULL if it refused (a clean refusal). */
static broker *
start(void)
{
    broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.max_item_size = SEGMENT / 2;
    broker *b = broker_new(&cfg, check_reply, NULL);
    FUZZ_CHECK(b != NULL);
    store_options opt = {.segment_size = SEGMENT, .fsync = STORE_FSYNC_NO};
    char err[1024];
    if (broker_open_store(b, dir, &opt, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0'); /* a refusal says why */
        broker_free(b);
        return NULL;
    }
    core_check_broker(b);
    return b;
}

/* A leased get of one item from every queue, as a client would send it. */
static void
get_each_head(broker *b)
{
    char *names[64];
    size_t n = 0;
    void *v;
    for (size_t i = 0; n < 64 && table_next(&b->queues, &i, &v);)
        names[n++] = strdup(((queue *)v)->name);
    for (size_t k = 0; k < n; k++) {
        Ipcqwire__Request req = IPCQWIRE__REQUEST__INIT;
        req.version = IPCQ_PROTOCOL_VERSION;
        req.id = k + 1;
        req.op = IPCQWIRE__OP__OP_GET;
        req.has_queue = 1;
        req.queue.data = (uint8_t *)names[k];
        req.queue.len = strlen(names[k]);
        req.has_timeout_ms = 1;
        req.timeout_ms = 0;
        req.has_lease_ms = 1;
        req.lease_ms = 1000;
        unsigned char buf[512];
        size_t len = ipcqwire__request__pack(&req, buf);
        broker_handle(b, "peer", 4, buf, len, b->now_us);
        free(names[k]);
    }
    broker_commit(b, b->now_us);
    core_check_broker(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    store *st;
    store_options opt = {.segment_size = SEGMENT, .fsync = STORE_FSYNC_NO};
    char err[512];
    FUZZ_CHECK(store_open(&st, dir, &opt, NULL, NULL, err, sizeof err) == STORE_OK);
    fuzz_reader r = {data, size};
    for (int i = 0; i < MAX_RECORDS && r.left > 0; i++) {
        uint8_t type = fuzz_byte(&r);
        size_t want = fuzz_u16(&r), got;
        const uint8_t *payload = fuzz_take(&r, want, &got);
        if (type == 0 || got > STORE_MAX_PAYLOAD(SEGMENT))
            continue; /* the store refuses it: nothing a broker could find */
        FUZZ_CHECK(store_append(st, type, payload, (uint32_t)got, NULL) == STORE_OK);
    }
    FUZZ_CHECK(store_commit(st, 0) == STORE_OK);
    FUZZ_CHECK(store_close(st) == STORE_OK);
    broker *b = start();
    if (b == NULL)
        return 0;
    get_each_head(b);
    broker_free(b); /* a crash: the leases taken are out, and come back */
    b = start();
    FUZZ_CHECK(b != NULL); /* the broker reads what it wrote itself */
    broker_free(b);
    return 0;
}
