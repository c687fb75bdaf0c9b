#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool_proc.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* $IPCQ_TEST_BROKER_WRAPPER (say "valgrind --leak-check=full"), split at
 * spaces into the first words of argv: ipcqd then runs under it. Returns
 * how many words were stored (at most max); buf keeps them. */
static int
wrapper_words(char *buf, size_t cap, char **argv, int max)
{
    const char *w = getenv("IPCQ_TEST_BROKER_WRAPPER");
    int n = 0;
    if (w == NULL || snprintf(buf, cap, "%s", w) >= (int)cap)
        return 0;
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok != NULL && n < max;
         tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    return n;
}

static void
spawn(test_broker *tb)
{
    char *argv[24], wrapper[512];
    int n = wrapper_words(wrapper, sizeof wrapper, argv, 8);
    argv[n++] = (char *)IPCQD_PATH;
    argv[n++] = (char *)"--bind";
    argv[n++] = tb->endpoint;
    if (tb->lane[0] != '\0') {
        argv[n++] = (char *)"--bind";
        argv[n++] = tb->lane;
    }
    argv[n++] = (char *)"--log-level";
    argv[n++] = (char *)"warn";
    for (int i = 0; i < tb->nextra; i++)
        argv[n++] = tb->extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Dies with the test process, even one killed by a failed check:
         * an orphaned broker would hold ctest's output pipe open. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(127);
        execvp(argv[0], argv); /* a wrapper is found on PATH */
        _exit(127);
    }
    tb->pid = pid;
    ipcq_client *c = client_on(tb);
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    int rc;
    while ((rc = ipcq_ping(c)) != IPCQ_OK && now_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            tb->pid = 0;
            fail_msg("ipcqd exited during start-up (status %d)", status);
        }
        /* unix:// fails at once while nothing listens: do not spin. */
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ipcq_client_close(&c);
    if (rc != IPCQ_OK)
        fail_msg("ipcqd did not answer within %d ms", START_TIMEOUT_MS);
}

const char *
test_transport(void)
{
    const char *t = getenv("IPCQ_TEST_TRANSPORT");
    if (t == NULL || t[0] == '\0' || strcmp(t, "ipc") == 0)
        return "ipc";
    if (strcmp(t, "unix") == 0)
        return "unix";
    fail_msg("IPCQ_TEST_TRANSPORT=%s: want ipc or unix", t);
    return NULL;
}

static void
start(test_broker *tb, bool lane, va_list ap)
{
    memset(tb, 0, sizeof *tb);
    snprintf(tb->dir, sizeof tb->dir, "/tmp/ipcq-test-XXXXXX");
    assert_non_null(mkdtemp(tb->dir));
    snprintf(tb->path, sizeof tb->path, "%s/broker.sock", tb->dir);
    snprintf(tb->endpoint, sizeof tb->endpoint, "%s://%s", test_transport(), tb->path);
    if (lane)
        snprintf(tb->lane, sizeof tb->lane, "unix://%s/lane.sock", tb->dir);
    const char *arg;
    int max = (int)(sizeof tb->extra / sizeof tb->extra[0]);
    while ((arg = va_arg(ap, const char *)) != NULL) {
        assert_true(tb->nextra < max);
        snprintf(tb->extra[tb->nextra++], sizeof tb->extra[0], "%s", arg);
    }
    spawn(tb);
}

void
test_broker_start(test_broker *tb, ...)
{
    va_list ap;
    va_start(ap, tb);
    start(tb, false, ap);
    va_end(ap);
}

void
test_broker_start_lane(test_broker *tb, ...)
{
    va_list ap;
    va_start(ap, tb);
    start(tb, true, ap);
    va_end(ap);
}

void
test_broker_restart(test_broker *tb)
{
    assert_int_equal(tb->pid, 0);
    spawn(tb);
}

