/* Bad input end to end (SPEC B1, B4): a raw ZeroMQ DEALER sends the broker
 * what no libipcq client would (garbage, truncated and multi-frame messages,
 * unknown request types, wrong versions, bad names, bad timeouts, oversized
 * items and frames, random bytes), while a well-behaved libipcq client must
 * be served before, during and after each.
 *
 * Every bad message either gets an error reply carrying its id, a status
 * and one line of text, or (when it has no readable id) is dropped and
 * counted in the broker's bad_requests figure. A dropped message is shown to
 * have had no reply by a ping sent after it on the same connection: the
 * broker handles one connection's messages in order, so the first reply
 * that arrives must be the ping's. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "ipcq.pb-c.h"
#include "wire.h"
#include "wire_request.h"

/* The broker runs with a small item limit so that over-limit cases stay
 * fast; its socket then refuses frames over MAX_ITEM + 64 KiB. */
#define MAX_ITEM 1024
#define MAX_ITEM_ARG "1024"
#define SOCKET_LIMIT (MAX_ITEM + 64 * 1024)
#define REPLY_WAIT_MS 5000
#define CALL_MS 10000
#define GOOD_QUEUE "well-behaved"

typedef struct bad_ctx {
    test_broker tb;
    ipcq_client *good; /* the well-behaved client */
    void *zctx;
    void *raw; /* the DEALER that misbehaves */
    uint64_t next_id;
    unsigned rounds; /* round trips of the good client so far */
} bad_ctx;

static int
setup(void **state)
{
    bad_ctx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    *state = x;
    test_broker_start(&x->tb, "--max-item-size", MAX_ITEM_ARG, NULL);
    x->good = client_on(&x->tb);
    x->next_id = 1;
    x->zctx = zmq_ctx_new();
    assert_non_null(x->zctx);
    x->raw = zmq_socket(x->zctx, ZMQ_DEALER);
    assert_non_null(x->raw);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(x->raw, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(x->raw, x->tb.endpoint), 0);
    return 0;
}

static int
teardown(void **state)
{
    bad_ctx *x = *state;
    if (x->raw)
        zmq_close(x->raw);
    if (x->zctx)
        zmq_ctx_term(x->zctx);
    ipcq_client_close(&x->good);
    kill_all_children();
    int status = test_broker_stop_status(&x->tb);
    free(x);
    assert_int_equal(status, 0); /* exit 0: no crash, and no leak under ASan */
    return 0;
}

/* ---- the well-behaved side ---- */

static void
assert_broker_alive(bad_ctx *x)
{
    int status;
    pid_t r = waitpid(x->tb.pid, &status, WNOHANG);
    if (r == x->tb.pid) {
        x->tb.pid = 0;
        fail_msg("ipcqd died (wait status %d)", status);
    }
    assert_int_equal(r, 0);
}

/* The broker is alive and the good client gets back what it put. */
static void
served(bad_ctx *x)
{
    assert_broker_alive(x);
    char item[32];
    int n = snprintf(item, sizeof item, "round %u", x->rounds++);
    assert_ipcq_ok(x->good, ipcq_put(x->good, GOOD_QUEUE, item, (size_t)n, CALL_MS));
    void *data = NULL;
    size_t len = 0;
    assert_ipcq_ok(x->good, ipcq_get(x->good, GOOD_QUEUE, &data, &len, CALL_MS));
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(data, item, len);
    ipcq_free(data);
}

static int64_t
broker_field(bad_ctx *x, ipcq_broker_field f)
{
    ipcq_stats *s = NULL;
    assert_ipcq_ok(x->good, ipcq_stat(x->good, NULL, &s));
    int64_t v = ipcq_stats_broker(s, f);
    ipcq_stats_free(&s);
    assert_true(v >= 0);
    return v;
}

/* bad_requests rose by exactly want since it was bad0. */
static void
assert_bad_rose(bad_ctx *x, int64_t bad0, int64_t want)
{
    int64_t got = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS) - bad0;
    if (got != want)
        fail_msg("bad_requests rose by %lld, want %lld", (long long)got, (long long)want);
}

static void
assert_no_queue(bad_ctx *x, const char *queue)
{
    ipcq_stats *s = NULL;
    assert_ipcq_status(x->good, ipcq_stat(x->good, queue, &s), IPCQ_ENOQUEUE);
    assert_null(s);
}

