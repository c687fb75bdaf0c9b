/* The chat programs' processes and signals (see chat_proc.h). */
#include "chat_proc.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
signal_set(sigset_t *set, bool with_child)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    if (with_child)
        sigaddset(set, SIGCHLD);
}

void
chat_signals_block(void)
{
    sigset_t set;
    signal_set(&set, true);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int
wait_signal(const sigset_t *set, int64_t timeout_ms)
{
    struct timespec ts = {(time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0; /* EAGAIN: none in time; EINTR: look again later */
}

int
chat_take_signal(int64_t timeout_ms)
{
    sigset_t set;
    signal_set(&set, true);
    return wait_signal(&set, timeout_ms);
}

pid_t
chat_fork(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
        _exit(4); /* the parent is already gone */
    return pid;
}

bool
chat_reap(pid_t pid, int *status)
{
    int raw;
    pid_t r;
    while ((r = waitpid(pid, &raw, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r != pid)
        return false;
    *status = WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : WEXITSTATUS(raw);
    return true;
}

int
chat_stop_child(pid_t pid, int sig, int64_t grace_ms)
{
    if (sig != 0)
        kill(pid, sig);
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    int64_t deadline = chat_now_ms() + grace_ms;
    int status;
    while (!chat_reap(pid, &status)) {
        int64_t left = deadline - chat_now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            deadline = INT64_MAX;
            left = 50;
        }
        /* SIGCHLD only: a stop signal stays pending for the caller. */
        wait_signal(&child, left < 50 ? left : 50);
    }
    return status;
}

int64_t
chat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
