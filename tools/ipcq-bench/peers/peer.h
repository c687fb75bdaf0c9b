/*
 * What the C peers of ipcq-bench share (header only, so that each peer
 * builds with one cc command): a clock, forked children that die with
 * their parent, the start line (every child says ready, then all go at
 * once), each child's one result record, and the JSON line each prints.
 *
 * Each peer forks its processes, lets them go together, and times from the
 * go until the consumer got its last item, as ipcq-bench does.
 */
#ifndef IPCQ_BENCH_PEER_H
#define IPCQ_BENCH_PEER_H

#define _GNU_SOURCE
#include <errno.h>
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
    uint64_t t0 = peer_go(&s, 2);
    peer_result a, b;
    peer_recv_result(&s, &a);
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

#endif
