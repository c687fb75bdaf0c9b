/*
 * beanstalkd_peer — the beanstalkd peer of ipcq-bench (issue 12): one
 * producer process puts SIZE-byte jobs into a tube of its own for SECONDS,
 * one consumer process reserves and deletes them, over TCP in beanstalkd's
 * text protocol (no client library), over TCP or a unix socket.
 *
 *   beanstalkd_peer ADDRESS rtt SECONDS [SIZE]            one command per round trip
 *   beanstalkd_peer ADDRESS pipeline SECONDS [SIZE [N]]   N commands (default 100) per round trip
 *
 * ADDRESS is HOST:PORT, or unix:PATH (beanstalkd -l unix:PATH).
 *
 * A job is taken when it is reserved and deleted (before that beanstalkd
 * keeps it, and a binlog records both). The consumer sends the deletes of
 * the jobs it got with the reserves of the next ones, in one write, so that
 * it too makes one round trip per job (per N jobs pipelined); a job counts
 * as consumed when its delete is answered. The server answers a
 * connection's commands in order, so the producer pipelines N puts as the
 * consumer does N reserves. The end is N empty jobs; the consumer checks it
 * got every job the producer put, in order (each carries its sequence
 * number). Prints one JSON line, as redis_peer does.
 */
#include "peer.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char usage[] =
    "usage: beanstalkd_peer HOST:PORT|unix:PATH rtt|pipeline SECONDS [SIZE [DEPTH]]\n";

enum { TTR = 3600 }; /* seconds a reserved job stays ours: longer than any run */

typedef struct cfg {
    const char *path; /* a unix socket's, or NULL for host:port */
    char host[256];
    const char *port;
    char endpoint[300]; /* tcp://HOST:PORT or unix://PATH, for the JSON line */
    char tube[64];
    peer_flow f;
} cfg;

/* One connection: reads are buffered, writes go out whole. */
typedef struct conn {
    int fd;
    size_t start, end;
    char in[1 << 16];
} conn;

static void
conn_open_unix(conn *k, const cfg *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(c->path) >= sizeof sa.sun_path) {
        fprintf(stderr, "beanstalkd_peer: %s: path too long\n", c->path);
        exit(1);
    }
    strcpy(sa.sun_path, c->path);
    k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (k->fd < 0 || connect(k->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "beanstalkd_peer: connecting to %s: %s\n", c->path, strerror(errno));
        exit(1);
    }
    k->start = k->end = 0;
}

