/* Broker log lines on stderr: "ipcqd: LEVEL: message", or, when stderr is
 * the systemd journal, "<N>message" (N the syslog priority, which the
 * journal keeps as the line's level; it adds the name, pid and time
 * itself). The levels are LOG_LEVEL_*, apart from <syslog.h>'s LOG_INFO and
 * LOG_DEBUG. */
#ifndef IPCQ_LOG_H
#define IPCQ_LOG_H
#include <stdbool.h>

typedef enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
} log_level;

void log_set_level(log_level level);
/* Parses "error", "warn", "info" or "debug"; -1 if none of them. */
int log_parse_level(const char *name);
/* Writes the journal's form from now on if stderr is the stream that
 * $JOURNAL_STREAM ("DEVICE:INODE", set by systemd for a service whose
 * output goes to the journal) names, and says whether it is. A stderr
 * redirected elsewhere keeps the plain form, as systemd's docs ask. */
bool log_detect_journal(void);
__attribute__((format(printf, 2, 3))) void log_msg(log_level level, const char *fmt, ...);

#endif