/* ---- the raw side ---- */

static Ipcqwire__Request
request(bad_ctx *x, Ipcqwire__Op op, const char *queue)
{
    Ipcqwire__Request r = wire_request(x->next_id++, op, queue);
    if (op == IPCQWIRE__OP__OP_PUT || op == IPCQWIRE__OP__OP_GET || op == IPCQWIRE__OP__OP_JOIN) {
        r.has_timeout_ms = 1;
        r.timeout_ms = IPCQ_NOWAIT; /* never block, should a bad one get through */
    }
    return r;
}

static void
send_bytes(bad_ctx *x, const void *data, size_t len)
{
    int rc = zmq_send(x->raw, data, len, 0);
    if (rc < 0)
        fail_msg("zmq_send: %s", zmq_strerror(errno));
    assert_int_equal((size_t)rc, len);
}

static void
send_request(bad_ctx *x, const Ipcqwire__Request *req)
{
    size_t len;
    uint8_t *buf = wire_pack(req, &len);
    send_bytes(x, buf, len);
    free(buf);
}

/* Whether the broker's own decoder (the same protobuf-c code) reads it. */
static bool
parses(const void *data, size_t len)
{
    Ipcqwire__Request *r = ipcqwire__request__unpack(NULL, len, data);
    if (r == NULL)
        return false;
    ipcqwire__request__free_unpacked(r, NULL);
    return true;
}

/* The next reply on the raw socket that is not a liveness probe (id 0), or
 * NULL if none came within timeout_ms. */
static Ipcqwire__Reply *
recv_any(bad_ctx *x, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        zmq_pollitem_t item = {.socket = x->raw, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, left > 0 ? (long)left : 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("zmq_poll: %s", zmq_strerror(errno));
        if (n == 0) {
            if (left > 0)
                continue; /* woke early: poll again for the rest */
            return NULL;
        }
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, x->raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        bool more = zmq_msg_more(&m);
        Ipcqwire__Reply *rep = ipcqwire__reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        if (more || rep == NULL)
            fail_msg("the broker sent a reply that is not one Reply frame");
        if (rep->id != 0)
            return rep;
        ipcqwire__reply__free_unpacked(rep, NULL);
    }
}

/* The reply to request id, which must be the next one (probes aside). With
 * skip_older, replies to earlier requests are skipped instead. */
static Ipcqwire__Reply *
reply_to(bad_ctx *x, uint64_t id, bool skip_older)
{
    for (;;) {
        Ipcqwire__Reply *rep = recv_any(x, REPLY_WAIT_MS);
        if (rep == NULL)
            fail_msg("no reply to request %" PRIu64 " within %d ms", id, REPLY_WAIT_MS);
        if (rep->id == id)
            return rep;
        uint64_t got = rep->id;
        ipcqwire__reply__free_unpacked(rep, NULL);
        if (!(skip_older && got < id))
            fail_msg("got a reply with id %" PRIu64 " while waiting for %" PRIu64, got, id);
    }
}

