/* Stop signals, children and clocks of an ipcq-bench run (see bench_proc.h). */
#include "bench_proc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"

static volatile sig_atomic_t stop_signal;

static void
on_stop_signal(int sig)
{
    if (stop_signal == 0)
        stop_signal = sig;
}

void
bench_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read() returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
bench_stop_signal(void)
{
    return stop_signal;
}

pid_t
bench_fork(void)
{
    /* Stop signals stay blocked across fork(), so that none runs the tool's
     * handler in the child before it has the default action back. */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigprocmask(SIG_BLOCK, &stops, &old);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(BENCH_EXIT_ERROR); /* the tool is already gone */
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

bool
bench_reap(pid_t pid, int *status)
{
    int raw;
    pid_t r;
    while ((r = waitpid(pid, &raw, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r != pid)
        return false;
    if (WIFEXITED(raw))
        *status = WEXITSTATUS(raw);
    else if (WIFSIGNALED(raw))
        *status = 128 + WTERMSIG(raw);
    else
        *status = BENCH_EXIT_ERROR;
    return true;
}

void
bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void
bench_stop_children(pid_t *pids, size_t n, int64_t grace_ms)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    uint64_t deadline = bench_now_ns() + (uint64_t)grace_ms * 1000000u;
    bool killed = false;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            int status;
            if (pids[i] > 0 && bench_reap(pids[i], &status))
                pids[i] = 0;
            left += pids[i] > 0;
        }
        if (left == 0)
            return;
        if (!killed && bench_now_ns() >= deadline) {
            for (size_t i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            killed = true;
        }
        bench_sleep_ms(2);
    }
}

uint64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
bench_exit_for(int status)
{
    return status == IPCQ_EUNAVAILABLE ? BENCH_EXIT_UNAVAILABLE : BENCH_EXIT_ERROR;
}
