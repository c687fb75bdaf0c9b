/*
 * The tools' one clock: CLOCK_MONOTONIC, never wall time, read in
 * nanoseconds or milliseconds, and a plain sleep.
 */
#ifndef IPCQ_TOOL_CLOCK_H
#define IPCQ_TOOL_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds, and milliseconds. */
uint64_t tool_now_ns(void);
int64_t tool_now_ms(void);

/* Sleeps ms milliseconds (returns early on a signal). */
void tool_sleep_ms(long ms);

#endif