/* B4: one line that says what failed. */
static void
assert_error_line(const Ipcqwire__Reply *rep, const char *needle)
{
    if (rep->error == NULL || rep->error[0] == '\0')
        fail_msg("status %d came without an error text", rep->status);
    for (const unsigned char *p = (const unsigned char *)rep->error; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fail_msg("error text has control character 0x%02x: '%s'", *p, rep->error);
    if (needle != NULL && strstr(rep->error, needle) == NULL)
        fail_msg("error text '%s' does not mention '%s'", rep->error, needle);
}

/* A ping on the raw socket, answered OK; its reply must be the next one, so
 * nothing was answered in between. */
static void
ping_next(bad_ctx *x)
{
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
    send_request(x, &req);
    Ipcqwire__Reply *rep = reply_to(x, req.id, false);
    assert_int_equal(rep->status, IPCQ_OK);
    assert_true(rep->has_version);
    assert_int_equal(rep->version, IPCQ_PROTOCOL_VERSION);
    ipcqwire__reply__free_unpacked(rep, NULL);
}

/* Sends one message that has no readable request: no reply, counted once,
 * and the good client is served before and after. */
static void
expect_dropped(bad_ctx *x, const void *data, size_t len)
{
    assert_false(parses(data, len)); /* or it would not be bad input */
    int64_t bad0 = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    served(x);
    send_bytes(x, data, len);
    ping_next(x);
    served(x);
    assert_bad_rose(x, bad0, 1);
}

/* Sends req and expects an error reply with its id, status want and a text
 * that mentions needle; counted (1) or not (0) as a bad request, or -1: not
 * checked. The good client is served before and after. */
static void
expect_rejected(bad_ctx *x, const Ipcqwire__Request *req, int want, const char *needle, int counted)
{
    int64_t bad0 = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    served(x);
    send_request(x, req);
    Ipcqwire__Reply *rep = reply_to(x, req->id, false);
    if (rep->status != want)
        fail_msg("request %" PRIu64 " (op %d): status %d '%s', want %d (%s)", req->id, (int)req->op,
                 rep->status, rep->error ? rep->error : "", want, ipcq_strerror(want));
    assert_error_line(rep, needle);
    assert_int_equal(rep->n_items, 0);
    ipcqwire__reply__free_unpacked(rep, NULL);
    ping_next(x); /* one reply only */
    served(x);
    if (counted >= 0)
        assert_bad_rose(x, bad0, counted);
}

/* ---- the cases ---- */

static void
garbage_bytes_are_dropped_and_counted(void **state)
{
    bad_ctx *x = *state;
    static const struct {
        const char *bytes;
        size_t len;
    } junk[] = {
        {"\xff\xff\xff\xff", 4},                                  /* bad wire type */
        {"GET /queue HTTP/1.1\r\n\r\n", 23},                      /* another protocol */
        {"\0\0\0\0\0\0\0\0", 8},                                  /* field number 0 */
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12}, /* endless varint */
        {"\x08\x01\x10\x05", 4},                                  /* no op */
        {"\x08\x01\x10\x05\x18\x01\x22\x7f", 8},                  /* name runs off the end */
        {"\x08\x01\x10\x05\x18\x02\x3a\xff\xff\xff\xff\x0f", 12}, /* item of 4 GiB */
        {"\x08\x01\x10\x05\x18\x01\x0b", 7},                      /* start group */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        expect_dropped(x, junk[i].bytes, junk[i].len);

    /* Large garbage that the socket still admits. */
    size_t len = SOCKET_LIMIT - 16;
    unsigned char *big = malloc(len);
    assert_non_null(big);
    memset(big, 0xff, len);
    expect_dropped(x, big, len);
    free(big);
}

static void
truncated_requests_are_dropped_and_counted(void **state)
{
    bad_ctx *x = *state;
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PUT, "truncated");
    ProtobufCBinaryData item = {.len = 40,
                                .data = (uint8_t *)"0123456789012345678901234567890123456789"};
    req.n_items = 1;
    req.items = &item;
    size_t len;
    uint8_t *buf = wire_pack(&req, &len);
    /* Every cut that leaves no readable request; a cut at a field boundary
     * after the required fields would be a valid (other) request. */
    size_t sent = 0;
    for (size_t cut = 1; cut < len; cut++) {
        if (parses(buf, cut))
            continue;
        expect_dropped(x, buf, cut);
        sent++;
    }
    assert_false(parses(buf, len - 1)); /* the item cut short */
    assert_true(sent >= len / 2);
    free(buf);
    assert_no_queue(x, "truncated");
}

static void
empty_frame_is_dropped_and_counted(void **state)
{
    bad_ctx *x = *state;
    expect_dropped(x, "", 0);
}

static void
message_of_several_frames_is_dropped_and_counted(void **state)
{
    bad_ctx *x = *state;
    /* Each frame alone would be a valid ping; together they are not one
     * request, and neither is answered. */
    for (int nframes = 2; nframes <= 4; nframes++) {
        int64_t bad0 = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
        served(x);
        for (int i = 0; i < nframes; i++) {
            Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
            size_t len;
            uint8_t *buf = wire_pack(&req, &len);
            int rc = zmq_send(x->raw, buf, len, i + 1 < nframes ? ZMQ_SNDMORE : 0);
            free(buf);
            assert_int_equal(rc, (int)len);
        }
        ping_next(x);
        served(x);
        assert_bad_rose(x, bad0, 1);
    }
    /* An empty frame in front, as a REQ socket would send. */
    int64_t bad0 = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
    size_t len;
    uint8_t *buf = wire_pack(&req, &len);
    assert_int_equal(zmq_send(x->raw, "", 0, ZMQ_SNDMORE), 0);
    assert_int_equal(zmq_send(x->raw, buf, len, 0), (int)len);
    free(buf);
    ping_next(x);
    served(x);
    assert_bad_rose(x, bad0, 1);
}

