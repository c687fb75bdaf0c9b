/*
 * The ZeroMQ transport (transport.h) for ipc:// and tcp://: a DEALER socket
 * in a context of its own.
 *
 * - ZMQ_IMMEDIATE keeps requests from queueing up while no broker is
 *   connected, so a request that timed out can never be delivered to a
 *   broker that comes back later; a send waits for a connection until its
 *   deadline instead.
 * - libzmq reconnects by itself: a connection is never reported lost here.
 * - On tcp:// a monitor socket reports the connection's handshakes: a
 *   broker that refuses this client (a CURVE key it does not allow, or a
 *   client without CURVE where the broker wants it) only shows there, so a
 *   send waiting for a connection watches it and gives up at the first
 *   refusal; refusal() then says why (IPCQ_EACCESS), where the call would
 *   otherwise say "no connection" as for a broker that is down.
 * - libzmq objects cannot cross fork(): a child abandons the inherited
 *   context, never closing it (that would reach into the parent's I/O
 *   threads).
 */
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "ipcq.h"
#include "wire.h"

#define LINGER_MS 500 /* close: time to flush confirmations */

/* The handshake events the monitor reports. */
#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

struct transport_conn {
    void *ctx, *sock;
    void *monitor;      /* PAIR socket reading sock's handshake events (tcp:// only) */
    bool curve;         /* this client speaks CURVE */
    bool own_key;       /* ... with a key pair of its own, not an anonymous one */
    uint16_t refused;   /* the last failed handshake's event, 0 after a success */
    uint32_t refused_v; /* its value: the ZAP status, protocol error or errno */
    int failures;       /* handshakes failed in a row */
    int timeout_ms;     /* the socket's ZMQ_RCVTIMEO; -2 until set */
    zmq_msg_t last;     /* the message last received, alive until the next */
};

static void watch_handshakes(transport_conn *t);

