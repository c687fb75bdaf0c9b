/*
 * Fuzz target: the client library's reply decoding (SPEC B1), through the
 * public API only. A fake broker, a ZeroMQ ROUTER on a temporary ipc://
 * endpoint in a thread of this process, answers each request the client
 * sends with the fuzz input's bytes. Built with FUZZ_LANE (the target
 * fuzz_client_lane), the fake broker is a lane server on a unix://
 * endpoint (../lane_fake.c) instead, and the client's lane framing is
 * fuzzed as well.
 *
 * An input is: op (1 byte) | flags (1 byte) | reply bytes. op picks the API
 * call (get, get_many, get_leased, stat, qsize, put, put_many, ping, the
 * status-only calls, a prefetched get, put_async + flush, release,
 * get_leased_many, ack_many, a put big enough to ping first). When the reply
 * bytes decode as a Reply, the fake broker sets their id to the request's,
 * so that the client takes them as the answer; otherwise, or with flag
 * NO_REWRITE, it sends them as they are and ends the call with a valid
 * error reply, so no call waits for a timeout. Flag PROBE sends a probe
 * (id 0) first, flag LATE the bytes unchanged first (a reply to nobody,
 * whose items the client hands back). Bits 3-5 of flags are an argument of
 * the call (how many items, which status-only call). On the lane, flag RAW
 * sends the bytes as they are on the stream, unframed (lengths, truncated
 * frames, garbage), and closes the connection after them, so that no call
 * waits for a timeout.
 *
 * The fake broker ignores one-way requests (confirm, release, cancel). The
 * client handles live for the whole run, as an application's would; they
 * are closed, the thread stopped and the endpoint removed at exit, so that
 * LeakSanitizer sees only what the library lost.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ipcq.h"
#include "ipcq.pb-c.h"
#ifdef FUZZ_LANE
#include "lane_fake.h"
typedef lane_peer *fake_peer;
#else
#include <zmq.h>
typedef const zmq_msg_t *fake_peer;
#endif

enum {
    NO_REWRITE = 1, /* send the bytes unchanged, then an error reply */
    PROBE = 2,      /* a probe (id 0) first */
    LATE = 4,       /* the bytes unchanged first, as a reply to nobody */
    RAW = 64,       /* lane: the bytes unframed, then the connection closed */
};

#define REPLY_MAX (1u << 20)

/* What the fake broker answers with: set by the fuzzing thread for the
 * length of one input, copied by the broker thread under the lock. */
static struct {
    pthread_mutex_t lock;
    bool armed;
    unsigned flags;
    size_t len;
    uint8_t bytes[REPLY_MAX];
} script = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char endpoint[200];
static ipcq_client *client, *prefetching;
#ifdef FUZZ_LANE
static lane_fake *fake;

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_client_lane: %s\n", what);
    abort();
}

static void
send_reply(fake_peer peer, const void *data, size_t len)
{
    lane_peer_frame(peer, data, len);
}
#else
static char dir[96], sock_path[128];
static void *ctx, *router;
static pthread_t broker_thread;
static atomic_bool stopping;

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_client: %s: %s\n", what, zmq_strerror(zmq_errno()));
    abort();
}

static void
send_reply(fake_peer peer, const void *data, size_t len)
{
    if (zmq_send(router, zmq_msg_data((zmq_msg_t *)peer), zmq_msg_size((zmq_msg_t *)peer),
                 ZMQ_SNDMORE) < 0 ||
        zmq_send(router, data, len, 0) < 0)
        fail("fake broker send");
}
#endif

static void cleanup(void);

/* The handles the inputs use, open for the whole run; closed at exit. */
static void
open_clients(void)
{
    if (ipcq_client_open(&client, endpoint) != IPCQ_OK ||
        ipcq_client_open(&prefetching, endpoint) != IPCQ_OK)
        fail("ipcq_client_open");
    atexit(cleanup);
}

