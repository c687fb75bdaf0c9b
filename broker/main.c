/* ipcqd: flags, signals, and the loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "ipcq.h"
#include "log.h"
#include "router.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: ipcqd [OPTIONS]\n"
            "The ipcq broker: named, bounded FIFO queues for the processes of a machine.\n"
            "\n"
            "  --bind ENDPOINT      listen on ENDPOINT (ipc://PATH or tcp://HOST:PORT);\n"
            "                       repeatable; default: the per-user ipc socket\n"
            "  --max-item-size N    largest item in bytes (default 16777216)\n"
            "  --probe-ms MS        how often clients holding items or blocked are\n"
            "                       checked for liveness (default %d)\n"
            "  --log-level LEVEL    error, warn, info (default) or debug\n"
            "  --help               show this help\n"
            "  --version            show the version\n"
            "\n"
            "SIGINT or SIGTERM stops the broker: every blocked client is answered\n"
            "\"broker shutting down\", and ipcqd exits 0.\n",
            BROKER_DEFAULT_PROBE_MS);
}

static int
parse_size(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* Parses the flags into cfg (binds has room for argc entries) and runs the
 * broker; returns the exit status. */
static int
parse_and_run(int argc, char **argv, const char **binds)
{
    enum { OPT_BIND = 256, OPT_MAX_ITEM, OPT_PROBE, OPT_LOG, OPT_HELP, OPT_VERSION };
    static const struct option options[] = {
        {"bind", required_argument, NULL, OPT_BIND},
        {"max-item-size", required_argument, NULL, OPT_MAX_ITEM},
        {"probe-ms", required_argument, NULL, OPT_PROBE},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
    };
    router_config cfg = {0};
    broker_config_defaults(&cfg.core);
    int opt;
    long long v;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_BIND:
            binds[cfg.nbinds++] = optarg;
            break;
        case OPT_MAX_ITEM:
            if (parse_size(optarg, 0, &v) != 0) {
                fprintf(stderr, "ipcqd: --max-item-size: not a size in bytes: %s\n", optarg);
                return 2;
            }
            cfg.core.max_item_size = (size_t)v;
            break;
        case OPT_PROBE:
            if (parse_size(optarg, 1, &v) != 0) {
                fprintf(stderr, "ipcqd: --probe-ms: not a positive number: %s\n", optarg);
                return 2;
            }
            cfg.core.probe_interval_ms = v;
            break;
        case OPT_LOG:
            if (log_parse_level(optarg) < 0) {
                fprintf(stderr, "ipcqd: --log-level: expected error, warn, info or debug\n");
                return 2;
            }
            log_set_level((log_level)log_parse_level(optarg));
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("ipcqd %s\n", ipcq_version());
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipcqd: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    char default_ep[4200];
    if (cfg.nbinds == 0) {
        if (ipcq_builtin_endpoint(default_ep, sizeof default_ep) != 0) {
            fprintf(stderr, "ipcqd: the default endpoint path is too long\n");
            return 1;
        }
        binds[cfg.nbinds++] = default_ep;
    }
    cfg.binds = binds;

    signal(SIGPIPE, SIG_IGN);
    return router_run(&cfg);
}

int
main(int argc, char **argv)
{
    const char **binds = calloc((size_t)argc + 1, sizeof *binds);
    if (binds == NULL)
        return 1;
    int status = parse_and_run(argc, argv, binds);
    free(binds);
    return status;
}
