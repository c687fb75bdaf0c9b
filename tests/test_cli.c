/* The ipcq command-line tool (SPEC §5), run as a real program against a real
 * broker: each run forks and execs the binary with pipes for stdin, stdout
 * and stderr, feeds it the given bytes, collects its output and reaps it
 * (the harness's program_run). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 10000
#define RUN_TIMEOUT_MS 30000

extern char **environ;

/* How a test runs the CLI. */
typedef struct run_spec {
    const test_broker *tb;  /* NULL: no --broker */
    const char *env_broker; /* IPCQ_BROKER for the child; NULL: unset */
    const void *in;
    size_t in_len;
    bool stdout_full;   /* stdout is /dev/full */
    bool stdout_closed; /* nobody reads stdout: writes fail with EPIPE */
} run_spec;

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

/* Starts the CLI with the words in args (NULL ended) after the program
 * name and, if sp->tb, "--broker ENDPOINT". */
static void
cli_start(program_run *r, const run_spec *sp, const char *const *args)
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
    program_spec ps = {.argv = argv,
                       .envp = env,
                       .in = sp->in,
                       .in_len = sp->in_len,
                       .stdout_full = sp->stdout_full,
                       .stdout_closed = sp->stdout_closed};
    program_start(r, &ps);
    free(env);
}

/* Runs the CLI to the end with the words that follow sp (NULL ended). */
static void
run_spec_args(program_run *r, const run_spec *sp, va_list ap)
{
    const char *args[48];
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 47)
        args[n++] = a;
    args[n] = NULL;
    cli_start(r, sp, args);
    program_finish(r, RUN_TIMEOUT_MS);
}

