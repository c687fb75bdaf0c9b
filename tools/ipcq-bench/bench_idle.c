/*
 * The idle-lane scenario (see bench_args.h), issue 11's target: "10,000
 * idle local clients connected: broker RSS <= 100 MB, and async items/s
 * within 20% of none".
 *
 * The broker must serve the unix:// lane (bench_broker.h, scheme "unix"):
 * the one at --broker unix://PATH (its RSS known from --broker-pid), an
 * ipcqd started here (--ipcqd) with its limits out of the way, or else the
 * library's private broker. The scenario
 * runs an async throughput run (bench_run.h: one producer, one consumer,
 * --items items, over the lane) with no idle client, opens --count raw
 * lane connections that each send one PING and read its answer (so that
 * the broker has served each, as a client that connected and went quiet),
 * runs two async runs beside them, closes them, and runs one more without:
 * none, idle, idle, none, so that a machine that slows down or speeds up
 * in between weighs on both sides alike. It reports the broker's RSS
 * before, with the idle connections, per connection, and at its peak, and
 * the items/s of each side with their ratio. The check: every connection
 * was answered and is still open at the end (none was cut off).
 *
 * This process holds a descriptor per connection: its soft limit of open
 * files goes up to the hard one, and a --count that does not fit is
 * refused before anything starts.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_broker.h"
#include "bench_run.h"
#include "bench_scale.h"
#include "ipcq.h"
#include "ipcq.pb-c.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"
#include "wire.h"

#define SCHEME "unix://"
#define SPARE_FDS 64    /* descriptors beyond the connections: the runs' own */
#define ANSWER_MS 10000 /* the longest a PING may wait for its answer */
#define RUNS 4          /* none, idle, idle, none */

typedef struct idle {
    const bench_opts *o;
    bench_scale_result *r;
    bench_broker broker; /* on a unix:// endpoint */
    int *fds;            /* the idle connections; -1: none */
    int64_t nopen;       /* how many are open */
} idle;

/* The soft limit of open files up to the hard one; false (after saying
 * why) if --count connections do not fit. */
static bool
enough_descriptors(int64_t count)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "ipcq-bench: idle-lane: getrlimit: %s\n", strerror(errno));
        return false;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)(count + SPARE_FDS) > rl.rlim_cur) {
        fprintf(stderr,
                "ipcq-bench: idle-lane: --count %lld needs %lld open files, and the limit is "
                "%llu (ulimit -Hn)\n",
                (long long)count, (long long)(count + SPARE_FDS), (unsigned long long)rl.rlim_cur);
        return false;
    }
    return true;
}

/* ---- the idle connections ------------------------------------------------ */

/* One framed PING with this id. */
static size_t
ping_frame(unsigned char *buf, size_t cap, uint64_t id)
{
    Ipcqwire__Request req;
    ipcqwire__request__init(&req);
    req.version = IPCQ_PROTOCOL_VERSION;
    req.id = id;
    req.op = IPCQWIRE__OP__OP_PING;
    size_t len = ipcqwire__request__get_packed_size(&req);
    if (len + 4 > cap)
        return 0;
    buf[0] = (unsigned char)len;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)(len >> 16);
    buf[3] = (unsigned char)(len >> 24);
    ipcqwire__request__pack(&req, buf + 4);
    return len + 4;
}

/* Reads one framed reply from fd within ANSWER_MS: true if it answers id
 * with IPCQ_OK. */
static bool
read_answer(int fd, uint64_t id)
{
    unsigned char buf[4096];
    size_t have = 0;
    int64_t deadline = tool_now_ms() + ANSWER_MS;
    for (;;) {
        if (have >= 4) {
            size_t n =
                (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 | (size_t)buf[3] << 24;
            if (n > sizeof buf - 4)
                return false;
            if (have >= 4 + n) {
                Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, n, buf + 4);
                bool ok = r != NULL && r->id == id && r->status == IPCQ_OK;
                ipcqwire__reply__free_unpacked(r, NULL);
                return ok;
            }
        }
        int64_t left = deadline - tool_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || tool_stop_signal() != 0)
            return false;
        if (poll(&p, 1, left < TOOL_SLICE_MS ? (int)left : TOOL_SLICE_MS) <= 0)
            continue;
        ssize_t got = recv(fd, buf + have, sizeof buf - have, 0);
        if (got <= 0 && !(got < 0 && errno == EINTR))
            return false;
        if (got > 0)
            have += (size_t)got;
    }
}

/* Opens --count connections, each answered once. */
static int
open_idle(idle *x)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *path = x->broker.endpoint + strlen(SCHEME);
    if (strncmp(x->broker.endpoint, SCHEME, strlen(SCHEME)) != 0 ||
        strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "ipcq-bench: idle-lane: %s is not a unix:// endpoint\n",
                x->broker.endpoint);
        return TOOL_EXIT_USAGE;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    unsigned char frame[64];
    for (; x->nopen < x->o->count; x->nopen++) {
        uint64_t id = (uint64_t)x->nopen + 1;
        size_t len = ping_frame(frame, sizeof frame, id);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            send(fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len) {
            fprintf(stderr, "ipcq-bench: idle-lane: connection %lld: %s\n", (long long)id,
                    strerror(errno));
            if (fd >= 0)
                close(fd);
            return TOOL_EXIT_ERROR;
        }
        x->fds[x->nopen] = fd;
        if (!read_answer(fd, id)) {
            x->nopen++;
            if (tool_stop_signal() != 0)
                return 128 + tool_stop_signal();
            bench_scale_fail(x->r, "idle connection %lld: no answer to its PING", (long long)id);
            return TOOL_EXIT_OK;
        }
    }
    return TOOL_EXIT_OK;
}

