#include "lane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ipcq.h"
#include "ipcq.pb-c.h"
#include "lane_frame.h"
#include "list.h"
#include "log.h"
#include "table.h"

/* Bytes one read takes from a connection per readiness event: a busy
 * connection yields to the others between reads (epoll is level-triggered). */
#define READ_CHUNK (256 * 1024)
/* Connections one listener accepts per readiness event. */
#define ACCEPTS_PER_EVENT 64
/* An output buffer this small is kept while empty; a larger one is freed. */
#define KEEP_OUTPUT 1024
/* How long a listener that ran out of descriptors waits before it tries
 * again, if no connection of the lane closed first (another may have). */
#define ACCEPT_RETRY_US (100 * 1000)
/* A connection's record as --max-memory counts it: the struct, its slot in
 * the table, malloc's share. */
#define CONN_RECORD (sizeof(conn) + 64)

typedef enum watch_kind { WATCH_LISTENER, WATCH_CONN } watch_kind;

typedef struct listener {
    watch_kind kind; /* first: epoll's data points here */
    int fd;
    /* Out of descriptors: not watched until a connection closes, or until
     * ACCEPT_RETRY_US have passed. */
    bool paused;
    bool warned; /* said so, once until an accept succeeds again */
    int64_t paused_us;
    struct listener *next;
} listener;

typedef struct conn {
    watch_kind kind; /* first: epoll's data points here */
    int fd;
    unsigned char id[LANE_PEER_ID_LEN];
    frame_reader in;
    unsigned char *out; /* queued replies, framed: out[off..len) unsent */
    size_t out_off, out_len, out_cap;
    list_link pending; /* in lane->pending: output to write at the end of the pass */
    list_link doomed;  /* in lane->doomed: to close at the end of the pass */
    bool watching_out; /* EPOLLOUT on: the socket was full */
    size_t charged;    /* what the core counts for it (B2): record and buffers */
} conn;

struct lane {
    int epfd;
    broker *b;
    size_t max_message, output_bound;
    bind_policy policy;
    uid_t uid;
    listener *listeners;
    table conns; /* id -> conn */
    uint64_t next_serial;
    list_link pending, doomed;
    unsigned char *scratch; /* READ_CHUNK bytes: every read lands here */
};

lane *
lane_new(int epfd, size_t max_message, const bind_policy *policy)
{
    lane *l = calloc(1, sizeof *l);
    if (l == NULL || (l->scratch = malloc(READ_CHUNK)) == NULL) {
        free(l);
        return NULL;
    }
    l->epfd = epfd;
    l->max_message = max_message;
    l->output_bound =
        max_message > LANE_MIN_OUTPUT_BOUND / 4 ? max_message * 4 : LANE_MIN_OUTPUT_BOUND;
    l->policy = *policy;
    l->policy.curve_secret = NULL; /* not ours to keep */
    l->uid = geteuid();
    table_init(&l->conns);
    list_init(&l->pending);
    list_init(&l->doomed);
    return l;
}

void
lane_set_broker(lane *l, broker *b)
{
    l->b = b;
}

bool
lane_endpoint(const char *endpoint)
{
    return strncmp(endpoint, LANE_SCHEME, strlen(LANE_SCHEME)) == 0;
}

bool
lane_peer(const void *peer, size_t peer_len)
{
    return peer_len == LANE_PEER_ID_LEN && ((const unsigned char *)peer)[0] == BROKER_PEER_LINKED;
}

bool
lane_listening(const lane *l)
{
    return l->listeners != NULL;
}

static int
watch(lane *l, int op, int fd, void *data, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = data};
    return epoll_ctl(l->epfd, op, fd, &ev);
}

/* ---- listening ---------------------------------------------------------- */

