/* Exit statuses and error messages of the ipcq tool (see cli_report.h). */
#include "cli_report.h"

#include <stdio.h>

#include "cli_args.h"

int
cli_exit_code(int status)
{
    switch (status) {
    case IPCQ_OK:
        return CLI_OK;
    case IPCQ_EMPTY:
    case IPCQ_FULL:
    case IPCQ_ETIMEDOUT:
        return CLI_NOT_DONE;
    case IPCQ_EINVAL:
        return CLI_USAGE;
    case IPCQ_EUNAVAILABLE:
    case IPCQ_EACCESS: /* the broker cannot be reached by this user */
        return CLI_UNAVAILABLE;
    case IPCQ_ENOTSUP: /* a nats:// endpoint cannot serve the call: "any other error" */
    default:
        return CLI_ERROR;
    }
}

int
cli_fail(const ipcq_client *c, const char *queue, int status)
{
    const char *detail = ipcq_client_error(c);
    if (detail[0] != '\0')
        fprintf(stderr, "ipcq: %s\n", detail);
    else if (queue != NULL)
        fprintf(stderr, "ipcq: %s: %s\n", queue, ipcq_strerror(status));
    else
        fprintf(stderr, "ipcq: %s\n", ipcq_strerror(status));
    return cli_exit_code(status);
}
