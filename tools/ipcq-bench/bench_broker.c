/* The broker of an ipcq-bench run (see bench_broker.h). */
#include "bench_broker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define IPCQD_START_MS 10000 /* until the started ipcqd answers a ping */
#define IPCQD_STOP_MS 10000  /* from SIGTERM to SIGKILL */
/* ipcqd's limits, out of the way of any run: the bench measures the broker,
 * not its admission control. */
#define IPCQD_MAX_QUEUES "100000000"
#define IPCQD_MAX_WAITERS "100000000"
#define IPCQD_MAX_MEMORY "64G"

/* Pings the broker at b->endpoint: once for --broker, else until it
 * answers while the ipcqd started for the run lives. TOOL_EXIT_OK or an
 * exit status after a message. */
static int
wait_answering(bench_broker *b)
{
    ipcq_client *c = NULL;
    int rc = ipcq_client_open(&c, b->endpoint);
    int64_t deadline = tool_now_ms() + IPCQD_START_MS;
    while (rc == IPCQ_OK && (rc = ipcq_ping(c)) != IPCQ_OK && b->daemon > 0) {
        int status;
        if (tool_reap(b->daemon, &status)) {
            b->daemon = 0;
            fprintf(stderr, "ipcq-bench: ipcqd exited with status %d before it answered\n", status);
            ipcq_client_close(&c);
            return TOOL_EXIT_ERROR;
        }
        if (tool_stop_signal() != 0 || tool_now_ms() >= deadline)
            break;
        rc = IPCQ_OK;
        tool_sleep_ms(10);
    }
    ipcq_client_close(&c);
    if (rc == IPCQ_OK)
        return TOOL_EXIT_OK;
    if (tool_stop_signal() != 0)
        return 128 + tool_stop_signal();
    if (b->daemon > 0)
        fprintf(stderr, "ipcq-bench: ipcqd did not answer on %s within %d ms: %s\n", b->endpoint,
                IPCQD_START_MS, ipcq_strerror(rc));
    else
        fprintf(stderr, "ipcq-bench: %s: %s\n", b->endpoint, ipcq_strerror(rc));
    return tool_exit_for(rc);
}

/* The broker holds a descriptor per client, and libzmq aborts the process
 * when accept() finds none left (EMFILE): the broker started here inherits
 * the soft limit of open files raised to the hard one. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Starts o->ipcqd on a scheme:// endpoint in a fresh directory. */
static int
start_ipcqd(const bench_opts *o, bench_broker *b, const char *scheme)
{
    snprintf(b->dir, sizeof b->dir, "/tmp/ipcq-bench-XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        fprintf(stderr, "ipcq-bench: making a directory for ipcqd: %s\n", strerror(errno));
        b->dir[0] = '\0';
        return TOOL_EXIT_ERROR;
    }
    snprintf(b->endpoint, sizeof b->endpoint, "%s://%s/broker.sock", scheme, b->dir);
    pid_t pid = tool_fork();
    if (pid < 0) {
        fprintf(stderr, "ipcq-bench: fork: %s\n", strerror(errno));
        return TOOL_EXIT_ERROR;
    }
    if (pid == 0) {
        const char *argv[] = {o->ipcqd,          "--bind",         b->endpoint,
                              "--max-queues",    IPCQD_MAX_QUEUES, "--max-waiters",
                              IPCQD_MAX_WAITERS, "--max-memory",   IPCQD_MAX_MEMORY,
                              "--log-level",     "warn",           NULL};
        execv(o->ipcqd, (char *const *)argv); /* execv() does not change them */
        fprintf(stderr, "ipcq-bench: running %s: %s\n", o->ipcqd, strerror(errno));
        _exit(TOOL_EXIT_ERROR);
    }
    b->daemon = pid;
    b->pid = (int)pid;
    b->kind = "ipcqd";
    return wait_answering(b);
}

int
bench_broker_start(const bench_opts *o, bench_broker *b, const char *scheme)
{
    *b = (bench_broker){.kind = "shared"};
    if (o->broker != NULL) {
        snprintf(b->endpoint, sizeof b->endpoint, "%s", o->broker);
        b->pid = o->broker_pid;
        return wait_answering(b);
    }
    raise_fd_limit();
    if (o->ipcqd != NULL)
        return start_ipcqd(o, b, scheme);
    int rc = ipcq_broker_start_on(&b->lib, scheme);
    if (rc != IPCQ_OK) {
        fprintf(stderr, "ipcq-bench: starting a private broker: %s\n", ipcq_strerror(rc));
        return TOOL_EXIT_ERROR;
    }
    b->kind = "private";
    b->pid = ipcq_broker_pid(b->lib);
    snprintf(b->endpoint, sizeof b->endpoint, "%s", ipcq_broker_endpoint(b->lib));
    return TOOL_EXIT_OK;
}

bool
bench_broker_owned(const bench_broker *b)
{
    return b->lib != NULL || b->daemon > 0;
}

void
bench_broker_stop(bench_broker *b)
{
    ipcq_broker_stop(&b->lib);
    if (b->daemon > 0)
        tool_stop_children(&b->daemon, 1, IPCQD_STOP_MS);
    if (b->dir[0] != '\0') {
        /* What a killed ipcqd leaves behind. */
        char path[sizeof b->dir + 32];
        snprintf(path, sizeof path, "%s/broker.sock", b->dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/broker.sock.lock", b->dir);
        unlink(path);
        rmdir(b->dir);
        b->dir[0] = '\0';
    }
}

const char *
bench_broker_limit_hint(const bench_broker *b, int status)
{
    if (b->lib == NULL || (status != IPCQ_ELIMIT && status != IPCQ_EMEMLIMIT))
        return "";
    return " (the private broker keeps ipcqd's default limits: give --ipcqd PATH to start an "
           "ipcqd without them, or --broker)";
}