static void
send_status(fake_peer peer, uint64_t id, int status)
{
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = id;
    r.status = status;
    uint8_t buf[64];
    send_reply(peer, buf, ipcqwire__reply__pack(&r, buf));
}

/* Answers request id as the script says. */
static void
answer(fake_peer peer, uint64_t id)
{
    static uint8_t bytes[REPLY_MAX];
    pthread_mutex_lock(&script.lock);
    bool armed = script.armed;
    unsigned flags = script.flags;
    size_t len = script.len;
    memcpy(bytes, script.bytes, len);
    script.armed = false; /* one answer per input */
    pthread_mutex_unlock(&script.lock);
    if (!armed) {
        send_status(peer, id, IPCQ_EPROTO);
        return;
    }
#ifdef FUZZ_LANE
    if (flags & RAW) {
        lane_peer_raw(peer, bytes, len);
        lane_peer_close(peer);
        return;
    }
#endif
    if (flags & PROBE)
        send_status(peer, 0, IPCQ_OK);
    if (flags & LATE)
        send_reply(peer, bytes, len);
    Ipcqwire__Reply *r = flags & NO_REWRITE ? NULL : ipcqwire__reply__unpack(NULL, len, bytes);
    if (r == NULL) {
        send_reply(peer, bytes, len);
        send_status(peer, id, IPCQ_EPROTO);
        return;
    }
    r->id = id;
    size_t n = ipcqwire__reply__get_packed_size(r);
    uint8_t *out = malloc(n ? n : 1);
    if (out == NULL)
        abort();
    n = ipcqwire__reply__pack(r, out);
    send_reply(peer, out, n);
    ipcqwire__reply__free_unpacked(r, NULL);
    /* protobuf-c packs unknown fields back as they came, and some that it
     * skipped on reading it cannot read again: then the call still needs
     * its answer. */
    r = ipcqwire__reply__unpack(NULL, n, out);
    if (r == NULL)
        send_status(peer, id, IPCQ_EPROTO);
    ipcqwire__reply__free_unpacked(r, NULL);
    free(out);
}

#ifdef FUZZ_LANE
static bool
one_way(const Ipcqwire__Request *req)
{
    return req->op == IPCQWIRE__OP__OP_CONFIRM || req->op == IPCQWIRE__OP__OP_HAND_BACK ||
           req->op == IPCQWIRE__OP__OP_CANCEL;
}

static void
on_event(lane_fake *f, lane_peer *p, lane_event ev, const Ipcqwire__Request *req, void *arg)
{
    (void)f;
    (void)arg;
    if (ev == LANE_REQUEST && !one_way(req))
        answer(p, req->id);
}

static void
cleanup(void)
{
    ipcq_client_close(&prefetching);
    ipcq_client_close(&client);
    int bad = lane_fake_bad_frames(fake);
    lane_fake_stop(&fake);
    if (bad != 0)
        fail("the client sent something that is not a Request");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fake = lane_fake_start(on_event, NULL);
    snprintf(endpoint, sizeof endpoint, "%s", lane_fake_endpoint(fake));
    open_clients();
    return 0;
}
#else
static void
serve_one(void)
{
    zmq_msg_t peer, body;
    zmq_msg_init(&peer);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&peer, router, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&peer) &&
        zmq_msg_recv(&body, router, 0) >= 0) {
        Ipcqwire__Request *req =
            ipcqwire__request__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        if (req == NULL)
            fail("the client sent something that is not a Request");
        bool one_way = req->op == IPCQWIRE__OP__OP_CONFIRM ||
                       req->op == IPCQWIRE__OP__OP_HAND_BACK || req->op == IPCQWIRE__OP__OP_CANCEL;
        if (!one_way)
            answer(&peer, req->id);
        ipcqwire__request__free_unpacked(req, NULL);
    }
    zmq_msg_close(&body);
    zmq_msg_close(&peer);
}

