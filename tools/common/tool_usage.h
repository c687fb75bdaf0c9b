/*
 * Usage errors, worded the same way by every tool: one line naming the
 * program ("ipcq-pool: primes: missing --limit"), then a line that says
 * which --help to read, on stderr. A tool describes its wording once in a
 * tool_usage and passes it with each error; the caller returns what
 * tool_usage_error() returns, the usage exit status (2).
 */
#ifndef IPCQ_TOOL_USAGE_H
#define IPCQ_TOOL_USAGE_H

#include <stdbool.h>

typedef struct tool_usage {
    const char *prog;    /* "ipcq-pool" */
    bool sub_in_message; /* "PROG: SUB: WHAT" rather than "PROG: WHAT" */
    bool hint_prog_help; /* with a SUB, "Try 'PROG --help' or 'PROG SUB --help'." */
} tool_usage;

/* Prints "PROG: [SUB: ]WHAT" and the hint, "Try 'PROG --help'." when sub is
 * NULL, else "Try 'PROG SUB --help'." (or both, as u says); returns
 * TOOL_EXIT_USAGE. sub names the subcommand or mode the error is about. */
__attribute__((format(printf, 3, 4))) int tool_usage_error(const tool_usage *u, const char *sub,
                                                           const char *fmt, ...);

#endif
