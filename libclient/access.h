/* Who the client is to the broker (SPEC B3): the checks and keys that
 * client_connect() applies before it connects. */
#ifndef IPCQ_CLIENT_ACCESS_H
#define IPCQ_CLIENT_ACCESS_H
#include <stdbool.h>

#include "client.h"
#include "keyfile.h"

typedef struct client_keys {
    bool curve;   /* a tcp:// endpoint with IPCQ_CURVE_SERVER set */
    bool own_key; /* ... and IPCQ_CURVE_KEY: a key pair of its own, not an anonymous one */
    char server[KEYFILE_Z85_LEN + 1], public_key[KEYFILE_Z85_LEN + 1], secret[KEYFILE_Z85_LEN + 1];
} client_keys;

/* Before connecting c: for an ipc or unix endpoint, IPCQ_EACCESS when its socket
 * exists but is not open to this user; for a tcp endpoint, the CURVE keys
 * named by the environment (IPCQ_EINVAL when they cannot be read). Records
 * the error text on c. */
int client_access_prepare(ipcq_client *c, client_keys *keys);

/* Sets the keys on the socket before zmq_connect, and wipes the secret one
 * from keys; 0, or -1 (errno set). */
int client_access_apply(void *sock, client_keys *keys);

#endif
