/* Gets on JetStream: each thread's session keeps a pull subscription per
 * queue, bound to the queue's durable consumer. A get fetches with its
 * timeout (a nowait get: a no-wait fetch request), then acknowledges at
 * once (AckSync: the item is gone when the call returns, D1); a lease keeps
 * the message unacknowledged (nats_lease.c). A queue that does not exist is
 * waited for, not created (Q2); one deleted while a get waits fails it
 * IPCQ_EDELETED (Q10). A message handed out more than the queue's
 * dead-letter limit is published to QUEUE.dlq, then acknowledged, and the
 * fetch goes on (D6). */
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"

#define WAIT_SLICE_MS 1000 /* a long wait is fetched in slices, to notice a deletion */
#define ABSENT_POLL_MS 50  /* how often a get looks for a queue that does not exist */
/* A nowait get's pull request also has an expiry: libnats 3.4.1 does not
 * wait for the server's answer to a request without one. An empty queue
 * answers in this long (checked against nats-server 2.9.10), a queue with
 * items at once. */
#define NOWAIT_EXPIRES_MS 50
#define TIDY_EVERY_MS 1000 /* a getter's housekeeping (nats_tidy): at most this often */

struct nats_sub {
    nats_sub *next;
    const ipcq_client *session; /* the thread's session that uses it */
    natsSubscription *sub;
    char queue[IPCQ_NAME_MAX + 1];
    bool bounded;      /* the queue's items are deleted as they are taken */
    int64_t tidied_ms; /* the last nats_tidy, nats_now_ms() */
};

void
nats_subs_free(nats_state *st)
{
    while (st->subs != NULL) {
        nats_sub *n = st->subs;
        st->subs = n->next;
        natsSubscription_Destroy(n->sub);
        free(n);
    }
}

/* Session s's subscription to queue: IPCQ_OK, IPCQ_ENOQUEUE if the queue
 * does not exist (yet), or another failure. */
static int
sub_for(ipcq_client *s, nats_state *st, const char *queue, nats_sub **out)
{
    pthread_mutex_lock(&st->lock);
    for (nats_sub *n = st->subs; n != NULL; n = n->next) {
        if (n->session == s && strcmp(n->queue, queue) == 0) {
            *out = n;
            pthread_mutex_unlock(&st->lock);
            return IPCQ_OK;
        }
    }
    pthread_mutex_unlock(&st->lock);
    char stream[NATS_STREAM_MAX + 1], subject[NATS_STREAM_MAX + sizeof NATS_SUBJECT_PREFIX];
    nats_stream_name(queue, stream);
    nats_subject(queue, subject);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = NATS_CONSUMER;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_PullSubscribe(&sub, st->js, subject, NATS_CONSUMER, NULL, &so, &jerr);
    if (ns != NATS_OK)
        return ns == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr
                   ? IPCQ_ENOQUEUE
                   : nats_fail(s, queue, ns, jerr);
    nats_sub *n = calloc(1, sizeof *n);
    if (n == NULL) {
        natsSubscription_Destroy(sub);
        return client_fail(s, queue, IPCQ_ENOMEM, NULL);
    }
    n->session = s;
    n->sub = sub;
    strcpy(n->queue, queue);
    n->bounded = true; /* until the stream says otherwise */
    nats_tidy(st, stream, &n->bounded);
    n->tidied_ms = nats_now_ms();
    pthread_mutex_lock(&st->lock);
    n->next = st->subs;
    st->subs = n;
    pthread_mutex_unlock(&st->lock);
    *out = n;
    return IPCQ_OK;
}

