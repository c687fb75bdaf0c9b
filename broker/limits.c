/* The broker's limits (B2), checked once per request before anything
 * changes, so that a refused request leaves the broker as it was:
 *
 *   max name length  a name longer than --max-name-length is IPCQ_EINVAL
 *   max queues       creating a queue past --max-queues is IPCQ_ELIMIT
 *   max waiters      blocking past --max-waiters getters, putters or joiners
 *                    on one queue is IPCQ_ELIMIT
 *   max memory       a put that would take the memory held past
 *                    --max-memory is IPCQ_EMEMLIMIT, as is any request that
 *                    needs memory once the broker is past it
 *
 * Memory held is an estimate kept exactly up to date: every item alive in
 * the process (queued, out for delivery, or held by a blocked putter) counts
 * its bytes plus a fixed overhead (item_new and item_free charge and release
 * it), every waiter a fixed cost, every queue a fixed cost, and what the
 * transport holds for its connections (the unix:// lane's records, input
 * tails and unsent replies: broker_transport_held). Items are counted per
 * process, which is what the RSS the limit protects is. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"
#include "wire.h"

/* What malloc adds to each block, rounded up. */
#define MALLOC_SLACK 32
/* An item's header, plus the delivery record it has while handed out. */
#define ITEM_OVERHEAD (sizeof(item) + sizeof(delivery) + 2 * MALLOC_SLACK)
/* A waiter, a share of its session (with its routing id), its deadline. */
#define WAITER_COST (sizeof(waiter) + sizeof(session) + 64 + 3 * MALLOC_SLACK)
/* A queue, its name, its slot in the table. */
#define QUEUE_COST (sizeof(queue) + IPCQ_NAME_MAX + 64 + 2 * MALLOC_SLACK)

static size_t items_held; /* bytes charged by every item alive in the process */

size_t
limits_item_cost(size_t len)
{
    return len + ITEM_OVERHEAD;
}

void
limits_charge_item(size_t len)
{
    items_held += limits_item_cost(len);
}

void
limits_release_item(size_t len)
{
    size_t cost = limits_item_cost(len);
    items_held = items_held > cost ? items_held - cost : 0;
}

size_t
limits_memory_held(const broker *b)
{
    return items_held + b->nwaiters * WAITER_COST + b->queues.count * QUEUE_COST + b->out_cap +
           b->transport_held;
}

void
broker_transport_held(broker *b, size_t before, size_t after)
{
    b->transport_held += after - before; /* modulo 2^N: a release subtracts */
}

bool
broker_memory_over(const broker *b, size_t slack)
{
    size_t held = limits_memory_held(b), max = b->cfg.max_memory;
    return held > max && held - max > slack;
}

/* Answers with status and "NAME: text". */
__attribute__((format(printf, 6, 7))) static bool
refuse(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Request *m, int status,
       const char *fmt, ...)
{
    char text[512];
    int n = snprintf(text, sizeof text, "%.*s: ", (int)m->queue.len, (const char *)m->queue.data);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    reply_send_status(b, peer, peer_len, m->id, status, text);
    return false;
}

/* The count of waiters of this kind on q (NULL: none), and its name. */
static size_t
waiting(const queue *q, Ipcqwire__Op op, const char **kind)
{
    switch (op) {
    case IPCQWIRE__OP__OP_GET:
        *kind = "getters";
        return q ? q->ngetters : 0;
    case IPCQWIRE__OP__OP_PUT:
        *kind = "putters";
        return q ? q->nputters : 0;
    case IPCQWIRE__OP__OP_JOIN:
        *kind = "joiners";
        return q ? q->njoiners : 0;
    default:
        *kind = NULL;
        return 0;
    }
}

/* The memory the request would add: its items, its waiter, its queue. 0 for
 * a request that adds none, or that frees memory (a get with items there). */
static size_t
memory_needed(const queue *q, const Ipcqwire__Request *m, bool blocks)
{
    size_t need = q == NULL ? QUEUE_COST : 0;
    if (m->op == IPCQWIRE__OP__OP_PUT) {
        for (size_t i = 0; i < m->n_items; i++)
            need += limits_item_cost(m->items[i].len);
        return need + WAITER_COST;
    }
    if (blocks && !(m->op == IPCQWIRE__OP__OP_GET && q != NULL && q->items.count > 0))
        need += WAITER_COST;
    return need;
}

bool
limits_admit(broker *b, const void *peer, size_t peer_len, const Ipcqwire__Request *m,
             int64_t timeout_ms)
{
    const broker_config *cfg = &b->cfg;
    if (!m->has_queue || m->queue.len == 0)
        return true; /* resolve_queue() decides */
    if (m->queue.len > cfg->max_name_len && m->queue.len <= IPCQ_NAME_MAX) {
        char text[160];
        snprintf(text, sizeof text,
                 "queue name of %zu bytes is over the max name length of %zu (ipcqd "
                 "--max-name-length)",
                 m->queue.len, cfg->max_name_len);
        reply_send_status(b, peer, peer_len, m->id, IPCQ_EINVAL, text);
        return false;
    }
    if (!queue_name_valid(m->queue.data, m->queue.len))
        return true; /* resolve_queue() answers, as for any bad name */
    queue *q = broker_lookup_queue(b, m->queue.data, m->queue.len);
    /* A get that may wait adds a placeholder for a missing queue (Q2). */
    bool creates = m->op == IPCQWIRE__OP__OP_PUT || m->op == IPCQWIRE__OP__OP_CREATE ||
                   (m->op == IPCQWIRE__OP__OP_GET && timeout_ms != 0);
    if (q == NULL && !creates)
        return true; /* "no such queue" */
    if (q == NULL && b->queues.count >= cfg->max_queues)
        return refuse(b, peer, peer_len, m, IPCQ_ELIMIT,
                      "cannot create the queue: the broker holds its max of %zu queues (ipcqd "
                      "--max-queues)",
                      cfg->max_queues);
    const char *kind;
    size_t nwaiting = waiting(q, m->op, &kind);
    bool blocks = kind != NULL && timeout_ms != 0;
    if (blocks && nwaiting >= cfg->max_waiters)
        return refuse(b, peer, peer_len, m, IPCQ_ELIMIT,
                      "too many blocked %s: the queue has its max of %zu (ipcqd --max-waiters)",
                      kind, cfg->max_waiters);
    size_t need = memory_needed(q, m, blocks), held = limits_memory_held(b);
    if (need > 0 && (need > cfg->max_memory || held > cfg->max_memory - need))
        return refuse(b, peer, peer_len, m, IPCQ_EMEMLIMIT,
                      "over memory limit: the broker holds %zu bytes, this needs %zu more, the "
                      "limit is %zu (ipcqd --max-memory)",
                      held, need, cfg->max_memory);
    return true;
}
