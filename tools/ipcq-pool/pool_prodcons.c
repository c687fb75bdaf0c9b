/*
 * ipcq-pool prodcons: P producer and C consumer processes around one
 * bounded queue on the broker, and a parent that proves every item arrived
 * exactly once.
 *
 * The parent (pool_prodcons_run.c) creates the queue with its bound and
 * forks the consumers (pool_roles.c), each with a pipe of its own on which
 * it writes one pool_record per item it got, then the producers, which
 * share the N items. It reads the pipes into the ledger
 * (pool_ledger.c), reaps every child by pid as it ends, and once every
 * producer has finished and every item was recorded shuts the queue down:
 * the consumers' gets then drain what is left and fail with "shut down",
 * and the consumers exit. If an item is missing, the parent waits until
 * the queue is empty with no item out on a lease — nothing can bring it
 * back then — and reports it lost. --kill-one SIGKILLs the busiest consumer
 * a quarter of the way through and starts another in its place; its
 * unacked item goes back to the queue (D2) and the ledger explains the one
 * repeat that can cause. Ctrl-C or SIGTERM stops and reaps every child and
 * the private broker.
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

/* ---- results ---------------------------------------------------------------- */

static int
report(prodcons *pc)
{
    for (int i = 0; i < pc->nconsumers; i++)
        if (pc->consumers[i].killed && pc->consumers[i].records > 0)
            pool_ledger_allow_redelivery(&pc->ledger, &pc->consumers[i].last);
    pool_verdict v;
    bool ok = pool_ledger_verdict(&pc->ledger, &v);
    double secs = (double)(pc->end_ms - pc->start_ms) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    double items = (double)pc->ledger.total;
    printf("prodcons: %llu items of %lld bytes in %.3f s: %.0f items/s, %.2f MB/s\n",
           (unsigned long long)pc->ledger.total, (long long)pc->o.size, secs, items / secs,
           items * (double)pc->o.size / secs / 1e6);
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
    pc.role = (pool_role){.queue = pc.queue, .item_size = (size_t)o->size};
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
    for (int i = 0; i < pc.nconsumers; i++)
        if (pc.consumers[i].fd >= 0)
            close(pc.consumers[i].fd);
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
    "                          [--size BYTES] [--broker EP] [--kill-one]\n\n"
    "Forks P producer and C consumer processes that pass N items through one queue;\n"
    "each child prints its role, pid and parent pid. Consumers take each item on a\n"
    "lease and ack it once recorded, so a consumer that dies loses nothing. The tool\n"
    "then checks that every item arrived exactly once and prints the throughput.\n\n"
    "  --producers P   producer processes (1 to 256); they share the items\n"
    "  --consumers C   consumer processes (1 to 256)\n"
    "  --items N       items in all (1 to 100000000)\n"
    "  --maxsize M     the queue's bound, in items (0: unbounded; default 100)\n"
    "  --size BYTES    bytes of each item (12 to 16777216; default 64)\n"
    "  --broker EP     use the broker at EP; default: start a private one for the run\n"
    "                  ($IPCQ_BROKER is not read)\n"
    "  --kill-one      SIGKILL one consumer a quarter of the way through and start\n"
    "                  another; its unacked item is redelivered, and the run must\n"
    "                  still check out\n";

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
    return prodcons_run(&o);
}

const pool_mode pool_prodcons_mode = {
    "prodcons",
    "prodcons --producers P --consumers C --items N [--maxsize M] [--size BYTES]\n"
    "           [--broker EP] [--kill-one]",
    "producer and consumer processes around one queue; checks exactly-once delivery",
    prodcons_main,
};
