/* The client's side of the native local lane, unix://PATH (issue 11),
 * against a fake broker (lane_fake.c) that answers PING, PUT, GET and takes
 * CONFIRM, HAND_BACK and CANCEL as the real broker would: items round trip,
 * timeouts are kept, a broker gone is seen at once and the next call
 * reconnects (D7), an id-0 refusal is reported with its text (B3), late
 * replies' items are handed back (Q11), a forked child connects on its own
 * (D4), async puts and batched gets work, and an oversized frame is a
 * protocol error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "lane_fake.h"

#define WAIT_MS 10000
#define MAX_ITEMS 4096
#define MAX_HELD 16
#define LATE_TAG 77

typedef enum mode {
    NORMAL,
    CLOSE_ON_GET, /* a GET closes the connection unanswered */
    SILENT_GET,   /* a GET is held for ever; CANCEL answers it late, with an item */
    REFUSE,       /* every connection gets an id-0 EACCESS reply and is closed */
    HUGE_ON_PING, /* a PING is answered with a frame length over every limit */
} mode;

typedef struct held_get {
    lane_peer *peer;
    uint64_t id;
    int64_t deadline_ms; /* INT64_MAX: never */
} held_get;

/* The fake broker's one queue and what it saw; under the fake's lock. */
typedef struct fake_state {
    mode mode;
    char *items[MAX_ITEMS];
    size_t lens[MAX_ITEMS];
    size_t head, count;
    uint64_t next_tag;
    held_get held[MAX_HELD];
    int nheld;
    int confirms, cancels;
    uint64_t handed_back[64];
    int nhanded;
    pid_t put_pid;  /* the peer process of the last PUT */
    int ping_peer;  /* the connection number of the last PING */
    pid_t ping_pid; /* ... and its process */
} fake_state;

typedef struct lane_test {
    lane_fake *fake;
    fake_state st;
} lane_test;

static void
reply_status(lane_peer *p, uint64_t id, int status)
{
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = id;
    r.status = status;
    lane_peer_reply(p, &r);
}

/* Answers a GET with up to max items from the queue's head. */
static void
reply_items(fake_state *s, lane_peer *p, uint64_t id, size_t max)
{
    size_t n = s->count < max ? s->count : max;
    Ipcqwire__Item items[64], *ptrs[64];
    n = n > 64 ? 64 : n;
    for (size_t i = 0; i < n; i++) {
        size_t at = (s->head + i) % MAX_ITEMS;
        ipcqwire__item__init(&items[i]);
        items[i].data = (ProtobufCBinaryData){s->lens[at], (uint8_t *)s->items[at]};
        items[i].tag = ++s->next_tag;
        items[i].has_deliveries = 1;
        items[i].deliveries = 1;
        ptrs[i] = &items[i];
    }
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = id;
    r.n_items = n;
    r.items = ptrs;
    lane_peer_reply(p, &r);
    for (size_t i = 0; i < n; i++) {
        free(s->items[s->head]);
        s->head = (s->head + 1) % MAX_ITEMS;
    }
    s->count -= n;
}

static bool
holds(const fake_state *s, const lane_peer *p, uint64_t id)
{
    for (int i = 0; i < s->nheld; i++)
        if (s->held[i].peer == p && s->held[i].id == id)
            return true;
    return false;
}

static void
unhold(fake_state *s, int i)
{
    s->held[i] = s->held[--s->nheld];
}

static void
on_ping(fake_state *s, lane_peer *p, const Ipcqwire__Request *req)
{
    s->ping_peer = lane_peer_number(p);
    s->ping_pid = lane_peer_pid(p);
    if (s->mode == HUGE_ON_PING) {
        unsigned char head[4] = {0xf0, 0xff, 0xff, 0xff};
        lane_peer_raw(p, head, sizeof head);
        return;
    }
    Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
    r.id = req->id;
    r.has_max_item_size = 1;
    r.max_item_size = 16 << 20;
    if (req->has_pending_id) {
        r.has_pending = 1;
        r.pending = holds(s, p, req->pending_id);
    }
    lane_peer_reply(p, &r);
}

static void
on_put(fake_state *s, lane_peer *p, const Ipcqwire__Request *req)
{
    s->put_pid = lane_peer_pid(p);
    for (size_t i = 0; i < req->n_items && s->count < MAX_ITEMS; i++) {
        size_t at = (s->head + s->count++) % MAX_ITEMS;
        s->items[at] = malloc(req->items[i].len ? req->items[i].len : 1);
        assert_non_null(s->items[at]);
        memcpy(s->items[at], req->items[i].data, req->items[i].len);
        s->lens[at] = req->items[i].len;
    }
    reply_status(p, req->id, IPCQ_OK);
    for (int i = 0; i < s->nheld && s->count > 0;) {
        if (s->mode == NORMAL) {
            reply_items(s, s->held[i].peer, s->held[i].id, 1);
            unhold(s, i);
        } else {
            i++;
        }
    }
}