/* ipcq --broker TB ARGS... with an empty stdin; tb NULL: no --broker. */
static void
run(program_run *r, const test_broker *tb, ...)
{
    run_spec sp = {.tb = tb};
    va_list ap;
    va_start(ap, tb);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

/* The same, with these bytes on stdin. */
static void
run_stdin(program_run *r, const test_broker *tb, const void *in, size_t in_len, ...)
{
    run_spec sp = {.tb = tb, .in = in, .in_len = in_len};
    va_list ap;
    va_start(ap, in_len);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

/* ipcq ARGS... with IPCQ_BROKER=env_broker (NULL: unset) and no --broker. */
static void
run_env(program_run *r, const char *env_broker, ...)
{
    run_spec sp = {.env_broker = env_broker};
    va_list ap;
    va_start(ap, env_broker);
    run_spec_args(r, &sp, ap);
    va_end(ap);
}

/* Runs ARGS and checks the exit status; stdout and stderr are dropped. */
#define RUN_EXPECT(tb, want, ...)                                                                  \
    do {                                                                                           \
        program_run r_;                                                                            \
        run(&r_, tb, __VA_ARGS__, (const char *)NULL);                                             \
        expect_exit(&r_, want);                                                                    \
        program_free(&r_);                                                                         \
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
    program_run r;
    RUN(&r, tb, "put", "fifo", "a", "b", "c");
    expect_exit(&r, 0);
    expect_out(&r, "");
    expect_err(&r, "");
    program_free(&r);
    ipcq_client *c = client_on(tb);
    assert_int_equal(queue_field(c, "fifo", IPCQ_QUEUE_SIZE), 3);
    RUN(&r, tb, "get", "fifo", "-n", "3");
    expect_exit(&r, 0);
    expect_out(&r, "a\nb\nc\n");
    program_free(&r);
    /* options after the positional arguments, and `--` before items like options */
    RUN_EXPECT(tb, 0, "put", "fifo", "--", "-x", "--nowait");
    RUN(&r, tb, "get", "fifo", "--nowait", "-n2");
    expect_exit(&r, 0);
    expect_out(&r, "-x\n--nowait\n");
    program_free(&r);
    ipcq_client_close(&c);
}

static void
stdin_is_one_binary_item(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    static const char item[] = {'x', '\0', 'y', '\n', 'z'}; /* no trailing newline */
    program_run r;
    run_stdin(&r, tb, item, sizeof item, "put", "bin", (const char *)NULL);
    expect_exit(&r, 0);
    program_free(&r);
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
    program_free(&r);
    RUN(&r, tb, "get", "bin");
    expect_exit(&r, 0);
    assert_int_equal(r.out.len, big_len + 1);
    assert_memory_equal(r.out.data, big, big_len);
    assert_int_equal(r.out.data[big_len], '\n');
    program_free(&r);
    free(big);

    /* an empty stdin is one empty item */
    run_stdin(&r, tb, "", 0, "put", "bin", (const char *)NULL);
    expect_exit(&r, 0);
    program_free(&r);
    get_expect(c, "bin", "", 0);
    ipcq_client_close(&c);
}

static void
lines_puts_one_item_per_line(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    static const char in[] = "one\ntwo\n\nthree";
    program_run r;
    run_stdin(&r, tb, in, strlen(in), "put", "lines", "--lines", (const char *)NULL);
    expect_exit(&r, 0);
    program_free(&r);
    assert_int_equal(queue_field(c, "lines", IPCQ_QUEUE_SIZE), 4);
    get_expect(c, "lines", "one", 3);
    get_expect(c, "lines", "two", 3);
    get_expect(c, "lines", "", 0);
    get_expect(c, "lines", "three", 5);
    /* items and --lines together make no sense */
    RUN(&r, tb, "put", "lines", "x", "--lines");
    expect_exit(&r, 2);
    expect_err_has(&r, "--lines");
    program_free(&r);
    assert_int_equal(queue_field(c, "lines", IPCQ_QUEUE_SIZE), 0);
    ipcq_client_close(&c);
}

static void
get_n_writes_what_came_then_exits_1(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "few", "a", "b");
    program_run r;
    RUN(&r, tb, "get", "few", "-n", "3", "--timeout", "0.1");
    expect_exit(&r, 1);
    expect_out(&r, "a\nb\n");
    expect_err(&r, "ipcq: few: queue is empty\n");
    program_free(&r);
}

static void
get_nowait_on_empty_exits_1(void **state)
{
    program_run r;
    RUN(&r, *state, "get", "Q", "--nowait");
    expect_exit(&r, 1);
    expect_out(&r, "");
    expect_err(&r, "ipcq: Q: queue is empty\n");
    assert_true(r.elapsed_ms < 5000);
    program_free(&r);
    /* a sub-millisecond timeout rounds up to 1 ms, not to nowait's 0 */
    RUN_EXPECT(*state, 1, "get", "Q", "--timeout", "0.0001");
}

static void
put_on_full_queue_exits_1(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    program_run r;
    RUN_EXPECT(tb, 0, "create", "full", "--maxsize", "1");
    RUN_EXPECT(tb, 0, "put", "full", "a");
    RUN(&r, tb, "put", "full", "b", "--nowait");
    expect_exit(&r, 1);
    expect_err_has(&r, "ipcq: full: queue is full");
    program_free(&r);
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
    program_free(&r);
    assert_int_equal(queue_field(c, "bounded", IPCQ_QUEUE_SIZE), 1);
    ipcq_client_close(&c);
}

static void
get_timeout_waits_at_least_its_time(void **state)
{
    program_run r;
    RUN(&r, *state, "get", "slow", "--timeout", "0.2");
    expect_exit(&r, 1);
    expect_err(&r, "ipcq: slow: queue is empty\n");
    assert_true(r.elapsed_ms >= 200);
    assert_true(r.elapsed_ms < 10000);
    program_free(&r);
}

static void
bad_timeouts_are_usage_errors(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, tb, "get", "t", "--timeout", "-1");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq: ");
    expect_err_has(&r, "negative");
    expect_err_has(&r, "Try 'ipcq --help'");
    program_free(&r);
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
    program_run r;
    RUN(&r, tb, "frob");
    expect_exit(&r, 2);
    expect_out(&r, "");
    expect_err_has(&r, "ipcq: unknown command 'frob'");
    expect_err_has(&r, "Try 'ipcq --help'");
    program_free(&r);
    RUN(&r, tb, "put", "q", "a", "--frob");
    expect_exit(&r, 2);
    expect_err_has(&r, "'--frob'");
    program_free(&r);
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
    program_free(&r);
    run(&r, NULL, (const char *)NULL);
    expect_exit(&r, 2);
    expect_err_has(&r, "missing command");
    program_free(&r);
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
    program_run r;
    RUN(&r, NULL, "--broker", ep, "get", "q", "--nowait");
    expect_exit(&r, 3);
    expect_err_has(&r, "broker unavailable");
    assert_true(r.elapsed_ms < 8000);
    program_free(&r);
    RUN(&r, NULL, "--broker", ep, "ping");
    expect_exit(&r, 3);
    expect_out(&r, "");
    program_free(&r);
    run_env(&r, ep, "put", "q", "x", "--nowait", (const char *)NULL);
    expect_exit(&r, 3);
    program_free(&r);
    assert_int_equal(rmdir(dir), 0);
}

static void
env_and_late_broker_option_name_the_broker(void **state)
{
    test_broker *tb = *state;
    program_run r;
    run_env(&r, tb->endpoint, "put", "env", "hello", (const char *)NULL);
    expect_exit(&r, 0);
    program_free(&r);
    run_env(&r, tb->endpoint, "ping", (const char *)NULL);
    expect_exit(&r, 0);
    program_free(&r);
    /* --broker after the subcommand; --broker beats IPCQ_BROKER */
    run_env(&r, "ipc:///nonexistent/ipcq.sock", "get", "env", "--broker", tb->endpoint, "--nowait",
            (const char *)NULL);
    expect_exit(&r, 0);
    expect_out(&r, "hello\n");
    program_free(&r);
}

