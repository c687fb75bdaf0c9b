/* The subcommand option scanner and the value converters (see cli_args.h). */
#include "cli_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcq.h"
#include "tool_exit.h"
#include "tool_numbers.h"

_Static_assert((int)CLI_USAGE == (int)TOOL_EXIT_USAGE,
               "a usage error is reported as it is returned");

typedef struct option_def {
    const char *name;
    unsigned bit;
    bool takes_value;
} option_def;

static const option_def option_table[] = {
    {"--timeout", OPT_TIMEOUT, true},
    {"--nowait", OPT_NOWAIT, false},
    {"--maxsize", OPT_MAXSIZE, true},
    {"--lines", OPT_LINES, false},
    {"-n", OPT_COUNT, true},
    {"--json", OPT_JSON, false},
    {"--immediate", OPT_IMMEDIATE, false},
    {"--help", OPT_HELP, false},
    {"-h", OPT_HELP, false},
    {"--broker", OPT_BROKER, true},
    {"--prometheus", OPT_PROMETHEUS, false},
    {"--once", OPT_ONCE, false},
    {"--sort", OPT_SORT, true},
    {"--interval", OPT_INTERVAL, true},
};

const tool_usage cli_usage = {.prog = "ipcq", .hint_prog_help = true};

/* Decimal seconds ("0.25") to milliseconds, rounding up; 0 means nowait. */
static int
parse_seconds(const char *cmd, const char *opt, const char *s, int64_t *ms)
{
    tool_seconds t;
    switch (tool_parse_seconds(s, &t)) {
    case TOOL_SECONDS_OK:
        *ms = tool_seconds_ms_up(&t);
        return CLI_OK;
    case TOOL_SECONDS_NEGATIVE:
        return tool_usage_error(&cli_usage, cmd, "invalid %s '%s': seconds must not be negative",
                                opt, s);
    case TOOL_SECONDS_TOO_LARGE:
        return tool_usage_error(&cli_usage, cmd, "invalid %s '%s': too large", opt, s);
    case TOOL_SECONDS_MALFORMED:
        break;
    }
    return tool_usage_error(&cli_usage, cmd, "invalid %s '%s': want decimal seconds, such as 0.25",
                            opt, s);
}

/* A decimal integer in [min, max]. */
static int
parse_integer(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
              int64_t *value)
{
    if (!tool_parse_int(s, min, max, value))
        return tool_usage_error(&cli_usage, cmd,
                                "invalid %s '%s': want an integer from %lld to %lld", opt, s,
                                (long long)min, (long long)max);
    return CLI_OK;
}

/* The definition matching word; *inline_value is set for "--name=VALUE" and
 * "-nVALUE". NULL if none matches. */
static const option_def *
find_option(const char *word, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
        const option_def *d = &option_table[i];
        size_t n = strlen(d->name);
        if (strncmp(word, d->name, n) != 0)
            continue;
        if (word[n] == '\0')
            return d;
        if (d->takes_value && word[1] == '-' && word[n] == '=') {
            *inline_value = word + n + 1;
            return d;
        }
        if (d->takes_value && word[1] != '-') {
            *inline_value = word + n;
            return d;
        }
    }
    return NULL;
}

/* Stores the value of option d in o. */
static int
apply_option(const char *cmd, cli_opts *o, const option_def *d, const char *value)
{
    switch (d->bit) {
    case OPT_TIMEOUT:
        return parse_seconds(cmd, d->name, value, &o->timeout_ms);
    case OPT_NOWAIT:
        o->timeout_ms = IPCQ_NOWAIT;
        return CLI_OK;
    case OPT_MAXSIZE:
        return parse_integer(cmd, d->name, value, 0, INT64_MAX, &o->maxsize);
    case OPT_COUNT:
        return parse_integer(cmd, d->name, value, 1, INT32_MAX, &o->count);
    case OPT_SORT:
        o->sort = value;
        return CLI_OK;
    case OPT_INTERVAL: {
        int rc = parse_seconds(cmd, d->name, value, &o->interval_ms);
        if (rc == CLI_OK && o->interval_ms == 0)
            rc = tool_usage_error(&cli_usage, cmd, "invalid %s '%s': must be more than 0", d->name,
                                  value);
        return rc;
    }
    case OPT_BROKER:
        if (value[0] == '\0')
            return tool_usage_error(&cli_usage, cmd, "empty --broker endpoint");
        o->broker = value;
        return CLI_OK;
    default:
        return CLI_OK;
    }
}

/* Handles the option word argv[*i], taking its value from the next word if
 * it needs one. */
static int
scan_option(const char *cmd, int argc, char **argv, int *i, unsigned allowed, cli_opts *o)
{
    const char *word = argv[*i], *value;
    const option_def *d = find_option(word, &value);
    if (d == NULL)
        return tool_usage_error(&cli_usage, cmd, "unrecognized option '%s'", word);
    if (!(d->bit & (allowed | OPT_HELP | OPT_BROKER)))
        return tool_usage_error(&cli_usage, cmd, "%s does not take option '%s'", cmd, d->name);
    if (d->takes_value && value == NULL) {
        if (*i + 1 >= argc)
            return tool_usage_error(&cli_usage, cmd, "option '%s' needs a value", d->name);
        value = argv[++*i];
    }
    o->seen |= d->bit;
    return apply_option(cmd, o, d, value);
}

int
cli_parse(const char *cmd, int argc, char **argv, unsigned allowed, cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = IPCQ_FOREVER;
    o->count = 1;
    o->interval_ms = 1000;
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    if (o->args == NULL) {
        fprintf(stderr, "ipcq: out of memory\n");
        return CLI_ERROR;
    }
    bool options_done = false;
    int rc = CLI_OK;
    for (int i = 0; i < argc && rc == CLI_OK && !(o->seen & OPT_HELP); i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0)
            options_done = true;
        else if (options_done || a[0] != '-' || a[1] == '\0')
            o->args[o->nargs++] = a;
        else
            rc = scan_option(cmd, argc, argv, &i, allowed, o);
    }
    if (rc == CLI_OK && !(o->seen & OPT_HELP) && (o->seen & OPT_TIMEOUT) && (o->seen & OPT_NOWAIT))
        rc = tool_usage_error(&cli_usage, cmd, "--timeout and --nowait exclude each other");
    if (rc == CLI_OK && !(o->seen & OPT_HELP) && (o->seen & OPT_JSON) && (o->seen & OPT_PROMETHEUS))
        rc = tool_usage_error(&cli_usage, cmd, "--json and --prometheus exclude each other");
    if (rc != CLI_OK)
        cli_opts_free(o);
    return rc;
}

void
cli_opts_free(cli_opts *o)
{
    free(o->args);
    o->args = NULL;
    o->nargs = 0;
}
