/*
 * The processes of an ipcq-bench run: exit statuses, the stop signals,
 * forking a child that can never outlive the tool, reaping by pid, and
 * stopping every child of a run.
 *
 * SIGINT and SIGTERM only record that they came (bench_stop_signal()); the
 * tool's waits are bounded (BENCH_SLICE_MS) so that its loop notices and
 * stops the run. Children get the default action back, so a terminal's
 * Ctrl-C, which reaches the whole process group, ends them at once.
 * Children are reaped by pid, never with waitpid(-1), so that the private
 * broker stays the library's to reap.
 */
#ifndef IPCQ_BENCH_PROC_H
#define IPCQ_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses of ipcq-bench and of its children. A stop signal ends it
 * with 128 + the signal. */
enum {
    BENCH_EXIT_OK = 0,          /* done, and every item checked out */
    BENCH_EXIT_CHECK = 1,       /* an item was lost, duplicated, reordered or damaged */
    BENCH_EXIT_USAGE = 2,       /* usage error */
    BENCH_EXIT_UNAVAILABLE = 3, /* broker unreachable */
    BENCH_EXIT_ERROR = 4,       /* any other error */
};

/* The longest the tool blocks before it looks at the stop flag again. */
#define BENCH_SLICE_MS 50

/* Installs the SIGINT and SIGTERM handlers and ignores SIGPIPE. */
void bench_signals_install(void);

/* 0, or the first stop signal (SIGINT, SIGTERM) that arrived. */
int bench_stop_signal(void);

/* Forks a child. In the child (0 returned) SIGINT and SIGTERM have their
 * default action and the child is SIGKILLed if the tool dies. -1 if fork()
 * failed. */
pid_t bench_fork(void);

/* Reaps pid if it has ended, without waiting: true then, with *status its
 * exit status, or 128 + the signal that killed it. */
bool bench_reap(pid_t pid, int *status);

/* Stops the children pids[0..n) (entries <= 0 are skipped): SIGTERM, then
 * SIGKILL to those still running after grace_ms; reaps every one and sets
 * its entry to 0. */
void bench_stop_children(pid_t *pids, size_t n, int64_t grace_ms);

/* Monotonic nanoseconds, comparable between the processes of the machine. */
uint64_t bench_now_ns(void);

void bench_sleep_ms(long ms);

/* The exit status for a library status: 3 for IPCQ_EUNAVAILABLE, 4 else. */
int bench_exit_for(int status);

#endif
