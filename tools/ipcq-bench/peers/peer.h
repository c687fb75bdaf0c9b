/*
 * What the C peers of ipcq-bench share (header only, so that each peer
 * builds with one cc command): a clock, forked children that die with
 * their parent, the start line (every child says ready, then all go at
 * once), each child's one result record, and the JSON line each prints;
 * and the queue peers' (redis_peer, beanstalkd_peer) command line and
 * their numbered items.
 *
 * Each peer forks its processes, lets them go together, and times from the
 * go until the consumer got its last item, as ipcq-bench does.
 */
#ifndef IPCQ_BENCH_PEER_H
#define IPCQ_BENCH_PEER_H

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a child tells its parent at the end. */
typedef struct peer_result {
    uint64_t count;   /* items put, got, or round trips done */
    uint64_t last_ns; /* when the last one was done */
    int consumer;     /* 1 from the consumer, 0 from the producer */
    int failed;       /* 0, or the child failed (and said why on stderr) */
} peer_result;

typedef struct peer_start {
    int ready[2], go[2], result[2];
} peer_start;

static inline uint64_t
peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
peer_die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static inline void
peer_start_init(peer_start *s)
{
    if (pipe(s->ready) != 0 || pipe(s->go) != 0 || pipe(s->result) != 0)
        peer_die("pipe");
}

/* Forks a child that runs body(arg) and exits; it is SIGKILLed if the
 * parent dies. Its body calls peer_ready() once set up, and
 * peer_send_result() at the end. */
static inline pid_t
peer_fork(peer_start *s, void (*body)(peer_start *, void *), void *arg)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        peer_die("fork");
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(1);
        close(s->ready[0]);
        close(s->go[1]);
        close(s->result[0]);
        body(s, arg);
        _exit(0);
    }
    return pid;
}

/* In a child: says ready, and waits for the go. */
static inline void
peer_ready(peer_start *s)
{
    char c = 'r';
    if (write(s->ready[1], &c, 1) != 1)
        _exit(1);
    while (read(s->go[0], &c, 1) < 0 && errno == EINTR)
        ;
}

static inline void
peer_send_result(peer_start *s, const peer_result *r)
{
    if (write(s->result[1], r, sizeof *r) != (ssize_t)sizeof *r)
        _exit(1);
}

/* In the parent: waits until n children are ready, lets them go, and
 * returns the time of the go. */
static inline uint64_t
peer_go(peer_start *s, int n)
{
    close(s->ready[1]);
    close(s->go[0]);
    close(s->result[1]);
    for (int got = 0; got < n;) {
        char buf[16];
        ssize_t r = read(s->ready[0], buf, sizeof buf);
        if (r <= 0) {
            fprintf(stderr, "peer: a child ended before the start\n");
            exit(1);
        }
        got += (int)r;
    }
    uint64_t t0 = peer_now_ns();
    close(s->go[1]);
    return t0;
}

/* In the parent: reads the next child's result (records are smaller than
 * PIPE_BUF, so each arrives whole); exits if the child failed. */
static inline void
peer_recv_result(peer_start *s, peer_result *r)
{
    ssize_t n;
    while ((n = read(s->result[0], r, sizeof *r)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof *r) {
        fprintf(stderr, "peer: a child ended without a result\n");
        exit(1);
    }
    if (r->failed) {
        fprintf(stderr, "peer: a child failed\n");
        exit(1);
    }
}

/* In the parent: waits until a result can be read, checking meanwhile that
 * none of the n children pids failed (then its partner might wait for it
 * for ever: the parent exits, which kills them). The children stay to be
 * reaped. */
static inline void
peer_await_result(peer_start *s, const pid_t *pids, int n)
{
    struct pollfd p = {.fd = s->result[0], .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, 100)) <= 0) {
        if (r < 0 && errno != EINTR)
            peer_die("poll");
        for (int i = 0; i < n; i++) {
            siginfo_t si = {0};
            if (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                si.si_pid != 0 && (si.si_code != CLD_EXITED || si.si_status != 0)) {
                fprintf(stderr, "peer: child %d failed\n", (int)pids[i]);
                exit(1);
            }
        }
    }
}

/* Reaps pid; exits if it failed. */
static inline void
peer_reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            peer_die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "peer: child %d failed\n", (int)pid);
        exit(1);
    }
}

/* In the parent: runs one producer and one consumer child (each body gets
 * arg), lets them go together and reaps both; exits unless the consumer got
 * every item the producer put. Returns the seconds from the go until the
 * consumer's last item, with *count the items. */
