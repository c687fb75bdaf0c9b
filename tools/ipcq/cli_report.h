/*
 * How the ipcq tool ends: the exit status for each library status (SPEC §5)
 * and the one-line error message on stderr ("ipcq: QUEUE: reason"). The
 * check that what went to stdout was really written is every tool's:
 * tool_flush_stdout("ipcq", CLI_OK) (tool_exit.h).
 */
#ifndef IPCQ_CLI_REPORT_H
#define IPCQ_CLI_REPORT_H

#include "ipcq.h"

/* The exit status for an ipcq_status: 0 OK; 1 Empty, Full, join timed out;
 * 2 invalid argument; 3 broker unavailable; 4 anything else. */
int cli_exit_code(int status);

/* Prints the handle's last error (or, if it has none, the status text on
 * queue, which may be NULL) and returns cli_exit_code(status). */
int cli_fail(const ipcq_client *c, const char *queue, int status);

#endif
