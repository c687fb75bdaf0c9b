/*
 * Test harness for the end-to-end suites: a real ipcqd on a fresh ipc://
 * endpoint under mkdtemp (unix:// with IPCQ_TEST_TRANSPORT=unix), forked helper processes that are
 * always reaped, programs run with their output captured (program.c), and waits on broker state
 * with deadlines instead of sleeps.
 *
 * Include after <cmocka.h>'s prerequisites; every helper fails the running
 * test on error.
 */
#ifndef IPCQ_TEST_HARNESS_H
#define IPCQ_TEST_HARNESS_H
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "ipcq.h"

/* Fails the test with the status text and the handle's error line. */
#define assert_ipcq_status(c, expr, want)                                                          \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (want))                                                                         \
            fail_msg("%s: got %d (%s) '%s', want %d (%s)", #expr, rc_, ipcq_strerror(rc_),         \
                     ipcq_client_error(c), (int)(want), ipcq_strerror(want));                      \
    } while (0)
#define assert_ipcq_ok(c, expr) assert_ipcq_status(c, expr, IPCQ_OK)

typedef struct test_broker {
    char dir[256];      /* temporary directory holding the socket */
    char endpoint[300]; /* ipc://DIR/broker.sock, or unix:// (IPCQ_TEST_TRANSPORT) */
    char path[280];     /* DIR/broker.sock */
    char lane[300];     /* unix://DIR/lane.sock when started with one, else "" */
    pid_t pid;          /* 0 when not running */
    char extra[8][64];  /* extra ipcqd arguments, kept for restarts */
    int nextra;
} test_broker;

/* The scheme the suites' brokers bind: $IPCQ_TEST_TRANSPORT, "ipc" (ZeroMQ,
 * the default) or "unix" (the native local lane); anything else fails the
 * test. */
const char *test_transport(void);

/* Starts ipcqd on a fresh endpoint with optional extra arguments (NULL
 * ended) and waits until it answers a ping. With $IPCQ_TEST_BROKER_WRAPPER
 * set (say "valgrind --leak-check=full --error-exitcode=99"), ipcqd runs
 * under that command. */
void test_broker_start(test_broker *tb, ...);
/* The same, with the unix:// lane bound too, at tb->lane (the harness's own
 * client still speaks ipc:// at tb->endpoint). */
void test_broker_start_lane(test_broker *tb, ...);
/* Starts it again on the same endpoint (after test_broker_kill). */
void test_broker_restart(test_broker *tb);
/* SIGTERM, reap, and assert that it exited 0 (so a leak under the
 * sanitizers fails the test); removes the directory. */
void test_broker_stop(test_broker *tb);
/* The same, returning ipcqd's exit status instead of asserting it. */
int test_broker_stop_status(test_broker *tb);
/* SIGKILL and reap, keeping the directory for a restart. */
void test_broker_kill(test_broker *tb);

/* A handle on the test broker. */
ipcq_client *client_on(const test_broker *tb);

/* Puts the string s (without its NUL) on queue, waiting for room. */
void put_text(ipcq_client *c, const char *queue, const char *s);
/* Gets one item within timeout_ms and checks that it is exactly want. */
void expect_get(ipcq_client *c, const char *queue, const char *want, int64_t timeout_ms);

/* What child_get_one() gets: one item of queue on tb, within timeout_ms. */
typedef struct getter_args {
    const test_broker *tb;
    const char *queue;
    int64_t timeout_ms;
} getter_args;

/* A fork_child() body (arg: getter_args): one get on a handle of its own;
 * exits 0 if it got an item, else 100 + the status. */
int child_get_one(void *arg);

/* Monotonic milliseconds. */
int64_t now_ms(void);

/* Polls stat until field f of queue equals want, failing the test after
 * timeout_ms. */
void wait_queue_field(ipcq_client *c, const char *queue, ipcq_queue_field f, int64_t want,
                      int64_t timeout_ms);
/* The current value of field f of queue (the queue must exist). */
int64_t queue_field(ipcq_client *c, const char *queue, ipcq_queue_field f);

/* Forks a child that runs fn(arg) and _exit()s with its result. */
pid_t fork_child(int (*fn)(void *arg), void *arg);
/* Counts pid, a child started some other way, among the children that
 * reap_child() and kill_child() forget and kill_all_children() stops. */
void track_child(pid_t pid);
/* Reaps pid, failing the test if it is not done within timeout_ms (it is
 * then SIGKILLed and reaped all the same). Returns its exit status, or 128 +
 * signal if a signal ended it. */
int reap_child(pid_t pid, int64_t timeout_ms);
/* SIGKILLs and reaps pid. */
void kill_child(pid_t pid);
/* SIGKILLs and reaps every child fork_child() started and nobody reaped:
 * for teardowns, so that a failed test leaves no process behind. */
void kill_all_children(void);

