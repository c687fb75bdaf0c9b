/* The terminal of ipcq top (see cli_term.h). */
#include "cli_term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define ENTER "\033[?1049h\033[?25l"        /* the alternate screen; hide the cursor */
#define LEAVE "\033[0m\033[?25h\033[?1049l" /* plain attributes; show it; the main screen */

static volatile sig_atomic_t stop_signal, resized;
static sigset_t held;     /* the signals that term_wait() lets in */
static sigset_t old_mask; /* the mask before term_open() */

static void
on_signal(int sig)
{
    if (sig == SIGWINCH)
        resized = 1;
    else if (stop_signal == 0)
        stop_signal = sig;
}

static void
read_size(cli_term *t)
{
    struct winsize ws;
    t->rows = 24;
    t->cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        t->rows = ws.ws_row;
        t->cols = ws.ws_col;
    }
}

void
term_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void
term_open(cli_term *t)
{
    memset(t, 0, sizeof *t);
    sigemptyset(&held);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGTERM);
    sigaddset(&held, SIGWINCH);
    sigprocmask(SIG_BLOCK, &held, &old_mask);
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: ppoll ends */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        raw.c_cc[VSUSP] = _POSIX_VDISABLE; /* Ctrl-Z would leave the terminal raw */
        t->keys = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
    }
    read_size(t);
    term_write(ENTER, strlen(ENTER));
}

int
term_stop_signal(void)
{
    return stop_signal;
}

term_event
term_wait(cli_term *t, int64_t timeout_ms, int *key)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec ts = {(time_t)(timeout_ms / 1000), (long)(timeout_ms % 1000) * 1000000L};
    struct pollfd p = {t->keys ? STDIN_FILENO : -1, POLLIN, 0};
    sigset_t let_in = old_mask;
    sigdelset(&let_in, SIGINT);
    sigdelset(&let_in, SIGTERM);
    sigdelset(&let_in, SIGWINCH);
    for (;;) {
        int n = stop_signal || resized ? 0 : ppoll(&p, 1, &ts, &let_in);
        if (stop_signal)
            return TERM_STOP;
        if (resized) {
            resized = 0;
            read_size(t);
            return TERM_RESIZE;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TERM_TIMEOUT;
        unsigned char ch;
        if (p.revents & POLLIN && read(STDIN_FILENO, &ch, 1) == 1) {
            *key = ch;
            return TERM_KEY;
        }
        t->keys = false; /* stdin ended or failed: no more keys */
        p.fd = -1;
    }
}

void
term_close(cli_term *t)
{
    term_write(LEAVE, strlen(LEAVE));
    if (t->keys)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}
