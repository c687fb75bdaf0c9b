/* A fake broker on the native local lane: see lane_fake.h. */
#include "lane_fake.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_PEERS 64
#define FRAME_MAX ((size_t)64 << 20) /* a larger length closes the connection */
#define TICK_MS 5
#define SEND_TIMEOUT_S 5

struct lane_peer {
    int fd;
    pid_t pid;
    int number;
    bool closing;
    unsigned char *buf;
    size_t len, cap;
};

struct lane_fake {
    char dir[128], path[160], endpoint[180];
    int listen_fd;
    lane_fake_fn fn;
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    atomic_bool stopping;
    lane_peer *peers[MAX_PEERS];
    int npeers, accepts, bad_frames;
};

static void
die(const char *what)
{
    fprintf(stderr, "lane_fake: %s: %s\n", what, strerror(errno));
    abort();
}

static void
send_all(lane_peer *p, const void *data, size_t len)
{
    const unsigned char *b = data;
    while (len > 0 && !p->closing) {
        ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            p->closing = true; /* gone, or not reading for seconds */
            return;
        }
        b += n;
        len -= (size_t)n;
    }
}

void
lane_peer_raw(lane_peer *p, const void *data, size_t len)
{
    send_all(p, data, len);
}

void
lane_peer_frame(lane_peer *p, const void *data, size_t len)
{
    unsigned char head[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                             (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    send_all(p, head, sizeof head);
    send_all(p, data, len);
}

void
lane_peer_reply(lane_peer *p, const Ipcqwire__Reply *r)
{
    size_t n = ipcqwire__reply__get_packed_size(r);
    unsigned char *buf = malloc(n ? n : 1);
    if (buf == NULL)
        die("malloc");
    ipcqwire__reply__pack(r, buf);
    lane_peer_frame(p, buf, n);
    free(buf);
}

void
lane_peer_close(lane_peer *p)
{
    p->closing = true;
}

pid_t
lane_peer_pid(const lane_peer *p)
{
    return p->pid;
}

int
lane_peer_number(const lane_peer *p)
{
    return p->number;
}

static void
accept_one(lane_fake *f)
{
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (f->npeers == MAX_PEERS) {
        close(fd);
        return;
    }
    lane_peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        die("calloc");
    struct ucred cred;
    socklen_t cl = sizeof cred;
    struct timeval tv = {SEND_TIMEOUT_S, 0};
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        die("socket options");
    p->fd = fd;
    p->pid = cred.pid;
    p->number = ++f->accepts;
    f->peers[f->npeers++] = p;
    f->fn(f, p, LANE_ACCEPTED, NULL, f->arg);
}

/* Hands every whole frame in p's buffer to the callback. */
static void
take_frames(lane_fake *f, lane_peer *p)
{
    size_t off = 0;
    while (!p->closing && p->len - off >= 4) {
        const unsigned char *h = p->buf + off;
        size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
        if (n > FRAME_MAX) {
            f->bad_frames++;
            p->closing = true;
            break;
        }
        if (p->len - off < 4 + n)
            break;
        Ipcqwire__Request *req = ipcqwire__request__unpack(NULL, n, h + 4);
        off += 4 + n;
        if (req == NULL) {
            f->bad_frames++;
            continue;
        }
        f->fn(f, p, LANE_REQUEST, req, f->arg);
        ipcqwire__request__free_unpacked(req, NULL);
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len -= off;
}

static void
read_peer(lane_fake *f, lane_peer *p)
{
    if (p->cap - p->len < 65536) {
        size_t cap = p->cap ? p->cap * 2 : 131072;
        unsigned char *grown = realloc(p->buf, cap);
        if (grown == NULL)
            die("realloc");
        p->buf = grown;
        p->cap = cap;
    }
    ssize_t n = recv(p->fd, p->buf + p->len, p->cap - p->len, MSG_DONTWAIT);
    if (n > 0) {
        p->len += (size_t)n;
        take_frames(f, p);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        p->closing = true;
    }
}

/* Closes and forgets the peers marked closing. */
static void
reap_peers(lane_fake *f)
{
    for (int i = 0; i < f->npeers;) {
        lane_peer *p = f->peers[i];
        if (!p->closing) {
            i++;
            continue;
        }
        f->fn(f, p, LANE_CLOSED, NULL, f->arg);
        close(p->fd);
        free(p->buf);
        free(p);
        f->peers[i] = f->peers[--f->npeers];
    }
}

static void *
serve(void *arg)
{
    lane_fake *f = arg;
    while (!atomic_load(&f->stopping)) {
        struct pollfd fds[MAX_PEERS + 1];
        pthread_mutex_lock(&f->lock);
        int n = f->npeers;
        fds[0] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
        for (int i = 0; i < n; i++)
            fds[i + 1] = (struct pollfd){.fd = f->peers[i]->fd, .events = POLLIN};
        pthread_mutex_unlock(&f->lock);
        int ready = poll(fds, (nfds_t)n + 1, TICK_MS);
        pthread_mutex_lock(&f->lock);
        /* The peers are as they were at the poll: only this thread changes them. */
        for (int i = 0; ready > 0 && i < n; i++)
            if (fds[i + 1].revents != 0)
                read_peer(f, f->peers[i]);
        if (ready > 0 && fds[0].revents != 0)
            accept_one(f);
        f->fn(f, NULL, LANE_TICK, NULL, f->arg);
        reap_peers(f);
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

lane_fake *
lane_fake_start(lane_fake_fn fn, void *arg)
{
    lane_fake *f = calloc(1, sizeof *f);
    if (f == NULL)
        die("calloc");
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/ipcq-lane-XXXXXX", tmp);
    if (mkdtemp(f->dir) == NULL)
        die("mkdtemp");
    snprintf(f->path, sizeof f->path, "%s/broker.sock", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "unix://%s", f->path);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(f->path) >= sizeof addr.sun_path)
        die("socket path too long");
    memcpy(addr.sun_path, f->path, strlen(f->path) + 1);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(f->listen_fd, 64) != 0)
        die("bind");
    f->fn = fn;
    f->arg = arg;
    pthread_mutex_init(&f->lock, NULL);
    if (pthread_create(&f->thread, NULL, serve, f) != 0)
        die("pthread_create");
    return f;
}

void
lane_fake_stop(lane_fake **fp)
{
    lane_fake *f = *fp;
    if (f == NULL)
        return;
    atomic_store(&f->stopping, true);
    pthread_join(f->thread, NULL);
    for (int i = 0; i < f->npeers; i++)
        f->peers[i]->closing = true;
    reap_peers(f);
    close(f->listen_fd);
    unlink(f->path);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->lock);
    free(f);
    *fp = NULL;
}

const char *
lane_fake_endpoint(const lane_fake *f)
{
    return f->endpoint;
}

const char *
lane_fake_path(const lane_fake *f)
{
    return f->path;
}

int
lane_fake_accepts(lane_fake *f)
{
    lane_fake_lock(f);
    int n = f->accepts;
    lane_fake_unlock(f);
    return n;
}

int
lane_fake_bad_frames(lane_fake *f)
{
    lane_fake_lock(f);
    int n = f->bad_frames;
    lane_fake_unlock(f);
    return n;
}

void
lane_fake_lock(lane_fake *f)
{
    pthread_mutex_lock(&f->lock);
}

void
lane_fake_unlock(lane_fake *f)
{
    pthread_mutex_unlock(&f->lock);
}