static void
unknown_request_type_gets_eproto(void **state)
{
    bad_ctx *x = *state;
    static const int ops[] = {0, 17, 19, 99, 1000, -1, -5, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, "unknown-op");
        req.op = (Ipcqwire__Op)ops[i];
        expect_rejected(x, &req, IPCQ_EPROTO, "unknown request type", 1);
    }
    assert_no_queue(x, "unknown-op");
}

static void
wrong_protocol_version_gets_eversion(void **state)
{
    bad_ctx *x = *state;
    static const uint32_t versions[] = {0, IPCQ_PROTOCOL_VERSION + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        Ipcqwire__Request ping = request(x, IPCQWIRE__OP__OP_PING, NULL);
        ping.version = versions[i];
        expect_rejected(x, &ping, IPCQ_EVERSION, "protocol version", 1);
        /* A request that would create a queue does not. */
        Ipcqwire__Request put = request(x, IPCQWIRE__OP__OP_CREATE, "old-client");
        put.version = versions[i];
        expect_rejected(x, &put, IPCQ_EVERSION, "protocol version", 1);
    }
    assert_no_queue(x, "old-client");
}

static void
bad_queue_names_get_einval(void **state)
{
    bad_ctx *x = *state;
    char too_long[IPCQ_NAME_MAX + 2];
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const struct {
        const char *bytes; /* NULL: no name at all */
        size_t len;
    } names[] = {
        {"bad\x01name", 8},  /* C0 control character */
        {"tab\there", 8},    /* C0 again */
        {"nl\n", 3},         /* a newline would split the error line */
        {"del\x7f", 4},      /* DEL */
        {"c1\xc2\x85", 4},   /* C1 control character U+0085 */
        {"nul\0x", 5},       /* NUL inside */
        {"\xff\xfe", 2},     /* not UTF-8 */
        {"\xc0\xaf", 2},     /* overlong encoding of '/' */
        {"\xed\xa0\x80", 3}, /* a surrogate */
        {"cut\xe2\x82", 5},  /* a sequence cut short */
        {too_long, IPCQ_NAME_MAX + 1},
        {"", 0},   /* empty */
        {NULL, 0}, /* absent */
    };
    static const Ipcqwire__Op ops[] = {
        IPCQWIRE__OP__OP_PUT,       IPCQWIRE__OP__OP_GET,  IPCQWIRE__OP__OP_CREATE,
        IPCQWIRE__OP__OP_DELETE,    IPCQWIRE__OP__OP_JOIN, IPCQWIRE__OP__OP_SHUTDOWN,
        IPCQWIRE__OP__OP_TASK_DONE, IPCQWIRE__OP__OP_STAT,
    };
    ProtobufCBinaryData item = {.len = 4, .data = (uint8_t *)"item"};
    served(x);
    int64_t queues0 = broker_field(x, IPCQ_BROKER_STAT_QUEUES);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            /* stat without a name is about every queue: not bad input */
            if (ops[o] == IPCQWIRE__OP__OP_STAT && names[i].len == 0)
                continue;
            Ipcqwire__Request req = request(x, ops[o], NULL);
            if (names[i].bytes != NULL) {
                req.has_queue = 1;
                req.queue.data = (uint8_t *)names[i].bytes;
                req.queue.len = names[i].len;
            }
            if (ops[o] == IPCQWIRE__OP__OP_PUT) {
                req.n_items = 1;
                req.items = &item;
            }
            expect_rejected(x, &req, IPCQ_EINVAL, "invalid queue name", 1);
        }
    }
    assert_int_equal(broker_field(x, IPCQ_BROKER_STAT_QUEUES), queues0); /* no junk queue */
}

