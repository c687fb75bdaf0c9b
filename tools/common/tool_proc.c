/* Stop signals and children of a tool's run (see tool_proc.h). */
#include "tool_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool_clock.h"
#include "tool_exit.h"

static volatile sig_atomic_t stop_signal;
static pid_t tool_pid;

/* Records the signal. A process forked by someone else with this handler in
 * place (a Pool worker) is not the tool: it takes the default action, as
 * it would have without the tool's handler. */
static void
on_stop_signal(int sig)
{
    int saved = errno;
    if (getpid() != tool_pid) {
        signal(sig, SIG_DFL);
        raise(sig); /* delivered when the handler returns */
    } else if (stop_signal == 0) {
        stop_signal = sig;
    }
    errno = saved;
}

void
tool_signals_install(void)
{
    tool_pid = getpid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking poll() returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader that goes away shows as EPIPE */
}

int
tool_stop_signal(void)
{
    return stop_signal;
}

pid_t
tool_fork(void)
{
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
            _exit(TOOL_EXIT_ERROR); /* the tool is already gone */
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

int
tool_exit_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return TOOL_EXIT_ERROR;
}

bool
tool_reap(pid_t pid, int *status)
{
    int raw;
    pid_t r;
    while ((r = waitpid(pid, &raw, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r != pid)
        return false;
    *status = tool_exit_status(raw);
    return true;
}

void
tool_stop_children(pid_t *pids, size_t n, int64_t grace_ms)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    int64_t deadline = tool_now_ms() + grace_ms;
    bool killed = false;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            int status;
            if (pids[i] > 0 && tool_reap(pids[i], &status))
                pids[i] = 0;
            left += pids[i] > 0;
        }
        if (left == 0)
            return;
        if (!killed && tool_now_ms() >= deadline) {
            for (size_t i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            killed = true;
        }
        tool_sleep_ms(2);
    }
}

pid_t
tool_parent_of(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses. */
    const char *close_paren = strrchr(line, ')');
    int ppid;
    char state;
    if (close_paren == NULL || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}
