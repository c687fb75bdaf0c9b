/* Puts on JetStream. Each put carries a message id (the handle's random
 * nonce and a counter), so that a put retried after a lost answer (a server
 * killed, a leader elected) is stored once (the stream's de-duplication
 * window). A full queue refuses the message (error 10077, MaxMsgs with
 * DiscardNew): put_nowait fails IPCQ_FULL at once; a blocking put tries
 * again, backing off, until its deadline (SPEC §9). A queue that does not
 * exist is created, unbounded (Q2); one deleted while a put waits fails it
 * IPCQ_EDELETED (Q10). */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <string.h>

#include "nats_internal.h"

#define BACKOFF_FIRST_MS 2
#define BACKOFF_MAX_MS 50
#define ANSWER_WAIT_MS 2000 /* one try's wait for JetStream's answer */
#define FULL_RESEND_MS 5    /* an async put refused by a full queue: sent again after */

/* Writes v as 16 hex digits at out. */
static void
put_hex64(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
}

/* The subject of queue, and the options of a put to it: a new message id,
 * the handle's nonce and a serial (written by hand: snprintf was a few per
 * cent of an async producer's time). */
static void
publish_options(nats_state *st, const char *queue, char *subject, char id[NATS_MSG_ID_SIZE],
                jsPubOptions *po)
{
    nats_subject(queue, subject);
    put_hex64(id, st->msg_nonce);
    id[16] = '-';
    put_hex64(id + 17, atomic_fetch_add(&st->msg_serial, 1) + 1);
    id[33] = '\0';
    jsPubOptions_Init(po);
    po->MsgId = id;
}

int
nats_publish(ipcq_client *s, nats_state *st, const char *queue, const void *data, size_t len,
             int64_t deadline, bool create)
{
    if (len > (size_t)natsConnection_GetMaxPayload(st->nc))
        return nats_fail(s, queue, NATS_MAX_PAYLOAD, 0);
    char subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX], id[NATS_MSG_ID_SIZE];
    jsPubOptions po;
    publish_options(st, queue, subject, id, &po);
    int64_t backoff = BACKOFF_FIRST_MS;
    bool existed = false;
    for (;;) {
        int64_t left = deadline - nats_now_ms();
        po.MaxWait = left < ANSWER_WAIT_MS ? (left > 100 ? left : 100) : ANSWER_WAIT_MS;
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus ns = js_Publish(&pa, st->js, subject, data, (int)len, &po, &jerr);
        jsPubAck_Destroy(pa);
        if (ns == NATS_OK)
            return IPCQ_OK;
        if (ns == NATS_NO_RESPONDERS) {
            /* No stream on the subject: the queue does not exist (a put
             * creates it, Q2, once; one deleted while this put waited is
             * Q10), it is shut down (Q12: nats_tasks.c), or its stream has
             * no leader for a moment (a server lost), when JetStream may
             * not answer either: then the put keeps trying until its
             * deadline. */
            nats_look q;
            create = create && !existed; /* a queue seen full was there */
            int rc = create ? nats_queue_ensure(s, st, queue, 0, true)
                            : nats_queue_look(s, st, queue, &q);
            if (rc == IPCQ_OK && create) {
                create = false;
                continue;
            }
            if (rc == IPCQ_OK && q.shut)
                return client_fail(s, queue, IPCQ_ESHUTDOWN, NULL);
            if (rc == IPCQ_ENOQUEUE)
                return client_fail(s, queue, IPCQ_EDELETED, NULL);
            if ((rc != IPCQ_OK && rc != IPCQ_EUNAVAILABLE) || nats_now_ms() >= deadline)
                return rc;
        }
        if (jerr != JSStreamStoreFailedErr && !nats_transient(ns))
            return nats_fail(s, queue, ns, jerr);
        existed = existed || jerr == JSStreamStoreFailedErr;
        if (nats_now_ms() >= deadline)
            return nats_fail(s, queue, ns, jerr);
        nats_nap(backoff, deadline);
        backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
    }
}

int
nats_put(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    return nats_publish(c, st, queue, data ? data : "", len, nats_deadline(timeout_ms), true);
}

int
nats_put_many(ipcq_client *c, const char *queue, size_t n, const void *const *items,
              const size_t *lens, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    /* One publish each, in order, against one deadline: JetStream has no
     * batch publish, so this is not all-or-none (docs/NATS.md). */
    int64_t deadline = nats_deadline(timeout_ms);
    for (size_t i = 0; i < n; i++) {
        rc = nats_publish(c, st, queue, items[i] ? items[i] : "", lens[i], deadline, true);
        if (rc != IPCQ_OK && i > 0) {
            char detail[600];
            snprintf(detail, sizeof detail, "%s (%zu of the %zu items were put)",
                     ipcq_client_error(c), i, n);
            return client_fail(c, NULL, rc, detail);
        }
        if (rc != IPCQ_OK)
            return rc;
    }
    return IPCQ_OK;
}

