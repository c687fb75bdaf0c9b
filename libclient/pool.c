/*
 * The process pool (multiprocessing.Pool in C).
 *
 * Three broker queues per pool: NAME.tasks carries [id:8][task bytes],
 * NAME.results carries [id:8][status:1][result bytes], and NAME.tasks.dlq
 * receives a task that killed its worker MAX_TASK_DELIVERIES times.
 *
 * A worker takes tasks on a lease, runs the function, puts the results and
 * only once the broker has them acks the tasks: if it dies at any point the
 * lease's owner is gone, the tasks return to the head of NAME.tasks (D1,
 * D2) and a replacement worker does them again. A task can therefore finish
 * twice (worker killed between put and ack); the parent keeps the first
 * result and drops the others.
 *
 * Tiny tasks would cost a round trip or more each; so a worker whose tasks
 * are quick takes them in growing batches (up to WORKER_BATCH_MAX), puts
 * their results as async puts and acks a batch in one message, and the
 * parent puts tasks as async puts and collects results many at a time. A
 * worker whose tasks take QUICK_TASK_US or more takes one at a time, so
 * that long tasks spread over every worker.
 *
 * A worker that dies takes its whole batch down with it: each task of it
 * comes back with one more delivery, whether it ran or not. Were the batch
 * handed out whole again, a task that kills its worker would take it down
 * each time, to the dead-letter limit with it. So a worker's gets ask the
 * broker to hand out a task that was handed out before by itself
 * (redelivered_alone): only the task that was running when a worker died
 * goes on counting deliveries towards MAX_TASK_DELIVERIES (D6).
 *
 * The parent has no thread of its own: results are collected, callbacks
 * run and dead workers replaced whenever the caller is inside the pool
 * (apply, map, async_wait, poll, join).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "child.h"
#include "client.h"
#include "clock.h"
#include "ipcq.h"
#include "table.h"

#define TASK_LEASE_MS (10 * 60 * 1000) /* a live worker holds its task this long */
#define MAX_TASK_DELIVERIES 3          /* workers a task may kill before it fails */
#define SLICE_MS 100                   /* longest wait before dead workers are checked */
#define TERM_GRACE_MS 2000             /* terminate: SIGTERM, then SIGKILL after this */
#define ID_BYTES 8
#define WORKER_BATCH_MAX 64 /* tasks a worker takes at once, at most */
#define QUICK_TASK_US 1000  /* tasks quicker than this are taken in batches */
#define RESULTS_PER_GET 256 /* results the parent collects per request */

enum { PENDING = -1 };

struct ipcq_pool_task {
    ipcq_pool *pool; /* NULL once the pool is gone */
    uint64_t id;
    int status; /* PENDING until completed */
    void *result;
    size_t result_len;
    ipcq_callback callback;
    void *callback_arg;
    bool has_handle;   /* the caller holds it */
    bool handle_freed; /* ... and has let it go */
};

struct ipcq_pool {
    ipcq_client *client;
    ipcq_broker *own_broker; /* NULL when the caller gave an endpoint */
    char *endpoint;
    char tasks[96], results[96], dead[100];
    ipcq_task_fn fn;
    void *arg;
    pid_t owner;
    pid_t *workers; /* 0: slot empty */
    int nworkers;
    uint64_t next_id;
    table pending; /* id -> ipcq_pool_task, not completed yet */
    bool started;  /* its queues exist: freeing deletes them */
    bool closed, terminated;
};

static void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- the worker side ---------------------------------------------------- */

/* Runs one task message and puts its result (async: the caller flushes);
 * false if the broker is gone. */
