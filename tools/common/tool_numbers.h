/*
 * The numbers the tools read from their command lines, one grammar for
 * each, whatever tool reads it:
 *
 *   integers  an optional '-' and decimal digits, nothing else ("-5", "100")
 *   seconds   decimal digits with at most one point, at least one digit,
 *             no sign and no exponent ("0.25", "3", ".5", "2.")
 *
 * The parsers only say whether, and what; each tool words its own usage
 * error (tool_usage.h), since it knows the option the value came with.
 */
#ifndef IPCQ_TOOL_NUMBERS_H
#define IPCQ_TOOL_NUMBERS_H

#include <stdbool.h>
#include <stdint.h>

/* Whole seconds beyond this are refused, so that milliseconds, and
 * microseconds, fit an int64_t. */
#define TOOL_SECONDS_MAX_WHOLE 1000000000000000LL

/* The integer s, if it is one and lies in [min, max]. */
bool tool_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Decimal seconds, exactly as written. */
typedef struct tool_seconds {
    int64_t whole;  /* before the point: at most TOOL_SECONDS_MAX_WHOLE */
    int32_t micros; /* the first six digits after it, as microseconds */
    bool finer;     /* a nonzero digit follows those six */
} tool_seconds;

typedef enum tool_seconds_status {
    TOOL_SECONDS_OK,
    TOOL_SECONDS_NEGATIVE,  /* starts with '-' */
    TOOL_SECONDS_TOO_LARGE, /* more than TOOL_SECONDS_MAX_WHOLE whole seconds */
    TOOL_SECONDS_MALFORMED, /* not decimal seconds at all */
} tool_seconds_status;

/* Reads the seconds s into *out. */
tool_seconds_status tool_parse_seconds(const char *s, tool_seconds *out);

/* The seconds in milliseconds, rounded up: "0.0001" is 1 ms. */
int64_t tool_seconds_ms_up(const tool_seconds *t);

/* The seconds in milliseconds, rounded to the nearest (half up). */
int64_t tool_seconds_ms_nearest(const tool_seconds *t);

#endif