static void
on_get(fake_state *s, lane_peer *p, const Ipcqwire__Request *req)
{
    if (s->mode == CLOSE_ON_GET) {
        lane_peer_close(p);
        return;
    }
    size_t max = req->has_max_items && req->max_items > 0 ? req->max_items : 1;
    if (s->mode == NORMAL && s->count > 0) {
        reply_items(s, p, req->id, max);
        return;
    }
    int64_t timeout = req->has_timeout_ms ? req->timeout_ms : IPCQ_FOREVER;
    if (timeout == 0 && s->mode == NORMAL) {
        reply_status(p, req->id, IPCQ_EMPTY);
        return;
    }
    assert_true(s->nheld < MAX_HELD);
    s->held[s->nheld++] = (held_get){
        p, req->id, timeout < 0 || s->mode == SILENT_GET ? INT64_MAX : now_ms() + timeout};
}

static void
on_cancel(fake_state *s, lane_peer *p, const Ipcqwire__Request *req)
{
    s->cancels++;
    for (int i = 0; i < s->nheld; i++) {
        if (s->held[i].peer != p || s->held[i].id != req->pending_id)
            continue;
        unhold(s, i);
        if (s->mode == SILENT_GET) {
            /* The broker had served it as the client gave up: a late reply. */
            Ipcqwire__Item item = IPCQWIRE__ITEM__INIT, *ptr = &item;
            item.data = (ProtobufCBinaryData){4, (uint8_t *)"late"};
            item.tag = LATE_TAG;
            Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
            r.id = req->pending_id;
            r.n_items = 1;
            r.items = &ptr;
            lane_peer_reply(p, &r);
        }
        return;
    }
}

static void
on_event(lane_fake *f, lane_peer *p, lane_event ev, const Ipcqwire__Request *req, void *arg)
{
    (void)f;
    fake_state *s = arg;
    if (ev == LANE_ACCEPTED && s->mode == REFUSE) {
        Ipcqwire__Reply r = IPCQWIRE__REPLY__INIT;
        r.status = IPCQ_EACCESS;
        static char why[] = "permission denied: uid 4242 is neither the broker's user nor in its "
                            "group";
        r.error = why;
        lane_peer_reply(p, &r);
        lane_peer_close(p);
    } else if (ev == LANE_CLOSED) {
        for (int i = 0; i < s->nheld;)
            if (s->held[i].peer == p)
                unhold(s, i);
            else
                i++;
    } else if (ev == LANE_TICK) {
        for (int i = 0; i < s->nheld;) {
            if (now_ms() >= s->held[i].deadline_ms) {
                reply_status(s->held[i].peer, s->held[i].id, IPCQ_EMPTY);
                unhold(s, i);
            } else {
                i++;
            }
        }
    } else if (ev == LANE_REQUEST) {
        switch (req->op) {
        case IPCQWIRE__OP__OP_PING:
            on_ping(s, p, req);
            break;
        case IPCQWIRE__OP__OP_PUT:
            on_put(s, p, req);
            break;
        case IPCQWIRE__OP__OP_GET:
            on_get(s, p, req);
            break;
        case IPCQWIRE__OP__OP_CONFIRM:
            s->confirms += (int)req->n_tags;
            break;
        case IPCQWIRE__OP__OP_HAND_BACK:
            for (size_t i = 0; i < req->n_tags && s->nhanded < 64; i++)
                s->handed_back[s->nhanded++] = req->tags[i];
            break;
        case IPCQWIRE__OP__OP_CANCEL:
            on_cancel(s, p, req);
            break;
        default:
            reply_status(p, req->id, IPCQ_EPROTO);
        }
    }
}

static int
setup(void **state)
{
    lane_test *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->fake = lane_fake_start(on_event, &t->st);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    lane_test *t = *state;
    kill_all_children();
    int bad = lane_fake_bad_frames(t->fake); /* the client sent only Requests */
    lane_fake_stop(&t->fake);
    for (size_t i = 0; i < t->st.count; i++)
        free(t->st.items[(t->st.head + i) % MAX_ITEMS]);
    free(t);
    assert_int_equal(bad, 0);
    return 0;
}

static ipcq_client *
lane_client(lane_test *t)
{
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, lane_fake_endpoint(t->fake)), IPCQ_OK);
    return c;
}

static void
set_mode(lane_test *t, mode m)
{
    lane_fake_lock(t->fake);
    t->st.mode = m;
    lane_fake_unlock(t->fake);
}

