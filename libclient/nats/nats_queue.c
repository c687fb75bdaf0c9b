/* Queues as JetStream streams: create (a stream that keeps its messages
 * until ipcq deletes them, nats_remove.c; file storage, replicated on up to
 * 3 servers, its bound MaxMsgs with new messages refused, and the shared
 * durable pull consumer), delete, the bound, the dead-letter limit, stat,
 * ping. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nats_internal.h"

#define MAXDEL_TAG "max_deliveries="

static void
consumer_config(jsConsumerConfig *cc, char *description, uint32_t max_deliveries)
{
    jsConsumerConfig_Init(cc);
    cc->Durable = NATS_CONSUMER;
    cc->AckPolicy = js_AckExplicit;
    cc->AckWait = (int64_t)NATS_ACK_WAIT_MS * 1000000;
    cc->MaxAckPending = -1;
    cc->MaxDeliver = -1; /* the library dead-letters (nats_get.c) */
    sprintf(description, MAXDEL_TAG "%" PRIu32, max_deliveries);
    cc->Description = description;
}

static int
add_consumer(ipcq_client *s, nats_state *st, const char *queue, const char *stream)
{
    jsConsumerConfig cc;
    char description[40];
    consumer_config(&cc, description, IPCQ_DEFAULT_MAX_DELIVERIES);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetConsumerInfo(&ci, st->js, stream, NATS_CONSUMER, NULL, &jerr);
    if (ns == NATS_NOT_FOUND)
        ns = js_AddConsumer(&ci, st->js, stream, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(s, queue, ns, jerr);
}

static int
conflict(ipcq_client *s, const char *queue, int64_t have, int64_t want)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s: queue exists with maxsize %lld, asked for %lld", queue,
             (long long)(have > 0 ? have : 0), (long long)(want > 0 ? want : 0));
    return client_fail(s, NULL, IPCQ_ECONFLICT, detail);
}

int
nats_queue_ensure(ipcq_client *s, nats_state *st, const char *queue, int64_t maxsize,
                  bool exists_ok)
{
    char stream[NATS_STREAM_MAX + 1], subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX];
    nats_stream_name(queue, stream);
    nats_subject(queue, subject);
    const char *subjects[] = {subject};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Description = queue;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_LimitsPolicy; /* not a work queue: nats_remove.c says why */
    sc.Storage = js_FileStorage;
    sc.MaxMsgs = maxsize > 0 ? maxsize : -1;
    sc.Discard = js_DiscardNew;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    /* Replicated on 3 servers, or as many as the cluster has: a smaller
     * cluster refuses more (a single server with 10074), so each refusal
     * tries one fewer; the last one's error is the call's. */
    bool absent = ns == NATS_NOT_FOUND;
    for (int64_t r = 3; absent && r >= 1; r--) {
        sc.Replicas = r;
        jerr = 0;
        ns = js_AddStream(&si, st->js, &sc, NULL, &jerr);
        if (ns == NATS_OK || jerr == JSStreamNameExistErr) {
            nats_tasks_prepare(s, st);
            jsStreamInfo_Destroy(si);
            si = NULL;
            ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr); /* one raced us */
            break;
        }
        if (nats_transient(ns))
            break;
    }
    if (ns != NATS_OK)
        return nats_fail(s, queue, ns, jerr);
    int64_t have = si->Config->MaxMsgs;
    bool shut = nats_stream_is_shut(si);
    jsStreamInfo_Destroy(si);
    if (exists_ok && shut) /* a put (Q12) */
        return client_fail(s, queue, IPCQ_ESHUTDOWN, NULL);
    if (!exists_ok && (have > 0 ? have : 0) != (maxsize > 0 ? maxsize : 0))
        return conflict(s, queue, have, maxsize);
    return add_consumer(s, st, queue, stream);
}

/* The handle's state and the stream of queue: how a call on a queue starts. */
static int
begin_queue(ipcq_client *c, const char *queue, nats_state **st, char *stream)
{
    nats_stream_name(queue, stream);
    return nats_state_get(c, st);
}

int
nats_create(ipcq_client *c, const char *queue, int64_t maxsize)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    return rc != IPCQ_OK ? rc : nats_queue_ensure(c, st, queue, maxsize, false);
}

