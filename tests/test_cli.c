/* The ipcq command-line tool (SPEC §5), run as a real program against a real
 * broker: each run forks and execs the binary with pipes for stdin, stdout
 * and stderr, feeds it the given bytes, collects its output and reaps it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 10000
#define RUN_TIMEOUT_MS 30000

extern char **environ;

typedef struct buffer {
    char *data;
    size_t len, cap;
} buffer;

typedef struct cli_run {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* -1 once closed */
    const char *in;
    size_t in_len, in_off;
    buffer out, err; /* NUL-terminated after the run, for the string checks */
    int status;
    int64_t started_ms, elapsed_ms;
} cli_run;

typedef struct run_spec {
    const test_broker *tb;  /* NULL: no --broker */
    const char *env_broker; /* IPCQ_BROKER for the child; NULL: unset */
    const void *in;
    size_t in_len;
    bool stdout_full;   /* stdout is /dev/full */
    bool stdout_closed; /* nobody reads stdout: writes fail with EPIPE */
} run_spec;

/* CLIs started and not reaped yet, so that a failed test's teardown can
 * stop them. */
static pid_t running[8];

static void
track(pid_t pid, bool add)
{
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        if (add ? running[i] == 0 : running[i] == pid) {
            running[i] = add ? pid : 0;
            return;
        }
    }
}

static void
buffer_add(buffer *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/* The child's environment: ours without IPCQ_BROKER, plus the spec's. */
static char **
child_env(const run_spec *sp, char *broker_var, size_t cap)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof *env);
    assert_non_null(env);
    size_t k = 0, keylen = strlen(IPCQ_BROKER_ENV);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], IPCQ_BROKER_ENV, keylen) != 0 || environ[i][keylen] != '=')
            env[k++] = environ[i];
    if (sp->env_broker != NULL) {
        snprintf(broker_var, cap, "%s=%s", IPCQ_BROKER_ENV, sp->env_broker);
        env[k++] = broker_var;
    }
    return env;
}

static void
make_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts the CLI with the words in args (NULL ended) after the program
 * name and, if sp->tb, "--broker ENDPOINT". */
static void
cli_start(cli_run *r, const run_spec *sp, const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = IPCQ_CLI_PATH;
    if (sp->tb != NULL) {
        argv[n++] = "--broker";
        argv[n++] = sp->tb->endpoint;
    }
    for (; *args != NULL && n < 63; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char broker_var[400];
    char **env = child_env(sp, broker_var, sizeof broker_var);
    int in[2], out[2], err[2];
    make_pipe(in), make_pipe(out), make_pipe(err);
    int full = sp->stdout_full ? open("/dev/full", O_WRONLY | O_CLOEXEC) : -1;
    memset(r, 0, sizeof *r);
    r->started_ms = now_ms();
    fflush(NULL);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        dup2(in[0], 0);
        dup2(full >= 0 ? full : out[1], 1);
        dup2(err[1], 2);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    track(r->pid, true);
    free(env);
    if (full >= 0)
        close(full);
    close(in[0]), close(out[1]), close(err[1]);
    r->in_fd = in[1];
    r->out_fd = out[0];
    if (sp->stdout_closed)
        close_fd(&r->out_fd);
    r->err_fd = err[0];
    r->in = sp->in;
    r->in_len = sp->in_len;
    assert_int_equal(fcntl(r->in_fd, F_SETFL, O_NONBLOCK), 0);
}

/* Moves stdin bytes and output between the pipes once they are ready. */
static void
pump(cli_run *r, const struct pollfd *p)
{
    char buf[65536];
    if (r->in_fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t n = write(r->in_fd, r->in + r->in_off, r->in_len - r->in_off);
        if (n > 0)
            r->in_off += (size_t)n;
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || r->in_off == r->in_len)
            close_fd(&r->in_fd); /* EPIPE: the CLI reads no stdin */
    }
    int *fds[2] = {&r->out_fd, &r->err_fd};
    buffer *bufs[2] = {&r->out, &r->err};
    for (int i = 0; i < 2; i++) {
        if (*fds[i] < 0 || !(p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(*fds[i], buf, sizeof buf);
        if (n > 0)
            buffer_add(bufs[i], buf, (size_t)n);
        else if (n == 0 || errno != EINTR)
            close_fd(fds[i]);
    }
}

/* Feeds stdin, collects stdout and stderr until both close, and reaps. */
static void
cli_finish(cli_run *r)
{
    int64_t deadline = r->started_ms + RUN_TIMEOUT_MS;
    if (r->in_len == 0)
        close_fd(&r->in_fd);
    while (r->out_fd >= 0 || r->err_fd >= 0) {
        struct pollfd p[3] = {
            {r->in_fd, POLLOUT, 0}, {r->out_fd, POLLIN, 0}, {r->err_fd, POLLIN, 0}};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill_child(r->pid);
            track(r->pid, false);
            fail_msg("ipcq did not finish within %d ms", RUN_TIMEOUT_MS);
        }
        if (poll(p, 3, (int)left) > 0)
            pump(r, p);
    }
    close_fd(&r->in_fd);
    track(r->pid, false); /* reap_child kills it if it does not end */
    r->status = reap_child(r->pid, WAIT_MS);
    r->elapsed_ms = now_ms() - r->started_ms;
    buffer_add(&r->out, "", 0);
    buffer_add(&r->err, "", 0);
}

static void
cli_free(cli_run *r)
{
    free(r->out.data);
    free(r->err.data);
    memset(&r->out, 0, sizeof r->out);
    memset(&r->err, 0, sizeof r->err);
}

/* Runs the CLI to the end with the words that follow sp (NULL ended). */
static void
run_spec_args(cli_run *r, const run_spec *sp, va_list ap)
{
    const char *args[48];
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 47)
        args[n++] = a;
    args[n] = NULL;
    cli_start(r, sp, args);
    cli_finish(r);
}

