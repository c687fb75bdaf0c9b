/* Broker log lines on stderr: "ipcqd: LEVEL: message". The levels are
 * LOG_LEVEL_*, apart from <syslog.h>'s LOG_INFO and LOG_DEBUG. */
#ifndef IPCQ_LOG_H
#define IPCQ_LOG_H

typedef enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
} log_level;

void log_set_level(log_level level);
/* Parses "error", "warn", "info" or "debug"; -1 if none of them. */
int log_parse_level(const char *name);
__attribute__((format(printf, 2, 3))) void log_msg(log_level level, const char *fmt, ...);

#endif
