/* The option scanner of ipcq-pool (see pool_args.h). */
#include "pool_args.h"

#include <stdio.h>
#include <string.h>

#include "tool_exit.h"
#include "tool_numbers.h"

_Static_assert((int)POOL_BAD == (int)TOOL_EXIT_USAGE,
               "a usage error is reported as it is returned");

const tool_usage pool_usage = {.prog = "ipcq-pool", .sub_in_message = true};

/* A decimal integer in [min, max] from s[0..len), as tool_parse_int()
 * reads one: a list's entries are not NUL-terminated, and a word as long as
 * the buffer is no number anyway. */
static bool
parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return tool_parse_int(buf, min, max, out);
}

/* "1,4,10" into l. */
static bool
parse_list(const char *s, const pool_opt *o, pool_list *l)
{
    l->n = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (l->n == POOL_LIST_MAX || !parse_int(s, len, o->min, o->max, &l->v[l->n]))
            return false;
        l->n++;
        if (comma == NULL)
            return true;
        s = comma + 1;
    }
}

static int
store_value(const char *mode, const pool_opt *o, const char *value)
{
    switch (o->kind) {
    case POOL_ARG_INT:
        if (!parse_int(value, strlen(value), o->min, o->max, o->dst))
            return tool_usage_error(&pool_usage, mode,
                                    "invalid %s '%s': want an integer from %lld to %lld", o->name,
                                    value, (long long)o->min, (long long)o->max);
        return POOL_PARSED;
    case POOL_ARG_LIST:
        if (!parse_list(value, o, o->dst))
            return tool_usage_error(&pool_usage, mode,
                                    "invalid %s '%s': want up to %d integers from %lld to %lld, "
                                    "comma separated",
                                    o->name, value, POOL_LIST_MAX, (long long)o->min,
                                    (long long)o->max);
        return POOL_PARSED;
    case POOL_ARG_STRING:
        if (value[0] == '\0')
            return tool_usage_error(&pool_usage, mode, "empty %s", o->name);
        *(const char **)o->dst = value;
        return POOL_PARSED;
    case POOL_ARG_FLAG:
        *(bool *)o->dst = true;
        return POOL_PARSED;
    }
    return POOL_BAD;
}

/* The option that word names; *value is set for "--name=VALUE". */
static const pool_opt *
find_opt(const pool_opt *opts, size_t nopts, const char *word, const char **value)
{
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    *value = eq ? eq + 1 : NULL;
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, word, len) == 0)
            return &opts[i];
    return NULL;
}

int
pool_parse(const char *mode, int argc, char **argv, const pool_opt *opts, size_t nopts)
{
    bool seen[32] = {false};
    if (nopts > sizeof seen / sizeof seen[0])
        return POOL_BAD;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i], *value;
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
            return POOL_HELP;
        if (word[0] != '-')
            return tool_usage_error(&pool_usage, mode, "unexpected argument '%s'", word);
        const pool_opt *o = find_opt(opts, nopts, word, &value);
        if (o == NULL)
            return tool_usage_error(&pool_usage, mode, "unrecognized option '%s'", word);
        if (o->kind == POOL_ARG_FLAG && value != NULL)
            return tool_usage_error(&pool_usage, mode, "option '%s' takes no value", o->name);
        if (o->kind != POOL_ARG_FLAG && value == NULL) {
            if (i + 1 >= argc)
                return tool_usage_error(&pool_usage, mode, "option '%s' needs a value", o->name);
            value = argv[++i];
        }
        if (store_value(mode, o, value) != POOL_PARSED)
            return POOL_BAD;
        seen[o - opts] = true;
    }
    for (size_t i = 0; i < nopts; i++)
        if (opts[i].required && !seen[i])
            return tool_usage_error(&pool_usage, mode, "missing %s", opts[i].name);
    return POOL_PARSED;
}
