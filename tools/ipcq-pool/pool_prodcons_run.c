/* The loop of prodcons: children, their records, and the steps to the end
 * (see pool_prodcons.c for the whole design). */
#include "pool_prodcons.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_modes.h"
#include "tool_clock.h"
#include "tool_exit.h"
#include "tool_proc.h"

#define STOP_GRACE_MS 2000 /* SIGTERM, then SIGKILL */
#define IDLE_CHECK_MS 50   /* how often a missing item is looked for */

__attribute__((format(printf, 3, 4))) static void
fail_run(prodcons *pc, int status, const char *fmt, ...)
{
    tool_progress_end(&pc->progress);
    va_list ap;
    va_start(ap, fmt);
    fputs("ipcq-pool: prodcons: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (pc->failure == 0)
        pc->failure = status;
}

/* ---- children ----------------------------------------------------------- */

/* Forks with the parent's handle closed, so that no ZeroMQ thread of the
 * parent runs across fork(): libzmq is not fork-safe, and children forked
 * while the parent's I/O threads ran were seen, under load, to fail with "no
 * connection" and then block in zmq_ctx_term. The handle opens again on
 * the parent's next call (pool_prodcons_client). */
static pid_t
fork_child(prodcons *pc)
{
    ipcq_client_close(&pc->c);
    return tool_fork();
}

int
pool_prodcons_client(prodcons *pc)
{
    return pc->c != NULL ? IPCQ_OK : ipcq_client_open(&pc->c, pc->role.endpoint);
}

/* Fails the run after a call on the parent's handle failed. */
static void
call_failed(prodcons *pc, int rc)
{
    const char *detail = ipcq_client_error(pc->c);
    fail_run(pc, tool_exit_for(rc), "%s", detail[0] ? detail : ipcq_strerror(rc));
}

/* In a child: closes the parent's ends of the record pipes. */
static void
close_parent_fds(prodcons *pc)
{
    for (int i = 0; i < pc->nconsumers; i++)
        if (pc->consumers[i].fd >= 0)
            close(pc->consumers[i].fd);
}

static bool
spawn_consumer(prodcons *pc, uint32_t index)
{
    pool_record *unacked = calloc(pc->role.batch, sizeof *unacked);
    int fds[2];
    if (unacked == NULL) {
        errno = ENOMEM;
        return false;
    }
    if (pipe(fds) != 0) {
        free(unacked);
        return false;
    }
    pid_t pid = fork_child(pc);
    if (pid == 0) {
        close_parent_fds(pc);
        close(fds[0]);
        _exit(pool_consumer_run(&pc->role, index, fds[1]));
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        free(unacked);
        return false;
    }
    consumer *k = &pc->consumers[pc->nconsumers++];
    memset(k, 0, sizeof *k);
    k->pid = pid;
    k->fd = fds[0];
    k->index = index;
    k->unacked = unacked;
    return true;
}

static bool
spawn_producer(prodcons *pc, uint32_t index)
{
    uint64_t count = pool_share((uint64_t)pc->o.items, (uint32_t)pc->o.producers, index);
    pid_t pid = fork_child(pc);
    if (pid == 0) {
        close_parent_fds(pc);
        _exit(pool_producer_run(&pc->role, index, count));
    }
    if (pid < 0)
        return false;
    pc->producers[index] = pid;
    return true;
}

void
pool_prodcons_stop(prodcons *pc)
{
    size_t n = (size_t)pc->o.producers + (size_t)pc->nconsumers, k = 0;
    pid_t *pids = calloc(n ? n : 1, sizeof *pids);
    if (pids == NULL) { /* no room even to list them: SIGKILL them one by one */
        for (int64_t i = 0; i < pc->o.producers; i++)
            tool_stop_children(&pc->producers[i], 1, 0);
        for (int i = 0; i < pc->nconsumers; i++)
            tool_stop_children(&pc->consumers[i].pid, 1, 0);
        return;
    }
    for (int64_t i = 0; i < pc->o.producers; i++)
        pids[k++] = pc->producers[i];
    for (int i = 0; i < pc->nconsumers; i++)
        pids[k++] = pc->consumers[i].pid;
    tool_stop_children(pids, k, STOP_GRACE_MS);
    free(pids);
    memset(pc->producers, 0, (size_t)pc->o.producers * sizeof *pc->producers);
    for (int i = 0; i < pc->nconsumers; i++)
        pc->consumers[i].pid = 0;
}

/* ---- records ------------------------------------------------------------ */

static void
take_record(prodcons *pc, consumer *k, const pool_record *rec)
{
    if (rec->producer == POOL_RECORD_ACKED) { /* every record before it is acked */
        k->nunacked = 0;
        return;
    }
    pool_ledger_add(&pc->ledger, rec);
    k->records++;
    k->unacked[k->nunacked++ % pc->role.batch] = *rec;
}

/* Reads what consumer k wrote; closes its pipe at end of file. */
static void
read_records(prodcons *pc, consumer *k)
{
    unsigned char buf[sizeof(pool_record) * 1024];
    memcpy(buf, k->partial, k->npartial);
    ssize_t n = read(k->fd, buf + k->npartial, sizeof buf - k->npartial);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(k->fd);
        k->fd = -1;
        if (k->npartial > 0) /* cannot happen: each record is one atomic write */
            fail_run(pc, TOOL_EXIT_ERROR, "a consumer's record was cut short");
        return;
    }
    size_t have = k->npartial + (size_t)n, off = 0;
    for (; have - off >= sizeof(pool_record); off += sizeof(pool_record)) {
        pool_record rec;
        memcpy(&rec, buf + off, sizeof rec);
        take_record(pc, k, &rec);
    }
    k->npartial = have - off;
    memcpy(k->partial, buf + off, k->npartial);
}

