#include "clock.h"

#include <time.h>

int64_t
clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_deadline_us(int64_t now_us, int64_t timeout_ms)
{
    if (timeout_ms < 0 || timeout_ms > (INT64_MAX - now_us) / 1000)
        return INT64_MAX;
    return now_us + timeout_ms * 1000;
}
