/* Who the client is to the broker (see access.h), and ipcq_curve_keygen.
 *
 * An ipc or unix socket is guarded by its file mode: a user it is not open
 * to learns so here, at once, instead of waiting out a connection that
 * libzmq would retry in silence. (The unix:// lane's broker checks the
 * peer's credentials too, and says so in a refusal: client.c.) A TCP endpoint is guarded by CURVE:
 * the client encrypts to the broker's public key and proves its own key pair, which the broker's
 * ZAP handler checks against its allowed keys. */
#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* The broker's public key: IPCQ_CURVE_SERVER is the key itself or its file. */
static int
server_key(ipcq_client *c, const char *value, char out[KEYFILE_Z85_LEN + 1])
{
    char err[4400], detail[4500];
    if (keyfile_z85_key(value)) {
        memcpy(out, value, KEYFILE_Z85_LEN + 1);
        return IPCQ_OK;
    }
    if (keyfile_read(value, out, NULL, err, sizeof err) == 0)
        return IPCQ_OK;
    snprintf(detail, sizeof detail, "%s: %s", IPCQ_CURVE_SERVER_ENV, err);
    return client_fail(c, NULL, IPCQ_EINVAL, detail);
}

int
client_access_prepare(ipcq_client *c, client_keys *keys)
{
    memset(keys, 0, sizeof *keys);
    char detail[4500];
    const char *path = strncmp(c->endpoint, "ipc://", 6) == 0    ? c->endpoint + 6
                       : strncmp(c->endpoint, "unix://", 7) == 0 ? c->endpoint + 7
                                                                 : NULL;
    if (path != NULL) {
        if (access(path, W_OK) == 0 || errno != EACCES)
            return IPCQ_OK; /* usable, or not there yet: connecting is lazy */
        snprintf(detail, sizeof detail,
                 "%s: permission denied: the broker's socket is not open to this user "
                 "(its owner can grant a group: ipcqd --group)",
                 c->endpoint);
        return client_fail(c, NULL, IPCQ_EACCESS, detail);
    }
    const char *server = getenv(IPCQ_CURVE_SERVER_ENV), *key = getenv(IPCQ_CURVE_KEY_ENV);
    if (strncmp(c->endpoint, "tcp://", 6) != 0 || server == NULL || server[0] == '\0')
        return IPCQ_OK;
    int rc = server_key(c, server, keys->server);
    if (rc != IPCQ_OK)
        return rc;
    if (key == NULL || key[0] == '\0') {
        /* No key pair of its own: an anonymous one, which encrypts but
         * which the broker's allowed keys will not hold. */
        if (zmq_curve_keypair(keys->public_key, keys->secret) != 0)
            return client_fail(c, NULL, IPCQ_ESYSTEM, "cannot make a CURVE key pair");
    } else if (keyfile_read(key, keys->public_key, keys->secret, detail, sizeof detail) != 0) {
        char text[4600];
        snprintf(text, sizeof text, "%s: %s", IPCQ_CURVE_KEY_ENV, detail);
        return client_fail(c, NULL, IPCQ_EINVAL, text);
    } else {
        keys->own_key = true;
    }
    keys->curve = true;
    return IPCQ_OK;
}

int
client_access_apply(void *sock, client_keys *keys)
{
    if (!keys->curve)
        return 0;
    bool ok = zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, keys->server, KEYFILE_Z85_LEN) == 0 &&
              zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys->public_key, KEYFILE_Z85_LEN) == 0 &&
              zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->secret, KEYFILE_Z85_LEN) == 0;
    int saved = errno;
    explicit_bzero(keys->secret, sizeof keys->secret);
    errno = saved;
    return ok ? 0 : -1;
}

ipcq_status
ipcq_curve_keygen(const char *prefix, char *why, size_t why_cap)
{
    char public_key[KEYFILE_Z85_LEN + 1], secret[KEYFILE_Z85_LEN + 1], err[4400];
    int status = IPCQ_OK;
    if (prefix == NULL || prefix[0] == '\0') {
        snprintf(err, sizeof err, "no file name for the key pair");
        status = IPCQ_EINVAL;
    } else if (zmq_curve_keypair(public_key, secret) != 0) {
        snprintf(err, sizeof err, "cannot make a CURVE key pair: %s", zmq_strerror(errno));
        status = IPCQ_ESYSTEM;
    } else if (keyfile_write(prefix, public_key, secret, err, sizeof err) != 0) {
        status = IPCQ_ESYSTEM;
    }
    explicit_bzero(secret, sizeof secret);
    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s", status == IPCQ_OK ? "" : err);
    return status;
}
