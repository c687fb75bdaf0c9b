/* ipcqd under systemd, without systemd: the test plays the service manager.
 *   - sd_notify: $NOTIFY_SOCKET names a datagram socket the test binds;
 *     READY=1 comes once the broker answers (a get that may not wait
 *     succeeds right after it), after a durable broker rebuilt its queues
 *     (the items are there right after it), and STOPPING=1 on SIGTERM.
 *   - the journal's log form: with $JOURNAL_STREAM naming stderr's
 *     device:inode, lines are "<N>message" (a syslog priority, no name, no
 *     time); with it naming another file, or unset, "ipcqd: LEVEL: message".
 * Each broker logs to a file in a scratch directory; every one is stopped
 * and reaped (fixture_children_down() after a failure). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 15000

/* A scratch directory with the broker's endpoint, log and data dir, and
 * the manager's notify socket. */
typedef struct scene {
    char dir[64];
    char sock[96], endpoint[128], log[96], data[96], notify[96];
    int notify_fd;    /* -1: no $NOTIFY_SOCKET for the broker */
    char journal[64]; /* $JOURNAL_STREAM for the broker; "": unset */
    bool durable;
    pid_t pid;
} scene;

static void
scene_begin(scene *s, bool notify)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/ipcq-sd-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->sock, sizeof s->sock, "%s/b.sock", s->dir);
    snprintf(s->endpoint, sizeof s->endpoint, "unix://%s", s->sock);
    snprintf(s->log, sizeof s->log, "%s/ipcqd.log", s->dir);
    snprintf(s->data, sizeof s->data, "%s/data", s->dir);
    snprintf(s->notify, sizeof s->notify, "%s/notify", s->dir);
    s->notify_fd = -1;
    if (!notify)
        return;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s->notify);
    s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(s->notify_fd >= 0);
    assert_int_equal(bind(s->notify_fd, (struct sockaddr *)&addr, sizeof addr), 0);
}

/* The broker's child: stdout to /dev/null, stderr to the log, the
 * environment the scene asks for; then ipcqd. */
static int
exec_broker(void *arg)
{
    scene *s = arg;
    int out = open("/dev/null", O_WRONLY), err = open(s->log, O_WRONLY | O_APPEND);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        return 120;
    close(out), close(err);
    if (s->notify_fd >= 0)
        setenv("NOTIFY_SOCKET", s->notify, 1);
    else
        unsetenv("NOTIFY_SOCKET");
    if (s->journal[0] != '\0')
        setenv("JOURNAL_STREAM", s->journal, 1);
    else
        unsetenv("JOURNAL_STREAM");
    const char *argv[] = {IPCQD_PATH, "--bind",     s->endpoint, "--log-level",
                          "debug",    "--data-dir", s->data,     NULL};
    if (!s->durable)
        argv[5] = NULL;
    execv(IPCQD_PATH, (char *const *)argv);
    return 121;
}

/* Creates the log file (so that its device:inode can be named first) and
 * starts the broker. */
static void
broker_start(scene *s)
{
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    s->pid = fork_child(exec_broker, s);
}

static char *
read_log(const scene *s)
{
    FILE *f = fopen(s->log, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* SIGTERM, reap, and check that it exited 0 (a sanitizer's report would
 * make it 1). */
static void
broker_stop(scene *s)
{
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    int status = reap_child(s->pid, WAIT_MS);
    s->pid = 0;
    if (status != 0)
        fail_msg("ipcqd exited %d; its log:\n%s", status, read_log(s));
}

/* The next datagram on the notify socket, within WAIT_MS; fails the test,
 * showing the broker's log, if none comes or the broker exits first. */
static void
next_notice(scene *s, char *buf, size_t cap)
{
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("no notice within %d ms; ipcqd's log:\n%s", WAIT_MS, read_log(s));
        int n = poll(&p, 1, left > 100 ? 100 : (int)left);
        if (n > 0) {
            ssize_t len = recv(s->notify_fd, buf, cap - 1, 0);
            assert_true(len >= 0);
            buf[len] = '\0';
            return;
        }
        if (n < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        if (kill(s->pid, 0) != 0 || waitpid(s->pid, NULL, WNOHANG) == s->pid)
            fail_msg("ipcqd exited before its notice; its log:\n%s", read_log(s));
    }
}

static void
scene_end(scene *s)
{
    char path[200];
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    unlink(s->notify);
    unlink(s->log);
    snprintf(path, sizeof path, "%s.lock", s->sock);
    unlink(path);
    if (s->durable) {
        snprintf(path, sizeof path, "rm -rf '%s'", s->data);
        assert_int_equal(system(path), 0);
    }
    assert_int_equal(rmdir(s->dir), 0);
}

static void
expect_line(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        fail_msg("no '%s' in:\n%s", line, text);
}

static void
ready_once_it_answers_and_stopping_on_sigterm(void **state)
{
#ifndef IPCQ_HAVE_LIBSYSTEMD
    skip(); /* this ipcqd was built without libsystemd: it notifies nothing */
#endif
    scene s;
    scene_begin(&s, true);
    broker_start(&s);
    char msg[4096], status[256];
    next_notice(&s, msg, sizeof msg);
    /* At once, before anything else: the socket is there and answers. */
    struct stat st;
    int bound = stat(s.sock, &st);
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, s.endpoint), IPCQ_OK);
    void *data;
    size_t len;
    assert_ipcq_status(c, ipcq_get(c, "q", &data, &len, IPCQ_NOWAIT), IPCQ_EMPTY);
    assert_int_equal(bound, 0);
    snprintf(status, sizeof status, "READY=1\nSTATUS=listening on %s", s.endpoint);
    assert_string_equal(msg, status);

    assert_int_equal(kill(s.pid, SIGTERM), 0);
    next_notice(&s, msg, sizeof msg);
    assert_string_equal(msg, "STOPPING=1\nSTATUS=stopping: answering blocked clients");
    assert_int_equal(reap_child(s.pid, WAIT_MS), 0);
    ipcq_client_close(&c);
    scene_end(&s);
}

