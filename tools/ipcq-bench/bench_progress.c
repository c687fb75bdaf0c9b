/* The progress line on a terminal (see bench_progress.h). */
#include "bench_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "proc.h"

void
bench_progress_start(bench_progress *p, const char *label, const char *noun, uint64_t total)
{
    *p = (bench_progress){
        .on = isatty(STDERR_FILENO) == 1, .label = label, .noun = noun, .total = total};
    p->start_ns = tool_now_ns();
}

void
bench_progress_update(bench_progress *p, uint64_t done)
{
    if (!p->on)
        return;
    uint64_t now = tool_now_ns();
    if (p->drawn && now - p->last_ns < (uint64_t)BENCH_PROGRESS_MS * 1000000u)
        return;
    p->last_ns = now;
    p->drawn = true;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    if (p->total > 0)
        fprintf(stderr, "\ripcq-bench: %s: %llu/%llu %s, %.0f/s\033[K", p->label,
                (unsigned long long)done, (unsigned long long)p->total, p->noun, rate);
    else
        fprintf(stderr, "\ripcq-bench: %s: %llu %s in %.1f s, %.0f/s\033[K", p->label,
                (unsigned long long)done, p->noun, secs, rate);
    fflush(stderr);
}

void
bench_progress_end(bench_progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}
