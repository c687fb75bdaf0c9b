/* What both ends of the wire agree on: the protocol version, message and
 * window limits, and the queue-name rule (SPEC Q1). */
#ifndef IPCQ_WIRE_H
#define IPCQ_WIRE_H
#include <stdbool.h>
#include <stddef.h>

#define IPCQ_NAME_MAX 255

/* Room above the max item size for the rest of a request's encoding: the
 * broker's socket drops any message over max item size + this. */
#define IPCQ_MESSAGE_OVERHEAD (64 * 1024)

/* Messages queued per peer on each side (ZMQ_SNDHWM/RCVHWM). libzmq's
 * default of 1000 is below what a window of async puts can have in flight:
 * the broker would find a live client's pipe full and take it for gone.
 * A client this far behind is stuck, and is treated as gone. */
#define IPCQ_PEER_HWM 100000

/* The largest put window and prefetch a client may ask for: well inside
 * IPCQ_PEER_HWM, with room for probes and other replies. */
#define IPCQ_MAX_WINDOW 65536

/* The wire protocol version this build speaks. */
#define IPCQ_PROTOCOL_VERSION 1

/* True when name[0..len) is 1 to 255 bytes of valid UTF-8 without control
 * characters (C0, DEL, C1). */
bool queue_name_valid(const void *name, size_t len);

#endif
