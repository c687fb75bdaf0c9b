/*
 * ipcqd's command line: every flag read, checked and turned into the
 * router's configuration, with a one-line error for anything wrong. No
 * socket is opened here, so a test or a fuzzer can call it.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "ipcq.h"
#include "keyfile.h"
#include "log.h"
#include "record.h"
#include "wire.h"
#include "options.h"

static void
usage(FILE *out)
{
    char ep[4200];
    if (endpoint_default(ep, sizeof ep) != 0)
        snprintf(ep, sizeof ep, "(none: the path is too long)");
    fprintf(out,
            "Usage: ipcqd [OPTIONS]\n"
            "The ipcq broker: named, bounded FIFO queues for the processes of a machine.\n"
            "\n"
            "  --bind ENDPOINT      listen on ENDPOINT (unix://PATH, the native local lane;\n"
            "                       ipc://PATH, ZeroMQ; or tcp://HOST:PORT); repeatable;\n"
            "                       default: the per-user unix:// socket,\n"
            "                       unix://$XDG_RUNTIME_DIR/ipcq/broker.sock, else\n"
            "                       unix:///tmp/ipcq-$UID/broker.sock; here and now:\n"
            "                       %s\n"
            "  --max-item-size N    largest item in bytes (default 16M)\n"
            "  --max-memory N       memory the broker may hold for items, waiters and\n"
            "                       queues, estimated; past it puts fail \"over memory\n"
            "                       limit\" (default 1G)\n"
            "  --max-queues N       queues the broker may hold (default %d)\n"
            "  --max-waiters N      blocked getters, putters or joiners per queue, each\n"
            "                       (default %d)\n"
            "  --max-name-length N  bytes of a queue name, 1 to 255 (default 255)\n"
            "                       Sizes take a K, M or G suffix (powers of 1024).\n"
            "  --group GROUP        let GROUP use the local sockets too (unix://, ipc://:\n"
            "                       socket 0660, the default directory 0710); default:\n"
            "                       the owner only\n"
            "  --curve-key FILE     the broker's key pair (ipcq keygen): TCP binds use\n"
            "                       CURVE encryption, and let in only clients whose\n"
            "  --allowed-keys DIR   public keys (.pub files) are in DIR\n"
            "  --insecure           allow a TCP bind beyond loopback without CURVE\n"
            "  --probe-ms MS        how often clients holding items or blocked are\n"
            "                       checked for liveness (default %d)\n"
            "  --spin-us US         after serving requests, how long the loop keeps\n"
            "                       looking for more before it sleeps: a CPU cost that\n"
            "                       spares one-item clients a wake-up (default %d;\n"
            "                       0 to 1000000, 0: sleep at once)\n"
            "  --data-dir DIR       durable: every queue and item is kept in a log in\n"
            "                       DIR (created if need be), each change written\n"
            "                       before it is acknowledged, and rebuilt at start\n"
            "  --fsync WHEN         with --data-dir: always (default: a change is on\n"
            "                       disk before it is acknowledged), everysec (an OS\n"
            "                       crash may lose the last second; a broker crash\n"
            "                       never does) or no (the OS decides)\n"
            "  --repair             with --data-dir: start even if the log is damaged,\n"
            "                       keeping every record that is whole (the damaged\n"
            "                       file is kept beside as .damaged); without it a\n"
            "                       damaged log stops the start, naming file and offset\n"
            "  --segment-size N     with --data-dir: size of the log's files (default\n"
            "                       64M, 4K to 1G); an item must fit in one\n"
            "  --log-level LEVEL    error, warn, info (default) or debug\n"
            "  --help               show this help\n"
            "  --version            show the version\n"
            "\n"
            "SIGINT or SIGTERM stops the broker: every blocked client is answered\n"
            "\"broker shutting down\", and ipcqd exits 0.\n"
            "\n"
            "Under systemd (a Type=notify service; built with libsystemd) ipcqd says\n"
            "READY=1 once every endpoint is bound and the queues of --data-dir are\n"
            "rebuilt, and STOPPING=1 when it stops; when its stderr is the journal,\n"
            "lines carry their level as a syslog priority instead of \"ipcqd: LEVEL:\".\n"
            "See ipcqd(8) (man ipcqd).\n",
            ep, BROKER_DEFAULT_MAX_QUEUES, BROKER_DEFAULT_MAX_WAITERS, BROKER_DEFAULT_PROBE_MS,
            ROUTER_DEFAULT_SPIN_US);
}

/* Digits first: strtoll alone would skip blanks and take a sign. */
int
options_parse_size(const char *s, long long min, long long *out)
{
    if (!(s[0] >= '0' && s[0] <= '9'))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v < min)
        return -1;
    int shift = 0;
    if (*end != '\0') {
        /* Not strchr: it finds the terminator too, which a blank (0x20 &
         * ~0x20) would match, making "64 " 64 TiB. */
        static const char units[] = "KMG";
        const char *u = memchr(units, end[0] & ~0x20, sizeof units - 1);
        if (u == NULL || end[1] != '\0')
            return -1;
        shift = 10 * (int)(u - units + 1);
    }
    if (v > (LLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

/* The limit flags, in the order of their options below. */
const options_limit options_limits[OPTIONS_NLIMITS] = {
    /* The socket's message limit is this plus IPCQ_MESSAGE_OVERHEAD. */
    {"max-item-size", 0, LLONG_MAX - IPCQ_MESSAGE_OVERHEAD, offsetof(broker_config, max_item_size)},
    {"max-memory", 1, LLONG_MAX, offsetof(broker_config, max_memory)},
    {"max-queues", 1, LLONG_MAX, offsetof(broker_config, max_queues)},
    {"max-waiters", 1, LLONG_MAX, offsetof(broker_config, max_waiters)},
    {"max-name-length", 1, IPCQ_NAME_MAX, offsetof(broker_config, max_name_len)},
};

int
options_read_limit(const options_limit *d, const char *value, broker_config *core)
{
    long long v;
    if (options_parse_size(value, d->min, &v) != 0 || v > d->max) {
        fprintf(stderr, "ipcqd: --%s: want a number from %lld to %lld: %s\n", d->name, d->min,
                d->max, value);
        return 2;
    }
    *(size_t *)((char *)core + d->offset) = (size_t)v;
    return 0;
}

/* The group named (or numbered) by s into policy; 2 after saying why. */
static int
group_flag(const char *s, bind_policy *policy)
{
    struct group *g = getgrnam(s);
    char *end;
    errno = 0;
    unsigned long id = g ? 0 : strtoul(s, &end, 10);
    if (g == NULL && (errno || end == s || *end != '\0' || id > (gid_t)-2)) {
        fprintf(stderr, "ipcqd: --group: no such group: %s\n", s);
        return 2;
    }
    policy->has_group = true;
    policy->group = g ? g->gr_gid : (gid_t)id;
    return 0;
}

/* Checks the CURVE flags and reads the broker's key into secret; 2 (usage)
 * or 1 (unreadable key) after saying why. */
static int
load_curve(const char *key_file, router_config *cfg, char secret[KEYFILE_Z85_LEN + 1])
{
    if ((key_file == NULL) != (cfg->allowed_keys == NULL)) {
        fprintf(stderr, "ipcqd: --curve-key and --allowed-keys go together\n");
        return 2;
    }
    if (key_file == NULL)
        return 0;
    char public_key[KEYFILE_Z85_LEN + 1], err[4400];
    struct stat st;
    if (keyfile_read(key_file, public_key, secret, err, sizeof err) != 0) {
        fprintf(stderr, "ipcqd: --curve-key: %s\n", err);
        return 1;
    }
    if (stat(cfg->allowed_keys, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ipcqd: --allowed-keys: %s: not a directory\n", cfg->allowed_keys);
        return 1;
    }
    cfg->access.curve_secret = secret;
    return 0;
}

/* --fsync, --repair or --segment-size (name without "--") into opt; 2
 * after saying why. */
static int
store_flag(const char *name, const char *value, store_options *opt)
{
    long long v;
    if (strcmp(name, "repair") == 0) {
        opt->repair = true;
    } else if (strcmp(name, "fsync") == 0) {
        static const char *const modes[] = {"always", "everysec", "no"};
        size_t i = 0;
        while (i < 3 && strcmp(value, modes[i]) != 0)
            i++;
        if (i == 3) {
            fprintf(stderr, "ipcqd: --fsync: expected always, everysec or no: %s\n", value);
            return 2;
        }
        opt->fsync = i == 0 ? STORE_FSYNC_ALWAYS : i == 1 ? STORE_FSYNC_EVERYSEC : STORE_FSYNC_NO;
    } else if (options_parse_size(value, 0, &v) != 0 || v < STORE_MIN_SEGMENT_SIZE ||
               v > STORE_MAX_SEGMENT_SIZE) {
        /* (the bounds checked after the unit: 64K is 65536, not 64) */
        fprintf(stderr, "ipcqd: --segment-size: want a size from 4K to 1G: %s\n", value);
        return 2;
    } else {
        opt->segment_size = (uint32_t)v;
    }
    return 0;
}

/* The durable flags make sense together; 2 after saying why not. */
static int
check_durable(const router_config *cfg, const char *durable_flag)
{
    if (cfg->data_dir == NULL) {
        if (durable_flag == NULL)
            return 0;
        fprintf(stderr, "ipcqd: %s needs --data-dir\n", durable_flag);
        return 2;
    }
    /* The largest item's record: its bytes, the queue name, a fixed part. */
    uint64_t segment =
        cfg->store.segment_size ? cfg->store.segment_size : STORE_DEFAULT_SEGMENT_SIZE;
    uint64_t need = record_item_size(IPCQ_NAME_MAX, cfg->core.max_item_size);
    if (need > STORE_MAX_PAYLOAD(segment)) {
        fprintf(stderr,
                "ipcqd: --max-item-size %zu does not fit in a log segment of %llu bytes: "
                "raise --segment-size or lower --max-item-size\n",
                cfg->core.max_item_size, (unsigned long long)segment);
        return 2;
    }
    return 0;
}

int
options_parse(int argc, char **argv, ipcqd_options *o)
{
    enum {
        OPT_BIND = 256,
        OPT_MAX_ITEM,
        OPT_MAX_MEMORY,
        OPT_MAX_QUEUES,
        OPT_MAX_WAITERS,
        OPT_MAX_NAME,
        OPT_GROUP,
        OPT_CURVE_KEY,
        OPT_ALLOWED_KEYS,
        OPT_INSECURE,
        OPT_PROBE,
        OPT_SPIN,
        OPT_LOG,
        OPT_DATA_DIR,
        OPT_FSYNC,
        OPT_REPAIR,
        OPT_SEGMENT,
        OPT_HELP,
        OPT_VERSION
    };
    static const struct option options[] = {
        {"bind", required_argument, NULL, OPT_BIND},
        {"max-item-size", required_argument, NULL, OPT_MAX_ITEM},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"max-queues", required_argument, NULL, OPT_MAX_QUEUES},
        {"max-waiters", required_argument, NULL, OPT_MAX_WAITERS},
        {"max-name-length", required_argument, NULL, OPT_MAX_NAME},
        {"group", required_argument, NULL, OPT_GROUP},
        {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
        {"allowed-keys", required_argument, NULL, OPT_ALLOWED_KEYS},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"probe-ms", required_argument, NULL, OPT_PROBE},
        {"spin-us", required_argument, NULL, OPT_SPIN},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"fsync", required_argument, NULL, OPT_FSYNC},
        {"repair", no_argument, NULL, OPT_REPAIR},
        {"segment-size", required_argument, NULL, OPT_SEGMENT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
    };
    *o = (ipcqd_options){.log_level = LOG_LEVEL_INFO};
    router_config *cfg = &o->router;
    broker_config_defaults(&cfg->core);
    cfg->spin_us = ROUTER_DEFAULT_SPIN_US;
    o->binds = calloc((size_t)argc + 1, sizeof *o->binds);
    if (o->binds == NULL) {
        fprintf(stderr, "ipcqd: out of memory\n");
        return 1;
    }
    int opt, rc = 0;
    long long v;
    const char *curve_key = NULL;
    const char *durable_flag = NULL; /* a flag that needs --data-dir */
    optind = 0;                      /* getopt starts afresh on every call */
    while (rc == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_BIND:
            o->binds[cfg->nbinds++] = optarg;
            break;
        case OPT_MAX_ITEM:
        case OPT_MAX_MEMORY:
        case OPT_MAX_QUEUES:
        case OPT_MAX_WAITERS:
        case OPT_MAX_NAME:
            rc = options_read_limit(&options_limits[opt - OPT_MAX_ITEM], optarg, &cfg->core);
            break;
        case OPT_GROUP:
            rc = group_flag(optarg, &cfg->access);
            break;
        case OPT_CURVE_KEY:
            curve_key = optarg;
            break;
        case OPT_ALLOWED_KEYS:
            cfg->allowed_keys = optarg;
            break;
        case OPT_INSECURE:
            cfg->access.insecure = true;
            break;
        case OPT_PROBE:
            if (options_parse_size(optarg, 1, &v) != 0) {
                fprintf(stderr, "ipcqd: --probe-ms: not a positive number: %s\n", optarg);
                return 2;
            }
            cfg->core.probe_interval_ms = v;
            break;
        case OPT_SPIN:
            if (options_parse_size(optarg, 0, &v) != 0 || v > ROUTER_MAX_SPIN_US) {
                fprintf(stderr, "ipcqd: --spin-us: not a number from 0 to %d: %s\n",
                        ROUTER_MAX_SPIN_US, optarg);
                return 2;
            }
            cfg->spin_us = v;
            break;
        case OPT_LOG:
            if (log_parse_level(optarg) < 0) {
                fprintf(stderr, "ipcqd: --log-level: expected error, warn, info or debug\n");
                return 2;
            }
            o->log_level = (log_level)log_parse_level(optarg);
            break;
        case OPT_DATA_DIR:
            if (optarg[0] == '\0') {
                fprintf(stderr, "ipcqd: --data-dir: empty path\n");
                return 2;
            }
            cfg->data_dir = optarg;
            break;
        case OPT_FSYNC:
        case OPT_REPAIR:
        case OPT_SEGMENT:
            rc = store_flag(opt == OPT_FSYNC    ? "fsync"
                            : opt == OPT_REPAIR ? "repair"
                                                : "segment-size",
                            optarg, &cfg->store);
            durable_flag = opt == OPT_FSYNC    ? "--fsync"
                           : opt == OPT_REPAIR ? "--repair"
                                               : "--segment-size";
            break;
        case OPT_HELP:
            usage(stdout);
            return OPTIONS_DONE;
        case OPT_VERSION:
            printf("ipcqd %s\n", ipcq_version());
            return OPTIONS_DONE;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (rc == 0)
        rc = load_curve(curve_key, cfg, o->curve_secret);
    if (rc == 0)
        rc = check_durable(cfg, durable_flag);
    if (rc != 0)
        return rc;
    if (optind < argc) {
        fprintf(stderr, "ipcqd: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    if (cfg->nbinds == 0) {
        if (endpoint_default(o->default_endpoint, sizeof o->default_endpoint) != 0) {
            fprintf(stderr, "ipcqd: the default endpoint path is too long\n");
            return 1;
        }
        o->binds[cfg->nbinds++] = o->default_endpoint;
    }
    cfg->binds = o->binds;
    return OPTIONS_RUN;
}

void
options_free(ipcqd_options *o)
{
    free(o->binds);
    o->binds = NULL;
}
