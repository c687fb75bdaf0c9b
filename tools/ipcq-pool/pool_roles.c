/* The producer and consumer processes of prodcons (see pool_roles.h).
 *
 * A child that fails exits without closing its handle: it ends right
 * after, which D4 makes safe, whereas a close after a failed connect was
 * seen to block in zmq_ctx_term and leave the child, and so the run, hung. */
#include "pool_roles.h"

#include <errno.h>
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

int
pool_producer_run(const pool_role *r, uint32_t index, uint64_t count)
{
    ipcq_client *c;
    int rc = open_handle("producer", index, r, &c);
    unsigned char *item = rc == IPCQ_OK ? malloc(r->item_size) : NULL;
    if (rc == IPCQ_OK && item == NULL)
        rc = IPCQ_ENOMEM;
    for (uint64_t seq = 0; rc == IPCQ_OK && seq < count; seq++) {
        tool_item_build(item, r->item_size, index, seq);
        while ((rc = ipcq_put(c, r->queue, item, r->item_size, RETRY_MS)) == IPCQ_FULL)
            ;
    }
    free(item);
    if (rc != IPCQ_OK)
        return fail("producer", index, c, rc);
    ipcq_client_close(&c);
    return TOOL_EXIT_OK;
}

static int
write_record(int fd, const pool_record *rec)
{
    ssize_t n;
    errno = 0;
    while ((n = write(fd, rec, sizeof *rec)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof *rec ? IPCQ_OK : IPCQ_ESYSTEM;
}

/* Records one item it got: its identity and the hash of its bytes. */
static int
record_item(int fd, const void *data, size_t len, uint32_t deliveries)
{
    pool_record rec = {.deliveries = deliveries, .hash = tool_item_hash(data, len)};
    if (!tool_item_parse(data, len, &rec.producer, &rec.seq))
        rec.producer = POOL_RECORD_BAD;
    return write_record(fd, &rec);
}

int
pool_consumer_run(const pool_role *r, uint32_t index, int record_fd)
{
    ipcq_client *c;
    int rc = open_handle("consumer", index, r, &c);
    while (rc == IPCQ_OK || rc == IPCQ_EMPTY) {
        void *data;
        size_t len;
        uint64_t lease;
        uint32_t deliveries;
        rc = ipcq_get_leased(c, r->queue, LEASE_MS, &data, &len, &lease, &deliveries, RETRY_MS);
        if (rc != IPCQ_OK)
            continue; /* Empty: again; anything else ends the loop */
        /* Record first, then ack: see pool_ledger.h. */
        rc = record_item(record_fd, data, len, deliveries);
        ipcq_free(data);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "ipcq-pool: consumer %u: reporting to the parent: %s\n", index,
                    errno ? strerror(errno) : "short write");
            return TOOL_EXIT_ERROR;
        }
        rc = ipcq_ack(c, lease);
    }
    if (rc != IPCQ_ESHUTDOWN) /* shut down and drained is the normal end */
        return fail("consumer", index, c, rc);
    ipcq_client_close(&c);
    return TOOL_EXIT_OK;
}
