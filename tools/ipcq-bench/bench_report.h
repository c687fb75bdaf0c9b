/*
 * What ipcq-bench prints at the end of a run: a few lines for a person, or
 * (--json) one JSON object on one line, with the same figures. Latencies
 * are per call, in microseconds; figures that are unknown (the CPU time and
 * RSS of a --broker given without --broker-pid) are "unknown" / null.
 * A scale scenario (bench_scale.h) prints its facts, one a line or one key
 * each, and whether its checks held. While it runs, ipcq-bench shows a
 * progress line (tool_progress.h) in the style below.
 */
#ifndef IPCQ_BENCH_REPORT_H
#define IPCQ_BENCH_REPORT_H

#include <stdio.h>

#include "bench_args.h"
#include "bench_run.h"
#include "bench_scale.h"
#include "tool_progress.h"

/* "ipcq-bench: async: 120/500 items got, 4000/s", redrawn every 250 ms. */
extern const tool_progress_style bench_progress_style;

void bench_report_text(FILE *out, const bench_opts *o, const bench_result *r);
void bench_report_json(FILE *out, const bench_opts *o, const bench_result *r);

void bench_report_scale_text(FILE *out, const bench_opts *o, const bench_scale_result *r);
void bench_report_scale_json(FILE *out, const bench_opts *o, const bench_scale_result *r);

#endif
