/* The one place where an endpoint's scheme picks its backend (backend.h),
 * and the broker backend's table. */
#include "backend.h"

#include <string.h>

#include "broker_ops.h"
#include "client.h"

const client_backend backend_broker = {
    .name = "broker",
    .before_fork = client_disconnect,
    .put = broker_put,
    .put_many = broker_put_many,
    .put_async = broker_put_async,
    .flush = broker_flush,
    .set_put_window = broker_set_put_window,
    .get = broker_get,
    .get_many = broker_get_many,
    .set_prefetch = broker_set_prefetch,
    .create = broker_create,
    .set_maxsize = broker_set_maxsize,
    .set_max_deliveries = broker_set_max_deliveries,
    .delete_queue = broker_delete,
    .task_done = broker_task_done,
    .join = broker_join,
    .shutdown = broker_shutdown,
    .ping = broker_ping,
    .get_leased = broker_get_leased,
    .get_leased_many = broker_get_leased_many,
    .ack = broker_ack,
    .ack_many = broker_ack_many,
    .release = broker_release,
    .extend = broker_extend,
    .stat = broker_stat,
};

const client_backend *
backend_for(const char *endpoint)
{
    return strncmp(endpoint, "nats://", 7) == 0 ? &backend_nats : &backend_broker;
}
