/* Exit statuses and the last flush of stdout (see tool_exit.h). */
#include "tool_exit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipcq.h"

int
tool_exit_for(int status)
{
    return status == IPCQ_EUNAVAILABLE ? TOOL_EXIT_UNAVAILABLE : TOOL_EXIT_ERROR;
}

int
tool_flush_stdout(const char *prog, int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    if (errno != EPIPE)
        fprintf(stderr, "%s: writing to standard output: %s\n", prog,
                errno ? strerror(errno) : "I/O error");
    return rc == TOOL_EXIT_OK ? TOOL_EXIT_ERROR : rc;
}
