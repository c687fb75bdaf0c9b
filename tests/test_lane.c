/* The unix:// lane, end to end (docs/PROTOCOL.md, "The unix:// lane"): a
 * real ipcqd bound to ipc:// (where the harness's libipcq client watches
 * its figures) and to unix://, spoken to raw from the test: 4-byte
 * little-endian length, then a Request; the same framing back with a Reply.
 *
 * - the rules of the contract on the lane: a round trip, FIFO and
 *   hand-over between two connections, and a connection's death seen at
 *   once (D1: its unconfirmed item back at the head; D3: its blocked get
 *   never swallows a later item) with probes 60 s apart, so that nothing
 *   but the closed connection can explain it;
 * - who may connect (B3): SO_PEERCRED refuses another user, even through a
 *   socket file opened to all, with one framed EACCESS reply (needs root);
 * - bad input (B1, B2): a length over the limit closes that connection
 *   only; N = 0, truncated protobuf and random bytes are counted; a half
 *   frame held open blocks nobody; a reader that never reads is cut off
 *   and its item returns; what connections hold (unfinished frames,
 *   unread replies) counts against --max-memory: past it puts are
 *   refused, and past it by more than one message the connection that
 *   would hold more is cut off; a broker out of descriptors (EMFILE) lets
 *   the connections it cannot take wait, and takes them as others close;
 * - one broker per path (B5), and a dead broker's socket taken over. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "ipcq.pb-c.h"
#include "wire.h"
#include "wire_request.h"

#define MAX_ITEM 1024
#define MAX_MESSAGE (MAX_ITEM + IPCQ_MESSAGE_OVERHEAD)
#define CALL_MS 10000
#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_GROUP 54321

typedef struct lane_ctx {
    test_broker tb;
    ipcq_client *good; /* over ipc://: figures and a client beside the lane */
    uint64_t next_id;
} lane_ctx;

static int
lane_up(void **state)
{
    lane_ctx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    *state = x;
    /* Probes a minute apart: a death seen within seconds was seen by the
     * lane, not found by a probe. */
    test_broker_start_lane(&x->tb, "--max-item-size", "1024", "--probe-ms", "60000", NULL);
    x->good = client_on(&x->tb);
    x->next_id = 1;
    return 0;
}

static int
lane_down(void **state)
{
    lane_ctx *x = *state;
    ipcq_client_close(&x->good);
    kill_all_children();
    int status = test_broker_stop_status(&x->tb);
    free(x);
    assert_int_equal(status, 0); /* no crash, no leak under ASan */
    return 0;
}

/* A broker with a small memory limit for the tests of what connections
 * hold (B2): items of up to 64 KiB, so one message is 128 KiB. */
#define MEM_LIMIT (1024 * 1024)
#define MEM_MAX_MESSAGE (65536 + IPCQ_MESSAGE_OVERHEAD)

static int
lane_mem_up(void **state)
{
    lane_ctx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    *state = x;
    test_broker_start_lane(&x->tb, "--max-item-size", "65536", "--max-memory", "1M", "--probe-ms",
                           "60000", NULL);
    x->good = client_on(&x->tb);
    x->next_id = 1;
    return 0;
}

/* ---- speaking the lane raw ---- */

static int
lane_connect(const char *lane_endpoint, int *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", lane_endpoint + strlen("unix://"));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        *err = errno;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int
lane_open(const lane_ctx *x)
{
    int err = 0, fd = lane_connect(x->tb.lane, &err);
    if (fd < 0)
        fail_msg("connect %s: %s", x->tb.lane, strerror(err));
    return fd;
}

/* Writes all of it; false if the broker closed the connection. */
static bool
write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return false;
        if (n < 0)
            fail_msg("send: %s", strerror(errno));
        p += n, len -= (size_t)n;
    }
    return true;
}

static void
put_header(unsigned char h[4], uint32_t n)
{
    h[0] = (unsigned char)n, h[1] = (unsigned char)(n >> 8);
    h[2] = (unsigned char)(n >> 16), h[3] = (unsigned char)(n >> 24);
}

static void
send_frame(int fd, const void *body, uint32_t len)
{
    unsigned char h[4];
    put_header(h, len);
    assert_true(write_all(fd, h, 4));
    assert_true(len == 0 || write_all(fd, body, len));
}

