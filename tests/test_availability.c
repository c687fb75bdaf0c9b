/* The broker comes and goes (D7), stops cleanly on a signal, and owns its
 * endpoint (B5). Its default endpoint (§1, B3): test_default_endpoint. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 15000

static void
unreachable_broker_fails_within_the_timeout(void **state)
{
    char dir[] = "/tmp/ipcq-none-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ep[64];
    snprintf(ep, sizeof ep, "ipc://%s/nobody.sock", dir);
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, ep), IPCQ_OK);
    void *data;
    size_t len;
    int64_t t0 = now_ms();
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, IPCQ_NOWAIT), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < 3000);
    assert_non_null(strstr(ipcq_client_error(c), "broker unavailable"));
    t0 = now_ms();
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, IPCQ_FOREVER), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < 5000);
    t0 = now_ms();
    assert_ipcq_status(c, ipcq_put(c, "q", "x", 1, 300), IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < 3000);
    ipcq_client_close(&c);
    rmdir(dir);
}

static void
blocked_forever_call_learns_that_its_broker_died(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_create(c, "orphan", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {tb, "orphan", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "orphan", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    test_broker_kill(tb);
    int64_t t0 = now_ms();
    assert_int_equal(reap_child(getter, WAIT_MS), 100 + IPCQ_EUNAVAILABLE);
    print_message("blocked getter told after %lld ms\n", (long long)(now_ms() - t0));
    ipcq_client_close(&c);
}

static void
the_same_handle_works_again_after_a_restart(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_put(c, "phoenix", "a", 1, IPCQ_NOWAIT));
    test_broker_kill(tb);
    assert_ipcq_status(c, ipcq_put(c, "phoenix", "b", 1, IPCQ_NOWAIT), IPCQ_EUNAVAILABLE);
    /* The dead broker's socket file is still there: stale, taken over (B5). */
    char path[300];
    snprintf(path, sizeof path, "%s/broker.sock", tb->dir);
    assert_int_equal(access(path, F_OK), 0);
    test_broker_restart(tb);
    assert_ipcq_ok(c, ipcq_put(c, "phoenix", "c", 1, IPCQ_NOWAIT));
    void *data;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, "phoenix", &data, &len, IPCQ_NOWAIT));
    /* A fresh broker: only what was put after the restart. */
    assert_memory_equal(data, "c", 1);
    ipcq_free(data);
    ipcq_client_close(&c);
}

static void
a_restart_while_blocked_is_noticed(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_create(c, "amnesia", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {tb, "amnesia", 60000};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "amnesia", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    test_broker_kill(tb);
    test_broker_restart(tb);
    /* The new broker never heard of the request: the getter is told, long
     * before its own 60 s timeout. */
    int64_t t0 = now_ms();
    assert_int_equal(reap_child(getter, WAIT_MS), 100 + IPCQ_EUNAVAILABLE);
    assert_true(now_ms() - t0 < WAIT_MS);
    ipcq_client_close(&c);
}

static void
sigterm_answers_blocked_clients_and_exits_zero(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_create(c, "closing", 0)); /* a get waits, creating nothing (Q2) */
    getter_args a = {tb, "closing", IPCQ_FOREVER};
    pid_t getter = fork_child(child_get_one, &a);
    wait_queue_field(c, "closing", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    ipcq_client_close(&c);
    assert_int_equal(test_broker_stop_status(tb), 0);
    assert_int_equal(reap_child(getter, WAIT_MS), 100 + IPCQ_ESTOPPING);
}

static void
a_second_broker_on_a_live_endpoint_refuses_to_start(void **state)
{
    test_broker *tb = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' --bind '%s' --log-level error 2>/dev/null", IPCQD_PATH,
             tb->endpoint);
    int status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    /* The first broker still serves. */
    ipcq_client *c = client_on(tb);
    assert_ipcq_ok(c, ipcq_ping(c));
    ipcq_client_close(&c);
}

/* A free loopback port: bound to port 0, read back, released. */
static int
free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void
one_broker_serves_ipc_and_tcp_at_once(void **state)
{
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", free_tcp_port());
    test_broker tb;
    test_broker_start(&tb, "--bind", tcp, NULL);
    ipcq_client *over_ipc = client_on(&tb), *over_tcp;
    assert_int_equal(ipcq_client_open(&over_tcp, tcp), IPCQ_OK);
    assert_ipcq_ok(over_ipc, ipcq_put(over_ipc, "both", "via-ipc", 7, IPCQ_NOWAIT));
    void *data;
    size_t len;
    assert_ipcq_ok(over_tcp, ipcq_get(over_tcp, "both", &data, &len, 5000));
    assert_int_equal(len, 7);
    assert_memory_equal(data, "via-ipc", 7);
    ipcq_free(data);
    ipcq_client_close(&over_tcp);
    ipcq_client_close(&over_ipc);
    test_broker_stop(&tb);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unreachable_broker_fails_within_the_timeout),
        T(blocked_forever_call_learns_that_its_broker_died),
        T(the_same_handle_works_again_after_a_restart),
        T(a_restart_while_blocked_is_noticed),
        T(sigterm_answers_blocked_clients_and_exits_zero),
        T(a_second_broker_on_a_live_endpoint_refuses_to_start),
        cmocka_unit_test(one_broker_serves_ipc_and_tcp_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
