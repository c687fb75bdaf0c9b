/* The nats:// handle's connection: made on the first call (an absent
 * cluster shows as IPCQ_EUNAVAILABLE then, not at open) to the first server
 * of the endpoint's list that answers (in the order listed, so that a
 * deployment chooses), reconnecting by itself to any server of the list; a forked child makes its
 * own and never touches its parent's (D4). Also: libnats statuses to ipcq's, and the clock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "nats_internal.h"

#define CONNECT_TIMEOUT_MS 2000
#define RECONNECT_WAIT_MS 100
#define MAX_SERVERS 16

#define LIB_CLOSE_WAIT_MS 5000
#define CLOSE_ANSWER_WAIT_MS 2000 /* close: how long async puts in flight are waited for */

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

/* libnats 3.4.1 starts process-wide threads with the first connection
 * (timers, callbacks, and the collector that frees every message: each
 * natsMsg_Destroy hands the message to it) and keeps them until nats_Close.
 * fork() copies none of them: a child forked while they run can use its own
 * connection, but frees no message it sends or receives (measured: ~0.5 KB
 * of memory per item, for good). So the last handle of a process to close
 * stops them (nats_CloseAndWait), and a fork after that starts clean; a
 * child forked while they ran says so once (docs/NATS.md, D4). Under
 * state_lock. */
static pid_t lib_owner;  /* the process in which libnats's threads run; 0: not started */
static pid_t users_of;   /* the process that lib_users counts for */
static size_t lib_users; /* its states that connected (or are connecting) */
static bool lib_warned;

/* A state of this process is about to connect. */
static void
lib_enter(void)
{
    pid_t me = client_process_pid();
    if (users_of != me) {
        users_of = me;
        lib_users = 0;
    }
    lib_users++;
    if (lib_owner == 0)
        lib_owner = me;
    else if (lib_owner != me && !lib_warned) {
        lib_warned = true;
        fprintf(stderr,
                "ipcq: nats:// in a child forked while libnats ran in its parent: libnats frees "
                "messages on a thread fork() does not copy, so this process's memory grows with "
                "every item; fork before the first nats:// call or after closing every handle, "
                "or exec the child (docs/NATS.md)\n");
    }
}

/* A state of this process let go of its connection (or failed to make it). */
static void
lib_leave(void)
{
    pid_t me = client_process_pid();
    if (users_of != me || lib_users == 0 || --lib_users > 0 || lib_owner != me)
        return;
    if (nats_CloseAndWait(LIB_CLOSE_WAIT_MS) == NATS_OK)
        lib_owner = 0;
}

int64_t
nats_now_ms(void)
{
    return clock_now_us() / 1000;
}

int64_t
nats_deadline(int64_t timeout_ms)
{
    return timeout_ms == IPCQ_FOREVER ? INT64_MAX : nats_now_ms() + timeout_ms;
}

void
nats_nap(int64_t ms, int64_t deadline)
{
    int64_t left = deadline - nats_now_ms();
    if (left < ms)
        ms = left > 0 ? left : 0;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool
nats_transient(natsStatus st)
{
    return st == NATS_TIMEOUT || st == NATS_NO_SERVER || st == NATS_CONNECTION_CLOSED ||
           st == NATS_CONNECTION_DISCONNECTED || st == NATS_STALE_CONNECTION ||
           st == NATS_NO_RESPONDERS || st == NATS_IO_ERROR;
}

int
nats_fail(ipcq_client *s, const char *queue, natsStatus st, jsErrCode jerr)
{
    int status;
    const char *why;
    if (jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr || st == NATS_NOT_FOUND) {
        status = IPCQ_ENOQUEUE;
        why = ipcq_strerror(status);
    } else if (jerr == JSStreamStoreFailedErr) {
        status = IPCQ_FULL;
        why = ipcq_strerror(status);
    } else if (jerr == JSStreamMessageExceedsMaximumErr || st == NATS_MAX_PAYLOAD) {
        status = IPCQ_ETOOBIG;
        why = "item over the cluster's max payload";
    } else if (nats_transient(st)) {
        status = IPCQ_EUNAVAILABLE;
        why = st == NATS_TIMEOUT ? "no answer from the NATS cluster in time"
                                 : "no NATS server reachable";
    } else {
        status = IPCQ_ESYSTEM;
        why = natsStatus_GetText(st);
    }
    char detail[400];
    if (status == IPCQ_ESYSTEM && jerr != 0)
        snprintf(detail, sizeof detail, "%s%sJetStream: %s (error %d)", queue ? queue : "",
                 queue ? ": " : "", why, (int)jerr);
    else
        snprintf(detail, sizeof detail, "%s%s%s", queue ? queue : "", queue ? ": " : "", why);
    return client_fail(s, NULL, status, detail);
}

/* "nats://h1:4222,h2:4222" into urls (each with its scheme): the count, 0
 * if the list is empty or too long. */
static int
split_servers(const char *endpoint, char *copy, size_t cap, const char **urls, char *with[])
{
    snprintf(copy, cap, "%s", endpoint + strlen("nats://"));
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_SERVERS || tok[0] == '\0')
            return 0;
        if (strncmp(tok, "nats://", 7) == 0) {
            urls[n++] = tok;
            continue;
        }
        if ((with[n] = malloc(strlen(tok) + 8)) == NULL)
            return 0;
        sprintf(with[n], "nats://%s", tok);
        urls[n] = with[n];
        n++;
    }
    return n;
}