/* Waits at most timeout_ms for records and reads those that came; returns
 * how many pipes had something. */
static int
pump(prodcons *pc, int timeout_ms)
{
    struct pollfd fds[POOL_MAX_CHILDREN + 1];
    consumer *owner[POOL_MAX_CHILDREN + 1];
    nfds_t n = 0;
    for (int i = 0; i < pc->nconsumers; i++) {
        if (pc->consumers[i].fd >= 0) {
            fds[n] = (struct pollfd){.fd = pc->consumers[i].fd, .events = POLLIN};
            owner[n++] = &pc->consumers[i];
        }
    }
    int ready = poll(fds, n, timeout_ms);
    for (nfds_t i = 0; ready > 0 && i < n; i++)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            read_records(pc, owner[i]);
    return ready > 0 ? ready : 0;
}

/* ---- the run's steps ------------------------------------------------------ */

static void
child_failed(prodcons *pc, const char *role, uint32_t index, pid_t pid, int status)
{
    int exit_status = status == TOOL_EXIT_UNAVAILABLE ? status : TOOL_EXIT_ERROR;
    if (status > 128)
        fail_run(pc, exit_status, "%s %u (pid %d) was killed by signal %d", role, index, (int)pid,
                 status - 128);
    else
        fail_run(pc, exit_status, "%s %u (pid %d) exited with status %d", role, index, (int)pid,
                 status);
}

static void
reap(prodcons *pc)
{
    int status;
    for (int64_t i = 0; i < pc->o.producers; i++) {
        pid_t pid = pc->producers[i];
        if (pid <= 0 || !tool_reap(pid, &status))
            continue;
        pc->producers[i] = 0;
        if (status == TOOL_EXIT_OK)
            pc->producers_done++;
        else
            child_failed(pc, "producer", (uint32_t)i, pid, status);
    }
    for (int i = 0; i < pc->nconsumers; i++) {
        consumer *k = &pc->consumers[i];
        pid_t pid = k->pid;
        if (pid <= 0 || !tool_reap(pid, &status))
            continue;
        k->pid = 0;
        if (k->killed) {
            /* Another takes its place, so that the run ends even with one consumer. */
            if (!spawn_consumer(pc, (uint32_t)pc->o.consumers))
                fail_run(pc, TOOL_EXIT_ERROR, "starting a consumer: %s", strerror(errno));
        } else if (status != TOOL_EXIT_OK) {
            child_failed(pc, "consumer", k->index, pid, status);
        } else if (!pc->shut) { /* its queue was shut down by someone else */
            fail_run(pc, TOOL_EXIT_ERROR, "consumer %u (pid %d) ended before the run did", k->index,
                     (int)pid);
        }
    }
}

