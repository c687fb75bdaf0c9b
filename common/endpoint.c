#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcq.h"

static int
fits(int written, size_t cap)
{
    return written >= 0 && (size_t)written < cap ? 0 : -1;
}

int
endpoint_default_dir(char *buf, size_t cap)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg != NULL && xdg[0] == '/')
        return fits(snprintf(buf, cap, "%s/ipcq", xdg), cap);
    return fits(snprintf(buf, cap, "/tmp/ipcq-%lu", (unsigned long)getuid()), cap);
}

int
endpoint_default(char *buf, size_t cap)
{
    char dir[4096];
    if (endpoint_default_dir(dir, sizeof dir) != 0)
        return -1;
    return fits(snprintf(buf, cap, "unix://%s/broker.sock", dir), cap);
}

ipcq_status
ipcq_default_endpoint(char *buf, size_t cap)
{
    const char *env = getenv(IPCQ_BROKER_ENV);
    if (env != NULL && env[0] != '\0') {
        if (strlen(env) >= cap)
            return IPCQ_EINVAL;
        memcpy(buf, env, strlen(env) + 1);
        return IPCQ_OK;
    }
    char tmp[4200];
    if (endpoint_default(tmp, sizeof tmp) != 0 || strlen(tmp) >= cap)
        return IPCQ_EINVAL;
    memcpy(buf, tmp, strlen(tmp) + 1);
    return IPCQ_OK;
}
