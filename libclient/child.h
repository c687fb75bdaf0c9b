/* Set-up for the processes the library forks. */
#ifndef IPCQ_CHILD_H
#define IPCQ_CHILD_H

/* Signals the caller's program installed handlers for would run the caller's
 * code in the child: they get the default action back (faults keep theirs,
 * ignored signals stay ignored, SIGPIPE is ignored). */
void child_reset_signal_handlers(void);

#endif
