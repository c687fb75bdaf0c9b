/*
 * The command line that chat_server and chat_client share: their options
 * (--broker EP, --help), their exit statuses (the ipcq CLI's numbers, SPEC
 * §5) and the first connection to the broker.
 */
#ifndef CHAT_CLI_H
#define CHAT_CLI_H

#include <stdbool.h>

#include <ipcq.h>

enum {
    CHAT_EXIT_OK = 0,
    CHAT_EXIT_REFUSED = 1, /* the server refused the name, or did not answer */
    CHAT_EXIT_USAGE = 2,   /* usage error or invalid argument */
    CHAT_EXIT_UNAVAILABLE = 3,
    CHAT_EXIT_ERROR = 4,
};
/* A stop signal (SIGINT, SIGTERM) ends either program with 128 + it. */

typedef struct chat_args {
    const char *broker; /* NULL: ipcq_default_endpoint() */
    const char *name;   /* the client's NAME operand; NULL if none */
} chat_args;

/* Reads argv into a. -1 to go on; else the exit status to end with: 0
 * after --help printed the usage ("Usage: PROG [--broker EP] SYNOPSIS",
 * about, the options), CHAT_EXIT_USAGE after a one-line error. The client
 * takes one NAME operand (takes_name), the server none. */
int chat_args_parse(int argc, char **argv, const char *synopsis, const char *about, bool takes_name,
                    chat_args *a);

/* The exit status for a library status. */
int chat_exit_for(int status);

/* Prints "PROG: what: reason" (the handle's error line when it has one) on
 * stderr and returns the exit status for status. */
int chat_fail(const ipcq_client *c, const char *what, int status);

/* Opens *c on the broker and pings it: -1 when it answers, else the exit
 * status, after saying which endpoint did not answer. */
int chat_connect(const char *broker, ipcq_client **c);

/* The program's name for messages: argv[0] without its folder. */
extern const char *chat_prog;

#endif
