/* The producer and consumer processes of prodcons (see pool_roles.h).
 *
 * A child that fails exits without closing its handle: it ends right
 * after, which D4 makes safe, whereas a close after a failed connect was
 * seen to block in zmq_ctx_term and leave the child, and so the run, hung. */
#include "pool_roles.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcq.h"
#include "pool_record.h"
#include "tool_item.h"
#include "tool_exit.h"

/* How long one put or get waits before it is simply tried again. */
#define RETRY_MS 1000
/* A live consumer holds its item this long at most; a dead one's lease ends
 * as soon as the broker sees it gone. */
#define LEASE_MS 60000

/* "ROLE INDEX: pid PID, ppid PPID", in one write() so that the lines of
 * children writing at once never mix. */
static void
say_hello(const char *role, uint32_t index)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%s %u: pid %d, ppid %d\n", role, index, (int)getpid(),
                     (int)getppid());
    if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) < 0) {
        /* nobody reads stdout: the line is lost, the work goes on */
    }
}

static int
fail(const char *role, uint32_t index, const ipcq_client *c, int status)
{
    const char *detail = c ? ipcq_client_error(c) : "";
    fprintf(stderr, "ipcq-pool: %s %u: %s\n", role, index,
            detail[0] ? detail : ipcq_strerror(status));
    return tool_exit_for(status);
}

/* Says hello and opens the child's own handle on the broker; on error *c
 * is NULL (ipcq.h). */
static int
open_handle(const char *role, uint32_t index, const pool_role *r, ipcq_client **c)
{
    say_hello(role, index);
    return ipcq_client_open(c, r->endpoint);
}

/* One item a call: each put waits for the broker's answer. */
static int
put_strict(ipcq_client *c, const pool_role *r, uint32_t index, uint64_t count, void *item)
{
    int rc = IPCQ_OK;
    for (uint64_t seq = 0; rc == IPCQ_OK && seq < count; seq++) {
        tool_item_build(item, r->item_size, index, seq);
        while ((rc = ipcq_put(c, r->queue, item, r->item_size, RETRY_MS)) == IPCQ_FULL)
            ;
    }
    return rc;
}

/* Async puts, up to r->window in flight, waiting for room as IPCQ_FOREVER
 * does; a failed put shows at a later call or at the flush. */
static int
put_async(ipcq_client *c, const pool_role *r, uint32_t index, uint64_t count, void *item)
{
    int rc = ipcq_set_put_window(c, r->window);
    for (uint64_t seq = 0; rc == IPCQ_OK && seq < count; seq++) {
        tool_item_build(item, r->item_size, index, seq);
        rc = ipcq_put_async(c, r->queue, item, r->item_size);
    }
    if (rc == IPCQ_OK)
        rc = ipcq_flush(c, IPCQ_FOREVER);
    return rc;
}

int
pool_producer_run(const pool_role *r, uint32_t index, uint64_t count)
{
    ipcq_client *c;
    int rc = open_handle("producer", index, r, &c);
    unsigned char *item = rc == IPCQ_OK ? malloc(r->item_size) : NULL;
    if (rc == IPCQ_OK && item == NULL)
        rc = IPCQ_ENOMEM;
    if (rc == IPCQ_OK)
        rc = r->strict ? put_strict(c, r, index, count, item) : put_async(c, r, index, count, item);
    free(item);
    if (rc != IPCQ_OK)
        return fail("producer", index, c, rc);
    ipcq_client_close(&c);
    return TOOL_EXIT_OK;
}

/* Writes recs[0..n) to the parent, in writes of at most PIPE_BUF bytes:
 * each is atomic, so a consumer killed mid-way never leaves half a record. */
static int
write_records(int fd, const pool_record *recs, size_t n)
{
    const size_t per_write = PIPE_BUF / sizeof *recs;
    while (n > 0) {
        size_t k = n < per_write ? n : per_write, len = k * sizeof *recs;
        ssize_t w;
        errno = 0;
        while ((w = write(fd, recs, len)) < 0 && errno == EINTR)
            ;
        if (w != (ssize_t)len)
            return IPCQ_ESYSTEM;
        recs += k;
        n -= k;
    }
    return IPCQ_OK;
}

