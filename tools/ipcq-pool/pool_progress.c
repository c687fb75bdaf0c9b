/* The progress line on a terminal (see pool_progress.h). */
#include "pool_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "proc.h"

void
pool_progress_start(pool_progress *p, const char *what, const char *unit, uint64_t total)
{
    p->on = isatty(STDERR_FILENO) == 1;
    p->drawn = false;
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->start_ms = tool_now_ms();
    p->last_ms = 0;
}

void
pool_progress_update(pool_progress *p, uint64_t done)
{
    if (!p->on)
        return;
    int64_t now = tool_now_ms();
    if (p->drawn && now - p->last_ms < POOL_PROGRESS_MS)
        return;
    p->last_ms = now;
    p->drawn = true;
    double secs = (double)(now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    fprintf(stderr, "\r%s: %llu/%llu %s, %.0f %s/s\033[K", p->what, (unsigned long long)done,
            (unsigned long long)p->total, p->unit, rate, p->unit);
    fflush(stderr);
}

void
pool_progress_end(pool_progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}