/* How many of the open connections the broker has closed. */
static int64_t
count_closed(const idle *x)
{
    int64_t closed = 0;
    for (int64_t i = 0; i < x->nopen; i++) {
        struct pollfd p = {.fd = x->fds[i], .events = POLLIN | POLLRDHUP};
        if (poll(&p, 1, 0) > 0)
            closed++; /* nothing was asked: anything there is an end */
    }
    return closed;
}

static void
close_idle(idle *x)
{
    for (int64_t i = 0; i < x->nopen; i++)
        close(x->fds[i]);
    x->nopen = 0;
}

/* ---- the runs ------------------------------------------------------------ */

/* One async run over the broker's endpoint: its items/s in *ips. */
static int
async_run(idle *x, double *ips)
{
    bench_opts t = *x->o;
    t.scenario = BENCH_THROUGHPUT;
    t.mode = BENCH_ASYNC;
    t.producers = t.consumers = t.queues = 1;
    t.window = BENCH_DEFAULT_WINDOW;
    t.count = t.idle_queues = 0;
    t.duration_ms = 0;
    t.broker = x->broker.endpoint;
    t.broker_pid = x->broker.pid;
    t.ipcqd = NULL;
    t.json = false;
    bench_result *res = malloc(sizeof *res);
    if (res == NULL) {
        fprintf(stderr, "ipcq-bench: out of memory\n");
        return TOOL_EXIT_ERROR;
    }
    int rc = bench_run(&t, res);
    *ips = res->seconds > 0 ? (double)res->got_items / res->seconds : 0;
    if (rc == TOOL_EXIT_CHECK || (rc == TOOL_EXIT_OK && !res->verified)) {
        bench_scale_fail(x->r, "an async run lost, duplicated or damaged items");
        rc = TOOL_EXIT_OK;
    }
    free(res);
    return rc;
}

static int
scenario(idle *x)
{
    bench_scale_result *r = x->r;
    double ips[RUNS] = {0};
    int64_t before, with, peak;
    bench_scale_fact(r, "idle_connections", "idle unix:// connections", "", (double)x->o->count, 0,
                     true);
    int rc = async_run(x, &ips[0]);
    if (rc != TOOL_EXIT_OK)
        return rc;
    bench_scale_rss(r, "rss_before_mib", "broker RSS before (VmRSS)", &before);
    uint64_t t0 = tool_now_ns();
    rc = open_idle(x);
    if (rc != TOOL_EXIT_OK || !r->verified)
        return rc;
    bench_scale_fact(r, "open_s", "connected and answered in", "s",
                     (double)(tool_now_ns() - t0) / 1e9, 3, true);
    bench_scale_rss(r, "rss_idle_mib", "broker RSS with them (VmRSS)", &with);
    bench_scale_per(r, "bytes_per_connection", "RSS per connection (with - before)", before, with,
                    x->o->count);
    for (int i = 1; i <= 2 && rc == TOOL_EXIT_OK; i++)
        rc = async_run(x, &ips[i]);
    if (rc != TOOL_EXIT_OK)
        return rc;
    bench_scale_rss(r, "rss_idle_after_mib", "broker RSS with them after the runs (VmRSS)", &with);
    int64_t closed = count_closed(x);
    if (closed > 0)
        bench_scale_fail(r, "the broker closed %lld of the idle connections", (long long)closed);
    close_idle(x);
    rc = async_run(x, &ips[3]);
    if (rc != TOOL_EXIT_OK)
        return rc;
    bench_scale_peak_rss(r, "peak_rss_mib", "broker peak RSS (VmHWM)", &peak);
    double none = (ips[0] + ips[3]) / 2, busy = (ips[1] + ips[2]) / 2;
    bench_scale_fact(r, "items_per_s_none", "async items/s, no idle connection (mean of 2)", "",
                     none, 0, true);
    bench_scale_fact(r, "items_per_s_idle", "async items/s beside them (mean of 2)", "", busy, 0,
                     true);
    bench_scale_fact(r, "idle_vs_none_pct", "beside them, as a share of none", "%",
                     none > 0 ? 100.0 * busy / none : 0, 1, none > 0);
    return TOOL_EXIT_OK;
}

int
bench_idle_lane(const bench_opts *o, bench_scale_result *r)
{
    idle x = {.o = o, .r = r};
    if (!enough_descriptors(o->count))
        return TOOL_EXIT_ERROR;
    x.fds = calloc((size_t)o->count, sizeof *x.fds);
    if (x.fds == NULL) {
        fprintf(stderr, "ipcq-bench: out of memory\n");
        return TOOL_EXIT_ERROR;
    }
    int rc = bench_broker_start(o, &x.broker, "unix");
    snprintf(r->endpoint, sizeof r->endpoint, "%s", x.broker.endpoint);
    r->broker_kind = x.broker.kind;
    r->broker_pid = x.broker.pid;
    if (rc == TOOL_EXIT_OK)
        rc = scenario(&x);
    close_idle(&x);
    bench_broker_stop(&x.broker);
    free(x.fds);
    if (rc == TOOL_EXIT_OK && !r->verified)
        rc = TOOL_EXIT_CHECK;
    return rc;
}