static void
remove_dir(test_broker *tb)
{
    char path[400];
    snprintf(path, sizeof path, "%s/broker.sock", tb->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/broker.sock.lock", tb->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lane.sock", tb->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lane.sock.lock", tb->dir);
    unlink(path);
    rmdir(tb->dir);
}

int
test_broker_stop_status(test_broker *tb)
{
    int status = 0;
    if (tb->pid > 0) {
        kill(tb->pid, SIGTERM);
        status = reap_child(tb->pid, STOP_TIMEOUT_MS);
        tb->pid = 0;
    }
    remove_dir(tb);
    return status;
}

void
test_broker_stop(test_broker *tb)
{
    assert_int_equal(test_broker_stop_status(tb), 0);
}

void
test_broker_kill(test_broker *tb)
{
    if (tb->pid > 0)
        kill_child(tb->pid);
    tb->pid = 0;
}

ipcq_client *
client_on(const test_broker *tb)
{
    ipcq_client *c = NULL;
    int rc = ipcq_client_open(&c, tb->endpoint);
    if (rc != IPCQ_OK)
        fail_msg("ipcq_client_open: %s", ipcq_strerror(rc));
    return c;
}

int64_t
queue_field(ipcq_client *c, const char *queue, ipcq_queue_field f)
{
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, queue, &s));
    int64_t v = ipcq_stats_queue(s, 0, f);
    ipcq_stats_free(&s);
    return v;
}

void
put_text(ipcq_client *c, const char *queue, const char *s)
{
    assert_ipcq_ok(c, ipcq_put(c, queue, s, strlen(s), IPCQ_FOREVER));
}

void
expect_get(ipcq_client *c, const char *queue, const char *want, int64_t timeout_ms)
{
    void *data;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, queue, &data, &len, timeout_ms));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    ipcq_free(data);
}

int
child_get_one(void *arg)
{
    const getter_args *a = arg;
    ipcq_client *c = client_on(a->tb);
    void *data;
    size_t len;
    int rc = ipcq_get(c, a->queue, &data, &len, a->timeout_ms);
    ipcq_free(data);
    ipcq_client_close(&c);
    return rc == IPCQ_OK ? 0 : 100 + rc;
}

/* The field, or 0 while the queue does not exist yet. */
static int64_t
field_or_zero(ipcq_client *c, const char *queue, ipcq_queue_field f)
{
    ipcq_stats *s = NULL;
    int rc = ipcq_stat(c, queue, &s);
    if (rc == IPCQ_ENOQUEUE)
        return 0;
    assert_ipcq_ok(c, rc);
    int64_t v = ipcq_stats_queue(s, 0, f);
    ipcq_stats_free(&s);
    return v;
}

static void print_children_stacks(void);

void
wait_queue_field(ipcq_client *c, const char *queue, ipcq_queue_field f, int64_t want,
                 int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms, v;
    while ((v = field_or_zero(c, queue, f)) != want) {
        if (now_ms() > deadline) {
            print_children_stacks(); /* a child that never got there: where is it? */
            fail_msg("queue %s field %d is %lld, want %lld after %lld ms", queue, (int)f,
                     (long long)v, (long long)want, (long long)timeout_ms);
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL); /* polling interval, not a wait for the outcome */
    }
}

/* Children not reaped yet, so that a failed test's teardown can stop them. */
static pid_t live_children[256];

static void
remember_child(pid_t pid, bool add)
{
    for (size_t i = 0; i < sizeof live_children / sizeof live_children[0]; i++) {
        if (add ? live_children[i] == 0 : live_children[i] == pid) {
            live_children[i] = add ? pid : 0;
            return;
        }
    }
}

pid_t
fork_child(int (*fn)(void *arg), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(arg));
    remember_child(pid, true);
    return pid;
}

void
track_child(pid_t pid)
{
    remember_child(pid, true);
}

static void
print_children_stacks(void)
{
    for (size_t i = 0; i < sizeof live_children / sizeof live_children[0]; i++)
        if (live_children[i] > 0) {
            fprintf(stderr, "child %d:\n", (int)live_children[i]);
            print_stack(live_children[i]);
        }
}

void
kill_all_children(void)
{
    for (size_t i = 0; i < sizeof live_children / sizeof live_children[0]; i++)
        if (live_children[i] > 0)
            kill_child(live_children[i]);
}

/* Prints where a process that should have ended is: its state and each
 * thread's wait channel, so that a rare hang in CI says where it was. */