static Ipcqwire__Request
request(lane_ctx *x, Ipcqwire__Op op, const char *queue)
{
    return wire_request(x->next_id++, op, queue);
}

static void
send_request(int fd, const Ipcqwire__Request *r)
{
    size_t len;
    uint8_t *buf = wire_pack(r, &len);
    send_frame(fd, buf, (uint32_t)len);
    free(buf);
}

/* Reads exactly len bytes by deadline; false at end of file (or a reset,
 * which is how a closed unix socket with our bytes unread ends). */
static bool
read_exact(int fd, void *buf, size_t len, int64_t deadline)
{
    unsigned char *p = buf;
    while (len > 0) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0)
            fail_msg("nothing from the broker within the deadline");
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue; /* the deadline check above fails it */
        ssize_t n = recv(fd, p, len, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return false;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("recv: %s", strerror(errno));
        p += n, len -= (size_t)n;
    }
    return true;
}

/* The next framed Reply; NULL at end of file. */
static Ipcqwire__Reply *
recv_reply(int fd, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    unsigned char h[4];
    if (!read_exact(fd, h, 4, deadline))
        return NULL;
    uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    assert_true(n > 0 && n <= MAX_MESSAGE);
    uint8_t *body = malloc(n);
    assert_non_null(body);
    if (!read_exact(fd, body, n, deadline))
        fail_msg("the broker closed the connection in the middle of a reply");
    Ipcqwire__Reply *r = ipcqwire__reply__unpack(NULL, n, body);
    free(body);
    if (r == NULL)
        fail_msg("the broker sent a frame that is not a Reply");
    return r;
}

/* The reply to id, which must be the next one. */
static Ipcqwire__Reply *
reply_to(int fd, uint64_t id)
{
    Ipcqwire__Reply *r = recv_reply(fd, CALL_MS);
    if (r == NULL)
        fail_msg("the broker closed the connection instead of answering %llu",
                 (unsigned long long)id);
    if (r->id != id)
        fail_msg("got the reply to %llu while waiting for %llu", (unsigned long long)r->id,
                 (unsigned long long)id);
    return r;
}

/* Reads (and drops) replies until the broker closes the connection. */
static void
expect_closed(int fd, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    unsigned char buf[4096];
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("the broker did not close the connection within %lld ms",
                     (long long)timeout_ms);
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return;
    }
}

static void
ping(lane_ctx *x, int fd)
{
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
    send_request(fd, &req);
    Ipcqwire__Reply *r = reply_to(fd, req.id);
    assert_int_equal(r->status, IPCQ_OK);
    assert_true(r->has_version);
    assert_int_equal(r->version, IPCQ_PROTOCOL_VERSION);
    ipcqwire__reply__free_unpacked(r, NULL);
}

static void
lane_put(lane_ctx *x, int fd, const char *queue, const char *text)
{
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PUT, queue);
    ProtobufCBinaryData item = {strlen(text), (uint8_t *)text};
    req.n_items = 1;
    req.items = &item;
    req.has_timeout_ms = 1;
    req.timeout_ms = IPCQ_FOREVER;
    send_request(fd, &req);
    Ipcqwire__Reply *r = reply_to(fd, req.id);
    assert_int_equal(r->status, IPCQ_OK);
    ipcqwire__reply__free_unpacked(r, NULL);
}

/* A get on a queue nobody made waits unseen (Q2): the tests that watch
 * getters make the queue first. */
static void
lane_create(lane_ctx *x, int fd, const char *queue)
{
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_CREATE, queue);
    send_request(fd, &req);
    Ipcqwire__Reply *r = reply_to(fd, req.id);
    assert_int_equal(r->status, IPCQ_OK);
    ipcqwire__reply__free_unpacked(r, NULL);
}

/* Sends a get that waits up to timeout_ms; returns its id. */
static uint64_t
lane_get_send(lane_ctx *x, int fd, const char *queue, int64_t timeout_ms)
{
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_GET, queue);
    req.has_timeout_ms = 1;
    req.timeout_ms = timeout_ms;
    send_request(fd, &req);
    return req.id;
}

/* The get's one item, which must be want; its tag is confirmed unless
 * tag_out takes it. Returns its delivery count. */
