#include "lane_frame.h"

#include <stdlib.h>
#include <string.h>

void
lane_frame_header(unsigned char out[LANE_FRAME_HEADER], uint32_t n)
{
    out[0] = (unsigned char)n;
    out[1] = (unsigned char)(n >> 8);
    out[2] = (unsigned char)(n >> 16);
    out[3] = (unsigned char)(n >> 24);
}

uint32_t
lane_frame_length(const unsigned char header[LANE_FRAME_HEADER])
{
    const unsigned char *p = header;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void
frame_reader_init(frame_reader *r, size_t max_body)
{
    *r = (frame_reader){.max_body = max_body};
}

void
frame_reader_free(frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

size_t
frame_reader_held(const frame_reader *r)
{
    return r->len;
}

/* The whole frame's size once its header is in, else 0; FRAME_TOO_BIG via
 * *too_big. */
static size_t
frame_size(const frame_reader *r, const unsigned char *p, size_t avail, bool *too_big)
{
    if (avail < LANE_FRAME_HEADER)
        return 0;
    uint32_t n = lane_frame_length(p);
    if (n > r->max_body) {
        *too_big = true;
        return 0;
    }
    return LANE_FRAME_HEADER + (size_t)n;
}

/* Keeps the tail p[0..n) after what the reader holds, for a frame of want
 * bytes (0: its header is not in yet). Grows by doubling, up to want. */
static bool
hold(frame_reader *r, const unsigned char *p, size_t n, size_t want)
{
    size_t need = r->len + n;
    if (need > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        if (cap < need)
            cap = need;
        if (want > need && cap > want)
            cap = want;
        if (want != 0 && want <= need)
            cap = need;
        unsigned char *grown = realloc(r->buf, cap);
        if (grown == NULL)
            return false;
        r->buf = grown;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len = need;
    return true;
}

/* Completes the held frame from data; *used gets the bytes taken. */
static frame_status
finish_held(frame_reader *r, const unsigned char *data, size_t len, size_t *used, frame_fn fn,
            void *ctx)
{
    bool too_big = false;
    *used = 0;
    if (r->len < LANE_FRAME_HEADER) {
        size_t take = LANE_FRAME_HEADER - r->len;
        take = take < len ? take : len;
        if (!hold(r, data, take, 0))
            return FRAME_NOMEM;
        *used = take;
    }
    size_t want = frame_size(r, r->buf, r->len, &too_big);
    if (too_big)
        return FRAME_TOO_BIG;
    if (want == 0)
        return FRAME_OK; /* the header is still short */
    size_t take = want - r->len < len - *used ? want - r->len : len - *used;
    if (!hold(r, data + *used, take, want))
        return FRAME_NOMEM;
    *used += take;
    if (r->len < want)
        return FRAME_OK;
    bool go_on = fn(ctx, r->buf + LANE_FRAME_HEADER, want - LANE_FRAME_HEADER);
    frame_reader_free(r); /* nothing held between messages */
    return go_on ? FRAME_OK : FRAME_STOPPED;
}

frame_status
frame_reader_feed(frame_reader *r, const void *data, size_t len, frame_fn fn, void *ctx)
{
    const unsigned char *p = data;
    if (r->len > 0) {
        size_t used;
        frame_status st = finish_held(r, p, len, &used, fn, ctx);
        if (st != FRAME_OK || r->len > 0)
            return st;
        p += used, len -= used;
    }
    /* Whole frames straight from the caller's bytes, without a copy. */
    for (;;) {
        bool too_big = false;
        size_t want = frame_size(r, p, len, &too_big);
        if (too_big)
            return FRAME_TOO_BIG;
        if (want == 0 || want > len)
            break;
        if (!fn(ctx, p + LANE_FRAME_HEADER, want - LANE_FRAME_HEADER))
            return FRAME_STOPPED;
        p += want, len -= want;
    }
    if (len == 0)
        return FRAME_OK;
    bool too_big = false;
    return hold(r, p, len, frame_size(r, p, len, &too_big)) ? FRAME_OK : FRAME_NOMEM;
}
