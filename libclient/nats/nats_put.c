/* Puts on JetStream. A put or put_many carries a message id (the handle's
 * random nonce and a counter), so that a put retried after a lost answer (a
 * server killed, a leader elected) is stored once (the stream's
 * de-duplication window). An async put carries none: nothing sends one
 * again after a lost answer (flush reports it unanswered), only after a
 * full queue refused it, when no server stored it; and the ids cost the
 * async row speed on the cluster, where every server keeps each id for the
 * window. (That a refused put is stored nowhere holds since
 * queues are limits streams, every server counting alike: with work-queue
 * streams, a server other than the leader had sometimes stored one the
 * leader refused; nats_remove.c.) A full queue refuses the message (error
 * 10077, MaxMsgs with DiscardNew): put_nowait fails IPCQ_FULL at once; a
 * blocking put tries again, backing off, until its deadline; an async put
 * is sent again until it is stored (SPEC §9). A queue that does not exist
 * is created, unbounded (Q2); one deleted while a put waits fails it
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
#define MSG_ID_SIZE 34      /* a put's de-duplication id: 16 hex digits, '-', 16, NUL */

/* Writes v as 16 hex digits at out. */
static void
put_hex64(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
}

/* The subject of queue, and the options of a put to it: a new message id,
 * the handle's nonce and a serial, in hex. */
static void
publish_options(nats_state *st, const char *queue, char *subject, char id[MSG_ID_SIZE],
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
    char subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX], id[MSG_ID_SIZE];
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
        if (jerr == JSStreamStoreFailedErr) {
            existed = true;
            nats_sweep(st, subject + strlen(NATS_SUBJECT_PREFIX));
        }
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
nats_async_failed(jsCtx *js, jsPubAckErr *pae, void *arg)
{
    (void)js;
    nats_state *st = arg;
    if (pae->ErrCode == JSStreamStoreFailedErr && pae->Msg != NULL) {
        /* A full queue: as on a broker, the put waits for room. Sent again
         * from this, libnats's thread, a moment later,
         * through the handle's other context: the put context may have no
         * room left in its window, and waiting for room here would hold up
         * the answers that make room. */
        const char *subject = natsMsg_GetSubject(pae->Msg);
        if (strncmp(subject, NATS_SUBJECT_PREFIX, strlen(NATS_SUBJECT_PREFIX)) == 0)
            nats_sweep(st, subject + strlen(NATS_SUBJECT_PREFIX));
        nats_nap(FULL_RESEND_MS, INT64_MAX);
        if (js_PublishMsgAsync(st->js, &pae->Msg, NULL) == NATS_OK)
            return; /* in flight again; pae->Msg is now NULL: libnats keeps it */
    }
    pthread_mutex_lock(&st->lock);
    if (st->async_status == IPCQ_OK) {
        jsErrCode jerr = pae->ErrCode;
        st->async_status = jerr == JSStreamStoreFailedErr ? IPCQ_FULL
                           : nats_transient(pae->Err)     ? IPCQ_EUNAVAILABLE
                                                          : IPCQ_ESYSTEM;
        snprintf(st->async_error, sizeof st->async_error, "%s: async put failed: %s",
                 st->async_queue, pae->ErrText ? pae->ErrText : "");
        st->async_no_stream = pae->Err == NATS_NO_RESPONDERS;
    }
    pthread_mutex_unlock(&st->lock);
}

/* The context of async puts, with the handle's window as libnats's limit of
 * puts in flight (a put past it waits for an answer, up to
 * NATS_REQUEST_MS): libnats keeps that count anyway, and with no handler of
 * every answer it does not parse the successful ones (an answer handler
 * cost its thread about twice the native client's). Made on the first async put, and
 * anew when the window changed, once the old one's puts are answered. The
 * caller holds put_ctx_lock for writing. */
