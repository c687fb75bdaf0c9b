/*
 * A private broker, as Python's Manager() starts a server process:
 * ipcq_broker_start() forks a child of the caller that runs the broker core
 * on a fresh unix:// endpoint (the native lane; ipc:// with
 * ipcq_broker_start_on) in a private directory (mode 0700), and
 * ipcq_broker_stop() ends it.
 *
 * - The child runs router_run() from the core objects linked (hidden) into
 *   libipcq; it does not exec ipcqd, so the library does not depend on
 *   where the daemon is installed. It creates a ZeroMQ context of its own
 *   and never touches one inherited from the caller; it keeps only stderr
 *   of the caller's descriptors (stdin and stdout become /dev/null), so it
 *   holds none of the caller's pipes or sockets open; it logs warnings and
 *   errors only.
 * - It dies with its starter: PR_SET_PDEATHSIG sends it SIGTERM, which it
 *   answers as ipcqd does (every blocked client answered, exit 0), and it
 *   removes its directory as it goes. Linux sends that signal when the
 *   *thread* that forked ends, so start the broker from a thread that lives
 *   as long as the broker is needed (the main thread, typically).
 * - It stays in the caller's process group, so a terminal's Ctrl-C (SIGINT)
 *   stops it cleanly along with the caller.
 * - Only the process that started it stops it: a copy of the handle that a
 *   forked child inherited is freed by ipcq_broker_stop(), the broker left
 *   alone (IPCQ_EINVAL).
 * - The starter reaps the broker. A caller that ignores SIGCHLD, or reaps
 *   with waitpid(-1), takes its exit status away: stop then reports
 *   IPCQ_ESYSTEM, and never signals a pid that may have been reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "ipcq.h"
#include "log.h"
#include "router.h"

#define START_TIMEOUT_MS 10000 /* until the broker answers a ping */
#define STOP_TIMEOUT_MS 10000  /* from SIGTERM until it has exited; then SIGKILL */
#define POLL_MS 2              /* how often start and stop look at the child */
#define SOCKET_NAME "broker.sock"
#define DIR_TEMPLATE "ipcq-private-XXXXXX"
/* The longest socket path that fits in a unix socket address, and so the
 * longest directory name that leaves room for "/broker.sock". */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define DIR_MAX (SOCKET_PATH_MAX - (sizeof "/" SOCKET_NAME - 1))

struct ipcq_broker {
    pid_t pid;             /* the broker process */
    pid_t owner;           /* the process that started it, and alone stops it */
    char dir[DIR_MAX + 1]; /* the private directory */
    char endpoint[sizeof "unix://" + SOCKET_PATH_MAX]; /* unix://DIR/broker.sock */
};

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Creates the private directory under base and names the endpoint in it,
 * scheme://DIR/broker.sock; -1 if base is unusable or the socket path would
 * not fit. */
static int
make_dir_under(ipcq_broker *b, const char *base, const char *scheme)
{
    if (base == NULL || base[0] != '/' || access(base, W_OK | X_OK) != 0)
        return -1;
    int n = snprintf(b->dir, sizeof b->dir, "%s/" DIR_TEMPLATE, base);
    if (n < 0 || (size_t)n >= sizeof b->dir)
        return -1; /* DIR/broker.sock would not fit in a socket address */
    if (mkdtemp(b->dir) == NULL)
        return -1;
    if (chmod(b->dir, 0700) != 0) { /* mkdtemp's 0700 is cut by the umask */
        rmdir(b->dir);
        return -1;
    }
    snprintf(b->endpoint, sizeof b->endpoint, "%s://%s/" SOCKET_NAME, scheme, b->dir);
    return 0;
}

/* Removes the socket (left behind if the broker was killed), its lock file
 * and the directory. */
static void
remove_dir(const char *dir)
{
    char path[DIR_MAX + sizeof "/" SOCKET_NAME ".lock"];
    snprintf(path, sizeof path, "%s/" SOCKET_NAME, dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/" SOCKET_NAME ".lock", dir);
    unlink(path);
    rmdir(dir);
}

/* stdin and stdout become /dev/null (stderr too, if the caller had it
 * closed: a descriptor 0-2 left free could become a broker socket), and
 * every other inherited descriptor is closed. */
static void
detach_descriptors(void)
{
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        if (fcntl(STDERR_FILENO, F_GETFD) < 0)
            dup2(null_fd, STDERR_FILENO);
    }
    if (close_range(3, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close((int)fd);
    }
}

/* The child: runs the broker until SIGTERM/SIGINT (or its starter's death),
 * cleans its directory and exits with router_run()'s status. SIGINT and
 * SIGTERM arrive blocked and stay so: router_run() reads them from a
 * signalfd, even one that came before it started. */
static _Noreturn void
run_child(const ipcq_broker *b, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(1); /* the starter is already gone */
    child_reset_signal_handlers();
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_SETMASK, &stop_signals, NULL);
    detach_descriptors();
    log_set_level(LOG_LEVEL_WARN);

    const char *binds[] = {b->endpoint};
    router_config cfg = {.binds = binds, .nbinds = 1, .spin_us = ROUTER_DEFAULT_SPIN_US};
    broker_config_defaults(&cfg.core);
    int status = router_run(&cfg);
    remove_dir(b->dir);
    _exit(status);
}

