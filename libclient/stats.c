/* ipcq_stat and its snapshot: the broker's figures and one row per queue,
 * copied out of the reply so the wire format stays private. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "broker_ops.h"
#include "wire.h"

#define QUEUE_FIELDS (IPCQ_QUEUE_DEAD_LETTERED + 1)
#define BROKER_FIELDS (IPCQ_BROKER_STAT_RSS_BYTES + 1)

typedef struct queue_row {
    char name[IPCQ_NAME_MAX + 1];
    int64_t f[QUEUE_FIELDS];
} queue_row;

struct ipcq_stats {
    int64_t broker[BROKER_FIELDS];
    size_t count;
    queue_row rows[];
};

static void
fill_row(queue_row *row, const Ipcqwire__QueueStat *q)
{
    size_t n = q->name.len <= IPCQ_NAME_MAX ? q->name.len : IPCQ_NAME_MAX;
    if (n > 0) /* an empty name's data is NULL */
        memcpy(row->name, q->name.data, n);
    row->name[n] = '\0';
    row->f[IPCQ_QUEUE_SIZE] = (int64_t)q->size;
    row->f[IPCQ_QUEUE_MAXSIZE] = q->maxsize;
    row->f[IPCQ_QUEUE_BYTES] = (int64_t)q->bytes;
    row->f[IPCQ_QUEUE_GETTERS] = (int64_t)q->getters;
    row->f[IPCQ_QUEUE_PUTTERS] = (int64_t)q->putters;
    row->f[IPCQ_QUEUE_UNFINISHED] = (int64_t)q->unfinished;
    row->f[IPCQ_QUEUE_LEASED] = (int64_t)q->leased;
    row->f[IPCQ_QUEUE_OLDEST_MS] = (int64_t)q->oldest_ms;
    row->f[IPCQ_QUEUE_PUTS] = (int64_t)q->puts;
    row->f[IPCQ_QUEUE_GETS] = (int64_t)q->gets;
    row->f[IPCQ_QUEUE_SHUTDOWN] = q->has_shutdown && q->shutdown;
    row->f[IPCQ_QUEUE_JOINERS] = (int64_t)q->joiners;
    row->f[IPCQ_QUEUE_MAX_DELIVERIES] = q->max_deliveries;
    row->f[IPCQ_QUEUE_DEAD_LETTERED] = (int64_t)q->dead_lettered;
}

static void
fill_broker(int64_t *f, const Ipcqwire__BrokerStat *b)
{
    f[IPCQ_BROKER_STAT_QUEUES] = (int64_t)b->queues;
    f[IPCQ_BROKER_STAT_SESSIONS] = (int64_t)b->sessions;
    f[IPCQ_BROKER_STAT_ITEMS] = (int64_t)b->items;
    f[IPCQ_BROKER_STAT_BYTES] = (int64_t)b->bytes;
    f[IPCQ_BROKER_STAT_UPTIME_MS] = (int64_t)b->uptime_ms;
    f[IPCQ_BROKER_STAT_REQUESTS] = (int64_t)b->requests;
    f[IPCQ_BROKER_STAT_BAD_REQUESTS] = (int64_t)b->bad_requests;
    f[IPCQ_BROKER_STAT_UNROUTABLE] = (int64_t)b->unroutable;
    f[IPCQ_BROKER_STAT_MAX_ITEM_SIZE] = (int64_t)b->max_item_size;
    f[IPCQ_BROKER_STAT_PID] = b->pid;
    f[IPCQ_BROKER_STAT_DISCONNECTS] = (int64_t)b->disconnects;
    f[IPCQ_BROKER_STAT_LOG_DISK_BYTES] = b->has_log_disk_bytes ? (int64_t)b->log_disk_bytes : -1;
    f[IPCQ_BROKER_STAT_LOG_LIVE_BYTES] = b->has_log_live_bytes ? (int64_t)b->log_live_bytes : -1;
    f[IPCQ_BROKER_STAT_LOG_SEGMENTS] = b->has_log_segments ? (int64_t)b->log_segments : -1;
    f[IPCQ_BROKER_STAT_STORAGE_FAILED] = b->has_storage_failed ? b->storage_failed : -1;
    f[IPCQ_BROKER_STAT_CLIENTS] = b->has_clients ? (int64_t)b->clients : -1;
    f[IPCQ_BROKER_STAT_RSS_BYTES] = b->has_rss_bytes ? (int64_t)b->rss_bytes : -1;
}

