/* The tools' usage errors (see tool_usage.h). */
#include "tool_usage.h"

#include <stdarg.h>
#include <stdio.h>

#include "tool_exit.h"

int
tool_usage_error(const tool_usage *u, const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", u->prog);
    if (sub != NULL && u->sub_in_message)
        fprintf(stderr, "%s: ", sub);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (sub == NULL)
        fprintf(stderr, "\nTry '%s --help'.\n", u->prog);
    else if (u->hint_prog_help)
        fprintf(stderr, "\nTry '%s --help' or '%s %s --help'.\n", u->prog, u->prog, sub);
    else
        fprintf(stderr, "\nTry '%s %s --help'.\n", u->prog, sub);
    return TOOL_EXIT_USAGE;
}
