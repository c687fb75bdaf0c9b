/* The chat programs' signals (see chat_proc.h). */
#include "chat_proc.h"

#include <signal.h>
#include <time.h>

static void
stop_and_child_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGCHLD);
}

void
chat_signals_block(void)
{
    sigset_t set;
    stop_and_child_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
chat_take_signal(int64_t timeout_ms)
{
    sigset_t set;
    stop_and_child_signals(&set);
    struct timespec ts = {(time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &ts);
    return sig > 0 ? sig : 0; /* EAGAIN: none in time; EINTR: look again later */
}
