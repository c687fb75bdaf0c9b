/* The command line of ipcq-bench (see bench_args.h). */
#include "bench_args.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tool_item.h"
#include "tool_exit.h"
#include "tool_numbers.h"
#include "tool_usage.h"
#include "ipcq.h"

_Static_assert((int)BENCH_BAD == (int)TOOL_EXIT_USAGE,
               "a usage error is reported as it is returned");

#define DEFAULT_ITEMS 100000
#define DEFAULT_FILL_ITEMS 1000000
#define DEFAULT_QUEUES 100000
#define DEFAULT_WAITERS 10000
#define DEFAULT_IDLE_CONNECTIONS 10000
#define DEFAULT_IDLE_ITEMS 300000
#define MAX_ITEM_SIZE ((int64_t)16 << 20)
#define MAX_DURATION_S 86400

static const char *const mode_names[] = {"strict", "batch", "async", "prefetch"};
static const char *const scenario_names[] = {"throughput", "fill", "queues", "waiters",
                                             "idle-lane"};

const char *
bench_mode_name(bench_mode m)
{
    return mode_names[m];
}

const char *
bench_scenario_name(bench_scenario s)
{
    return scenario_names[s];
}

/* The options that belong to some scenarios only, and which. */
#define FOR(s) (1u << (s))
static const struct scoped {
    const char *name;
    unsigned scenarios;
} scoped[] = {
    {"--producers", FOR(BENCH_THROUGHPUT)},
    {"--consumers", FOR(BENCH_THROUGHPUT)},
    {"--queues", FOR(BENCH_THROUGHPUT)},
    {"--duration", FOR(BENCH_THROUGHPUT)},
    {"--mode", FOR(BENCH_THROUGHPUT)},
    {"--window", FOR(BENCH_THROUGHPUT)},
    {"--maxsize", FOR(BENCH_THROUGHPUT)},
    {"--idle-queues", FOR(BENCH_THROUGHPUT)},
    {"--items", FOR(BENCH_THROUGHPUT) | FOR(BENCH_FILL) | FOR(BENCH_IDLE_LANE)},
    {"--size", FOR(BENCH_THROUGHPUT) | FOR(BENCH_FILL)},
    {"--batch", FOR(BENCH_THROUGHPUT) | FOR(BENCH_FILL)},
    {"--count", FOR(BENCH_QUEUES) | FOR(BENCH_WAITERS) | FOR(BENCH_IDLE_LANE)},
};
#undef FOR
#define NSCOPED (sizeof scoped / sizeof scoped[0])

static const char usage[] =
    "Usage: ipcq-bench [OPTIONS]\n"
    "\n"
    "Forks producer and consumer processes that move items through ipcq queues,\n"
    "checks that every item arrived exactly once, and reports items/s, put and\n"
    "get latency per call (p50/p99/p99.9), and the broker's CPU time and peak RSS.\n"
    "With no --broker it starts a private broker for the run and stops it after.\n"
    "Other scenarios measure the broker's memory and its timeouts at scale.\n"
    "\n"
    "  --producers N      producer processes (default 1)\n"
    "  --consumers N      consumer processes (default 1)\n"
    "  --queues Q         spread the items over Q queues, Q <= consumers (default 1);\n"
    "                     consumer j gets from queue j % Q\n"
    "  --size BYTES       bytes per item, at least 12 (default 100)\n"
    "  --items N          items in all, shared among the producers (default 100000)\n"
    "  --duration SEC     or: producers put for SEC seconds (decimal)\n"
    "  --mode MODE        strict: ipcq_put / ipcq_get, one item per call (default)\n"
    "                     batch: ipcq_put_many / ipcq_get_many, --batch items per call\n"
    "                     async: ipcq_put_async, --window puts in flight /\n"
    "                            ipcq_get_many, --batch items per call\n"
    "                     prefetch: ipcq_put_async, --window puts in flight /\n"
    "                            ipcq_get with a prefetch of --batch items (leased)\n"
    "  --batch B          items per call or prefetch, all but strict (default 100)\n"
    "  --window W         async puts in flight, async and prefetch (default 256)\n"
    "  --maxsize N        bound of the queues (default 0: unbounded)\n"
    "  --idle-queues K    create K empty queues before the run, to show that an\n"
    "                     item costs the same however many queues there are\n"
    "                     (default 0; issue 4's figure is 10000)\n"
    "  --scenario S       what to measure (default throughput: the run above):\n"
    "                     fill: put --items N (default 1000000) items of --size\n"
    "                       bytes into one queue with no consumer (ipcq_put_many,\n"
    "                       --batch a call), report the broker's RSS full (VmRSS\n"
    "                       and VmHWM, less its RSS before) and bytes per item;\n"
    "                       drain it (ipcq_get_many), checking every item, and\n"
    "                       report its RSS again\n"
    "                     queues: create --count N (default 100000) empty queues,\n"
    "                       report the broker's RSS and bytes per queue, delete\n"
    "                       them, report its RSS again\n"
    "                     waiters: --count N (default 10000) gets blocked on empty\n"
    "                       queues (over the wire, from 4 sockets, 100 at a time as\n"
    "                       the broker takes them in), with timeouts spread over\n"
    "                       200-1000 ms: report how late each answer came after\n"
    "                       its deadline (p50/p99/max) and how many came more than\n"
    "                       10 ms late\n"
    "                     idle-lane: open --count N (default 10000) unix://\n"
    "                       connections that each send one PING and then stay\n"
    "                       idle; report the broker's RSS with them and per\n"
    "                       connection, and the items/s of async runs of --items\n"
    "                       (default 300000) beside them and with none (none,\n"
    "                       idle, idle, none); needs --ipcqd PATH (started on a\n"
    "                       unix:// endpoint) or --broker unix://PATH\n";