int
broker_stat(ipcq_client *c, const char *queue, ipcq_stats **out)
{
    c = client_session(c); /* D8 */
    if (out == NULL)
        return IPCQ_EINVAL;
    *out = NULL;
    Ipcqwire__Request req;
    int rc = client_begin(c, &req, IPCQWIRE__OP__OP_STAT, queue, IPCQ_NOWAIT);
    Ipcqwire__Reply *r = NULL;
    if (rc == IPCQ_OK)
        rc = client_finish(c, &req, queue, IPCQ_NOWAIT, &r);
    if (rc != IPCQ_OK)
        return rc;
    ipcq_stats *s = calloc(1, sizeof *s + r->n_queues * sizeof s->rows[0]);
    if (s == NULL) {
        ipcqwire__reply__free_unpacked(r, NULL);
        return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    }
    s->count = r->n_queues;
    for (size_t i = 0; i < r->n_queues; i++)
        fill_row(&s->rows[i], r->queues[i]);
    if (r->broker)
        fill_broker(s->broker, r->broker);
    ipcqwire__reply__free_unpacked(r, NULL);
    *out = s;
    return IPCQ_OK;
}

ipcq_stats *
client_stats_new(size_t count)
{
    ipcq_stats *s = calloc(1, sizeof *s + count * sizeof s->rows[0]);
    if (s == NULL)
        return NULL;
    s->count = count;
    for (size_t f = 0; f < BROKER_FIELDS; f++)
        s->broker[f] = -1;
    return s;
}

void
client_stats_name(ipcq_stats *s, size_t i, const char *name)
{
    size_t n = strnlen(name, IPCQ_NAME_MAX);
    memcpy(s->rows[i].name, name, n);
    s->rows[i].name[n] = '\0';
}

void
client_stats_set(ipcq_stats *s, size_t i, ipcq_queue_field f, int64_t value)
{
    s->rows[i].f[f] = value;
}

void
client_stats_set_broker(ipcq_stats *s, ipcq_broker_field f, int64_t value)
{
    s->broker[f] = value;
}

size_t
ipcq_stats_count(const ipcq_stats *s)
{
    return s ? s->count : 0;
}

const char *
ipcq_stats_name(const ipcq_stats *s, size_t i)
{
    return s && i < s->count ? s->rows[i].name : NULL;
}

int64_t
ipcq_stats_queue(const ipcq_stats *s, size_t i, ipcq_queue_field f)
{
    if (s == NULL || i >= s->count || (unsigned)f >= QUEUE_FIELDS)
        return -1;
    return s->rows[i].f[f];
}

int64_t
ipcq_stats_broker(const ipcq_stats *s, ipcq_broker_field f)
{
    if (s == NULL || (unsigned)f >= BROKER_FIELDS)
        return -1;
    return s->broker[f];
}

void
ipcq_stats_free(ipcq_stats **s)
{
    if (s != NULL) {
        free(*s);
        *s = NULL;
    }
}

/* The stat of one queue; a reply without its row is a protocol error. */
static int
queue_stat(ipcq_client *c, const char *queue, ipcq_stats **s)
{
    int rc = ipcq_stat(c, queue, s);
    if (rc == IPCQ_OK && ipcq_stats_count(*s) != 1) {
        ipcq_stats_free(s);
        rc = client_fail(c, queue, IPCQ_EPROTO, NULL);
    }
    return rc;
}

static int
queue_figure(ipcq_client *c, const char *queue, ipcq_queue_field f, int64_t *value)
{
    ipcq_stats *s;
    int rc = queue_stat(c, queue, &s);
    if (rc != IPCQ_OK)
        return rc;
    *value = ipcq_stats_queue(s, 0, f);
    ipcq_stats_free(&s);
    return IPCQ_OK;
}

ipcq_status
ipcq_qsize(ipcq_client *c, const char *queue, size_t *size)
{
    c = client_session(c); /* D8 */
    int64_t v = 0;
    int rc = size ? queue_figure(c, queue, IPCQ_QUEUE_SIZE, &v) : IPCQ_EINVAL;
    if (size)
        *size = rc == IPCQ_OK ? (size_t)v : 0;
    return rc;
}

ipcq_status
ipcq_empty(ipcq_client *c, const char *queue, bool *empty)
{
    c = client_session(c); /* D8 */
    size_t n;
    int rc = empty ? ipcq_qsize(c, queue, &n) : IPCQ_EINVAL;
    if (empty)
        *empty = rc == IPCQ_OK && n == 0;
    return rc;
}

ipcq_status
ipcq_full(ipcq_client *c, const char *queue, bool *full)
{
    c = client_session(c); /* D8 */
    if (full == NULL)
        return IPCQ_EINVAL;
    *full = false;
    ipcq_stats *s;
    int rc = queue_stat(c, queue, &s);
    if (rc != IPCQ_OK)
        return rc;
    int64_t maxsize = ipcq_stats_queue(s, 0, IPCQ_QUEUE_MAXSIZE);
    *full = maxsize > 0 && ipcq_stats_queue(s, 0, IPCQ_QUEUE_SIZE) >= maxsize;
    ipcq_stats_free(&s);
    return IPCQ_OK;
}
