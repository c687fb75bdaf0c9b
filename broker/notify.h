/* ipcqd's word to systemd (a Type=notify service): READY=1 once the loop
 * serves, STOPPING=1 once it begins to stop, each with a STATUS= line for
 * `systemctl status`. Sent only when $NOTIFY_SOCKET is set, that is when a
 * service manager waits for it. */
#ifndef IPCQ_NOTIFY_H
#define IPCQ_NOTIFY_H

#include "router.h"

/* The router_events that send them: for router_config.events. */
extern const router_events notify_events;

#endif
