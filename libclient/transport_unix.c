/*
 * The native local lane (transport.h), unix://PATH: a unix-domain stream
 * socket that the calling thread drives itself, with no transport thread in
 * between. Each message is a 4-byte little-endian length N and N bytes of
 * protobuf (Request out, Reply in).
 *
 * - A send is one sendmsg() of the length and the bytes (MSG_NOSIGNAL: a
 *   broker gone is EPIPE, never SIGPIPE; MSG_DONTWAIT: a full socket waits
 *   in poll() until the deadline); a receive reads into the connection's
 *   buffer until a whole frame is there. The socket blocks on reads, for
 *   the wait set as its SO_RCVTIMEO (changed only when the wait differs
 *   from the last one; client.c's waits are nearly always its heartbeat
 *   interval), so a synchronous call costs one sendmsg() and one recv():
 *   the least a socket allows.
 * - A receive that may wait first looks again and again, yielding the
 *   processor between looks, for up to $IPCQ_SPIN_US microseconds (default
 *   LANE_SPIN_US; 0 turns it off) before it sleeps in recv(): the broker's
 *   reply usually comes within tens of microseconds, and waking a process
 *   that went to sleep costs more than that on a small virtual machine
 *   (the broker spins after serving for the same reason, ipcqd --spin-us).
 *   sched_yield() gives the processor to any other runnable process, so
 *   the spin only takes time nobody else wants.
 * - EOF, ECONNRESET and EPIPE mean the broker is gone: IPCQ_EUNAVAILABLE at
 *   once, and client.c closes the connection so that its next call
 *   connects again.
 * - A frame over the caller's limit is a protocol error: nothing of it is
 *   allocated, and the connection is of no further use.
 * - A frame is never left half sent: once its first byte is out, the rest
 *   follows, or the connection is given up.
 * - The socket is close-on-exec; a child that inherited it through fork()
 *   only closes its own copy, which leaves the parent's connection as it
 *   was.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ipcq.h"
#include "lane_frame.h"

#define SCHEME "unix://"
#define CONNECT_BUSY_MS 2000       /* how long a full listen backlog is retried */
#define SEND_STALL_MS 5000         /* how long the rest of a frame begun may take */
#define BUF_MIN ((size_t)64 << 10) /* the receive buffer kept between frames */
#define LANE_SPIN_US 50            /* default of $IPCQ_SPIN_US: see the top */
#define LANE_SPIN_MAX_US 1000000

struct transport_conn {
    int fd;
    int read_wait_ms;   /* the socket's SO_RCVTIMEO; 0: not set (blocks for ever) */
    unsigned char *buf; /* received bytes not consumed yet: buf[start..end) */
    size_t cap, start, end;
    size_t taken; /* the frame handed out last, consumed at the next receive */
};

static int
unix_connect(const char *endpoint, client_keys *keys, transport_conn **out, char *why,
             size_t why_cap)
{
    (void)keys; /* the broker checks this process's credentials (SO_PEERCRED) */
    const char *path = endpoint + strlen(SCHEME);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strncmp(endpoint, SCHEME, strlen(SCHEME)) != 0 || path[0] == '\0' ||
        strlen(path) >= sizeof addr.sun_path) {
        snprintf(why, why_cap, "%s: cannot connect: not a unix socket path that fits", endpoint);
        return IPCQ_EINVAL;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    transport_conn *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(why, why_cap, "%s", ipcq_strerror(IPCQ_ENOMEM));
        return IPCQ_ENOMEM;
    }
    t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = t->fd < 0 ? -1 : 0;
    int64_t busy_until = clock_deadline_us(clock_now_us(), CONNECT_BUSY_MS);
    while (rc == 0 && connect(t->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        /* EAGAIN: the broker's listen backlog is full; it drains it soon. */
        if (errno == EINTR || (errno == EAGAIN && clock_now_us() < busy_until)) {
            if (errno == EAGAIN)
                poll(NULL, 0, 1);
            continue;
        }
        rc = -1;
    }
    /* Connected: reads block (for their SO_RCVTIMEO), sends never do. */
    if (rc == 0 && fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) & ~O_NONBLOCK) == 0) {
        *out = t;
        return IPCQ_OK;
    }
    int err = errno, status = IPCQ_EUNAVAILABLE;
    if (err == EACCES || err == EPERM) {
        snprintf(why, why_cap, "%s: permission denied: %s", endpoint, strerror(err));
        status = IPCQ_EACCESS;
    } else if (t->fd < 0) {
        snprintf(why, why_cap, "%s: cannot make a socket: %s", endpoint, strerror(err));
        status = IPCQ_ESYSTEM;
    } else {
        snprintf(why, why_cap, "cannot connect: %s", strerror(err));
    }
    if (t->fd >= 0)
        close(t->fd);
    free(t);
    return status;
}

static void
unix_close(transport_conn *t)
{
    close(t->fd);
    free(t->buf);
    free(t);
}

