/*
 * Programs run and captured, for the suites that test a tool by running it
 * (test_cli, test_pool_tool): fork and exec with pipes for stdin, stdout and
 * stderr (or a pseudo-terminal for stderr), the given bytes fed to stdin,
 * the output collected until both ends close, the program reaped and its
 * exit status and output checked. See harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Once stdout and stderr have closed, the longest a program may take to
 * exit. */
#define REAP_MS 10000

extern char **environ;

void
program_output_add(program_output *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A pseudo-terminal: fds[0] its master, read by the test; fds[1] its slave,
 * the program's stderr. */
static void
open_tty(int fds[2])
{
    fds[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(fds[0] >= 0);
    assert_int_equal(grantpt(fds[0]), 0);
    assert_int_equal(unlockpt(fds[0]), 0);
    fds[1] = open(ptsname(fds[0]), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(fds[1] >= 0);
}

void
program_start(program_run *r, const program_spec *sp)
{
    int in[2], out[2], err[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    if (sp->stderr_tty)
        open_tty(err);
    else
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    int full = sp->stdout_full ? open("/dev/full", O_WRONLY | O_CLOEXEC) : -1;
    memset(r, 0, sizeof *r);
    const char *slash = strrchr(sp->argv[0], '/');
    snprintf(r->name, sizeof r->name, "%s", slash != NULL ? slash + 1 : sp->argv[0]);
    program_output_add(&r->out, "", 0);
    program_output_add(&r->err, "", 0);
    r->started_ms = now_ms();
    fflush(NULL);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        if (sp->own_group)
            setpgid(0, 0);
        dup2(in[0], 0);
        dup2(full >= 0 ? full : out[1], 1);
        dup2(err[1], 2);
        execve(sp->argv[0], (char *const *)sp->argv, sp->envp != NULL ? sp->envp : environ);
        _exit(127);
    }
    if (sp->own_group)
        setpgid(r->pid, r->pid); /* here too: a signal to the group may follow at once */
    track_child(r->pid);
    if (full >= 0)
        close(full);
    close(in[0]), close(out[1]), close(err[1]);
    r->in_fd = in[1];
    r->out_fd = out[0];
    r->err_fd = err[0];
    r->in = sp->in;
    r->in_len = sp->in_len;
    r->in_open = sp->in_open;
    if (sp->stdout_closed)
        close_fd(&r->out_fd);
    if (r->in_len == 0 && !r->in_open)
        close_fd(&r->in_fd);
    else
        assert_int_equal(fcntl(r->in_fd, F_SETFL, O_NONBLOCK), 0);
}

/* Writes what stdin can take now. */
static void
feed(program_run *r)
{
    ssize_t n = write(r->in_fd, r->in + r->in_off, r->in_len - r->in_off);
    if (n > 0)
        r->in_off += (size_t)n;
    if ((n < 0 && errno != EAGAIN && errno != EINTR) || (r->in_off == r->in_len && !r->in_open))
        close_fd(&r->in_fd); /* EPIPE: the program reads no stdin */
}

bool
program_pump(program_run *r, int wait_ms)
{
    if (r->out_fd < 0 && r->err_fd < 0)
        return false;
    int feeding = r->in_off < r->in_len ? r->in_fd : -1;
    struct pollfd p[3] = {{feeding, POLLOUT, 0}, {r->out_fd, POLLIN, 0}, {r->err_fd, POLLIN, 0}};
    if (poll(p, 3, wait_ms) <= 0)
        return true;
    if (feeding >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
        feed(r);
    int *fds[2] = {&r->out_fd, &r->err_fd};
    program_output *bufs[2] = {&r->out, &r->err};
    for (int i = 0; i < 2; i++) {
        if (*fds[i] < 0 || !(p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[65536];
        ssize_t n = read(*fds[i], buf, sizeof buf);
        if (n > 0)
            program_output_add(bufs[i], buf, (size_t)n);
        else if (n == 0 || errno != EINTR) /* EIO: a terminal's last slave closed */
            close_fd(fds[i]);
    }
    return true;
}

void
program_write(program_run *r, const char *text)
{
    assert_true(r->in_open && r->in_fd >= 0 && r->in_off == r->in_len);
    size_t len = strlen(text), off = 0;
    while (off < len) { /* a test's lines are far under a pipe's buffer */
        ssize_t n = write(r->in_fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("%s: writing its stdin: %s", r->name, strerror(errno));
        off += (size_t)n;
    }
}

void
program_close_in(program_run *r)
{
    close_fd(&r->in_fd);
}

const char *
program_wait_out(program_run *r, const char *needle, int64_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    const char *at;
    while ((at = strstr(r->out.data, needle)) == NULL) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("%s: no '%s' on stdout within %lld ms; stdout '%s', stderr '%s'", r->name,
                     needle, (long long)timeout_ms, r->out.data, r->err.data);
        if (!program_pump(r, (int)(left < 100 ? left : 100)) && strstr(r->out.data, needle) == NULL)
            fail_msg("%s: its output ended without '%s'; stdout '%s', stderr '%s'", r->name, needle,
                     r->out.data, r->err.data);
    }
    return at;
}

void
program_finish(program_run *r, int64_t timeout_ms)
{
    int64_t deadline = r->started_ms + timeout_ms, left;
    while ((left = deadline - now_ms()) > 0 && program_pump(r, (int)left))
        ;
    if (left <= 0) {
        kill_child(r->pid);
        fail_msg("%s did not finish within %lld ms; stdout '%s', stderr '%s'", r->name,
                 (long long)timeout_ms, r->out.data, r->err.data);
    }
    close_fd(&r->in_fd);
    r->status = reap_child(r->pid, REAP_MS);
    r->elapsed_ms = now_ms() - r->started_ms;
}

void
program_free(program_run *r)
{
    close_fd(&r->in_fd);
    close_fd(&r->out_fd);
    close_fd(&r->err_fd);
    free(r->out.data);
    free(r->err.data);
    memset(&r->out, 0, sizeof r->out);
    memset(&r->err, 0, sizeof r->err);
}

void
expect_exit(const program_run *r, int want)
{
    if (r->status != want)
        fail_msg("%s exited %d, want %d; stdout '%s', stderr '%s'", r->name, r->status, want,
                 r->out.data, r->err.data);
}

void
expect_out(const program_run *r, const char *want)
{
    if (strcmp(r->out.data, want) != 0)
        fail_msg("stdout '%s', want '%s' (stderr '%s')", r->out.data, want, r->err.data);
}

void
expect_out_has(const program_run *r, const char *needle)
{
    if (strstr(r->out.data, needle) == NULL)
        fail_msg("stdout '%s' lacks '%s' (stderr '%s')", r->out.data, needle, r->err.data);
}

void
expect_err(const program_run *r, const char *want)
{
    if (strcmp(r->err.data, want) != 0)
        fail_msg("stderr '%s', want '%s'", r->err.data, want);
}

void
expect_err_has(const program_run *r, const char *needle)
{
    if (strstr(r->err.data, needle) == NULL)
        fail_msg("stderr '%s' lacks '%s'", r->err.data, needle);
}
