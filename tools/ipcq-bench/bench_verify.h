/*
 * The result of an ipcq-bench run, added up from what its children recorded
 * in the shared memory, and the check that every item arrived exactly once:
 * per producer, the count and the checksum of what it put against those of
 * what every consumer got from it (tool_item.h), plus each consumer's count
 * of damaged and reordered items. With --check, the report's own figures
 * are checked too: each is there and they agree with one another.
 */
#ifndef IPCQ_BENCH_VERIFY_H
#define IPCQ_BENCH_VERIFY_H

#include "bench_args.h"
#include "bench_run.h"
#include "bench_shared.h"

/* Fills r's figures and checks from s; the broker's figures are left as
 * they are. */
void bench_verify(const bench_opts *o, bench_shared *s, bench_result *r);

#endif