int
lane_listen(lane *l, const char *endpoint, bound_endpoint *out, char *err, size_t cap)
{
    *out = (bound_endpoint){.lock_fd = -1};
    const char *path = endpoint + strlen(LANE_SCHEME);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, cap, "%s: path longer than %zu bytes", endpoint, sizeof addr.sun_path - 1);
        return -1;
    }
    if (bind_claim_path(endpoint, path, &l->policy, &out->lock_fd, err, cap) != 0)
        return -1;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    listener *ls = calloc(1, sizeof *ls);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* The socket file is owner-only from its birth. */
    mode_t old_mask = umask(0177);
    int rc = ls == NULL || fd < 0 ? -1 : bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int bind_err = errno;
    umask(old_mask);
    out->endpoint = strdup(endpoint);
    out->ipc_path = rc == 0 ? strdup(path) : NULL; /* unbind_endpoint removes it */
    if (rc != 0 || listen(fd, SOMAXCONN) != 0 || watch(l, EPOLL_CTL_ADD, fd, ls, EPOLLIN) != 0) {
        snprintf(err, cap, "%s: cannot listen: %s", endpoint, strerror(rc != 0 ? bind_err : errno));
        goto fail;
    }
    if (out->endpoint == NULL || out->ipc_path == NULL) {
        snprintf(err, cap, "%s: out of memory", endpoint);
        goto fail;
    }
    if (bind_grant_access(path, &l->policy, err, cap) != 0)
        goto fail;
    ls->kind = WATCH_LISTENER;
    ls->fd = fd;
    ls->next = l->listeners;
    l->listeners = ls;
    return 0;
fail:
    if (fd >= 0)
        close(fd); /* leaves the epoll set with it */
    free(ls);
    unbind_endpoint(out);
    return -1;
}

/* ---- connections -------------------------------------------------------- */

/* Marks c to be closed at the end of the pass; its sends fail from now. */
static void
doom(lane *l, conn *c, const char *why)
{
    if (list_linked(&c->doomed))
        return;
    log_msg(LOG_LEVEL_DEBUG, "unix connection %d closed: %s", c->fd, why);
    list_push_back(&l->doomed, &c->doomed);
}

static bool
is_doomed(const conn *c)
{
    return list_linked(&c->doomed);
}

/* Tells the core what c holds now: its record, its unfinished input, its
 * output buffer. They count against --max-memory (B2). */
static void
charge(lane *l, conn *c)
{
    size_t held = CONN_RECORD + c->in.cap + c->out_cap;
    if (held != c->charged && l->b != NULL)
        broker_transport_held(l->b, c->charged, held);
    c->charged = held;
}

/* Past --max-memory by more than one message (room for one large request
 * or reply in flight): a connection must not hold more. */
static bool
over_memory(const lane *l)
{
    return l->b != NULL && broker_memory_over(l->b, l->max_message);
}

/* B3: the broker's user, root, or with --group a member of that group (its
 * primary group, or one of its supplementary groups). */
static bool
peer_allowed(const lane *l, int fd, char *why, size_t cap)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        snprintf(why, cap, "permission denied: the peer's credentials cannot be read");
        return false;
    }
    if (cred.uid == l->uid || cred.uid == 0)
        return true;
    if (l->policy.has_group) {
        if (cred.gid == l->policy.group)
            return true;
        gid_t groups[256];
        len = sizeof groups;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
            for (size_t i = 0; i < len / sizeof groups[0]; i++)
                if (groups[i] == l->policy.group)
                    return true;
        snprintf(why, cap, "permission denied: uid %u is not the broker's user, nor in group %u",
                 (unsigned)cred.uid, (unsigned)l->policy.group);
    } else {
        snprintf(why, cap, "permission denied: uid %u is not the broker's user",
                 (unsigned)cred.uid);
    }
    return false;
}

/* One framed Reply{id 0, IPCQ_EACCESS} on a fresh socket, whose buffer has
 * room for it: written at once or not at all. */
