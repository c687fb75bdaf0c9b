/*
 * The client handle: its connection to the broker (over the transport its
 * endpoint's scheme picked, transport.h), the request/reply engine and what
 * keeps it honest about the broker.
 *
 * - Every request has an id; a reply with another id is late (its caller
 *   gave up) and is dropped, or, if it carries items, handed back with a
 *   HAND_BACK so the items return to the queue head (Q11, D1).
 * - A reply with id 0 and a status other than IPCQ_OK is about the
 *   connection (a broker refusing this client says so, then closes it):
 *   the call fails with that status and text, and the next call connects
 *   anew. Id-0 replies with IPCQ_OK are probes, and ignored.
 * - While a call waits, a PING asking "do you still hold request N?" goes
 *   out after each quiet heartbeat interval; no answer, or "no", means the
 *   broker died or restarted, and the call fails IPCQ_EUNAVAILABLE (D7). A
 *   transport that sees the connection end (EOF) says so at once; the call
 *   fails the same way and the connection is closed.
 * - After fork() the child abandons the inherited connection and opens its
 *   own on first use (D4).
 */
#include "client.h"
#include "broker_ops.h"
#include "access.h"
#include "backend.h"
#include "transport.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "wire.h"

#define GRACE_MS 1000           /* round trip allowance over the broker's own timeout */
#define REQUEST_TIMEOUT_MS 5000 /* for requests that never wait in the broker */
#define CONNECT_TIMEOUT_MS 2000 /* how long a call waits for a broker to connect */
#define HEARTBEAT_MS 1000       /* quiet time before a waiting call pings */
#define PING_TIMEOUT_MS 2000    /* how long a ping may go unanswered */
#define LINGER_MS 500           /* close: time to flush confirmations */
#define DEFAULT_PUT_WINDOW 256  /* async puts in flight before put_async waits */
#define CLOSE_FLUSH_MS 2000     /* close: how long async puts may take to settle */
#define HUNG_UP_QUIET_US 1000   /* see drop_if_hung_up */

/* The broker's default max item size. A reply may be as large as this or
 * the broker's own limit (learned by ping), if larger, plus
 * IPCQ_MESSAGE_OVERHEAD; a transport refuses a larger one (IPCQ_EPROTO). */
#define DEFAULT_MAX_ITEM ((size_t)16 << 20)

/* getpid() is a system call (glibc no longer caches it), and every call
 * asks whether the handle was inherited through fork(): the pid is kept
 * here and refreshed in the child of each fork(). */
static pid_t process_pid;
static pthread_once_t process_pid_once = PTHREAD_ONCE_INIT;

static void
refresh_process_pid(void)
{
    process_pid = getpid();
}

static void
init_process_pid(void)
{
    refresh_process_pid();
    pthread_atfork(NULL, NULL, refresh_process_pid);
}

pid_t
client_process_pid(void)
{
    pthread_once(&process_pid_once, init_process_pid);
    return process_pid;
}

static int flush_locked(ipcq_client *c, int64_t timeout_ms);
static int await_replies(ipcq_client *c, uint64_t want_id, size_t async_target, int64_t deadline,
                         Ipcqwire__Reply **reply);
static int send_request(ipcq_client *c, Ipcqwire__Request *req, int64_t deadline_us);
static void init_request(ipcq_client *c, Ipcqwire__Request *req, Ipcqwire__Op op);

static void
abandon_inherited(ipcq_client *c)
{
    client_prefetch_free(c); /* the parent's leases: freed here, not handed back */
    client_batch_free(c);    /* the parent's puts: the parent sends them */
    if (c->conn != NULL)
        c->transport->abandon(c->conn);
    c->conn = NULL;
    c->pid = client_process_pid();
    c->ninflight = c->inflight_items = 0; /* their answers go to the parent */
    c->async_status = IPCQ_OK;
}

static void
init_lock(ipcq_client *c)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->lock, &attr);
    pthread_mutexattr_destroy(&attr);
}

