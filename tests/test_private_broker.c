/* The private broker (ipcq_broker_start/stop), as Python's Manager() starts
 * a server process: a broker of the caller's own on a fresh private
 * endpoint, stopped by its starter or by its starter's death. It listens on
 * the unix:// lane unless asked for ipc:// (ipcq_broker_start_on); the
 * suite's tests start theirs on the transport under test (test_transport()). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

static void
sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* The socket path of a unix:// or ipc:// endpoint, and its directory. */
static void
split_endpoint(const char *endpoint, char *sock, char *dir, size_t cap)
{
    const char *path = strncmp(endpoint, "unix://", 7) == 0  ? endpoint + 7
                       : strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6
                                                             : NULL;
    if (path == NULL)
        fail_msg("not a local endpoint: %s", endpoint);
    snprintf(sock, cap, "%s", path);
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
}

/* A private broker on the transport under test. */
static ipcq_broker *
start_private(void)
{
    ipcq_broker *b = NULL;
    int rc = ipcq_broker_start_on(&b, test_transport());
    if (rc != IPCQ_OK)
        fail_msg("ipcq_broker_start_on(%s): %s", test_transport(), ipcq_strerror(rc));
    assert_non_null(b);
    assert_true(ipcq_broker_pid(b) > 0);
    return b;
}

static ipcq_client *
client_of(const ipcq_broker *b)
{
    ipcq_client *c = NULL;
    int rc = ipcq_client_open(&c, ipcq_broker_endpoint(b));
    if (rc != IPCQ_OK)
        fail_msg("ipcq_client_open(%s): %s", ipcq_broker_endpoint(b), ipcq_strerror(rc));
    return c;
}

static void
put_get(ipcq_client *c, const char *queue, const char *item)
{
    assert_ipcq_ok(c, ipcq_put(c, queue, item, strlen(item), 5000));
    void *data = NULL;
    size_t len = 0;
    assert_ipcq_ok(c, ipcq_get(c, queue, &data, &len, 5000));
    assert_int_equal(len, strlen(item));
    assert_memory_equal(data, item, len);
    ipcq_free(data);
}

/* True once pid names no process at all (reaped, or never was). */
static int
process_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void
serves_on_a_private_endpoint_and_stops_cleanly(void **state)
{
    /* The broker must not hold the caller's descriptors: after the caller
     * closes its end, a pipe's reader sees end-of-file. */
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);

    ipcq_broker *b = start_private();
    pid_t pid = ipcq_broker_pid(b);
    char sock[300], dir[300];
    split_endpoint(ipcq_broker_endpoint(b), sock, dir, sizeof sock);

    close(fds[1]);
    char byte;
    assert_int_equal(read(fds[0], &byte, 1), 0);
    close(fds[0]);

    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(st.st_uid, getuid());
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* In the caller's process group: a terminal's Ctrl-C reaches it. */
    assert_int_equal(getpgid(pid), getpgrp());

    ipcq_client *c = client_of(b);
    put_get(c, "jobs", "hello");
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    assert_int_equal(ipcq_stats_broker(s, IPCQ_BROKER_STAT_PID), pid);
    ipcq_stats_free(&s);
    ipcq_client_close(&c);

    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    assert_null(b);
    assert_int_equal(lstat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_true(process_gone(pid)); /* exited and reaped */
    (void)state;
}

/* With no transport named, the lane; a transport it does not know is an
 * invalid argument. */
static void
the_lane_unless_told_otherwise(void **state)
{
    ipcq_broker *b = NULL;
    assert_int_equal(ipcq_broker_start(&b), IPCQ_OK);
    assert_int_equal(strncmp(ipcq_broker_endpoint(b), "unix://", 7), 0);
    ipcq_client *c = client_of(b);
    put_get(c, "jobs", "over the lane");
    ipcq_client_close(&c);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    assert_int_equal(ipcq_broker_start_on(&b, "ipc"), IPCQ_OK);
    assert_int_equal(strncmp(ipcq_broker_endpoint(b), "ipc://", 6), 0);
    c = client_of(b);
    put_get(c, "jobs", "over zeromq");
    ipcq_client_close(&c);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    assert_int_equal(ipcq_broker_start_on(&b, "tcp"), IPCQ_EINVAL);
    assert_null(b);
    assert_int_equal(ipcq_broker_start_on(&b, NULL), IPCQ_EINVAL);
    assert_int_equal(ipcq_broker_start_on(NULL, "unix"), IPCQ_EINVAL);
    (void)state;
}

