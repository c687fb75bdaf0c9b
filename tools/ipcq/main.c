/*
 * ipcq — the command-line client of SPEC §5.
 *
 *   ipcq [--broker EP] COMMAND [ARGS...]
 *
 * main() reads the global options, looks the subcommand up in the table
 * below (its options, how many positional arguments it takes, its help),
 * lets cli_parse() sort the rest of the words, opens one handle and runs the
 * subcommand's function (cli_cmds.h). Exit statuses: cli_args.h.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_keygen.h"
#include "cli_report.h"
#include "tool_exit.h"

typedef struct command {
    const char *name;
    int (*run)(ipcq_client *c, const cli_opts *o); /* c is NULL with local */
    bool local;                                    /* needs no broker */
    unsigned options;                              /* OPT_* it takes besides --help and --broker */
    int min_args;                                  /* positional arguments */
    int max_args;                                  /* -1: no limit */
    const char *synopsis;                          /* after "ipcq [--broker EP] " */
    const char *help;
} command;

#define TIMEOUT_HELP                                                                               \
    "  --timeout SEC   wait at most SEC seconds (decimal, such as 0.25; 0 is --nowait)\n"

static const command commands[] = {
    {"put", cmd_put, false, OPT_TIMEOUT | OPT_NOWAIT | OPT_MAXSIZE | OPT_LINES, 1, -1,
     "put QUEUE [ITEM...] [--timeout SEC | --nowait] [--maxsize N] [--lines]",
     "Puts each ITEM on QUEUE, in order; the queue is created, unbounded, if needed.\n"
     "With no ITEM, all of standard input is one item (binary safe).\n"
     "Each put waits for room as long as it takes, unless:\n" TIMEOUT_HELP
     "  --nowait        do not wait: exit 1 at once if the queue is full\n"
     "  --maxsize N     first create QUEUE bounded to N items (0: unbounded); it is an\n"
     "                  error if QUEUE exists with another bound\n"
     "  --lines         each line of standard input is one item, without its newline\n"
     "  --              the words after it are ITEMs even if they start with '-'\n"},
    {"get", cmd_get, false, OPT_TIMEOUT | OPT_NOWAIT | OPT_COUNT, 1, 1,
     "get QUEUE [-n COUNT] [--timeout SEC | --nowait]",
     "Gets an item from QUEUE and writes it to standard output, followed by a newline.\n"
     "Waits as long as it takes for an item, unless:\n" TIMEOUT_HELP
     "  --nowait        do not wait: exit 1 at once if the queue is empty\n"
     "  -n COUNT        get COUNT items, each under the timeout; exit 1 after writing\n"
     "                  those that came if fewer came in time\n"},
    {"stat", cmd_stat, false, OPT_JSON | OPT_PROMETHEUS, 0, 1,
     "stat [QUEUE] [--json | --prometheus]",
     "Prints the figures of QUEUE, or of the broker and every queue: items, maxsize\n"
     "(inf: unbounded), bytes, blocked getters and putters, unfinished tasks, leased\n"
     "items, age of the oldest item, puts and gets since creation, shut down or not.\n"
     "  --json          as one JSON object\n"
     "  --prometheus    in Prometheus's text format, for node_exporter's textfile\n"
     "                  collector: metrics ipcq_broker_* and ipcq_queue_*{queue=\"NAME\"},\n"
     "                  in seconds and bytes, counters ending in _total, each with HELP\n"
     "                  and TYPE. Write a .prom file atomically, e.g. each minute:\n"
     "                  ipcq stat --prometheus > DIR/ipcq.prom.$$ && mv DIR/ipcq.prom.$$ "
     "DIR/ipcq.prom\n"},
    {"top", cmd_top, false, OPT_ONCE | OPT_SORT | OPT_INTERVAL, 0, 0,
     "top [--once] [--sort KEY] [--interval SEC]",
     "A live view of the broker, redrawn every second like top(1): its pid, uptime,\n"
     "queues, items and their bytes, sessions (clients with blocked calls or leased\n"
     "items), requests/s; then each queue's size, maxsize, puts/s and gets/s (over\n"
     "the last interval; '-' until there are two samples), blocked getters and\n"
     "putters, leased items, age of the oldest item and bytes. If the broker goes\n"
     "away, top says so and keeps asking.\n"
     "Keys: s size, p puts/s, g gets/s, n name, a age, b bytes (the order: largest\n"
     "first, name A-Z); q quits (so do Ctrl-C and SIGTERM, which exit 128 + signal).\n"
     "  --once          print one plain frame (rates over one interval) and exit; what\n"
     "                  top does when standard output is not a terminal. Exit 3 and\n"
     "                  one line on stderr if the broker is unreachable\n"
     "  --sort KEY      the first order: size (default), puts, gets, name, age, bytes,\n"
     "                  or the key's letter\n"
     "  --interval SEC  the time between two samples (decimal, default 1)\n"},
    {"ls", cmd_ls, false, 0, 0, 0, "ls",
     "Lists the names of the broker's queues, one a line, sorted.\n"},
    {"create", cmd_create, false, OPT_MAXSIZE, 1, 1, "create QUEUE [--maxsize N]",
     "Creates QUEUE, bounded to N items (0 or no --maxsize: unbounded). It is no error\n"
     "if QUEUE exists with the same bound, and an error if it has another.\n"},
    {"resize", cmd_resize, false, OPT_MAXSIZE, 1, 1, "resize QUEUE --maxsize N",
     "Changes the bound of QUEUE, which must exist, to N items (0: unbounded), as\n"
     "Python's q.maxsize = N: a larger bound lets waiting putters in at once; a\n"
     "smaller one keeps every item, and puts wait until the queue is below it.\n"},
    {"rm", cmd_rm, false, 0, 1, 1, "rm QUEUE",
     "Deletes QUEUE and its items; whoever waits on it fails with 'queue deleted'.\n"},
    {"task-done", cmd_task_done, false, 0, 1, 1, "task-done QUEUE",
     "Marks one task of QUEUE done (Python's Queue.task_done); an error if none is open.\n"},
    {"join", cmd_join, false, OPT_TIMEOUT, 1, 1, "join QUEUE [--timeout SEC]",
     "Waits until every item put on QUEUE was marked done with task-done.\n" TIMEOUT_HELP
     "                  and exit 1 if tasks are still unfinished then\n"},
    {"shutdown", cmd_shutdown, false, OPT_IMMEDIATE, 1, 1, "shutdown QUEUE [--immediate]",
     "Shuts QUEUE down: puts fail; gets take the items left, then fail.\n"
     "  --immediate     drop the items left (each counted as done): gets fail at once\n"},
    {"ping", cmd_ping, false, 0, 0, 0, "ping",
     "Asks the broker for an answer and prints the round-trip time.\n"},
    {"keygen", cmd_keygen, true, 0, 1, 1, "keygen NAME",
     "Makes a CURVE key pair for TCP: NAME.key (the pair; secret, mode 0600) and\n"
     "NAME.pub (the public key, for the other side). A broker takes its pair with\n"
     "ipcqd --curve-key NAME.key and its clients' .pub files in --allowed-keys DIR;\n"
     "a client takes the broker's .pub and its own pair with --curve-server and\n"
     "--curve-key (or $" IPCQ_CURVE_SERVER_ENV " and $" IPCQ_CURVE_KEY_ENV
     "). Never overwrites a file.\n"},
};

