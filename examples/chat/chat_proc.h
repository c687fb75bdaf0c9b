/*
 * The chat programs' processes, with the fork discipline of ipcq-pool
 * (SPEC §6): every child is reaped by its pid, none outlives its parent,
 * and Ctrl-C leaves nothing behind.
 *
 * Each program blocks SIGINT, SIGTERM and SIGCHLD first thing, and its
 * children inherit the mask: a signal is then taken when a process asks for
 * it (sigtimedwait between bounded waits, or a signalfd next to stdin), so
 * that no handler can run in the middle of a library call and none can be
 * missed between a check and a wait.
 */
#ifndef CHAT_PROC_H
#define CHAT_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest a process waits on the broker before it looks for a signal. */
#define CHAT_SLICE_MS 200

/* Blocks SIGINT, SIGTERM and SIGCHLD; ignores SIGPIPE. */
void chat_signals_block(void);

/* Waits at most timeout_ms (0: only looks) for SIGINT, SIGTERM or SIGCHLD
 * and returns it; 0 if none came. */
int chat_take_signal(int64_t timeout_ms);

/* Forks. The child (0 returned) is SIGKILLed if its parent dies, and exits
 * at once if the parent is already gone. -1 if fork() failed. */
pid_t chat_fork(void);

/* Reaps pid if it has ended, without waiting: true then, *status its exit
 * code or 128 + the signal that ended it. */
bool chat_reap(pid_t pid, int *status);

/* Sends sig to pid (none if 0), waits up to grace_ms for it to end, then
 * SIGKILLs it; reaps it and returns its status as chat_reap() gives it. */
int chat_stop_child(pid_t pid, int sig, int64_t grace_ms);

/* Monotonic milliseconds. */
int64_t chat_now_ms(void);

#endif
