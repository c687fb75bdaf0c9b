/*
 * posixmq_peer — the POSIX message queue peer of ipcq-bench (issue 4): one
 * producer process mq_sends SIZE-byte messages for SECONDS into a queue of
 * SLOTS messages (default 10, Linux's default msg_max), one consumer
 * process mq_receives them. The end is a message of 8 bytes: the
 * producer's count, which the consumer checks. Prints one JSON line.
 *
 *   posixmq_peer SECONDS [SIZE [SLOTS]]
 */
#include "peer.h"

#include <fcntl.h>
#include <mqueue.h>

static const char usage[] = "usage: posixmq_peer SECONDS [SIZE [SLOTS]]\n";

typedef struct cfg {
    mqd_t q;
    double seconds;
    size_t size;
} cfg;

static void
producer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    char *item = malloc(c->size);
    memset(item, 'x', c->size);
    peer_ready(s);
    uint64_t stop = peer_now_ns() + (uint64_t)(c->seconds * 1e9), n = 0;
    while (peer_now_ns() < stop) {
        if (mq_send(c->q, item, c->size, 0) != 0)
            peer_die("mq_send");
        n++;
    }
    if (mq_send(c->q, (const char *)&n, sizeof n, 0) != 0)
        peer_die("mq_send");
    peer_result res = {.count = n, .last_ns = peer_now_ns()};
    peer_send_result(s, &res);
    free(item);
}

static void
consumer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    char *buf = malloc(c->size);
    peer_ready(s);
    peer_result res = {.consumer = 1};
    for (;;) {
        ssize_t n = mq_receive(c->q, buf, c->size, NULL);
        if (n < 0)
            peer_die("mq_receive");
        if ((size_t)n == sizeof(uint64_t))
            break;
        if ((size_t)n != c->size)
            res.failed = 1;
        res.count++;
        res.last_ns = peer_now_ns();
    }
    peer_send_result(s, &res);
    free(buf);
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fputs(usage, stderr);
        return 2;
    }
    cfg c = {.seconds = peer_arg(argv[1], usage),
             .size = argc > 2 ? (size_t)peer_arg(argv[2], usage) : 100};
    long slots = argc > 3 ? (long)peer_arg(argv[3], usage) : 10;
    if (c.size == sizeof(uint64_t)) {
        fprintf(stderr, "posixmq_peer: SIZE 8 is the end marker's; take another\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "/ipcq-bench-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = slots, .mq_msgsize = (long)c.size};
    c.q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (c.q == (mqd_t)-1)
        peer_die("mq_open");
    mq_unlink(name); /* the children inherit the descriptor; nothing is left behind */

    uint64_t count;
    double seconds = peer_run_pair(producer, consumer, &c, "posixmq_peer", &count);
    mq_close(c.q);
    char extra[32];
    snprintf(extra, sizeof extra, "\"slots\": %ld", slots);
    char mode[64];
    snprintf(mode, sizeof mode, "mq_send/mq_receive, %ld slots", slots);
    peer_report("posix-mq", mode, "items/s", count, seconds, extra);
    return 0;
}