#define RECOVERED 300

static void
ready_after_a_durable_broker_has_recovered(void **state)
{
#ifndef IPCQ_HAVE_LIBSYSTEMD
    skip();
#endif
    scene s;
    scene_begin(&s, true);
    s.durable = true;
    broker_start(&s);
    char msg[4096], item[32];
    next_notice(&s, msg, sizeof msg);
    ipcq_client *c;
    assert_int_equal(ipcq_client_open(&c, s.endpoint), IPCQ_OK);
    for (int i = 0; i < RECOVERED; i++) {
        snprintf(item, sizeof item, "item %d", i);
        put_text(c, "kept", item);
    }
    ipcq_client_close(&c);
    broker_stop(&s);
    next_notice(&s, msg, sizeof msg); /* its STOPPING=1 */

    broker_start(&s);
    next_notice(&s, msg, sizeof msg);
    assert_non_null(strstr(msg, "READY=1\n"));
    /* Right after READY, every item is there, in order: no get waits. */
    assert_int_equal(ipcq_client_open(&c, s.endpoint), IPCQ_OK);
    for (int i = 0; i < RECOVERED; i++) {
        snprintf(item, sizeof item, "item %d", i);
        expect_get(c, "kept", item, IPCQ_NOWAIT);
    }
    ipcq_client_close(&c);
    broker_stop(&s);
    scene_end(&s);
}

/* Starts a broker with stderr to the log and $JOURNAL_STREAM as journal()
 * says (given the log's device:inode; NULL: unset), waits until it logged
 * that it listens, stops it and returns its log. */
static char *
run_logging(scene *s, void (*journal)(scene *s, const struct stat *st))
{
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct stat st;
    assert_true(fd >= 0 && fstat(fd, &st) == 0);
    close(fd);
    s->journal[0] = '\0';
    if (journal != NULL)
        journal(s, &st);
    s->pid = fork_child(exec_broker, s);
    int64_t deadline = now_ms() + WAIT_MS;
    while (strstr(read_log(s), "listening on") == NULL) {
        if (now_ms() > deadline || waitpid(s->pid, NULL, WNOHANG) == s->pid)
            fail_msg("ipcqd did not log 'listening on'; its log:\n%s", read_log(s));
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    broker_stop(s);
    return read_log(s);
}

static void
journal_is_stderr(scene *s, const struct stat *st)
{
    snprintf(s->journal, sizeof s->journal, "%llu:%llu", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
}

static void
journal_is_elsewhere(scene *s, const struct stat *st)
{
    snprintf(s->journal, sizeof s->journal, "%llu:%llu", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino + 1);
}

/* Every line of log starts with prefix, and none holds a time of day. */
static void
every_line_starts(const char *log, const char *prefix)
{
    int lines = 0;
    for (const char *p = log; *p != '\0'; lines++) {
        const char *end = strchr(p, '\n');
        assert_non_null(end);
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            fail_msg("line %d does not start with '%s':\n%s", lines + 1, prefix, log);
        for (const char *q = p; q + 8 <= end; q++)
            if (q[2] == ':' && q[5] == ':' && q[0] >= '0' && q[0] <= '9' && q[7] >= '0' &&
                q[7] <= '9')
                fail_msg("line %d holds a time:\n%s", lines + 1, log);
        p = end + 1;
    }
    assert_true(lines >= 3); /* listening, signal, stopping */
}

static void
journal_form_when_stderr_is_the_journal(void **state)
{
    scene s;
    scene_begin(&s, false);
    char *log = run_logging(&s, journal_is_stderr);
    char want[256];
    snprintf(want, sizeof want, "<6>listening on %s\n", s.endpoint);
    expect_line(log, want);
    expect_line(log, "<6>stopping: answering blocked clients\n");
    every_line_starts(log, "<");
    for (const char *p = log; (p = strchr(p, '<')) != NULL; p++)
        assert_true(p[1] >= '0' && p[1] <= '7' && p[2] == '>');
    assert_null(strstr(log, "ipcqd: "));
    scene_end(&s);
}

static void
plain_form_otherwise(void **state)
{
    scene s;
    scene_begin(&s, false);
    void (*envs[])(scene *, const struct stat *) = {NULL, journal_is_elsewhere};
    for (size_t i = 0; i < 2; i++) {
        char *log = run_logging(&s, envs[i]);
        char want[256];
        snprintf(want, sizeof want, "ipcqd: info: listening on %s\n", s.endpoint);
        expect_line(log, want);
        every_line_starts(log, "ipcqd: ");
    }
    scene_end(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(ready_once_it_answers_and_stopping_on_sigterm,
                                  fixture_children_down),
        cmocka_unit_test_teardown(ready_after_a_durable_broker_has_recovered,
                                  fixture_children_down),
        cmocka_unit_test_teardown(journal_form_when_stderr_is_the_journal, fixture_children_down),
        cmocka_unit_test_teardown(plain_form_otherwise, fixture_children_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
