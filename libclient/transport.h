/* How the client's request/reply engine (client.c) reaches a broker: one
 * interface, one implementation per transport, chosen once from the
 * endpoint's scheme (transport_for), as nng's transports are. client.c
 * keeps ids, deadlines, heartbeats and fork handling; a transport only
 * connects, moves whole messages (encoded Request out, encoded Reply in)
 * and says when its connection is gone.
 *
 * - transport_zmq.c: ipc:// and tcp://, a ZeroMQ DEALER (CURVE on tcp).
 *   Its connection is lazy and reconnects by itself: it never reports one
 *   lost; the heartbeats find a broker that went away. On tcp:// it
 *   watches its handshakes, to tell a refused client why.
 * - transport_unix.c: unix://PATH, the native local lane: a unix-domain
 *   stream socket driven from the calling thread, each message a 4-byte
 *   little-endian length and the protobuf bytes. The broker's death is an
 *   EOF, reported at once as IPCQ_EUNAVAILABLE.
 *
 * A connection belongs to the process that opened it: after fork() the
 * child abandons the inherited one (it must not disturb the parent's) and
 * opens its own. */
#ifndef IPCQ_CLIENT_TRANSPORT_H
#define IPCQ_CLIENT_TRANSPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"

/* One connection to a broker; each transport defines it. */
typedef struct transport_conn transport_conn;

typedef struct transport_ops {
    /* Connects to endpoint (keys: what access.c prepared). IPCQ_OK with
     * *out set, or a status (IPCQ_EINVAL for an endpoint the transport
     * cannot use, IPCQ_EUNAVAILABLE for no broker there, IPCQ_EACCESS for
     * one not open to this user...) with one line of text in why. */
    int (*connect)(const char *endpoint, client_keys *keys, transport_conn **out, char *why,
                   size_t why_cap);
    /* Closes conn and frees it, in the process that opened it; waits
     * briefly for what was sent to leave. */
    void (*close)(transport_conn *conn);
    /* Lets go of a connection inherited through fork() without touching
     * what the parent still uses. */
    void (*abandon)(transport_conn *conn);
    /* Sends one message, waiting for room (or a broker) until deadline_us.
     * IPCQ_OK; IPCQ_ETIMEDOUT: nothing was sent, the connection is as it
     * was; IPCQ_EUNAVAILABLE: the connection is gone, close it. */
    int (*send)(transport_conn *conn, const void *data, size_t len, int64_t deadline_us);
    /* Receives one message, waiting up to wait_ms (0: only what has
     * arrived). IPCQ_OK with *data and *len, valid until the next receive
     * or close; IPCQ_ETIMEDOUT: none came; IPCQ_EUNAVAILABLE: the
     * connection is gone; IPCQ_EPROTO: the broker sent a message over
     * max_len bytes (or broke the framing): the connection is unusable. */
    int (*receive)(transport_conn *conn, int wait_ms, size_t max_len, const void **data,
                   size_t *len);
    /* True if the broker has closed conn (what it sent before may still be
     * there to read); NULL for a transport that reconnects by itself. */
    bool (*hung_up)(transport_conn *conn);
    /* After a send that found no connection in time: IPCQ_EACCESS with one
     * line in why if the broker refused this client's security handshake
     * (its CURVE key, or no CURVE where the broker wants it), else IPCQ_OK.
     * NULL for a transport without a handshake. */
    int (*refusal)(transport_conn *conn, char *why, size_t why_cap);
} transport_ops;

extern const transport_ops transport_zmq;
extern const transport_ops transport_unix;

/* The transport of endpoint: unix:// is the lane, anything else ZeroMQ
 * (which judges the endpoint when it connects). */
const transport_ops *transport_for(const char *endpoint);

#endif
