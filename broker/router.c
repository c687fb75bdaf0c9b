#include "router.h"

#include <errno.h>
#include <sched.h>
#include <malloc.h>
#include <limits.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bind.h"
#include "clock.h"
#include "ipcq.h"
#include "lane.h"
#include "log.h"
#include "wire.h"
#include "zap.h"

/* Requests libzmq may read ahead from one client before the loop takes
 * them: the --max-memory limit does not see them, so few are let in, and
 * a client with more in flight waits in its own send (its async puts
 * travel 64 to a request). Replies may queue far deeper (IPCQ_PEER_HWM):
 * a reply that finds its peer's queue full is lost. */
#define REQUESTS_READ_AHEAD 32

/* How many messages one pass reads before it looks at the clock again. */
#define MESSAGES_PER_PASS 256
/* After SIGINT/SIGTERM the broker answers every blocked client, then keeps
 * serving this long (new requests get "broker shutting down") before it
 * closes: a client that set ZMQ_IMMEDIATE loses unread messages when its
 * connection drops, so replies must be read before the broker goes. */
#define STOP_DRAIN_MS 200

/* Where replies go: the ROUTER, with a count of the replies sent through it
 * (which tells the loop whether a send may have swallowed the wake-up of its
 * ZMQ_FD), or the unix:// lane. */
typedef struct router_out {
    void *sock;
    uint64_t sent;
    lane *lane;
} router_out;

/* broker_send_fn: a lane peer's reply to its connection, any other over the
 * ROUTER as [routing id][reply]. With ZMQ_ROUTER_MANDATORY an unknown peer
 * fails at once instead of vanishing. */
static int
router_send(void *ctx, const void *peer, size_t peer_len, const void *data, size_t len)
{
    router_out *out = ctx;
    if (lane_peer(peer, peer_len))
        return lane_send(out->lane, peer, peer_len, data, len);
    out->sent++;
    if (zmq_send(out->sock, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return IPCQ_EUNAVAILABLE;
    if (zmq_send(out->sock, data, len, ZMQ_DONTWAIT) < 0)
        return IPCQ_EUNAVAILABLE;
    return IPCQ_OK;
}

static void
drain_frames(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
    }
}

/* Reads one [routing id][request] message; false when none is waiting. */
static bool
receive_one(void *sock, broker *b)
{
    zmq_msg_t peer, body;
    zmq_msg_init(&peer);
    if (zmq_msg_recv(&peer, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&peer);
        return false;
    }
    zmq_msg_init(&body);
    const unsigned char *id = zmq_msg_data(&peer);
    if (!zmq_msg_more(&peer) || zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0 ||
        zmq_msg_more(&body) || (zmq_msg_size(&peer) > 0 && id[0] == BROKER_PEER_LINKED)) {
        /* Not one request frame, or a routing id a client chose in the
         * lane's form (libzmq's own start with 0): dropped and counted. */
        drain_frames(sock);
        broker_count_bad(b);
    } else {
        broker_handle(b, zmq_msg_data(&peer), zmq_msg_size(&peer), zmq_msg_data(&body),
                      zmq_msg_size(&body), clock_now_us());
    }
    zmq_msg_close(&body);
    zmq_msg_close(&peer);
    return true;
}

/* The ROUTER's monitor reports closed connections; ZeroMQ tells nothing
 * else about peers leaving (or about a frame over ZMQ_MAXMSGSIZE, which
 * closes its connection before the broker sees a byte). */
#define MONITOR_ENDPOINT "inproc://ipcqd-monitor"

static void *
open_monitor(void *ctx, void *sock)
{
    if (zmq_socket_monitor(sock, MONITOR_ENDPOINT, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) !=
        0)
        return NULL;
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    if (mon != NULL && zmq_connect(mon, MONITOR_ENDPOINT) != 0) {
        zmq_close(mon);
        return NULL;
    }
    return mon;
}

/* Reads the monitor's pending events: [event id (16 bits) + value][endpoint]. */
static void
read_monitor(void *mon, broker *b)
{
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    uint16_t event = 0;
    while (zmq_msg_recv(&frame, mon, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_more(&frame)) { /* the first frame */
            if (zmq_msg_size(&frame) >= sizeof event)
                memcpy(&event, zmq_msg_data(&frame), sizeof event);
            continue;
        }
        if (event == ZMQ_EVENT_ACCEPTED)
            broker_peer_connected(b);
        else if (event == ZMQ_EVENT_DISCONNECTED)
            broker_peer_disconnected(b, clock_now_us());
        event = 0;
    }
    zmq_msg_close(&frame);
}

/* The file descriptor through which ZeroMQ signals a socket's events. It is
 * edge-triggered: it is re-armed only by a receive that finds nothing (or a
 * ZMQ_EVENTS read), so the loop reads until then before it sleeps. */
static int
socket_fd(void *sock)
{
    int fd = -1;
    size_t sz = sizeof fd;
    zmq_getsockopt(sock, ZMQ_FD, &fd, &sz);
    return fd;
}

static bool
has_message(void *sock)
{
    int events = 0;
    size_t sz = sizeof events;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) == 0 && (events & ZMQ_POLLIN);
}

