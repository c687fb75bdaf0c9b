#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static log_level current = LOG_LEVEL_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void
log_set_level(log_level level)
{
    current = level;
}

int
log_parse_level(const char *name)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void
log_msg(log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ipcqd: %s: %s\n", names[level], line);
}
