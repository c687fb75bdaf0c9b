/* Load and soak (issue 5, point 3): 64 forked clients (IPCQ_SOAK_CLIENTS)
 * make random calls of every kind against one real ipcqd for 60 s
 * (IPCQ_SOAK_SECONDS), in rounds of about 10 s. After each round every
 * queue is shut down, drained and deleted, and the shared ledger must show
 * that every accepted put was got exactly once or is still in its queue (or
 * its dead-letter queue), that no refused put added, that nothing unknown or
 * damaged came out, and that no timed wait outlived its timeout by more than
 * a second; the broker must be back to no queue, no item, no session, as
 * many file descriptors as after the first round, and about as much memory.
 *
 * The first round is the baseline: an allocator keeps what it freed (and
 * ASan holds freed memory in a quarantine, capped here for the broker at
 * QUARANTINE_MB), so the broker's resident memory after the first drained
 * round is its working size; a leak, or state that outlives its items,
 * shows as growth from round to round. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "ledger.h"
#include "load.h"

#define DEFAULT_SECONDS 60
#define DEFAULT_CLIENTS 64
#define ROUND_MS 10000
#define PER_SLOT 16384
#define PROGRESS_MS 5000
#define STOP_MS 30000
#define SETTLE_MS 15000
#define QUARANTINE_MB 8
/* Allowed growth of the broker's resident memory over the first round's. */
#define RSS_SLACK_KB (16 * 1024)

static int64_t
env_int(const char *name, int64_t fallback)
{
    const char *v = getenv(name);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && *v && *end == '\0' && n > 0 ? n : fallback;
}

static void
pause_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* pacing the run and its progress lines */
}

static void
progress(const ledger *l, const test_broker *tb, ipcq_client *c, int round, int rounds, int64_t t0)
{
    double secs = (double)(now_ms() - t0) / 1000.0;
    long long calls = (long long)ledger_counter_value(l, LC_CALLS);
    fprintf(stderr,
            "soak: round %d/%d %5.1f s: %lld calls (%.0f/s), %lld puts, %lld gets, %lld acks, "
            "%lld timeouts (latest %lld ms late), %lld problems | broker %ld KiB, %d fds, "
            "%lld sessions\n",
            round, rounds, secs, calls, secs > 0 ? calls / secs : 0.0,
            (long long)ledger_counter_value(l, LC_PUTS),
            (long long)ledger_counter_value(l, LC_GETS),
            (long long)ledger_counter_value(l, LC_ACKS),
            (long long)ledger_counter_value(l, LC_TIMEOUTS),
            (long long)ledger_counter_value(l, LC_MAX_LATE_MS),
            (long long)ledger_counter_value(l, LC_UNEXPECTED), proc_rss_kb(tb->pid),
            proc_fd_count(tb->pid), (long long)broker_stat_field(c, IPCQ_BROKER_STAT_SESSIONS));
}

/* Waits until the broker holds nothing: no queue, item or session. */
static void
wait_broker_empty(ipcq_client *c)
{
    wait_broker_stat_field(c, IPCQ_BROKER_STAT_SESSIONS, 0, SETTLE_MS);
    wait_broker_stat_field(c, IPCQ_BROKER_STAT_QUEUES, 0, SETTLE_MS);
    assert_int_equal(broker_stat_field(c, IPCQ_BROKER_STAT_ITEMS), 0);
    assert_int_equal(broker_stat_field(c, IPCQ_BROKER_STAT_BYTES), 0);
}

/* Reaps the clients after load_stop(); a client that does not stop has its
 * stack printed (when gdb is there) before the test fails. */
static void
reap_clients(pid_t *pids, int n)
{
    int64_t deadline = now_ms() + STOP_MS;
    for (int i = 0; i < n; i++) {
        siginfo_t si = {0};
        while (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               si.si_pid == 0 && now_ms() < deadline)
            pause_ms(10);
        if (now_ms() >= deadline) {
            fprintf(stderr, "soak: client %d (pid %d) did not stop\n", i, (int)pids[i]);
            print_stack(pids[i]);
        }
        assert_int_equal(reap_child(pids[i], 1000), 0);
    }
}

/* One round: clients forked, run for round_ms, stopped and reaped; every
 * queue drained into the ledger, which must check out. */
