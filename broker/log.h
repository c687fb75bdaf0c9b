/* Broker log lines on stderr: "ipcqd: LEVEL: message". */
#ifndef IPCQ_LOG_H
#define IPCQ_LOG_H

typedef enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level level);
/* Parses "error", "warn", "info" or "debug"; -1 if none of them. */
int log_parse_level(const char *name);
__attribute__((format(printf, 2, 3))) void log_msg(log_level level, const char *fmt, ...);

#endif
