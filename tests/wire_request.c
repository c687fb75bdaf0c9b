#include "wire_request.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

Ipcqwire__Request
wire_request(uint64_t id, Ipcqwire__Op op, const char *queue)
{
    Ipcqwire__Request r = IPCQWIRE__REQUEST__INIT;
    r.version = IPCQ_PROTOCOL_VERSION;
    r.id = id;
    r.op = op;
    if (queue != NULL) {
        r.has_queue = 1;
        r.queue.data = (uint8_t *)queue;
        r.queue.len = strlen(queue);
    }
    return r;
}

uint8_t *
wire_pack(const Ipcqwire__Request *r, size_t *len)
{
    *len = ipcqwire__request__get_packed_size(r);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf == NULL || ipcqwire__request__pack(r, buf) != *len)
        abort(); /* a test's own request: nothing to go on with */
    return buf;
}