/* Each client holds a file descriptor, and libzmq aborts the process when
 * accept() fails for want of one: the soft limit goes up to the hard one. */
static void
raise_open_files_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_msg(LOG_LEVEL_WARN, "cannot raise the open files limit from %llu: %s",
                (unsigned long long)was, strerror(errno));
}

/* Gives freed memory back to the system once the broker holds TRIM_SLACK
 * less than at its peak since the last time: after a large queue is drained
 * or many queues deleted, glibc would otherwise keep the pages. Done only
 * when the loop is about to sleep. */
#define TRIM_SLACK ((size_t)16 << 20)

static void
trim_if_shrunk(const broker *b, size_t *peak)
{
    size_t held = broker_memory_held(b);
    if (held > *peak)
        *peak = held;
    else if (*peak - held >= TRIM_SLACK) {
        malloc_trim(0);
        *peak = held;
    }
}

static long
poll_timeout_ms(const broker *b)
{
    int64_t wake = broker_next_wakeup_us(b);
    if (wake == INT64_MAX)
        return -1;
    int64_t wait_us = wake - clock_now_us();
    if (wait_us <= 0)
        return 0;
    return (long)((wait_us + 999) / 1000); /* round up: never wake early */
}

static void *
open_router(void *ctx, const broker_config *core)
{
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    if (sock == NULL)
        return NULL;
    int one = 1, linger_ms = 1000;
    int64_t max_msg = (int64_t)core->max_item_size + IPCQ_MESSAGE_OVERHEAD;
    int hwm = IPCQ_PEER_HWM, in_hwm = REQUESTS_READ_AHEAD;
    zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &in_hwm, sizeof in_hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    return sock;
}

/* Blocks SIGINT and SIGTERM (before libzmq starts its threads, which inherit
 * the mask) and returns a signalfd that reads them; -1 on failure. */
static int
stop_signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Where each epoll entry's data points: one of these markers, or a socket
 * of the lane. */
static char zmq_mark, monitor_mark, signal_mark;

#define EVENTS_PER_WAIT 256

/* The readiness loop's state: the ROUTER and its monitor, the stop signals,
 * the lane's sockets, all in one epoll set, and the core they feed. */
typedef struct loop {
    void *sock, *mon;
    int sig_fd, epfd;
    broker *b;
    router_out *out;
    lane *lane;
    size_t peak_held;
    bool monitor_due;
    int64_t spin_us; /* router_config.spin_us */
} loop;

static int
add_watch(int epfd, int fd, void *mark)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = mark};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* How long the loop may sleep: until the core's next wake-up, and no later
 * than until_us (INT64_MAX: no bound). */
