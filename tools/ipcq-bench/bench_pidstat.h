/*
 * What the kernel tells about a process (the broker): CPU time used, from
 * /proc/PID/stat, and resident memory, now and at its peak, from
 * /proc/PID/status. Read
 * before and after a run to charge the run's CPU time to the broker.
 */
#ifndef IPCQ_BENCH_PIDSTAT_H
#define IPCQ_BENCH_PIDSTAT_H

#include <stdbool.h>
#include <stdint.h>

/* utime + stime of pid, in seconds; false if unknown (no such process, or
 * /proc unreadable). */
bool bench_pid_cpu(int pid, double *seconds);

/* VmHWM of pid (its peak resident set), in KiB; false if unknown. */
bool bench_pid_peak_rss(int pid, int64_t *kib);

/* VmRSS of pid (its resident set now), in KiB; false if unknown. */
bool bench_pid_rss(int pid, int64_t *kib);

#endif