static int
make_put_ctx(ipcq_client *c, nats_state *st, size_t window)
{
    if (st->put_ctx != NULL) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = NATS_REQUEST_MS;
        (void)js_PublishAsyncComplete(st->put_ctx, &po);
        jsCtx_Destroy(st->put_ctx);
        st->put_ctx = NULL;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = NATS_REQUEST_MS;
    jo.PublishAsync.MaxPending = (int64_t)window;
    jo.PublishAsync.StallWait = NATS_REQUEST_MS;
    jo.PublishAsync.ErrHandler = nats_async_failed;
    jo.PublishAsync.ErrHandlerClosure = st;
    natsStatus ns = natsConnection_JetStream(&st->put_ctx, st->nc, &jo);
    if (ns != NATS_OK)
        return nats_fail(c, NULL, ns, 0);
    st->put_ctx_window = window;
    return IPCQ_OK;
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

/* What an async put does when it cannot go on at once: reports an earlier
 * failure, makes sure of a queue other than the last one (a message nobody
 * stores has no answer), makes the put context for the handle's window. */
static int
put_async_slow(ipcq_client *c, nats_state *st, const char *queue, size_t window)
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
    pthread_rwlock_wrlock(&st->put_ctx_lock);
    if (st->put_ctx == NULL || st->put_ctx_window != window)
        rc = make_put_ctx(c, st, window);
    pthread_rwlock_unlock(&st->put_ctx_lock);
    return rc;
}

int
nats_put_async(ipcq_client *c, const char *queue, const void *data, size_t len)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    size_t window = c->root->default_window;
    /* The usual case: no failure to report, the same queue as the last put,
     * a put context for this window. */
    pthread_mutex_lock(&st->lock);
    bool ready = st->async_status == IPCQ_OK && strcmp(st->async_queue, queue) == 0;
    pthread_mutex_unlock(&st->lock);
    pthread_rwlock_rdlock(&st->put_ctx_lock);
    while (!ready || st->put_ctx == NULL || st->put_ctx_window != window) {
        pthread_rwlock_unlock(&st->put_ctx_lock);
        if ((rc = put_async_slow(c, st, queue, window)) != IPCQ_OK)
            return rc;
        ready = true;
        pthread_rwlock_rdlock(&st->put_ctx_lock);
    }
    char subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX];
    nats_subject(queue, subject); /* no message id: see the top of this file */
    natsStatus ns = js_PublishAsync(st->put_ctx, subject, data ? data : "", (int)len, NULL);
    pthread_rwlock_unlock(&st->put_ctx_lock);
    if (ns == NATS_TIMEOUT)
        return client_fail(c, NULL, IPCQ_EUNAVAILABLE, "async puts unanswered: the window is full");
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, queue, ns, 0);
}

int
nats_set_put_window(ipcq_client *c, size_t window)
{
    if (window == 0 || window > IPCQ_MAX_WINDOW)
        return client_fail(c, NULL, IPCQ_EINVAL, "put window out of range");
    c->root->default_window = window; /* the next put_async makes its context anew */
    return IPCQ_OK;
}

natsStatus
nats_puts_answered(nats_state *st, int64_t timeout_ms)
{
    /* The put context's answers first: a put refused by a full queue is
     * sent again through the other context before its first answer is
     * counted done. */
    int64_t deadline = nats_deadline(timeout_ms);
    natsStatus ns = NATS_OK;
    pthread_rwlock_rdlock(&st->put_ctx_lock);
    jsCtx *contexts[] = {st->put_ctx, st->js};
    for (size_t i = 0; i < 2 && ns == NATS_OK; i++) {
        if (contexts[i] == NULL)
            continue;
        int64_t left = deadline - nats_now_ms();
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = timeout_ms == IPCQ_FOREVER ? INT32_MAX : (left > 0 ? left : 1);
        ns = js_PublishAsyncComplete(contexts[i], &po);
    }
    pthread_rwlock_unlock(&st->put_ctx_lock);
    return ns;
}

int
nats_flush(ipcq_client *c, int64_t timeout_ms)
{
    nats_state *st;
    int rc = nats_state_get(c, &st);
    if (rc != IPCQ_OK)
        return rc;
    natsStatus ns = nats_puts_answered(st, timeout_ms);
    if ((rc = take_async_error(c, st)) != IPCQ_OK)
        return rc;
    if (ns == NATS_TIMEOUT)
        return client_fail(c, NULL, IPCQ_ETIMEDOUT, "async puts still unanswered");
    return ns == NATS_OK ? IPCQ_OK : nats_fail(c, NULL, ns, 0);
}
