/* What a process the library forks (a private broker, a pool worker) does
 * first, so that the caller's program does not run in it. */
#include "child.h"

#include <signal.h>
#include <string.h>

/* Signals the caller's program installed handlers for would run the caller's
 * code in the broker: they get the default action back. Faults keep theirs
 * (a sanitizer's or crash reporter's), SIGPIPE is ignored as ipcqd does, and
 * signals the caller ignores stay ignored. */
void
child_reset_signal_handlers(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
            sig == SIGABRT || sig == SIGSYS || sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    signal(SIGPIPE, SIG_IGN);
}