static void
null_handles(void **state)
{
    ipcq_broker *b = NULL;
    assert_int_equal(ipcq_broker_stop(NULL), IPCQ_OK);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    assert_int_equal(ipcq_broker_pid(NULL), -1);
    /* "", which ipcq_client_open() refuses, rather than the default broker. */
    assert_string_equal(ipcq_broker_endpoint(NULL), "");
    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, ipcq_broker_endpoint(NULL)), IPCQ_EINVAL);
    assert_int_equal(ipcq_broker_start(NULL), IPCQ_EINVAL);
    (void)state;
}

static void
two_private_brokers_are_independent(void **state)
{
    ipcq_broker *a = start_private(), *b = start_private();
    assert_string_not_equal(ipcq_broker_endpoint(a), ipcq_broker_endpoint(b));
    assert_int_not_equal(ipcq_broker_pid(a), ipcq_broker_pid(b));
    ipcq_client *ca = client_of(a), *cb = client_of(b);
    assert_ipcq_ok(ca, ipcq_put(ca, "q", "on-a", 4, 5000));
    assert_ipcq_ok(cb, ipcq_put(cb, "q", "on-b", 4, 5000));
    size_t size = 0;
    assert_ipcq_ok(ca, ipcq_qsize(ca, "q", &size));
    assert_int_equal(size, 1);
    void *data = NULL;
    size_t len = 0;
    assert_ipcq_ok(cb, ipcq_get(cb, "q", &data, &len, IPCQ_NOWAIT));
    assert_memory_equal(data, "on-b", 4);
    ipcq_free(data);
    assert_ipcq_ok(ca, ipcq_get(ca, "q", &data, &len, IPCQ_NOWAIT));
    assert_memory_equal(data, "on-a", 4);
    ipcq_free(data);
    ipcq_client_close(&ca);
    ipcq_client_close(&cb);
    assert_int_equal(ipcq_broker_stop(&a), IPCQ_OK);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    (void)state;
}

/* $XDG_RUNTIME_DIR is used when it is usable, else /tmp. */
static void
directory_under_xdg_runtime_dir_or_tmp(void **state)
{
    char xdg[64] = "/tmp/ipcq-xdg-XXXXXX";
    assert_non_null(mkdtemp(xdg));
    const char *old = getenv("XDG_RUNTIME_DIR");
    char *saved = old ? strdup(old) : NULL;

    setenv("XDG_RUNTIME_DIR", xdg, 1);
    ipcq_broker *b = start_private();
    char want[128];
    snprintf(want, sizeof want, "%s://%s/ipcq-private-", test_transport(), xdg);
    assert_int_equal(strncmp(ipcq_broker_endpoint(b), want, strlen(want)), 0);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);

    /* Not writable: /tmp instead. */
    assert_int_equal(chmod(xdg, 0500), 0);
    char in_tmp[64];
    snprintf(in_tmp, sizeof in_tmp, "%s:///tmp/ipcq-private-", test_transport());
    if (access(xdg, W_OK) != 0) { /* root may write anyway */
        b = start_private();
        assert_int_equal(strncmp(ipcq_broker_endpoint(b), in_tmp, strlen(in_tmp)), 0);
        assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    }
    /* Too long for a unix socket path: /tmp instead. */
    char deep[200];
    snprintf(deep, sizeof deep, "%s/%0120d", xdg, 0);
    assert_int_equal(chmod(xdg, 0700), 0);
    assert_int_equal(mkdir(deep, 0700), 0);
    setenv("XDG_RUNTIME_DIR", deep, 1);
    b = start_private();
    assert_int_equal(strncmp(ipcq_broker_endpoint(b), in_tmp, strlen(in_tmp)), 0);
    ipcq_client *c = client_of(b);
    assert_ipcq_ok(c, ipcq_ping(c));
    ipcq_client_close(&c);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);

    assert_int_equal(rmdir(deep), 0);
    assert_int_equal(rmdir(xdg), 0);
    if (saved) {
        setenv("XDG_RUNTIME_DIR", saved, 1);
        free(saved);
    } else {
        unsetenv("XDG_RUNTIME_DIR");
    }
    (void)state;
}

