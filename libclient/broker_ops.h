/* The broker backend's operations (backend.h), one request each through
 * client_call(): ops.c, lease.c, stats.c, prefetch.c and client.c. */
#ifndef IPCQ_CLIENT_BROKER_OPS_H
#define IPCQ_CLIENT_BROKER_OPS_H
#include "ipcq.h"

int broker_put(ipcq_client *c, const char *queue, const void *data, size_t len, int64_t timeout_ms);
int broker_put_many(ipcq_client *c, const char *queue, size_t n, const void *const *items,
                    const size_t *lens, int64_t timeout_ms);
int broker_put_async(ipcq_client *c, const char *queue, const void *data, size_t len);
int broker_flush(ipcq_client *c, int64_t timeout_ms);
int broker_set_put_window(ipcq_client *c, size_t window);
int broker_get(ipcq_client *c, const char *queue, void **data, size_t *len, int64_t timeout_ms);
int broker_get_many(ipcq_client *c, const char *queue, size_t max, void **items, size_t *lens,
                    size_t *got, int64_t timeout_ms);
int broker_set_prefetch(ipcq_client *c, size_t max, int64_t lease_ms);
int broker_create(ipcq_client *c, const char *queue, int64_t maxsize);
int broker_set_maxsize(ipcq_client *c, const char *queue, int64_t maxsize);
int broker_set_max_deliveries(ipcq_client *c, const char *queue, uint32_t max_deliveries);
int broker_delete(ipcq_client *c, const char *queue);
int broker_task_done(ipcq_client *c, const char *queue);
int broker_join(ipcq_client *c, const char *queue, int64_t timeout_ms);
int broker_shutdown(ipcq_client *c, const char *queue, bool immediate);
int broker_ping(ipcq_client *c);
int broker_get_leased(ipcq_client *c, const char *queue, int64_t lease_ms, void **data, size_t *len,
                      uint64_t *lease, uint32_t *deliveries, int64_t timeout_ms);
int broker_get_leased_many(ipcq_client *c, const char *queue, int64_t lease_ms, size_t max,
                           void **items, size_t *lens, uint64_t *leases, size_t *got,
                           int64_t timeout_ms);
int broker_ack(ipcq_client *c, uint64_t lease);
int broker_ack_many(ipcq_client *c, size_t n, const uint64_t *leases);
int broker_release(ipcq_client *c, uint64_t lease);
int broker_extend(ipcq_client *c, uint64_t lease, int64_t lease_ms);
int broker_stat(ipcq_client *c, const char *queue, ipcq_stats **out);

#endif
