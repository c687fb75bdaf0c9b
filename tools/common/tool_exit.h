/*
 * How a tool ends: the exit statuses that ipcq-pool and ipcq-bench share
 * (the ipcq CLI's are the same numbers, with its own meaning for 1: see
 * cli_args.h), the status for a library error, and the check that what went
 * to standard output was really written.
 */
#ifndef IPCQ_TOOL_EXIT_H
#define IPCQ_TOOL_EXIT_H

/* Exit statuses of the tools. A stop signal ends it with 128 + the signal. */
enum {
    TOOL_EXIT_OK = 0,          /* done, and the result checked out */
    TOOL_EXIT_CHECK = 1,       /* an item was lost, duplicated or damaged, or a result is wrong */
    TOOL_EXIT_USAGE = 2,       /* usage error */
    TOOL_EXIT_UNAVAILABLE = 3, /* broker unreachable */
    TOOL_EXIT_ERROR = 4,       /* any other error: a child failed, a system call failed */
};

/* The exit status for a library status: 3 for IPCQ_EUNAVAILABLE, 4 else. */
int tool_exit_for(int status);

/* Flushes stdout: rc if all of it was written, else TOOL_EXIT_ERROR (with a
 * message naming prog, unless the reader went away: EPIPE). */
int tool_flush_stdout(const char *prog, int rc);

#endif