static const char exit_help[] =
    "Exit status: 0 done; 1 empty, full or tasks unfinished after --nowait or\n"
    "--timeout; 2 usage error or invalid argument; 3 broker unreachable, or it\n"
    "refused this client (permission denied: its socket or CURVE key); 4 any other\n"
    "error.\n"
    "See ipcq(1) (man ipcq).\n";

static void
print_usage(void)
{
    char ep[4200];
    if (ipcq_default_endpoint(ep, sizeof ep) != IPCQ_OK)
        snprintf(ep, sizeof ep, "(none usable)");
    printf("Usage: ipcq [--broker EP] COMMAND [ARGS...]\n"
           "       ipcq --help | --version\n\n"
           "Puts and gets items on the named queues of an ipcqd broker.\n\n"
           "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %s\n", commands[i].synopsis);
    printf("\nOptions:\n"
           "  --broker EP     the broker's endpoint; default $%s, else the per-user unix://\n"
           "                  socket that ipcqd with no --bind listens on (now: %s)\n"
           "  --curve-server KEY  for a tcp:// broker run with CURVE: its public key, or\n"
           "                  its .pub file (default $" IPCQ_CURVE_SERVER_ENV ")\n"
           "  --curve-key FILE    this client's key pair, from 'ipcq keygen' (default\n"
           "                  $" IPCQ_CURVE_KEY_ENV ")\n"
           "  --help          this help; 'ipcq COMMAND --help' tells about COMMAND\n"
           "  --version       the version of ipcq\n\n%s",
           IPCQ_BROKER_ENV, ep, exit_help);
}

static void
print_command_usage(const command *cmd)
{
    printf("Usage: ipcq [--broker EP] %s\n\n%s\n%s", cmd->synopsis, cmd->help, exit_help);
}

