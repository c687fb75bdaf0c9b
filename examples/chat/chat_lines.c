/* Lines of stdin read beside a stop signal (see chat_lines.h). */
#include "chat_lines.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int
chat_lines_open(chat_lines *r)
{
    memset(r, 0, sizeof *r);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    r->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    return r->sigfd >= 0 ? 0 : -1;
}

void
chat_lines_close(chat_lines *r)
{
    if (r->sigfd >= 0)
        close(r->sigfd);
    r->sigfd = -1;
}

/* Moves the first n bytes of the buffer out (the line, if out) and drops
 * them and the newline after them, if any. */
static void
take(chat_lines *r, size_t n, char *out)
{
    if (out != NULL) {
        memcpy(out, r->buf, n);
        out[n] = '\0';
    }
    size_t used = n < r->len ? n + 1 : n;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
}

/* A line the buffer holds whole, or one too long for it. */
static bool
buffered_line(chat_lines *r, char *out, chat_line_kind *kind)
{
    char *nl = memchr(r->buf, '\n', r->len);
    if (nl != NULL) {
        bool skipped = r->skipping;
        take(r, (size_t)(nl - r->buf), skipped ? NULL : out);
        r->skipping = false;
        *kind = skipped ? CHAT_LINE_LONG : CHAT_LINE;
        return true;
    }
    if (r->len == sizeof r->buf) { /* no newline within the longest line */
        take(r, r->len, NULL);
        r->skipping = true;
        return false; /* said once, when its newline comes */
    }
    if (r->eof && r->len > 0) { /* a last line without its newline */
        take(r, r->len, r->skipping ? NULL : out);
        *kind = r->skipping ? CHAT_LINE_LONG : CHAT_LINE;
        r->skipping = false;
        return true;
    }
    return false;
}

chat_line_kind
chat_lines_next(chat_lines *r, char *out, int *sig)
{
    for (;;) {
        chat_line_kind kind;
        if (buffered_line(r, out, &kind))
            return kind;
        if (r->eof)
            return CHAT_LINE_EOF;
        struct pollfd p[2] = {{r->sigfd, POLLIN, 0}, {0, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return CHAT_LINE_ERROR;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                *sig = (int)si.ssi_signo;
                return CHAT_LINE_SIGNAL;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(0, r->buf + r->len, sizeof r->buf - r->len);
            if (n == 0)
                r->eof = true;
            else if (n > 0)
                r->len += (size_t)n;
            else if (errno != EINTR && errno != EAGAIN)
                return CHAT_LINE_ERROR;
        }
    }
}
