/* The chat programs' command line (see chat_cli.h). */
#include "chat_cli.h"

#include <stdio.h>
#include <string.h>

#include "tool_exit.h"
#include "tool_usage.h"

const char *chat_prog = "chat";

static void
default_endpoint(char *buf, size_t cap)
{
    if (ipcq_default_endpoint(buf, cap) != IPCQ_OK)
        snprintf(buf, cap, "(too long to show)");
}

static void
print_usage(const char *synopsis, const char *about)
{
    char ep[512];
    default_endpoint(ep, sizeof ep);
    printf("Usage: %s [--broker EP] %s\n\n%s\n"
           "Options:\n"
           "  --broker EP  the broker's endpoint (default: $%s, else %s)\n"
           "  --help       this text\n\n"
           "Exit status: 0 done, 1 name refused or no server answered, 2 usage error,\n"
           "3 broker unavailable, 4 any other error, 128+N stopped by signal N.\n",
           chat_prog, synopsis, about, IPCQ_BROKER_ENV, ep);
}

int
chat_args_parse(int argc, char **argv, const char *synopsis, const char *about, bool takes_name,
                chat_args *a)
{
    const char *slash = strrchr(argv[0], '/');
    chat_prog = slash != NULL ? slash + 1 : argv[0];
    memset(a, 0, sizeof *a);
    tool_usage usage = {.prog = chat_prog};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_usage(synopsis, about);
            return TOOL_EXIT_OK;
        } else if (strcmp(arg, "--broker") == 0 && i + 1 < argc) {
            a->broker = argv[++i];
        } else if (strncmp(arg, "--broker=", 9) == 0) {
            a->broker = arg + 9;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return tool_usage_error(&usage, NULL, "unknown or incomplete option '%s'", arg);
        } else if (takes_name && a->name == NULL) {
            a->name = arg;
        } else {
            return tool_usage_error(&usage, NULL, "unexpected argument '%s'", arg);
        }
    }
    return -1;
}

int
chat_fail(const ipcq_client *c, const char *what, int status)
{
    const char *detail = c != NULL ? ipcq_client_error(c) : "";
    if (detail[0] != '\0')
        fprintf(stderr, "%s: %s\n", chat_prog, detail);
    else
        fprintf(stderr, "%s: %s: %s\n", chat_prog, what, ipcq_strerror(status));
    return tool_exit_for(status);
}

int
chat_connect(const char *broker, ipcq_client **c)
{
    char ep[512];
    if (broker == NULL)
        default_endpoint(ep, sizeof ep);
    else
        snprintf(ep, sizeof ep, "%s", broker);
    int rc = ipcq_client_open(c, broker);
    if (rc == IPCQ_OK)
        rc = ipcq_ping(*c);
    if (rc == IPCQ_OK)
        return -1;
    fprintf(stderr, "%s: broker at %s: %s\n", chat_prog, ep, ipcq_strerror(rc));
    ipcq_client_close(c);
    return tool_exit_for(rc);
}
