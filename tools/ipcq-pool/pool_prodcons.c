/*
 * ipcq-pool prodcons: P producer and C consumer processes around one
 * bounded queue on the broker, and a parent that proves every item arrived
 * exactly once.
 *
 * The parent (pool_prodcons_run.c) creates the queue with its bound and
 * forks the consumers (pool_roles.c), each with a pipe of its own on which
 * it writes one pool_record per item it got, then the producers, which
 * share the N items. By default the children move items the way a user
 * should: async puts in a window, leased batches acked together; with
 * --strict, one item a call (pool_roles.h). It reads the pipes into the ledger
 * (pool_ledger.c), reaps every child by pid as it ends, and once every
 * producer has finished and every item was recorded shuts the queue down:
 * the consumers' gets then drain what is left and fail with "shut down",
 * and the consumers exit. If an item is missing, the parent waits until
 * the queue is empty with no item out on a lease — nothing can bring it
 * back then — and reports it lost. --kill-one SIGKILLs the busiest consumer
 * a quarter of the way through and starts another in its place; its
 * unacked items (one item, or its leased batch) go back to the queue (D1,
 * D2) and the ledger explains the repeats that can cause: only items the
 * killed consumer recorded since its last ack. Ctrl-C or SIGTERM stops and
 * reaps every child and the private broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcq.h"
#include "pool_args.h"
#include "pool_modes.h"
#include "tool_exit.h"
#include "tool_proc.h"
#include "pool_prodcons.h"
#include "tool_item.h"

#define MAX_ITEMS 100000000LL    /* the ledger holds a byte per item */
#define MAX_ITEM_SIZE (16 << 20) /* the broker's default max item size */
#define DEFAULT_BATCH 64         /* items per leased get */
#define MAX_BATCH 4096
#define DEFAULT_WINDOW 256 /* async puts in flight per producer: the library's default */
#define MAX_WINDOW 65536   /* the library's bound */

/* ---- results ---------------------------------------------------------------- */

/* The records of consumer k that may stand for items it never acked. */
static bool
allow_unacked(prodcons *pc, const consumer *k)
{
    uint64_t cap = pc->role.batch, n = k->nunacked < cap ? k->nunacked : cap;
    for (uint64_t j = 0; j < n; j++)
        if (!pool_ledger_allow_redelivery(&pc->ledger, &k->unacked[(k->nunacked - 1 - j) % cap]))
            return false;
    return true;
}

/* Which way the children moved the items, for the report's line. */
static void
describe_mode(const prodcons *pc, char *buf, size_t cap)
{
    if (pc->role.strict)
        snprintf(buf, cap, "strict: one put, one leased get, one ack a call");
    else
        snprintf(buf, cap, "batched: async puts in a window of %zu, leased batches of up to %zu",
                 pc->role.window, pc->role.batch);
}

static int
report(prodcons *pc)
{
    for (int i = 0; i < pc->nconsumers; i++)
        if (pc->consumers[i].killed && !allow_unacked(pc, &pc->consumers[i])) {
            fprintf(stderr, "ipcq-pool: prodcons: out of memory\n");
            return TOOL_EXIT_ERROR;
        }
    pool_verdict v;
    bool ok = pool_ledger_verdict(&pc->ledger, &v);
    double secs = (double)(pc->end_ms - pc->start_ms) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    double items = (double)pc->ledger.total;
    char mode[128];
    describe_mode(pc, mode, sizeof mode);
    printf("prodcons: %llu items of %lld bytes in %.3f s: %.0f items/s, %.2f MB/s (%s)\n",
           (unsigned long long)pc->ledger.total, (long long)pc->o.size, secs, items / secs,
           items * (double)pc->o.size / secs / 1e6, mode);
    if (!ok) {
        printf("NOT verified: %llu lost, %llu duplicated, %llu not as put, of %llu items\n",
               (unsigned long long)v.lost, (unsigned long long)v.duplicated,
               (unsigned long long)v.bad, (unsigned long long)pc->ledger.total);
        fprintf(stderr, "ipcq-pool: prodcons: %llu items lost, %llu duplicated, %llu not as put\n",
                (unsigned long long)v.lost, (unsigned long long)v.duplicated,
                (unsigned long long)v.bad);
        return TOOL_EXIT_CHECK;
    }
    printf("verified: each of the %llu items arrived exactly once", (unsigned long long)items);
    if (pc->o.kill_one)
        printf(" (%llu redelivered after the kill, de-duplicated)",
               (unsigned long long)v.redelivered);
    printf("\n");
    return TOOL_EXIT_OK;
}