/* Reads an int of the fake's state under its lock. */
static int
fake_int(lane_test *t, const int *field)
{
    lane_fake_lock(t->fake);
    int v = *field;
    lane_fake_unlock(t->fake);
    return v;
}

static void
wait_fake_int(lane_test *t, const int *field, int want)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (fake_int(t, field) != want) {
        if (now_ms() > deadline)
            fail_msg("the fake broker's count is %d, want %d", fake_int(t, field), want);
        usleep(2000); /* polling interval, not a wait for the outcome */
    }
}

static void
put_and_get_round_trip(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    assert_ipcq_ok(c, ipcq_ping(c));
    put_text(c, "q", "hello");
    expect_get(c, "q", "hello", IPCQ_NOWAIT);
    wait_fake_int(t, &t->st.confirms, 1); /* a plain get confirms receipt (D1) */
    /* A megabyte each way: frames far over one read's worth. */
    size_t big = 1 << 20;
    char *item = malloc(big);
    assert_non_null(item);
    for (size_t i = 0; i < big; i++)
        item[i] = (char)(i * 7);
    assert_ipcq_ok(c, ipcq_put(c, "q", item, big, IPCQ_FOREVER));
    void *data;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, "q", &data, &len, IPCQ_NOWAIT));
    assert_int_equal(len, big);
    assert_memory_equal(data, item, big);
    ipcq_free(data);
    free(item);
    assert_int_equal(lane_fake_accepts(t->fake), 1); /* one connection for it all */
    ipcq_client_close(&c);
}

static void
a_get_timeout_is_kept(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    void *data;
    size_t len;
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, 200), IPCQ_EMPTY);
    int64_t took = now_ms() - t0;
    assert_true(took >= 200 && took < 2000);
    assert_null(data);
    ipcq_client_close(&c);
}

static void
a_silent_broker_times_out_and_its_late_items_are_handed_back(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    set_mode(t, SILENT_GET);
    void *data;
    size_t len;
    int64_t t0 = now_ms();
    /* The broker's 100 ms and the client's grace: then the call gives up,
     * though heartbeats found the broker alive and holding it. */
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, 100), IPCQ_EUNAVAILABLE);
    int64_t took = now_ms() - t0;
    print_message("silent broker: the get gave up after %lld ms\n", (long long)took);
    assert_true(took >= 1100 && took < 4000);
    assert_non_null(strstr(ipcq_client_error(c), "no answer in time"));
    wait_fake_int(t, &t->st.cancels, 1);
    /* The item the fake sent for the cancelled get reaches the next call,
     * which hands it back. */
    set_mode(t, NORMAL);
    assert_ipcq_ok(c, ipcq_ping(c));
    wait_fake_int(t, &t->st.nhanded, 1);
    lane_fake_lock(t->fake);
    assert_int_equal(t->st.handed_back[0], LATE_TAG);
    lane_fake_unlock(t->fake);
    ipcq_client_close(&c);
}

static void
the_broker_closing_mid_call_fails_it_at_once_and_the_next_call_reconnects(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    assert_ipcq_ok(c, ipcq_ping(c));
    set_mode(t, CLOSE_ON_GET);
    void *data;
    size_t len;
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, IPCQ_FOREVER), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < 500);
    assert_non_null(strstr(ipcq_client_error(c), "connection lost"));
    set_mode(t, NORMAL);
    assert_ipcq_ok(c, ipcq_ping(c));
    assert_int_equal(lane_fake_accepts(t->fake), 2);
    put_text(c, "q", "after");
    expect_get(c, "q", "after", IPCQ_NOWAIT);
    ipcq_client_close(&c);
}

static void
a_refusal_gives_eaccess_with_its_text(void **state)
{
    lane_test *t = *state;
    set_mode(t, REFUSE);
    ipcq_client *c = lane_client(t);
    /* Whether the refusal or the closed socket comes first, the text wins. */
    for (int i = 0; i < 3; i++) {
        assert_ipcq_status(c, ipcq_ping(c), IPCQ_EACCESS);
        assert_string_equal(ipcq_client_error(c), "permission denied: uid 4242 is neither the "
                                                  "broker's user nor in its group");
    }
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, IPCQ_FOREVER), IPCQ_EACCESS);
    assert_int_equal(lane_fake_accepts(t->fake), 4); /* each call tried anew */
    set_mode(t, NORMAL);
    assert_ipcq_ok(c, ipcq_ping(c));
    ipcq_client_close(&c);
}

/* A fork_child() body: 0 if a ping is refused IPCQ_EACCESS with a reason,
 * as a user the socket is not open to (nobody, when run as root). */