int
nats_delete(ipcq_client *c, const char *queue)
{
    nats_state *st;
    char stream[NATS_STREAM_MAX + 1];
    int rc = begin_queue(c, queue, &st, stream);
    if (rc != IPCQ_OK)
        return rc;
    jsErrCode jerr = 0;
    natsStatus ns = js_DeleteStream(st->js, stream, NULL, &jerr);
    if (ns != NATS_OK)
        return nats_fail(c, queue, ns, jerr);
    nats_tasks_forget(c, st, queue);
    return IPCQ_OK;
}

int
nats_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize)
{
    nats_state *st;
    char stream[NATS_STREAM_MAX + 1];
    int rc = begin_queue(c, queue, &st, stream);
    if (rc != IPCQ_OK)
        return rc;
    jsStreamInfo *si = NULL, *after = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    if (ns != NATS_OK)
        return nats_fail(c, queue, ns, jerr);
    if (maxsize > 0 && si->State.Msgs > (uint64_t)maxsize) {
        /* JetStream drops the oldest items past a lowered MaxMsgs (checked
         * against nats-server 2.9.10), where Q2 keeps them. */
        char detail[400];
        snprintf(detail, sizeof detail,
                 "%s: a bound of %lld below the %llu items held: JetStream would drop items", queue,
                 (long long)maxsize, (unsigned long long)si->State.Msgs);
        jsStreamInfo_Destroy(si);
        return client_fail(c, NULL, IPCQ_ENOTSUP, detail);
    }
    si->Config->MaxMsgs = maxsize > 0 ? maxsize : -1;
    ns = js_UpdateStream(&after, st->js, si->Config, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(after);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, queue, ns, jerr);
}

static uint32_t
parse_max_deliveries(const jsConsumerConfig *cc)
{
    const char *d = cc->Description;
    if (d == NULL || strncmp(d, MAXDEL_TAG, strlen(MAXDEL_TAG)) != 0)
        return IPCQ_DEFAULT_MAX_DELIVERIES;
    return (uint32_t)strtoul(d + strlen(MAXDEL_TAG), NULL, 10);
}

int
nats_max_deliveries(ipcq_client *s, nats_state *st, const char *queue, uint32_t *max)
{
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetConsumerInfo(&ci, st->js, stream, NATS_CONSUMER, NULL, &jerr);
    if (ns != NATS_OK)
        return nats_fail(s, queue, ns, jerr);
    *max = parse_max_deliveries(ci->Config);
    jsConsumerInfo_Destroy(ci);
    return IPCQ_OK;
}

int
nats_set_max_deliveries(ipcq_client *c, const char *queue, uint32_t max_deliveries)
{
    nats_state *st;
    char stream[NATS_STREAM_MAX + 1];
    int rc = begin_queue(c, queue, &st, stream);
    if (rc != IPCQ_OK)
        return rc;
    jsConsumerConfig cc;
    char description[40];
    consumer_config(&cc, description, max_deliveries);
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (ns == NATS_OK)
        ns = js_UpdateConsumer(&ci, st->js, stream, &cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, queue, ns, jerr);
}

uint64_t
nats_items_waiting(const jsStreamInfo *si, const jsConsumerInfo *ci)
{
    uint64_t msgs = si->State.Msgs, last = si->State.LastSeq;
    if (ci == NULL)
        return msgs;
    uint64_t after = last > ci->Delivered.Stream ? last - ci->Delivered.Stream : 0;
    return after < msgs ? after : msgs;
}

/* Row i of out: the stream's and its consumer's figures; returns the
 * items held (size and leased). */