static uint32_t
lane_get_expect(lane_ctx *x, int fd, uint64_t id, const char *want, uint64_t *tag_out)
{
    Ipcqwire__Reply *r = reply_to(fd, id);
    if (r->status != IPCQ_OK)
        fail_msg("get: status %d (%s) '%s'", r->status, ipcq_strerror(r->status),
                 r->error ? r->error : "");
    assert_int_equal(r->n_items, 1);
    assert_int_equal(r->items[0]->data.len, strlen(want));
    assert_memory_equal(r->items[0]->data.data, want, strlen(want));
    uint64_t tag = r->items[0]->tag;
    uint32_t deliveries = r->items[0]->deliveries;
    ipcqwire__reply__free_unpacked(r, NULL);
    if (tag_out != NULL) {
        *tag_out = tag;
    } else {
        Ipcqwire__Request c = request(x, IPCQWIRE__OP__OP_CONFIRM, NULL);
        c.n_tags = 1;
        c.tags = &tag;
        send_request(fd, &c); /* one-way */
    }
    return deliveries;
}

static void
lane_get(lane_ctx *x, int fd, const char *queue, const char *want)
{
    lane_get_expect(x, fd, lane_get_send(x, fd, queue, CALL_MS), want, NULL);
}

static int64_t
stat_of(lane_ctx *x, ipcq_broker_field f)
{
    return broker_stat_field(x->good, f);
}

/* ---- the contract on the lane ---- */

static void
round_trip(void **state)
{
    lane_ctx *x = *state;
    int fd = lane_open(x);
    ping(x, fd);
    lane_put(x, fd, "jobs", "hello");
    lane_get(x, fd, "jobs", "hello");
    /* Both transports serve the same queues. */
    lane_put(x, fd, "jobs", "to ipc");
    expect_get(x->good, "jobs", "to ipc", CALL_MS);
    put_text(x->good, "jobs", "from ipc");
    lane_get(x, fd, "jobs", "from ipc");
    wait_queue_field(x->good, "jobs", IPCQ_QUEUE_LEASED, 0, CALL_MS);
    close(fd);
}

static void
fifo_and_hand_over(void **state)
{
    lane_ctx *x = *state;
    int a = lane_open(x), b = lane_open(x);
    /* A waits first; B's put goes to A. */
    lane_create(x, b, "fifo");
    uint64_t id = lane_get_send(x, a, "fifo", IPCQ_FOREVER);
    wait_queue_field(x->good, "fifo", IPCQ_QUEUE_GETTERS, 1, CALL_MS);
    lane_put(x, b, "fifo", "first");
    lane_get_expect(x, a, id, "first", NULL);
    /* Puts from B come out in order at A. */
    static const char *const items[] = {"one", "two", "three", "four"};
    for (size_t i = 0; i < 4; i++)
        lane_put(x, b, "fifo", items[i]);
    for (size_t i = 0; i < 4; i++)
        lane_get(x, a, "fifo", items[i]);
    close(a);
    close(b);
}

/* D3: the blocked get of a closed connection ends with it. */
static void
closed_getter_swallows_nothing(void **state)
{
    lane_ctx *x = *state;
    int a = lane_open(x), b = lane_open(x);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    lane_create(x, b, "d3");
    lane_get_send(x, a, "d3", IPCQ_FOREVER);
    wait_queue_field(x->good, "d3", IPCQ_QUEUE_GETTERS, 1, CALL_MS);
    close(a);
    /* Gone at once (probes are a minute apart). */
    wait_queue_field(x->good, "d3", IPCQ_QUEUE_GETTERS, 0, 5000);
    /* At least: a ZeroMQ client of the broker may count one too, under load
     * (a heartbeat's reconnect), and the getter's end is checked above. */
    int64_t deadline = now_ms() + 5000;
    while (stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS) < disc0 + 1)
        if (now_ms() > deadline)
            fail_msg("the closed connection was not counted as a disconnect");
        else
            poll(NULL, 0, 5); /* polling interval, not a wait for the outcome */
    lane_put(x, b, "d3", "kept");
    lane_get(x, b, "d3", "kept");
    close(b);
}

