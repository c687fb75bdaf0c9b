/* The monotonic clock of the tools (see tool_clock.h). */
#include "tool_clock.h"

#include <time.h>

uint64_t
tool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t
tool_now_ms(void)
{
    return (int64_t)(tool_now_ns() / 1000000u);
}

void
tool_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
