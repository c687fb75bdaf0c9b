/*
 * ipcqd's flag values for fuzz_cli, read by the broker's own options.c
 * (the table of limit flags and its size parser), as ipcqd reads them.
 */
#include "fuzz.h"
#include "options.h"

size_t
fuzz_ipcqd_limits(void)
{
    return OPTIONS_NLIMITS;
}

int
fuzz_ipcqd_limit(size_t which, const char *value, long long *min, long long *max, size_t *out)
{
    const options_limit *d = &options_limits[which % OPTIONS_NLIMITS];
    broker_config cfg;
    broker_config_defaults(&cfg);
    int rc = options_read_limit(d, value, &cfg);
    *min = d->min;
    *max = d->max;
    *out = *(const size_t *)((const char *)&cfg + d->offset);
    return rc;
}

int
fuzz_ipcqd_size(const char *value, long long *out)
{
    return options_parse_size(value, 1, out);
}
