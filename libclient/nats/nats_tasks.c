/* task_done, join and shutdown on JetStream (SPEC Q9, Q12; docs/NATS.md).
 *
 * Unfinished tasks = the puts the queue's stream accepted (its last sequence:
 * JetStream's own count, so a put and its task cannot drift apart, and a
 * retried put stored once counts once) minus the tasks done, a counter per
 * queue in the key-value bucket "ipcq_tasks" (key: the stream's name; value:
 * the stream's creation time and the count, so that a queue deleted and made
 * again starts from none). task_done raises it by compare-and-set on the
 * entry's revision, refusing to pass the puts (IPCQ_ETASKDONE); an item moved
 * to NAME.dlq and the items an immediate shutdown drops count as done, as on
 * a broker. join polls the two figures until they meet.
 *
 * Shutdown moves the stream off the queue's subject (onto "ipcq.x.STREAM"):
 * a put then finds no stream there, looks, and fails IPCQ_ESHUTDOWN, at no
 * cost to a put on an open queue; gets take what is left, and a get that
 * finds nothing looks and fails IPCQ_ESHUTDOWN. Immediate also purges the
 * stream. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"

#define TASKS_BUCKET "ipcq_tasks"
#define JOIN_POLL_FIRST_MS 5
#define JOIN_POLL_MAX_MS 50
#define CAS_TRIES 100 /* task_dones racing on one queue: tries before giving up */

bool
nats_stream_is_shut(const jsStreamInfo *si)
{
    return si->Config->SubjectsLen > 0 &&
           strncmp(si->Config->Subjects[0], NATS_SHUT_PREFIX, strlen(NATS_SHUT_PREFIX)) == 0;
}

int
nats_queue_look(ipcq_client *s, nats_state *st, const char *queue, nats_look *out)
{
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    if (ns != NATS_OK)
        return nats_fail(s, queue, ns, jerr);
    out->created = si->Created;
    out->puts = si->State.LastSeq;
    out->shut = nats_stream_is_shut(si);
    jsStreamInfo_Destroy(si);
    return IPCQ_OK;
}

/* The handle's tasks bucket, made if make (else IPCQ_ENOQUEUE if there is
 * none yet); replicated as queues are. A bucket just made may not answer
 * its first reads for a while (its direct gets are lost: checked against
 * nats-server 2.9.10), so queues make it when they are made
 * (nats_tasks_prepare), not the first task_done. */
static int
tasks_bucket(ipcq_client *s, nats_state *st, bool make, kvStore **out)
{
    pthread_mutex_lock(&st->lock);
    kvStore *kv = st->kv;
    pthread_mutex_unlock(&st->lock);
    natsStatus ns = NATS_OK;
    if (kv == NULL) {
        ns = js_KeyValue(&kv, st->js, TASKS_BUCKET);
        for (int r = 3; ns == NATS_NOT_FOUND && make && r >= 1; r--) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = TASKS_BUCKET;
            kc.Description = "ipcq: tasks done per queue (docs/NATS.md)";
            kc.History = 1;
            kc.StorageType = js_FileStorage;
            kc.Replicas = r;
            ns = js_CreateKeyValue(&kv, st->js, &kc);
            if (ns != NATS_OK && !nats_transient(ns)) /* fewer servers, or one raced us */
                ns = js_KeyValue(&kv, st->js, TASKS_BUCKET) == NATS_OK ? NATS_OK : NATS_NOT_FOUND;
        }
        if (ns == NATS_NOT_FOUND && !make)
            return IPCQ_ENOQUEUE;
        if (ns != NATS_OK)
            return nats_fail(s, NULL, ns, 0);
        pthread_mutex_lock(&st->lock);
        if (st->kv == NULL)
            st->kv = kv;
        else
            kvStore_Destroy(kv); /* another thread bound it first */
        kv = st->kv;
        pthread_mutex_unlock(&st->lock);
    }
    *out = kv;
    return IPCQ_OK;
}

/* The tasks done of the queue of stream made at created, and the entry's
 * revision (0: none); an entry of an older stream of that name counts 0. */
static int
done_read(ipcq_client *s, kvStore *kv, const char *stream, int64_t created, uint64_t *done,
          uint64_t *rev)
{
    *done = 0;
    *rev = 0;
    kvEntry *e = NULL;
    natsStatus ns = kvStore_Get(&e, kv, stream);
    if (ns == NATS_NOT_FOUND)
        return IPCQ_OK;
    if (ns != NATS_OK)
        return nats_fail(s, NULL, ns, 0);
    long long when = 0;
    unsigned long long n = 0;
    if (sscanf(kvEntry_ValueString(e), "%lld %llu", &when, &n) == 2 && when == created)
        *done = n;
    *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return IPCQ_OK;
}

int
nats_tasks_done(ipcq_client *s, nats_state *st, const char *queue, int64_t created, uint64_t *done)
{
    kvStore *kv = NULL;
    uint64_t rev;
    *done = 0;
    int rc = tasks_bucket(s, st, false, &kv);
    if (rc == IPCQ_ENOQUEUE)
        return IPCQ_OK; /* no task was ever done */
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    return rc != IPCQ_OK ? rc : done_read(s, kv, stream, created, done, &rev);
}

/* Adds n tasks done to queue; with capped, none past its puts
 * (IPCQ_ETASKDONE). Compare-and-set on the entry's revision. */
