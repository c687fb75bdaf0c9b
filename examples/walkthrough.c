/*
 * ipcq for Python programmers: each step below is the C counterpart of the
 * Python in its comment. Run it with no arguments: it starts a private
 * broker (as Manager() starts a server process), does every step, checks
 * its own results, and exits 0 when all of them held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipcq.h>

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != IPCQ_OK) {                                                                      \
            fprintf(stderr, "walkthrough: %s: %s\n", #expr, ipcq_strerror(rc_));                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* def square(x): return x * x          -- the pool's work function */
static int
square(const void *task, size_t len, void **result, size_t *result_len, void *arg)
{
    (void)arg;
    char text[32] = {0};
    memcpy(text, task, len < sizeof text - 1 ? len : sizeof text - 1);
    long x = atol(text);
    char *out = malloc(32);
    if (out == NULL)
        return 1;
    *result_len = (size_t)snprintf(out, 32, "%ld", x * x);
    *result = out;
    return 0;
}

/* def on_result(r): results.append(r)  -- runs in the parent */
static void
on_result(ipcq_status status, const void *result, size_t len, void *arg)
{
    long *sum = arg;
    if (status == IPCQ_OK) {
        char text[32] = {0};
        memcpy(text, result, len < sizeof text - 1 ? len : sizeof text - 1);
        *sum += atol(text);
    }
}

int
main(void)
{
    /* manager = multiprocessing.Manager() */
    ipcq_broker *manager;
    CHECK(ipcq_broker_start(&manager));
    const char *endpoint = ipcq_broker_endpoint(manager);

    /* q = manager.Queue(maxsize=10) */
    ipcq_client *q;
    CHECK(ipcq_client_open(&q, endpoint));
    CHECK(ipcq_create(q, "jobs", 10));

    /* p = Process(target=producer, args=(q,)); p.start(); p.join()
     * def producer(q): for i in range(3): q.put(f"job {i}")          */
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 3; i++) {
            char item[16];
            int n = snprintf(item, sizeof item, "job %d", i);
            if (ipcq_put(q, "jobs", item, (size_t)n, IPCQ_FOREVER) != IPCQ_OK)
                _exit(1);
        }
        _exit(0); /* the handle the child inherited needs no close */
    }
    int status;
    waitpid(child, &status, 0);
    printf("Process: producer pid %d exited %d\n", (int)child, WEXITSTATUS(status));

    /* while True: item = q.get(); ...; q.task_done() */
    for (int i = 0; i < 3; i++) {
        void *item;
        size_t len;
        CHECK(ipcq_get(q, "jobs", &item, &len, IPCQ_FOREVER));
        printf("get: %.*s\n", (int)len, (const char *)item);
        ipcq_free(item);
        CHECK(ipcq_task_done(q, "jobs"));
    }

    /* q.join()  -- every task_done was called */
    CHECK(ipcq_join(q, "jobs", 1000));
    printf("join: all tasks done\n");

    /* try: q.get_nowait() except queue.Empty: ... */
    void *item;
    size_t len;
    int rc = ipcq_get(q, "jobs", &item, &len, IPCQ_NOWAIT);
    printf("get_nowait: %s (%s)\n", rc == IPCQ_EMPTY ? "Empty" : "?", ipcq_client_error(q));
    if (rc != IPCQ_EMPTY)
        return 1;

    /* with Pool(4) as pool:
     *     for x in range(1, 11): pool.apply_async(square, (x,), callback=on_result)
     *     pool.close(); pool.join()                                       */
    ipcq_pool *pool;
    CHECK(ipcq_pool_start(&pool, endpoint, 4, square, NULL));
    long sum = 0;
    for (int x = 1; x <= 10; x++) {
        char task[16];
        int n = snprintf(task, sizeof task, "%d", x);
        CHECK(ipcq_pool_apply_async(pool, task, (size_t)n, on_result, &sum, NULL));
    }
    CHECK(ipcq_pool_close_submissions(pool));
    CHECK(ipcq_pool_join(pool, 30000));
    printf("Pool.apply_async: sum of squares 1..10 = %ld\n", sum);
    ipcq_pool_free(&pool);

    ipcq_client_close(&q);
    CHECK(ipcq_broker_stop(&manager)); /* manager.shutdown() */
    return sum == 385 ? 0 : 1;
}
