/*
 * The chat programs' signals, for the fork discipline of ipcq-pool
 * (SPEC §6): every child is reaped by its pid, none outlives its parent,
 * and Ctrl-C leaves nothing behind.
 *
 * Each program blocks SIGINT, SIGTERM and SIGCHLD first thing, and its
 * children inherit the mask: a signal is then taken when a process asks for
 * it (sigtimedwait between bounded waits, or a signalfd next to stdin), so
 * that no handler can run in the middle of a library call and none can be
 * missed between a check and a wait. Children are forked, reaped and
 * stopped with tools/common's tool_proc.h (tool_fork keeps this mask).
 */
#ifndef CHAT_PROC_H
#define CHAT_PROC_H

#include <stdint.h>

/* The longest a process waits on the broker before it looks for a signal. */
#define CHAT_SLICE_MS 200

/* Blocks SIGINT, SIGTERM and SIGCHLD; ignores SIGPIPE. */
void chat_signals_block(void);

/* Waits at most timeout_ms (0: only looks) for SIGINT, SIGTERM or SIGCHLD
 * and returns it; 0 if none came. */
int chat_take_signal(int64_t timeout_ms);

#endif
