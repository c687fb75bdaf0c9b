/* The default endpoint (SPEC §1, B3): with no flags at all, ipcqd listens
 * on the unix:// lane in a per-user directory of mode 0700, and the library
 * and the CLI, given no endpoint, find it there; the help texts of ipcqd
 * and of the CLI name it. Each test points $XDG_RUNTIME_DIR at a fresh
 * directory of its own, so that it never meets a broker the user runs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 15000
#define RUN_TIMEOUT_MS 30000

/* A fresh $XDG_RUNTIME_DIR, with $IPCQ_BROKER unset; restored by
 * runtime_end(). */
typedef struct runtime {
    char dir[64];   /* the fake $XDG_RUNTIME_DIR */
    char sock[128]; /* DIR/ipcq/broker.sock, where the default socket must be */
    char endpoint[160];
    char *saved_xdg, *saved_broker;
} runtime;

static char *
saved(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? strdup(v) : NULL;
}

static void
restore(const char *name, char *value)
{
    if (value != NULL)
        setenv(name, value, 1);
    else
        unsetenv(name);
    free(value);
}

static void
runtime_begin(runtime *rt)
{
    memset(rt, 0, sizeof *rt);
    rt->saved_xdg = saved("XDG_RUNTIME_DIR");
    rt->saved_broker = saved(IPCQ_BROKER_ENV);
    snprintf(rt->dir, sizeof rt->dir, "/tmp/ipcq-xdg-XXXXXX");
    assert_non_null(mkdtemp(rt->dir));
    snprintf(rt->sock, sizeof rt->sock, "%s/ipcq/broker.sock", rt->dir);
    snprintf(rt->endpoint, sizeof rt->endpoint, "unix://%s", rt->sock);
    assert_int_equal(setenv("XDG_RUNTIME_DIR", rt->dir, 1), 0);
    unsetenv(IPCQ_BROKER_ENV);
}

/* Removes what a broker leaves in the default directory after a clean stop
 * (its lock file: the socket goes with it), and the directory. */
