/* ipcq-pool (SPEC §6), run as a real program: each run forks and execs the
 * binary with pipes for stdout and stderr (or a terminal for stderr),
 * collects its output and reaps it (the harness's program_run). The tests check what the tool
 * reports about its children — every pid and parent pid — and that none of them, nor the private
 * broker, is left once it has exited, even after Ctrl-C. The test process is a child subreaper, so
 * a child the tool failed to reap would be reparented here, where the check finds it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pool_ledger.h"
#include "tool_item.h"

#define RUN_TIMEOUT_MS 45000  /* a whole run, under the sanitizers */
#define STOP_TIMEOUT_MS 10000 /* from the stop signal until the tool has exited */
#define MAX_PIDS 64

/* What the tool said about its processes. */
typedef struct children {
    pid_t pids[MAX_PIDS]; /* every child line's pid */
    pid_t ppids[MAX_PIDS];
    int n;
    int producers, consumers, workers;
    pid_t broker; /* 0: no private broker */
} children;

/* Starts ipcq-pool with args (NULL ended). With err_tty, stderr is the
 * slave of a new pseudo-terminal whose master is read instead of a pipe. */
static void
tool_start_argv(program_run *r, bool err_tty, const char *const *args)
{
    const char *argv[48];
    int n = 0;
    argv[n++] = IPCQ_POOL_PATH;
    for (; *args != NULL && n < 47; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    program_spec sp = {.argv = argv, .stderr_tty = err_tty};
    program_start(r, &sp);
}

#define TOOL_START(r, ...) tool_start_argv(r, false, (const char *const[]){__VA_ARGS__, NULL})

#define RUN(r, ...)                                                                                \
    do {                                                                                           \
        TOOL_START(r, __VA_ARGS__);                                                                \
        program_finish(r, RUN_TIMEOUT_MS);                                                         \
    } while (0)

/* stderr is a pipe here: no progress line may show. */
static void
expect_no_progress(const program_run *r)
{
    if (strchr(r->err.data, '\r') != NULL || strstr(r->err.data, "/s") != NULL)
        fail_msg("progress output on a pipe: stderr '%s'", r->err.data);
}

/* Reads the child lines ("consumer 1: pid 123, ppid 100") and the private
 * broker's line out of the tool's stdout. */
static void
parse_children(const char *out, children *ch)
{
    memset(ch, 0, sizeof *ch);
    for (const char *line = out; line != NULL && *line != '\0';) {
        char role[16];
        int index, pid, ppid;
        if (sscanf(line, "%15[a-z] %d: pid %d, ppid %d", role, &index, &pid, &ppid) == 4 &&
            ch->n < MAX_PIDS) {
            ch->pids[ch->n] = pid;
            ch->ppids[ch->n++] = ppid;
            ch->producers += strcmp(role, "producer") == 0;
            ch->consumers += strcmp(role, "consumer") == 0;
            ch->workers += strcmp(role, "worker") == 0;
        } else if (sscanf(line, "broker: pid %d,", &pid) == 1) {
            ch->broker = pid;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
}

/* Every child reported is a child of the tool. */
static void
expect_parent(const children *ch, pid_t tool)
{
    for (int i = 0; i < ch->n; i++)
        if (ch->ppids[i] != tool)
            fail_msg("child %d reports parent %d, not the tool (%d)", (int)ch->pids[i],
                     (int)ch->ppids[i], (int)tool);
}

/* pid names no process: the tool reaped it. A process the tool left behind
 * was reparented to this subreaper: it is killed and reaped here, and the
 * test fails. */
static void
expect_gone(pid_t pid, const char *what)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
        fail_msg("%s %d was left for someone else to reap", what, (int)pid);
    if (kill(pid, 0) == 0 || errno != ESRCH) {
        kill_child(pid);
        fail_msg("%s %d is still running after the tool exited", what, (int)pid);
    }
}

static void
expect_all_gone(const children *ch)
{
    for (int i = 0; i < ch->n; i++)
        expect_gone(ch->pids[i], "child");
    if (ch->broker > 0)
        expect_gone(ch->broker, "the private broker");
}

/* ---- the exactly-once ledger, on its own (tools/ipcq-pool/pool_ledger.c) -- */

#define ITEM_SIZE 40

/* The record a consumer writes for item (producer, seq) as it was put. */
static pool_record
record_of(uint32_t producer, uint64_t seq)
{
    unsigned char item[ITEM_SIZE];
    tool_item_build(item, sizeof item, producer, seq);
    pool_record r = {.producer = producer, .seq = seq, .deliveries = 1};
    r.hash = tool_item_hash(item, sizeof item);
    uint32_t p;
    uint64_t q;
    assert_true(tool_item_parse(item, sizeof item, &p, &q));
    assert_int_equal(p, producer);
    assert_int_equal(q, seq);
    return r;
}

/* 2 producers sharing 5 items: producer 0 puts seq 0..2, producer 1 seq 0..1. */
static void
ledger_with_every_item(pool_ledger *l)
{
    assert_true(pool_ledger_init(l, 5, 2, ITEM_SIZE));
    assert_int_equal(pool_share(5, 2, 0), 3);
    assert_int_equal(pool_share(5, 2, 1), 2);
    for (uint64_t seq = 0; seq < 3; seq++) {
        pool_record r = record_of(0, seq);
        pool_ledger_add(l, &r);
    }
    for (uint64_t seq = 0; seq < 2; seq++) {
        pool_record r = record_of(1, seq);
        pool_ledger_add(l, &r);
    }
}

static void
ledger_counts_every_item_once(void **state)
{
    pool_ledger l;
    ledger_with_every_item(&l);
    assert_true(pool_ledger_complete(&l));
    pool_verdict v;
    assert_true(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.lost + v.duplicated + v.redelivered + v.bad, 0);
    pool_ledger_free(&l);
}

static void
ledger_reports_lost_and_duplicated_items(void **state)
{
    pool_ledger l;
    assert_true(pool_ledger_init(&l, 5, 2, ITEM_SIZE));
    pool_record r = record_of(0, 1);
    pool_ledger_add(&l, &r);
    pool_ledger_add(&l, &r);
    assert_false(pool_ledger_complete(&l));
    pool_verdict v;
    assert_false(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.lost, 4);
    assert_int_equal(v.duplicated, 1);
    pool_ledger_free(&l);
}

/* The one repeat a kill between record and ack explains is the killed
 * consumer's last record, once; any other repeat is a duplicate. */
static void
ledger_forgives_only_a_killed_consumers_unacked_item(void **state)
{
    pool_ledger l;
    ledger_with_every_item(&l);
    pool_record last = record_of(1, 0), other = record_of(0, 2);
    pool_ledger_add(&l, &last); /* redelivered to another consumer */
    assert_true(pool_ledger_allow_redelivery(&l, &last));
    pool_verdict v;
    assert_true(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.redelivered, 1);
    assert_int_equal(v.duplicated, 0);

    pool_ledger_add(&l, &last); /* a third time: no kill explains it */
    pool_ledger_add(&l, &other);
    assert_false(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.redelivered, 1);
    assert_int_equal(v.duplicated, 2);
    assert_int_equal(v.lost, 0);
    pool_ledger_free(&l);
}

/* A consumer killed while it held a leased batch may have recorded every
 * item of it unacked: each of those may come once more, and nothing else. */
static void
ledger_forgives_a_killed_consumers_unacked_batch(void **state)
{
    pool_ledger l;
    ledger_with_every_item(&l);
    pool_record batch[3] = {record_of(0, 0), record_of(0, 1), record_of(1, 1)};
    for (int i = 0; i < 3; i++) {
        assert_true(pool_ledger_allow_redelivery(&l, &batch[i]));
        pool_ledger_add(&l, &batch[i]); /* the whole batch came back and was recorded again */
    }
    pool_verdict v;
    assert_true(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.redelivered, 3);
    assert_int_equal(v.duplicated, 0);

    pool_record outside = record_of(0, 2), wrong_hash = record_of(1, 0);
    wrong_hash.hash ^= 1;
    assert_true(pool_ledger_allow_redelivery(&l, &wrong_hash)); /* forgives nothing */
    pool_ledger_add(&l, &outside);                              /* not in the batch */
    pool_record again = record_of(1, 0);
    pool_ledger_add(&l, &again);
    assert_false(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.redelivered, 3);
    assert_int_equal(v.duplicated, 2);
    assert_int_equal(v.bad, 0);
    pool_ledger_free(&l);
}

static void
ledger_rejects_records_of_items_never_put(void **state)
{
    pool_ledger l;
    ledger_with_every_item(&l);
    pool_record wrong_hash = record_of(0, 0), no_seq = record_of(1, 2),
                no_producer = record_of(2, 0), unreadable = {.producer = POOL_RECORD_BAD};
    wrong_hash.hash ^= 1;
    pool_ledger_add(&l, &wrong_hash);
    pool_ledger_add(&l, &no_seq);
    pool_ledger_add(&l, &no_producer);
    pool_ledger_add(&l, &unreadable);
    pool_verdict v;
    assert_false(pool_ledger_verdict(&l, &v));
    assert_int_equal(v.bad, 4);
    assert_int_equal(v.duplicated, 0);
    pool_ledger_free(&l);
}

/* ---- prodcons ------------------------------------------------------------ */

/* The line that says which way the children moved the items. */
#define BATCHED_MODE "(batched: async puts in a window of 256, leased batches of up to 64)"
#define STRICT_MODE "(strict: one put, one leased get, one ack a call)"

/* By default (async puts, leased batches) and with --strict (one item a call). */
static void
prodcons_reports_every_child_and_verifies(void **state)
{
    for (int strict = 0; strict < 2; strict++) {
        program_run r;
        tool_start_argv(&r, false,
                        (const char *const[]){"prodcons", "--producers", "2", "--consumers", "2",
                                              "--items", "2000", strict ? "--strict" : NULL, NULL});
        program_finish(&r, RUN_TIMEOUT_MS);
        expect_exit(&r, 0);
        expect_out_has(&r, "verified: each of the 2000 items arrived exactly once");
        expect_out_has(&r, "items/s");
        expect_out_has(&r, "MB/s");
        expect_out_has(&r, strict ? STRICT_MODE : BATCHED_MODE);
        expect_no_progress(&r);
        children ch;
        parse_children(r.out.data, &ch);
        assert_int_equal(ch.producers, 2);
        assert_int_equal(ch.consumers, 2);
        assert_int_equal(ch.n, 4);
        expect_parent(&ch, r.pid);
        assert_true(ch.broker > 0);
        expect_all_gone(&ch);
        program_free(&r);
    }
}

/* The killed consumer's unacked items — one, or its whole leased batch —
 * come back (D1, D2) and the run still checks out exactly once. */
static void
prodcons_survives_a_killed_consumer(void **state)
{
    for (int strict = 0; strict < 2; strict++) {
        program_run r;
        tool_start_argv(&r, false,
                        (const char *const[]){"prodcons", "--producers", "2", "--consumers", "2",
                                              "--items", "5000", "--maxsize", "16", "--size", "200",
                                              "--kill-one", strict ? "--strict" : NULL, NULL});
        program_finish(&r, RUN_TIMEOUT_MS);
        expect_exit(&r, 0);
        expect_out_has(&r, "killed consumer");
        expect_out_has(&r, "verified: each of the 5000 items arrived exactly once");
        expect_out_has(&r, strict ? "(strict: " : "(batched: ");
        expect_no_progress(&r);
        children ch;
        parse_children(r.out.data, &ch);
        assert_int_equal(ch.producers, 2);
        assert_int_equal(ch.consumers, 3); /* two, and the one that replaced the killed one */
        expect_parent(&ch, r.pid);
        expect_all_gone(&ch);
        program_free(&r);
    }
}

static void
prodcons_on_a_given_broker(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, "prodcons", "--producers", "2", "--consumers", "2", "--items", "1000", "--broker",
        tb->endpoint);
    expect_exit(&r, 0);
    expect_out_has(&r, "verified: each of the 1000 items arrived exactly once");
    children ch;
    parse_children(r.out.data, &ch);
    assert_int_equal(ch.n, 4);
    assert_int_equal(ch.broker, 0); /* no private broker */
    expect_parent(&ch, r.pid);
    expect_all_gone(&ch);
    program_free(&r);
    /* the run's queue was removed from the shared broker */
    expect_no_queue_prefixed(tb, "ipcq-pool.");
}

/* ---- primes -------------------------------------------------------------- */

static void
primes_sums_below_100000(void **state)
{
    program_run r;
    RUN(&r, "primes", "--limit", "100000", "--workers", "2");
    expect_exit(&r, 0);
    expect_out_has(&r, "primes below 100000: 454396537");
    expect_out_has(&r, "checked: a single-process sieve gives 454396537");
    expect_no_progress(&r);
    children ch;
    parse_children(r.out.data, &ch);
    assert_int_equal(ch.workers, 2);
    expect_parent(&ch, r.pid);
    expect_all_gone(&ch);
    program_free(&r);
}

static void
both_methods_give_the_same_sum(void **state)
{
    const char *methods[] = {"trial", "sieve"};
    for (int i = 0; i < 2; i++) {
        program_run r;
        RUN(&r, "primes", "--limit", "100000", "--workers", "2", "--method", methods[i]);
        expect_exit(&r, 0);
        expect_out_has(&r, "primes below 100000: 454396537");
        expect_out_has(&r, methods[i]);
        expect_out_has(&r, "checked: a single-process sieve gives 454396537");
        program_free(&r);
    }
}

static void
primes_survives_a_killed_worker(void **state)
{
    program_run r;
    RUN(&r, "primes", "--limit", "100000", "--workers", "2", "--kill-one");
    expect_exit(&r, 0);
    expect_out_has(&r, "killed worker");
    expect_out_has(&r, "primes below 100000: 454396537");
    children ch;
    parse_children(r.out.data, &ch);
    assert_true(ch.workers >= 3); /* two, and at least the replacement */
    expect_parent(&ch, r.pid);
    expect_all_gone(&ch);
    program_free(&r);
}

static void
primes_compares_worker_counts(void **state)
{
    program_run r;
    RUN(&r, "primes", "--limit", "200000", "--compare", "1,2");
    expect_exit(&r, 0);
    expect_out_has(&r, "speed-up");
    const char *table = strstr(r.out.data, "workers");
    assert_non_null(table);
    int rows = 0;
    for (const char *l = strchr(table, '\n'); l != NULL; l = strchr(l + 1, '\n')) {
        int w;
        double secs, speedup;
        if (sscanf(l + 1, "%d %lf %lf", &w, &secs, &speedup) == 3 && w == rows + 1)
            rows++;
    }
    assert_int_equal(rows, 2);
    expect_out_has(&r, "checked: a single-process sieve gives 1709600813");
    children ch;
    parse_children(r.out.data, &ch);
    assert_int_equal(ch.workers, 3); /* a fresh pool for each count */
    expect_all_gone(&ch);
    program_free(&r);
}

static void
primes_on_a_given_broker(void **state)
{
    test_broker *tb = *state;
    program_run r;
    RUN(&r, "primes", "--limit", "100000", "--workers", "2", "--broker", tb->endpoint);
    expect_exit(&r, 0);
    expect_out_has(&r, "454396537");
    children ch;
    parse_children(r.out.data, &ch);
    assert_int_equal(ch.broker, 0);
    expect_all_gone(&ch);
    program_free(&r);
}

/* ---- stopping ------------------------------------------------------------ */

/* Reads stdout until it reports want children, then sends sig and expects
 * the tool to exit 128 + sig in time with no process of its run left. */
static void
stop_mid_run(program_run *r, int want, int sig)
{
    children ch;
    int64_t deadline = now_ms() + RUN_TIMEOUT_MS;
    do {
        program_pump(r, 100);
        parse_children(r->out.data, &ch);
        if (now_ms() > deadline)
            fail_msg("the tool reported %d of %d children; stdout '%s', stderr '%s'", ch.n, want,
                     r->out.data, r->err.data);
    } while (ch.n < want);
    for (int i = 0; i < ch.n; i++) /* they exist now, mid-run */
        assert_int_equal(kill(ch.pids[i], 0), 0);
    int64_t sent = now_ms();
    assert_int_equal(kill(r->pid, sig), 0);
    while (program_pump(r, 100))
        if (now_ms() - sent > STOP_TIMEOUT_MS)
            break;
    r->status = reap_child(r->pid, STOP_TIMEOUT_MS - (now_ms() - sent));
    expect_exit(r, 128 + sig);
    expect_err_has(r, "every child was stopped");
    parse_children(r->out.data, &ch);
    expect_parent(&ch, r->pid);
    expect_all_gone(&ch);
}

static void
sigint_stops_prodcons_and_leaves_no_process(void **state)
{
    program_run r;
    TOOL_START(&r, "prodcons", "--producers", "2", "--consumers", "2", "--items", "5000000",
               "--maxsize", "10");
    stop_mid_run(&r, 4, SIGINT);
    children ch;
    parse_children(r.out.data, &ch);
    assert_true(ch.broker > 0);
    program_free(&r);
}

static void
sigterm_stops_primes_and_leaves_no_process(void **state)
{
    program_run r;
    TOOL_START(&r, "primes", "--limit", "1000000000", "--chunk", "1000000", "--workers", "2");
    stop_mid_run(&r, 2, SIGTERM);
    program_free(&r);
}

/* ---- progress, help, usage -------------------------------------------------- */

static void
progress_shows_on_a_terminal(void **state)
{
    program_run r;
    tool_start_argv(&r, true,
                    (const char *const[]){"prodcons", "--producers", "1", "--consumers", "1",
                                          "--items", "500", NULL});
    program_finish(&r, RUN_TIMEOUT_MS);
    expect_exit(&r, 0);
    expect_err_has(&r, "\rprodcons: ");
    expect_err_has(&r, " items/s");
    program_free(&r);
}

static void
unreachable_broker_exits_3(void **state)
{
    program_run r;
    RUN(&r, "prodcons", "--producers", "1", "--consumers", "1", "--items", "10", "--broker",
        "ipc:///nonexistent-ipcq-dir/broker.sock");
    expect_exit(&r, 3);
    expect_err_has(&r, "ipcq-pool: prodcons: ");
    expect_err_has(&r, "broker unavailable");
    children ch;
    parse_children(r.out.data, &ch);
    assert_int_equal(ch.n, 0); /* nothing was forked */
    program_free(&r);
}

static void
help_and_usage_errors(void **state)
{
    program_run r;
    RUN(&r, "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "Usage: ipcq-pool");
    expect_out_has(&r, "prodcons");
    expect_out_has(&r, "primes");
    program_free(&r);
    RUN(&r, "prodcons", "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "--kill-one");
    expect_out_has(&r, "--strict");
    expect_out_has(&r, "ipcq_put_async");
    expect_out_has(&r, "ipcq_get_leased_many");
    program_free(&r);
    RUN(&r, "primes", "--help");
    expect_exit(&r, 0);
    expect_out_has(&r, "--compare");
    program_free(&r);

    RUN(&r, "prodcons", "--producers", "2", "--consumers", "2", "--items", "10", "--bogus");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: prodcons: unrecognized option '--bogus'");
    program_free(&r);
    RUN(&r, "prodcons", "--producers", "2", "--consumers", "2");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: prodcons: missing --items");
    program_free(&r);
    RUN(&r, "prodcons", "--producers", "1", "--consumers", "1", "--items", "10", "--strict",
        "--batch", "8");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: prodcons: --strict moves one item a call: it takes no --batch");
    program_free(&r);
    RUN(&r, "prodcons", "--producers", "1", "--consumers", "1", "--items", "10", "--batch", "0");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: prodcons: invalid --batch '0'");
    program_free(&r);
    RUN(&r, "primes", "--limit", "-5", "--workers", "2");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: primes: invalid --limit");
    program_free(&r);
    RUN(&r, "primes", "--limit", "100", "--compare", "1,,2");
    expect_exit(&r, 2);
    expect_err_has(&r, "invalid --compare");
    program_free(&r);
    RUN(&r, "primes", "--limit", "100", "--workers", "1", "--method", "guess");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: primes: --method wants trial or sieve, not 'guess'");
    program_free(&r);
    RUN(&r, "juggle");
    expect_exit(&r, 2);
    expect_err_has(&r, "ipcq-pool: unknown mode 'juggle'");
    program_free(&r);
}

#define T(fn) cmocka_unit_test_teardown(fn, fixture_children_down)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, fixture_broker_up, fixture_broker_down)

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* Orphans of the tool come here, where expect_gone() finds them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("prctl(PR_SET_CHILD_SUBREAPER)");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ledger_counts_every_item_once),
        cmocka_unit_test(ledger_reports_lost_and_duplicated_items),
        cmocka_unit_test(ledger_forgives_only_a_killed_consumers_unacked_item),
        cmocka_unit_test(ledger_forgives_a_killed_consumers_unacked_batch),
        cmocka_unit_test(ledger_rejects_records_of_items_never_put),
        T(prodcons_reports_every_child_and_verifies),
        T(prodcons_survives_a_killed_consumer),
        TB(prodcons_on_a_given_broker),
        T(primes_sums_below_100000),
        T(both_methods_give_the_same_sum),
        T(primes_survives_a_killed_worker),
        T(primes_compares_worker_counts),
        TB(primes_on_a_given_broker),
        T(sigint_stops_prodcons_and_leaves_no_process),
        T(sigterm_stops_primes_and_leaves_no_process),
        T(progress_shows_on_a_terminal),
        T(unreachable_broker_exits_3),
        T(help_and_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
