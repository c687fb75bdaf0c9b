/*
 * The ipcq subcommands that manage queues rather than move items: create,
 * resize, rm, task-done, join, shutdown and ping. Each is one library call; only ping
 * prints anything on success.
 */
#include <stdio.h>

#include "cli_cmds.h"
#include "cli_report.h"
#include "tool_clock.h"

/* The exit status for rc, the result of a call on queue. */
static int
done(ipcq_client *c, const char *queue, int rc)
{
    return rc == IPCQ_OK ? CLI_OK : cli_fail(c, queue, rc);
}

int
cmd_create(ipcq_client *c, const cli_opts *o)
{
    return done(c, o->args[0], ipcq_create(c, o->args[0], o->maxsize));
}

int
cmd_resize(ipcq_client *c, const cli_opts *o)
{
    if (!(o->seen & OPT_MAXSIZE))
        return tool_usage_error(&cli_usage, "resize", "resize needs --maxsize N");
    return done(c, o->args[0], ipcq_set_maxsize(c, o->args[0], o->maxsize));
}

int
cmd_rm(ipcq_client *c, const cli_opts *o)
{
    return done(c, o->args[0], ipcq_delete(c, o->args[0]));
}

int
cmd_task_done(ipcq_client *c, const cli_opts *o)
{
    return done(c, o->args[0], ipcq_task_done(c, o->args[0]));
}

int
cmd_join(ipcq_client *c, const cli_opts *o)
{
    return done(c, o->args[0], ipcq_join(c, o->args[0], o->timeout_ms));
}

int
cmd_shutdown(ipcq_client *c, const cli_opts *o)
{
    bool immediate = (o->seen & OPT_IMMEDIATE) != 0;
    return done(c, o->args[0], ipcq_shutdown(c, o->args[0], immediate));
}

int
cmd_ping(ipcq_client *c, const cli_opts *o)
{
    uint64_t t0 = tool_now_ns();
    int rc = ipcq_ping(c);
    if (rc != IPCQ_OK)
        return cli_fail(c, NULL, rc);
    printf("pong: %.3f ms\n", (double)(tool_now_ns() - t0) / 1e6);
    return CLI_OK;
}
