/* The unix:// lane's framing, with no I/O: each message is a 4-byte
 * little-endian length N, then N bytes of protobuf (docs/PROTOCOL.md).
 *
 * A frame_reader takes a connection's bytes as they arrive, in pieces of
 * any size, and hands each whole message to a callback in order. It holds
 * only the unfinished tail of the stream, grown as its bytes come in (never
 * to the size a header merely claims), and nothing at all between
 * messages. A header over the reader's limit stops it before anything is
 * allocated for that message. */
#ifndef IPCQ_LANE_FRAME_H
#define IPCQ_LANE_FRAME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LANE_FRAME_HEADER 4

/* Writes the header of an n-byte message. */
void lane_frame_header(unsigned char out[LANE_FRAME_HEADER], uint32_t n);
/* The length N that a header says. */
uint32_t lane_frame_length(const unsigned char header[LANE_FRAME_HEADER]);

/* Called with each whole message (body only; len may be 0, which the lane
 * treats as malformed). Returns false to stop the reader at once: the rest
 * of the bytes fed are dropped. */
typedef bool (*frame_fn)(void *ctx, const unsigned char *body, size_t len);

typedef struct frame_reader {
    size_t max_body;    /* a larger N is FRAME_TOO_BIG */
    unsigned char *buf; /* the unfinished tail of the stream; NULL when none */
    size_t len, cap;
} frame_reader;

typedef enum frame_status {
    FRAME_OK,      /* every whole message was handed over; the tail is kept */
    FRAME_STOPPED, /* the callback said stop */
    FRAME_TOO_BIG, /* a header over max_body: the stream cannot go on */
    FRAME_NOMEM    /* the tail could not be kept */
} frame_status;

void frame_reader_init(frame_reader *r, size_t max_body);
/* Feeds len bytes of the stream. After any status but FRAME_OK the reader
 * must not be fed again (only freed). */
frame_status frame_reader_feed(frame_reader *r, const void *data, size_t len, frame_fn fn,
                               void *ctx);
/* Bytes held of an unfinished message. */
size_t frame_reader_held(const frame_reader *r);
void frame_reader_free(frame_reader *r);

#endif