static bool
run_task(ipcq_pool *p, ipcq_client *c, const unsigned char *msg, size_t len)
{
    if (len < ID_BYTES)
        return true; /* not ours: acked and dropped */
    void *result = NULL;
    size_t result_len = 0;
    int rc = p->fn(msg + ID_BYTES, len - ID_BYTES, &result, &result_len, p->arg);
    if (rc != 0) {
        free(result);
        result = NULL;
        result_len = 0;
    }
    unsigned char *out = malloc(ID_BYTES + 1 + result_len);
    if (out == NULL) {
        free(result);
        return false;
    }
    memcpy(out, msg, ID_BYTES);
    out[ID_BYTES] = rc == 0 ? IPCQ_OK : IPCQ_ETASK;
    if (result_len)
        memcpy(out + ID_BYTES + 1, result, result_len);
    free(result);
    rc = ipcq_put_async(c, p->results, out, ID_BYTES + 1 + result_len);
    free(out);
    return rc == IPCQ_OK;
}

/* Takes up to max tasks on a lease, waiting for the first. A broker is
 * asked straight (a wire batch with redelivered_alone); another backend
 * (nats://) through the public call: there a dead worker's whole batch
 * comes back a delivery up (docs/NATS.md). */
static int
take_tasks(ipcq_pool *p, ipcq_client *c, size_t max, void **msgs, size_t *lens, uint64_t *leases,
           size_t *got)
{
    if (c->backend == &backend_broker)
        return client_get_batch(c, p->tasks, max, TASK_LEASE_MS, IPCQ_FOREVER, msgs, lens, leases,
                                NULL, got);
    return ipcq_get_leased_many(c, p->tasks, TASK_LEASE_MS, max, msgs, lens, leases, got,
                                IPCQ_FOREVER);
}

/* Acks n tasks: on a broker one one-way confirm, elsewhere ipcq_ack_many. */
static void
ack_tasks(ipcq_client *c, uint64_t *leases, size_t n)
{
    if (c->backend == &backend_broker)
        client_send_tags(c, IPCQWIRE__OP__OP_CONFIRM, leases, n);
    else
        (void)ipcq_ack_many(c, n, leases);
}

static void
worker_main(ipcq_pool *p)
{
    /* The caller's handlers and mask would keep SIGTERM from ending it. */
    child_reset_signal_handlers();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Die with the parent: a worker is never left behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != p->owner)
        _exit(0);
    ipcq_client *c;
    if (ipcq_client_open(&c, p->endpoint) != IPCQ_OK)
        _exit(1);
    /* A task that comes back from a dead worker is handed out alone. */
    c->redelivered_alone = true;
    size_t batch = 1;
    void *msgs[WORKER_BATCH_MAX];
    size_t lens[WORKER_BATCH_MAX], got;
    uint64_t leases[WORKER_BATCH_MAX];
    for (;;) {
        if (take_tasks(p, c, batch, msgs, lens, leases, &got) != IPCQ_OK)
            break; /* shut down (closed pool), deleted, or no broker */
        int64_t started = clock_now_us();
        bool ok = true;
        for (size_t i = 0; i < got; i++) {
            ok = ok && run_task(p, c, msgs[i], lens[i]);
            ipcq_free(msgs[i]);
        }
        /* The results are the broker's before the tasks are acked. */
        if (!ok || ipcq_flush(c, IPCQ_FOREVER) != IPCQ_OK)
            break;
        ack_tasks(c, leases, got);
        bool quick = clock_now_us() - started < (int64_t)got * QUICK_TASK_US;
        batch = !quick ? 1 : batch * 2 > WORKER_BATCH_MAX ? WORKER_BATCH_MAX : batch * 2;
    }
    _exit(0); /* no close: a child must not flush what the parent owns */
}

static pid_t
spawn_worker(ipcq_pool *p)
{
    /* No thread of the pool's connection runs across fork(): libzmq is not
     * fork-safe, and a lock one of them held would be held for ever in the
     * child; libnats's threads would be missing in it. The connection
     * reopens by itself on next use. */
    if (p->client->backend->before_fork != NULL)
        p->client->backend->before_fork(p->client);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        worker_main(p);
    return pid > 0 ? pid : 0;
}

/* ---- completions ------------------------------------------------------ */

static void
async_destroy(ipcq_pool_task *a)
{
    free(a->result);
    free(a);
}

