/*
 * ipcqd's flag values for fuzz_cli. Its converters (parse_size() and the
 * table of limit flags) are static in broker/main.c, which this file
 * includes whole, its main() renamed, so that they are fuzzed as ipcqd
 * runs them rather than as a copy.
 */
#include "fuzz.h"

#define main ipcqd_main
int ipcqd_main(int argc, char **argv);
#include "main.c"
#undef main

size_t
fuzz_ipcqd_limits(void)
{
    return sizeof limit_flags / sizeof limit_flags[0];
}

int
fuzz_ipcqd_limit(size_t which, const char *value, long long *min, long long *max, size_t *out)
{
    const limit_def *d = &limit_flags[which % fuzz_ipcqd_limits()];
    broker_config cfg;
    broker_config_defaults(&cfg);
    int rc = limit_flag(d, value, &cfg);
    *min = d->min;
    *max = d->max;
    *out = *(const size_t *)((const char *)&cfg + d->offset);
    return rc;
}

int
fuzz_ipcqd_size(const char *value, long long *out)
{
    return parse_size(value, 1, out);
}