/* cmocka fixtures: state is a test_broker started on a fresh endpoint, and
 * stopped (with every leftover child killed) afterwards, pass or fail. */
int fixture_broker_up(void **state);
int fixture_broker_down(void **state);
/* A teardown for tests without a fixture broker: stops the children left. */
int fixture_children_down(void **state);

/* Figures of a process from /proc: its open file descriptors, and its
 * resident memory (VmRSS) in KiB; -1 if they cannot be read. */
int proc_fd_count(pid_t pid);
long proc_rss_kb(pid_t pid);
/* Polls until pid has want descriptors open (connections close
 * asynchronously) or timeout_ms passes; returns the last count. */
int wait_proc_fd_count(pid_t pid, int want, int64_t timeout_ms);
/* Lists where each descriptor of pid points, on stderr. */
void print_proc_fds(pid_t pid);

/* Field f of the broker's stat. */
int64_t broker_stat_field(ipcq_client *c, ipcq_broker_field f);
/* Polls the broker's stat until field f equals want, failing the test after
 * timeout_ms. */
void wait_broker_stat_field(ipcq_client *c, ipcq_broker_field f, int64_t want, int64_t timeout_ms);
/* Fails the test if a queue whose name starts with prefix is on tb: what a
 * program that cleans up after itself must not leave. */
void expect_no_queue_prefixed(const test_broker *tb, const char *prefix);

/* Runs argv (argv[0] a path) with stdout and stderr to /dev/null, waits for
 * it and returns its exit status (128 + signal if a signal ended it). */
int run_quietly(const char *const argv[]);

/* ---- programs run and captured (program.c) ------------------------------ */

/* How to run a program: its words, environment and standard streams. */
typedef struct program_spec {
    const char *const *argv; /* argv[0] the path; NULL ended */
    char *const *envp;       /* NULL: this process's environment */
    const void *in;          /* bytes for stdin, then end of file (none: at once) */
    size_t in_len;
    bool stdout_full;   /* stdout is /dev/full: every write fails (ENOSPC) */
    bool stdout_closed; /* nobody reads stdout: writes fail with EPIPE */
    bool stderr_tty;    /* stderr is a pseudo-terminal, read as a pipe is */
    bool in_open;   /* stdin stays open after in: program_write() adds, program_close_in() ends */
    bool own_group; /* the program leads a process group of its own (kill(-pid, SIGINT)) */
} program_spec;

typedef struct program_output {
    char *data; /* NUL-terminated, never NULL until program_free() */
    size_t len, cap;
} program_output;

/* A program started, its output so far and, once reaped, its status. */
typedef struct program_run {
    pid_t pid;
    char name[64];             /* argv[0] without its folder, for messages */
    int in_fd, out_fd, err_fd; /* our ends; -1 once closed */
    const char *in;            /* borrowed from the spec */
    size_t in_len, in_off;
    bool in_open;
    program_output out, err;
    int status; /* exit status, or 128 + signal, once reaped */
    int64_t started_ms, elapsed_ms;
} program_run;

/* Appends len bytes to b, keeping it NUL-terminated. */
void program_output_add(program_output *b, const char *data, size_t len);

/* Starts the program of sp. It is a tracked child (track_child()): a
 * failed test's kill_all_children(), or fixture_broker_down(), stops it. */
void program_start(program_run *r, const program_spec *sp);
/* Feeds stdin and collects stdout and stderr, waiting at most wait_ms for
 * any of them; false once stdout and stderr have both closed. */
bool program_pump(program_run *r, int wait_ms);
/* Writes text to the stdin of a program started with in_open. */
void program_write(program_run *r, const char *text);
/* Ends its stdin (end of file). */
void program_close_in(program_run *r);
/* Pumps until stdout holds needle, failing the test (showing the output)
 * if it does not within timeout_ms; returns where it is in r->out.data. */
const char *program_wait_out(program_run *r, const char *needle, int64_t timeout_ms);
/* Pumps until stdout and stderr close, then reaps the program into
 * r->status; fails the test (the program SIGKILLed) if that does not happen
 * within timeout_ms of its start. */
void program_finish(program_run *r, int64_t timeout_ms);
/* Closes our ends and frees the output. */
void program_free(program_run *r);

/* Checks of a finished run; each fails the test, showing the output. */
void expect_exit(const program_run *r, int want);
void expect_out(const program_run *r, const char *want);
void expect_out_has(const program_run *r, const char *needle);
void expect_err(const program_run *r, const char *want);
void expect_err_has(const program_run *r, const char *needle);

/* For brokers started from now on: ASan's quarantine keeps up to 256 MB of
 * freed memory resident, which would read as growth in a test that watches
 * the broker's VmRSS; this caps it at mb. */
void cap_broker_quarantine(int mb);

/* Prints the stack of every thread of pid to stderr, if gdb is installed:
 * for a test to explain a process that hangs before it kills it. */
void print_stack(pid_t pid);

#endif