static void
print_stuck(pid_t pid)
{
    char path[320], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "State:", 6) == 0 || strncmp(line, "Threads:", 8) == 0)
            fprintf(stderr, "stuck process %d: %s", (int)pid, line);
    if (f != NULL)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char wchan[128] = "?";
        snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, e->d_name);
        FILE *w = fopen(path, "r");
        if (w != NULL) {
            size_t n = fread(wchan, 1, sizeof wchan - 1, w);
            wchan[n] = '\0';
            fclose(w);
        }
        snprintf(path, sizeof path, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
        w = fopen(path, "r");
        char sys[64] = "?";
        if (w != NULL) {
            size_t n = fread(sys, 1, sizeof sys - 1, w);
            sys[n] = '\0';
            sys[strcspn(sys, " \n")] = '\0';
            fclose(w);
        }
        fprintf(stderr, "stuck process %d: thread %s in %s (syscall %s)\n", (int)pid, e->d_name,
                wchan, sys);
    }
    if (d != NULL)
        closedir(d);
}

int
reap_child(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            remember_child(pid, false);
            return tool_exit_status(status);
        }
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
        if (now_ms() > deadline) {
            print_stuck(pid);
            kill_child(pid);
            fail_msg("process %d did not finish within %lld ms", (int)pid, (long long)timeout_ms);
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void
kill_child(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    remember_child(pid, false);
}

int
fixture_broker_up(void **state)
{
    test_broker *tb = calloc(1, sizeof *tb);
    assert_non_null(tb);
    *state = tb;
    test_broker_start(tb, NULL);
    return 0;
}

int
fixture_children_down(void **state)
{
    (void)state;
    kill_all_children();
    return 0;
}

int
fixture_broker_down(void **state)
{
    test_broker *tb = *state;
    kill_all_children();
    int status = test_broker_stop_status(tb);
    free(tb);
    assert_int_equal(status, 0);
    return 0;
}

/* The number of entries in /proc/PID/DIR, or -1. */
static int
count_dir(pid_t pid, const char *dir)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int
proc_fd_count(pid_t pid)
{
    return count_dir(pid, "fd");
}

long
proc_rss_kb(pid_t pid)
{
    char path[320], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

int
wait_proc_fd_count(pid_t pid, int want, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int n;
    while ((n = proc_fd_count(pid)) != want && now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* polling interval, not a wait for the outcome */
    }
    return n;
}

void
print_proc_fds(pid_t pid)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot list the descriptors of %d\n", (int)pid);
}

int64_t
broker_stat_field(ipcq_client *c, ipcq_broker_field f)
{
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    int64_t v = ipcq_stats_broker(s, f);
    ipcq_stats_free(&s);
    return v;
}

void
wait_broker_stat_field(ipcq_client *c, ipcq_broker_field f, int64_t want, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms, v;
    while ((v = broker_stat_field(c, f)) != want) {
        if (now_ms() > deadline)
            fail_msg("broker field %d is %lld, want %lld after %lld ms", (int)f, (long long)v,
                     (long long)want, (long long)timeout_ms);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL); /* polling interval, not a wait for the outcome */
    }
}

void
expect_no_queue_prefixed(const test_broker *tb, const char *prefix)
{
    ipcq_client *c = client_on(tb);
    ipcq_stats *s = NULL;
    assert_ipcq_ok(c, ipcq_stat(c, NULL, &s));
    for (size_t i = 0; i < ipcq_stats_count(s); i++)
        if (strncmp(ipcq_stats_name(s, i), prefix, strlen(prefix)) == 0)
            fail_msg("queue %s was left on the broker", ipcq_stats_name(s, i));
    ipcq_stats_free(&s);
    ipcq_client_close(&c);
}

int
run_quietly(const char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return tool_exit_status(status);
}

void
print_stack(pid_t pid)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null && gdb -p %d -batch -ex 'thread apply all bt 25' "
             "2>/dev/null | grep -E '^(#|Thread)' >&2",
             (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "(no stack of %d: gdb is not there, or failed)\n", (int)pid);
}

void
cap_broker_quarantine(int mb)
{
    const char *old = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=%d", old ? old : "", old && *old ? ":" : "",
             mb);
    setenv("ASAN_OPTIONS", opts, 1);
}