static void *
fake_broker(void *arg)
{
    while (!atomic_load(&stopping)) {
        zmq_pollitem_t it = {.socket = router, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 10) > 0)
            serve_one();
    }
    return arg;
}

static void
cleanup(void)
{
    ipcq_client_close(&prefetching);
    ipcq_client_close(&client);
    atomic_store(&stopping, true);
    pthread_join(broker_thread, NULL);
    zmq_close(router);
    zmq_ctx_term(ctx);
    unlink(sock_path);
    rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Under $TMPDIR (run_fuzz.sh points it into the scratch directory) if
     * the socket's path fits there, else under /tmp. */
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/ipcq-fuzz-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp");
    snprintf(sock_path, sizeof sock_path, "%s/broker.sock", dir);
    snprintf(endpoint, sizeof endpoint, "ipc://%s", sock_path);
    int linger = 0;
    if ((ctx = zmq_ctx_new()) == NULL || (router = zmq_socket(ctx, ZMQ_ROUTER)) == NULL ||
        zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(router, endpoint) != 0)
        fail("fake broker bind");
    if (pthread_create(&broker_thread, NULL, fake_broker, NULL) != 0)
        fail("pthread_create");
    open_clients();
    return 0;
}
#endif

/* The error text is always terminated, within the handle's buffer. */
static void
check_error_text(int rc)
{
    FUZZ_CHECK(rc == IPCQ_OK || strlen(ipcq_client_error(client)) < 512);
}

static void
read_stats(const char *queue)
{
    ipcq_stats *s = NULL;
    if (ipcq_stat(client, queue, &s) != IPCQ_OK)
        return;
    size_t n = ipcq_stats_count(s);
    for (size_t i = 0; i <= n; i++) {
        const char *name = ipcq_stats_name(s, i);
        FUZZ_CHECK((name == NULL) == (i == n) && (name == NULL || strlen(name) <= 255));
        for (int f = 0; f <= IPCQ_QUEUE_DEAD_LETTERED; f++)
            (void)ipcq_stats_queue(s, i, (ipcq_queue_field)f);
    }
    for (int f = 0; f <= IPCQ_BROKER_STAT_DISCONNECTS; f++)
        (void)ipcq_stats_broker(s, (ipcq_broker_field)f);
    ipcq_stats_free(&s);
}

static int
get_many(size_t max)
{
    void *items[8];
    size_t lens[8], got = 0;
    int rc = ipcq_get_many(client, "q", max, items, lens, &got, IPCQ_NOWAIT);
    FUZZ_CHECK(got <= max && (rc == IPCQ_OK || got == 0));
    for (size_t i = 0; i < got; i++)
        ipcq_free(items[i]);
    return rc;
}

/* One of the calls that get only a status back. */
static int
status_call(unsigned which)
{
    switch (which) {
    case 0:
        return ipcq_create(client, "q", 10);
    case 1:
        return ipcq_delete(client, "q");
    case 2:
        return ipcq_task_done(client, "q");
    case 3:
        return ipcq_join(client, "q", IPCQ_NOWAIT);
    case 4:
        return ipcq_shutdown(client, "q", true);
    case 5:
        return ipcq_ack(client, 7);
    case 6:
        return ipcq_extend(client, 7, 1000);
    default:
        return ipcq_set_max_deliveries(client, "q", 3);
    }
}

static int
put_async_and_flush(void)
{
    int rc = ipcq_put_async(client, "q", "x", 1);
    int flushed = ipcq_flush(client, 1000);
    return rc != IPCQ_OK ? rc : flushed;
}

/* A get through a prefetch buffer, emptied again after, so that no input
 * leaves items for the next. */
static int
prefetched_get(size_t max)
{
    FUZZ_CHECK(ipcq_set_prefetch(prefetching, max + 2, 1000) == IPCQ_OK);
    void *data = NULL;
    size_t len = 0;
    int rc = ipcq_get(prefetching, "q", &data, &len, IPCQ_NOWAIT);
    ipcq_free(data);
    ipcq_set_prefetch(prefetching, 0, 0);
    return rc;
}

