/* CPU time and peak RSS of a process, from /proc (see bench_pidstat.h). */
#include "bench_pidstat.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool
bench_pid_cpu(int pid, double *seconds)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses;
     * utime and stime are fields 14 and 15, the 12th and 13th after it. */
    const char *p = strrchr(line, ')');
    if (p == NULL)
        return false;
    unsigned long long utime, stime;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return false;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        return false;
    *seconds = (double)(utime + stime) / (double)ticks;
    return true;
}

/* A "Name: N kB" line of /proc/PID/status, in KiB. */
static bool
status_kib(int pid, const char *name, int64_t *kib)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    size_t len = strlen(name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        long long v;
        if (strncmp(line, name, len) == 0 && sscanf(line + len, ": %lld kB", &v) == 1) {
            *kib = v;
            found = true;
        }
    }
    fclose(f);
    return found;
}

bool
bench_pid_peak_rss(int pid, int64_t *kib)
{
    return status_kib(pid, "VmHWM", kib);
}

bool
bench_pid_rss(int pid, int64_t *kib)
{
    return status_kib(pid, "VmRSS", kib);
}