/* D1: an unconfirmed item of a closed connection is back at the head. */
static void
unconfirmed_item_returns_at_once(void **state)
{
    lane_ctx *x = *state;
    int a = lane_open(x), b = lane_open(x);
    lane_put(x, b, "d1", "oldest");
    lane_put(x, b, "d1", "newer");
    uint64_t tag;
    uint32_t n = lane_get_expect(x, a, lane_get_send(x, a, "d1", CALL_MS), "oldest", &tag);
    assert_int_equal(n, 1);
    assert_int_equal(queue_field(x->good, "d1", IPCQ_QUEUE_LEASED), 1);
    close(a);
    wait_queue_field(x->good, "d1", IPCQ_QUEUE_LEASED, 0, 5000);
    assert_int_equal(queue_field(x->good, "d1", IPCQ_QUEUE_SIZE), 2);
    n = lane_get_expect(x, b, lane_get_send(x, b, "d1", CALL_MS), "oldest", NULL);
    assert_int_equal(n, 2); /* handed out a second time */
    lane_get(x, b, "d1", "newer");
    close(b);
}

/* ---- who may connect (B3) ---- */

static void
skip_unless_root(void)
{
    if (geteuid() != 0) {
        print_message("not root: cannot become another user; skipped\n");
        skip();
    }
}

typedef struct stranger {
    const char *lane;
    gid_t group;
} stranger;

/* A fork_child() body: as nobody in one group, connects to the lane and
 * pings. 0: refused with one framed EACCESS "permission denied" reply and
 * the connection closed; 10: served; else what went wrong. */
static int
child_stranger(void *arg)
{
    const stranger *s = arg;
    gid_t group = s->group;
    if (setgroups(1, &group) != 0 || setgid(group) != 0 || setuid(NOBODY) != 0)
        return 99;
    int err, fd = lane_connect(s->lane, &err);
    if (fd < 0)
        return 98;
    Ipcqwire__Request req = IPCQWIRE__REQUEST__INIT;
    req.version = IPCQ_PROTOCOL_VERSION;
    req.id = 7;
    req.op = IPCQWIRE__OP__OP_PING;
    size_t len = ipcqwire__request__get_packed_size(&req);
    unsigned char buf[64];
    put_header(buf, (uint32_t)len);
    ipcqwire__request__pack(&req, buf + 4);
    (void)send(fd, buf, 4 + len, MSG_NOSIGNAL); /* may fail: refused */
    Ipcqwire__Reply *r = recv_reply(fd, CALL_MS);
    if (r == NULL)
        return 97;
    int rc = 20;
    if (r->id == 0 && r->status == IPCQ_EACCESS && r->error != NULL &&
        strstr(r->error, "permission denied") != NULL) {
        unsigned char more;
        rc = read_exact(fd, &more, 1, now_ms() + CALL_MS) ? 21 : 0;
    } else if (r->id == 7 && r->status == IPCQ_OK) {
        rc = 10;
    }
    ipcqwire__reply__free_unpacked(r, NULL);
    close(fd);
    return rc;
}

static void
other_user_is_refused(void **state)
{
    lane_ctx *x = *state;
    skip_unless_root();
    const char *path = x->tb.lane + strlen("unix://");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The file's mode opened to all: SO_PEERCRED still refuses. */
    assert_int_equal(chmod(x->tb.dir, 0755), 0);
    assert_int_equal(chmod(path, 0666), 0);
    stranger s = {x->tb.lane, NOGROUP};
    assert_int_equal(reap_child(fork_child(child_stranger, &s), CALL_MS), 0);
    int fd = lane_open(x); /* the owner is served all the while */
    ping(x, fd);
    close(fd);
}