static void
rm_deletes_and_missing_queue_is_an_error(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, tb, "rm", "nosuch");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: nosuch: no such queue\n");
    program_free(&r);
    RUN_EXPECT(tb, 0, "put", "gone", "x");
    RUN_EXPECT(tb, 0, "rm", "gone");
    RUN(&r, tb, "stat", "gone");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: gone: no such queue\n");
    program_free(&r);
}

static void
stat_json_of_a_queue_has_every_key(void **state)
{
    test_broker *tb = *state;
    ipcq_client *c = client_on(tb);
    RUN_EXPECT(tb, 0, "create", "sq", "--maxsize", "5");
    RUN_EXPECT(tb, 0, "put", "sq", "ab", "cde");
    program_run r;
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
    program_free(&r);

    /* a getter blocked on a queue, seen by stat; then served */
    assert_ipcq_ok(c, ipcq_create(c, "w", 0));
    static const char *const args[] = {"get", "w", NULL};
    run_spec sp = {.tb = tb};
    program_run getter;
    cli_start(&getter, &sp, args);
    wait_queue_field(c, "w", IPCQ_QUEUE_GETTERS, 1, WAIT_MS);
    RUN(&r, tb, "stat", "w", "--json");
    expect_out_has(&r, "\"getters\":1");
    program_free(&r);
    assert_ipcq_ok(c, ipcq_put(c, "w", "x", 1, IPCQ_FOREVER));
    program_finish(&getter, RUN_TIMEOUT_MS);
    expect_exit(&getter, 0);
    expect_out(&getter, "x\n");
    program_free(&getter);

    /* names are escaped */
    RUN_EXPECT(tb, 0, "create", "we\"ird\\q");
    RUN(&r, tb, "stat", "we\"ird\\q", "--json");
    expect_exit(&r, 0);
    expect_out_has(&r, "{\"name\":\"we\\\"ird\\\\q\",");
    program_free(&r);
    ipcq_client_close(&c);
}

static void
stat_shows_the_broker_and_every_queue(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "b", "x");
    RUN_EXPECT(tb, 0, "create", "a");
    program_run r;
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
    program_free(&r);

    RUN(&r, tb, "stat");
    expect_exit(&r, 0);
    expect_out_has(&r, "broker: pid");
    expect_out_has(&r, "QUEUE");
    expect_out_has(&r, "UNFINISHED");
    expect_out_has(&r, "  a\n");
    expect_out_has(&r, "  b\n");
    program_free(&r);
    RUN(&r, tb, "stat", "b");
    expect_exit(&r, 0);
    expect_out_has(&r, "QUEUE");
    expect_out_has(&r, "  b\n");
    assert_null(strstr(r.out.data, "  a\n"));
    program_free(&r);
}

static void
ls_lists_queue_names_sorted(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, tb, "ls");
    expect_exit(&r, 0);
    expect_out(&r, "");
    program_free(&r);
    RUN_EXPECT(tb, 0, "create", "c");
    RUN_EXPECT(tb, 0, "create", "a");
    RUN_EXPECT(tb, 0, "put", "b", "x");
    RUN(&r, tb, "ls");
    expect_exit(&r, 0);
    expect_out(&r, "a\nb\nc\n");
    program_free(&r);
}

static void
create_conflict_names_both_values(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "create", "cq", "--maxsize", "3");
    RUN_EXPECT(tb, 0, "create", "cq", "--maxsize=3");
    program_run r;
    RUN(&r, tb, "create", "cq", "--maxsize", "5");
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: cq: ");
    expect_err_has(&r, "maxsize 3");
    expect_err_has(&r, "asked for 5");
    program_free(&r);
}

/* resize is Q2's change of bound: the new bound is what stat and a later
 * create see; a larger one lets a waiting put in. */
static void
resize_changes_the_bound(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, tb, "resize", "rq", "--maxsize", "2");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: rq: no such queue\n");
    program_free(&r);
    RUN(&r, tb, "resize", "rq");
    expect_exit(&r, 2);
    expect_err_has(&r, "resize needs --maxsize N");
    program_free(&r);

    RUN_EXPECT(tb, 0, "put", "rq", "one", "--maxsize", "1");
    RUN(&r, tb, "put", "rq", "two", "--nowait");
    expect_exit(&r, 1);
    program_free(&r);
    RUN_EXPECT(tb, 0, "resize", "rq", "--maxsize", "2");
    RUN_EXPECT(tb, 0, "put", "rq", "two", "--nowait");
    RUN(&r, tb, "stat", "rq", "--json");
    expect_exit(&r, 0);
    expect_out_has(&r, "\"size\":2,\"maxsize\":2,");
    program_free(&r);
    RUN_EXPECT(tb, 0, "create", "rq", "--maxsize", "2");
    RUN_EXPECT(tb, 0, "resize", "rq", "--maxsize", "0");
    RUN_EXPECT(tb, 0, "put", "rq", "three", "--nowait");
}