static void
maybe_kill_one(prodcons *pc)
{
    uint64_t at = pc->ledger.total / 4 ? pc->ledger.total / 4 : 1;
    if (!pc->o.kill_one || pc->killed_one || pc->ledger.distinct < at)
        return;
    consumer *victim = NULL;
    for (int i = 0; i < pc->nconsumers; i++) {
        consumer *k = &pc->consumers[i];
        if (k->pid > 0 && (victim == NULL || k->records > victim->records))
            victim = k;
    }
    if (victim == NULL)
        return;
    kill(victim->pid, SIGKILL);
    victim->killed = true;
    pc->killed_one = true;
    tool_progress_end(&pc->progress);
    printf("killed consumer %u (pid %d) after %llu of %llu items\n", victim->index,
           (int)victim->pid, (unsigned long long)pc->ledger.distinct,
           (unsigned long long)pc->ledger.total);
}

/* True when the queue is empty and no item is out on a lease. */
static int
queue_idle(prodcons *pc, bool *idle)
{
    ipcq_stats *s;
    int rc = pool_prodcons_client(pc);
    if (rc == IPCQ_OK)
        rc = ipcq_stat(pc->c, pc->queue, &s);
    if (rc != IPCQ_OK)
        return rc;
    *idle = ipcq_stats_queue(s, 0, IPCQ_QUEUE_SIZE) == 0 &&
            ipcq_stats_queue(s, 0, IPCQ_QUEUE_LEASED) == 0;
    ipcq_stats_free(&s);
    return IPCQ_OK;
}

/* Once the producers are done: shuts the queue down when every item was
 * recorded, or when a missing one can no longer come. */
static void
maybe_shut_down(prodcons *pc)
{
    if (pc->shut || pc->failure || pc->producers_done < pc->o.producers)
        return;
    if (!pool_ledger_complete(&pc->ledger)) {
        int64_t now = tool_now_ms();
        if (now - pc->idle_check_ms < IDLE_CHECK_MS)
            return;
        pc->idle_check_ms = now;
        bool idle;
        int rc = queue_idle(pc, &idle);
        if (rc != IPCQ_OK)
            call_failed(pc, rc);
        if (rc != IPCQ_OK || !idle)
            return;
        /* Each acked item's record was written before its ack: all are in
         * the pipes now. Whatever is still missing is lost. */
        while (pump(pc, 0) > 0)
            ;
    }
    pc->end_ms = tool_now_ms();
    int rc = pool_prodcons_client(pc);
    if (rc == IPCQ_OK)
        rc = ipcq_shutdown(pc->c, pc->queue, false);
    if (rc != IPCQ_OK)
        call_failed(pc, rc);
    else
        pc->shut = true;
}

static bool
finished(const prodcons *pc)
{
    if (!pc->shut)
        return false;
    for (int i = 0; i < pc->nconsumers; i++)
        if (pc->consumers[i].pid > 0 || pc->consumers[i].fd >= 0)
            return false;
    return true;
}

void
pool_prodcons_loop(prodcons *pc)
{
    pc->start_ms = tool_now_ms();
    tool_progress_start(&pc->progress, &pool_progress_style, "prodcons", "items", pc->ledger.total);
    for (int64_t i = 0; i < pc->o.consumers && !pc->failure; i++)
        if (!spawn_consumer(pc, (uint32_t)i))
            fail_run(pc, TOOL_EXIT_ERROR, "starting a consumer: %s", strerror(errno));
    for (int64_t i = 0; i < pc->o.producers && !pc->failure; i++)
        if (!spawn_producer(pc, (uint32_t)i))
            fail_run(pc, TOOL_EXIT_ERROR, "starting a producer: %s", strerror(errno));
    while (!tool_stop_signal() && !pc->failure && !finished(pc)) {
        pump(pc, TOOL_SLICE_MS);
        reap(pc);
        maybe_kill_one(pc);
        maybe_shut_down(pc);
        tool_progress_update(&pc->progress, pc->ledger.distinct);
    }
    tool_progress_end(&pc->progress);
}
