/*
 * What a consumer of `ipcq-pool prodcons` tells the parent about each item
 * it got: the item's identity and the hash of the bytes it got (the items
 * themselves: tool_item.h). The parent checks them in its ledger
 * (pool_ledger.h). A consumer that takes leased batches also writes an ack
 * mark once it has acked a batch, so that the parent knows which of its
 * records may still stand for unacked items (pool_ledger.h).
 */
#ifndef IPCQ_POOL_RECORD_H
#define IPCQ_POOL_RECORD_H

#include <stdint.h>

/* One item got. Fixed size, well under PIPE_BUF, so that each write() of
 * one to a pipe is atomic. */
typedef struct pool_record {
    uint32_t producer;   /* POOL_RECORD_BAD: the item could not be read;
                            POOL_RECORD_ACKED: an ack mark, no item */
    uint32_t deliveries; /* times the broker handed the item out, this time included;
                            0: not known (ipcq_get_leased_many does not say) */
    uint64_t seq;
    uint64_t hash; /* tool_item_hash() of the bytes the consumer got */
} pool_record;

#define POOL_RECORD_BAD UINT32_MAX
/* Every item the consumer recorded before this mark is acked. */
#define POOL_RECORD_ACKED (UINT32_MAX - 1)

#endif
