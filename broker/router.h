/* ipcqd's ZeroMQ side: a ROUTER socket bound to every endpoint, and the
 * single-threaded event loop that feeds the broker core. */
#ifndef IPCQ_ROUTER_H
#define IPCQ_ROUTER_H
#include <signal.h>
#include <stddef.h>

#include "broker.h"

typedef struct router_config {
    const char *const *binds;
    size_t nbinds;
    broker_config core;
} router_config;

/* Runs until *stop becomes non-zero; then answers every blocked client and
 * returns 0. Returns 1 (after logging why) if it cannot start. */
int router_run(const router_config *cfg, volatile sig_atomic_t *stop);

#endif
