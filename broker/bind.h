/* Binding endpoints safely (B3, B5): the default per-user directory (0700),
 * ipc sockets reachable only by their owner (0600) or, when asked, by one
 * group too (0660, directory 0710); TCP with CURVE, and a TCP bind beyond
 * loopback refused without it unless asked; one broker per ipc endpoint. */
#ifndef IPCQ_BIND_H
#define IPCQ_BIND_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who may connect. The zero value: the owner on ipc, anyone on loopback
 * TCP, and no other TCP. */
typedef struct bind_policy {
    bool has_group;
    gid_t group;              /* with has_group: this group may use ipc sockets too */
    const char *curve_secret; /* the broker's Z85 secret key: TCP binds use CURVE */
    bool insecure;            /* allow a non-loopback TCP bind without CURVE */
} bind_policy;

typedef struct bound_endpoint {
    char *endpoint;
    char *ipc_path; /* the socket file (ipc://, unix://); NULL for tcp */
    int lock_fd;    /* held for the broker's life; -1 if none */
} bound_endpoint;

/* Binds zmq socket sock to endpoint. On failure returns -1 and writes a
 * one-line reason into err. */
int bind_endpoint(void *sock, const char *endpoint, const bind_policy *policy, bound_endpoint *out,
                  char *err, size_t err_cap);

/* For a socket file at path (endpoint names it in messages), before the
 * bind: refuses an abstract name, makes the default directory ours
 * (0700/0710), takes the lock file PATH.lock (B5: -1 if another broker
 * serves path) and removes a stale socket file. *lock_fd is then held. */
int bind_claim_path(const char *endpoint, const char *path, const bind_policy *policy, int *lock_fd,
                    char *err, size_t err_cap);

/* After the bind: the socket file is the owner's (0600), or the group's too
 * (0660), whose members must also be able to reach it. */
int bind_grant_access(const char *path, const bind_policy *policy, char *err, size_t err_cap);

/* Removes the socket file and releases the lock. */
void unbind_endpoint(bound_endpoint *be);

#endif
