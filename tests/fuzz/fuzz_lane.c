/*
 * Fuzz target: the unix:// lane's framing (common/lane_frame.c), which
 * reads bytes from any local process (SPEC B1, B2), and the core behind it.
 *
 * An input is three bytes of setup, then the byte stream of a connection:
 *
 *   limit  the largest body: ((limit & 0x7f) + 1) * 4, or * 1024 with the
 *          top bit (4 B to 128 KiB, so that both sides of it are reached)
 *   seed   how the stream is cut into reads (xorshift; 0: one byte each)
 *   stop   the frame after which the consumer says stop (255: never)
 *
 * The stream is read twice: whole, with every frame handed to a broker core
 * as the lane does (N = 0 counted bad, the rest to broker_handle, whose
 * replies must decode), and again cut into reads of 1 to 4096 bytes. Both
 * must yield the same frames in the same order and end the same way (over
 * the limit, stopped, or waiting with the same tail held), no frame over
 * the limit; the tail held is never allocated beyond twice its bytes (a
 * header's claim alone allocates nothing).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "fuzz.h"
#include "ipcq.pb-c.h"
#include "lane_frame.h"

#define MAX_FRAMES 4096

typedef struct seen {
    size_t n;
    size_t len[MAX_FRAMES];
    uint64_t hash[MAX_FRAMES];
    size_t stop_after; /* frames before the consumer says stop */
    size_t max_body;
    broker *b; /* NULL: frames are only recorded */
} seen;

static uint64_t
hash_bytes(const unsigned char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int
check_reply(void *ctx, const void *peer, size_t peer_len, const void *data, size_t len)
{
    Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, len, data);
    FUZZ_CHECK(r != NULL);
    ipcqwire__reply__free_unpacked(r, NULL);
    return 0;
}

static bool
on_frame(void *ctx, const unsigned char *body, size_t len)
{
    seen *s = ctx;
    FUZZ_CHECK(len <= s->max_body);
    if (s->n < MAX_FRAMES) {
        s->len[s->n] = len;
        s->hash[s->n] = hash_bytes(body, len);
    }
    s->n++;
    if (s->b != NULL) {
        static const unsigned char peer[9] = {BROKER_PEER_LINKED, 1};
        if (len == 0)
            broker_count_bad(s->b);
        else
            broker_handle(s->b, peer, sizeof peer, body, len, 1000000);
    }
    return s->n != s->stop_after;
}

static void
check_held(const frame_reader *r)
{
    FUZZ_CHECK(r->len <= r->cap);
    FUZZ_CHECK(r->cap <= 256 || r->cap <= 2 * r->len);
    FUZZ_CHECK((r->len == 0) == (r->buf == NULL));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_body = ((size_t)(data[0] & 0x7f) + 1) * (data[0] & 0x80 ? 1024 : 4);
    uint32_t rng = data[1];
    size_t stop_after = data[2] == 255 ? 0 : (size_t)data[2] + 1;
    const uint8_t *stream = data + 3;
    size_t len = size - 3;

    broker_config cfg;
    broker_config_defaults(&cfg);
    int sent = 0;
    broker *b = broker_new(&cfg, check_reply, &sent);
    FUZZ_CHECK(b != NULL);
    static seen whole, cut; /* large: not on the stack */
    whole = (seen){.stop_after = stop_after, .max_body = max_body, .b = b};
    cut = (seen){.stop_after = stop_after, .max_body = max_body};

    frame_reader r;
    frame_reader_init(&r, max_body);
    frame_status st_whole = frame_reader_feed(&r, stream, len, on_frame, &whole);
    check_held(&r);
    size_t held_whole = frame_reader_held(&r);
    frame_reader_free(&r);
    broker_free(b);

    frame_reader_init(&r, max_body);
    frame_status st_cut = FRAME_OK;
    for (size_t off = 0; off < len && st_cut == FRAME_OK;) {
        size_t n = 1;
        if (rng != 0) {
            rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
            n = 1 + rng % 4096;
        }
        n = n < len - off ? n : len - off;
        st_cut = frame_reader_feed(&r, stream + off, n, on_frame, &cut);
        check_held(&r);
        off += n;
    }
    size_t held_cut = frame_reader_held(&r);
    frame_reader_free(&r);

    FUZZ_CHECK(st_whole == st_cut);
    FUZZ_CHECK(whole.n == cut.n);
    size_t n = whole.n < MAX_FRAMES ? whole.n : MAX_FRAMES;
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(whole.len[i] == cut.len[i] && whole.hash[i] == cut.hash[i]);
    if (st_whole == FRAME_OK)
        FUZZ_CHECK(held_whole == held_cut);
    return 0;
}