/* ---- set-up and tear-down ------------------------------------------------ */

static int
open_broker(prodcons *pc)
{
    const char *endpoint = pc->o.broker;
    if (endpoint == NULL) {
        int rc = ipcq_broker_start(&pc->broker);
        if (rc != IPCQ_OK) {
            fprintf(stderr, "ipcq-pool: prodcons: starting a private broker: %s\n",
                    ipcq_strerror(rc));
            return tool_exit_for(rc);
        }
        endpoint = ipcq_broker_endpoint(pc->broker);
        printf("broker: pid %d, %s (private)\n", ipcq_broker_pid(pc->broker), endpoint);
    } else {
        printf("broker: %s\n", endpoint);
    }
    pc->role.endpoint = endpoint;
    int rc = ipcq_client_open(&pc->c, endpoint);
    if (rc == IPCQ_OK)
        rc = ipcq_create(pc->c, pc->queue, pc->o.maxsize);
    if (rc != IPCQ_OK) {
        const char *detail = pc->c ? ipcq_client_error(pc->c) : "";
        if (detail[0] != '\0')
            fprintf(stderr, "ipcq-pool: prodcons: %s\n", detail);
        else
            fprintf(stderr, "ipcq-pool: prodcons: %s: %s\n", endpoint, ipcq_strerror(rc));
        return tool_exit_for(rc);
    }
    pc->created = true;
    return TOOL_EXIT_OK;
}

static int
prodcons_run(const prodcons_opts *o)
{
    prodcons pc = {.o = *o};
    snprintf(pc.queue, sizeof pc.queue, "ipcq-pool.%d.items", (int)getpid());
    pc.role = (pool_role){.queue = pc.queue,
                          .item_size = (size_t)o->size,
                          .strict = o->strict,
                          .window = (size_t)o->window,
                          .batch = (size_t)o->batch};
    pc.producers = calloc((size_t)o->producers, sizeof *pc.producers);
    pc.consumers = calloc((size_t)o->consumers + 1, sizeof *pc.consumers);
    int status = TOOL_EXIT_OK;
    if (pc.producers == NULL || pc.consumers == NULL ||
        !pool_ledger_init(&pc.ledger, (uint64_t)o->items, (uint32_t)o->producers,
                          (size_t)o->size)) {
        fprintf(stderr, "ipcq-pool: prodcons: out of memory\n");
        status = TOOL_EXIT_ERROR;
    }
    if (status == TOOL_EXIT_OK)
        status = open_broker(&pc);
    if (status == TOOL_EXIT_OK) {
        pool_prodcons_loop(&pc);
        pool_prodcons_stop(&pc); /* after a failure or a signal; else all are reaped */
        if (tool_stop_signal())
            status = 128 + tool_stop_signal();
        else
            status = pc.failure ? pc.failure : report(&pc);
    }
    for (int i = 0; i < pc.nconsumers; i++) {
        if (pc.consumers[i].fd >= 0)
            close(pc.consumers[i].fd);
        free(pc.consumers[i].unacked);
    }
    if (pc.created && pc.broker == NULL && pool_prodcons_client(&pc) == IPCQ_OK)
        ipcq_delete(pc.c, pc.queue); /* the run's queue leaves the shared broker */
    ipcq_client_close(&pc.c);
    ipcq_broker_stop(&pc.broker);
    pool_ledger_free(&pc.ledger);
    free(pc.producers);
    free(pc.consumers);
    return status;
}

/* ---- options ------------------------------------------------------------- */