void
nats_async_acked(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
    nats_state *st = arg;
    if (pa == NULL && pae != NULL && pae->ErrCode == JSStreamStoreFailedErr) {
        /* A full queue: as on a broker, the put waits for room. Sent again
         * (the same message id) from this, libnats's thread, a moment later. */
        nats_nap(FULL_RESEND_MS, INT64_MAX);
        if (js_PublishMsgAsync(js, &msg, NULL) == NATS_OK)
            return; /* still in flight */
    }
    pthread_mutex_lock(&st->lock);
    st->async_inflight--;
    /* A put waiting for room is woken once a quarter of the window is free
     * (or all of it), not at every answer: one wake-up for many puts. */
    if (st->async_waiting > 0 &&
        (st->async_inflight + st->async_window / 4 < st->async_window || st->async_inflight == 0))
        pthread_cond_broadcast(&st->async_room);
    if (pa == NULL && pae != NULL && st->async_status == IPCQ_OK) {
        jsErrCode jerr = pae->ErrCode;
        st->async_status = jerr == JSStreamStoreFailedErr ? IPCQ_FULL
                           : nats_transient(pae->Err)     ? IPCQ_EUNAVAILABLE
                                                          : IPCQ_ESYSTEM;
        snprintf(st->async_error, sizeof st->async_error, "%s: async put failed: %s",
                 natsMsg_GetSubject(pae->Msg), pae->ErrText ? pae->ErrText : "");
        st->async_no_stream = pae->Err == NATS_NO_RESPONDERS;
    }
    pthread_mutex_unlock(&st->lock);
    natsMsg_Destroy(msg);
}

/* Waits (at most NATS_REQUEST_MS) for room in the handle's put window and
 * takes it. */
static int
take_window(ipcq_client *c, nats_state *st)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += NATS_REQUEST_MS / 1000;
    int waited = 0;
    size_t window = c->root->default_window;
    pthread_mutex_lock(&st->lock);
    st->async_window = window;
    st->async_waiting++;
    while (st->async_inflight >= window && waited == 0)
        waited = pthread_cond_timedwait(&st->async_room, &st->lock, &until);
    st->async_waiting--;
    bool room = st->async_inflight < window;
    st->async_inflight += room;
    pthread_mutex_unlock(&st->lock);
    return room ? IPCQ_OK
                : client_fail(c, NULL, IPCQ_EUNAVAILABLE,
                              "async puts unanswered: the window is full");
}

/* Reports (and forgets) the first failure of an async put; one that found
 * no stream on its subject, of a queue shut down, is IPCQ_ESHUTDOWN. */
static int
take_async_error(ipcq_client *c, nats_state *st)
{
    pthread_mutex_lock(&st->lock);
    int rc = st->async_status;
    if (rc == IPCQ_OK) {
        pthread_mutex_unlock(&st->lock);
        return IPCQ_OK;
    }
    bool no_stream = st->async_no_stream;
    char error[sizeof st->async_error], queue[sizeof st->async_queue];
    snprintf(error, sizeof error, "%s", st->async_error);
    snprintf(queue, sizeof queue, "%s", st->async_queue);
    st->async_status = IPCQ_OK;
    st->async_no_stream = false;
    pthread_mutex_unlock(&st->lock);
    nats_look q;
    if (no_stream && nats_queue_look(c, st, queue, &q) == IPCQ_OK && q.shut)
        return client_fail(c, queue, IPCQ_ESHUTDOWN, NULL);
    return client_fail(c, NULL, rc, error);
}

/* What an async put does when it cannot take room in one step: reports an
 * earlier failure, makes sure of a queue other than the last one (a message
 * nobody stores has no answer), waits for room in the window. */
static int
put_async_slow(ipcq_client *c, nats_state *st, const char *queue)
{
    int rc = take_async_error(c, st);
    if (rc != IPCQ_OK)
        return rc;
    pthread_mutex_lock(&st->lock);
    bool known = strcmp(st->async_queue, queue) == 0;
    pthread_mutex_unlock(&st->lock);
    if (!known) {
        if ((rc = nats_queue_ensure(c, st, queue, 0, true)) != IPCQ_OK)
            return rc;
        pthread_mutex_lock(&st->lock);
        snprintf(st->async_queue, sizeof st->async_queue, "%s", queue);
        pthread_mutex_unlock(&st->lock);
    }
    return take_window(c, st);
}

int
nats_put_async(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    /* The usual case in one step: no failure to report, the same queue as
     * the last put, room in the window. */
    pthread_mutex_lock(&st->lock);
    bool ready = st->async_status == IPCQ_OK && strcmp(st->async_queue, queue) == 0 &&
                 st->async_inflight < c->root->default_window;
    st->async_inflight += ready;
    pthread_mutex_unlock(&st->lock);
    if (!ready && (rc = put_async_slow(c, st, queue)) != IPCQ_OK)
        return rc;
    char subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX], id[NATS_MSG_ID_SIZE];
    jsPubOptions po;
    publish_options(st, queue, subject, id, &po);
    natsStatus ns = js_PublishAsync(st->js, subject, data ? data : "", (int)len, &po);
    if (ns == NATS_OK)
        return IPCQ_OK;
    pthread_mutex_lock(&st->lock);
    st->async_inflight--;
    pthread_mutex_unlock(&st->lock);
    return nats_fail(c, queue, ns, 0);
}

int
nats_set_put_window(ipcq_client *c, size_t window)
{
    if (window == 0 || window > IPCQ_MAX_WINDOW)
        return client_fail(c, NULL, IPCQ_EINVAL, "put window out of range");
    c->root->default_window = window; /* take_window reads it */
    return IPCQ_OK;
}

int
nats_flush(ipcq_client *c, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms == IPCQ_FOREVER ? INT32_MAX : (timeout_ms > 0 ? timeout_ms : 1);
    natsStatus ns = js_PublishAsyncComplete(st->js, &po);
    if ((rc = take_async_error(c, st)) != IPCQ_OK)
        return rc;
    if (ns == NATS_TIMEOUT)
        return client_fail(c, NULL, IPCQ_ETIMEDOUT, "async puts still unanswered");
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, NULL, ns, 0);
}
