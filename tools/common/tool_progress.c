/* The progress line on a terminal (see tool_progress.h). */
#include "tool_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "tool_clock.h"

void
tool_progress_start(tool_progress *p, const tool_progress_style *style, const char *label,
                    const char *unit, uint64_t total)
{
    *p = (tool_progress){.style = *style,
                         .on = isatty(STDERR_FILENO) == 1,
                         .label = label,
                         .unit = unit,
                         .total = total};
    p->start_ns = tool_now_ns();
}

void
tool_progress_update(tool_progress *p, uint64_t done)
{
    if (!p->on)
        return;
    uint64_t now = tool_now_ns();
    if (p->drawn && now - p->last_ns < (uint64_t)p->style.interval_ms * 1000000u)
        return;
    p->last_ns = now;
    p->drawn = true;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    const char *rate_unit = p->style.unit_per_s ? p->unit : "";
    const char *rate_space = p->style.unit_per_s ? " " : "";
    if (p->total > 0)
        fprintf(stderr, "\r%s%s: %llu/%llu %s, %.0f%s%s/s\033[K", p->style.prefix, p->label,
                (unsigned long long)done, (unsigned long long)p->total, p->unit, rate, rate_space,
                rate_unit);
    else
        fprintf(stderr, "\r%s%s: %llu %s in %.1f s, %.0f%s%s/s\033[K", p->style.prefix, p->label,
                (unsigned long long)done, p->unit, secs, rate, rate_space, rate_unit);
    fflush(stderr);
}

void
tool_progress_end(tool_progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}
