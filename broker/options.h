/* ipcqd's command line, read into the router's configuration without
 * opening anything, so that tests and fuzzers run it as ipcqd does. */
#ifndef IPCQ_OPTIONS_H
#define IPCQ_OPTIONS_H
#include <stddef.h>

#include "keyfile.h"
#include "log.h"
#include "router.h"

typedef struct ipcqd_options {
    router_config router; /* its binds point into argv or default_endpoint */
    const char **binds;   /* owned: room for every argument */
    char default_endpoint[4200];
    char curve_secret[KEYFILE_Z85_LEN + 1]; /* router.access.curve_secret points here */
    log_level log_level;
} ipcqd_options;

/* What options_parse() found: run the broker, or stop at once with exit
 * status 0 (after --help or --version); any other value is the exit status
 * after a one-line error on stderr (2: usage, 1: a file could not be read). */
enum { OPTIONS_RUN = 0, OPTIONS_DONE = -1 };

/* Reads argv into *o; options_free() it whatever the outcome. */
int options_parse(int argc, char **argv, ipcqd_options *o);
void options_free(ipcqd_options *o);

/* A decimal number >= min, with an optional K, M or G (powers of 1024);
 * -1 if s is not one or it does not fit a long long. */
int options_parse_size(const char *s, long long min, long long *out);

/* A flag that sets a size_t limit of broker_config. */
typedef struct options_limit {
    const char *name; /* without the leading "--" */
    long long min, max;
    size_t offset; /* of the field in broker_config */
} options_limit;

#define OPTIONS_NLIMITS 5
/* --max-item-size, --max-memory, --max-queues, --max-waiters, --max-name-length */
extern const options_limit options_limits[OPTIONS_NLIMITS];

/* Reads a limit flag's value into its field of cfg; 2 after saying why. */
int options_read_limit(const options_limit *d, const char *value, broker_config *cfg);

#endif
