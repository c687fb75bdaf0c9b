/* Binding endpoints safely: the default per-user directory (0700), ipc
 * sockets reachable only by their owner (0600), and one broker per ipc
 * endpoint (B3, B5). */
#ifndef IPCQ_BIND_H
#define IPCQ_BIND_H
#include <stddef.h>

typedef struct bound_endpoint {
    char *endpoint;
    char *ipc_path; /* NULL for non-ipc endpoints */
    int lock_fd;    /* held for the broker's life; -1 if none */
} bound_endpoint;

/* Binds zmq socket sock to endpoint. On failure returns -1 and writes a
 * one-line reason into err. */
int bind_endpoint(void *sock, const char *endpoint, bound_endpoint *out, char *err, size_t err_cap);

/* Removes the socket file and releases the lock. */
void unbind_endpoint(bound_endpoint *be);

#endif