/* The record of one item got: its identity and the hash of its bytes. */
static pool_record
record_of(const void *data, size_t len, uint32_t deliveries)
{
    pool_record rec = {.deliveries = deliveries, .hash = tool_item_hash(data, len)};
    if (!tool_item_parse(data, len, &rec.producer, &rec.seq))
        rec.producer = POOL_RECORD_BAD;
    return rec;
}

/* What a consumer loop returns, beside an ipcq_status, when it could not
 * write to the parent (and said so). */
#define REPORT_FAILED (-1)

static int
report_failed(uint32_t index)
{
    fprintf(stderr, "ipcq-pool: consumer %u: reporting to the parent: %s\n", index,
            errno ? strerror(errno) : "short write");
    return REPORT_FAILED;
}

/* One item a call: a leased get, its record, its ack. The parent takes
 * this consumer's last record for the one that may be unacked. */
static int
consume_strict(ipcq_client *c, const pool_role *r, uint32_t index, int record_fd)
{
    int rc = IPCQ_OK;
    while (rc == IPCQ_OK || rc == IPCQ_EMPTY) {
        void *data;
        size_t len;
        uint64_t lease;
        uint32_t deliveries;
        rc = ipcq_get_leased(c, r->queue, LEASE_MS, &data, &len, &lease, &deliveries, RETRY_MS);
        if (rc != IPCQ_OK)
            continue; /* Empty: again; anything else ends the loop */
        /* Record first, then ack: see pool_ledger.h. */
        pool_record rec = record_of(data, len, deliveries);
        ipcq_free(data);
        if (write_records(record_fd, &rec, 1) != IPCQ_OK)
            return report_failed(index);
        rc = ipcq_ack(c, lease);
    }
    return rc;
}

typedef struct batch_bufs {
    void **items;
    size_t *lens;
    uint64_t *leases;
    pool_record *recs;
} batch_bufs;

/* Leased batches: up to r->batch items in one get, their records in as few
 * writes, one ack for all, then the ack mark. */
static int
consume_batches(ipcq_client *c, const pool_role *r, uint32_t index, int record_fd,
                const batch_bufs *b)
{
    static const pool_record acked = {.producer = POOL_RECORD_ACKED};
    int rc = IPCQ_OK;
    while (rc == IPCQ_OK || rc == IPCQ_EMPTY) {
        size_t got;
        rc = ipcq_get_leased_many(c, r->queue, LEASE_MS, r->batch, b->items, b->lens, b->leases,
                                  &got, RETRY_MS);
        if (rc != IPCQ_OK)
            continue; /* Empty: again; anything else ends the loop */
        for (size_t i = 0; i < got; i++) {
            b->recs[i] = record_of(b->items[i], b->lens[i], 0);
            ipcq_free(b->items[i]);
        }
        /* Record the batch first, then ack it: see pool_ledger.h. */
        if (write_records(record_fd, b->recs, got) != IPCQ_OK)
            return report_failed(index);
        rc = ipcq_ack_many(c, got, b->leases);
        if (rc == IPCQ_OK && write_records(record_fd, &acked, 1) != IPCQ_OK)
            return report_failed(index);
    }
    return rc;
}

int
pool_consumer_run(const pool_role *r, uint32_t index, int record_fd)
{
    ipcq_client *c;
    int rc = open_handle("consumer", index, r, &c);
    if (rc == IPCQ_OK && r->strict) {
        rc = consume_strict(c, r, index, record_fd);
    } else if (rc == IPCQ_OK) {
        batch_bufs b = {calloc(r->batch, sizeof *b.items), calloc(r->batch, sizeof *b.lens),
                        calloc(r->batch, sizeof *b.leases), calloc(r->batch, sizeof *b.recs)};
        if (b.items && b.lens && b.leases && b.recs)
            rc = consume_batches(c, r, index, record_fd, &b);
        else
            rc = IPCQ_ENOMEM;
        free(b.items);
        free(b.lens);
        free(b.leases);
        free(b.recs);
    }
    if (rc == REPORT_FAILED)
        return TOOL_EXIT_ERROR;
    if (rc != IPCQ_ESHUTDOWN) /* shut down and drained is the normal end */
        return fail("consumer", index, c, rc);
    ipcq_client_close(&c);
    return TOOL_EXIT_OK;
}