void
client_lock(ipcq_client *c)
{
    if (c->pid != client_process_pid()) {
        /* The parent's flusher thread may have held the lock at fork()
         * time; it does not exist here, so the lock starts afresh. */
        init_lock(c);
        abandon_inherited(c);
    }
    pthread_mutex_lock(&c->lock);
}

void
client_unlock(ipcq_client *c)
{
    pthread_mutex_unlock(&c->lock);
}

int
client_fail(ipcq_client *c, const char *queue, int status, const char *detail)
{
    if (detail != NULL && detail[0] != '\0') {
        size_t n = strnlen(detail, sizeof c->error - 1);
        memcpy(c->error, detail, n);
        c->error[n] = '\0';
    } else if (queue != NULL)
        snprintf(c->error, sizeof c->error, "%s: %s", queue, ipcq_strerror(status));
    else
        snprintf(c->error, sizeof c->error, "%s", ipcq_strerror(status));
    return status;
}

/* A session with no connection yet (see client.h). */
static ipcq_client *
session_alloc(const char *endpoint, size_t window)
{
    ipcq_client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->endpoint = strdup(endpoint)) == NULL) {
        free(c);
        return NULL;
    }
    c->pid = client_process_pid();
    c->backend = backend_for(endpoint);
    c->transport = transport_for(endpoint);
    c->window = window;
    init_lock(c);
    return c;
}

ipcq_client *
client_session_new(ipcq_client *root)
{
    ipcq_client *c = session_alloc(root->endpoint, root->default_window);
    if (c == NULL)
        return NULL;
    c->root = root;
    /* Out of memory for the buffer, this thread's gets still work, one
     * request each. */
    (void)client_prefetch_setup(c, root->default_prefetch, root->default_prefetch_lease_ms);
    return c;
}

ipcq_status
ipcq_client_open(ipcq_client **out, const char *endpoint)
{
    *out = NULL;
    char buf[4200];
    if (endpoint == NULL) {
        if (ipcq_default_endpoint(buf, sizeof buf) != IPCQ_OK)
            return IPCQ_EINVAL;
        endpoint = buf;
    }
    if (endpoint[0] == '\0')
        return IPCQ_EINVAL;
    ipcq_client *c = session_alloc(endpoint, DEFAULT_PUT_WINDOW);
    if (c == NULL)
        return IPCQ_ENOMEM;
    c->default_window = DEFAULT_PUT_WINDOW;
    client_threads_init_root(c);
    *out = c;
    return IPCQ_OK;
}

/* A one-way CONFIRM not followed by any answer may still be unread when the
 * connection closes, and a broker that sees the peer gone first hands the
 * item out again. One round trip (a ping; answers come in order) makes
 * sure it was read, within LINGER_MS. */
static void
settle_confirms(ipcq_client *c)
{
    if (c->conn == NULL || c->pid != client_process_pid() || c->confirm_id <= c->answered_id)
        return;
    Ipcqwire__Request ping;
    init_request(c, &ping, IPCQWIRE__OP__OP_PING);
    int64_t deadline = clock_deadline_us(clock_now_us(), LINGER_MS);
    Ipcqwire__Reply *r = NULL;
    if (send_request(c, &ping, deadline) == IPCQ_OK &&
        await_replies(c, ping.id, 0, deadline, &r) == IPCQ_OK)
        ipcqwire__reply__free_unpacked(r, NULL);
}

/* Flushes and closes one session and frees it. */
static void
close_session(ipcq_client *c)
{
    client_lock(c); /* an inherited handle drops the parent's state here */
    client_unlock(c);
    client_batch_stop(c);
    c->error[0] = '\0';
    client_lock(c);
    flush_locked(c, CLOSE_FLUSH_MS); /* as multiprocessing.Queue's close + join_thread */
    client_unlock(c);
    settle_confirms(c);
    client_prefetch_free(c);
    client_batch_free(c);
    pthread_mutex_destroy(&c->lock);
    free(c->inflight);
    if (c->conn != NULL)
        c->transport->close(c->conn);
    free(c->endpoint);
    free(c);
}

void
client_handle_close(ipcq_client **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    ipcq_client *root = (*cp)->root;
    ipcq_client *others = client_sessions_detach(root);
    while (others != NULL) {
        ipcq_client *next = others->next_session;
        close_session(others);
        others = next;
    }
    close_session(root);
    *cp = NULL;
}