static void
task_done_and_join(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "tj", "a");
    program_run r;
    RUN(&r, tb, "join", "tj", "--timeout", "0.1");
    expect_exit(&r, 1);
    expect_err_has(&r, "ipcq: tj: ");
    program_free(&r);
    RUN_EXPECT(tb, 0, "get", "tj");
    RUN_EXPECT(tb, 0, "task-done", "tj");
    RUN(&r, tb, "task-done", "tj");
    expect_exit(&r, 4);
    expect_err(&r, "ipcq: tj: task_done() called too many times\n");
    program_free(&r);
    RUN_EXPECT(tb, 0, "join", "tj", "--timeout", "0.1");
    RUN_EXPECT(tb, 0, "join", "tj");
    RUN(&r, tb, "join", "nosuch");
    expect_exit(&r, 4);
    expect_err_has(&r, "no such queue");
    program_free(&r);
}

static void
shutdown_fails_puts_and_drains_gets(void **state)
{
    test_broker *tb = *state;
    RUN_EXPECT(tb, 0, "put", "sd", "a");
    RUN_EXPECT(tb, 0, "shutdown", "sd");
    program_run r;
    RUN(&r, tb, "put", "sd", "b");
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: sd: ");
    expect_err_has(&r, "shut down");
    program_free(&r);
    RUN(&r, tb, "get", "sd", "--nowait");
    expect_exit(&r, 0);
    expect_out(&r, "a\n");
    program_free(&r);
    RUN_EXPECT(tb, 4, "get", "sd", "--nowait");
    RUN(&r, tb, "stat", "sd", "--json");
    expect_out_has(&r, "\"shutdown\":true");
    program_free(&r);

    RUN_EXPECT(tb, 0, "put", "si", "a", "b");
    RUN_EXPECT(tb, 0, "shutdown", "si", "--immediate");
    RUN_EXPECT(tb, 4, "get", "si", "--nowait");
    RUN_EXPECT(tb, 0, "join", "si", "--timeout", "1");
}

static void
ping_answers(void **state)
{
    program_run r;
    RUN(&r, *state, "ping");
    expect_exit(&r, 0);
    assert_int_equal(strncmp(r.out.data, "pong", 4), 0);
    program_free(&r);
}

static void
help_and_version_need_no_broker(void **state)
{
    program_run r;
    RUN(&r, NULL, "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: ipcq");
    expect_err(&r, "");
    static const char *const cmds[] = {"put",       "get",  "stat",     "ls",   "create", "resize",
                                       "task-done", "join", "shutdown", "ping", "rm"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        expect_out_has(&r, cmds[i]);
    program_free(&r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        RUN(&r, NULL, cmds[i], "--help");
        expect_exit(&r, 0);
        expect_out_has(&r, "Usage: ipcq [--broker EP] ");
        expect_out_has(&r, cmds[i]);
        program_free(&r);
    }
    RUN(&r, NULL, "put", "q", "item", "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: ipcq [--broker EP] put QUEUE");
    program_free(&r);
    RUN(&r, NULL, "--version");
    expect_exit(&r, 0);
    char want[64];
    snprintf(want, sizeof want, "ipcq %s\n", ipcq_version());
    expect_out(&r, want);
    program_free(&r);
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
    program_run r;
    cli_start(&r, &sp, args);
    program_finish(&r, RUN_TIMEOUT_MS);
    expect_exit(&r, 4);
    expect_err_has(&r, "ipcq: writing to standard output: ");
    program_free(&r);

    /* a reader that went away: exit 4 without a word */
    run_spec gone = {.tb = tb, .stdout_closed = true};
    cli_start(&r, &gone, args);
    program_finish(&r, RUN_TIMEOUT_MS);
    expect_exit(&r, 4);
    expect_err(&r, "");
    program_free(&r);

    /* Neither failed write lost the item: it went back to the queue. */
    RUN(&r, tb, "get", "wf", "--nowait");
    expect_exit(&r, 0);
    expect_out(&r, "x\n");
    program_free(&r);
}

/* fixture_broker_down() stops any CLI a failed test left running too. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

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
        T(resize_changes_the_bound),
        T(task_done_and_join),
        T(shutdown_fails_puts_and_drains_gets),
        T(ping_answers),
        T(help_and_version_need_no_broker),
        T(write_errors_on_stdout_exit_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
