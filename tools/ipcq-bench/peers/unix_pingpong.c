/*
 * unix_pingpong — a raw unix-socket ping-pong (issue 11): the floor for one
 * request on this machine. Two processes joined by an AF_UNIX SOCK_STREAM
 * socketpair bounce a SIZE-byte message: the client writes it and reads it
 * back, the echo reads it and writes it back; one write and one read each
 * way, nothing else in the way (no framing, no library, no I/O thread).
 *
 *   unix_pingpong SECONDS [SIZE]
 *
 * The echo is a forked child; the client is this process, which times each
 * round trip once both sides have bounced one message. Prints one JSON line:
 * round trips per second, and the mean, p50 and p99 round trip in µs.
 */
#include "peer.h"

#include <stdbool.h>
#include <sys/socket.h>

static const char usage[] = "usage: unix_pingpong SECONDS [SIZE]\n";

/* Round-trip histogram: 0.1 µs buckets up to 10 ms, one bucket beyond. */
#define BUCKET_NS 100
#define BUCKETS 100000

/* Reads exactly len bytes; false at the end of the stream. */
static bool
read_all(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            peer_die("read");
        if (n == 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static void
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            peer_die("write");
        buf += n;
        len -= (size_t)n;
    }
}

/* The echo: each message back as it came, until the client closes. */
static _Noreturn void
echo(int fd, size_t size)
{
    char *buf = malloc(size);
    if (buf == NULL)
        peer_die("malloc");
    while (read_all(fd, buf, size))
        write_all(fd, buf, size);
    _exit(0);
}

/* The round trip in µs below which a share q of the samples lie. */
static double
percentile(const uint64_t *hist, uint64_t count, double q)
{
    uint64_t want = (uint64_t)(q * (double)count), seen = 0;
    for (int i = 0; i <= BUCKETS; i++) {
        seen += hist[i];
        if (seen > want)
            return (double)(i + 1) * BUCKET_NS / 1e3; /* the bucket's upper edge */
    }
    return (double)(BUCKETS + 1) * BUCKET_NS / 1e3;
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fputs(usage, stderr);
        return 2;
    }
    double seconds = peer_arg(argv[1], usage);
    size_t size = argc > 2 ? (size_t)peer_arg(argv[2], usage) : 100;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        peer_die("socketpair");
    fflush(NULL);
    pid_t child = fork();
    if (child < 0)
        peer_die("fork");
    if (child == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            _exit(1);
        close(sv[0]);
        echo(sv[1], size);
    }
    close(sv[1]);
    int fd = sv[0];
    char *out = calloc(1, size), *in = malloc(size);
    uint64_t *hist = calloc(BUCKETS + 1, sizeof *hist);
    if (out == NULL || in == NULL || hist == NULL)
        peer_die("malloc");
    /* One round trip before the start: the echo is up and running. */
    write_all(fd, out, size);
    if (!read_all(fd, in, size)) {
        fprintf(stderr, "unix_pingpong: the echo ended before the start\n");
        return 1;
    }
    uint64_t count = 0, t0 = peer_now_ns(), stop = t0 + (uint64_t)(seconds * 1e9), now = t0;
    while (now < stop) {
        uint64_t before = now;
        out[count % size] = (char)count; /* a different message each time */
        write_all(fd, out, size);
        if (!read_all(fd, in, size)) {
            fprintf(stderr, "unix_pingpong: the echo ended early\n");
            return 1;
        }
        if (memcmp(in, out, size) != 0) {
            fprintf(stderr, "unix_pingpong: the echo came back damaged\n");
            return 1;
        }
        now = peer_now_ns();
        uint64_t b = (now - before) / BUCKET_NS;
        hist[b < BUCKETS ? b : BUCKETS]++;
        count++;
    }
    double secs = (double)(now - t0) / 1e9;
    close(fd); /* the echo reads the end and exits */
    peer_reap(child);

    char mode[64], extra[128];
    snprintf(mode, sizeof mode, "socketpair ping-pong, %zu bytes", size);
    snprintf(extra, sizeof extra,
             "\"mean_rtt_us\": %.2f, \"p50_rtt_us\": %.1f, \"p99_rtt_us\": %.1f",
             count > 0 ? secs * 1e6 / (double)count : 0.0, percentile(hist, count, 0.5),
             percentile(hist, count, 0.99));
    peer_report("unix-socket", mode, "round trips/s", count, secs, extra);
    free(out);
    free(in);
    free(hist);
    return 0;
}
