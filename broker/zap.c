/* The ZAP handler (see zap.h). It runs in a thread of its own, as czmq's
 * zauth does: libzmq asks it about each connection from its I/O thread and
 * waits for the answer, so the broker's loop needs no part in it. The thread
 * shares nothing mutable with the loop: it reads the key directory (again
 * for each connection, so that a key added or removed takes effect without
 * a restart) and answers on its own REP socket, until zmq_ctx_term() ends
 * its receive with ETERM.
 *
 * CURVE clients are let in when their public key is in the directory; NULL
 * connections (ipc sockets, guarded by their file modes, and loopback or
 * --insecure TCP) pass; any other mechanism is refused. */
#include "zap.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "keyfile.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7 /* version, id, domain, address, identity, mechanism, key */

struct zap_handler {
    void *sock;
    char *keys_dir;
    pthread_t thread;
};

/* True when a key file in dir holds this public key. */
static bool
key_allowed(const char *dir, const char *z85)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_msg(LOG_LEVEL_ERROR, "--allowed-keys %s: %s", dir, strerror(errno));
        return false;
    }
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4200], key[KEYFILE_Z85_LEN + 1], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found = keyfile_read(path, key, NULL, err, sizeof err) == 0 && strcmp(key, z85) == 0;
    }
    closedir(d);
    return found;
}

/* The answer to one request: "200" to let the connection in. */
static const char *
decide(const zap_handler *z, zmq_msg_t *f, size_t nframes, const char **why)
{
    const char *mech = zmq_msg_data(&f[5]);
    size_t mech_len = zmq_msg_size(&f[5]);
    *why = "OK";
    if (mech_len == 4 && memcmp(mech, "NULL", 4) == 0)
        return "200";
    if (mech_len != 5 || memcmp(mech, "CURVE", 5) != 0 || nframes != ZAP_FRAMES ||
        zmq_msg_size(&f[6]) != 32) {
        *why = "mechanism not allowed";
        return "400";
    }
    char z85[KEYFILE_Z85_LEN + 1];
    zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
    if (key_allowed(z->keys_dir, z85))
        return "200";
    log_msg(LOG_LEVEL_INFO, "refused a CURVE client whose key %s is not in %s", z85, z->keys_dir);
    *why = "client key not allowed";
    return "400";
}

/* Answers one request of nframes frames (ZAP RFC 27). */
static void
answer(zap_handler *z, zmq_msg_t *f, size_t nframes)
{
    const char *why = "malformed request";
    const char *status = nframes >= ZAP_FRAMES - 1 ? decide(z, f, nframes, &why) : "400";
    /* An unreadable request still needs an answer for the REP socket. */
    const void *request_id = nframes > 1 ? zmq_msg_data(&f[1]) : "";
    size_t request_id_len = nframes > 1 ? zmq_msg_size(&f[1]) : 0;
    zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(z->sock, request_id, request_id_len, ZMQ_SNDMORE);
    zmq_send(z->sock, status, 3, ZMQ_SNDMORE);
    zmq_send(z->sock, why, strlen(why), ZMQ_SNDMORE);
    zmq_send(z->sock, "", 0, ZMQ_SNDMORE); /* user id */
    zmq_send(z->sock, "", 0, 0);           /* metadata */
}

static void *
run(void *arg)
{
    zap_handler *z = arg;
    for (;;) {
        zmq_msg_t f[ZAP_FRAMES];
        size_t n = 0;
        bool extra = false;
        int rc = 0, more = 1;
        while (more && rc >= 0) {
            zmq_msg_t scratch, *m = n < ZAP_FRAMES ? &f[n] : &scratch;
            zmq_msg_init(m);
            rc = zmq_msg_recv(m, z->sock, 0);
            more = rc >= 0 && zmq_msg_more(m);
            if (rc >= 0 && m != &scratch) {
                n++;
                continue;
            }
            extra = extra || rc >= 0; /* more frames than a request has */
            zmq_msg_close(m);
        }
        if (rc >= 0)
            answer(z, f, extra ? 0 : n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (rc < 0 && errno != EINTR)
            break; /* ETERM: the broker is stopping */
    }
    zmq_close(z->sock);
    return NULL;
}

zap_handler *
zap_start(void *ctx, const char *keys_dir, char *err, size_t cap)
{
    zap_handler *z = calloc(1, sizeof *z);
    if (z == NULL || (z->keys_dir = strdup(keys_dir)) == NULL) {
        free(z);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    z->sock = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (z->sock == NULL || zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(z->sock, ZAP_ENDPOINT) != 0 || pthread_create(&z->thread, NULL, run, z) != 0) {
        snprintf(err, cap, "cannot start the CURVE authentication handler: %s",
                 zmq_strerror(errno));
        if (z->sock)
            zmq_close(z->sock);
        free(z->keys_dir);
        free(z);
        return NULL;
    }
    return z;
}

void
zap_stop(zap_handler **zp)
{
    zap_handler *z = *zp;
    if (z == NULL)
        return;
    pthread_join(z->thread, NULL);
    free(z->keys_dir);
    free(z);
    *zp = NULL;
}