/* Records the outcome of task a, runs its callback, and frees it unless the
 * caller holds a handle. Takes ownership of result. */
static void
complete(ipcq_pool *p, ipcq_pool_task *a, int status, void *result, size_t result_len)
{
    table_remove(&p->pending, &a->id, sizeof a->id);
    a->status = status;
    a->result = result;
    a->result_len = result_len;
    if (a->callback)
        a->callback(status, result, result_len, a->callback_arg);
    if (!a->has_handle || a->handle_freed)
        async_destroy(a);
}

/* A message from NAME.results (or, with dead, NAME.tasks.dlq). */
static void
complete_message(ipcq_pool *p, unsigned char *msg, size_t len, bool dead)
{
    size_t header = dead ? ID_BYTES : ID_BYTES + 1;
    uint64_t id = len >= ID_BYTES ? get_u64(msg) : 0;
    ipcq_pool_task *a = len >= header ? table_get(&p->pending, &id, sizeof id) : NULL;
    if (a == NULL) {
        ipcq_free(msg); /* a second result of a task done twice, or not ours */
        return;
    }
    int status = dead ? IPCQ_ETASK : msg[ID_BYTES];
    void *result = NULL;
    size_t result_len = len - header;
    if (status == IPCQ_OK) {
        result = malloc(result_len ? result_len : 1);
        if (result == NULL)
            status = IPCQ_ENOMEM;
        else if (result_len)
            memcpy(result, msg + header, result_len);
    }
    ipcq_free(msg);
    complete(p, a, status, status == IPCQ_OK ? result : NULL, status == IPCQ_OK ? result_len : 0);
    if (status != IPCQ_OK)
        free(result);
}

/* True once pid has exited and been reaped, by us now or by someone else
 * (a caller's SIGCHLD handler that reaps every child: ECHILD). */
static bool
worker_exited(pid_t pid)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
}

static size_t
live_workers(const ipcq_pool *p)
{
    size_t n = 0;
    for (int i = 0; i < p->nworkers; i++)
        n += p->workers[i] > 0;
    return n;
}

/* Reaps workers that exited; replaces them while there is work for them. */
static void
reap_and_replace(ipcq_pool *p)
{
    for (int i = 0; i < p->nworkers; i++) {
        if (p->workers[i] <= 0 || !worker_exited(p->workers[i]))
            continue;
        bool work_left = !p->closed || p->pending.count > 0;
        p->workers[i] = !p->terminated && work_left ? spawn_worker(p) : 0;
    }
}

ipcq_status
ipcq_pool_poll(ipcq_pool *p, int64_t timeout_ms)
{
    if (p == NULL || p->owner != client_process_pid())
        return IPCQ_EINVAL;
    reap_and_replace(p);
    void *msg;
    size_t len;
    while (ipcq_get(p->client, p->dead, &msg, &len, IPCQ_NOWAIT) == IPCQ_OK)
        complete_message(p, msg, len, true);
    int64_t wait = timeout_ms < 0 || timeout_ms > SLICE_MS ? SLICE_MS : timeout_ms;
    void *results[RESULTS_PER_GET];
    size_t lens[RESULTS_PER_GET], got;
    int rc = ipcq_get_many(p->client, p->results, RESULTS_PER_GET, results, lens, &got,
                           p->pending.count ? wait : IPCQ_NOWAIT);
    bool completed = false;
    while (rc == IPCQ_OK) {
        for (size_t i = 0; i < got; i++)
            complete_message(p, results[i], lens[i], false);
        completed = true;
        if (got < RESULTS_PER_GET)
            return IPCQ_OK; /* that was all there was */
        rc =
            ipcq_get_many(p->client, p->results, RESULTS_PER_GET, results, lens, &got, IPCQ_NOWAIT);
    }
    if (rc == IPCQ_EMPTY && p->pending.count == 0 && wait > 0 && !completed) {
        struct timespec ts = {0, (long)wait * 1000000L}; /* nothing to wait for but time */
        nanosleep(&ts, NULL);
    }
    return rc == IPCQ_EMPTY ? IPCQ_OK : rc;
}

