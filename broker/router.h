/* ipcqd's ZeroMQ side: a ROUTER socket bound to every endpoint, and the
 * single-threaded event loop that feeds the broker core. */
#ifndef IPCQ_ROUTER_H
#define IPCQ_ROUTER_H
#include <stddef.h>
#include <stdint.h>

#include "bind.h"
#include "broker.h"

/* What the loop tells its owner about its life (ipcqd: systemd, through
 * notify.c); either may be NULL. ready: every endpoint is bound and a
 * durable broker has rebuilt its queues, so a client that connects now is
 * served; stopping: SIGINT or SIGTERM came, the broker is answering its
 * blocked clients and will exit. */
typedef struct router_events {
    void (*ready)(const bound_endpoint *bound, size_t nbound);
    void (*stopping)(void);
} router_events;

typedef struct router_config {
    const char *const *binds;
    size_t nbinds;
    broker_config core;
    bind_policy access;          /* who may connect (B3) */
    const char *allowed_keys;    /* with access.curve_secret: the clients' public keys */
    int64_t spin_us;             /* ipcqd --spin-us: see serve() in router.c; 0: off */
    const char *data_dir;        /* ipcqd --data-dir: durable (SPEC D5); NULL: memory only */
    store_options store;         /* --fsync, --repair, --segment-size */
    const router_events *events; /* NULL: none */
} router_config;

/* How long the loop keeps looking for requests after serving some, before
 * it sleeps (ipcqd's default). */
#define ROUTER_DEFAULT_SPIN_US 30
#define ROUTER_MAX_SPIN_US 1000000

/* Runs until SIGINT or SIGTERM; then answers every blocked client and
 * returns 0. Returns 1 (after logging why) if it cannot start. The two
 * signals are blocked in every thread and read from a signalfd in the poll
 * set: delivered to one of libzmq's threads, they would never wake it. */
int router_run(const router_config *cfg);

#endif