static int
get_leased_many(size_t max)
{
    void *items[8];
    size_t lens[8], got = 0;
    uint64_t leases[8];
    int rc = ipcq_get_leased_many(client, "q", 1000, max, items, lens, leases, &got, IPCQ_NOWAIT);
    FUZZ_CHECK(got <= max && (rc == IPCQ_OK || got == 0));
    for (size_t i = 0; i < got; i++)
        ipcq_free(items[i]);
    return rc;
}

/* A put too big to go without knowing the broker's limit: a ping first,
 * whose reply (max_item_size) the fuzz bytes are. On a handle of its own,
 * opened for the call, since a handle remembers the limit it learned. */
static int
big_put(void)
{
    static char item[48 << 10];
    ipcq_client *c;
    FUZZ_CHECK(ipcq_client_open(&c, endpoint) == IPCQ_OK);
    int rc = ipcq_put(c, "q", item, sizeof item, IPCQ_NOWAIT);
    FUZZ_CHECK(strlen(ipcq_client_error(c)) < 512);
    ipcq_client_close(&c);
    return rc;
}

static int
call(uint8_t op, unsigned arg)
{
    void *data = NULL;
    size_t len = 0, n = 0;
    uint64_t lease = 0;
    uint32_t deliveries = 0;
    bool flag = false;
    int rc = IPCQ_OK;
    switch (op % 16) {
    case 0:
        rc = ipcq_get(client, "q", &data, &len, IPCQ_NOWAIT);
        break;
    case 1:
        return get_many(arg + 1);
    case 2:
        rc = ipcq_get_leased(client, "q", 1000, &data, &len, &lease, &deliveries, IPCQ_NOWAIT);
        break;
    case 3:
        read_stats(arg & 1 ? "q" : NULL);
        return IPCQ_OK;
    case 4:
        rc = arg & 1 ? ipcq_qsize(client, "q", &n) : ipcq_full(client, "q", &flag);
        break;
    case 5:
        return ipcq_empty(client, "q", &flag);
    case 6:
        return ipcq_put(client, "q", "item", 4, IPCQ_NOWAIT);
    case 7: {
        const void *items[2] = {"a", "bc"};
        const size_t lens[2] = {1, 2};
        return ipcq_put_many(client, "q", 2, items, lens, IPCQ_NOWAIT);
    }
    case 8:
        return ipcq_ping(client);
    case 9:
        return status_call(arg);
    case 10:
        return prefetched_get(arg);
    case 11:
        return put_async_and_flush();
    case 12:
        return ipcq_release(client, 7);
    case 13:
        return get_leased_many(arg + 1);
    case 14: {
        const uint64_t leases[3] = {7, 8, 9};
        return ipcq_ack_many(client, 1 + arg % 3, leases);
    }
    default:
        return big_put();
    }
    FUZZ_CHECK(rc == IPCQ_OK || (data == NULL && len == 0)); /* on error: NULL/0 */
    ipcq_free(data);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    uint8_t op = fuzz_byte(&r);
    uint8_t flags = fuzz_byte(&r);
    if (r.left > REPLY_MAX)
        return -1; /* not added to the corpus */
    pthread_mutex_lock(&script.lock);
    script.armed = true;
    script.flags = flags;
    script.len = r.left;
    if (r.left > 0)
        memcpy(script.bytes, r.p, r.left);
    pthread_mutex_unlock(&script.lock);
    int rc = call(op, (flags >> 3) & 7);
    check_error_text(rc);
#ifdef FUZZ_LANE
    FUZZ_CHECK(lane_fake_bad_frames(fake) == 0); /* the client sent only Requests */
#endif
    pthread_mutex_lock(&script.lock);
    script.armed = false;
    pthread_mutex_unlock(&script.lock);
    return 0;
}