static int
done_add(ipcq_client *s, nats_state *st, const char *queue, uint64_t n, bool capped)
{
    kvStore *kv = NULL;
    int rc = tasks_bucket(s, st, true, &kv);
    if (rc != IPCQ_OK)
        return rc;
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    for (int i = 0; i < CAS_TRIES; i++) {
        nats_look q;
        uint64_t done, rev;
        if ((rc = nats_queue_look(s, st, queue, &q)) != IPCQ_OK ||
            (rc = done_read(s, kv, stream, q.created, &done, &rev)) != IPCQ_OK)
            return rc;
        if (capped && done + n > q.puts)
            return client_fail(s, queue, IPCQ_ETASKDONE, NULL);
        if (!capped && done + n > q.puts)
            n = q.puts - done;
        char value[64];
        snprintf(value, sizeof value, "%lld %" PRIu64, (long long)q.created, done + n);
        uint64_t now;
        natsStatus ns = rev == 0 ? kvStore_CreateString(&now, kv, stream, value)
                                 : kvStore_UpdateString(&now, kv, stream, value, rev);
        if (ns == NATS_OK)
            return IPCQ_OK;
        if (nats_transient(ns))
            return nats_fail(s, queue, ns, 0);
        /* another task_done came first: read again */
    }
    return client_fail(s, queue, IPCQ_ESYSTEM, "task_done: too many racing updates");
}

void
nats_tasks_prepare(ipcq_client *s, nats_state *st)
{
    kvStore *kv = NULL;
    if (tasks_bucket(s, st, true, &kv) != IPCQ_OK)
        s->error[0] = '\0'; /* task_done will try again */
}

void
nats_tasks_forget(ipcq_client *s, nats_state *st, const char *queue)
{
    kvStore *kv = NULL;
    char stream[NATS_STREAM_MAX + 1];
    nats_stream_name(queue, stream);
    /* tidiness only: an entry of a deleted stream counts for no other */
    if (tasks_bucket(s, st, false, &kv) != IPCQ_OK || kvStore_Purge(kv, stream, NULL) != NATS_OK)
        s->error[0] = '\0';
}

void
nats_dead_lettered(ipcq_client *s, nats_state *st, const char *queue)
{
    if (done_add(s, st, queue, 1, false) != IPCQ_OK)
        s->error[0] = '\0'; /* the item moved all the same; join may wait on it */
}

int
nats_task_done(ipcq_client *c, const char *queue)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    return rc != IPCQ_OK ? rc : done_add(c, st, queue, 1, true);
}

int
nats_join(ipcq_client *c, const char *queue, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    int64_t deadline = nats_deadline(timeout_ms), poll = JOIN_POLL_FIRST_MS;
    for (bool first = true;; first = false) {
        nats_look q;
        uint64_t done = 0;
        rc = nats_queue_look(c, st, queue, &q);
        if (rc == IPCQ_ENOQUEUE && !first)
            return client_fail(c, queue, IPCQ_EDELETED, NULL);
        if (rc == IPCQ_OK)
            rc = nats_tasks_done(c, st, queue, q.created, &done);
        if (rc != IPCQ_OK && (rc != IPCQ_EUNAVAILABLE || nats_now_ms() >= deadline))
            return rc;
        if (rc == IPCQ_OK && done >= q.puts)
            return IPCQ_OK;
        if (rc == IPCQ_OK && nats_now_ms() >= deadline) {
            char detail[300];
            snprintf(detail, sizeof detail, "%s: %" PRIu64 " tasks unfinished", queue,
                     q.puts - done);
            return client_fail(c, NULL, IPCQ_ETIMEDOUT, detail);
        }
        nats_nap(poll, deadline);
        poll = poll * 2 < JOIN_POLL_MAX_MS ? poll * 2 : JOIN_POLL_MAX_MS;
    }
}

int
nats_shutdown(ipcq_client *c, const char *queue, bool immediate)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    char stream[NATS_STREAM_MAX + 1], shut[NATS_STREAM_MAX + sizeof NATS_SHUT_PREFIX];
    nats_stream_name(queue, stream);
    nats_shut_subject(queue, shut);
    jsStreamInfo *si = NULL, *after = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr);
    if (ns == NATS_OK && !nats_stream_is_shut(si)) {
        /* off the queue's subject: puts find no stream there (nats_put.c) */
        const char *subjects[] = {shut}, **had = si->Config->Subjects;
        int had_len = si->Config->SubjectsLen;
        si->Config->Subjects = subjects;
        si->Config->SubjectsLen = 1;
        ns = js_UpdateStream(&after, st->js, si->Config, NULL, &jerr);
        si->Config->Subjects = had; /* the info's own, for it to free */
        si->Config->SubjectsLen = had_len;
    }
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(after);
    if (ns != NATS_OK)
        return nats_fail(c, queue, ns, jerr);
    if (!immediate)
        return IPCQ_OK;
    /* The items waiting are dropped, each a task done; the ones out on a
     * lease are their holders' (approximate: see docs/NATS.md). */
    jsConsumerInfo *ci = NULL;
    si = NULL;
    if ((ns = js_GetStreamInfo(&si, st->js, stream, NULL, &jerr)) != NATS_OK ||
        (ns = js_GetConsumerInfo(&ci, st->js, stream, NATS_CONSUMER, NULL, &jerr)) != NATS_OK) {
        jsStreamInfo_Destroy(si);
        return nats_fail(c, queue, ns, jerr);
    }
    uint64_t waiting = nats_items_waiting(si, ci);
    jsStreamInfo_Destroy(si);
    jsConsumerInfo_Destroy(ci);
    if ((ns = js_PurgeStream(st->js, stream, NULL, &jerr)) != NATS_OK)
        return nats_fail(c, queue, ns, jerr);
    return waiting > 0 ? done_add(c, st, queue, waiting, false) : IPCQ_OK;
}