static int
unix_send(transport_conn *t, const void *data, size_t len, int64_t deadline_us)
{
    if (len > UINT32_MAX)
        return IPCQ_ETOOBIG;
    unsigned char head[LANE_FRAME_HEADER];
    lane_frame_header(head, (uint32_t)len);
    struct iovec iov[2] = {{head, sizeof head}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = sizeof head + len;
    bool begun = false;
    int64_t stall_until = 0;
    while (left > 0) {
        ssize_t n = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            left -= (size_t)n;
            begun = true;
            while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov[0].iov_len) {
                n -= (ssize_t)mh.msg_iov[0].iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
            if (mh.msg_iovlen > 0) {
                mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
                mh.msg_iov[0].iov_len -= (size_t)n;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN)
            return IPCQ_EUNAVAILABLE; /* EPIPE, ECONNRESET: the broker is gone */
        int64_t now = clock_now_us();
        if (begun && stall_until == 0)
            stall_until = clock_deadline_us(now, SEND_STALL_MS);
        int64_t until = begun && stall_until > deadline_us ? stall_until : deadline_us;
        if (now >= until)
            return begun ? IPCQ_EUNAVAILABLE : IPCQ_ETIMEDOUT; /* half a frame ends the stream */
        struct pollfd p = {.fd = t->fd, .events = POLLOUT};
        int64_t ms = (until - now + 999) / 1000;
        poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
    }
    return IPCQ_OK;
}

/* Makes room in the buffer for need bytes from start; false without memory. */
static bool
make_room(transport_conn *t, size_t need)
{
    if (t->start > 0 && t->cap - t->start < need) {
        memmove(t->buf, t->buf + t->start, t->end - t->start);
        t->end -= t->start;
        t->start = 0;
    }
    if (t->cap - t->start >= need)
        return true;
    size_t cap = need < BUF_MIN ? BUF_MIN : need;
    unsigned char *grown = realloc(t->buf, cap);
    if (grown == NULL)
        return false;
    t->buf = grown;
    t->cap = cap;
    return true;
}

/* Drops the frame handed out last; a buffer grown for a large frame is
 * given back once it is empty. */
static void
consume(transport_conn *t)
{
    t->start += t->taken;
    t->taken = 0;
    if (t->start == t->end) {
        t->start = t->end = 0;
        if (t->cap > BUF_MIN) {
            free(t->buf);
            t->buf = NULL;
            t->cap = 0;
        }
    }
}

/* Makes the socket's reads wait at most ms (> 0) for data. */
static bool
set_read_wait(transport_conn *t, int ms)
{
    if (t->read_wait_ms == ms)
        return true;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return false;
    t->read_wait_ms = ms;
    return true;
}

static int64_t lane_spin_us = LANE_SPIN_US;
static pthread_once_t lane_spin_once = PTHREAD_ONCE_INIT;

/* $IPCQ_SPIN_US, read once; a value that is not a number from 0 to
 * LANE_SPIN_MAX_US leaves the default. */
static void
read_spin_setting(void)
{
    const char *v = getenv(IPCQ_SPIN_ENV);
    if (v == NULL || *v == '\0')
        return;
    char *end;
    errno = 0;
    long long us = strtoll(v, &end, 10);
    if (errno == 0 && *end == '\0' && us >= 0 && us <= LANE_SPIN_MAX_US)
        lane_spin_us = us;
}

/* Reads what has arrived, looking again (and yielding) until something
 * does, or until the spin time or the deadline passes: > 0 bytes read, 0
 * for none (go to sleep), < 0 with errno for a failure other than EAGAIN. */
static ssize_t
spin_receive(transport_conn *t, int64_t deadline)
{
    pthread_once(&lane_spin_once, read_spin_setting);
    if (lane_spin_us == 0)
        return 0;
    int64_t until = clock_now_us() + lane_spin_us;
    if (until > deadline)
        until = deadline;
    for (;;) {
        ssize_t got = recv(t->fd, t->buf + t->end, t->cap - t->end, MSG_DONTWAIT);
        if (got > 0)
            return got;
        if (got == 0) {
            errno = 0;
            return -1; /* EOF: the broker is gone */
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (clock_now_us() >= until)
            return 0;
        sched_yield();
    }
}

static int
unix_receive(transport_conn *t, int wait_ms, size_t max_len, const void **data, size_t *len)
{
    consume(t);
    int64_t deadline = clock_deadline_us(clock_now_us(), wait_ms);
    for (;;) {
        size_t have = t->end - t->start, need = 4;
        if (have >= 4) {
            const unsigned char *h = t->buf + t->start;
            size_t n = lane_frame_length(h);
            if (n > max_len)
                return IPCQ_EPROTO;
            if (have >= 4 + n) {
                *data = h + 4;
                *len = n;
                t->taken = 4 + n;
                return IPCQ_OK;
            }
            need = 4 + n;
        }
        int flags = 0;
        if (wait_ms == 0) {
            flags = MSG_DONTWAIT; /* only what has arrived */
        } else {
            int64_t left_us = deadline - clock_now_us();
            if (left_us <= 0)
                return IPCQ_ETIMEDOUT;
            int ms = left_us / 1000 >= 60000 ? 60000 : (int)((left_us + 999) / 1000);
            if (!set_read_wait(t, ms))
                return IPCQ_EUNAVAILABLE;
        }
        if (!make_room(t, need < BUF_MIN ? BUF_MIN : need))
            return IPCQ_ENOMEM;
        ssize_t got = wait_ms == 0 ? 0 : spin_receive(t, deadline);
        if (got == 0)
            got = recv(t->fd, t->buf + t->end, t->cap - t->end, flags);
        if (got > 0) {
            t->end += (size_t)got;
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ms == 0 || clock_now_us() >= deadline)
                return IPCQ_ETIMEDOUT;
            continue; /* a wait longer than one SO_RCVTIMEO */
        }
        return IPCQ_EUNAVAILABLE; /* EOF or ECONNRESET: the broker is gone */
    }
}

static bool
unix_hung_up(transport_conn *t)
{
    struct pollfd p = {.fd = t->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

const transport_ops transport_unix = {
    .connect = unix_connect,
    .close = unix_close,
    .abandon = unix_close, /* the child's copy of the socket; the parent's stays */
    .send = unix_send,
    .receive = unix_receive,
    .hung_up = unix_hung_up,
};
