/*
 * The command line that chat_server and chat_client share: their options
 * (--broker EP, --help), their exit statuses (the tools' numbers, as the ipcq
 * CLI's, SPEC §5) and the first connection to the broker.
 */
#ifndef CHAT_CLI_H
#define CHAT_CLI_H

#include <stdbool.h>

#include <ipcq.h>

/* The server refused the name, or no server answered. The other exit
 * statuses are the tools' (tool_exit.h): 2 usage, 3 broker unavailable, 4
 * any other error, 128 + a stop signal. */
#define CHAT_EXIT_REFUSED 1

typedef struct chat_args {
    const char *broker; /* NULL: ipcq_default_endpoint() */
    const char *name;   /* the client's NAME operand; NULL if none */
} chat_args;

/* Reads argv into a. -1 to go on; else the exit status to end with: 0
 * after --help printed the usage ("Usage: PROG [--broker EP] SYNOPSIS",
 * about, the options), TOOL_EXIT_USAGE after a one-line error. The client
 * takes one NAME operand (takes_name), the server none. */
int chat_args_parse(int argc, char **argv, const char *synopsis, const char *about, bool takes_name,
                    chat_args *a);

/* Prints "PROG: what: reason" (the handle's error line when it has one) on
 * stderr and returns the exit status for status. */
int chat_fail(const ipcq_client *c, const char *what, int status);

/* Opens *c on the broker and pings it: -1 when it answers, else the exit
 * status, after saying which endpoint did not answer. */
int chat_connect(const char *broker, ipcq_client **c);

/* The program's name for messages: argv[0] without its folder. */
extern const char *chat_prog;

#endif