static int
child_as_nobody_is_refused(void *arg)
{
    lane_test *t = arg;
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
        return 99;
    ipcq_client *c = NULL;
    if (ipcq_client_open(&c, lane_fake_endpoint(t->fake)) != IPCQ_OK)
        return 98;
    int rc = ipcq_ping(c);
    bool said = strstr(ipcq_client_error(c), "permission denied") != NULL;
    ipcq_client_close(&c);
    return rc == IPCQ_EACCESS && said ? 0 : 100 + rc;
}

static void
no_socket_or_no_permission_fails_at_once(void **state)
{
    lane_test *t = *state;
    char ep[300];
    snprintf(ep, sizeof ep, "%s.none", lane_fake_endpoint(t->fake));
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, ep), IPCQ_OK);
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_ping(c), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(strstr(ipcq_client_error(c), "broker unavailable"));
    ipcq_client_close(&c);
    assert_int_equal(chmod(lane_fake_path(t->fake), 0600), 0);
    /* Another user (root's tests become nobody, in a child) may not connect. */
    if (geteuid() == 0) {
        assert_int_equal(reap_child(fork_child(child_as_nobody_is_refused, t), WAIT_MS), 0);
    } else {
        assert_int_equal(chmod(lane_fake_path(t->fake), 0), 0);
        assert_int_equal(child_as_nobody_is_refused(t), 0);
    }
}

static void
an_oversized_frame_is_a_protocol_error(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    set_mode(t, HUGE_ON_PING);
    assert_ipcq_status(c, ipcq_ping(c), IPCQ_EPROTO);
    set_mode(t, NORMAL);
    assert_ipcq_ok(c, ipcq_ping(c));
    assert_int_equal(lane_fake_accepts(t->fake), 2);
    ipcq_client_close(&c);
}

typedef struct child_args {
    ipcq_client *c;
} child_args;

static int
child_puts(void *arg)
{
    child_args *a = arg;
    int rc = ipcq_put(a->c, "q", "from the child", 14, IPCQ_FOREVER);
    ipcq_client_close(&a->c);
    return rc;
}

static void
a_forked_child_uses_its_own_connection(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    assert_ipcq_ok(c, ipcq_ping(c));
    assert_int_equal(fake_int(t, &t->st.ping_peer), 1);
    child_args a = {c};
    pid_t child = fork_child(child_puts, &a);
    assert_int_equal(reap_child(child, WAIT_MS), 0);
    lane_fake_lock(t->fake);
    assert_int_equal(t->st.put_pid, child); /* over the child's own connection */
    lane_fake_unlock(t->fake);
    assert_int_equal(lane_fake_accepts(t->fake), 2);
    /* The parent's connection is as it was. */
    assert_ipcq_ok(c, ipcq_ping(c));
    assert_int_equal(fake_int(t, &t->st.ping_peer), 1);
    assert_int_equal(fake_int(t, &t->st.ping_pid), getpid());
    expect_get(c, "q", "from the child", IPCQ_NOWAIT);
    ipcq_client_close(&c);
}

static void
async_puts_and_batched_gets_work_on_the_lane(void **state)
{
    lane_test *t = *state;
    ipcq_client *c = lane_client(t);
    assert_ipcq_ok(c, ipcq_set_put_window(c, 100));
    for (int i = 0; i < 1000; i++) {
        char item[16];
        int n = snprintf(item, sizeof item, "%d", i);
        assert_ipcq_ok(c, ipcq_put_async(c, "q", item, (size_t)n));
    }
    assert_ipcq_ok(c, ipcq_flush(c, WAIT_MS));
    int next = 0;
    while (next < 1000) {
        void *items[50];
        size_t lens[50], got = 0;
        assert_ipcq_ok(c, ipcq_get_many(c, "q", 50, items, lens, &got, IPCQ_NOWAIT));
        assert_true(got > 0);
        for (size_t i = 0; i < got; i++, next++) {
            char want[16];
            int n = snprintf(want, sizeof want, "%d", next);
            assert_int_equal(lens[i], (size_t)n);
            assert_memory_equal(items[i], want, lens[i]);
            ipcq_free(items[i]);
        }
    }
    wait_fake_int(t, &t->st.confirms, 1000);
    ipcq_client_close(&c);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(put_and_get_round_trip),
        T(a_get_timeout_is_kept),
        T(a_silent_broker_times_out_and_its_late_items_are_handed_back),
        T(the_broker_closing_mid_call_fails_it_at_once_and_the_next_call_reconnects),
        T(a_refusal_gives_eaccess_with_its_text),
        T(no_socket_or_no_permission_fails_at_once),
        T(an_oversized_frame_is_a_protocol_error),
        T(a_forked_child_uses_its_own_connection),
        T(async_puts_and_batched_gets_work_on_the_lane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