static int
zmq_conn_connect(const char *endpoint, client_keys *keys, transport_conn **out, char *why,
                 size_t why_cap)
{
    transport_conn *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(why, why_cap, "%s", ipcq_strerror(IPCQ_ENOMEM));
        return IPCQ_ENOMEM;
    }
    t->ctx = zmq_ctx_new();
    if (t->ctx == NULL) {
        free(t);
        snprintf(why, why_cap, "cannot create a ZeroMQ context");
        return IPCQ_ESYSTEM;
    }
    t->sock = zmq_socket(t->ctx, ZMQ_DEALER);
    int one = 1, linger = LINGER_MS, hwm = IPCQ_PEER_HWM;
    if (t->sock == NULL || zmq_setsockopt(t->sock, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
        zmq_setsockopt(t->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(t->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(t->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        client_access_apply(t->sock, keys) != 0 || zmq_connect(t->sock, endpoint) != 0) {
        snprintf(why, why_cap, "%s: cannot connect: %s", endpoint, zmq_strerror(errno));
        if (t->sock)
            zmq_close(t->sock);
        zmq_ctx_term(t->ctx);
        free(t);
        return IPCQ_EINVAL;
    }
    t->timeout_ms = -2;
    zmq_msg_init(&t->last);
    t->curve = keys->curve;
    t->own_key = keys->own_key;
    if (strncmp(endpoint, "tcp://", 6) == 0)
        watch_handshakes(t);
    *out = t;
    return IPCQ_OK;
}

/* Starts the monitor of t's socket; without one (it failed) a refused
 * client is only told "no connection", as before. */
static void
watch_handshakes(transport_conn *t)
{
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://ipcq-handshakes-%p", (void *)t);
    if (zmq_socket_monitor(t->sock, addr, HANDSHAKE_EVENTS) != 0)
        return;
    t->monitor = zmq_socket(t->ctx, ZMQ_PAIR);
    int linger = 0;
    if (t->monitor != NULL &&
        (zmq_setsockopt(t->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
         zmq_connect(t->monitor, addr) != 0)) {
        zmq_close(t->monitor);
        t->monitor = NULL;
    }
    if (t->monitor == NULL)
        zmq_socket_monitor(t->sock, NULL, 0);
}

/* Reads the handshake events that have arrived; true if the last says the
 * broker refused this client. */
static bool
read_handshakes(transport_conn *t)
{
    while (t->monitor != NULL) {
        zmq_msg_t event, where;
        zmq_msg_init(&event);
        zmq_msg_init(&where);
        bool got = zmq_msg_recv(&event, t->monitor, ZMQ_DONTWAIT) >= 0;
        if (got && zmq_msg_more(&event))
            zmq_msg_recv(&where, t->monitor, 0); /* the endpoint: not needed */
        if (got && zmq_msg_size(&event) >= 6) {
            const unsigned char *d = zmq_msg_data(&event);
            uint16_t id;
            uint32_t value;
            memcpy(&id, d, sizeof id);
            memcpy(&value, d + 2, sizeof value);
            t->refused = id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? 0 : id;
            t->refused_v = value;
            t->failures = t->refused ? t->failures + 1 : 0;
        }
        zmq_msg_close(&where);
        zmq_msg_close(&event);
        if (!got)
            break;
    }
    /* A handshake cut without a reason (the broker closed it) may be a
     * broker stopping; twice in a row (libzmq retries every 100 ms) it is
     * a refusal. */
    return t->refused == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ? t->failures >= 2 : t->refused != 0;
}

static void
zmq_conn_close(transport_conn *t)
{
    if (t->monitor != NULL) {
        zmq_socket_monitor(t->sock, NULL, 0);
        zmq_close(t->monitor);
    }
    zmq_msg_close(&t->last);
    zmq_close(t->sock);
    zmq_ctx_term(t->ctx);
    free(t);
}

/* Contexts inherited through fork() are abandoned, never closed; keeping
 * them listed here keeps them reachable rather than leaked. */
typedef struct abandoned {
    struct abandoned *next;
    transport_conn *conn;
} abandoned;
static abandoned *abandoned_head;
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

static void
zmq_conn_abandon(transport_conn *t)
{
    abandoned *a = malloc(sizeof *a);
    if (a == NULL)
        return;
    a->conn = t;
    pthread_mutex_lock(&abandoned_lock);
    a->next = abandoned_head;
    abandoned_head = a;
    pthread_mutex_unlock(&abandoned_lock);
}

static int
zmq_conn_send(transport_conn *t, const void *data, size_t len, int64_t deadline_us)
{
    for (;;) {
        if (zmq_send(t->sock, data, len, ZMQ_DONTWAIT) >= 0)
            return IPCQ_OK;
        if (errno != EAGAIN && errno != EINTR)
            return IPCQ_ETIMEDOUT; /* as before: a call treats it as no connection */
        int64_t left_us = deadline_us - clock_now_us();
        if (left_us <= 0 || read_handshakes(t))
            return IPCQ_ETIMEDOUT; /* refused: waiting longer will not help */
        zmq_pollitem_t it[2] = {{.socket = t->sock, .events = ZMQ_POLLOUT},
                                {.socket = t->monitor, .events = ZMQ_POLLIN}};
        zmq_poll(it, t->monitor != NULL ? 2 : 1, (long)((left_us + 999) / 1000));
    }
}

/* A blocking receive with ZMQ_RCVTIMEO costs fewer system calls than
 * zmq_poll() and a receive, and most waits are a round trip. */
static int
zmq_conn_receive(transport_conn *t, int wait_ms, size_t max_len, const void **data, size_t *len)
{
    (void)max_len; /* the broker is trusted with the sizes it sends over ZeroMQ */
    if (t->timeout_ms != wait_ms) {
        if (zmq_setsockopt(t->sock, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms) != 0)
            return IPCQ_ETIMEDOUT;
        t->timeout_ms = wait_ms;
    }
    zmq_msg_close(&t->last);
    zmq_msg_init(&t->last);
    if (zmq_msg_recv(&t->last, t->sock, 0) < 0)
        return IPCQ_ETIMEDOUT;
    *data = zmq_msg_data(&t->last);
    *len = zmq_msg_size(&t->last);
    return IPCQ_OK;
}

static int
zmq_conn_refusal(transport_conn *t, char *why, size_t why_cap)
{
    if (!read_handshakes(t))
        return IPCQ_OK;
    if (t->refused == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !t->own_key)
        snprintf(why, why_cap,
                 "the broker refused this client: it has no CURVE key pair of its own "
                 "(give one the broker allows: %s, ipcq --curve-key)",
                 IPCQ_CURVE_KEY_ENV);
    else if (t->refused == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf(why, why_cap,
                 "the broker refused this client's CURVE key (status %u): it is not among the "
                 "broker's --allowed-keys",
                 (unsigned)t->refused_v);
    else if (!t->curve)
        snprintf(why, why_cap,
                 "the broker wants CURVE: give its public key (%s, ipcq --curve-server) and this "
                 "client's key pair (%s, ipcq --curve-key)",
                 IPCQ_CURVE_SERVER_ENV, IPCQ_CURVE_KEY_ENV);
    else if (t->refused_v == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf(why, why_cap,
                 "the broker does not use CURVE, but this client was given its key (%s)",
                 IPCQ_CURVE_SERVER_ENV);
    else
        snprintf(why, why_cap, "the security handshake with the broker failed%s (event 0x%x, 0x%x)",
                 t->curve ? ": is its public key right?" : "", (unsigned)t->refused,
                 (unsigned)t->refused_v);
    return IPCQ_EACCESS;
}

const transport_ops transport_zmq = {
    .connect = zmq_conn_connect,
    .close = zmq_conn_close,
    .abandon = zmq_conn_abandon,
    .send = zmq_conn_send,
    .receive = zmq_conn_receive,
    .refusal = zmq_conn_refusal,
};
