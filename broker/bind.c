#include "bind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "endpoint.h"
#include "keyfile.h"
#include "log.h"

/* Creates the per-user default directory with mode 0700 (0710 and the
 * group's, when a group may connect), or checks that an existing one is
 * ours and makes it so. */
static int
prepare_default_dir(const char *path, const bind_policy *policy, char *err, size_t cap)
{
    char dir[4096];
    if (endpoint_default_dir(dir, sizeof dir) != 0)
        return 0;
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0 || path[n] != '/')
        return 0; /* not the default place: the caller owns that directory */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, cap, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
        snprintf(err, cap, "%s: not a directory owned by this user", dir);
        return -1;
    }
    mode_t mode = policy->has_group ? 0710 : 0700;
    if ((st.st_mode & 0777) != mode && chmod(dir, mode) != 0) {
        snprintf(err, cap, "%s: cannot make it mode %03o: %s", dir, (unsigned)mode,
                 strerror(errno));
        return -1;
    }
    if (policy->has_group && st.st_gid != policy->group && chown(dir, (uid_t)-1, policy->group)) {
        snprintf(err, cap, "%s: cannot give it to group %u: %s", dir, (unsigned)policy->group,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int
bind_grant_access(const char *path, const bind_policy *policy, char *err, size_t cap)
{
    if (!policy->has_group) {
        chmod(path, 0600); /* it was born so: umask */
        return 0;
    }
    if (chown(path, (uid_t)-1, policy->group) != 0 || chmod(path, 0660) != 0) {
        snprintf(err, cap, "%s: cannot open it to group %u: %s", path, (unsigned)policy->group,
                 strerror(errno));
        return -1;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    struct stat st;
    if (slash != NULL && slash != dir)
        *slash = '\0';
    if (slash != NULL && stat(dir, &st) == 0 &&
        !((st.st_mode & 001) || ((st.st_mode & 010) && st.st_gid == policy->group)))
        log_msg(LOG_LEVEL_WARN,
                "%s: group %u cannot reach the socket: its directory %s is not "
                "searchable by that group",
                path, (unsigned)policy->group, dir);
    return 0;
}

/* True for a TCP endpoint on a loopback address (or the lo interface). */
static bool
tcp_loopback(const char *endpoint)
{
    const char *host = endpoint + 6, *colon = strrchr(host, ':');
    size_t len = colon ? (size_t)(colon - host) : strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        host++, len -= 2;
    return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
           (len == 3 && strncmp(host, "::1", 3) == 0) ||
           (len == 2 && strncmp(host, "lo", 2) == 0) || (len > 4 && strncmp(host, "127.", 4) == 0);
}

/* Sets the security of the next bind: CURVE for TCP when the broker has a
 * key, else none, and refuses TCP beyond loopback without CURVE unless the
 * policy says insecure. */
static int
set_mechanism(void *sock, const char *endpoint, const bind_policy *policy, char *err, size_t cap)
{
    bool tcp = strncmp(endpoint, "tcp://", 6) == 0;
    int curve = tcp && policy->curve_secret != NULL;
    if (tcp && !curve && !policy->insecure && !tcp_loopback(endpoint)) {
        snprintf(err, cap,
                 "%s: refusing a TCP bind beyond loopback without CURVE: give --curve-key and "
                 "--allowed-keys, or --insecure",
                 endpoint);
        return -1;
    }
    if (policy->curve_secret == NULL)
        return 0; /* nothing to set, nor to undo (a libzmq without CURVE refuses the option) */
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &curve, sizeof curve) != 0 ||
        (curve &&
         (zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, policy->curve_secret, KEYFILE_Z85_LEN) != 0 ||
          zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "ipcq", 4) != 0))) {
        snprintf(err, cap, "%s: cannot set up CURVE: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* True when something accepts connections on the unix socket at path. */
static int
socket_is_live(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return 0;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int live = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return live;
}

/* One broker per endpoint: a lock file beside the socket is held for the
 * broker's life; with it held, a socket file nobody answers on is stale. */
static int
claim_path(const char *endpoint, const char *path, int *lock_fd, char *err, size_t cap)
{
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot open lock file: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || socket_is_live(path)) {
        close(fd);
        snprintf(err, cap, "%s: another broker is serving this endpoint", endpoint);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        close(fd);
        snprintf(err, cap, "%s: cannot remove stale socket: %s", path, strerror(errno));
        return -1;
    }
    *lock_fd = fd;
    return 0;
}

int
bind_claim_path(const char *endpoint, const char *path, const bind_policy *policy, int *lock_fd,
                char *err, size_t cap)
{
    if (path[0] == '@') {
        snprintf(err, cap, "%s: abstract sockets are not supported", endpoint);
        return -1;
    }
    if (path[0] == '\0') {
        snprintf(err, cap, "%s: no path", endpoint);
        return -1;
    }
    if (prepare_default_dir(path, policy, err, cap) != 0 ||
        claim_path(endpoint, path, lock_fd, err, cap) != 0)
        return -1;
    return 0;
}

int
bind_endpoint(void *sock, const char *endpoint, const bind_policy *policy, bound_endpoint *out,
              char *err, size_t cap)
{
    *out = (bound_endpoint){.lock_fd = -1};
    const char *path = strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : NULL;
    if (path != NULL && bind_claim_path(endpoint, path, policy, &out->lock_fd, err, cap) != 0)
        return -1;
    if (set_mechanism(sock, endpoint, policy, err, cap) != 0) {
        if (out->lock_fd >= 0)
            close(out->lock_fd);
        out->lock_fd = -1;
        return -1;
    }
    /* The socket file is created by zmq_bind: owner-only from its birth. */
    mode_t old_mask = umask(0177);
    int rc = zmq_bind(sock, endpoint);
    int zerr = errno;
    umask(old_mask);
    if (rc != 0) {
        snprintf(err, cap, "%s: cannot bind: %s", endpoint, zmq_strerror(zerr));
        if (out->lock_fd >= 0)
            close(out->lock_fd);
        out->lock_fd = -1;
        return -1;
    }
    /* The endpoint as bound: tcp://host:* names its port only now. */
    char actual[1024];
    size_t actual_len = sizeof actual;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, actual, &actual_len) != 0)
        snprintf(actual, sizeof actual, "%s", endpoint);
    out->endpoint = strdup(actual);
    out->ipc_path = path ? strdup(path) : NULL;
    if (path && bind_grant_access(path, policy, err, cap) != 0) {
        unbind_endpoint(out); /* the caller stops before using the socket */
        return -1;
    }
    return 0;
}

void
unbind_endpoint(bound_endpoint *be)
{
    if (be->ipc_path)
        unlink(be->ipc_path);
    if (be->lock_fd >= 0)
        close(be->lock_fd);
    free(be->endpoint);
    free(be->ipc_path);
    *be = (bound_endpoint){.lock_fd = -1};
}
