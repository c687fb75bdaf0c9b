/* The nats:// backend's table (backend.h). What JetStream cannot serve is
 * left NULL and fails IPCQ_ENOTSUP (docs/NATS.md says why, rule by rule). */
#include "backend.h"
#include "nats_internal.h"

const client_backend backend_nats = {
    .name = "nats",
    .unsupported = "not supported on a nats:// endpoint (JetStream; see docs/NATS.md)",
    .close = nats_state_close,
    /* the last handle's close stops libnats, whose threads fork() would
     * not copy (nats_conn.c) */
    .before_fork = nats_state_close,
    .put = nats_put,
    .put_many = nats_put_many,
    .put_async = nats_put_async,
    .flush = nats_flush,
    .set_put_window = nats_set_put_window,
    .get = nats_get,
    .get_many = nats_get_many,
    .create = nats_create,
    .set_maxsize = nats_set_maxsize,
    .set_max_deliveries = nats_set_max_deliveries,
    .delete_queue = nats_delete,
    .task_done = nats_task_done,
    .join = nats_join,
    .shutdown = nats_shutdown,
    .ping = nats_ping,
    .get_leased = nats_get_leased,
    .get_leased_many = nats_get_leased_many,
    .ack = nats_ack,
    .ack_many = nats_ack_many,
    .release = nats_release,
    .extend = nats_extend,
    .stat = nats_stat,
};