/* The rest of the usage: one string would pass what C99 compilers must take. */
static const char usage_options[] =
    "  --count N          queues, getters or connections of the queues, waiters\n"
    "                     and idle-lane scenarios\n"
    "  --broker EP        use the broker at EP instead of a private one\n"
    "  --broker-pid PID   with --broker: the broker's pid, to report its CPU and RSS\n"
    "  --ipcqd PATH       instead of the library's private broker (which keeps\n"
    "                     ipcqd's default limits: 100000 queues, 10000 waiters a\n"
    "                     queue, 1G of memory), start the ipcqd program at PATH\n"
    "                     on a private endpoint with those limits out of the way\n"
    "  --json             print the result as one JSON object\n"
    "  --check            check harder: every byte of every item, and that each\n"
    "                     figure of the report is there and adds up\n"
    "  --help, --version\n"
    "\n"
    "A progress line is shown when standard error is a terminal.\n"
    "Exit status: 0 done and checked; 1 an item was lost, duplicated, reordered or\n"
    "damaged, or a getter was answered wrongly or early; 2 usage error; 3 broker\n"
    "unreachable; 4 any other error; 130 after SIGINT, 143 after SIGTERM, once\n"
    "every child was stopped.\n"
    "See ipcq-bench(1) (man ipcq-bench).\n";

static const tool_usage bench_usage = {.prog = "ipcq-bench"};

/* "ipcq-bench: WHAT" and "Try 'ipcq-bench --help'."; returns BENCH_BAD. */
#define usage_error(...) tool_usage_error(&bench_usage, NULL, __VA_ARGS__)

/* Decimal seconds (tool_numbers.h), more than 0 and at most
 * MAX_DURATION_S, into milliseconds: the nearest, and at least 1. */
static bool
parse_duration(const char *s, int64_t *ms)
{
    tool_seconds t;
    if (tool_parse_seconds(s, &t) != TOOL_SECONDS_OK)
        return false;
    int64_t up = tool_seconds_ms_up(&t); /* 0 exactly when t is 0 */
    if (up == 0 || up > MAX_DURATION_S * 1000)
        return false;
    *ms = tool_seconds_ms_nearest(&t);
    if (*ms == 0)
        *ms = 1;
    return true;
}