static const command *
find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Checks the positional arguments against the table, opens the handle and
 * runs the subcommand. */
static int
run_command(const command *cmd, const char *broker, const cli_opts *o)
{
    if (o->nargs < cmd->min_args)
        return tool_usage_error(&cli_usage, cmd->name, "%s needs a %s", cmd->name,
                                cmd->local ? "NAME" : "QUEUE");
    if (cmd->max_args >= 0 && o->nargs > cmd->max_args)
        return tool_usage_error(&cli_usage, cmd->name, "unexpected argument '%s'",
                                o->args[cmd->max_args]);
    if (cmd->local) {
        int status = cmd->run(NULL, o);
        return status != CLI_OK ? status : tool_flush_stdout("ipcq", CLI_OK);
    }
    ipcq_client *c;
    int rc = ipcq_client_open(&c, o->broker ? o->broker : broker);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq: cannot use the broker endpoint: %s\n", ipcq_strerror(rc));
        return cli_exit_code(rc);
    }
    rc = cmd->run(c, o);
    ipcq_client_close(&c);
    return rc != CLI_OK ? rc : tool_flush_stdout("ipcq", CLI_OK);
}

static int
dispatch(const command *cmd, const char *broker, int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(cmd->name, argc, argv, cmd->options, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.seen & OPT_HELP) {
        print_command_usage(cmd);
        rc = tool_flush_stdout("ipcq", CLI_OK);
    } else {
        rc = run_command(cmd, broker, &o);
    }
    cli_opts_free(&o);
    return rc;
}

/* What a global option asks for. */
enum { GLOBAL_NEXT = -1, GLOBAL_UNKNOWN = -2 };

/* --curve-server KEY and --curve-key FILE: they stand for the environment
 * variables the library reads when it connects. GLOBAL_UNKNOWN for any
 * other option. */
static int
curve_option(int argc, char **argv, int *i)
{
    static const struct {
        const char *flag, *env;
    } flags[] = {{"--curve-server", IPCQ_CURVE_SERVER_ENV}, {"--curve-key", IPCQ_CURVE_KEY_ENV}};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        size_t n = strlen(flags[k].flag);
        const char *value = NULL;
        if (strncmp(a, flags[k].flag, n) != 0)
            continue;
        if (a[n] == '=')
            value = a + n + 1;
        else if (a[n] == '\0' && *i + 1 < argc)
            value = argv[++*i];
        else if (a[n] != '\0')
            continue;
        if (value == NULL || value[0] == '\0')
            return tool_usage_error(&cli_usage, NULL, "option '%s' needs a value", flags[k].flag);
        setenv(flags[k].env, value, 1);
        return GLOBAL_NEXT;
    }
    return GLOBAL_UNKNOWN;
}

/* Handles global option argv[*i]: GLOBAL_NEXT to go on, else the exit
 * status to end with. */
static int
global_option(int argc, char **argv, int *i, const char **broker)
{
    const char *a = argv[*i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        print_usage();
        return tool_flush_stdout("ipcq", CLI_OK);
    }
    if (strcmp(a, "--version") == 0) {
        printf("ipcq %s\n", ipcq_version());
        return tool_flush_stdout("ipcq", CLI_OK);
    }
    int curve = curve_option(argc, argv, i);
    if (curve != GLOBAL_UNKNOWN)
        return curve;
    if (strncmp(a, "--broker=", 9) == 0)
        *broker = a + 9;
    else if (strcmp(a, "--broker") == 0 && *i + 1 < argc)
        *broker = argv[++*i];
    else if (strcmp(a, "--broker") == 0)
        return tool_usage_error(&cli_usage, NULL, "option '--broker' needs a value");
    else
        return tool_usage_error(&cli_usage, NULL, "unrecognized option '%s'", a);
    if ((*broker)[0] == '\0')
        return tool_usage_error(&cli_usage, NULL, "empty --broker endpoint");
    return GLOBAL_NEXT;
}

int
main(int argc, char **argv)
{
    /* A reader that goes away shows as EPIPE on stdout, not as a signal. */
    signal(SIGPIPE, SIG_IGN);
    const char *broker = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        int rc = global_option(argc, argv, &i, &broker);
        if (rc != GLOBAL_NEXT)
            return rc;
    }
    if (i >= argc)
        return tool_usage_error(&cli_usage, NULL, "missing command");
    const command *cmd = find_command(argv[i]);
    if (cmd == NULL)
        return tool_usage_error(&cli_usage, NULL, "unknown command '%s'", argv[i]);
    return dispatch(cmd, broker, argc - i - 1, argv + i + 1);
}