/* Drops session s's subscription to queue (its queue was deleted). */
static void
drop_sub(nats_state *st, const ipcq_client *s, const char *queue)
{
    pthread_mutex_lock(&st->lock);
    for (nats_sub **p = &st->subs; *p != NULL; p = &(*p)->next) {
        if ((*p)->session == s && strcmp((*p)->queue, queue) == 0) {
            nats_sub *n = *p;
            *p = n->next;
            natsSubscription_Destroy(n->sub);
            free(n);
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
}

uint32_t
nats_deliveries(natsMsg *m)
{
    jsMsgMetaData *md = NULL;
    uint32_t n = 1;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK)
        n = (uint32_t)md->NumDelivered;
    jsMsgMetaData_Destroy(md);
    return n;
}

int
nats_copy_item(ipcq_client *s, const char *queue, natsMsg *m, void **data, size_t *len)
{
    size_t n = (size_t)natsMsg_GetDataLength(m);
    if ((*data = malloc(n ? n : 1)) == NULL)
        return client_fail(s, queue, IPCQ_ENOMEM, NULL);
    if (n)
        memcpy(*data, natsMsg_GetData(m), n);
    *len = n;
    return IPCQ_OK;
}

/* Moves m (delivered past the limit) to QUEUE.dlq, then removes it. */
static void
dead_letter(ipcq_client *s, nats_state *st, const char *queue, natsMsg *m)
{
    char dlq[IPCQ_NAME_MAX + 8];
    snprintf(dlq, sizeof dlq, "%s.dlq", queue);
    if (strlen(dlq) > IPCQ_NAME_MAX ||
        nats_publish(s, st, dlq, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                     nats_deadline(NATS_REQUEST_MS), true) != IPCQ_OK) {
        natsMsg_Nak(m, NULL); /* try again at its next delivery */
        return;
    }
    if (nats_ack_in_order(st, m, true, true) == NATS_OK)
        nats_dead_lettered(s, st, queue); /* done in its own queue, as on a broker */
}

/* Keeps the messages of list within the limit in msgs; dead-letters the
 * others. */
static size_t
keep_live(ipcq_client *s, nats_state *st, const char *queue, natsMsgList *list, natsMsg **msgs)
{
    uint32_t limit = 0;
    bool known = false;
    size_t kept = 0;
    for (int i = 0; i < list->Count; i++) {
        natsMsg *m = list->Msgs[i];
        list->Msgs[i] = NULL;
        uint32_t d = nats_deliveries(m);
        if (d > 1 && !known) {
            known = nats_max_deliveries(s, st, queue, &limit) == IPCQ_OK;
            s->error[0] = '\0';
        }
        if (known && limit > 0 && d > limit) {
            dead_letter(s, st, queue, m);
            natsMsg_Destroy(m);
            continue;
        }
        msgs[kept++] = m;
    }
    natsMsgList_Destroy(list);
    return kept;
}

/* One pull request for up to max messages, waiting at most wait_ms for the
 * first: a no-wait request with an expiry, which nats-server 2.9.10 takes as
 * one-shot (it answers as soon as it has any message, with what it has up
 * to max, then ends the request), so that a batch costs one round trip.
 * NATS_TIMEOUT when none came. */
static natsStatus
fetch_once(natsSubscription *sub, size_t max, int64_t wait_ms, natsMsgList *list)
{
    jsFetchRequest fr;
    jsFetchRequest_Init(&fr);
    fr.Batch = (int)max;
    fr.NoWait = true;
    fr.Expires = (wait_ms > 0 ? wait_ms : NOWAIT_EXPIRES_MS) * 1000000;
    return natsSubscription_FetchRequest(list, sub, &fr);
}

int
nats_fetch(ipcq_client *s, nats_state *st, const char *queue, size_t max, int64_t timeout_ms,
           natsMsg **msgs, size_t *got, nats_sub **used)
{
    *got = 0;
    int64_t deadline = nats_deadline(timeout_ms);
    bool subscribed = false;
    natsStatus last = NATS_TIMEOUT;
    for (;;) {
        nats_sub *sub = NULL;
        int rc = sub_for(s, st, queue, &sub);
        if (rc == IPCQ_ENOQUEUE && subscribed)
            return client_fail(s, queue, IPCQ_EDELETED, NULL);
        if (rc == IPCQ_ENOQUEUE) {
            /* Q2: wait for it as for an empty queue, without creating it */
            if (nats_now_ms() >= deadline)
                return client_fail(s, queue, IPCQ_EMPTY, NULL);
            nats_nap(ABSENT_POLL_MS, deadline);
            continue;
        }
        if (rc != IPCQ_OK)
            return rc;
        subscribed = true;
        int64_t left = deadline - nats_now_ms();
        int64_t wait = timeout_ms == IPCQ_NOWAIT ? 0 : left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS;
        natsMsgList list = {0};
        natsStatus ns = fetch_once(sub->sub, max, wait, &list);
        if (ns == NATS_OK && list.Count > 0) {
            *got = keep_live(s, st, queue, &list, msgs);
            if (used != NULL)
                *used = sub;
            if (*got > 0)
                return IPCQ_OK;
            continue;
        }
        natsMsgList_Destroy(&list);
        if (ns != NATS_OK && ns != NATS_TIMEOUT)
            last = ns;
        /* Nothing came: deleted (Q10), or shut down and drained (Q12)? */
        nats_look q;
        int look = nats_queue_look(s, st, queue, &q);
        if (look == IPCQ_ENOQUEUE) {
            drop_sub(st, s, queue);
            return client_fail(s, queue, IPCQ_EDELETED, NULL);
        }
        if (look == IPCQ_OK && q.shut)
            return client_fail(s, queue, IPCQ_ESHUTDOWN, NULL);
        s->error[0] = '\0'; /* a failed look: go on fetching */
        if (nats_now_ms() >= deadline) {
            if (last != NATS_TIMEOUT && nats_transient(last))
                return nats_fail(s, queue, last, 0);
            return client_fail(s, queue, IPCQ_EMPTY, NULL);
        }
        if (ns != NATS_OK && ns != NATS_TIMEOUT)
            nats_nap(ABSENT_POLL_MS, deadline); /* no server now: try again soon */
    }
}

int
nats_fetch_batch(ipcq_client *c, const char *queue, size_t max, int64_t timeout_ms, nats_state **st,
                 natsMsg ***msgs, size_t *got, nats_sub **used)
{
    *got = 0;
    *msgs = NULL;
    int rc = nats_state_get(c, st);
    if (rc != IPCQ_OK)
        return rc;
    if ((*msgs = calloc(max, sizeof **msgs)) == NULL)
        return client_fail(c, queue, IPCQ_ENOMEM, NULL);
    if ((rc = nats_fetch(c, *st, queue, max, timeout_ms, *msgs, got, used)) != IPCQ_OK) {
        free(*msgs);
        *msgs = NULL;
    }
    return rc;
}

/* Takes up to max items (waiting for the first only) and acknowledges them. */
int
nats_get_many(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
              size_t *got, int64_t timeout_ms)
{
    nats_state *st;
    natsMsg **msgs;
    size_t n;
    nats_sub *sub = NULL;
    int rc = nats_fetch_batch(c, queue, max, timeout_ms, &st, &msgs, &n, &sub);
    if (rc != IPCQ_OK)
        return rc;
    size_t copied = 0;
    while (rc == IPCQ_OK && copied < n &&
           (rc = nats_copy_item(c, queue, msgs[copied], &items[copied], &lens[copied])) == IPCQ_OK)
        copied++;
    for (size_t i = 0; i < n; i++) {
        if (rc == IPCQ_OK)
            nats_ack_in_order(st, msgs[i], i + 1 == n, sub->bounded); /* D1: confirmed at once */
        else
            natsMsg_Nak(msgs[i], NULL); /* back to the queue: nothing is lost */
        natsMsg_Destroy(msgs[i]);
    }
    free(msgs);
    if (rc != IPCQ_OK) {
        while (copied-- > 0)
            free(items[copied]);
        return rc;
    }
    *got = n;
    int64_t now = nats_now_ms();
    if (now - sub->tidied_ms >= TIDY_EVERY_MS) { /* after the acks: it may wait */
        char stream[NATS_STREAM_MAX + 1];
        nats_stream_name(queue, stream);
        nats_tidy(st, stream, &sub->bounded);
        sub->tidied_ms = now;
    }
    return IPCQ_OK;
}

int
nats_get(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms)
{
    size_t got;
    return nats_get_many(c, queue, 1, data, len, &got, timeout_ms);
}