static void
group_member_is_served(void **state)
{
    (void)state;
    skip_unless_root();
    test_broker tb;
    test_broker_start_lane(&tb, "--group", "nogroup", NULL);
    const char *path = tb.lane + strlen("unix://");
    assert_int_equal(chown(tb.dir, (uid_t)-1, NOGROUP), 0);
    assert_int_equal(chmod(tb.dir, 0710), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(st.st_gid, NOGROUP);
    stranger member = {tb.lane, NOGROUP}, outsider = {tb.lane, OTHER_GROUP};
    assert_int_equal(reap_child(fork_child(child_stranger, &member), CALL_MS), 10);
    /* The outsider gets past the file only with its mode opened. */
    assert_int_equal(chmod(tb.dir, 0711), 0);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(reap_child(fork_child(child_stranger, &outsider), CALL_MS), 0);
    test_broker_stop(&tb);
}

/* ---- bad input (B1, B2) ---- */

static void
over_limit_length_closes_that_connection(void **state)
{
    lane_ctx *x = *state;
    int good = lane_open(x), bad = lane_open(x);
    ping(x, good);
    int64_t bad0 = stat_of(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    /* At the limit: read whole (a body of zeros is no request), counted,
     * and the connection goes on. */
    uint8_t *zeros = calloc(1, MAX_MESSAGE);
    assert_non_null(zeros);
    send_frame(bad, zeros, MAX_MESSAGE);
    free(zeros);
    ping(x, bad);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_BAD_REQUESTS, bad0 + 1, CALL_MS);
    /* One byte over: closed before the body, which never comes. */
    unsigned char h[4];
    put_header(h, MAX_MESSAGE + 1);
    assert_true(write_all(bad, h, 4));
    expect_closed(bad, CALL_MS);
    close(bad);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_BAD_REQUESTS, bad0 + 2, CALL_MS);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_DISCONNECTS, disc0 + 1, CALL_MS);
    /* The largest length there is, too. */
    bad = lane_open(x);
    put_header(h, UINT32_MAX);
    assert_true(write_all(bad, h, 4));
    expect_closed(bad, CALL_MS);
    close(bad);
    ping(x, good);
    lane_put(x, good, "after", "still served");
    lane_get(x, good, "after", "still served");
    close(good);
}

static void
malformed_frames_are_counted(void **state)
{
    lane_ctx *x = *state;
    int fd = lane_open(x);
    int64_t bad0 = stat_of(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    /* N = 0, then a request on the same connection: answered, one bad. */
    send_frame(fd, NULL, 0);
    ping(x, fd);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_BAD_REQUESTS, bad0 + 1, CALL_MS);
    /* A put cut short inside its own frame: undecodable, dropped. */
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PUT, "cut");
    ProtobufCBinaryData item = {10, (uint8_t *)"0123456789"};
    req.n_items = 1;
    req.items = &item;
    size_t len;
    uint8_t *buf = wire_pack(&req, &len);
    send_frame(fd, buf, (uint32_t)(len - 3));
    free(buf);
    ping(x, fd); /* the next reply is the ping's: the cut put had none */
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_BAD_REQUESTS, bad0 + 2, CALL_MS);
    /* Protobuf of no request at all, well framed. */
    send_frame(fd, "\xff\xff\xff\xff", 4);
    ping(x, fd);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_BAD_REQUESTS, bad0 + 3, CALL_MS);
    close(fd);
}

/* A small fixed-seed generator: the same bytes every run. */
static uint32_t
next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void
random_bytes_and_churn_are_shrugged_off(void **state)
{
    lane_ctx *x = *state;
    int good = lane_open(x);
    int64_t bad0 = stat_of(x, IPCQ_BROKER_STAT_BAD_REQUESTS);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    uint32_t seed = 12345;
    enum { CONNS = 200 };
    for (int i = 0; i < CONNS; i++) {
        int fd = lane_open(x);
        unsigned char junk[512];
        size_t n = next_random(&seed) % sizeof junk; /* 0: connect and go */
        for (size_t j = 0; j < n; j++)
            junk[j] = (unsigned char)next_random(&seed);
        (void)write_all(fd, junk, n); /* the broker may have hung up already */
        close(fd);
    }
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_DISCONNECTS, disc0 + CONNS, CALL_MS);
    assert_true(stat_of(x, IPCQ_BROKER_STAT_BAD_REQUESTS) > bad0);
    ping(x, good);
    lane_put(x, good, "churn", "still served");
    lane_get(x, good, "churn", "still served");
    assert_int_equal(stat_of(x, IPCQ_BROKER_STAT_SESSIONS), 0);
    close(good);
}

static void
half_frame_blocks_nobody(void **state)
{
    lane_ctx *x = *state;
    int half_header = lane_open(x), half_body = lane_open(x), other = lane_open(x);
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
    size_t len;
    uint8_t *body = wire_pack(&req, &len);
    unsigned char h[4];
    put_header(h, (uint32_t)len);
    assert_true(write_all(half_header, h, 2));
    assert_true(write_all(half_body, h, 4));
    assert_true(write_all(half_body, body, len / 2));
    /* Both held open: another client is served. */
    ping(x, other);
    lane_put(x, other, "half", "served");
    lane_get(x, other, "half", "served");
    /* The two finish their frames, a byte at a time for one: each read is
     * put together with what came before. */
    assert_true(write_all(half_header, h + 2, 2));
    assert_true(write_all(half_header, body, len));
    for (size_t i = len / 2; i < len; i++)
        assert_true(write_all(half_body, body + i, 1));
    free(body);
    Ipcqwire__Reply *r = reply_to(half_header, req.id);
    ipcqwire__reply__free_unpacked(r, NULL);
    r = reply_to(half_body, req.id);
    ipcqwire__reply__free_unpacked(r, NULL);
    close(half_header);
    close(half_body);
    close(other);
}