/* ---- the parent's API ------------------------------------------------- */

static int
create_queues(ipcq_pool *p)
{
    static unsigned counter;
    unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    snprintf(p->tasks, sizeof p->tasks, "ipcq.pool.%d.%u.tasks", (int)p->owner, n);
    snprintf(p->results, sizeof p->results, "ipcq.pool.%d.%u.results", (int)p->owner, n);
    snprintf(p->dead, sizeof p->dead, "%s.dlq", p->tasks);
    int rc = ipcq_create(p->client, p->tasks, 0);
    if (rc == IPCQ_OK)
        rc = ipcq_set_max_deliveries(p->client, p->tasks, MAX_TASK_DELIVERIES);
    if (rc == IPCQ_OK)
        rc = ipcq_create(p->client, p->results, 0);
    if (rc == IPCQ_OK)
        rc = ipcq_create(p->client, p->dead, 0);
    return rc;
}

ipcq_status
ipcq_pool_start(ipcq_pool **out, const char *endpoint, int workers, ipcq_task_fn fn, void *arg)
{
    if (out == NULL)
        return IPCQ_EINVAL;
    *out = NULL;
    if (workers < 1 || fn == NULL)
        return IPCQ_EINVAL;
    ipcq_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return IPCQ_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->owner = client_process_pid();
    table_init(&p->pending);
    int rc = IPCQ_OK;
    if (endpoint == NULL) {
        rc = ipcq_broker_start(&p->own_broker);
        endpoint = rc == IPCQ_OK ? ipcq_broker_endpoint(p->own_broker) : NULL;
    }
    if (rc == IPCQ_OK && (p->endpoint = strdup(endpoint)) == NULL)
        rc = IPCQ_ENOMEM;
    if (rc == IPCQ_OK)
        rc = ipcq_client_open(&p->client, p->endpoint);
    if (rc == IPCQ_OK)
        rc = create_queues(p);
    if (rc == IPCQ_OK && (p->workers = calloc((size_t)workers, sizeof *p->workers)) == NULL)
        rc = IPCQ_ENOMEM;
    for (int i = 0; rc == IPCQ_OK && i < workers; i++, p->nworkers++) {
        if ((p->workers[i] = spawn_worker(p)) == 0)
            rc = IPCQ_ESYSTEM;
    }
    if (rc != IPCQ_OK) {
        ipcq_pool_free(&p);
        return rc;
    }
    p->started = true;
    *out = p;
    return IPCQ_OK;
}

ipcq_status
ipcq_pool_apply_async(ipcq_pool *p, const void *task, size_t task_len, ipcq_callback callback,
                      void *callback_arg, ipcq_pool_task **handle)
{
    if (handle != NULL)
        *handle = NULL;
    if (p == NULL || (task == NULL && task_len > 0) || p->owner != client_process_pid())
        return IPCQ_EINVAL;
    if (p->closed || p->terminated)
        return IPCQ_ESHUTDOWN;
    ipcq_pool_task *a = calloc(1, sizeof *a);
    unsigned char *msg = malloc(ID_BYTES + task_len);
    if (a == NULL || msg == NULL) {
        free(a), free(msg);
        return IPCQ_ENOMEM;
    }
    a->pool = p;
    a->id = ++p->next_id;
    a->status = PENDING;
    a->callback = callback;
    a->callback_arg = callback_arg;
    a->has_handle = handle != NULL;
    put_u64(msg, a->id);
    if (task_len)
        memcpy(msg + ID_BYTES, task, task_len);
    int rc = table_put(&p->pending, &a->id, sizeof a->id, a) ? IPCQ_OK : IPCQ_ENOMEM;
    if (rc == IPCQ_OK) {
        rc = ipcq_put_async(p->client, p->tasks, msg, ID_BYTES + task_len);
        if (rc != IPCQ_OK)
            table_remove(&p->pending, &a->id, sizeof a->id);
    }
    free(msg);
    if (rc != IPCQ_OK) {
        free(a);
        return rc;
    }
    if (handle != NULL)
        *handle = a;
    return IPCQ_OK;
}

