/*
 * put and get: the item path of the ipcq tool. Items are bytes, never text:
 * stdin is read whole with fread (or line by line with getline, which keeps
 * NUL bytes), and items are written with fwrite, each followed by a newline.
 * Each put and each get obeys the command's timeout on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli_cmds.h"
#include "cli_report.h"
#include "tool_exit.h"

static int
read_error(void)
{
    fprintf(stderr, "ipcq: reading standard input: %s\n", errno ? strerror(errno) : "I/O error");
    return CLI_ERROR;
}

static int
out_of_memory(void)
{
    fprintf(stderr, "ipcq: out of memory\n");
    return CLI_ERROR;
}

/* Reads all of stdin into a buffer the caller frees. */
static int
read_all(char **out, size_t *out_len)
{
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nbuf = ncap > cap ? realloc(buf, ncap) : NULL;
            if (nbuf == NULL) {
                free(buf);
                return out_of_memory();
            }
            buf = nbuf;
            cap = ncap;
        }
        errno = 0;
        size_t n = fread(buf + len, 1, cap - len, stdin);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return read_error();
    }
    *out = buf;
    *out_len = len;
    return CLI_OK;
}

/* Without a timeout, items stream as async puts (a window in flight, one
 * flush at the end): the same items in the same order, without a round
 * trip each. A failure stops the stream at the next item, or at the flush.
 * With --timeout or --nowait each put waits for its own answer. */
static int
put_one(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms)
{
    int rc = timeout_ms == IPCQ_FOREVER ? ipcq_put_async(c, queue, data, len)
                                        : ipcq_put(c, queue, data, len, timeout_ms);
    return rc == IPCQ_OK ? CLI_OK : cli_fail(c, queue, rc);
}

static int
flush_puts(ipcq_client *c, const char *queue, int rc)
{
    int flushed = ipcq_flush(c, IPCQ_FOREVER);
    if (rc == CLI_OK && flushed != IPCQ_OK)
        return cli_fail(c, queue, flushed);
    return rc;
}

/* Each line of stdin is one item, without its newline; a last line with
 * no newline is an item too. Puts as lines arrive, so a pipe streams. */
static int
put_lines(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = CLI_OK;
    errno = 0;
    while (rc == CLI_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        rc = put_one(c, queue, line, (size_t)n, timeout_ms);
        errno = 0;
    }
    if (rc == CLI_OK && ferror(stdin))
        rc = read_error();
    free(line);
    return rc;
}

/* All of stdin is one item. */
static int
put_stdin(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    char *data;
    size_t len;
    int rc = read_all(&data, &len);
    if (rc != CLI_OK)
        return rc;
    rc = put_one(c, queue, data, len, timeout_ms);
    free(data);
    return rc;
}

int
cmd_put(ipcq_client *c, const cli_opts *o)
{
    const char *queue = o->args[0];
    if ((o->seen & OPT_LINES) && o->nargs > 1)
        return tool_usage_error(&cli_usage, "put",
                                "--lines reads the items from standard input: give no ITEM");
    if (o->seen & OPT_MAXSIZE) {
        int rc = ipcq_create(c, queue, o->maxsize);
        if (rc != IPCQ_OK)
            return cli_fail(c, queue, rc);
    }
    if (o->seen & OPT_LINES)
        return flush_puts(c, queue, put_lines(c, queue, o->timeout_ms));
    if (o->nargs == 1)
        return flush_puts(c, queue, put_stdin(c, queue, o->timeout_ms));
    int rc = CLI_OK;
    for (int i = 1; i < o->nargs && rc == CLI_OK; i++)
        rc = put_one(c, queue, o->args[i], strlen(o->args[i]), o->timeout_ms);
    return flush_puts(c, queue, rc);
}

/* Writes one item and its newline, and flushes so that a reader sees each
 * item as it comes. A failed write leaves stdout's error flag set, which
 * tool_flush_stdout() reports. */
static int
write_item(const void *data, size_t len)
{
    errno = 0;
    if (fwrite(data, 1, len, stdout) == len)
        fputc('\n', stdout);
    return tool_flush_stdout("ipcq", CLI_OK);
}

/* How long an item may take to reach stdout before the broker takes it
 * back: a reader that stalls longer than this sees it again elsewhere. */
#define WRITE_LEASE_MS 60000

/* Items taken per request by `get -n`. */
#define GET_BATCH 256

/* Releases leases[from..n) and frees their items: they were not written. */
static void
give_back(ipcq_client *c, void **items, const uint64_t *leases, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        ipcq_release(c, leases[i]);
        ipcq_free(items[i]);
    }
}

/* Items are taken on leases, up to GET_BATCH per request, and acked (in
 * one request) only once written, so an item whose write failed (a closed
 * pipe, a full disk) goes back to the head of its queue instead of being
 * lost. */
int
cmd_get(ipcq_client *c, const cli_opts *o)
{
    const char *queue = o->args[0];
    void *items[GET_BATCH];
    size_t lens[GET_BATCH], got;
    uint64_t leases[GET_BATCH];
    for (int64_t left = o->count; left > 0; left -= (int64_t)got) {
        size_t want = left < GET_BATCH ? (size_t)left : GET_BATCH;
        int rc = ipcq_get_leased_many(c, queue, WRITE_LEASE_MS, want, items, lens, leases, &got,
                                      o->timeout_ms);
        if (rc != IPCQ_OK)
            return cli_fail(c, queue, rc);
        for (size_t i = 0; i < got; i++) {
            int written = write_item(items[i], lens[i]);
            ipcq_free(items[i]);
            if (written != CLI_OK) {
                give_back(c, items, leases, i + 1, got);
                ipcq_release(c, leases[i]);
                if (i > 0)
                    ipcq_ack_many(c, i, leases);
                return written;
            }
        }
        if ((rc = ipcq_ack_many(c, got, leases)) != IPCQ_OK)
            return cli_fail(c, queue, rc);
    }
    return CLI_OK;
}