/* A reader that never reads is cut off once its unsent replies pass the
 * bound (64 MiB here), and its unconfirmed item goes back (D1). Stat
 * replies listing many long-named queues make the megabytes quickly. */
static void
slow_reader_is_cut_off(void **state)
{
    lane_ctx *x = *state;
    int fd = lane_open(x), other = lane_open(x);
    enum { QUEUES = 2000, STATS = 400 };
    char name[256];
    memset(name, 'q', 240);
    for (int i = 0; i < QUEUES; i++) {
        snprintf(name + 240, sizeof name - 240, "%05d", i);
        Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_CREATE, name);
        send_request(other, &req);
    }
    for (int i = 0; i < QUEUES; i++)
        ipcqwire__reply__free_unpacked(recv_reply(other, CALL_MS), NULL);
    lane_put(x, other, "slow", "held by the slow reader");
    uint64_t tag;
    lane_get_expect(x, fd, lane_get_send(x, fd, "slow", CALL_MS), "held by the slow reader", &tag);
    assert_int_equal(queue_field(x->good, "slow", IPCQ_QUEUE_LEASED), 1);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    /* Every stat asked for, none read. */
    Ipcqwire__Request st = request(x, IPCQWIRE__OP__OP_STAT, NULL);
    size_t len;
    uint8_t *body = wire_pack(&st, &len);
    bool cut = false;
    for (int i = 0; i < STATS && !cut; i++) {
        unsigned char frame[64];
        put_header(frame, (uint32_t)len);
        memcpy(frame + 4, body, len);
        cut = !write_all(fd, frame, 4 + len);
    }
    free(body);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_DISCONNECTS, disc0 + 1, CALL_MS);
    wait_queue_field(x->good, "slow", IPCQ_QUEUE_LEASED, 0, CALL_MS);
    assert_int_equal(queue_field(x->good, "slow", IPCQ_QUEUE_SIZE), 1);
    expect_closed(fd, 30000); /* after the replies the socket held */
    close(fd);
    ping(x, other);
    lane_get(x, other, "slow", "held by the slow reader");
    close(other);
}

/* True once the broker has closed fd, on which nothing is owed. */
static bool
closed_by_broker(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&pfd, 1, 0) > 0;
}

/* A put of one byte from the client beside the lane. */
static int
put_byte(lane_ctx *x)
{
    return ipcq_put(x->good, "mem", "x", 1, CALL_MS);
}

/* Retries the put until the broker has let go of what it held. */
static void
wait_put_admitted(lane_ctx *x)
{
    int64_t deadline = now_ms() + CALL_MS;
    int rc;
    while ((rc = put_byte(x)) == IPCQ_EMEMLIMIT && now_ms() < deadline)
        usleep(10 * 1000);
    assert_ipcq_status(x->good, rc, IPCQ_OK);
}

/* B2: unfinished frames are memory the broker holds. Connections each hold
 * about 100 KB of a frame that never ends: once they pass the 1 MiB limit
 * a put is refused with the memory-limit error, and once they pass it by
 * more than one message the connection whose frame grew is cut off (without
 * the count, 40 of them would hold 4 MB and more). Closing them gives the
 * memory back. */