static void
runtime_end(runtime *rt)
{
    char path[200];
    snprintf(path, sizeof path, "%s.lock", rt->sock);
    unlink(path);
    snprintf(path, sizeof path, "%s/ipcq", rt->dir);
    rmdir(path);
    assert_int_equal(rmdir(rt->dir), 0);
    restore("XDG_RUNTIME_DIR", rt->saved_xdg);
    restore(IPCQ_BROKER_ENV, rt->saved_broker);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ipcqd with no --bind: the default endpoint. */
static pid_t
start_default_ipcqd(void)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test, even one killed by a failed check. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(127);
        execl(IPCQD_PATH, IPCQD_PATH, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    track_child(pid);
    return pid;
}

/* Runs argv[0] (a path) with our environment; returns it finished. */
static void
run_program(program_run *r, const char *const *argv)
{
    program_spec sp = {.argv = argv};
    program_start(r, &sp);
    program_finish(r, RUN_TIMEOUT_MS);
}

static void
the_default_is_the_per_user_unix_socket(void **state)
{
    runtime rt;
    runtime_begin(&rt);
    char ep[4200];
    assert_int_equal(ipcq_default_endpoint(ep, sizeof ep), IPCQ_OK);
    assert_string_equal(ep, rt.endpoint);

    /* Without $XDG_RUNTIME_DIR (or with one that is not a path), /tmp. */
    char want[128];
    snprintf(want, sizeof want, "unix:///tmp/ipcq-%lu/broker.sock", (unsigned long)getuid());
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(ipcq_default_endpoint(ep, sizeof ep), IPCQ_OK);
    assert_string_equal(ep, want);
    setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
    assert_int_equal(ipcq_default_endpoint(ep, sizeof ep), IPCQ_OK);
    assert_string_equal(ep, want);

    /* $IPCQ_BROKER comes first, whatever its scheme: ipc:// and tcp:// are
     * still there for whoever names them. */
    setenv(IPCQ_BROKER_ENV, "ipc:///somewhere/else.sock", 1);
    assert_int_equal(ipcq_default_endpoint(ep, sizeof ep), IPCQ_OK);
    assert_string_equal(ep, "ipc:///somewhere/else.sock");
    setenv(IPCQ_BROKER_ENV, "tcp://127.0.0.1:5555", 1);
    assert_int_equal(ipcq_default_endpoint(ep, sizeof ep), IPCQ_OK);
    assert_string_equal(ep, "tcp://127.0.0.1:5555");
    runtime_end(&rt);
    (void)state;
}

static void
ipcqd_and_clients_meet_on_the_lane_with_no_flags(void **state)
{
    runtime rt;
    runtime_begin(&rt);
    pid_t broker = start_default_ipcqd();

    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, NULL), IPCQ_OK); /* the default endpoint */
    int64_t deadline = now_ms() + WAIT_MS;
    while (ipcq_ping(c) != IPCQ_OK) {
        int status;
        if (waitpid(broker, &status, WNOHANG) == broker)
            fail_msg("ipcqd exited during start-up (status %d)", status);
        assert_true(now_ms() < deadline);
        sleep_ms(2); /* unix:// fails at once while nothing listens: do not spin */
    }
    /* The socket is where SPEC §1 says, private to its owner (B3). */
    struct stat st;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/ipcq", rt.dir);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(lstat(rt.sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_uid, getuid());

    /* It is that broker, and a put and a get go through. */
    assert_int_equal(broker_stat_field(c, IPCQ_BROKER_STAT_PID), broker);
    assert_ipcq_ok(c, ipcq_put(c, "jobs", "hello", 5, IPCQ_NOWAIT));
    expect_get(c, "jobs", "hello", 5000);

    /* The same through the named unix:// endpoint, and through the CLI with
     * no --broker. */
    ipcq_client *named;
    assert_int_equal(ipcq_client_open(&named, rt.endpoint), IPCQ_OK);
    put_text(named, "jobs", "from-the-cli's-side");
    ipcq_client_close(&named);
    program_run r;
    const char *get[] = {IPCQ_CLI_PATH, "get", "jobs", "--nowait", NULL};
    run_program(&r, get);
    expect_exit(&r, 0);
    expect_out(&r, "from-the-cli's-side\n");
    program_free(&r);
    const char *put[] = {IPCQ_CLI_PATH, "put", "jobs", "from-the-cli", NULL};
    run_program(&r, put);
    expect_exit(&r, 0);
    program_free(&r);
    expect_get(c, "jobs", "from-the-cli", 5000);
    ipcq_client_close(&c);

    kill(broker, SIGTERM);
    assert_int_equal(reap_child(broker, WAIT_MS), 0);
    assert_int_equal(lstat(rt.sock, &st), -1); /* the socket went with the broker */
    assert_int_equal(errno, ENOENT);
    runtime_end(&rt);
    (void)state;
}

static void
the_help_texts_name_the_default(void **state)
{
    runtime rt;
    runtime_begin(&rt);
    program_run r;
    const char *ipcqd_help[] = {IPCQD_PATH, "--help", NULL};
    run_program(&r, ipcqd_help);
    expect_exit(&r, 0);
    expect_out_has(&r, "unix://$XDG_RUNTIME_DIR/ipcq/broker.sock");
    expect_out_has(&r, "unix:///tmp/ipcq-$UID/broker.sock");
    expect_out_has(&r, rt.endpoint); /* what it is here and now */
    program_free(&r);
    const char *cli_help[] = {IPCQ_CLI_PATH, "--help", NULL};
    run_program(&r, cli_help);
    expect_exit(&r, 0);
    expect_out_has(&r, "unix://");
    expect_out_has(&r, rt.endpoint);
    program_free(&r);
    runtime_end(&rt);
    (void)state;
}

#define T(fn) cmocka_unit_test_teardown(fn, fixture_children_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(the_default_is_the_per_user_unix_socket),
        T(ipcqd_and_clients_meet_on_the_lane_with_no_flags),
        T(the_help_texts_name_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
