/* sd_notify(3) from libsystemd, which checks $NOTIFY_SOCKET itself and does
 * nothing without it. Built without libsystemd (IPCQ_HAVE_LIBSYSTEMD unset:
 * its pkg-config module was not found), ipcqd notifies nothing, and a
 * Type=notify unit would wait for it in vain: use Type=exec there. */
#include "notify.h"

#include <stdio.h>
#include <string.h>

#ifdef IPCQ_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

#include "log.h"

static void
send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        log_msg(LOG_LEVEL_WARN, "cannot notify systemd: %s", strerror(-rc));
}
#else
static void
send_state(const char *state)
{
    (void)state;
}
#endif

/* "READY=1\nSTATUS=listening on A, B": the endpoints as bound (a tcp
 * port 0 named), cut short if they do not fit. */
static void
notify_ready(const bound_endpoint *bound, size_t nbound)
{
    char msg[2048];
    size_t len = (size_t)snprintf(msg, sizeof msg, "READY=1\nSTATUS=listening on ");
    for (size_t i = 0; i < nbound && len < sizeof msg; i++)
        len +=
            (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i ? ", " : "", bound[i].endpoint);
    send_state(msg);
}

static void
notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=stopping: answering blocked clients");
}

const router_events notify_events = {.ready = notify_ready, .stopping = notify_stopping};