void
client_disconnect(ipcq_client *c)
{
    if (c == NULL || c->conn == NULL || c->pid != client_process_pid())
        return;
    client_lock(c);
    /* Async puts leave first; their answers would be lost with the socket. */
    if (client_batch_send(c) == IPCQ_OK && c->ninflight > 0)
        await_replies(c, 0, 0, clock_deadline_us(clock_now_us(), CLOSE_FLUSH_MS), NULL);
    if (c->conn != NULL)
        c->transport->close(c->conn);
    c->conn = NULL;
    client_unlock(c);
}

const char *
ipcq_client_error(const ipcq_client *c)
{
    const ipcq_client *s = client_session_found(c);
    return s ? s->error : "";
}

/* Async puts still in flight may or may not have been taken: say so,
 * with status and what (the next call reports it). */
static void
forget_in_flight(ipcq_client *c, int status, const char *what)
{
    c->broker_max_item = 0; /* the next broker may have another limit */
    if (c->inflight_items > 0 && c->async_status == IPCQ_OK) {
        c->async_status = status;
        snprintf(c->async_error, sizeof c->async_error, "%zu async puts unconfirmed %.440s",
                 c->inflight_items, what);
    }
    c->ninflight = c->inflight_items = 0;
}

static int
unavailable(ipcq_client *c, const char *why)
{
    forget_in_flight(c, IPCQ_EUNAVAILABLE, "when the broker became unavailable");
    char detail[600];
    snprintf(detail, sizeof detail, "%s: broker unavailable: %s", c->endpoint, why);
    return client_fail(c, NULL, IPCQ_EUNAVAILABLE, detail);
}

/* A request found no connection in time: refused by the broker (its
 * security handshake, IPCQ_EACCESS), or no broker there. */
static int
no_connection(ipcq_client *c)
{
    char why[400];
    if (c->transport->refusal == NULL || c->transport->refusal(c->conn, why, sizeof why) == IPCQ_OK)
        return unavailable(c, "no connection");
    forget_in_flight(c, IPCQ_EACCESS, "when the broker refused this client");
    char detail[600];
    snprintf(detail, sizeof detail, "%s: permission denied: %s", c->endpoint, why);
    return client_fail(c, NULL, IPCQ_EACCESS, detail);
}

/* Closes the connection; the next call opens a new one. */
static void
drop_connection(ipcq_client *c)
{
    if (c->conn != NULL)
        c->transport->close(c->conn);
    c->conn = NULL;
}

/* The broker ended the connection with r, a reply with id 0 and an error
 * (it refused this client): the call fails with its status and text. */
static int
refused(ipcq_client *c, Ipcqwire__Reply *r)
{
    int status = r->status;
    char text[512];
    snprintf(text, sizeof text, "%s",
             r->error != NULL && r->error[0] != '\0' ? r->error : ipcq_strerror(status));
    ipcqwire__reply__free_unpacked(r, NULL);
    drop_connection(c);
    char what[600];
    snprintf(what, sizeof what, "when the broker refused the connection: %s", text);
    forget_in_flight(c, status, what);
    return client_fail(c, NULL, status, text);
}

/* The transport reported the connection unusable (rc: IPCQ_EPROTO for a
 * message over the limit, anything else lost): it is closed. */
static int
connection_lost(ipcq_client *c, int rc)
{
    drop_connection(c);
    if (rc != IPCQ_EPROTO)
        return unavailable(c, "connection lost");
    forget_in_flight(c, IPCQ_EPROTO, "when the broker broke the protocol");
    char detail[600];
    snprintf(detail, sizeof detail, "%s: protocol error: a message over the size limit",
             c->endpoint);
    return client_fail(c, NULL, IPCQ_EPROTO, detail);
}

static Ipcqwire__Reply *receive_reply(ipcq_client *c, int wait_ms, int *rc);
static bool settle_async(ipcq_client *c, const Ipcqwire__Reply *r);

