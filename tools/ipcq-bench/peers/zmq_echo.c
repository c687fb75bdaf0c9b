/*
 * zmq_echo — the bare transport under ipcq, measured alone (issue 4): a
 * ZeroMQ ROUTER process echoes every message back to DEALER clients over
 * ipc, with nothing else in the way. This is the floor under one ipcq
 * request.
 *
 *   zmq_echo DIR sync SECONDS [SIZE [CLIENTS]]   each client: send, wait for the echo
 *   zmq_echo DIR window SECONDS [SIZE [WINDOW]]  one client keeps WINDOW (1000) in flight
 *
 * The socket is DIR/echo.sock. Prints one JSON line: round trips per
 * second in all, and for sync the mean round trip.
 */
#include "peer.h"

#include <zmq.h>

static const char usage[] = "usage: zmq_echo DIR sync|window SECONDS [SIZE [CLIENTS|WINDOW]]\n";

typedef struct cfg {
    char endpoint[256];
    int window; /* 0: sync */
    double seconds;
    size_t size;
} cfg;

static void
zdie(const char *what)
{
    fprintf(stderr, "zmq_echo: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

/* The echo: identity and payload in, the same out, until killed. */
static _Noreturn void
serve(const cfg *c)
{
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    int hwm = 0; /* a ROUTER drops what goes over its high-water mark: no limit */
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (sock == NULL || zmq_bind(sock, c->endpoint) != 0)
        zdie("bind");
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    for (;;) {
        if (zmq_msg_recv(&id, sock, 0) < 0 || zmq_msg_recv(&body, sock, 0) < 0)
            zdie("recv");
        if (zmq_msg_send(&id, sock, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, sock, 0) < 0)
            zdie("send");
    }
}

static void
client(peer_start *s, void *arg)
{
    const cfg *c = arg;
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 0; /* no limit: the window bounds what is in flight */
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (sock == NULL || zmq_connect(sock, c->endpoint) != 0)
        zdie("connect");
    char *buf = calloc(1, c->size), *in = malloc(c->size);
    /* One round trip before the start: connected, and the server is up. */
    if (zmq_send(sock, buf, c->size, 0) < 0 || zmq_recv(sock, in, c->size, 0) < 0)
        zdie("first round trip");
    peer_ready(s);
    uint64_t stop = peer_now_ns() + (uint64_t)(c->seconds * 1e9);
    peer_result res = {.consumer = 1};
    int window = c->window > 0 ? c->window : 1, in_flight = 0;
    for (int sending = 1; sending || in_flight > 0;) {
        while (sending && in_flight < window) {
            if (zmq_send(sock, buf, c->size, 0) < 0)
                zdie("send");
            in_flight++;
        }
        int n = zmq_recv(sock, in, c->size, 0);
        if (n < 0)
            zdie("recv");
        if ((size_t)n != c->size)
            res.failed = 1;
        in_flight--;
        res.count++;
        if ((res.count & 63) == 0 || c->window == 0)
            sending = peer_now_ns() < stop;
    }
    res.last_ns = peer_now_ns();
    peer_send_result(s, &res);
    free(buf);
    free(in);
    zmq_close(sock);
    zmq_ctx_term(ctx);
}

int
main(int argc, char **argv)
{
    if (argc < 4 || argc > 6 || (strcmp(argv[2], "sync") != 0 && strcmp(argv[2], "window") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    cfg c = {.seconds = peer_arg(argv[3], usage),
             .size = argc > 4 ? (size_t)peer_arg(argv[4], usage) : 100};
    int sync = strcmp(argv[2], "sync") == 0, clients = 1;
    if (sync)
        clients = argc > 5 ? (int)peer_arg(argv[5], usage) : 1;
    else
        c.window = argc > 5 ? (int)peer_arg(argv[5], usage) : 1000;
    snprintf(c.endpoint, sizeof c.endpoint, "ipc://%s/echo.sock", argv[1]);

    fflush(NULL);
    pid_t server = fork();
    if (server < 0)
        peer_die("fork");
    if (server == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            _exit(1);
        serve(&c);
    }
    peer_start s;
    peer_start_init(&s);
    pid_t pids[64];
    if (clients < 1 || clients > 64) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 0; i < clients; i++)
        pids[i] = peer_fork(&s, client, &c);
    uint64_t t0 = peer_go(&s, clients), last = t0, count = 0;
    for (int i = 0; i < clients; i++) {
        peer_result r;
        peer_recv_result(&s, &r);
        count += r.count;
        if (r.last_ns > last)
            last = r.last_ns;
    }
    for (int i = 0; i < clients; i++)
        peer_reap(pids[i]);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);

    double seconds = (double)(last - t0) / 1e9;
    char mode[64], extra[96];
    if (sync) {
        snprintf(mode, sizeof mode, "DEALER/ROUTER echo, sync, %d client%s", clients,
                 clients == 1 ? "" : "s");
        snprintf(extra, sizeof extra, "\"clients\": %d, \"mean_rtt_us\": %.1f", clients,
                 count > 0 ? seconds * 1e6 * clients / (double)count : 0.0);
    } else {
        snprintf(mode, sizeof mode, "DEALER/ROUTER echo, %d in flight", c.window);
        snprintf(extra, sizeof extra, "\"window\": %d", c.window);
    }
    peer_report("zeromq", mode, "round trips/s", count, seconds, extra);
    return 0;
}