static int
sleep_ms(loop *lp, int64_t until_us)
{
    trim_if_shrunk(lp->b, &lp->peak_held);
    long ms = poll_timeout_ms(lp->b);
    int64_t lane_wake = lane_next_wakeup_us(lp->lane);
    if (lane_wake < until_us)
        until_us = lane_wake;
    if (until_us != INT64_MAX) {
        int64_t left_us = until_us - clock_now_us();
        long left = left_us <= 0 ? 0 : (long)((left_us + 999) / 1000);
        if (ms < 0 || ms > left)
            ms = left;
    }
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Passes of the loop until SIGINT/SIGTERM (with watch_signals; without, they
 * are read and ignored) or until until_us. Each pass reads the ROUTER, when
 * it may hold messages, until it is empty (ZMQ_FD is edge-triggered: it is re-armed only by a
 * receive that finds nothing, or a ZMQ_EVENTS read), runs the core's clock, settles the lane
 * (closes what must go, writes replies), then sleeps in epoll_wait and handles what woke it.
 * Returns 0, or 1 after a failed wait. */
static int
serve(loop *lp, int64_t until_us, bool watch_signals)
{
    struct epoll_event events[EVENTS_PER_WAIT];
    /* Whether the ROUTER must be read this pass: its fd fired, the last pass
     * stopped before it was empty, or a reply went out through it since it
     * was last found empty (a send may swallow the fd's wake-up). Reading it
     * otherwise costs libzmq two system calls a pass, which the lane's
     * passes do not need. */
    bool zmq_due = true;
    bool active = false; /* the last wait returned events: spin before the next sleep */
    uint64_t sent_seen = lp->out->sent;
    for (;;) {
        int read_now = 0;
        if (zmq_due || lp->out->sent != sent_seen)
            while (read_now < MESSAGES_PER_PASS && receive_one(lp->sock, lp->b))
                read_now++;
        uint64_t sent_after_read = sent_seen = lp->out->sent;
        if (lp->monitor_due) {
            read_monitor(lp->mon, lp->b);
            lp->monitor_due = false;
        }
        broker_tick(lp->b, clock_now_us());
        broker_commit(lp->b, clock_now_us()); /* a durable broker's replies leave now */
        lane_settle(lp->lane);
        if (until_us != INT64_MAX && clock_now_us() >= until_us)
            return 0;
        /* More to read, or a reply sent since the last empty read may have
         * taken the socket's wake-up with it: look, but do not sleep. */
        bool busy = read_now == MESSAGES_PER_PASS ||
                    (lp->out->sent != sent_after_read && has_message(lp->sock));
        sent_seen = lp->out->sent;
        zmq_due = busy;
        if (busy && !lane_listening(lp->lane))
            continue; /* ZeroMQ alone: no system call between passes */
        int n = epoll_wait(lp->epfd, events, EVENTS_PER_WAIT,
                           busy || active ? 0 : sleep_ms(lp, until_us));
        if (n == 0 && !busy && active) {
            /* A synchronous client's next request usually comes within tens
             * of microseconds of its reply, and waking a broker that went to
             * sleep costs more than that on a small virtual machine (it is
             * most of a strict round trip): look again for up to spin_us
             * before sleeping. Only after a pass that served something, so
             * an idle broker stays asleep; each look after the processor is
             * offered to any runnable client first (on two vCPUs the broker
             * must not hold one that a client is waiting for). */
            int64_t spin_until = clock_now_us() + lp->spin_us;
            while (n == 0 && clock_now_us() < spin_until) {
                sched_yield();
                n = epoll_wait(lp->epfd, events, EVENTS_PER_WAIT, 0);
            }
            if (n == 0)
                n = epoll_wait(lp->epfd, events, EVENTS_PER_WAIT, sleep_ms(lp, until_us));
        }
        active = lp->spin_us > 0 && n > 0;
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_LEVEL_ERROR, "epoll_wait: %s", strerror(errno));
            return 1;
        }
        bool stop = false;
        for (int i = 0; i < n; i++) {
            void *mark = events[i].data.ptr;
            struct signalfd_siginfo si;
            if (mark == &zmq_mark) {
                zmq_due = true; /* read at the top of the next pass */
            } else if (mark == &monitor_mark) {
                lp->monitor_due = true;
            } else if (mark == &signal_mark) {
                if (read(lp->sig_fd, &si, sizeof si) == (ssize_t)sizeof si && watch_signals) {
                    log_msg(LOG_LEVEL_INFO, "signal %u received", si.ssi_signo);
                    stop = true;
                }
            } else {
                lane_event(lp->lane, mark, events[i].events);
            }
        }
        if (stop) {
            broker_commit(lp->b, clock_now_us());
            lane_settle(lp->lane); /* what the last events owe, before stopping */
            return 0;
        }
    }
}

