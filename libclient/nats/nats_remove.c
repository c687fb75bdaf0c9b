/* How items leave a queue's stream: by ipcq's hand, not JetStream's.
 *
 * A queue's stream keeps its messages (limits retention) until ipcq deletes
 * or purges them once they are taken and acknowledged. Why not a
 * work-queue stream, where the ack itself removes the message: on a
 * replicated stream, nats-server 2.9.10 removes an acknowledged message on
 * each server when that server's copy of the consumer applies the ack, out
 * of step with the stream's own log, while each server also checks a new
 * message against MaxMsgs by its own count. Under churn on a bounded queue
 * the servers then disagreed: a message the leader stored was refused by a
 * follower, one the leader refused was stored by another, and their
 * sequences drifted apart (seen with per-server stream state after a few
 * hundred items through a bound-3 queue; items came out twice or not at
 * all). A delete or a purge is an entry of the stream's log, in the same
 * order on every server, so every server counts alike and takes the
 * leader's decision. (Fixed in nats-server 2.11 by proposing removals through the
 * stream's log, the same way.)
 *
 * Deleting each item costs a request the server works through much as a
 * put (ipcq-bench's async row fell to 0.34x the native client), so only a
 * bounded queue's items are deleted one by one as they are taken, and a
 * leased item's on its ack (leases end out of order); the rest go with a
 * purge below the consumer's ack floor, where every message is
 * acknowledged, that each getter runs every second or so (nats_tidy), and
 * a put that a full queue refuses runs too (nats_sweep): it also takes the
 * messages a lost delete left (a server lost, a taker killed between its
 * ack and its delete), which are out of qsize but counted by the bound. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nats_internal.h"

#define DELETE_API "$JS.API.STREAM.MSG.DELETE."
#define SWEEP_EVERY_MS 200 /* a handle's sweeps: at most one this often */
/* The wait for each of a purge's requests: housekeeping must not hold up
 * the call it rides on (a cluster without a leader answers nothing), and
 * one that finds no answer is done again at the next turn. */
#define PURGE_WAIT_MS 250

void
nats_remove_taken(nats_state *st, natsMsg *m)
{
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) != NATS_OK)
        return;
    char subject[sizeof DELETE_API + NATS_STREAM_MAX], body[64];
    size_t stream_len = strlen(md->Stream);
    if (stream_len <= NATS_STREAM_MAX) {
        memcpy(subject, DELETE_API, sizeof DELETE_API - 1);
        memcpy(subject + sizeof DELETE_API - 1, md->Stream, stream_len + 1);
        int n = snprintf(body, sizeof body, "{\"seq\":%" PRIu64 ",\"no_erase\":true}",
                         md->Sequence.Stream);
        (void)natsConnection_Publish(st->nc, subject, body, n);
    }
    jsMsgMetaData_Destroy(md);
}

/* Purges stream below its consumer's ack floor if there is anything
 * there; *max_msgs: the stream's bound (0: none), if it answered. */
static void
purge_acknowledged(nats_state *st, const char *stream, int64_t *max_msgs)
{
    jsConsumerInfo *ci = NULL;
    jsStreamInfo *si = NULL;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = PURGE_WAIT_MS;
    if (js_GetStreamInfo(&si, st->js, stream, &o, NULL) == NATS_OK) {
        if (max_msgs != NULL)
            *max_msgs = si->Config->MaxMsgs > 0 ? si->Config->MaxMsgs : 0;
        if (si->State.Msgs > 0 &&
            js_GetConsumerInfo(&ci, st->js, stream, NATS_CONSUMER, &o, NULL) == NATS_OK &&
            ci->AckFloor.Stream >= si->State.FirstSeq) {
            o.Stream.Purge.Sequence = ci->AckFloor.Stream + 1; /* below it: all acknowledged */
            (void)js_PurgeStream(st->js, stream, &o, NULL);
        }
    }
    jsConsumerInfo_Destroy(ci);
    jsStreamInfo_Destroy(si);
}

void
nats_sweep(nats_state *st, const char *stream)
{
    int64_t now = nats_now_ms(), last = atomic_load(&st->last_sweep_ms);
    if (now - last >= SWEEP_EVERY_MS &&
        atomic_compare_exchange_strong(&st->last_sweep_ms, &last, now))
        purge_acknowledged(st, stream, NULL);
}

void
nats_tidy(nats_state *st, const char *stream, bool *bounded)
{
    int64_t max_msgs = *bounded; /* unchanged if the stream does not answer */
    purge_acknowledged(st, stream, &max_msgs);
    *bounded = max_msgs > 0;
}
