/* One clock for every deadline: CLOCK_MONOTONIC, never wall time. */
#ifndef IPCQ_CLOCK_H
#define IPCQ_CLOCK_H
#include <stdint.h>

/* Monotonic time in microseconds. */
int64_t clock_now_us(void);

/* The absolute deadline, in monotonic µs, of a timeout given in ms counted
 * from now_us; IPCQ_FOREVER gives INT64_MAX. */
int64_t clock_deadline_us(int64_t now_us, int64_t timeout_ms);

#endif
