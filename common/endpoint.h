/* The default endpoint (SPEC §1): the broker's unix:// lane, a socket in a
 * per-user directory. */
#ifndef IPCQ_ENDPOINT_H
#define IPCQ_ENDPOINT_H
#include <stddef.h>

/* Writes the per-user directory ($XDG_RUNTIME_DIR/ipcq, else
 * /tmp/ipcq-$UID) into buf; returns 0, or -1 if it does not fit. */
int endpoint_default_dir(char *buf, size_t cap);

/* Writes "unix://<dir>/broker.sock", ignoring $IPCQ_BROKER; 0 or -1. */
int endpoint_default(char *buf, size_t cap);

#endif
