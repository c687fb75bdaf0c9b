/* The command-line numbers of the tools (see tool_numbers.h). */
#include "tool_numbers.h"

#include <errno.h>
#include <stdlib.h>

bool
tool_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads the digits after the point at *p: the first six as microseconds,
 * and whether a nonzero one follows them. Returns how many there were. */
static int
fraction(const char **p, int32_t *micros, bool *finer)
{
    int n = 0;
    *micros = 0;
    *finer = false;
    for (; is_digit(**p); (*p)++, n++) {
        if (n < 6)
            *micros = *micros * 10 + (**p - '0');
        else if (**p != '0')
            *finer = true;
    }
    for (int k = n; k < 6; k++)
        *micros *= 10;
    return n;
}

tool_seconds_status
tool_parse_seconds(const char *s, tool_seconds *out)
{
    if (s[0] == '-')
        return TOOL_SECONDS_NEGATIVE;
    const char *p = s;
    tool_seconds t = {0, 0, false};
    int digits = 0;
    for (; is_digit(*p); p++, digits++) {
        t.whole = t.whole * 10 + (*p - '0');
        if (t.whole > TOOL_SECONDS_MAX_WHOLE)
            return TOOL_SECONDS_TOO_LARGE;
    }
    if (*p == '.') {
        p++;
        digits += fraction(&p, &t.micros, &t.finer);
    }
    if (digits == 0 || *p != '\0')
        return TOOL_SECONDS_MALFORMED;
    *out = t;
    return TOOL_SECONDS_OK;
}

int64_t
tool_seconds_ms_up(const tool_seconds *t)
{
    bool rest = t->micros % 1000 != 0 || t->finer;
    return t->whole * 1000 + t->micros / 1000 + (rest ? 1 : 0);
}

int64_t
tool_seconds_ms_nearest(const tool_seconds *t)
{
    return t->whole * 1000 + (t->micros + 500) / 1000;
}