static int64_t
fill_row(ipcq_client *s, nats_state *st, ipcq_stats *out, size_t i, const jsStreamInfo *si)
{
    const char *queue = si->Config->Description ? si->Config->Description : "";
    const jsStreamState *ss = &si->State;
    client_stats_name(out, i, queue);
    jsConsumerInfo *ci = NULL;
    (void)js_GetConsumerInfo(&ci, st->js, si->Config->Name, NATS_CONSUMER, NULL, NULL);
    int64_t leased = ci ? ci->NumAckPending : 0;
    int64_t size = (int64_t)nats_items_waiting(si, ci);
    client_stats_set(out, i, IPCQ_QUEUE_SIZE, size);
    client_stats_set(out, i, IPCQ_QUEUE_MAXSIZE, si->Config->MaxMsgs > 0 ? si->Config->MaxMsgs : 0);
    client_stats_set(out, i, IPCQ_QUEUE_BYTES, (int64_t)ss->Bytes);
    client_stats_set(out, i, IPCQ_QUEUE_GETTERS, ci ? ci->NumWaiting : 0);
    uint64_t done = 0;
    if (nats_tasks_done(s, st, queue, si->Created, &done) != IPCQ_OK)
        s->error[0] = '\0'; /* a figure, not the call, is missing */
    client_stats_set(out, i, IPCQ_QUEUE_UNFINISHED,
                     ss->LastSeq > done ? (int64_t)(ss->LastSeq - done) : 0);
    client_stats_set(out, i, IPCQ_QUEUE_SHUTDOWN, nats_stream_is_shut(si));
    client_stats_set(out, i, IPCQ_QUEUE_LEASED, leased);
    if (size + leased > 0 && ss->FirstTime > 0) {
        /* the stream's first message, which may be a taken one not
         * deleted or purged yet (nats_remove.c): then older than the
         * oldest item held */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t age = ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - ss->FirstTime) / 1000000;
        client_stats_set(out, i, IPCQ_QUEUE_OLDEST_MS, age > 0 ? age : 0);
    }
    client_stats_set(out, i, IPCQ_QUEUE_PUTS, (int64_t)ss->LastSeq);
    client_stats_set(out, i, IPCQ_QUEUE_GETS, ci ? (int64_t)ci->Delivered.Consumer : 0);
    client_stats_set(out, i, IPCQ_QUEUE_MAX_DELIVERIES,
                     ci ? parse_max_deliveries(ci->Config) : IPCQ_DEFAULT_MAX_DELIVERIES);
    client_stats_set(out, i, IPCQ_QUEUE_DEAD_LETTERED, -1); /* not kept */
    jsConsumerInfo_Destroy(ci);
    return size + leased;
}

static int
stat_all(ipcq_client *c, nats_state *st, ipcq_stats **out)
{
    jsStreamInfoList *list = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_Streams(&list, st->js, NULL, &jerr);
    if (ns == NATS_NOT_FOUND) /* no stream at all */
        ns = NATS_OK;
    if (ns != NATS_OK)
        return nats_fail(c, NULL, ns, jerr);
    size_t n = 0;
    for (int i = 0; list != NULL && i < list->Count; i++)
        n += nats_is_queue_stream(list->List[i]->Config->Name);
    ipcq_stats *s = client_stats_new(n);
    if (s == NULL) {
        jsStreamInfoList_Destroy(list);
        return client_fail(c, NULL, IPCQ_ENOMEM, NULL);
    }
    size_t row = 0;
    int64_t items = 0, bytes = 0;
    for (int i = 0; list != NULL && i < list->Count; i++) {
        if (!nats_is_queue_stream(list->List[i]->Config->Name))
            continue;
        items += fill_row(c, st, s, row++, list->List[i]);
        bytes += (int64_t)list->List[i]->State.Bytes;
    }
    jsStreamInfoList_Destroy(list);
    client_stats_set_broker(s, IPCQ_BROKER_STAT_QUEUES, (int64_t)n);
    client_stats_set_broker(s, IPCQ_BROKER_STAT_ITEMS, items);
    client_stats_set_broker(s, IPCQ_BROKER_STAT_BYTES, bytes);
    client_stats_set_broker(s, IPCQ_BROKER_STAT_MAX_ITEM_SIZE,
                            natsConnection_GetMaxPayload(st->nc));
    *out = s;
    return IPCQ_OK;
}

int
nats_stat(ipcq_client *c, const char *queue, ipcq_stats **out)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    if (queue == NULL)
        return stat_all(c, st, out);
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    if (ns != NATS_OK)
        return nats_fail(c, queue, ns, jerr);
    ipcq_stats *s = client_stats_new(1);
    if (s == NULL) {
        jsStreamInfo_Destroy(si);
        return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    }
    (void)fill_row(c, st, s, 0, si);
    jsStreamInfo_Destroy(si);
    *out = s;
    return IPCQ_OK;
}

int
nats_ping(ipcq_client *c)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    jsAccountInfo *ai = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetAccountInfo(&ai, st->js, NULL, &jerr);
    jsAccountInfo_Destroy(ai);
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, NULL, ns, jerr);
}