/* A connection the broker closed while the handle was idle (a restart,
 * D7) is dropped before the next call, after reading what the broker sent
 * before it went, so that the call goes out on a new connection instead of
 * failing on the old one. A connection that had a reply within the last
 * HUNG_UP_QUIET_US is not asked (that costs a system call a request): a
 * broker that went away so recently fails the call EUNAVAILABLE, as it
 * would a call made a moment earlier. */
static void
drop_if_hung_up(ipcq_client *c)
{
    if (c->conn == NULL || c->transport->hung_up == NULL ||
        clock_now_us() - c->last_reply_us < HUNG_UP_QUIET_US || !c->transport->hung_up(c->conn))
        return;
    int rc;
    Ipcqwire__Reply *r;
    while ((r = receive_reply(c, 0, &rc)) != NULL || rc == IPCQ_OK) {
        if (r != NULL)
            settle_async(c, r);
        ipcqwire__reply__free_unpacked(r, NULL);
    }
    forget_in_flight(c, IPCQ_EUNAVAILABLE, "when the broker became unavailable");
    drop_connection(c);
}

int
client_connect(ipcq_client *c)
{
    if (c->pid != client_process_pid())
        abandon_inherited(c);
    drop_if_hung_up(c);
    if (c->conn != NULL)
        return IPCQ_OK;
    client_keys keys;
    int rc = client_access_prepare(c, &keys);
    if (rc != IPCQ_OK)
        return rc;
    c->broker_max_item = 0;
    char why[600];
    rc = c->transport->connect(c->endpoint, &keys, &c->conn, why, sizeof why);
    if (rc == IPCQ_EUNAVAILABLE)
        return unavailable(c, why);
    if (rc != IPCQ_OK) {
        c->conn = NULL;
        return client_fail(c, NULL, rc, why);
    }
    return IPCQ_OK;
}

/* The largest message the broker may send: its max item size and room for
 * the rest of a reply (the default size until a ping told it). */
static size_t
max_message(const ipcq_client *c)
{
    size_t item = c->broker_max_item > DEFAULT_MAX_ITEM ? c->broker_max_item : DEFAULT_MAX_ITEM;
    return item + IPCQ_MESSAGE_OVERHEAD;
}

/* Reads one reply, waiting up to wait_ms for it. NULL if none came or it
 * was unreadable; *rc says which (IPCQ_OK: unreadable) or that the
 * connection is gone. */
static Ipcqwire__Reply *
receive_reply(ipcq_client *c, int wait_ms, int *rc)
{
    const void *data;
    size_t len;
    if (c->conn == NULL) { /* closed while a late reply was handed back */
        *rc = IPCQ_EUNAVAILABLE;
        return NULL;
    }
    *rc = c->transport->receive(c->conn, wait_ms, max_message(c), &data, &len);
    if (*rc != IPCQ_OK)
        return NULL;
    Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, len, data);
    if (r != NULL && r->id > c->answered_id && r->id <= c->next_id)
        c->answered_id = r->id;
    if (c->transport->hung_up != NULL)
        c->last_reply_us = clock_now_us();
    return r;
}

/* A send found the connection gone. A broker that refused this client
 * said why before it closed the connection: that reply, if it came, is
 * the answer; replies to async puts that came before are settled. */
static int
send_failed(ipcq_client *c)
{
    int rc;
    Ipcqwire__Reply *r;
    while ((r = receive_reply(c, 0, &rc)) != NULL || rc == IPCQ_OK) {
        if (r != NULL && r->id == 0 && r->status != IPCQ_OK)
            return refused(c, r);
        if (r != NULL)
            settle_async(c, r);
        ipcqwire__reply__free_unpacked(r, NULL);
    }
    return connection_lost(c, IPCQ_EUNAVAILABLE);
}

/* Sends req. IPCQ_OK; IPCQ_ETIMEDOUT: not sent (no broker connected in
 * time, or no room), the connection as it was; else the connection is gone
 * and closed, and the status and error text say why. */
