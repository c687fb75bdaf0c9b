/* ipcq keygen NAME: a CURVE key pair for TCP (SPEC B3), needing no broker. */
#ifndef IPCQ_CLI_KEYGEN_H
#define IPCQ_CLI_KEYGEN_H

#include "cli_args.h"
#include "ipcq.h"

/* c is NULL: keygen talks to no broker. */
int cmd_keygen(ipcq_client *c, const cli_opts *o);

#endif