static void
conn_open(conn *k, const cfg *c)
{
    if (c->path != NULL) {
        conn_open_unix(k, c);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *a;
    int rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "beanstalkd_peer: %s:%s: %s\n", c->host, c->port, gai_strerror(rc));
        exit(1);
    }
    k->fd = -1;
    for (a = ai; a && k->fd < 0; a = a->ai_next) {
        k->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (k->fd >= 0 && connect(k->fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(k->fd);
            k->fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (k->fd < 0) {
        fprintf(stderr, "beanstalkd_peer: connecting to %s:%s: %s\n", c->host, c->port,
                strerror(errno));
        exit(1);
    }
    /* Each write is a whole pipeline: send it now, not after the last ACK. */
    int one = 1;
    if (setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        peer_die("TCP_NODELAY");
    k->start = k->end = 0;
}

static void
conn_write(conn *k, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(k->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            peer_die("beanstalkd_peer: write");
        buf += n;
        len -= (size_t)n;
    }
}

/* Reads more into k->in (moving what is left to the front first). */
static void
conn_fill(conn *k)
{
    if (k->start > 0) {
        memmove(k->in, k->in + k->start, k->end - k->start);
        k->end -= k->start;
        k->start = 0;
    }
    if (k->end == sizeof k->in) {
        fprintf(stderr, "beanstalkd_peer: a reply longer than %zu bytes\n", sizeof k->in);
        exit(1);
    }
    ssize_t n;
    while ((n = read(k->fd, k->in + k->end, sizeof k->in - k->end)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        peer_die("beanstalkd_peer: read");
    if (n == 0) {
        fprintf(stderr, "beanstalkd_peer: the server closed the connection\n");
        exit(1);
    }
    k->end += (size_t)n;
}

/* The next reply line, without its \r\n (NUL-terminated in place). */
static char *
conn_line(conn *k)
{
    for (size_t scanned = 0;;) {
        char *nl = memchr(k->in + k->start + scanned, '\n', k->end - k->start - scanned);
        if (nl != NULL && nl > k->in + k->start && nl[-1] == '\r') {
            char *line = k->in + k->start;
            nl[-1] = '\0';
            k->start = (size_t)(nl + 1 - k->in);
            return line;
        }
        scanned = k->end - k->start;
        conn_fill(k);
    }
}

/* The next len bytes and the \r\n after them (valid until the next read). */
static const char *
conn_body(conn *k, size_t len)
{
    while (k->end - k->start < len + 2)
        conn_fill(k);
    const char *body = k->in + k->start;
    if (body[len] != '\r' || body[len + 1] != '\n') {
        fprintf(stderr, "beanstalkd_peer: a job body without its \\r\\n\n");
        exit(1);
    }
    k->start += len + 2;
    return body;
}

/* Reads a reply line; exits unless it starts with want. */
static char *
expect(conn *k, const char *want)
{
    char *line = conn_line(k);
    if (strncmp(line, want, strlen(want)) != 0) {
        fprintf(stderr, "beanstalkd_peer: the server said \"%s\", wanted \"%s...\"\n", line, want);
        exit(1);
    }
    return line;
}

/* Sends one command line and reads its reply, which must start with want. */
static void
command(conn *k, const char *cmd, const char *want)
{
    conn_write(k, cmd, strlen(cmd));
    expect(k, want);
}

/* An output buffer for a pipeline of commands. */
typedef struct out {
    char *buf;
    size_t len, cap;
} out;

static void
out_add(out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->buf = realloc(o->buf, o->cap);
        if (o->buf == NULL)
            peer_die("realloc");
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void
out_put(out *o, const char *item, size_t size)
{
    char head[64];
    int n = snprintf(head, sizeof head, "put 0 0 %d %zu\r\n", TTR, size);
    out_add(o, head, (size_t)n);
    out_add(o, item, size);
    out_add(o, "\r\n", 2);
}

static void
producer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    size_t size = c->f.size, depth = c->f.depth;
    conn *k = malloc(sizeof *k);
    char *item = malloc(size), cmd[128];
    out o = {0};
    if (k == NULL || item == NULL)
        peer_die("malloc");
    conn_open(k, c);
    snprintf(cmd, sizeof cmd, "use %s\r\n", c->tube);
    command(k, cmd, "USING ");
    memset(item, 'x', size);
    peer_ready(s);
    uint64_t stop = peer_now_ns() + (uint64_t)(c->f.seconds * 1e9), n = 0;
    while (peer_now_ns() < stop) {
        o.len = 0;
        for (size_t i = 0; i < depth; i++) {
            peer_item_stamp(item, size, n + i);
            out_put(&o, item, size);
        }
        conn_write(k, o.buf, o.len);
        for (size_t i = 0; i < depth; i++)
            expect(k, "INSERTED ");
        n += depth;
    }
    o.len = 0;
    for (size_t i = 0; i < depth; i++) /* the end: one per pipelined reserve */
        out_put(&o, "", 0);
    conn_write(k, o.buf, o.len);
    for (size_t i = 0; i < depth; i++)
        expect(k, "INSERTED ");
    peer_result res = {.count = n, .last_ns = peer_now_ns()};
    peer_send_result(s, &res);
    close(k->fd);
    free(o.buf);
    free(item);
    free(k);
}

static void
consumer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    size_t depth = c->f.depth;
    conn *k = malloc(sizeof *k);
    uint64_t *ids = malloc(depth * sizeof *ids);
    char cmd[128];
    out o = {0};
    if (k == NULL || ids == NULL)
        peer_die("malloc");
    conn_open(k, c);
    snprintf(cmd, sizeof cmd, "watch %s\r\n", c->tube);
    command(k, cmd, "WATCHING ");
    command(k, "ignore default\r\n", "WATCHING 1");
    peer_ready(s);
    peer_result res = {.consumer = 1};
    /* held: the jobs reserved and not yet deleted; fresh: how many of them
     * were items (the rest end markers). */
    size_t held = 0;
    uint64_t fresh = 0;
    for (int done = 0;;) {
        o.len = 0;
        for (size_t i = 0; i < held; i++) {
            int n = snprintf(cmd, sizeof cmd, "delete %llu\r\n", (unsigned long long)ids[i]);
            out_add(&o, cmd, (size_t)n);
        }
        for (size_t i = 0; i < depth && !done; i++)
            out_add(&o, "reserve\r\n", 9);
        conn_write(k, o.buf, o.len);
        for (size_t i = 0; i < held; i++)
            expect(k, "DELETED");
        if (fresh > 0) {
            res.count += fresh;
            res.last_ns = peer_now_ns();
        }
        if (done)
            break;
        held = 0;
        fresh = 0;
        for (size_t i = 0; i < depth; i++) {
            char *line = expect(k, "RESERVED ");
            unsigned long long id, len;
            if (sscanf(line, "RESERVED %llu %llu", &id, &len) != 2) {
                fprintf(stderr, "beanstalkd_peer: the server said \"%s\"\n", line);
                exit(1);
            }
            const char *body = conn_body(k, (size_t)len);
            ids[held++] = id;
            if (len == 0)
                done = 1;
            else if (!res.failed && !peer_item_check("beanstalkd_peer", body, (size_t)len,
                                                     c->f.size, res.count + fresh))
                res.failed = 1;
            else
                fresh++;
        }
    }
    peer_send_result(s, &res);
    close(k->fd);
    free(o.buf);
    free(ids);
    free(k);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    cfg c = {.f = peer_flow_args(argc - 2, argv + 2, usage)};
    const char *colon = strrchr(argv[1], ':');
    if (strncmp(argv[1], "unix:", 5) == 0 && argv[1][5] != '\0') {
        c.path = argv[1] + 5;
        snprintf(c.endpoint, sizeof c.endpoint, "unix://%s", c.path);
    } else if (colon != NULL && colon != argv[1] && colon[1] != '\0' &&
               (size_t)(colon - argv[1]) < sizeof c.host) {
        memcpy(c.host, argv[1], (size_t)(colon - argv[1]));
        c.port = colon + 1;
        snprintf(c.endpoint, sizeof c.endpoint, "tcp://%s", argv[1]);
    } else {
        fputs(usage, stderr);
        return 2;
    }
    snprintf(c.tube, sizeof c.tube, "ipcq-bench-%d", (int)getpid());
    conn *k = malloc(sizeof *k); /* the server is up before the children start */
    if (k == NULL)
        peer_die("malloc");
    conn_open(k, &c);
    command(k, "list-tubes-watched\r\n", "OK ");
    close(k->fd);
    free(k);

    uint64_t count;
    double seconds = peer_run_pair(producer, consumer, &c, "beanstalkd_peer", &count);
    char extra[320];
    snprintf(extra, sizeof extra, "\"endpoint\": \"%s\"", c.endpoint);
    peer_flow_report("beanstalkd", "put/reserve/delete", &c.f, count, seconds, extra);
    return 0;
}