static int
send_request(ipcq_client *c, Ipcqwire__Request *req, int64_t deadline_us)
{
    unsigned char small[512];
    size_t len = ipcqwire__request__get_packed_size(req);
    unsigned char *buf = len <= sizeof small ? small : malloc(len);
    if (buf == NULL)
        return IPCQ_ETIMEDOUT;
    ipcqwire__request__pack(req, buf);
    int rc = c->transport->send(c->conn, buf, len, deadline_us);
    if (buf != small)
        free(buf);
    if (rc == IPCQ_OK || rc == IPCQ_ETIMEDOUT || rc == IPCQ_ETOOBIG)
        return rc == IPCQ_OK ? IPCQ_OK : IPCQ_ETIMEDOUT;
    return send_failed(c);
}

static void
init_request(ipcq_client *c, Ipcqwire__Request *req, Ipcqwire__Op op)
{
    ipcqwire__request__init(req);
    req->version = IPCQ_PROTOCOL_VERSION;
    req->id = ++c->next_id;
    req->op = op;
}

void
client_send_oneway(ipcq_client *c, Ipcqwire__Request *req)
{
    client_lock(c);
    if (client_connect(c) == IPCQ_OK) {
        req->version = IPCQ_PROTOCOL_VERSION;
        req->id = ++c->next_id;
        if (send_request(c, req, clock_now_us()) == IPCQ_OK && req->op == IPCQWIRE__OP__OP_CONFIRM)
            c->confirm_id = req->id;
    }
    client_unlock(c);
}

void
client_send_tags(ipcq_client *c, Ipcqwire__Op op, uint64_t *tags, size_t n)
{
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.op = op;
    req.n_tags = n;
    req.tags = tags;
    client_send_oneway(c, &req);
}

void
client_send_item_tags(ipcq_client *c, Ipcqwire__Op op, const Ipcqwire__Reply *r)
{
    if (r->n_items == 0)
        return;
    uint64_t one, *tags = r->n_items == 1 ? &one : malloc(r->n_items * sizeof *tags);
    if (tags == NULL)
        return; /* without memory to say so, the session's end returns them */
    for (size_t i = 0; i < r->n_items; i++)
        tags[i] = r->items[i]->tag;
    client_send_tags(c, op, tags, r->n_items);
    if (tags != &one)
        free(tags);
}

void
client_release_items(ipcq_client *c, const Ipcqwire__Reply *late)
{
    client_send_item_tags(c, IPCQWIRE__OP__OP_HAND_BACK, late);
}

static void
cancel_request(ipcq_client *c, uint64_t id)
{
    Ipcqwire__Request cancel;
    init_request(c, &cancel, IPCQWIRE__OP__OP_CANCEL);
    cancel.has_pending_id = 1;
    cancel.pending_id = id;
    send_request(c, &cancel, clock_now_us());
}

static bool
async_in_flight(const ipcq_client *c, uint64_t id)
{
    for (size_t i = 0; i < c->ninflight; i++)
        if (c->inflight[i].id == id)
            return true;
    return false;
}

/* A reply to one of the async puts in flight: settles it, keeping the first
 * error for flush or the next call. False if r answers something else. */
static bool
settle_async(ipcq_client *c, const Ipcqwire__Reply *r)
{
    for (size_t i = 0; i < c->ninflight; i++) {
        if (c->inflight[i].id != r->id)
            continue;
        c->inflight_items -= c->inflight[i].items;
        /* Keep the oldest first: a heartbeat asks about inflight[0]. */
        memmove(&c->inflight[i], &c->inflight[i + 1], (--c->ninflight - i) * sizeof *c->inflight);
        if (r->status != IPCQ_OK && c->async_status == IPCQ_OK) {
            c->async_status = r->status;
            const char *text = r->error && r->error[0] ? r->error : ipcq_strerror(r->status);
            snprintf(c->async_error, sizeof c->async_error, "%s", text);
        }
        return true;
    }
    return false;
}

/* Receives until the reply to want_id arrives (want_id != 0; it is handed
 * over in *reply) or, with want_id 0, until at most async_target async puts
 * are in flight; fails IPCQ_EUNAVAILABLE at deadline_us or when heartbeats
 * show the broker gone. Replies to async puts are settled on the way, late
 * replies handed back. */
