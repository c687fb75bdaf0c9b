/*
 * Command-line arguments of the ipcq tool: the options a subcommand may take,
 * one scanner that sorts a subcommand's words into options and positional
 * arguments (in any order, `--` ending the options) and converts their values
 * (decimal seconds to milliseconds, counts, sizes: tool_numbers.h). Every
 * usage error is reported on stderr with the hint of SPEC §5 (tool_usage.h,
 * with cli_usage); callers only see CLI_USAGE.
 */
#ifndef IPCQ_CLI_ARGS_H
#define IPCQ_CLI_ARGS_H
#include <stdbool.h>
#include <stdint.h>

#include "tool_usage.h"

/* Exit statuses of SPEC §5. */
enum {
    CLI_OK = 0,          /* done */
    CLI_NOT_DONE = 1,    /* Empty, Full, join not done, after --nowait or --timeout */
    CLI_USAGE = 2,       /* usage error or invalid argument */
    CLI_UNAVAILABLE = 3, /* broker unreachable */
    CLI_ERROR = 4,       /* any other error */
};

/* Options, as bits: a subcommand lists the ones it takes. */
enum {
    OPT_TIMEOUT = 1u << 0,    /* --timeout SEC */
    OPT_NOWAIT = 1u << 1,     /* --nowait */
    OPT_MAXSIZE = 1u << 2,    /* --maxsize N */
    OPT_LINES = 1u << 3,      /* --lines */
    OPT_COUNT = 1u << 4,      /* -n COUNT */
    OPT_JSON = 1u << 5,       /* --json */
    OPT_IMMEDIATE = 1u << 6,  /* --immediate */
    OPT_HELP = 1u << 7,       /* --help, -h: every subcommand */
    OPT_BROKER = 1u << 8,     /* --broker EP: global, also accepted after the subcommand */
    OPT_PROMETHEUS = 1u << 9, /* --prometheus */
    OPT_ONCE = 1u << 10,      /* --once */
    OPT_SORT = 1u << 11,      /* --sort KEY */
    OPT_INTERVAL = 1u << 12,  /* --interval SEC */
};

typedef struct cli_opts {
    const char **args; /* positional arguments, in order (owned array, borrowed strings) */
    int nargs;
    unsigned seen;       /* OPT_* bits that were given */
    int64_t timeout_ms;  /* IPCQ_FOREVER unless --timeout or --nowait */
    int64_t maxsize;     /* --maxsize, 0 if absent */
    int64_t count;       /* -n, 1 if absent */
    const char *broker;  /* --broker given after the subcommand, else NULL */
    const char *sort;    /* --sort, NULL if absent (checked by the subcommand) */
    int64_t interval_ms; /* --interval, > 0; 1000 if absent */
} cli_opts;

/* Sorts argv[0..argc) of subcommand cmd into o, accepting only the options
 * in the mask allowed (OPT_HELP and OPT_BROKER are always accepted). Scanning
 * stops at --help. Returns CLI_OK, or CLI_USAGE (CLI_ERROR when out of
 * memory) after saying why. On CLI_OK free o with cli_opts_free(). */
int cli_parse(const char *cmd, int argc, char **argv, unsigned allowed, cli_opts *o);
void cli_opts_free(cli_opts *o);

/* How ipcq words a usage error: tool_usage_error(&cli_usage, CMD, ...)
 * prints "ipcq: WHAT" and "Try 'ipcq --help' or 'ipcq CMD --help'." (CMD
 * NULL, for errors before the subcommand: "Try 'ipcq --help'.") and returns
 * CLI_USAGE. */
extern const tool_usage cli_usage;

#endif