static void
refuse(int fd, const char *why)
{
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = 0;
    r.status = IPCQ_EACCESS;
    r.error = (char *)why;
    unsigned char buf[LANE_FRAME_HEADER + 512];
    size_t n = ipcqwire__reply__get_packed_size(&r);
    if (n > sizeof buf - LANE_FRAME_HEADER)
        return;
    lane_frame_header(buf, (uint32_t)n);
    ipcqwire__reply__pack(&r, buf + LANE_FRAME_HEADER);
    if (send(fd, buf, LANE_FRAME_HEADER + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_msg(LOG_LEVEL_DEBUG, "cannot tell a refused peer why: %s", strerror(errno));
}

static void
add_conn(lane *l, int fd)
{
    char why[200];
    if (!peer_allowed(l, fd, why, sizeof why)) {
        log_msg(LOG_LEVEL_INFO, "unix connection refused: %s", why);
        refuse(fd, why);
        close(fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->kind = WATCH_CONN;
    c->fd = fd;
    uint64_t serial = ++l->next_serial;
    c->id[0] = BROKER_PEER_LINKED;
    for (int i = 0; i < 8; i++)
        c->id[1 + i] = (unsigned char)(serial >> (8 * i));
    frame_reader_init(&c->in, l->max_message);
    list_init(&c->pending);
    list_init(&c->doomed);
    if (!table_put(&l->conns, c->id, LANE_PEER_ID_LEN, c)) {
        close(fd);
        free(c);
        return;
    }
    if (watch(l, EPOLL_CTL_ADD, fd, c, EPOLLIN) != 0) {
        table_remove(&l->conns, c->id, LANE_PEER_ID_LEN);
        close(fd);
        free(c);
        return;
    }
    charge(l, c);
}

static void
accept_some(lane *l, listener *ls)
{
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            ls->warned = false;
            add_conn(l, fd);
            broker_peer_connected(l->b);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Level-triggered, the listener would wake the loop at once
             * again: it sleeps until a connection closes, or a while. */
            if (!ls->warned)
                log_msg(LOG_LEVEL_WARN,
                        "cannot accept a unix connection: %s; the others wait until one closes "
                        "(or %d ms)",
                        strerror(errno), ACCEPT_RETRY_US / 1000);
            ls->warned = true;
            if (watch(l, EPOLL_CTL_MOD, ls->fd, ls, 0) == 0) {
                ls->paused = true;
                ls->paused_us = clock_now_us();
            }
        }
        return; /* EAGAIN, or the connection went before it was taken */
    }
}

/* Watches the paused listeners again: with now_us INT64_MAX all of them
 * (a descriptor was freed), else those paused ACCEPT_RETRY_US ago. */
static void
resume_listeners(lane *l, int64_t now_us)
{
    for (listener *ls = l->listeners; ls != NULL; ls = ls->next)
        if (ls->paused && now_us - ls->paused_us >= ACCEPT_RETRY_US &&
            watch(l, EPOLL_CTL_MOD, ls->fd, ls, EPOLLIN) == 0)
            ls->paused = false;
}

int64_t
lane_next_wakeup_us(const lane *l)
{
    int64_t wake = INT64_MAX;
    for (const listener *ls = l->listeners; ls != NULL; ls = ls->next)
        if (ls->paused && ls->paused_us + ACCEPT_RETRY_US < wake)
            wake = ls->paused_us + ACCEPT_RETRY_US;
    return wake;
}

/* ---- input -------------------------------------------------------------- */

static bool
on_frame(void *ctx, const unsigned char *body, size_t len)
{
    void **pair = ctx;
    lane *l = pair[0];
    conn *c = pair[1];
    if (len == 0)
        broker_count_bad(l->b); /* N = 0: no request can be that */
    else
        broker_handle(l->b, c->id, LANE_PEER_ID_LEN, body, len, clock_now_us());
    return !is_doomed(c); /* cut off by a reply of its own: read no further */
}

static void
read_some(lane *l, conn *c)
{
    ssize_t n = recv(c->fd, l->scratch, READ_CHUNK, 0);
    if (n == 0) {
        doom(l, c, "end of file");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            doom(l, c, strerror(errno));
        return;
    }
    void *pair[2] = {l, c};
    size_t held_before = c->in.cap;
    frame_status st = frame_reader_feed(&c->in, l->scratch, (size_t)n, on_frame, pair);
    charge(l, c);
    switch (st) {
    case FRAME_OK:
        /* B2: an unfinished message may not grow past the memory limit. */
        if (c->in.cap > held_before && over_memory(l))
            doom(l, c, "its unfinished message would pass the memory limit (ipcqd --max-memory)");
        break;
    case FRAME_STOPPED:
        break;
    case FRAME_TOO_BIG:
        broker_count_bad(l->b);
        doom(l, c, "message over the size limit");
        break;
    case FRAME_NOMEM:
        doom(l, c, "out of memory");
        break;
    }
}

/* ---- output ------------------------------------------------------------- */

int
lane_send(lane *l, const void *peer, size_t peer_len, const void *data, size_t len)
{
    conn *c = table_get(&l->conns, peer, peer_len);
    if (c == NULL || is_doomed(c))
        return IPCQ_EUNAVAILABLE;
    size_t unsent = c->out_len - c->out_off;
    if (len > UINT32_MAX || unsent + LANE_FRAME_HEADER + len > l->output_bound) {
        doom(l, c, "slow reader: too many replies unread");
        return IPCQ_EUNAVAILABLE;
    }
    /* B2: replies pile up for a peer that does not read them (its socket
     * is full) while the broker is past its memory limit. */
    if (c->watching_out && over_memory(l)) {
        doom(l, c, "slow reader: replies unread past the memory limit (ipcqd --max-memory)");
        return IPCQ_EUNAVAILABLE;
    }
    size_t need = unsent + LANE_FRAME_HEADER + len;
    if (c->out_off > 0 && c->out_len + LANE_FRAME_HEADER + len > c->out_cap) {
        memmove(c->out, c->out + c->out_off, unsent);
        c->out_off = 0;
        c->out_len = unsent;
    }
    if (c->out_len + LANE_FRAME_HEADER + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 256;
        if (cap < need)
            cap = need;
        unsigned char *grown = realloc(c->out, cap);
        if (grown == NULL) {
            doom(l, c, "out of memory");
            return IPCQ_EUNAVAILABLE;
        }
        c->out = grown;
        c->out_cap = cap;
        charge(l, c);
    }
    lane_frame_header(c->out + c->out_len, (uint32_t)len);
    memcpy(c->out + c->out_len + LANE_FRAME_HEADER, data, len);
    c->out_len += LANE_FRAME_HEADER + len;
    if (!c->watching_out && !list_linked(&c->pending))
        list_push_back(&l->pending, &c->pending);
    return IPCQ_OK;
}

/* Writes what c is owed until it is all out or the socket is full; false
 * if the connection failed. */
static bool
write_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > KEEP_OUTPUT) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    return true;
}

