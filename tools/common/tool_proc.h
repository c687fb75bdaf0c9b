/*
 * The processes of a forking tool's run (ipcq-pool, ipcq-bench; SPEC §6):
 * the stop signals, forking a child that can never outlive the tool, reaping
 * by pid, and stopping every child of a run.
 *
 * SIGINT and SIGTERM only record that they came (tool_stop_signal()); every
 * wait of the tool is bounded (TOOL_SLICE_MS) so that its loop notices and
 * stops the run. Children are reaped by pid, never with waitpid(-1), so
 * that the private broker's and the Pool's children stay theirs to reap.
 * A child that cannot outlive the tool exits TOOL_EXIT_ERROR (tool_exit.h).
 */
#ifndef IPCQ_TOOL_PROC_H
#define IPCQ_TOOL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest the tool blocks before it looks at the stop flag again. */
#define TOOL_SLICE_MS 100

/* Installs the SIGINT and SIGTERM handlers and ignores SIGPIPE. */
void tool_signals_install(void);

/* 0, or the first stop signal (SIGINT, SIGTERM) that arrived. */
int tool_stop_signal(void);

/* Forks a child of the tool. In the child (0 returned) SIGINT and SIGTERM
 * have their default action again and the child is SIGKILLed if the tool
 * dies; stop signals stay blocked across fork() so that none can run the
 * tool's handler in the child. -1 if fork() failed. */
pid_t tool_fork(void);

/* Reaps pid if it has ended, without waiting: true then, with *status its
 * exit status, or 128 + the signal that killed it. */
bool tool_reap(pid_t pid, int *status);

/* The exit status that a wait status (waitpid()'s) stands for: the exit
 * code, or 128 + the signal that ended the process; TOOL_EXIT_ERROR for
 * neither. */
int tool_exit_status(int status);

/* Stops the children pids[0..n) (entries <= 0 are skipped): SIGTERM, then
 * SIGKILL to those still running after grace_ms; reaps every one and sets
 * its entry to 0. */
void tool_stop_children(pid_t *pids, size_t n, int64_t grace_ms);

/* The parent pid of pid, as the kernel sees it; -1 if unknown. */
pid_t tool_parent_of(pid_t pid);

#endif