static int
await_replies(ipcq_client *c, uint64_t want_id, size_t async_target, int64_t deadline,
              Ipcqwire__Reply **reply)
{
    int64_t last_heard = clock_now_us();
    uint64_t ping_id = 0, asked = 0;
    int64_t ping_sent = 0;
    for (;;) {
        if (want_id == 0 && c->inflight_items <= async_target)
            return IPCQ_OK;
        int64_t now = clock_now_us();
        if (now >= deadline && want_id == 0) /* flush: puts still wait for room */
            return client_fail(c, NULL, IPCQ_ETIMEDOUT, "async puts still in flight");
        if (now >= deadline) {
            cancel_request(c, want_id);
            return unavailable(c, "no answer in time");
        }
        if (ping_id != 0 && now - ping_sent >= PING_TIMEOUT_MS * 1000) {
            if (want_id != 0)
                cancel_request(c, want_id);
            return unavailable(c, "no answer to a heartbeat");
        }
        if (ping_id == 0 && now - last_heard >= HEARTBEAT_MS * 1000) {
            /* Is the broker alive, and does it still hold the request? */
            /* A flush asks about one of its puts in flight: answers come in
             * order, so one that is neither answered before the pong nor
             * still waiting in the broker was lost. */
            asked = want_id != 0 ? want_id : c->ninflight ? c->inflight[0].id : 0;
            Ipcqwire__Request ping;
            init_request(c, &ping, IPCQWIRE__OP__OP_PING);
            ping.has_pending_id = asked != 0;
            ping.pending_id = asked;
            ping_id = ping.id;
            ping_sent = now;
            int rc = send_request(c, &ping, now);
            if (rc == IPCQ_ETIMEDOUT)
                return unavailable(c, "connection lost");
            if (rc != IPCQ_OK)
                return rc;
        }
        int64_t wake =
            ping_id ? ping_sent + PING_TIMEOUT_MS * 1000 : last_heard + HEARTBEAT_MS * 1000;
        if (deadline < wake)
            wake = deadline;
        int64_t wait_ms = (wake - now + 999) / 1000;
        int rc;
        Ipcqwire__Reply *r = receive_reply(c,
                                           wait_ms <= 0        ? 0
                                           : wait_ms > INT_MAX ? INT_MAX
                                                               : (int)wait_ms,
                                           &rc);
        for (; r != NULL; r = receive_reply(c, 0, &rc)) {
            last_heard = clock_now_us();
            if (r->id == 0 && r->status != IPCQ_OK)
                return refused(c, r);
            if (want_id != 0 && r->id == want_id) {
                *reply = r;
                return IPCQ_OK;
            }
            if (ping_id != 0 && r->id == ping_id) {
                bool lost = r->has_pending && !r->pending &&
                            (asked == want_id || async_in_flight(c, asked));
                ping_id = 0;
                ipcqwire__reply__free_unpacked(r, NULL);
                if (lost)
                    return unavailable(c, "the broker no longer holds the request (restarted?)");
                continue;
            }
            if (!settle_async(c, r))
                client_release_items(c, r);
            ipcqwire__reply__free_unpacked(r, NULL);
            if (want_id == 0 && c->inflight_items <= async_target)
                return IPCQ_OK;
        }
        if (rc != IPCQ_OK && rc != IPCQ_ETIMEDOUT)
            return connection_lost(c, rc);
    }
}

static int
call_locked(ipcq_client *c, Ipcqwire__Request *req, int64_t wait_ms, Ipcqwire__Reply **reply)
{
    int rc = client_connect(c);
    if (rc == IPCQ_OK)
        rc = client_batch_send(c); /* async puts go first, in call order */
    if (rc != IPCQ_OK)
        return rc;
    int64_t now = clock_now_us();
    int64_t deadline = wait_ms < 0    ? INT64_MAX
                       : wait_ms == 0 ? clock_deadline_us(now, REQUEST_TIMEOUT_MS)
                                      : clock_deadline_us(now, wait_ms + GRACE_MS);
    int64_t connect_deadline = clock_deadline_us(now, CONNECT_TIMEOUT_MS);
    if (deadline < connect_deadline)
        connect_deadline = deadline;
    req->version = IPCQ_PROTOCOL_VERSION;
    req->id = ++c->next_id;
    rc = send_request(c, req, connect_deadline);
    if (rc == IPCQ_ETIMEDOUT)
        return no_connection(c);
    if (rc != IPCQ_OK)
        return rc;
    return await_replies(c, req->id, 0, deadline, reply);
}