/* Child: stops the broker through the copy of the handle it inherited. */
static int
child_stops_inherited_copy(void *arg)
{
    ipcq_broker *copy = arg;
    int rc = ipcq_broker_stop(&copy);
    if (copy != NULL)
        return 99;
    return rc == IPCQ_EINVAL ? 0 : 100 + rc;
}

static void
forked_copy_of_the_handle_cannot_stop_the_broker(void **state)
{
    ipcq_broker *b = start_private();
    ipcq_client *c = client_of(b);
    put_get(c, "before", "x");
    pid_t child = fork_child(child_stops_inherited_copy, b);
    assert_int_equal(reap_child(child, WAIT_MS), 0);
    /* Still serving the parent, on the same connection and a new one. */
    put_get(c, "after", "y");
    ipcq_client *fresh = client_of(b);
    assert_ipcq_ok(fresh, ipcq_ping(fresh));
    ipcq_client_close(&fresh);
    ipcq_client_close(&c);
    assert_int_equal(ipcq_broker_stop(&b), IPCQ_OK);
    (void)state;
}

typedef struct started {
    int pid;
    char endpoint[200];
} started;

/* Child: starts a private broker, reports it through the pipe, and waits to
 * be killed. */
static int
child_starts_broker_and_waits(void *arg)
{
    int fd = *(int *)arg;
    ipcq_broker *b = NULL;
    started s = {0};
    if (ipcq_broker_start(&b) != IPCQ_OK)
        return 1;
    s.pid = ipcq_broker_pid(b);
    snprintf(s.endpoint, sizeof s.endpoint, "%s", ipcq_broker_endpoint(b));
    if (write(fd, &s, sizeof s) != (ssize_t)sizeof s)
        return 2;
    for (;;)
        pause();
}

static void
private_broker_dies_with_its_starter(void **state)
{
    /* The orphaned broker is reparented to the nearest subreaper: this test,
     * which can then reap it. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t starter = fork_child(child_starts_broker_and_waits, &fds[1]);
    close(fds[1]);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
    started s;
    assert_int_equal(read(fds[0], &s, sizeof s), (ssize_t)sizeof s);
    close(fds[0]);
    pid_t pid = s.pid;
    assert_true(pid > 0);

    ipcq_client *c = NULL;
    assert_int_equal(ipcq_client_open(&c, s.endpoint), IPCQ_OK);
    put_get(c, "orphan", "z");
    ipcq_client_close(&c);
    char sock[300], dir[300];
    split_endpoint(s.endpoint, sock, dir, sizeof sock);

    kill_child(starter); /* SIGKILL: no chance to stop its broker */

    int64_t deadline = now_ms() + WAIT_MS;
    int status = -1;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR && errno != ECHILD)
            fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
        /* ECHILD: not reparented to us yet, or reaped by an outer subreaper. */
        if (r < 0 && errno == ECHILD && process_gone(pid))
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            fail_msg("private broker %d outlived its starter by %d ms", (int)pid, WAIT_MS);
        }
        sleep_ms(2);
    }
    assert_true(process_gone(pid));
    if (status != -1) /* the starter's death came as SIGTERM: a clean stop */
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* It removed its own directory on the way out. */
    struct stat st;
    assert_int_equal(lstat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    (void)state;
}

#define T(fn) cmocka_unit_test_teardown(fn, fixture_children_down)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(serves_on_a_private_endpoint_and_stops_cleanly),
        T(the_lane_unless_told_otherwise),
        T(null_handles),
        T(two_private_brokers_are_independent),
        T(directory_under_xdg_runtime_dir_or_tmp),
        T(forked_copy_of_the_handle_cannot_stop_the_broker),
        T(private_broker_dies_with_its_starter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
