/* The chat room of examples/chat (README, "Chat room"), run as real
 * programs against a real broker: a server and clients started with pipes
 * for stdin and stdout, each leading a process group of its own as a shell
 * would make it, driven by the lines written to them; every wait is for a
 * line of their output, under a deadline. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 20000 /* for one line of output, under the sanitizers */
#define RUN_TIMEOUT_MS 60000

/* Starts a chat program on the test broker with args (NULL ended); stdin
 * stays open for program_write(). */
static void
chat_start(program_run *r, const test_broker *tb, const char *path, const char *const *args)
{
    const char *argv[8] = {path, "--broker", tb->endpoint};
    int n = 3;
    for (; *args != NULL && n < 7; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    program_start(r, &(program_spec){.argv = argv, .in_open = true, .own_group = true});
}

#define SERVER(r, tb) chat_start(r, tb, CHAT_SERVER_PATH, (const char *const[]){NULL})
#define CLIENT(r, tb, name) chat_start(r, tb, CHAT_CLIENT_PATH, (const char *const[]){name, NULL})

/* Starts a client and waits until it is in the room. */
static void
join(program_run *r, const test_broker *tb, const char *name)
{
    char want[64];
    CLIENT(r, tb, name);
    snprintf(want, sizeof want, "joined the room as %s", name);
    program_wait_out(r, want, WAIT_MS);
}

/* Waits until the program (reaped) leaves no process in its group: none of
 * its children outlived it, orphaned. */
static void
expect_group_gone(const program_run *r)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (kill(-r->pid, 0) == 0) {
        if (now_ms() > deadline)
            fail_msg("%s (pid %d) left a process in its group", r->name, (int)r->pid);
        usleep(10000);
    }
    assert_int_equal(errno, ESRCH);
}

/* Stops a program with sig to its group and checks how it ended. */
static void
interrupt(program_run *r, int sig)
{
    assert_int_equal(kill(-r->pid, sig), 0);
    program_finish(r, RUN_TIMEOUT_MS);
    expect_exit(r, 128 + sig);
    expect_group_gone(r);
}

static void
room_forwards_refuses_announces_and_cleans_up(void **state)
{
    const test_broker *tb = *state;
    program_run server, a, b, c, dup;
    SERVER(&server, tb);
    program_wait_out(&server, "chat server on chat.server", WAIT_MS);
    join(&a, tb, "alice");
    join(&b, tb, "bob");
    program_wait_out(&a, "*** bob joined the room", WAIT_MS);
    join(&c, tb, "carol");
    program_wait_out(&a, "*** carol joined the room", WAIT_MS);
    program_wait_out(&b, "*** carol joined the room", WAIT_MS);

    /* A taken name is refused, and the refused client ends. */
    CLIENT(&dup, tb, "alice");
    program_close_in(&dup);
    program_finish(&dup, RUN_TIMEOUT_MS);
    expect_exit(&dup, 1);
    expect_err_has(&dup, "alice: the name is taken");
    program_wait_out(&server, "refused alice: the name is taken", WAIT_MS);
    expect_group_gone(&dup);

    /* A message reaches the others; then the console's reaches everyone,
     * alice too, whose own message, forwarded first, would be before it. */
    program_write(&a, "hello from alice\n");
    program_wait_out(&b, "alice: hello from alice", WAIT_MS);
    program_wait_out(&c, "alice: hello from alice", WAIT_MS);
    program_write(&server, "the room closes at noon\n");
    program_wait_out(&a, "admin: the room closes at noon", WAIT_MS);
    program_wait_out(&b, "admin: the room closes at noon", WAIT_MS);
    program_wait_out(&c, "admin: the room closes at noon", WAIT_MS);
    if (strstr(a.out.data, "alice: hello") != NULL)
        fail_msg("alice got her own message back: '%s'", a.out.data);

    /* quit leaves; the others hear it. */
    program_write(&b, "quit\n");
    program_finish(&b, RUN_TIMEOUT_MS);
    expect_exit(&b, 0);
    expect_group_gone(&b);
    program_wait_out(&a, "*** bob left the room", WAIT_MS);
    program_wait_out(&c, "*** bob left the room", WAIT_MS);

    /* Ctrl-C: SIGINT to carol's process group; she leaves all the same. */
    interrupt(&c, SIGINT);
    program_wait_out(&a, "*** carol left the room", WAIT_MS);

    /* The end of input leaves too. */
    program_close_in(&a);
    program_finish(&a, RUN_TIMEOUT_MS);
    expect_exit(&a, 0);
    expect_group_gone(&a);
    program_wait_out(&server, "alice left (0 in the room)", WAIT_MS);

    interrupt(&server, SIGINT);
    expect_out_has(&server, "room closed");
    expect_no_queue_prefixed(tb, "chat."); /* .server, .member.*, .login.* */
    program_run *runs[] = {&server, &a, &b, &c, &dup};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        program_free(runs[i]);
}

