/* Encoding replies and handing them to the owner's send function, or, in a
 * durable broker, to the journal until the pass's records are durable. */
#include <stdlib.h>

#include "core.h"

static bool
encode_and_send(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Reply *r,
                bool may_hold)
{
    size_t len = ipcqwire__reply__get_packed_size(r);
    if (len > b->out_cap) {
        size_t cap = len < 4096 ? 4096 : len;
        unsigned char *out = realloc(b->out, cap);
        if (out == NULL) {
            b->unroutable++;
            return false;
        }
        b->out = out;
        b->out_cap = cap;
    }
    ipcqwire__reply__pack(r, b->out);
    bool sent = (may_hold && journal_hold(b, peer, peer_len, r->id, r->status, b->out, len)) ||
                b->send(b->send_ctx, peer, peer_len, b->out, len) == 0;
    if (!sent)
        b->unroutable++;
    /* Keep one huge reply from pinning its buffer for the broker's life
     * (held or sent, the bytes were copied). */
    if (b->out_cap > (1u << 20)) {
        free(b->out);
        b->out = NULL;
        b->out_cap = 0;
    }
    return sent;
}

bool
reply_send(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Reply *r)
{
    return encode_and_send(b, peer, peer_len, r, true);
}

bool
reply_send_now(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Reply *r)
{
    return encode_and_send(b, peer, peer_len, r, false);
}

bool
reply_send_status(broker *b, const void *peer, size_t peer_len, uint64_t id, int status,
                  const char *detail)
{
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = id;
    r.status = status;
    r.error = (char *)detail;
    return reply_send(b, peer, peer_len, &r);
}
