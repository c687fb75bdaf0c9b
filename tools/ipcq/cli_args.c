/* The subcommand option scanner and the value converters (see cli_args.h). */
#include "cli_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcq.h"

/* Whole seconds beyond this are refused, so that the milliseconds fit. */
#define MAX_WHOLE_SECONDS 1000000000000000LL

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
};

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ipcq: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "\nTry 'ipcq --help' or 'ipcq %s --help'.\n", cmd);
    else
        fputs("\nTry 'ipcq --help'.\n", stderr);
    return CLI_USAGE;
}

/* Reads digits at *p into *value (at most 3 of them, scaled to
 * milliseconds); sets *more when a nonzero digit lies beyond the third. */
static int
fraction_ms(const char **p, int64_t *value, bool *more)
{
    int n = 0;
    *value = 0;
    *more = false;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (n < 3)
            *value = *value * 10 + (**p - '0');
        else if (**p != '0')
            *more = true;
    }
    for (int k = n; k < 3; k++)
        *value *= 10;
    return n;
}

/* Decimal seconds ("0.25") to milliseconds, rounding up; 0 means nowait. */
static int
parse_seconds(const char *cmd, const char *opt, const char *s, int64_t *ms)
{
    if (s[0] == '-')
        return cli_usage_error(cmd, "invalid %s '%s': seconds must not be negative", opt, s);
    const char *p = s;
    int64_t whole = 0, frac = 0;
    int digits = 0;
    bool round_up = false;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_WHOLE_SECONDS)
            return cli_usage_error(cmd, "invalid %s '%s': too large", opt, s);
    }
    if (*p == '.') {
        p++;
        digits += fraction_ms(&p, &frac, &round_up);
    }
    if (digits == 0 || *p != '\0')
        return cli_usage_error(cmd, "invalid %s '%s': want decimal seconds, such as 0.25", opt, s);
    *ms = whole * 1000 + frac + (round_up ? 1 : 0);
    return CLI_OK;
}

/* A decimal integer in [min, max]. */
static int
parse_integer(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
              int64_t *value)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool ok = (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && *end == '\0' && errno == 0;
    if (!ok || v < min || v > max)
        return cli_usage_error(cmd, "invalid %s '%s': want an integer from %lld to %lld", opt, s,
                               (long long)min, (long long)max);
    *value = v;
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
    case OPT_BROKER:
        if (value[0] == '\0')
            return cli_usage_error(cmd, "empty --broker endpoint");
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
        return cli_usage_error(cmd, "unrecognized option '%s'", word);
    if (!(d->bit & (allowed | OPT_HELP | OPT_BROKER)))
        return cli_usage_error(cmd, "%s does not take option '%s'", cmd, d->name);
    if (d->takes_value && value == NULL) {
        if (*i + 1 >= argc)
            return cli_usage_error(cmd, "option '%s' needs a value", d->name);
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
        rc = cli_usage_error(cmd, "--timeout and --nowait exclude each other");
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