static int
connect_state(ipcq_client *s, nats_state *st)
{
    char copy[4200];
    const char *urls[MAX_SERVERS];
    char *with[MAX_SERVERS] = {0};
    int n = split_servers(s->root->endpoint, copy, sizeof copy, urls, with);
    natsOptions *opts = NULL;
    natsStatus ns = NATS_ERR;
    /* libnats names inboxes from a process-wide generator that a forked
     * child inherits in the parent's state: the two would draw the same
     * names and receive each other's replies and fetched messages. A prefix
     * of the handle's own random nonce keeps them apart (D4). */
    char inbox[48];
    snprintf(inbox, sizeof inbox, "_INBOX.%016llx", (unsigned long long)st->msg_nonce);
    if (n == 0) {
        char detail[300];
        snprintf(detail, sizeof detail, "%.200s: a nats:// endpoint lists 1 to %d HOST:PORT",
                 s->root->endpoint, MAX_SERVERS);
        client_fail(s, NULL, IPCQ_EINVAL, detail);
        return IPCQ_EINVAL;
    }
    if ((ns = natsOptions_Create(&opts)) == NATS_OK &&
        (ns = natsOptions_SetServers(opts, urls, n)) == NATS_OK &&
        (ns = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS)) == NATS_OK &&
        (ns = natsOptions_SetMaxReconnect(opts, -1)) == NATS_OK &&
        (ns = natsOptions_SetReconnectWait(opts, RECONNECT_WAIT_MS)) == NATS_OK &&
        (ns = natsOptions_SetNoRandomize(opts, true)) == NATS_OK &&
        (ns = natsOptions_SetCustomInboxPrefix(opts, inbox)) == NATS_OK)
        ns = natsConnection_Connect(&st->nc, opts);
    natsOptions_Destroy(opts);
    for (int i = 0; i < n; i++)
        free(with[i]);
    if (ns == NATS_OK) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = NATS_REQUEST_MS;
        /* async puts go through a context of their own (nats_put.c); this
         * one has only those sent again after a full queue refused them */
        jo.PublishAsync.ErrHandler = nats_async_failed;
        jo.PublishAsync.ErrHandlerClosure = st;
        ns = natsConnection_JetStream(&st->js, st->nc, &jo);
    }
    if (ns != NATS_OK) {
        char detail[300];
        snprintf(detail, sizeof detail, "%.200s: no NATS server reachable (%s)", s->root->endpoint,
                 natsStatus_GetText(ns));
        if (st->nc != NULL)
            natsConnection_Destroy(st->nc);
        st->nc = NULL;
        return client_fail(s, NULL, IPCQ_EUNAVAILABLE, detail);
    }
    return IPCQ_OK;
}

int
nats_state_get(ipcq_client *s, nats_state **out)
{
    ipcq_client *root = s->root;
    pthread_mutex_lock(&state_lock);
    nats_state *st = root->backend_state;
    if (st != NULL && st->pid != client_process_pid())
        st = NULL; /* the parent's: its threads are not here; leave it be (D4) */
    if (st == NULL) {
        if ((st = calloc(1, sizeof *st)) == NULL) {
            pthread_mutex_unlock(&state_lock);
            return client_fail(s, NULL, IPCQ_ENOMEM, NULL);
        }
        st->pid = client_process_pid();
        pthread_mutex_init(&st->lock, NULL);
        pthread_cond_init(&st->keeper_wake, NULL);
        pthread_rwlock_init(&st->put_ctx_lock, NULL);
        if (getrandom(&st->msg_nonce, sizeof st->msg_nonce, 0) != sizeof st->msg_nonce)
            st->msg_nonce = (uint64_t)time(NULL) ^ (uint64_t)st->pid << 32;
        root->backend_state = st;
    }
    int rc = IPCQ_OK;
    if (st->nc == NULL) {
        lib_enter();
        if ((rc = connect_state(s, st)) != IPCQ_OK)
            lib_leave();
    }
    pthread_mutex_unlock(&state_lock);
    *out = st;
    return rc;
}

void
nats_state_close(ipcq_client *root)
{
    nats_state *st = root->backend_state;
    root->backend_state = NULL;
    if (st == NULL || st->pid != client_process_pid())
        return;
    nats_leases_free(st);
    if (st->js != NULL)
        (void)nats_puts_answered(st, CLOSE_ANSWER_WAIT_MS);
    if (st->put_ctx != NULL)
        jsCtx_Destroy(st->put_ctx);
    nats_subs_free(st);
    if (st->kv != NULL)
        kvStore_Destroy(st->kv);
    if (st->js != NULL)
        jsCtx_Destroy(st->js);
    if (st->nc != NULL) {
        natsConnection_Destroy(st->nc);
        pthread_mutex_lock(&state_lock);
        lib_leave();
        pthread_mutex_unlock(&state_lock);
    }
    pthread_cond_destroy(&st->keeper_wake);
    pthread_rwlock_destroy(&st->put_ctx_lock);
    pthread_mutex_destroy(&st->lock);
    free(st);
}