static const char prodcons_help[] =
    "Usage: ipcq-pool prodcons --producers P --consumers C --items N [--maxsize M]\n"
    "                          [--size BYTES] [--batch B] [--window W] [--strict]\n"
    "                          [--broker EP] [--kill-one]\n\n"
    "Forks P producer and C consumer processes that pass N items through one queue;\n"
    "each child prints its role, pid and parent pid. By default the children use\n"
    "the fast paths a program should: producers put with ipcq_put_async, up to W\n"
    "puts in flight, and ipcq_flush at the end; consumers take up to B items at a\n"
    "time on a lease (ipcq_get_leased_many), record them, and ack them all with one\n"
    "ipcq_ack_many. With --strict each call moves one item: ipcq_put,\n"
    "ipcq_get_leased, ipcq_ack. Either way a consumer acks an item only once it is\n"
    "recorded, so a consumer that dies loses nothing. The tool then checks that\n"
    "every item arrived exactly once and prints the throughput and the mode.\n\n"
    "  --producers P   producer processes (1 to 256); they share the items\n"
    "  --consumers C   consumer processes (1 to 256)\n"
    "  --items N       items in all (1 to 100000000)\n"
    "  --maxsize M     the queue's bound, in items (0: unbounded; default 100)\n"
    "  --size BYTES    bytes of each item (12 to 16777216; default 64)\n"
    "  --batch B       items a consumer takes on a lease at a time and acks together\n"
    "                  (1 to 4096; default 64)\n"
    "  --window W      async puts a producer keeps in flight (1 to 65536; default 256)\n"
    "  --strict        one item a call (put, leased get, ack): the slow path, to\n"
    "                  compare; takes neither --batch nor --window\n"
    "  --broker EP     use the broker at EP; default: start a private one for the run\n"
    "                  ($IPCQ_BROKER is not read)\n"
    "  --kill-one      SIGKILL one consumer a quarter of the way through and start\n"
    "                  another; its unacked items (its whole leased batch) are\n"
    "                  redelivered, and the run must still check out\n";

static int
prodcons_main(int argc, char **argv)
{
    prodcons_opts o = {.maxsize = 100, .size = 64};
    const pool_opt opts[] = {
        {"--producers", POOL_ARG_INT, true, 1, POOL_MAX_CHILDREN, &o.producers},
        {"--consumers", POOL_ARG_INT, true, 1, POOL_MAX_CHILDREN, &o.consumers},
        {"--items", POOL_ARG_INT, true, 1, MAX_ITEMS, &o.items},
        {"--maxsize", POOL_ARG_INT, false, 0, INT64_MAX, &o.maxsize},
        {"--size", POOL_ARG_INT, false, TOOL_ITEM_HEADER, MAX_ITEM_SIZE, &o.size},
        {"--batch", POOL_ARG_INT, false, 1, MAX_BATCH, &o.batch},
        {"--window", POOL_ARG_INT, false, 1, MAX_WINDOW, &o.window},
        {"--strict", POOL_ARG_FLAG, false, 0, 0, &o.strict},
        {"--broker", POOL_ARG_STRING, false, 0, 0, &o.broker},
        {"--kill-one", POOL_ARG_FLAG, false, 0, 0, &o.kill_one},
    };
    int rc = pool_parse("prodcons", argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc == POOL_HELP) {
        printf("%s\n%s", prodcons_help, pool_exit_help);
        return TOOL_EXIT_OK; /* main() flushes stdout */
    }
    if (rc != POOL_PARSED)
        return rc;
    if (o.strict && (o.batch || o.window))
        return tool_usage_error(&pool_usage, "prodcons",
                                "--strict moves one item a call: it takes no %s",
                                o.batch ? "--batch" : "--window");
    if (o.strict)
        o.batch = o.window = 1;
    if (o.batch == 0)
        o.batch = DEFAULT_BATCH;
    if (o.window == 0)
        o.window = DEFAULT_WINDOW;
    return prodcons_run(&o);
}

const pool_mode pool_prodcons_mode = {
    "prodcons",
    "prodcons --producers P --consumers C --items N [--maxsize M] [--size BYTES]\n"
    "           [--batch B] [--window W] [--strict] [--broker EP] [--kill-one]",
    "producer and consumer processes around one queue (async puts and leased\n"
    "      batches; --strict: one item a call); checks exactly-once delivery",
    prodcons_main,
};
