/* ipcqd's native local lane, unix://PATH (docs/PROTOCOL.md, "The unix://
 * lane"): listening stream sockets and their connections, served by the
 * broker's readiness loop (router.c) through one epoll set.
 *
 * Each connection is a peer of the core with a 9-byte id: BROKER_PEER_LINKED
 * and a 64-bit serial, never reused, so that no reply meant for a closed
 * connection reaches a later one, and none collides with a ZeroMQ routing
 * id (5 bytes, and any that starts with that byte is refused by the
 * router). Requests arrive length-prefixed (lane_frame.h) and go to
 * broker_handle() in order; replies are queued per connection and written
 * when the socket takes them. A connection is closed, and its peer lost to
 * the core at once (broker_peer_lost), on end of file, a socket error, a
 * length over the limit, or unsent output over the bound (a slow reader).
 * What a connection holds (its record, unfinished input, unsent replies)
 * counts against --max-memory (broker_transport_held); past that limit by
 * more than one message, a connection whose input would grow, or whose
 * replies pile up unread, is cut off.
 * Connections are closed at the end of a pass (lane_settle), never from
 * inside the core. */
#ifndef IPCQ_LANE_H
#define IPCQ_LANE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bind.h"
#include "broker.h"

#define LANE_SCHEME "unix://"
#define LANE_PEER_ID_LEN 9

/* Unsent replies a connection may have queued before it is cut off as a
 * slow reader: four of the largest messages, and never less than 64 MiB
 * (a full window of small async replies needs far less). */
#define LANE_MIN_OUTPUT_BOUND ((size_t)64 << 20)

typedef struct lane lane;

/* A lane that adds its sockets to the epoll set epfd; NULL if out of
 * memory. max_message is the largest request or reply (max item size +
 * IPCQ_MESSAGE_OVERHEAD); policy says who may connect (B3). */
lane *lane_new(int epfd, size_t max_message, const bind_policy *policy);
/* Closes every connection (after one last try at writing what each is
 * owed) and listener; the socket files are the bound endpoints' to remove. */
void lane_free(lane *l);
/* The core that requests go to; set before the loop runs. */
void lane_set_broker(lane *l, broker *b);

/* True for an endpoint this lane binds (unix://). */
bool lane_endpoint(const char *endpoint);
/* Binds and listens on unix://PATH with bind.c's rules (B3, B5); -1 with a
 * one-line reason in err. unbind_endpoint(out) removes the socket file. */
int lane_listen(lane *l, const char *endpoint, bound_endpoint *out, char *err, size_t err_cap);

/* True when peer is a lane connection's id. */
bool lane_peer(const void *peer, size_t peer_len);
/* broker_send_fn for lane peers: queues one framed reply. IPCQ_EUNAVAILABLE
 * if the connection is gone or going, or this reply would pass its bound
 * (the connection is then cut off at the end of the pass). */
int lane_send(lane *l, const void *peer, size_t peer_len, const void *data, size_t len);

/* Handles epoll events for data, a pointer the lane registered. */
void lane_event(lane *l, void *data, uint32_t events);
/* End of a pass: closes the connections that must go (their peers lost to
 * the core, which may queue replies for others) and writes queued replies,
 * until neither has anything left to do. */
void lane_settle(lane *l);
/* True when the lane listens on some endpoint (and so has sockets to watch). */
bool lane_listening(const lane *l);
/* The monotonic µs by which lane_settle() must run again (INT64_MAX: no
 * need): a listener that ran out of descriptors (EMFILE) is not watched,
 * so that it cannot wake the loop in vain, and tries again then. */
int64_t lane_next_wakeup_us(const lane *l);

#endif