static void
timeout_below_forever_gets_einval(void **state)
{
    bad_ctx *x = *state;
    /* The library refuses these itself; the broker must too. */
    const struct {
        Ipcqwire__Op op;
        const char *queue;
        int64_t timeout_ms;
    } cases[] = {
        {IPCQWIRE__OP__OP_GET, "neg-get", -7},        {IPCQWIRE__OP__OP_GET, "neg-get", -2},
        {IPCQWIRE__OP__OP_GET, "neg-get", INT64_MIN}, {IPCQWIRE__OP__OP_PUT, "neg-put", -7},
        {IPCQWIRE__OP__OP_JOIN, "neg-join", -7},
    };
    ProtobufCBinaryData item = {.len = 4, .data = (uint8_t *)"item"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Ipcqwire__Request req = request(x, cases[i].op, cases[i].queue);
        req.timeout_ms = cases[i].timeout_ms;
        if (cases[i].op == IPCQWIRE__OP__OP_PUT) {
            req.n_items = 1;
            req.items = &item;
        }
        char needle[64];
        snprintf(needle, sizeof needle, "%s: negative timeout", cases[i].queue);
        expect_rejected(x, &req, IPCQ_EINVAL, needle, 1);
        assert_no_queue(x, cases[i].queue); /* refused before anything happened */
    }
    /* Forever (-1) is no error: a get that then finds an item. */
    assert_ipcq_ok(x->good, ipcq_put(x->good, "neg-ok", "x", 1, CALL_MS));
    Ipcqwire__Request get = request(x, IPCQWIRE__OP__OP_GET, "neg-ok");
    get.timeout_ms = IPCQ_FOREVER;
    send_request(x, &get);
    Ipcqwire__Reply *rep = reply_to(x, get.id, false);
    assert_int_equal(rep->status, IPCQ_OK);
    assert_int_equal(rep->n_items, 1);
    ipcqwire__reply__free_unpacked(rep, NULL);
}

static void
put_without_items_gets_einval(void **state)
{
    bad_ctx *x = *state;
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PUT, "no-items");
    expect_rejected(x, &req, IPCQ_EINVAL, "no-items: put without an item", 1);
    /* Refused before anything changed: not even the queue was created. */
    assert_no_queue(x, "no-items");
}

static void
item_over_the_max_item_size_gets_etoobig(void **state)
{
    bad_ctx *x = *state;
    assert_int_equal(broker_field(x, IPCQ_BROKER_STAT_MAX_ITEM_SIZE), MAX_ITEM);
    unsigned char *data = malloc(MAX_ITEM + 1);
    assert_non_null(data);
    memset(data, 'b', MAX_ITEM + 1);
    ProtobufCBinaryData big = {.len = MAX_ITEM + 1, .data = data};
    ProtobufCBinaryData small = {.len = 5, .data = (uint8_t *)"small"};

    Ipcqwire__Request one = request(x, IPCQWIRE__OP__OP_PUT, "big");
    one.n_items = 1;
    one.items = &big;
    expect_rejected(x, &one, IPCQ_ETOOBIG, "big: item of 1025 bytes", 1);

    /* A batch is refused whole: the small item does not get in either. */
    ProtobufCBinaryData batch[] = {small, big, small};
    Ipcqwire__Request many = request(x, IPCQWIRE__OP__OP_PUT, "big");
    many.n_items = 3;
    many.items = batch;
    expect_rejected(x, &many, IPCQ_ETOOBIG, "over the max item size of 1024", 1);
    /* Refused before anything changed: not even the queue was created. */
    assert_no_queue(x, "big");

    /* Exactly the limit is fine, and comes back whole. */
    Ipcqwire__Request fits = request(x, IPCQWIRE__OP__OP_PUT, "big");
    ProtobufCBinaryData limit = {.len = MAX_ITEM, .data = data};
    fits.n_items = 1;
    fits.items = &limit;
    send_request(x, &fits);
    Ipcqwire__Reply *rep = reply_to(x, fits.id, false);
    assert_int_equal(rep->status, IPCQ_OK);
    ipcqwire__reply__free_unpacked(rep, NULL);
    void *got = NULL;
    size_t len = 0;
    assert_ipcq_ok(x->good, ipcq_get(x->good, "big", &got, &len, CALL_MS));
    assert_int_equal(len, MAX_ITEM);
    assert_memory_equal(got, data, MAX_ITEM);
    ipcq_free(got);

    /* Through the library the user sees the status and the broker's line. */
    assert_ipcq_status(x->good, ipcq_put(x->good, "big", data, MAX_ITEM + 1, CALL_MS),
                       IPCQ_ETOOBIG);
    assert_non_null(strstr(ipcq_client_error(x->good), "big"));
    assert_int_equal(queue_field(x->good, "big", IPCQ_QUEUE_SIZE), 0);
    free(data);
    served(x);
}