static inline double
peer_run_pair(void (*producer)(peer_start *, void *), void (*consumer)(peer_start *, void *),
              void *arg, const char *peer, uint64_t *count)
{
    peer_start s;
    peer_start_init(&s);
    pid_t cons_pid = peer_fork(&s, consumer, arg);
    pid_t prod_pid = peer_fork(&s, producer, arg);
    const pid_t pids[] = {cons_pid, prod_pid};
    uint64_t t0 = peer_go(&s, 2);
    peer_result a, b;
    peer_await_result(&s, pids, 2);
    peer_recv_result(&s, &a);
    peer_await_result(&s, pids, 2);
    peer_recv_result(&s, &b);
    const peer_result *prod = a.consumer ? &b : &a, *cons = a.consumer ? &a : &b;
    if (prod->consumer || !cons->consumer || prod->count != cons->count) {
        fprintf(stderr, "%s: put %llu items, got %llu\n", peer, (unsigned long long)prod->count,
                (unsigned long long)cons->count);
        exit(1);
    }
    peer_reap(prod_pid);
    peer_reap(cons_pid);
    *count = cons->count;
    return (double)(cons->last_ns - t0) / 1e9;
}

/* Prints the peer's JSON line: rate of count over seconds. */
static inline void
peer_report(const char *peer, const char *mode, const char *unit, uint64_t count, double seconds,
            const char *extra)
{
    printf("{\"peer\": \"%s\", \"mode\": \"%s\", \"items_per_s\": %.1f, \"unit\": \"%s\", "
           "\"items\": %llu, \"seconds\": %.6f%s%s}\n",
           peer, mode, seconds > 0 ? (double)count / seconds : 0.0, unit, (unsigned long long)count,
           seconds, extra[0] ? ", " : "", extra);
    fflush(stdout);
}

/* A positive number from a command-line word, or exit with usage. */
static inline double
peer_arg(const char *s, const char *usage)
{
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0)) {
        fprintf(stderr, "%s", usage);
        exit(2);
    }
    return v;
}

/* The flow of the queue peers (redis_peer, beanstalkd_peer), from the words
 * after the peer's address:
 *   rtt SECONDS [SIZE]                one command per round trip
 *   pipeline SECONDS [SIZE [DEPTH]]   DEPTH commands (default 100) per round trip
 * SIZE defaults to 100 bytes. */
typedef struct peer_flow {
    double seconds;
    size_t size, depth;
    int pipelined;
} peer_flow;

/* Parses argv[0..argc) as above; exits with usage if they are not. */
static inline peer_flow
peer_flow_args(int argc, char **argv, const char *usage)
{
    if (argc < 2 || argc > 4 || (strcmp(argv[0], "rtt") != 0 && strcmp(argv[0], "pipeline") != 0)) {
        fputs(usage, stderr);
        exit(2);
    }
    peer_flow f = {.pipelined = strcmp(argv[0], "pipeline") == 0,
                   .seconds = peer_arg(argv[1], usage),
                   .size = argc > 2 ? (size_t)peer_arg(argv[2], usage) : 100};
    f.depth = f.pipelined ? (argc > 3 ? (size_t)peer_arg(argv[3], usage) : 100) : 1;
    return f;
}

/* Prints the JSON line of a queue peer's run: mode is "OPS one per round
 * trip" or "OPS pipelined by DEPTH"; more, more JSON members (or ""). */
static inline void
peer_flow_report(const char *peer, const char *ops, const peer_flow *f, uint64_t count,
                 double seconds, const char *more)
{
    char mode[128], extra[512];
    if (f->pipelined)
        snprintf(mode, sizeof mode, "%s pipelined by %zu", ops, f->depth);
    else
        snprintf(mode, sizeof mode, "%s one per round trip", ops);
    snprintf(extra, sizeof extra, "\"depth\": %zu%s%s", f->depth, more[0] ? ", " : "", more);
    peer_report(peer, mode, "items/s", count, seconds, extra);
}

/* A queue peer's items: SIZE bytes of 'x' whose first bytes (8, or all of a
 * smaller item) are the item's sequence number, 0 for the first item put.
 * The end of a run is an empty item. */
static inline void
peer_item_stamp(char *item, size_t size, uint64_t seq)
{
    memcpy(item, &seq, size < sizeof seq ? size : sizeof seq);
}

/* In the consumer: 1 if got (len bytes) is item number seq of SIZE bytes;
 * else says what it got instead on stderr and returns 0. */
static inline int
peer_item_check(const char *peer, const char *got, size_t len, size_t size, uint64_t seq)
{
    if (len != size) {
        fprintf(stderr, "%s: item %llu has %zu bytes, not %zu\n", peer, (unsigned long long)seq,
                len, size);
        return 0;
    }
    size_t n = size < sizeof seq ? size : sizeof seq;
    if (memcmp(got, &seq, n) != 0) {
        uint64_t was = 0;
        memcpy(&was, got, n);
        fprintf(stderr, "%s: item %llu carries sequence number %llu\n", peer,
                (unsigned long long)seq, (unsigned long long)was);
        return 0;
    }
    return 1;
}

#endif
