/*
 * redis_peer — the Redis peer of ipcq-bench (issue 4): one producer process
 * RPUSHes SIZE-byte items onto a list for SECONDS, one consumer process
 * BLPOPs them, through hiredis over a unix socket.
 *
 *   redis_peer SOCKET rtt SECONDS [SIZE]            one command per round trip
 *   redis_peer SOCKET pipeline SECONDS [SIZE [N]]   N commands (default 100) per round trip
 *
 * The consumer pipelines its BLPOPs as the producer does its RPUSHes. The
 * end is N empty items; the consumer checks it got every item the producer
 * put, in order (each carries its sequence number). Prints one JSON line.
 */
#include "peer.h"

#include <hiredis.h>

static const char usage[] = "usage: redis_peer SOCKET rtt|pipeline SECONDS [SIZE [DEPTH]]\n";

typedef struct cfg {
    const char *socket;
    char key[64];
    peer_flow f;
} cfg;

static redisContext *
connect_or_die(const cfg *c)
{
    redisContext *r = redisConnectUnix(c->socket);
    if (r == NULL || r->err) {
        fprintf(stderr, "redis_peer: connecting to %s: %s\n", c->socket,
                r ? r->errstr : "out of memory");
        exit(1);
    }
    return r;
}

/* Reads one reply; exits on an error reply. The caller frees it. */
static redisReply *
reply_or_die(redisContext *r)
{
    void *reply = NULL;
    if (redisGetReply(r, &reply) != REDIS_OK || reply == NULL) {
        fprintf(stderr, "redis_peer: %s\n", r->errstr);
        exit(1);
    }
    redisReply *rep = reply;
    if (rep->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis_peer: %s\n", rep->str);
        exit(1);
    }
    return rep;
}

static void
producer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    redisContext *r = connect_or_die(c);
    size_t size = c->f.size, depth = c->f.depth;
    char *item = malloc(size);
    memset(item, 'x', size);
    peer_ready(s);
    uint64_t stop = peer_now_ns() + (uint64_t)(c->f.seconds * 1e9), n = 0;
    while (peer_now_ns() < stop) {
        for (size_t i = 0; i < depth; i++) {
            peer_item_stamp(item, size, n + i);
            redisAppendCommand(r, "RPUSH %s %b", c->key, item, size);
        }
        for (size_t i = 0; i < depth; i++)
            freeReplyObject(reply_or_die(r));
        n += depth;
    }
    for (size_t i = 0; i < depth; i++) /* the end: one per pipelined BLPOP */
        redisAppendCommand(r, "RPUSH %s %b", c->key, "", (size_t)0);
    for (size_t i = 0; i < depth; i++)
        freeReplyObject(reply_or_die(r));
    peer_result res = {.count = n, .last_ns = peer_now_ns()};
    peer_send_result(s, &res);
    free(item);
    redisFree(r);
}

static void
consumer(peer_start *s, void *arg)
{
    const cfg *c = arg;
    redisContext *r = connect_or_die(c);
    peer_ready(s);
    peer_result res = {.consumer = 1};
    for (int done = 0; !done;) {
        uint64_t before = res.count;
        for (size_t i = 0; i < c->f.depth; i++)
            redisAppendCommand(r, "BLPOP %s 0", c->key);
        for (size_t i = 0; i < c->f.depth; i++) {
            redisReply *rep = reply_or_die(r);
            if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
                fprintf(stderr, "redis_peer: unexpected BLPOP reply\n");
                exit(1);
            }
            const redisReply *got = rep->element[1];
            if (got->len == 0)
                done = 1;
            else if (!res.failed &&
                     !peer_item_check("redis_peer", got->str, got->len, c->f.size, res.count))
                res.failed = 1;
            else
                res.count++;
            freeReplyObject(rep);
        }
        if (res.count > before)
            res.last_ns = peer_now_ns();
    }
    peer_send_result(s, &res);
    redisFree(r);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    cfg c = {.socket = argv[1], .f = peer_flow_args(argc - 2, argv + 2, usage)};
    snprintf(c.key, sizeof c.key, "ipcq-bench:%d", (int)getpid());
    redisContext *r = connect_or_die(&c);
    freeReplyObject(redisCommand(r, "DEL %s", c.key));

    uint64_t count;
    double seconds = peer_run_pair(producer, consumer, &c, "redis_peer", &count);
    freeReplyObject(redisCommand(r, "DEL %s", c.key));
    redisFree(r);
    peer_flow_report("redis", "RPUSH/BLPOP", &c.f, count, seconds, "");
    return 0;
}