/* Waits for the child to exit, sending it sig first; SIGKILL once
 * timeout_ms has passed. IPCQ_OK if it exited with status 0. */
static int
end_child(pid_t pid, int sig, int64_t timeout_ms)
{
    /* Not an unreaped child of ours any more (a waitpid(-1) of the caller's
     * took it): its pid may name another process by now. */
    siginfo_t si;
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return IPCQ_ESYSTEM;
    kill(pid, sig);
    int64_t deadline = clock_now_us() + timeout_ms * 1000;
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) != pid) {
        if (r < 0 && errno != EINTR)
            return IPCQ_ESYSTEM;
        if (clock_now_us() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return IPCQ_ESYSTEM;
        }
        sleep_ms(POLL_MS);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? IPCQ_OK : IPCQ_ESYSTEM;
}

/* Waits until the broker answers a ping. IPCQ_ESYSTEM if it exited first
 * (it is reaped and b->pid set to 0) or did not answer in time. */
static int
wait_until_ready(ipcq_broker *b)
{
    ipcq_client *c = NULL;
    int rc = ipcq_client_open(&c, b->endpoint);
    if (rc != IPCQ_OK)
        return rc;
    char sock_path[SOCKET_PATH_MAX + 1];
    snprintf(sock_path, sizeof sock_path, "%s/" SOCKET_NAME, b->dir);
    int64_t deadline = clock_now_us() + (int64_t)START_TIMEOUT_MS * 1000;
    rc = IPCQ_ESYSTEM;
    for (;;) {
        int status;
        pid_t r = waitpid(b->pid, &status, WNOHANG);
        if (r == b->pid || (r < 0 && errno == ECHILD)) {
            b->pid = 0;
            break;
        }
        /* Ping only once the socket exists, so a broker that fails to start
         * is seen at once rather than after a ping's own timeout. */
        if (access(sock_path, F_OK) == 0 && ipcq_ping(c) == IPCQ_OK) {
            rc = IPCQ_OK;
            break;
        }
        if (clock_now_us() >= deadline)
            break;
        sleep_ms(POLL_MS);
    }
    ipcq_client_close(&c);
    return rc;
}

ipcq_status
ipcq_broker_start(ipcq_broker **out)
{
    return ipcq_broker_start_on(out, "unix");
}

ipcq_status
ipcq_broker_start_on(ipcq_broker **out, const char *scheme)
{
    if (out == NULL)
        return IPCQ_EINVAL;
    *out = NULL;
    if (scheme == NULL || (strcmp(scheme, "unix") != 0 && strcmp(scheme, "ipc") != 0))
        return IPCQ_EINVAL;
    ipcq_broker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return IPCQ_ENOMEM;
    if (make_dir_under(b, getenv("XDG_RUNTIME_DIR"), scheme) != 0 &&
        make_dir_under(b, "/tmp", scheme) != 0) {
        free(b);
        return IPCQ_ESYSTEM;
    }
    b->owner = getpid();

    /* Every signal stays blocked across fork(), so that none runs one of
     * the caller's handlers in the child before it has reset them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        run_child(b, b->owner);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        remove_dir(b->dir);
        free(b);
        return IPCQ_ESYSTEM;
    }
    b->pid = pid;

    if (wait_until_ready(b) != IPCQ_OK) {
        if (b->pid > 0)
            end_child(b->pid, SIGKILL, STOP_TIMEOUT_MS);
        remove_dir(b->dir);
        free(b);
        return IPCQ_ESYSTEM;
    }
    *out = b;
    return IPCQ_OK;
}

const char *
ipcq_broker_endpoint(const ipcq_broker *b)
{
    return b != NULL ? b->endpoint : ""; /* "": ipcq_client_open() refuses it */
}

int
ipcq_broker_pid(const ipcq_broker *b)
{
    return b != NULL ? (int)b->pid : -1;
}

ipcq_status
ipcq_broker_stop(ipcq_broker **bp)
{
    if (bp == NULL || *bp == NULL)
        return IPCQ_OK;
    ipcq_broker *b = *bp;
    *bp = NULL;
    int rc = IPCQ_EINVAL; /* a copy inherited through fork(): not ours to stop */
    if (b->owner == getpid()) {
        rc = end_child(b->pid, SIGTERM, STOP_TIMEOUT_MS);
        remove_dir(b->dir);
    }
    free(b);
    return rc;
}