/* The server stopped: its members are told, and end on their own. */
static void
closing_the_room_ends_its_members(void **state)
{
    const test_broker *tb = *state;
    program_run server, a;
    SERVER(&server, tb);
    program_wait_out(&server, "chat server on chat.server", WAIT_MS);
    join(&a, tb, "alice");
    program_wait_out(&server, "alice joined", WAIT_MS);
    interrupt(&server, SIGTERM);
    program_wait_out(&a, "*** the server closed the room", WAIT_MS);
    program_finish(&a, RUN_TIMEOUT_MS);
    expect_exit(&a, 0);
    expect_group_gone(&a);
    expect_no_queue_prefixed(tb, "chat."); /* .server, .member.*, .login.* */
    program_free(&server);
    program_free(&a);
}

/* Without NAME the client asks, and asks again after a refusal. */
static void
client_asks_again_for_a_refused_name(void **state)
{
    const test_broker *tb = *state;
    program_run server, a, asker;
    SERVER(&server, tb);
    program_wait_out(&server, "chat server on chat.server", WAIT_MS);
    join(&a, tb, "alice");
    chat_start(&asker, tb, CHAT_CLIENT_PATH, (const char *const[]){NULL});
    program_write(&asker, "alice\nzoe\n");
    program_wait_out(&asker, "joined the room as zoe", WAIT_MS);
    expect_err_has(&asker, "alice: the name is taken");
    program_wait_out(&a, "*** zoe joined the room", WAIT_MS);
    program_write(&asker, "quit\n");
    program_finish(&asker, RUN_TIMEOUT_MS);
    expect_exit(&asker, 0);
    program_close_in(&a);
    program_finish(&a, RUN_TIMEOUT_MS);
    expect_exit(&a, 0);
    interrupt(&server, SIGINT);
    expect_no_queue_prefixed(tb, "chat."); /* .server, .member.*, .login.* */
    program_free(&server);
    program_free(&a);
    program_free(&asker);
}

/* Runs path with args and no stdin; checks its exit status and stderr. */
static void
expect_run(const char *const *argv, int status, const char *err)
{
    program_run r;
    program_start(&r, &(program_spec){.argv = argv});
    program_finish(&r, RUN_TIMEOUT_MS);
    expect_exit(&r, status);
    expect_err_has(&r, err);
    program_free(&r);
}

static void
bad_input_is_refused_in_one_line(void **state)
{
    const test_broker *tb = *state;
    const char *ep = tb->endpoint;
    const char *none = "unix:///nonexistent-ipcq-chat/broker.sock";
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", ep, "", NULL}, 2,
               "the name is empty");
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", ep,
                                     "a-name-of-more-than-thirty-two-bytes", NULL},
               2, "longer than 32 bytes");
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", ep, "admin", NULL}, 2,
               "reserved");
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", ep, "two words", NULL}, 2,
               "spaces");
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--bogus", NULL}, 2, "unknown");
    expect_run((const char *const[]){CHAT_SERVER_PATH, "extra", NULL}, 2, "unexpected");
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", none, "alice", NULL}, 3,
               "broker at unix:///nonexistent");
    expect_run((const char *const[]){CHAT_SERVER_PATH, "--broker", none, NULL}, 3,
               "broker at unix:///nonexistent");
    /* No server: the login is not answered. */
    expect_run((const char *const[]){CHAT_CLIENT_PATH, "--broker", ep, "alice", NULL}, 1,
               "no chat server answered");
    program_run r;
    program_start(&r,
                  &(program_spec){.argv = (const char *const[]){CHAT_CLIENT_PATH, "--help", NULL}});
    program_finish(&r, RUN_TIMEOUT_MS);
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: chat_client [--broker EP] [NAME]");
    program_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(room_forwards_refuses_announces_and_cleans_up),
        T(closing_the_room_ends_its_members),
        T(client_asks_again_for_a_refused_name),
        T(bad_input_is_refused_in_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
