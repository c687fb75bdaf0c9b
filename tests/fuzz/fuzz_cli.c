/*
 * Fuzz target: the command-line parsers of the tools (SPEC B1), the part
 * of each that reads words from outside and turns them into numbers, sizes
 * and durations. None of them exits on bad input; each returns a status:
 *
 *   ipcq        cli_parse()   (tools/ipcq/cli_args.c): options of a
 *                             subcommand, --timeout SEC, --maxsize N,
 *                             -n COUNT, --broker
 *   ipcq-pool   pool_parse()  (tools/ipcq-pool/pool_args.c): integer, flag,
 *                             string and comma-separated list options of a
 *                             mode's table
 *   ipcq-bench  bench_parse() (tools/ipcq-bench/bench_args.c): every option,
 *                             and the combinations checked after
 *   ipcqd       the values of its size flags (broker/main.c, through
 *                             ipcqd_args.c): --max-memory 64M, --probe-ms
 *
 * An input is: parser (1 byte) | mask (1 byte: the options a subcommand
 * takes) | words separated by NUL bytes, which become argv. What a parser
 * accepts is checked against the bounds it promises; a value out of bounds
 * aborts; ipcqd's sizes are checked against what they should read. The
 * main() of the ipcq tool (its global options) is not in the tool's library
 * and is not fuzzed here.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "cli_args.h"
#include "fuzz.h"
#include "ipcq.h"
#include "pool_args.h"

#define MAX_WORDS 64

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* The parsers explain every usage error on stderr and print help on
     * stdout: millions of times in a run. Only the stdio streams go to
     * /dev/null; the sanitizers and libFuzzer write to the descriptors. */
    FILE *null = fopen("/dev/null", "w");
    if (null == NULL)
        abort();
    stderr = null;
    stdout = null;
    return 0;
}

static bool
is_word(char **argv, int argc, const char *p)
{
    for (int i = 0; i < argc; i++)
        if (argv[i] == p)
            return true;
    return false;
}

static void
fuzz_ipcq(unsigned allowed, int argc, char **argv)
{
    cli_opts o;
    if (cli_parse("put", argc, argv, allowed, &o) != CLI_OK)
        return;
    FUZZ_CHECK(o.nargs >= 0 && o.nargs <= argc);
    for (int i = 0; i < o.nargs; i++)
        FUZZ_CHECK(is_word(argv, argc, o.args[i]));
    FUZZ_CHECK((o.seen & ~(allowed | OPT_HELP | OPT_BROKER)) == 0);
    FUZZ_CHECK(o.timeout_ms >= IPCQ_FOREVER);
    FUZZ_CHECK(o.maxsize >= 0);
    FUZZ_CHECK(o.count >= 1 && o.count <= INT32_MAX);
    FUZZ_CHECK(o.broker == NULL || o.broker[0] != '\0');
    if (!(o.seen & OPT_HELP)) {
        FUZZ_CHECK(!((o.seen & OPT_TIMEOUT) && (o.seen & OPT_NOWAIT)));
        FUZZ_CHECK(!(o.seen & OPT_NOWAIT) || o.timeout_ms == IPCQ_NOWAIT);
        FUZZ_CHECK((o.seen & (OPT_TIMEOUT | OPT_NOWAIT)) || o.timeout_ms == IPCQ_FOREVER);
    }
    cli_opts_free(&o);
}

/* A mode's table with one option of each kind, as pool_primes.c has. */
static void
fuzz_pool(int argc, char **argv)
{
    int64_t workers = 0, limit = 0;
    pool_list compare = {{0}, 0};
    const char *broker = NULL;
    bool kill_one = false;
    const pool_opt opts[] = {
        {"--workers", POOL_ARG_INT, false, 1, 256, &workers},
        {"--limit", POOL_ARG_INT, true, 2, INT64_MAX, &limit},
        {"--compare", POOL_ARG_LIST, false, 1, 256, &compare},
        {"--broker", POOL_ARG_STRING, false, 0, 0, &broker},
        {"--kill-one", POOL_ARG_FLAG, false, 0, 0, &kill_one},
    };
    if (pool_parse("primes", argc, argv, opts, sizeof opts / sizeof opts[0]) != POOL_PARSED)
        return;
    FUZZ_CHECK(workers == 0 || (workers >= 1 && workers <= 256));
    FUZZ_CHECK(limit >= 2);
    FUZZ_CHECK(compare.n >= 0 && compare.n <= POOL_LIST_MAX);
    for (int i = 0; i < compare.n; i++)
        FUZZ_CHECK(compare.v[i] >= 1 && compare.v[i] <= 256);
    FUZZ_CHECK(broker == NULL || (broker[0] != '\0' && strlen(broker) < 65536));
}