int
client_call(ipcq_client *c, Ipcqwire__Request *req, int64_t wait_ms, Ipcqwire__Reply **reply)
{
    *reply = NULL;
    client_lock(c);
    int rc = call_locked(c, req, wait_ms, reply);
    client_unlock(c);
    return rc;
}

int
client_await_window(ipcq_client *c, size_t target)
{
    if (c->inflight_items <= target)
        return IPCQ_OK;
    return await_replies(c, 0, target, INT64_MAX, NULL);
}

void
client_settle_arrived(ipcq_client *c)
{
    Ipcqwire__Reply *r;
    int rc = IPCQ_OK;
    while (c->ninflight > 0 && c->conn != NULL && (r = receive_reply(c, 0, &rc)) != NULL) {
        if (r->id == 0 && r->status != IPCQ_OK) {
            refused(c, r); /* the puts' loss is reported by the next call */
            return;
        }
        if (!settle_async(c, r))
            client_release_items(c, r);
        ipcqwire__reply__free_unpacked(r, NULL);
    }
    if (rc != IPCQ_OK && rc != IPCQ_ETIMEDOUT)
        connection_lost(c, rc);
}

int
client_send_async(ipcq_client *c, Ipcqwire__Request *req, size_t nitems)
{
    int rc = client_connect(c);
    if (rc != IPCQ_OK)
        return rc;
    if (c->ninflight == c->inflight_cap) {
        size_t cap = c->inflight_cap ? c->inflight_cap * 2 : 64;
        inflight_put *grown = realloc(c->inflight, cap * sizeof *grown);
        if (grown == NULL)
            return client_fail(c, NULL, IPCQ_ENOMEM, NULL);
        c->inflight = grown;
        c->inflight_cap = cap;
    }
    req->version = IPCQ_PROTOCOL_VERSION;
    req->id = ++c->next_id;
    rc = send_request(c, req, clock_deadline_us(clock_now_us(), CONNECT_TIMEOUT_MS));
    if (rc == IPCQ_ETIMEDOUT)
        return no_connection(c);
    if (rc != IPCQ_OK)
        return rc;
    c->inflight[c->ninflight++] = (inflight_put){req->id, nitems};
    c->inflight_items += nitems;
    return IPCQ_OK;
}

int
client_take_async_error(ipcq_client *c)
{
    int status = c->async_status;
    if (status != IPCQ_OK) {
        client_fail(c, NULL, status, c->async_error);
        c->async_status = IPCQ_OK;
    }
    return status;
}

static int
flush_locked(ipcq_client *c, int64_t timeout_ms)
{
    int rc = client_batch_send(c);
    if (rc == IPCQ_OK && c->ninflight > 0)
        rc = await_replies(c, 0, 0, clock_deadline_us(clock_now_us(), timeout_ms), NULL);
    if (rc == IPCQ_EUNAVAILABLE)
        c->async_status = IPCQ_OK; /* the loss of the puts is reported here */
    if (rc != IPCQ_OK)
        return rc;
    return client_take_async_error(c);
}

int
broker_flush(ipcq_client *c, int64_t timeout_ms)
{
    if (c == NULL || timeout_ms < IPCQ_FOREVER)
        return IPCQ_EINVAL;
    c = client_session(c);
    c->error[0] = '\0';
    client_lock(c);
    int rc = flush_locked(c, timeout_ms);
    client_unlock(c);
    return rc;
}

int
broker_set_put_window(ipcq_client *c, size_t window)
{
    if (c == NULL || window == 0 || window > IPCQ_MAX_WINDOW)
        return IPCQ_EINVAL;
    c->root->default_window = window; /* for threads that start using it later */
    client_session(c)->window = window;
    return IPCQ_OK;
}