ipcq_status
ipcq_pool_task_wait(ipcq_pool_task *h, int64_t timeout_ms)
{
    if (h == NULL || timeout_ms < IPCQ_FOREVER)
        return IPCQ_EINVAL;
    int64_t deadline = clock_deadline_us(clock_now_us(), timeout_ms);
    /* Polls at least once, so that a timeout of 0 sees what has arrived. */
    while (h->status == PENDING) {
        if (h->pool == NULL)
            return IPCQ_ESHUTDOWN;
        int64_t left_ms = deadline == INT64_MAX ? SLICE_MS : (deadline - clock_now_us()) / 1000;
        int rc = ipcq_pool_poll(h->pool, left_ms > 0 ? left_ms : 0);
        if (rc != IPCQ_OK)
            return rc;
        if (h->status == PENDING && deadline != INT64_MAX && clock_now_us() >= deadline)
            return IPCQ_ETIMEDOUT;
    }
    return h->status;
}

ipcq_status
ipcq_pool_task_result(const ipcq_pool_task *h, const void **result, size_t *result_len)
{
    if (h == NULL || result == NULL || result_len == NULL)
        return IPCQ_EINVAL;
    *result = h->status == IPCQ_OK ? h->result : NULL;
    *result_len = h->status == IPCQ_OK ? h->result_len : 0;
    return h->status == PENDING ? IPCQ_ETIMEDOUT : h->status;
}

void
ipcq_pool_task_free(ipcq_pool_task **h)
{
    if (h == NULL || *h == NULL)
        return;
    ipcq_pool_task *a = *h;
    *h = NULL;
    if (a->status == PENDING && a->pool != NULL)
        a->handle_freed = true; /* freed when it completes */
    else
        async_destroy(a);
}

ipcq_status
ipcq_pool_apply(ipcq_pool *p, const void *task, size_t task_len, void **result, size_t *result_len,
                int64_t timeout_ms)
{
    if (result == NULL || result_len == NULL)
        return IPCQ_EINVAL;
    *result = NULL;
    *result_len = 0;
    ipcq_pool_task *h;
    int rc = ipcq_pool_apply_async(p, task, task_len, NULL, NULL, &h);
    if (rc != IPCQ_OK)
        return rc;
    rc = ipcq_pool_task_wait(h, timeout_ms);
    if (rc == IPCQ_OK) {
        *result = h->result ? h->result : malloc(1);
        *result_len = h->result_len;
        h->result = NULL;
        if (*result == NULL)
            rc = IPCQ_ENOMEM;
    }
    ipcq_pool_task_free(&h);
    return rc;
}

ipcq_status
ipcq_pool_map(ipcq_pool *p, size_t n, const void *const *tasks, const size_t *task_lens,
              void **results, size_t *result_lens, int64_t timeout_ms)
{
    if (p == NULL ||
        (n > 0 && (tasks == NULL || task_lens == NULL || results == NULL || result_lens == NULL)))
        return IPCQ_EINVAL;
    ipcq_pool_task **h = calloc(n ? n : 1, sizeof *h);
    if (h == NULL)
        return IPCQ_ENOMEM;
    int first_failure = IPCQ_OK;
    for (size_t i = 0; i < n; i++) {
        results[i] = NULL;
        result_lens[i] = 0;
        int rc = ipcq_pool_apply_async(p, tasks[i], task_lens[i], NULL, NULL, &h[i]);
        if (rc != IPCQ_OK && first_failure == IPCQ_OK)
            first_failure = rc;
    }
    int64_t deadline = clock_deadline_us(clock_now_us(), timeout_ms);
    for (size_t i = 0; i < n; i++) {
        if (h[i] == NULL)
            continue;
        int64_t left =
            deadline == INT64_MAX ? IPCQ_FOREVER : (deadline - clock_now_us() + 999) / 1000;
        int rc = ipcq_pool_task_wait(h[i], left < 0 ? 0 : left);
        if (rc == IPCQ_OK) {
            results[i] = h[i]->result ? h[i]->result : malloc(1);
            result_lens[i] = h[i]->result_len;
            h[i]->result = NULL;
        } else if (first_failure == IPCQ_OK) {
            first_failure = rc;
        }
        ipcq_pool_task_free(&h[i]);
    }
    free(h);
    return first_failure;
}

