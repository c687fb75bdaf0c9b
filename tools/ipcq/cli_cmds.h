/*
 * The subcommands of the ipcq tool, one function each, called by the command
 * table in main.c with an open handle and the parsed options (positional
 * arguments checked against the table's counts). Each returns the exit
 * status, having printed any error.
 *
 *   cli_items.c   put, get: the item path, stdin and stdout
 *   cli_admin.c   create, resize, rm, task-done, join, shutdown, ping
 *   cli_stat.c    stat (a table, JSON, or Prometheus's format: cli_prom.c) and
 *                 ls: views of one snapshot
 *   cli_top.c     top: the live view (its terminal: cli_term.c)
 */
#ifndef IPCQ_CLI_CMDS_H
#define IPCQ_CLI_CMDS_H

#include "cli_args.h"
#include "ipcq.h"

int cmd_put(ipcq_client *c, const cli_opts *o);
int cmd_get(ipcq_client *c, const cli_opts *o);

int cmd_create(ipcq_client *c, const cli_opts *o);
int cmd_resize(ipcq_client *c, const cli_opts *o);
int cmd_rm(ipcq_client *c, const cli_opts *o);
int cmd_task_done(ipcq_client *c, const cli_opts *o);
int cmd_join(ipcq_client *c, const cli_opts *o);
int cmd_shutdown(ipcq_client *c, const cli_opts *o);
int cmd_ping(ipcq_client *c, const cli_opts *o);

int cmd_stat(ipcq_client *c, const cli_opts *o);
int cmd_ls(ipcq_client *c, const cli_opts *o);
int cmd_top(ipcq_client *c, const cli_opts *o);

#endif
