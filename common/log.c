#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static log_level current = LOG_LEVEL_INFO;
static bool journal;
static const char *const names[] = {"error", "warn", "info", "debug"};
/* Their syslog priorities: sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO and
 * SD_DEBUG (written out: this file does not need libsystemd). */
static const int priorities[] = {3, 4, 6, 7};

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

bool
log_detect_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    int end = 0;
    struct stat st;
    journal = env != NULL && sscanf(env, "%llu:%llu%n", &dev, &ino, &end) == 2 &&
              env[end] == '\0' && fstat(STDERR_FILENO, &st) == 0 &&
              (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    return journal;
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
    if (journal)
        fprintf(stderr, "<%d>%s\n", priorities[level], line);
    else
        fprintf(stderr, "ipcqd: %s: %s\n", names[level], line);
}