static void
run_round(const test_broker *tb, ipcq_client *c, ledger *l, int round, int rounds, int64_t round_ms,
          int clients)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "soak.r%d", round);
    load_config cfg;
    load_config_default(&cfg, tb->endpoint, l, prefix);
    load_prepare(&cfg, c);
    load_child_args *args = calloc((size_t)clients, sizeof *args);
    pid_t *pids = calloc((size_t)clients, sizeof *pids);
    assert_non_null(args);
    assert_non_null(pids);
    for (int i = 0; i < clients; i++) {
        args[i] = (load_child_args){&cfg, (uint32_t)i, (uint64_t)round << 32 ^ (uint64_t)i * 7919};
        pids[i] = fork_child(load_child, &args[i]);
    }
    int64_t t0 = now_ms(), next = t0 + PROGRESS_MS;
    while (now_ms() - t0 < round_ms && ledger_counter_value(l, LC_UNEXPECTED) == 0) {
        pause_ms(100);
        if (now_ms() >= next) {
            progress(l, tb, c, round, rounds, t0);
            next += PROGRESS_MS;
        }
    }
    load_stop(&cfg, c);
    reap_clients(pids, clients);
    progress(l, tb, c, round, rounds, t0);
    load_drain(&cfg, c, STOP_MS);
    ledger_report rep;
    bool ok = ledger_check(l, 0, &rep);
    char label[32];
    snprintf(label, sizeof label, "soak round %d", round);
    ledger_report_print(&rep, label);
    if (!ok)
        fail_msg("%s: %s", label, rep.first);
    assert_true(rep.accepted > 0 && rep.seen > 0);
    fprintf(stderr,
            "%s: timed waits ended past their timeout by <10 ms: %lld, 10-99 ms: %lld, "
            "100-499 ms: %lld, 500+ ms: %lld; at most %lld ms\n",
            label, (long long)ledger_counter_value(l, LC_LATE_UNDER_10),
            (long long)ledger_counter_value(l, LC_LATE_UNDER_100),
            (long long)ledger_counter_value(l, LC_LATE_UNDER_500),
            (long long)ledger_counter_value(l, LC_LATE_OVER_500),
            (long long)ledger_counter_value(l, LC_MAX_LATE_MS));
    assert_true(ledger_counter_value(l, LC_MAX_LATE_MS) <= cfg.late_bound_ms);
    free(args);
    free(pids);
}

static void
soak(void **state)
{
    (void)state;
    int64_t seconds = env_int("IPCQ_SOAK_SECONDS", DEFAULT_SECONDS);
    int clients = (int)env_int("IPCQ_SOAK_CLIENTS", DEFAULT_CLIENTS);
    int rounds = (int)((seconds * 1000 + ROUND_MS - 1) / ROUND_MS);
    if (rounds < 2)
        rounds = 2; /* a baseline round and one to compare */
    int64_t round_ms = seconds * 1000 / rounds;
    fprintf(stderr, "soak: %d clients, %lld s in %d rounds\n", clients, (long long)seconds, rounds);
    cap_broker_quarantine(QUARANTINE_MB);
    test_broker tb;
    test_broker_start(&tb, NULL);
    ipcq_client *c = client_on(&tb);
    ledger *l = ledger_new((uint32_t)clients, PER_SLOT);
    assert_non_null(l);
    /* Every connection but c's closes after each round. */
    assert_ipcq_ok(c, ipcq_ping(c));
    int base_fds = proc_fd_count(tb.pid);
    long base_rss = -1, max_rss = 0;
    for (int round = 1; round <= rounds; round++) {
        run_round(&tb, c, l, round, rounds, round_ms, clients);
        wait_broker_empty(c);
        int fds = wait_proc_fd_count(tb.pid, base_fds, SETTLE_MS);
        long rss = proc_rss_kb(tb.pid);
        fprintf(stderr, "soak: round %d drained: broker %ld KiB resident, %d fds\n", round, rss,
                fds);
        if (fds != base_fds) {
            print_proc_fds(tb.pid);
            fail_msg("the broker has %d descriptors open, %d before the clients came", fds,
                     base_fds);
        }
        if (round == 1)
            base_rss = rss;
        else if (rss > max_rss)
            max_rss = rss;
        ledger_reset(l);
    }
    fprintf(stderr,
            "soak: broker memory after round 1: %ld KiB; most after a later round: %ld KiB\n",
            base_rss, max_rss);
    assert_true(max_rss <= base_rss + RSS_SLACK_KB);
    ledger_free(&l);
    ipcq_client_close(&c);
    test_broker_stop(&tb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
