/* ipcq's wire protocol from a few DEALER sockets (see bench_wire.h). */
#include "bench_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ipcq.h"
#include "ipcq.pb-c.h"
#include "wire.h"
#include "tool_clock.h"
#include "tool_proc.h"

int
bench_wire_open(bench_wire *w, const char *endpoint, int nsocks)
{
    *w = (bench_wire){.next_id = 1};
    if (nsocks < 1 || nsocks > BENCH_WIRE_MAX_SOCKETS)
        return IPCQ_EINVAL;
    w->ctx = zmq_ctx_new();
    if (w->ctx == NULL)
        return IPCQ_ESYSTEM;
    int hwm = IPCQ_PEER_HWM, linger = 0;
    while (w->nsocks < nsocks) {
        void *s = zmq_socket(w->ctx, ZMQ_DEALER);
        if (s != NULL)
            w->socks[w->nsocks++] = s;
        if (s == NULL || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
            zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_connect(s, endpoint) != 0) {
            int rc = errno == EINVAL || errno == EPROTONOSUPPORT ? IPCQ_EINVAL : IPCQ_ESYSTEM;
            bench_wire_close(w);
            return rc;
        }
    }
    return IPCQ_OK;
}

void
bench_wire_close(bench_wire *w)
{
    for (int i = 0; i < w->nsocks; i++)
        if (w->socks[i] != NULL)
            zmq_close(w->socks[i]);
    if (w->ctx != NULL)
        zmq_ctx_term(w->ctx);
    *w = (bench_wire){0};
}

static const Ipcqwire__Op ops[] = {
    [BENCH_WIRE_PING] = IPCQWIRE__OP__OP_PING,
    [BENCH_WIRE_CREATE] = IPCQWIRE__OP__OP_CREATE,
    [BENCH_WIRE_DELETE] = IPCQWIRE__OP__OP_DELETE,
    [BENCH_WIRE_GET] = IPCQWIRE__OP__OP_GET,
};

int
bench_wire_send(bench_wire *w, int sock, bench_wire_op op, const char *queue, int64_t timeout_ms,
                uint64_t *id)
{
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.version = IPCQ_PROTOCOL_VERSION;
    req.id = w->next_id++;
    req.op = ops[op];
    if (queue != NULL) {
        req.has_queue = 1;
        req.queue.data = (uint8_t *)queue;
        req.queue.len = strlen(queue);
    }
    if (op == BENCH_WIRE_GET) {
        req.has_timeout_ms = 1;
        req.timeout_ms = timeout_ms;
    }
    unsigned char buf[512];
    size_t len = ipcqwire__request__get_packed_size(&req);
    if (len > sizeof buf)
        return IPCQ_EINVAL; /* a name of at most 255 bytes always fits */
    ipcqwire__request__pack(&req, buf);
    int rc;
    while ((rc = zmq_send(w->socks[sock], buf, len, 0)) < 0 && errno == EINTR &&
           tool_stop_signal() == 0)
        ;
    if (rc < 0)
        return IPCQ_ESYSTEM;
    *id = req.id;
    return IPCQ_OK;
}

/* Reads one message from sock without waiting: IPCQ_OK with *r, IPCQ_EMPTY
 * if none is there (or it was a probe), else an error. */
static int
take_one(void *sock, bench_wire_reply *r)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return errno == EAGAIN || errno == EINTR ? IPCQ_EMPTY : IPCQ_ESYSTEM;
    }
    Ipcqwire__Reply *rep = ipcqwire__reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    if (rep == NULL)
        return IPCQ_EPROTO;
    int rc = rep->id == 0 ? IPCQ_EMPTY : IPCQ_OK; /* id 0: a liveness probe */
    *r = (bench_wire_reply){.id = rep->id, .status = rep->status, .items = rep->n_items};
    snprintf(r->error, sizeof r->error, "%s", rep->error != NULL ? rep->error : "");
    ipcqwire__reply__free_unpacked(rep, NULL);
    return rc;
}

int
bench_wire_recv(bench_wire *w, int64_t wait_ms, bench_wire_reply *r)
{
    int64_t deadline = tool_now_ms() + wait_ms;
    for (;;) {
        for (int k = 0; k < w->nsocks; k++) {
            int i = (w->next_sock + k) % w->nsocks;
            int rc = take_one(w->socks[i], r);
            if (rc == IPCQ_EMPTY)
                continue;
            w->next_sock = (i + 1) % w->nsocks;
            if (rc == IPCQ_OK || rc == IPCQ_EPROTO || rc == IPCQ_ESYSTEM)
                return rc;
        }
        int64_t left = deadline - tool_now_ms();
        if (left <= 0 || tool_stop_signal() != 0)
            return IPCQ_EMPTY;
        zmq_pollitem_t items[BENCH_WIRE_MAX_SOCKETS];
        for (int i = 0; i < w->nsocks; i++)
            items[i] = (zmq_pollitem_t){.socket = w->socks[i], .events = ZMQ_POLLIN};
        long slice = left < TOOL_SLICE_MS ? (long)left : TOOL_SLICE_MS;
        if (zmq_poll(items, w->nsocks, slice) < 0 && errno != EINTR)
            return IPCQ_ESYSTEM;
    }
}