/* Writes, then watches for room while anything is left. */
static void
flush(lane *l, conn *c)
{
    bool ok = write_out(c);
    charge(l, c); /* a large output buffer is freed once all is out */
    if (!ok) {
        doom(l, c, strerror(errno));
        return;
    }
    bool want = c->out_off < c->out_len;
    if (want != c->watching_out &&
        watch(l, EPOLL_CTL_MOD, c->fd, c, want ? EPOLLIN | EPOLLOUT : EPOLLIN) == 0)
        c->watching_out = want;
}

void
lane_event(lane *l, void *data, uint32_t events)
{
    if (*(watch_kind *)data == WATCH_LISTENER) {
        accept_some(l, data);
        return;
    }
    conn *c = data;
    if (is_doomed(c))
        return; /* closed at the end of this pass */
    if (events & EPOLLOUT)
        flush(l, c);
    if (!is_doomed(c) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_some(l, c);
}

/* ---- closing ------------------------------------------------------------ */

static void
conn_free(lane *l, conn *c)
{
    if (l->b != NULL)
        broker_transport_held(l->b, c->charged, 0);
    close(c->fd);
    frame_reader_free(&c->in);
    free(c->out);
    free(c);
}

void
lane_settle(lane *l)
{
    if (lane_next_wakeup_us(l) != INT64_MAX)
        resume_listeners(l, clock_now_us());
    while (!list_empty(&l->doomed) || !list_empty(&l->pending)) {
        list_link *link;
        while ((link = list_first(&l->doomed)) != NULL) {
            conn *c = LIST_ENTRY(link, conn, doomed);
            list_remove(&c->doomed);
            if (list_linked(&c->pending))
                list_remove(&c->pending);
            table_remove(&l->conns, c->id, LANE_PEER_ID_LEN);
            /* The peer is gone for the core too: its items go back (D1) and
             * its waiters are forgotten (D3), which may queue replies to
             * other connections. */
            broker_peer_lost(l->b, c->id, LANE_PEER_ID_LEN, clock_now_us());
            conn_free(l, c);
            resume_listeners(l, INT64_MAX);
        }
        while ((link = list_first(&l->pending)) != NULL) {
            conn *c = LIST_ENTRY(link, conn, pending);
            list_remove(&c->pending);
            flush(l, c);
        }
    }
}

void
lane_free(lane *l)
{
    if (l == NULL)
        return;
    void *v;
    for (size_t i = 0; table_next(&l->conns, &i, &v);) {
        conn *c = v;
        if (write_out(c) && c->out_off < c->out_len)
            log_msg(LOG_LEVEL_DEBUG, "unix connection %d closed with replies unsent", c->fd);
        conn_free(l, c);
    }
    table_free(&l->conns);
    while (l->listeners != NULL) {
        listener *ls = l->listeners;
        l->listeners = ls->next;
        close(ls->fd);
        free(ls);
    }
    free(l->scratch);
    free(l);
}
