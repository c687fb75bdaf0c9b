/*
 * ipcq's wire protocol spoken directly, for what a client handle cannot do:
 * keep thousands of requests in flight at once (a handle allows one blocking
 * call at a time). A bench_wire is a few ZeroMQ DEALER sockets on the broker,
 * each sending one Request per message (proto/ipcq.proto) with an id of its
 * own, as libclient/client.c frames them; replies are matched to requests
 * by that id. The broker's liveness probes (replies with id 0) are skipped.
 *
 * Only what the bench needs: ping, create (unbounded), delete, and a get of
 * one item with a timeout. Items a get returns are not confirmed, so a
 * scenario must get only from queues that stay empty.
 */
#ifndef IPCQ_BENCH_WIRE_H
#define IPCQ_BENCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_WIRE_MAX_SOCKETS 16

typedef enum bench_wire_op {
    BENCH_WIRE_PING,
    BENCH_WIRE_CREATE,
    BENCH_WIRE_DELETE,
    BENCH_WIRE_GET,
} bench_wire_op;

typedef struct bench_wire {
    void *ctx;
    void *socks[BENCH_WIRE_MAX_SOCKETS];
    int nsocks;
    int next_sock; /* where bench_wire_recv() looks first */
    uint64_t next_id;
} bench_wire;

typedef struct bench_wire_reply {
    uint64_t id;
    int status;      /* the reply's ipcq status */
    size_t items;    /* items it carried */
    char error[200]; /* its error text, "" if none */
} bench_wire_reply;

/* Connects nsocks (1 to BENCH_WIRE_MAX_SOCKETS) DEALERs to endpoint.
 * IPCQ_OK, or IPCQ_ESYSTEM / IPCQ_EINVAL with w closed. */
int bench_wire_open(bench_wire *w, const char *endpoint, int nsocks);

/* Closes every socket; a closed or zeroed w is a no-op. */
void bench_wire_close(bench_wire *w);

/* Sends op on queue (NULL for ping) from socket sock; timeout_ms is the
 * get's. *id is the request's id. IPCQ_OK, or IPCQ_ESYSTEM if it could not
 * be sent. */
int bench_wire_send(bench_wire *w, int sock, bench_wire_op op, const char *queue,
                    int64_t timeout_ms, uint64_t *id);

/* The next reply from any socket, waiting up to wait_ms: IPCQ_OK with *r,
 * IPCQ_EMPTY if none came in time, IPCQ_EPROTO for a message that is not
 * a reply, IPCQ_ESYSTEM if receiving failed. */
int bench_wire_recv(bench_wire *w, int64_t wait_ms, bench_wire_reply *r);

#endif