static void
fuzz_bench(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o) != BENCH_PARSED)
        return;
    FUZZ_CHECK(o.producers >= 1 && o.producers <= BENCH_MAX_PROCS);
    FUZZ_CHECK(o.consumers >= 1 && o.consumers <= BENCH_MAX_PROCS);
    FUZZ_CHECK(o.queues >= 1 && o.queues <= o.consumers);
    FUZZ_CHECK(o.size >= 12 && o.size <= ((int64_t)16 << 20));
    /* Items move in the throughput and fill scenarios only: there a run has
     * a count of items or a duration, never both; the queues and waiters
     * scenarios have a --count instead and neither. */
    bool moves_items = o.scenario == BENCH_THROUGHPUT || o.scenario == BENCH_FILL;
    if (moves_items) {
        FUZZ_CHECK((o.items > 0) != (o.duration_ms > 0));
        FUZZ_CHECK(o.count == 0);
    } else {
        FUZZ_CHECK(o.items == 0 && o.duration_ms == 0);
        FUZZ_CHECK(o.count >= 1 && o.count <= BENCH_MAX_COUNT);
    }
    FUZZ_CHECK(o.scenario != BENCH_FILL || o.duration_ms == 0);
    FUZZ_CHECK(o.duration_ms >= 0 && o.duration_ms <= 86400 * 1000);
    FUZZ_CHECK(o.batch >= 1 && o.batch * o.size <= BENCH_MAX_BATCH_BYTES);
    /* --mode is the throughput scenario's; fill puts in batches of --batch. */
    FUZZ_CHECK(o.scenario == BENCH_THROUGHPUT || o.mode == BENCH_STRICT);
    FUZZ_CHECK(o.scenario != BENCH_THROUGHPUT || o.mode != BENCH_STRICT || o.batch == 1);
    bool async_puts = o.mode == BENCH_ASYNC || o.mode == BENCH_PREFETCH;
    FUZZ_CHECK(async_puts ? o.window >= 1 : o.window == 0);
    FUZZ_CHECK(o.maxsize >= 0);
    FUZZ_CHECK(o.broker_pid == 0 || o.broker != NULL);
    FUZZ_CHECK(bench_mode_name(o.mode) != NULL);
}

/* What a size flag of ipcqd should read: decimal digits and at most one
 * unit letter, K, M or G in either case (powers of 1024). False if s is not
 * such a number or it does not fit a long long. */
static bool
expected_size(const char *s, long long *v)
{
    long long n = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > (LLONG_MAX - (s[i] - '0')) / 10)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 0)
        return false;
    int shift = 0;
    if (s[i] != '\0') {
        static const char units[] = "KMG";
        const char *u = memchr(units, toupper((unsigned char)s[i]), 3);
        if (u == NULL || s[i + 1] != '\0')
            return false;
        shift = 10 * (int)(u - units + 1);
    }
    if (n > (LLONG_MAX >> shift))
        return false;
    *v = n << shift;
    return true;
}

/* Every word as the value of one of ipcqd's limit flags (mask picks which)
 * and of --probe-ms: accepted exactly when it reads as a size in bounds. */
static void
fuzz_ipcqd(unsigned mask, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        long long want, min, max, got;
        size_t field;
        bool valid = expected_size(argv[i], &want);
        int rc = fuzz_ipcqd_limit(mask, argv[i], &min, &max, &field);
        FUZZ_CHECK((rc == 0) == (valid && want >= min && want <= max));
        FUZZ_CHECK(rc != 0 || field == (size_t)want);
        rc = fuzz_ipcqd_size(argv[i], &got);
        FUZZ_CHECK((rc == 0) == (valid && want >= 1));
        FUZZ_CHECK(rc != 0 || got == want);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_reader r = {data, size};
    uint8_t parser = fuzz_byte(&r);
    uint8_t mask = fuzz_byte(&r);
    /* A copy that ends in NUL, so that every word does. */
    char *text = malloc(r.left + 1);
    if (text == NULL)
        return 0;
    if (r.left > 0)
        memcpy(text, r.p, r.left);
    text[r.left] = '\0';
    /* bench_parse() skips argv[0], as main() would pass it the program. */
    static char program[] = "ipcq-bench";
    char *argv[MAX_WORDS + 2] = {program};
    int argc = 1;
    for (char *w = text; r.left > 0 && argc <= MAX_WORDS && w <= text + r.left; w += strlen(w) + 1)
        argv[argc++] = w;
    argv[argc] = NULL;
    switch (parser % 4) {
    case 0:
        fuzz_ipcq(mask, argc - 1, argv + 1);
        break;
    case 1:
        fuzz_pool(argc - 1, argv + 1);
        break;
    case 2:
        fuzz_bench(argc, argv);
        break;
    default:
        fuzz_ipcqd(mask, argc - 1, argv + 1);
        break;
    }
    free(text);
    return 0;
}