static void
frame_over_the_socket_limit_drops_only_that_connection(void **state)
{
    bad_ctx *x = *state;
    ping_next(x); /* connected */
    served(x);
    int64_t dropped0 = broker_field(x, IPCQ_BROKER_STAT_DISCONNECTS);
    /* A PUT of a 200 KiB item: over the socket's message limit, so libzmq
     * drops the connection before the broker sees a byte of it. */
    size_t item_len = 200 * 1024;
    unsigned char *data = malloc(item_len);
    assert_non_null(data);
    memset(data, 'h', item_len);
    ProtobufCBinaryData item = {.len = item_len, .data = data};
    Ipcqwire__Request huge = request(x, IPCQWIRE__OP__OP_PUT, "huge");
    huge.n_items = 1;
    huge.items = &item;
    send_request(x, &huge);
    free(data);
    served(x);

    /* The raw socket reconnects by itself: ping until one is answered. */
    uint64_t first = x->next_id;
    int64_t deadline = now_ms() + CALL_MS;
    bool answered = false;
    while (!answered && now_ms() < deadline) {
        Ipcqwire__Request ping = request(x, IPCQWIRE__OP__OP_PING, NULL);
        send_request(x, &ping);
        Ipcqwire__Reply *rep = recv_any(x, 250);
        if (rep == NULL)
            continue;
        if (rep->id == huge.id)
            fail_msg("the over-limit frame got a reply (status %d)", rep->status);
        assert_true(rep->id >= first && rep->id < x->next_id);
        assert_int_equal(rep->status, IPCQ_OK);
        ipcqwire__reply__free_unpacked(rep, NULL);
        answered = true;
    }
    if (!answered)
        fail_msg("the raw socket got no answer within %d ms after the big frame", CALL_MS);
    /* Pings queued while it was away may still be answered: skip those. */
    Ipcqwire__Request ping = request(x, IPCQWIRE__OP__OP_PING, NULL);
    send_request(x, &ping);
    Ipcqwire__Reply *rep = reply_to(x, ping.id, true);
    assert_int_equal(rep->status, IPCQ_OK);
    ipcqwire__reply__free_unpacked(rep, NULL);
    assert_no_queue(x, "huge");
    served(x);
    /* Dropped, and counted: the one connection libzmq closed. */
    deadline = now_ms() + CALL_MS;
    while (broker_field(x, IPCQ_BROKER_STAT_DISCONNECTS) != dropped0 + 1)
        if (now_ms() > deadline)
            fail_msg("disconnects went from %lld to %lld, want one more", (long long)dropped0,
                     (long long)broker_field(x, IPCQ_BROKER_STAT_DISCONNECTS));
}

/* Child: round trips on its own handle while the parent misbehaves; exits 0
 * when every one came back right. */
static int
child_round_trips(void *arg)
{
    const test_broker *tb = arg;
    ipcq_client *c = NULL;
    if (ipcq_client_open(&c, tb->endpoint) != IPCQ_OK)
        return 1;
    int code = 0;
    for (int i = 0; i < 300 && code == 0; i++) {
        char item[32];
        int n = snprintf(item, sizeof item, "child %d", i);
        void *data = NULL;
        size_t len = 0;
        if (ipcq_put(c, "throughout", item, (size_t)n, CALL_MS) != IPCQ_OK)
            code = 2;
        else if (ipcq_get(c, "throughout", &data, &len, CALL_MS) != IPCQ_OK)
            code = 3;
        else if (len != (size_t)n || memcmp(data, item, len) != 0)
            code = 4;
        ipcq_free(data);
    }
    ipcq_client_close(&c);
    return code;
}

static unsigned char
random_byte(void)
{
    return (unsigned char)(rand() & 0xff);
}