ipcq_status
ipcq_pool_close_submissions(ipcq_pool *p)
{
    if (p == NULL || p->owner != client_process_pid())
        return IPCQ_EINVAL;
    if (p->closed || p->terminated)
        return IPCQ_OK;
    p->closed = true;
    /* Workers drain what is queued, then their get fails and they exit. */
    return ipcq_shutdown(p->client, p->tasks, false);
}

ipcq_status
ipcq_pool_join(ipcq_pool *p, int64_t timeout_ms)
{
    if (p == NULL || p->owner != client_process_pid() || !(p->closed || p->terminated))
        return IPCQ_EINVAL;
    int64_t deadline = clock_deadline_us(clock_now_us(), timeout_ms);
    while (p->pending.count > 0 || live_workers(p) > 0) {
        int64_t left_ms = (deadline - clock_now_us()) / 1000;
        if (deadline != INT64_MAX && left_ms <= 0)
            return IPCQ_ETIMEDOUT;
        int rc = ipcq_pool_poll(p, deadline == INT64_MAX ? SLICE_MS : left_ms);
        if (rc != IPCQ_OK)
            return rc;
    }
    return IPCQ_OK;
}

/* Tasks that will never complete now: their callers learn it. */
static void
fail_pending(ipcq_pool *p, int status)
{
    void *v;
    while (p->pending.count > 0) {
        size_t cursor = 0;
        if (!table_next(&p->pending, &cursor, &v))
            break;
        complete(p, v, status, NULL, 0);
    }
}

ipcq_status
ipcq_pool_terminate(ipcq_pool *p)
{
    if (p == NULL || p->owner != client_process_pid())
        return IPCQ_EINVAL;
    p->terminated = true;
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i] > 0)
            kill(p->workers[i], SIGTERM);
    int64_t deadline = clock_now_us() + TERM_GRACE_MS * 1000;
    while (live_workers(p) > 0) {
        for (int i = 0; i < p->nworkers; i++) {
            if (p->workers[i] > 0 && worker_exited(p->workers[i]))
                p->workers[i] = 0;
            else if (p->workers[i] > 0 && clock_now_us() > deadline)
                kill(p->workers[i], SIGKILL);
        }
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_pending(p, IPCQ_ESHUTDOWN);
    return IPCQ_OK;
}

size_t
ipcq_pool_workers(const ipcq_pool *p, size_t cap, int *pids)
{
    size_t n = 0;
    for (int i = 0; p != NULL && i < p->nworkers; i++) {
        if (p->workers[i] <= 0)
            continue;
        if (n < cap && pids != NULL)
            pids[n] = p->workers[i];
        n++;
    }
    return n;
}

void
ipcq_pool_free(ipcq_pool **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    ipcq_pool *p = *pp;
    *pp = NULL;
    if (p->owner == client_process_pid()) {
        if (live_workers(p) > 0)
            ipcq_pool_terminate(p);
        fail_pending(p, IPCQ_ESHUTDOWN);
        /* A pool that never started (no broker, say) has nothing to delete
         * and should not spend a timeout per queue finding that out. */
        if (p->started && p->own_broker == NULL) {
            ipcq_delete(p->client, p->tasks);
            ipcq_delete(p->client, p->results);
            ipcq_delete(p->client, p->dead);
        }
        ipcq_client_close(&p->client);
        ipcq_broker_stop(&p->own_broker);
    }
    table_free(&p->pending);
    free(p->workers);
    free(p->endpoint);
    free(p);
}