static void
unfinished_frames_count_against_memory(void **state)
{
    lane_ctx *x = *state;
    enum { CLAIM = 120000, SENT = 100000, MAX_CONNS = 40 };
    int probe = lane_open(x), fds[MAX_CONNS], n = 0, cut = -1;
    ping(x, probe);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    uint8_t *body = calloc(1, SENT);
    assert_non_null(body);
    unsigned char h[4];
    put_header(h, CLAIM);
    bool refused = false;
    while (cut < 0 && n < MAX_CONNS) {
        int fd = lane_open(x);
        fds[n++] = fd;
        ping(x, probe); /* answered once the broker has taken the connection in */
        assert_true(write_all(fd, h, 4));
        assert_true(write_all(fd, body, SENT));
        /* Answered after a pass that read every byte written before. */
        ping(x, probe);
        for (int i = 0; i < n && cut < 0; i++)
            if (closed_by_broker(fds[i]))
                cut = i;
        if (cut < 0 && (int64_t)n * SENT > MEM_LIMIT && !refused) {
            assert_ipcq_status(x->good, put_byte(x), IPCQ_EMEMLIMIT);
            refused = true;
        }
    }
    free(body);
    if (cut < 0)
        fail_msg("%d connections hold %d unfinished bytes each past a %d-byte limit", n, SENT,
                 MEM_LIMIT);
    assert_int_equal(cut, n - 1); /* the one whose frame grew */
    assert_true((int64_t)(n - 1) * SENT <= MEM_LIMIT + MEM_MAX_MESSAGE);
    assert_true(refused);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_DISCONNECTS, disc0 + 1, CALL_MS);
    /* The others still hold more than the limit. */
    assert_ipcq_status(x->good, put_byte(x), IPCQ_EMEMLIMIT);
    if (strstr(ipcq_client_error(x->good), "ipcqd --max-memory") == NULL)
        fail_msg("error text '%s' does not name the limit", ipcq_client_error(x->good));
    for (int i = 0; i < n; i++)
        close(fds[i]);
    wait_put_admitted(x);
    ping(x, probe);
    close(probe);
}

/* B2: replies a client does not read are memory the broker holds. A client
 * that sends pings and never reads the answers is cut off once they pass
 * the 1 MiB limit by more than one message, long before the 64 MiB bound
 * of a connection's output; the broker serves on and has the memory back. */
static void
unread_replies_count_against_memory(void **state)
{
    lane_ctx *x = *state;
    int hog = lane_open(x), other = lane_open(x);
    ping(x, other);
    int64_t disc0 = stat_of(x, IPCQ_BROKER_STAT_DISCONNECTS);
    /* One ping answered, to learn the size of an answer. */
    Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
    size_t len;
    uint8_t *body = wire_pack(&req, &len);
    send_frame(hog, body, (uint32_t)len);
    unsigned char head[4];
    assert_true(read_exact(hog, head, 4, now_ms() + CALL_MS));
    size_t answer = 4 + ((size_t)head[0] | (size_t)head[1] << 8 | (size_t)head[2] << 16);
    unsigned char skip[256];
    assert_true(answer - 4 <= sizeof skip);
    assert_true(read_exact(hog, skip, answer - 4, now_ms() + CALL_MS));
    /* Then pings by the thousand, none answer read: at most 16 MiB of
     * answers may be asked for. */
    enum { BATCH = 1000 };
    size_t frame = 4 + len;
    unsigned char *batch = malloc(BATCH * frame);
    assert_non_null(batch);
    for (int i = 0; i < BATCH; i++) {
        put_header(batch + i * frame, (uint32_t)len);
        memcpy(batch + i * frame + 4, body, len);
    }
    free(body);
    size_t asked = 0, most = ((size_t)16 << 20) / answer;
    bool cut = false;
    while (!cut && asked < most) {
        cut = !write_all(hog, batch, BATCH * frame);
        asked += BATCH;
    }
    free(batch);
    if (!cut)
        fail_msg("%zu answers of %zu bytes unread, and the connection is still open", asked,
                 answer);
    wait_broker_stat_field(x->good, IPCQ_BROKER_STAT_DISCONNECTS, disc0 + 1, CALL_MS);
    close(hog);
    ping(x, other);
    wait_put_admitted(x);
    close(other);
}

/* B1: a broker out of descriptors neither dies nor gives up. Its (soft)
 * limit of open files is cut to a few more than it holds; of the connections that
 * come, each sending a ping, those it cannot take in wait in the listen
 * backlog, and every one is answered as the answered ones close. */