/* A random message into buf (at least 4200 bytes); returns its length. */
static size_t
random_message(unsigned char *buf)
{
    size_t len = 0;
    switch (rand() % 4) {
    case 0: /* short noise */
        len = (size_t)(rand() % 17);
        for (size_t i = 0; i < len; i++)
            buf[i] = random_byte();
        break;
    case 1: /* long noise */
        len = (size_t)(rand() % 4097);
        for (size_t i = 0; i < len; i++)
            buf[i] = random_byte();
        break;
    case 2: /* a plausible head, then noise */
        buf[len++] = 0x08, buf[len++] = IPCQ_PROTOCOL_VERSION;
        buf[len++] = 0x10, buf[len++] = (unsigned char)(1 + rand() % 127);
        buf[len++] = 0x18, buf[len++] = (unsigned char)(rand() % 16);
        for (int i = rand() % 64; i > 0; i--)
            buf[len++] = random_byte();
        break;
    default: /* fields with the right wire types and random contents */
        for (int f = 1 + rand() % 8; f > 0; f--) {
            int field = 1 + rand() % 12;
            bool delimited = field == 4 || field == 7;
            buf[len++] = (unsigned char)(field << 3 | (delimited ? 2 : 0));
            if (delimited) {
                int n = rand() % 40;
                buf[len++] = (unsigned char)(rand() % 48); /* may over- or under-run */
                for (int i = 0; i < n; i++)
                    buf[len++] = random_byte();
            } else {
                for (int i = rand() % 3; i > 0; i--)
                    buf[len++] = random_byte() | 0x80;
                buf[len++] = random_byte() & 0x7f;
            }
        }
        break;
    }
    return len;
}

/* Shared by the fuzz cases: sends n messages made by gen, with a child
 * doing round trips all along, and checks what the broker made of them. */
static void
fuzz(bad_ctx *x, size_t n, size_t (*gen)(unsigned char *buf, void *arg), void *arg)
{
    assert_ipcq_ok(x->good, ipcq_create(x->good, "throughout", 0));
    served(x);
    int64_t bad0 = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    int64_t req0 = broker_field(x, IPCQ_BROKER_STAT_REQUESTS);
    int64_t queues0 = broker_field(x, IPCQ_BROKER_STAT_QUEUES);
    pid_t child = fork_child(child_round_trips, &x->tb);
    unsigned char *buf = malloc(8192);
    assert_non_null(buf);
    size_t unreadable = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = gen(buf, arg);
        assert_true(len <= 8192);
        if (!parses(buf, len))
            unreadable++;
        send_bytes(x, buf, len);
        if (i % 50 == 49)
            served(x);
    }
    free(buf);
    /* Readable ones may have been answered (or still wait): skip to the
     * ping's reply. */
    Ipcqwire__Request ping = request(x, IPCQWIRE__OP__OP_PING, NULL);
    ping.id = UINT64_MAX;
    send_request(x, &ping);
    for (;;) {
        Ipcqwire__Reply *rep = recv_any(x, REPLY_WAIT_MS);
        if (rep == NULL)
            fail_msg("no answer to a ping after the fuzz");
        bool done = rep->id == UINT64_MAX;
        if (done)
            assert_int_equal(rep->status, IPCQ_OK);
        ipcqwire__reply__free_unpacked(rep, NULL);
        if (done)
            break;
    }
    assert_int_equal(reap_child(child, 60000), 0);
    served(x);
    int64_t bad = broker_field(x, IPCQ_BROKER_STAT_BAD_REQUESTS) - bad0;
    int64_t readable = (int64_t)(n - unreadable);
    /* Each unreadable message is counted; readable ones only if refused. */
    assert_true(bad >= (int64_t)unreadable);
    assert_true(bad <= (int64_t)n);
    assert_true(broker_field(x, IPCQ_BROKER_STAT_REQUESTS) - req0 >= (int64_t)n);
    /* Only a readable request can have made a queue. */
    assert_true(broker_field(x, IPCQ_BROKER_STAT_QUEUES) <= queues0 + readable);
    print_message("fuzz: %zu messages, %zu unreadable, %lld counted bad\n", n, unreadable,
                  (long long)bad);
}

static size_t
gen_random(unsigned char *buf, void *arg)
{
    (void)arg;
    return random_message(buf);
}

static void
random_bytes_never_hurt_the_broker(void **state)
{
    bad_ctx *x = *state;
    srand(20240601);
    fuzz(x, 500, gen_random, NULL);
}

