/*
 * The ZeroMQ transport (transport.h) for ipc:// and tcp://: a DEALER socket
 * in a context of its own.
 *
 * - ZMQ_IMMEDIATE keeps requests from queueing up while no broker is
 *   connected, so a request that timed out can never be delivered to a
 *   broker that comes back later; a send waits for a connection until its
 *   deadline instead.
 * - libzmq reconnects by itself: a connection is never reported lost here.
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
#include <zmq.h>

#include "clock.h"
#include "ipcq.h"
#include "wire.h"

#define LINGER_MS 500 /* close: time to flush confirmations */

struct transport_conn {
    void *ctx, *sock;
    int timeout_ms; /* the socket's ZMQ_RCVTIMEO; -2 until set */
    zmq_msg_t last; /* the message last received, alive until the next */
};

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
    *out = t;
    return IPCQ_OK;
}

static void
zmq_conn_close(transport_conn *t)
{
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
        if (left_us <= 0)
            return IPCQ_ETIMEDOUT;
        zmq_pollitem_t it = {.socket = t->sock, .events = ZMQ_POLLOUT};
        zmq_poll(&it, 1, (long)((left_us + 999) / 1000));
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

const transport_ops transport_zmq = {
    .connect = zmq_conn_connect,
    .close = zmq_conn_close,
    .abandon = zmq_conn_abandon,
    .send = zmq_conn_send,
    .receive = zmq_conn_receive,
};