static void
out_of_descriptors_waits_for_one_to_close(void **state)
{
    lane_ctx *x = *state;
    enum { CONNS = 24, ROOM = 6 };
    int probe = lane_open(x);
    ping(x, probe);
    struct rlimit was, cut;
    assert_int_equal(prlimit(x->tb.pid, RLIMIT_NOFILE, NULL, &was), 0);
    int held = proc_fd_count(x->tb.pid);
    assert_true(held > 0);
    cut = was; /* the soft limit only: a hard one cut could not be raised again */
    cut.rlim_cur = (rlim_t)(held + ROOM);
    assert_int_equal(prlimit(x->tb.pid, RLIMIT_NOFILE, &cut, NULL), 0);
    int fds[CONNS];
    uint64_t ids[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = lane_open(x); /* the backlog takes it, taken in or not */
        Ipcqwire__Request req = request(x, IPCQWIRE__OP__OP_PING, NULL);
        ids[i] = req.id;
        send_request(fds[i], &req);
    }
    /* Each answer read closes its connection, which lets another in. */
    int answered = 0;
    int64_t deadline = now_ms() + CALL_MS;
    while (answered < CONNS && now_ms() < deadline) {
        for (int i = 0; i < CONNS; i++) {
            struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
            if (fds[i] < 0 || poll(&pfd, 1, 0) <= 0)
                continue;
            ipcqwire__reply__free_unpacked(reply_to(fds[i], ids[i]), NULL);
            close(fds[i]);
            fds[i] = -1;
            answered++;
        }
        usleep(1000);
    }
    for (int i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    assert_int_equal(prlimit(x->tb.pid, RLIMIT_NOFILE, &was, NULL), 0);
    if (answered < CONNS)
        fail_msg("%d of %d connections answered with room for %d", answered, CONNS, ROOM);
    ping(x, probe);
    close(probe);
}

/* ---- one broker per path (B5) ---- */

static void
second_broker_refused_and_stale_socket_taken_over(void **state)
{
    lane_ctx *x = *state;
    char bind[320];
    snprintf(bind, sizeof bind, "--bind=%s", x->tb.lane);
    const char *argv[] = {IPCQD_PATH, bind, NULL};
    program_run run;
    program_start(&run, &(program_spec){.argv = argv});
    program_finish(&run, CALL_MS);
    expect_exit(&run, 1);
    expect_err_has(&run, "another broker is serving this endpoint");
    program_free(&run);
    int fd = lane_open(x); /* the first one serves on */
    ping(x, fd);
    close(fd);
    /* A broker killed outright leaves its socket file: the next one takes
     * it over. */
    const char *path = x->tb.lane + strlen("unix://");
    ipcq_client_close(&x->good);
    test_broker_kill(&x->tb);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    test_broker_restart(&x->tb);
    x->good = client_on(&x->tb);
    fd = lane_open(x);
    ping(x, fd);
    close(fd);
}

static void
abstract_and_overlong_paths_are_refused(void **state)
{
    (void)state;
    char longpath[200] = "--bind=unix:///tmp/";
    memset(longpath + strlen(longpath), 'x', 120);
    static const char *const binds[] = {"--bind=unix://@abstract", "--bind=unix://", NULL};
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = {IPCQD_PATH, i < 2 ? binds[i] : longpath, NULL};
        program_run run;
        program_start(&run, &(program_spec){.argv = argv});
        program_finish(&run, CALL_MS);
        expect_exit(&run, 1);
        program_free(&run);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(fifo_and_hand_over, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(closed_getter_swallows_nothing, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(unconfirmed_item_returns_at_once, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(other_user_is_refused, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(group_member_is_served, NULL, NULL),
        cmocka_unit_test_setup_teardown(over_limit_length_closes_that_connection, lane_up,
                                        lane_down),
        cmocka_unit_test_setup_teardown(malformed_frames_are_counted, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(random_bytes_and_churn_are_shrugged_off, lane_up,
                                        lane_down),
        cmocka_unit_test_setup_teardown(half_frame_blocks_nobody, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(slow_reader_is_cut_off, lane_up, lane_down),
        cmocka_unit_test_setup_teardown(unfinished_frames_count_against_memory, lane_mem_up,
                                        lane_down),
        cmocka_unit_test_setup_teardown(unread_replies_count_against_memory, lane_mem_up,
                                        lane_down),
        cmocka_unit_test_setup_teardown(out_of_descriptors_waits_for_one_to_close, lane_up,
                                        lane_down),
        cmocka_unit_test_setup_teardown(second_broker_refused_and_stale_socket_taken_over, lane_up,
                                        lane_down),
        cmocka_unit_test(abstract_and_overlong_paths_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
