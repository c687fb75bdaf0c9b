/*
 * The broker of an ipcq-bench run, one of three:
 *   - the one at --broker (its pid known only from --broker-pid);
 *   - with --ipcqd PATH, that program, started for the run on an endpoint in
 *     a fresh 0700 directory with its limits (queues, waiters, memory) out of
 *     the way, and stopped after with SIGTERM; it dies with the tool;
 *   - else the library's private broker (ipcq_broker_start_on), which keeps
 *     ipcqd's default limits.
 * A broker started here listens on the scheme the caller names: "ipc" for
 * the scenarios that speak ZeroMQ themselves, "unix" for the lane's.
 * A broker started here gets the soft limit of open files raised to the hard
 * one (it needs a descriptor per client: a hundred processes and more).
 * bench_broker_start() returns once the broker answers a ping.
 */
#ifndef IPCQ_BENCH_BROKER_H
#define IPCQ_BENCH_BROKER_H

#include <stdbool.h>
#include <sys/types.h>

#include "bench_args.h"
#include "ipcq.h"

typedef struct bench_broker {
    char endpoint[512];
    int pid;          /* 0: unknown */
    const char *kind; /* "private", "ipcqd" or "shared" */
    ipcq_broker *lib; /* the library's private broker */
    pid_t daemon;     /* the ipcqd started here */
    char dir[64];     /* its directory */
} bench_broker;

/* Starts (or names) the broker of the run, on scheme ("ipc" or "unix") if
 * started here. TOOL_EXIT_OK, or the exit status after a message on stderr. */
int bench_broker_start(const bench_opts *o, bench_broker *b, const char *scheme);

/* Whether the run started the broker (and may leave its queues behind). */
bool bench_broker_owned(const bench_broker *b);

/* Stops the broker the run started; a no-op for --broker. */
void bench_broker_stop(bench_broker *b);

/* A hint to follow a refusal for a broker limit (IPCQ_ELIMIT,
 * IPCQ_EMEMLIMIT) from the private broker; "" otherwise. */
const char *bench_broker_limit_hint(const bench_broker *b, int status);

#endif