/* A valid request of a few kinds, then 1 to 4 random edits. */
static size_t
gen_mutated(unsigned char *buf, void *arg)
{
    bad_ctx *x = arg;
    static const Ipcqwire__Op ops[] = {IPCQWIRE__OP__OP_PING,   IPCQWIRE__OP__OP_PUT,
                                       IPCQWIRE__OP__OP_GET,    IPCQWIRE__OP__OP_STAT,
                                       IPCQWIRE__OP__OP_CREATE, IPCQWIRE__OP__OP_CONFIRM,
                                       IPCQWIRE__OP__OP_CANCEL};
    Ipcqwire__Op op = ops[rand() % (int)(sizeof ops / sizeof ops[0])];
    Ipcqwire__Request req = request(x, op, op == IPCQWIRE__OP__OP_PING ? NULL : "fuzz");
    ProtobufCBinaryData items[2] = {{.len = 7, .data = (uint8_t *)"payload"},
                                    {.len = 0, .data = NULL}};
    uint64_t tags[2] = {1, 2};
    if (op == IPCQWIRE__OP__OP_PUT) {
        req.n_items = 2;
        req.items = items;
    } else if (op == IPCQWIRE__OP__OP_GET) {
        req.has_max_items = 1;
        req.max_items = 2;
    } else if (op == IPCQWIRE__OP__OP_CREATE) {
        req.has_maxsize = 1;
        req.maxsize = 100;
    } else if (op == IPCQWIRE__OP__OP_CONFIRM) {
        req.n_tags = 2;
        req.tags = tags;
    } else if (op == IPCQWIRE__OP__OP_CANCEL) {
        req.has_pending_id = 1;
        req.pending_id = 1;
    }
    size_t len = ipcqwire__request__get_packed_size(&req);
    assert_true(len < 256);
    ipcqwire__request__pack(&req, buf);
    for (int edits = 1 + rand() % 4; edits > 0; edits--) {
        size_t at = len ? (size_t)rand() % len : 0;
        switch (rand() % 5) {
        case 0: /* a byte replaced */
            if (len)
                buf[at] = random_byte();
            break;
        case 1: /* a bit flipped */
            if (len)
                buf[at] ^= (unsigned char)(1u << (rand() % 8));
            break;
        case 2: /* cut short */
            len = at;
            break;
        case 3: /* a byte inserted */
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = random_byte();
            len++;
            break;
        default: /* noise appended */
            for (int i = rand() % 16; i > 0; i--)
                buf[len++] = random_byte();
            break;
        }
    }
    return len;
}

static void
mutated_requests_never_hurt_the_broker(void **state)
{
    bad_ctx *x = *state;
    srand(4242);
    fuzz(x, 500, gen_mutated, x);
}

static void
a_client_that_never_reads_does_not_block_the_broker(void **state)
{
    bad_ctx *x = *state;
    int64_t unroutable0 = broker_field(x, IPCQ_BROKER_STAT_UNROUTABLE);
    enum { N = 10000 };
    uint64_t first = x->next_id;
    for (int i = 0; i < N; i++) {
        Ipcqwire__Request stat = request(x, IPCQWIRE__OP__OP_STAT, NULL);
        send_request(x, &stat);
        if (i % 1000 == 999)
            served(x);
    }
    /* The broker never waited for this reader: each reply is either on its
     * way or was dropped and counted as unroutable. Read until they add up. */
    int64_t received = 0;
    while (received + (broker_field(x, IPCQ_BROKER_STAT_UNROUTABLE) - unroutable0) < N) {
        Ipcqwire__Reply *rep = recv_any(x, REPLY_WAIT_MS);
        if (rep == NULL)
            fail_msg("replies lost without a count: %lld received, %lld unroutable",
                     (long long)received,
                     (long long)(broker_field(x, IPCQ_BROKER_STAT_UNROUTABLE) - unroutable0));
        assert_true(rep->id >= first && rep->id < first + N);
        ipcqwire__reply__free_unpacked(rep, NULL);
        received++;
    }
    print_message("flood: %lld of %d replies received, the rest dropped and counted\n",
                  (long long)received, N);
    served(x);
    ping_next(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(garbage_bytes_are_dropped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_requests_are_dropped_and_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(empty_frame_is_dropped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(message_of_several_frames_is_dropped_and_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_request_type_gets_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_protocol_version_gets_eversion, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_queue_names_get_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_below_forever_gets_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(put_without_items_gets_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(item_over_the_max_item_size_gets_etoobig, setup, teardown),
        cmocka_unit_test_setup_teardown(frame_over_the_socket_limit_drops_only_that_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(random_bytes_never_hurt_the_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(mutated_requests_never_hurt_the_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(a_client_that_never_reads_does_not_block_the_broker, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