/* ipcq --broker TB ARGS... with an empty stdin; tb NULL: no --broker. */
static void
run(cli_run *r, const test_broker *tb, ...)
{
    run_spec sp = {.tb = tb};
    va_list ap;
    va_start(ap, tb);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

/* The same, with these bytes on stdin. */
static void
run_stdin(cli_run *r, const test_broker *tb, const void *in, size_t in_len, ...)
{
    run_spec sp = {.tb = tb, .in = in, .in_len = in_len};
    va_list ap;
    va_start(ap, in_len);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

/* ipcq ARGS... with IPCQ_BROKER=env_broker (NULL: unset) and no --broker. */
static void
run_env(cli_run *r, const char *env_broker, ...)
{
    run_spec sp = {.env_broker = env_broker};
    va_list ap;
    va_start(ap, env_broker);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

static void
expect_exit(const cli_run *r, int want)
{
    if (r->status != want)
        fail_msg("ipcq exited %d, want %d; stdout '%s', stderr '%s'", r->status, want, r->out.data,
                 r->err.data);
}

static void
expect_out(const cli_run *r, const char *want)
{
    if (strcmp(r->out.data, want) != 0)
        fail_msg("stdout '%s', want '%s' (stderr '%s')", r->out.data, want, r->err.data);
}

static void
expect_out_has(const cli_run *r, const char *needle)
{
    if (strstr(r->out.data, needle) == NULL)
        fail_msg("stdout '%s' lacks '%s' (stderr '%s')", r->out.data, needle, r->err.data);
}

static void
expect_err(const cli_run *r, const char *want)
{
    if (strcmp(r->err.data, want) != 0)
        fail_msg("stderr '%s', want '%s'", r->err.data, want);
}

static void
expect_err_has(const cli_run *r, const char *needle)
{
    if (strstr(r->err.data, needle) == NULL)
        fail_msg("stderr '%s' lacks '%s'", r->err.data, needle);
}

/* Runs ARGS and checks the exit status; stdout and stderr are dropped. */
#define RUN_EXPECT(tb, want, ...)                                                                  \
    do {                                                                                           \
        cli_run r_;                                                                                \
        run(&r_, tb, __VA_ARGS__, (const char *)NULL);                                             \
        expect_exit(&r_, want);                                                                    \
        cli_free(&r_);                                                                             \
    } while (0)
#define RUN(r, tb, ...) run(r, tb, __VA_ARGS__, (const char *)NULL)

static void
get_expect(ipcq_client *c, const char *queue, const void *want, size_t want_len)
{
    void *data;
    size_t len;
    assert_ipcq_ok(c, ipcq_get(c, queue, &data, &len, IPCQ_NOWAIT));
    assert_int_equal(len, want_len);
    if (len > 0)
        assert_memory_equal(data, want, len);
    ipcq_free(data);
}

static void
argv_items_come_out_in_put_order(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    RUN(&r, tb, "put", "fifo", "a", "b", "c");
    expect_exit(&r, 0);
    expect_out(&r, "");
    expect_err(&r, "");
    cli_free(&r);
    ipcq_client *c = client_on(tb);
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_SIZE), 3);
    RUN(&r, tb, "get", "fifo", "-n", "3");
    expect_exit(&r, 0);
    expect_out(&r, "a\nb\nc\n");
    cli_free(&r);
    /* options after the positional arguments, and `--` before items like options */
    RUN_EXPECT(tb, 0, "put", "fifo", "--", "-x", "--nowait");
    RUN(&r, tb, "get", "fifo", "--nowait", "-n2");
    expect_exit(&r, 0);
    expect_out(&r, "-x\n--nowait\n");
    cli_free(&r);
    ipcq_client_close(&c);
}

static void
stdin_is_one_binary_item(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    static const char item[] = {'x', '\0', 'y', '\n', 'z'}; /* no trailing newline */
    cli_run r;
    run_stdin(&r, tb, item, sizeof item, "put", "bin", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    assert_int_equal(queue_field(c, "bin", IPCQ_QUEUE_SIZE), 1);
    get_expect(c, "bin", item, sizeof item);

    /* every byte value, bigger than one read, out again through the CLI */
    size_t big_len = 300000;
    unsigned char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 7 + i / 256);
    run_stdin(&r, tb, big, big_len, "put", "bin", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    RUN(&r, tb, "get", "bin");
    expect_exit(&r, 0);
    assert_int_equal(r.out.len, big_len + 1);
    assert_memory_equal(r.out.data, big, big_len);
    assert_int_equal(r.out.data[big_len], '\n');
    cli_free(&r);
    free(big);

    /* an empty stdin is one empty item */
    run_stdin(&r, tb, "", 0, "put", "bin", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    get_expect(c, "bin", "", 0);
    ipcq_client_close(&c);
}

static void
lines_puts_one_item_per_line(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    static const char in[] = "one\ntwo\n\nthree";
    cli_run r;
    run_stdin(&r, tb, in, strlen(in), "put", "lines", "--lines", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    assert_int_equal(queue_field(c, "lines", IPCQ_QUEUE_SIZE), 4);
    get_expect(c, "lines", "one", 3);
    get_expect(c, "lines", "two", 3);
    get_expect(c, "lines", "", 0);
    get_expect(c, "lines", "three", 5);
    /* items and --lines together make no sense */
    RUN(&r, tb, "put", "lines", "x", "--lines");
    expect_exit(&r, 2);
    expect_err_has(&r, "--lines");
    cli_free(&r);
    assert_int_equal(queue_field(c, "lines", IPCQ_QUEUE_SIZE), 0);
    ipcq_client_close(&c);
}

static void
get_n_writes_what_came_then_exits_1(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "few", "a", "b");
    cli_run r;
    RUN(&r, tb, "get", "few", "-n", "3", "--timeout", "0.1");
    expect_exit(&r, 1);
    expect_out(&r, "a\nb\n");
    expect_err(&r, "ipcq: few: queue is empty\n");
    cli_free(&r);
}

static void
get_nowait_on_empty_exits_1(void **state)
{
    cli_run r;
    RUN(&r, *state, "get", "Q", "--nowait");
    expect_exit(&r, 1);
    expect_out(&r, "");
    expect_err(&r, "ipcq: Q: queue is empty\n");
    assert_true(r.elapsed_ms < 5000);
    cli_free(&r);
    /* a sub-millisecond timeout rounds up to 1 ms, not to nowait's 0 */
    RUN_EXPECT(*state, 1, "get", "Q", "--timeout", "0.0001");
}

static void
put_on_full_queue_exits_1(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    cli_run r;
    RUN_EXPECT(tb, 0, "create", "full", "--maxsize", "1");
    RUN_EXPECT(tb, 0, "put", "full", "a");
    RUN(&r, tb, "put", "full", "b", "--nowait");
    expect_exit(&r, 1);
    expect_err_has(&r, "ipcq: full: queue is full");
    cli_free(&r);
    RUN_EXPECT(tb, 1, "put", "full", "b", "--timeout", "0.05");
    assert_int_equal(queue_field(c, "full", IPCQ_QUEUE_SIZE), 1);

    /* put --maxsize creates the queue bounded first */
    RUN_EXPECT(tb, 0, "put", "bounded", "x", "--maxsize", "1");
    assert_int_equal(queue_field(c, "bounded", IPCQ_QUEUE_MAXSIZE), 1);
    RUN_EXPECT(tb, 1, "put", "bounded", "y", "--maxsize", "1", "--nowait");
    RUN(&r, tb, "put", "bounded", "z", "--maxsize", "2");
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: bounded: ");
    expect_err_has(&r, "maxsize 1");
    expect_err_has(&r, "asked for 2");
    cli_free(&r);
    assert_int_equal(queue_field(c, "bounded", IPCQ_QUEUE_SIZE), 1);
    ipcq_client_close(&c);
}

static void
get_timeout_waits_at_least_its_time(void **state)
{
    cli_run r;
    RUN(&r, *state, "get", "slow", "--timeout", "0.2");
    expect_exit(&r, 1);
    expect_err(&r, "ipcq: slow: queue is empty\n");
    assert_true(r.elapsed_ms >= 200);
    assert_true(r.elapsed_ms < 10000);
    cli_free(&r);
}

static void
bad_timeouts_are_usage_errors(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    RUN(&r, tb, "get", "t", "--timeout", "-1");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq: ");
    expect_err_has(&r, "negative");
    expect_err_has(&r, "Try 'ipcq --help'");
    cli_free(&r);
    RUN_EXPECT(tb, 2, "get", "t", "--timeout", "abc");
    RUN_EXPECT(tb, 2, "get", "t", "--timeout", "1.5s");
    RUN_EXPECT(tb, 2, "get", "t", "--timeout", "");
    RUN_EXPECT(tb, 2, "get", "t", "--timeout");
    RUN_EXPECT(tb, 2, "get", "t", "--timeout", "1", "--nowait");
    RUN_EXPECT(tb, 2, "put", "t", "x", "--nowait", "--timeout=1");
    RUN_EXPECT(tb, 2, "join", "t", "--timeout", "-0.5");
    /* none of them reached the broker */
    ipcq_client *c = client_on(tb);
    ipcq_stats *s;
    assert_ipcq_status(c, ipcq_stat(c, "t", &s), IPCQ_ENOQUEUE);
    ipcq_client_close(&c);
}

static void
unknown_commands_and_options_are_usage_errors(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    RUN(&r, tb, "frob");
    expect_exit(&r, 2);
    expect_out(&r, "");
    expect_err_has(&r, "ipcq: unknown command 'frob'");
    expect_err_has(&r, "Try 'ipcq --help'");
    cli_free(&r);
    RUN(&r, tb, "put", "q", "a", "--frob");
    expect_exit(&r, 2);
    expect_err_has(&r, "'--frob'");
    cli_free(&r);
    RUN_EXPECT(NULL, 2, "--frob");
    RUN_EXPECT(NULL, 2, "--broker");
    RUN_EXPECT(tb, 2, "put", "q", "a", "--json");
    RUN_EXPECT(tb, 2, "get", "q", "-n", "0");
    RUN_EXPECT(tb, 2, "get", "q", "-n", "x");
    RUN_EXPECT(tb, 2, "create", "q", "--maxsize", "-1");
    RUN_EXPECT(tb, 2, "rm", "a", "b");
    RUN(&r, tb, "rm");
    expect_exit(&r, 2);
    expect_err_has(&r, "QUEUE");
    cli_free(&r);
    run(&r, NULL, (const char *)NULL);
    expect_exit(&r, 2);
    expect_err_has(&r, "missing command");
    cli_free(&r);
    /* an invalid queue name is an invalid argument */
    RUN_EXPECT(tb, 2, "put", "", "x");
    RUN_EXPECT(tb, 2, "put", "bad\nname", "x");
}

static void
unreachable_broker_exits_3(void **state)
{
    char dir[] = "/tmp/ipcq-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ep[128];
    snprintf(ep, sizeof ep, "ipc://%s/none.sock", dir);
    cli_run r;
    RUN(&r, NULL, "--broker", ep, "get", "q", "--nowait");
    expect_exit(&r, 3);
    expect_err_has(&r, "broker unavailable");
    assert_true(r.elapsed_ms < 8000);
    cli_free(&r);
    RUN(&r, NULL, "--broker", ep, "ping");
    expect_exit(&r, 3);
    expect_out(&r, "");
    cli_free(&r);
    run_env(&r, ep, "put", "q", "x", "--nowait", (const char *)NULL);
    expect_exit(&r, 3);
    cli_free(&r);
    assert_int_equal(rmdir(dir), 0);
}

static void
env_and_late_broker_option_name_the_broker(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    run_env(&r, tb->endpoint, "put", "env", "hello", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    run_env(&r, tb->endpoint, "ping", (const char *)NULL);
    expect_exit(&r, 0);
    cli_free(&r);
    /* --broker after the subcommand; --broker beats IPCQ_BROKER */
    run_env(&r, "ipc:///nonexistent/ipcq.sock", "get", "env", "--broker", tb->endpoint, "--nowait",
            (const char *)NULL);
    expect_exit(&r, 0);
    expect_out(&r, "hello\n");
    cli_free(&r);
}

static void
rm_deletes_and_missing_queue_is_an_error(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    RUN(&r, tb, "rm", "nosuch");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: nosuch: no such queue\n");
    cli_free(&r);
    RUN_EXPECT(tb, 0, "put", "gone", "x");
    RUN_EXPECT(tb, 0, "rm", "gone");
    RUN(&r, tb, "stat", "gone");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: gone: no such queue\n");
    cli_free(&r);
}

static void
stat_json_of_a_queue_has_every_key(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    RUN_EXPECT(tb, 0, "create", "sq", "--maxsize", "5");
    RUN_EXPECT(tb, 0, "put", "sq", "ab", "cde");
    cli_run r;
    RUN(&r, tb, "stat", "sq", "--json");
    expect_exit(&r, 0);
    static const char *const want[] = {
        "{\"name\":\"sq\"", "\"size\":2",    "\"maxsize\":5",    "\"bytes\":5",
        "\"getters\":0",    "\"putters\":0", "\"unfinished\":2", "\"leased\":0",
        "\"oldest_ms\":",   "\"puts\":2",    "\"gets\":0",       "\"shutdown\":false}\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_out_has(&r, want[i]);
    assert_int_equal(r.out.data[0], '{');
    cli_free(&r);

    /* a getter blocked on a queue, seen by stat; then served */
    assert_ipcq_ok(c, ipcq_create(c, "w", 0));
    static const char *const args[] = {"get", "w", NULL};
    run_spec sp = {.tb = tb};
    cli_run getter;
    cli_start(&getter, &sp, args);
    wait_queue_field(c, "w", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    RUN(&r, tb, "stat", "w", "--json");
    expect_out_has(&r, "\"getters\":1");
    cli_free(&r);
    assert_ipcq_ok(c, ipcq_put(c, "w", "x", 1, IPCQ_FOREVER));
    cli_finish(&getter);
    expect_exit(&getter, 0);
    expect_out(&getter, "x\n");
    cli_free(&getter);

    /* names are escaped */
    RUN_EXPECT(tb, 0, "create", "we\"ird\\q");
    RUN(&r, tb, "stat", "we\"ird\\q", "--json");
    expect_exit(&r, 0);
    expect_out_has(&r, "{\"name\":\"we\\\"ird\\\\q\",");
    cli_free(&r);
    ipcq_client_close(&c);
}

static void
stat_shows_the_broker_and_every_queue(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "b", "x");
    RUN_EXPECT(tb, 0, "create", "a");
    cli_run r;
    RUN(&r, tb, "stat", "--json");
    expect_exit(&r, 0);
    char pid[64];
    snprintf(pid, sizeof pid, "\"pid\":%d,", (int)tb->pid);
    static const char *const want[] = {
        "{\"broker\":{\"queues\":2,",
        "\"sessions\":",
        "\"items\":1,",
        "\"bytes\":1,",
        "\"uptime_ms\":",
        "\"requests\":",
        "\"bad_requests\":",
        "\"unroutable\":",
        "\"max_item_size\":",
        "\"queues\":[{\"name\":\"a\",",
        "},{\"name\":\"b\",",
        "}]}\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_out_has(&r, want[i]);
    expect_out_has(&r, pid);
    cli_free(&r);

    RUN(&r, tb, "stat");
    expect_exit(&r, 0);
    expect_out_has(&r, "broker: pid");
    expect_out_has(&r, "QUEUE");
    expect_out_has(&r, "UNFINISHED");
    expect_out_has(&r, "  a\n");
    expect_out_has(&r, "  b\n");
    cli_free(&r);
    RUN(&r, tb, "stat", "b");
    expect_exit(&r, 0);
    expect_out_has(&r, "QUEUE");
    expect_out_has(&r, "  b\n");
    assert_null(strstr(r.out.data, "  a\n"));
    cli_free(&r);
}

static void
ls_lists_queue_names_sorted(void **state)
{
    test_broker *tb = *state;
    cli_run r;
    RUN(&r, tb, "ls");
    expect_exit(&r, 0);
    expect_out(&r, "");
    cli_free(&r);
    RUN_EXPECT(tb, 0, "create", "c");
    RUN_EXPECT(tb, 0, "create", "a");
    RUN_EXPECT(tb, 0, "put", "b", "x");
    RUN(&r, tb, "ls");
    expect_exit(&r, 0);
    expect_out(&r, "a\nb\nc\n");
    cli_free(&r);
}

static void
create_conflict_names_both_values(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "create", "cq", "--maxsize", "3");
    RUN_EXPECT(tb, 0, "create", "cq", "--maxsize=3");
    cli_run r;
    RUN(&r, tb, "create", "cq", "--maxsize", "5");
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: cq: ");
    expect_err_has(&r, "maxsize 3");
    expect_err_has(&r, "asked for 5");
    cli_free(&r);
}

static void
task_done_and_join(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "tj", "a");
    cli_run r;
    RUN(&r, tb, "join", "tj", "--timeout", "0.1");
    expect_exit(&r, 1);
    expect_err_has(&r, "ipcq: tj: ");
    cli_free(&r);
    RUN_EXPECT(tb, 0, "get", "tj");
    RUN_EXPECT(tb, 0, "task-done", "tj");
    RUN(&r, tb, "task-done", "tj");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: tj: task_done() called too many times\n");
    cli_free(&r);
    RUN_EXPECT(tb, 0, "join", "tj", "--timeout", "0.1");
    RUN_EXPECT(tb, 0, "join", "tj");
    RUN(&r, tb, "join", "nosuch");
    expect_exit(&r, 4);
    expect_err_has(&r, "no such queue");
    cli_free(&r);
}

static void
shutdown_fails_puts_and_drains_gets(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "sd", "a");
    RUN_EXPECT(tb, 0, "shutdown", "sd");
    cli_run r;
    RUN(&r, tb, "put", "sd", "b");
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: sd: ");
    expect_err_has(&r, "shut down");
    cli_free(&r);
    RUN(&r, tb, "get", "sd", "--nowait");
    expect_exit(&r, 0);
    expect_out(&r, "a\n");
    cli_free(&r);
    RUN_EXPECT(tb, 4, "get", "sd", "--nowait");
    RUN(&r, tb, "stat", "sd", "--json");
    expect_out_has(&r, "\"shutdown\":true");
    cli_free(&r);

    RUN_EXPECT(tb, 0, "put", "si", "a", "b");
    RUN_EXPECT(tb, 0, "shutdown", "si", "--immediate");
    RUN_EXPECT(tb, 4, "get", "si", "--nowait");
    RUN_EXPECT(tb, 0, "join", "si", "--timeout", "1");
}

static void
ping_answers(void **state)
{
    cli_run r;
    RUN(&r, *state, "ping");
    expect_exit(&r, 0);
    assert_int_equal(strncmp(r.out.data, "pong", 4), 0);
    cli_free(&r);
}

static void
help_and_version_need_no_broker(void **state)
{
    cli_run r;
    RUN(&r, NULL, "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: ipcq");
    expect_err(&r, "");
    static const char *const cmds[] = {"put", "get",       "stat", "ls",       "create",
                                       "rm",  "task-done", "join", "shutdown", "ping"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        expect_out_has(&r, cmds[i]);
    cli_free(&r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        RUN(&r, NULL, cmds[i], "--help");
        expect_exit(&r, 0);
        expect_out_has(&r, "Usage: ipcq [--broker EP] ");
        expect_out_has(&r, cmds[i]);
        cli_free(&r);
    }
    RUN(&r, NULL, "put", "q", "item", "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: ipcq [--broker EP] put QUEUE");
    cli_free(&r);
    RUN(&r, NULL, "--version");
    expect_exit(&r, 0);
    char want[64];
    snprintf(want, sizeof want, "ipcq %s\n", ipcq_version());
    expect_out(&r, want);
    cli_free(&r);
}

static void
write_errors_on_stdout_exit_4(void **state)
{
    if (access("/dev/full", W_OK) != 0)
        skip();
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "wf", "x");
    static const char *const args[] = {"get", "wf", NULL};
    run_spec sp = {.tb = tb, .stdout_full = true};
    cli_run r;
    cli_start(&r, &sp, args);
    cli_finish(&r);
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: writing to standard output: ");
    cli_free(&r);

    /* a reader that went away: exit 4 without a word */
    run_spec gone = {.tb = tb, .stdout_closed = true};
    cli_start(&r, &gone, args);
    cli_finish(&r);
    expect_exit(&r, 4);
    expect_err(&r, "");
    cli_free(&r);

    /* Neither failed write lost the item: it went back to the queue. */
    RUN(&r, tb, "get", "wf", "--nowait");
    expect_exit(&r, 0);
    expect_out(&r, "x\n");
    cli_free(&r);
}

/* Stops any CLI a failed test left running, then the broker. */
static int
teardown(void **state)
{
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (running[i] > 0)
            kill_child(running[i]);
    memset(running, 0, sizeof running);
    return fixture_broker_down(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, teardown)

int
main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a CLI that reads no stdin closes its end */
    const struct CMUnitTest tests[] = {
        T(argv_items_come_out_in_put_order),
        T(stdin_is_one_binary_item),
        T(lines_puts_one_item_per_line),
        T(get_n_writes_what_came_then_exits_1),
        T(get_nowait_on_empty_exits_1),
        T(put_on_full_queue_exits_1),
        T(get_timeout_waits_at_least_its_time),
        T(bad_timeouts_are_usage_errors),
        T(unknown_commands_and_options_are_usage_errors),
        T(unreachable_broker_exits_3),
        T(env_and_late_broker_option_name_the_broker),
        T(rm_deletes_and_missing_queue_is_an_error),
        T(stat_json_of_a_queue_has_every_key),
        T(stat_shows_the_broker_and_every_queue),
        T(ls_lists_queue_names_sorted),
        T(create_conflict_names_both_values),
        T(task_done_and_join),
        T(shutdown_fails_puts_and_drains_gets),
        T(ping_answers),
        T(help_and_version_need_no_broker),
        T(write_errors_on_stdout_exit_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
