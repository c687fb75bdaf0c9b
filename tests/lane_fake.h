/*
 * A fake broker on the native local lane (unix://PATH), for the client's
 * tests and fuzz target while no real broker speaks the lane: a thread that
 * listens on a unix socket in a fresh temporary directory, reads framed
 * Requests (4-byte little-endian length, then protobuf) from every
 * connection and hands each to the test's callback, which answers with
 * framed Replies, raw bytes, or by closing the connection.
 *
 * The callback runs on the fake's thread with the fake's lock held; the
 * test takes the same lock (lane_fake_lock) to read or change what the
 * callback shares with it.
 */
#ifndef IPCQ_TEST_LANE_FAKE_H
#define IPCQ_TEST_LANE_FAKE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipcq.pb-c.h"

typedef struct lane_fake lane_fake;
typedef struct lane_peer lane_peer; /* one accepted connection */

typedef enum lane_event {
    LANE_ACCEPTED, /* p was just accepted; nothing read from it yet */
    LANE_REQUEST,  /* req arrived on p */
    LANE_CLOSED,   /* p is closed (by the client or lane_peer_close); forget it */
    LANE_TICK,     /* every few milliseconds, p NULL: for the test's timers */
} lane_event;

typedef void (*lane_fake_fn)(lane_fake *f, lane_peer *p, lane_event ev,
                             const Ipcqwire__Request *req, void *arg);

/* Starts the fake on a fresh socket (under $TMPDIR if its path fits, else
 * /tmp); aborts if it cannot. */
lane_fake *lane_fake_start(lane_fake_fn fn, void *arg);
/* Stops the thread, closes every connection, removes the socket and frees f. */
void lane_fake_stop(lane_fake **f);
/* "unix://DIR/broker.sock" and its path. */
const char *lane_fake_endpoint(const lane_fake *f);
const char *lane_fake_path(const lane_fake *f);
/* Connections accepted so far, and frames that were not Requests. */
int lane_fake_accepts(lane_fake *f);
int lane_fake_bad_frames(lane_fake *f);

void lane_fake_lock(lane_fake *f);
void lane_fake_unlock(lane_fake *f);

/* From the callback: a framed reply, a frame of raw bytes, bytes as they
 * are (no length added), and closing the connection once the callback
 * returns. Sends block at most a few seconds; a connection that fails one
 * is closed. */
void lane_peer_reply(lane_peer *p, const Ipcqwire__Reply *r);
void lane_peer_frame(lane_peer *p, const void *data, size_t len);
void lane_peer_raw(lane_peer *p, const void *data, size_t len);
void lane_peer_close(lane_peer *p);
/* The pid of the process that connected (SO_PEERCRED), and the number of
 * the connection, 1 for the first accepted. */
pid_t lane_peer_pid(const lane_peer *p);
int lane_peer_number(const lane_peer *p);

#endif