/* Binds every endpoint: unix:// to the lane, the rest to the ROUTER. */
static int
bind_all(const router_config *cfg, void *sock, lane *ln, bound_endpoint *bound, size_t *nbound)
{
    for (; *nbound < cfg->nbinds; (*nbound)++) {
        char err[512];
        const char *ep = cfg->binds[*nbound];
        bound_endpoint *be = &bound[*nbound];
        int rc = lane_endpoint(ep) ? lane_listen(ln, ep, be, err, sizeof err)
                                   : bind_endpoint(sock, ep, &cfg->access, be, err, sizeof err);
        if (rc != 0) {
            log_msg(LOG_LEVEL_ERROR, "%s", err);
            return -1;
        }
        log_msg(LOG_LEVEL_INFO, "listening on %s", be->endpoint);
    }
    return 0;
}

int
router_run(const router_config *cfg)
{
    int status = 1;
    raise_open_files_limit();
    int sig_fd = stop_signal_fd();
    if (sig_fd < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot watch signals: %s", strerror(errno));
        return 1;
    }
    zap_handler *zap = NULL;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? open_router(ctx, &cfg->core) : NULL;
    void *mon = sock ? open_monitor(ctx, sock) : NULL;
    bound_endpoint *bound = calloc(cfg->nbinds, sizeof *bound);
    size_t max_message = cfg->core.max_item_size + IPCQ_MESSAGE_OVERHEAD;
    lane *ln = epfd >= 0 ? lane_new(epfd, max_message, &cfg->access) : NULL;
    router_out out = {.sock = sock, .lane = ln};
    broker *b = sock && ln ? broker_new(&cfg->core, router_send, &out) : NULL;
    size_t nbound = 0;
    if (b == NULL || bound == NULL || mon == NULL || add_watch(epfd, socket_fd(sock), &zmq_mark) ||
        add_watch(epfd, socket_fd(mon), &monitor_mark) || add_watch(epfd, sig_fd, &signal_mark)) {
        log_msg(LOG_LEVEL_ERROR, "cannot start: %s", zmq_strerror(errno));
        goto out;
    }
    lane_set_broker(ln, b);
    if (cfg->data_dir != NULL) {
        /* Before binding: no client sees the queues until they are whole. */
        char store_err[768];
        if (broker_open_store(b, cfg->data_dir, &cfg->store, store_err, sizeof store_err) != 0) {
            log_msg(LOG_LEVEL_ERROR, "%s", store_err);
            goto out;
        }
    }
    char zap_err[512];
    if (cfg->allowed_keys &&
        (zap = zap_start(ctx, cfg->allowed_keys, zap_err, sizeof zap_err)) == NULL) {
        log_msg(LOG_LEVEL_ERROR, "%s", zap_err);
        goto out;
    }
    if (bind_all(cfg, sock, ln, bound, &nbound) != 0)
        goto out;
    /* The store was opened before the binds: ready means serving. A client
     * that connects now waits in the listen backlog until the first pass. */
    if (cfg->events && cfg->events->ready)
        cfg->events->ready(bound, nbound);
    /* epoll on the sockets' ZMQ_FDs: zmq_poll() would add several system
     * calls per wake-up, which is most of the cost of a request. The
     * monitor is read once before the first wait: libzmq signals a ZMQ_FD
     * only for a pipe whose reader once found it empty. */
    loop lp = {.sock = sock,
               .mon = mon,
               .sig_fd = sig_fd,
               .epfd = epfd,
               .b = b,
               .out = &out,
               .lane = ln,
               .monitor_due = true,
               .spin_us = cfg->spin_us};
    status = serve(&lp, INT64_MAX, true);
    log_msg(LOG_LEVEL_INFO, "stopping: answering blocked clients");
    if (cfg->events && cfg->events->stopping)
        cfg->events->stopping();
    broker_stop(b);
    /* Blocked clients are answered; those that ask now are told the broker
     * is going, for a moment, so that they read their replies first. */
    serve(&lp, clock_now_us() + STOP_DRAIN_MS * 1000, false);
    /* Read dry: libzmq's I/O thread blocks on a full monitor pipe, and
     * turning the monitor off would then wait for it for ever. */
    read_monitor(mon, b);
out:
    lane_free(ln); /* before the core: a closing connection has nothing to tell it */
    broker_free(b);
    if (mon) {
        zmq_socket_monitor(sock, NULL, 0);
        zmq_close(mon);
    }
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    zap_stop(&zap); /* after the context: its termination ends the handler */
    for (size_t i = 0; i < nbound; i++)
        unbind_endpoint(&bound[i]);
    free(bound);
    if (epfd >= 0)
        close(epfd);
    close(sig_fd);
    return status;
}