/* The index of s in names[0..n), or -1. */
static int
parse_name(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/* The integer options: name, bounds, and where the value goes (an int or
 * an int64_t member of bench_opts). */
typedef struct int_opt {
    const char *name;
    int64_t min, max;
    size_t offset;
    bool is_int;
} int_opt;

#define INT_OPT(name, min, max, member)                                                            \
    {                                                                                              \
        name, min, max, offsetof(bench_opts, member),                                              \
            sizeof(((bench_opts *)0)->member) == sizeof(int)                                       \
    }

static const int_opt int_opts[] = {
    INT_OPT("--producers", 1, BENCH_MAX_PROCS, producers),
    INT_OPT("--consumers", 1, BENCH_MAX_PROCS, consumers),
    INT_OPT("--queues", 1, BENCH_MAX_QUEUES, queues),
    INT_OPT("--size", TOOL_ITEM_HEADER, MAX_ITEM_SIZE, size),
    INT_OPT("--items", 1, INT64_C(1) << 40, items),
    INT_OPT("--batch", 1, BENCH_MAX_BATCH, batch),
    INT_OPT("--window", 1, BENCH_MAX_BATCH, window),
    INT_OPT("--maxsize", 0, INT64_C(1) << 40, maxsize),
    INT_OPT("--broker-pid", 1, INT32_MAX, broker_pid),
    INT_OPT("--count", 1, BENCH_MAX_COUNT, count),
    INT_OPT("--idle-queues", 0, BENCH_MAX_COUNT, idle_queues),
};
#undef INT_OPT

static const char *const other_value_opts[] = {"--duration", "--mode", "--broker", "--scenario",
                                               "--ipcqd"};

/* Whether name is an option that takes a value. */
static bool
takes_value(const char *name)
{
    for (size_t i = 0; i < sizeof int_opts / sizeof int_opts[0]; i++)
        if (strcmp(name, int_opts[i].name) == 0)
            return true;
    for (size_t i = 0; i < sizeof other_value_opts / sizeof other_value_opts[0]; i++)
        if (strcmp(name, other_value_opts[i]) == 0)
            return true;
    return false;
}

/* The options whose presence matters, beyond their value. */
typedef struct seen {
    bool items, duration, batch, window, broker_pid, count;
    bool scoped[NSCOPED]; /* which of scoped[] were given */
} seen;

/* Stores the value v of the option name (one that takes_value()). */
static int
store(bench_opts *o, seen *given, const char *name, const char *v)
{
    for (size_t i = 0; i < NSCOPED; i++)
        given->scoped[i] |= strcmp(name, scoped[i].name) == 0;
    for (size_t i = 0; i < sizeof int_opts / sizeof int_opts[0]; i++) {
        const int_opt *io = &int_opts[i];
        if (strcmp(name, io->name) != 0)
            continue;
        int64_t n;
        if (!tool_parse_int(v, io->min, io->max, &n))
            return usage_error("invalid %s '%s': want an integer from %lld to %lld", name, v,
                               (long long)io->min, (long long)io->max);
        char *dst = (char *)o + io->offset;
        if (io->is_int)
            *(int *)dst = (int)n;
        else
            *(int64_t *)dst = n;
        given->items |= strcmp(name, "--items") == 0;
        given->batch |= strcmp(name, "--batch") == 0;
        given->window |= strcmp(name, "--window") == 0;
        given->broker_pid |= strcmp(name, "--broker-pid") == 0;
        given->count |= strcmp(name, "--count") == 0;
        return BENCH_PARSED;
    }
    if (strcmp(name, "--duration") == 0) {
        if (!parse_duration(v, &o->duration_ms))
            return usage_error("invalid --duration '%s': want seconds, more than 0", v);
        given->duration = true;
        return BENCH_PARSED;
    }
    if (strcmp(name, "--mode") == 0) {
        int m = parse_name(v, mode_names, sizeof mode_names / sizeof mode_names[0]);
        if (m < 0)
            return usage_error("invalid --mode '%s': want strict, batch, async or prefetch", v);
        o->mode = (bench_mode)m;
        return BENCH_PARSED;
    }
    if (strcmp(name, "--scenario") == 0) {
        int sc = parse_name(v, scenario_names, sizeof scenario_names / sizeof scenario_names[0]);
        if (sc < 0)
            return usage_error("invalid --scenario '%s': want throughput, fill, queues, "
                               "waiters or idle-lane",
                               v);
        o->scenario = (bench_scenario)sc;
        return BENCH_PARSED;
    }
    if (v[0] == '\0')
        return usage_error("invalid %s '': want %s", name,
                           strcmp(name, "--ipcqd") == 0 ? "a program" : "an endpoint");
    if (strcmp(name, "--ipcqd") == 0)
        o->ipcqd = v;
    else
        o->broker = v;
    return BENCH_PARSED;
}

static int
check_batch_bytes(const bench_opts *o)
{
    if (o->batch * o->size > BENCH_MAX_BATCH_BYTES)
        return usage_error("--batch %lld of --size %lld is more than %lld bytes per call",
                           (long long)o->batch, (long long)o->size,
                           (long long)BENCH_MAX_BATCH_BYTES);
    return BENCH_PARSED;
}

/* The combinations of a throughput run. */
static int
check_throughput(bench_opts *o, const seen *given)
{
    if (given->items && given->duration)
        return usage_error("--items and --duration exclude each other");
    if (!given->duration && !given->items)
        o->items = DEFAULT_ITEMS;
    if (o->queues > o->consumers)
        return usage_error("--queues %d is more than --consumers %d: every queue needs a "
                           "consumer",
                           o->queues, o->consumers);
    if (o->mode == BENCH_STRICT) {
        if (given->batch)
            return usage_error("--batch is not for --mode strict");
        o->batch = 1;
    }
    bool async_puts = o->mode == BENCH_ASYNC || o->mode == BENCH_PREFETCH;
    if (!async_puts && given->window)
        return usage_error("--window is for --mode async and --mode prefetch");
    if (async_puts && !given->window)
        o->window = BENCH_DEFAULT_WINDOW;
    if (o->mode == BENCH_BATCH && o->maxsize > 0 && o->maxsize < o->batch)
        return usage_error("--maxsize %lld is less than --batch %lld: a batch could never fit",
                           (long long)o->maxsize, (long long)o->batch);
    return check_batch_bytes(o);
}

/* The combinations: every value may be fine alone and wrong with another. */
static int
check(bench_opts *o, const seen *given)
{
    for (size_t i = 0; i < NSCOPED; i++)
        if (given->scoped[i] && (scoped[i].scenarios & (1u << o->scenario)) == 0)
            return usage_error("%s is not for --scenario %s", scoped[i].name,
                               bench_scenario_name(o->scenario));
    if (o->broker != NULL && o->ipcqd != NULL)
        return usage_error("--broker and --ipcqd exclude each other");
    if (given->broker_pid && o->broker == NULL)
        return usage_error("--broker-pid is for --broker; the private broker's pid is known");
    switch (o->scenario) {
    case BENCH_THROUGHPUT:
        return check_throughput(o, given);
    case BENCH_FILL:
        if (!given->items)
            o->items = DEFAULT_FILL_ITEMS;
        return check_batch_bytes(o);
    case BENCH_IDLE_LANE:
        if (o->ipcqd == NULL && (o->broker == NULL || strncmp(o->broker, "unix://", 7) != 0))
            return usage_error("--scenario idle-lane needs --ipcqd PATH or --broker unix://PATH");
        if (!given->items)
            o->items = DEFAULT_IDLE_ITEMS;
        break;
    case BENCH_QUEUES:
    case BENCH_WAITERS:
        break;
    }
    if (!given->count)
        o->count = o->scenario == BENCH_QUEUES      ? DEFAULT_QUEUES
                   : o->scenario == BENCH_IDLE_LANE ? DEFAULT_IDLE_CONNECTIONS
                                                    : DEFAULT_WAITERS;
    return BENCH_PARSED;
}

int
bench_parse(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.producers = 1, .consumers = 1, .queues = 1, .size = 100, .batch = 100};
    seen given = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            fputs(usage_options, stdout);
            return BENCH_HELP;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("ipcq-bench %s\n", ipcq_version());
            return BENCH_HELP;
        }
        if (strcmp(arg, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(arg, "--check") == 0) {
            o->check = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error("unexpected argument '%s'", arg);
        /* "--name VALUE" or "--name=VALUE" */
        const char *eq = strchr(arg, '=');
        size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        char name[32];
        if (len >= sizeof name)
            return usage_error("unrecognized option '%s'", arg);
        memcpy(name, arg, len);
        name[len] = '\0';
        if (!takes_value(name))
            return usage_error("unrecognized option '%s'", arg);
        if (eq == NULL && i + 1 >= argc)
            return usage_error("option '%s' needs a value", arg);
        const char *value = eq != NULL ? eq + 1 : argv[++i];
        int rc = store(o, &given, name, value);
        if (rc != BENCH_PARSED)
            return rc;
    }
    return check(o, &given);
}
