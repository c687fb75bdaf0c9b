/*
 * The ledger of `ipcq-pool prodcons`: what the consumers reported, checked
 * against what the producers put, to prove that every item arrived exactly
 * once at the application level.
 *
 * Why a duplicate can be legitimate. A consumer takes items on a lease,
 * writes their records to the parent (atomic write()s on its own pipe:
 * once written, a record survives the consumer), and only then acks. Killed
 * before the write, it leaves no record and the broker gives the item to
 * another consumer: recorded once. Killed after the ack: recorded once.
 * Killed between the write and the ack, the item was recorded, but never
 * acked, so the broker rightly hands it out again (D1, D2) and a second
 * consumer records it too. That is a redelivery of an unacked item, not a
 * duplicate put, and it can only be one of the records the killed consumer
 * wrote since its last ack: its last record when it takes one item a call
 * (--strict: one lease at a time), the records after its last ack mark
 * when it takes leased batches (one batch at a time, marked once acked:
 * pool_record.h). The parent passes exactly those to
 * pool_ledger_allow_redelivery(); pool_ledger_verdict() lets each appear
 * once more, and counts every other repeat as a duplicate and every
 * missing item as lost. Recording after the ack instead would turn the
 * same kill into a loss.
 */
#ifndef IPCQ_POOL_LEDGER_H
#define IPCQ_POOL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool_record.h"

typedef struct pool_ledger {
    uint64_t total;      /* items the producers put */
    uint32_t producers;  /* producer p put the items first[p] .. first[p + 1] - 1 */
    uint64_t *first;     /* producers + 1 entries */
    uint8_t *count;      /* records per item, saturating at 255 */
    size_t item_size;    /* bytes of each item */
    unsigned char *item; /* scratch: an item rebuilt to check a hash */
    uint64_t distinct;   /* items recorded at least once */
    uint64_t records;    /* every record, repeats included */
    uint64_t bad;        /* records of no item put, or with the wrong hash */
    uint64_t *allowed;   /* items a killed consumer may have left unacked */
    size_t nallowed, allowed_cap;
} pool_ledger;

typedef struct pool_verdict {
    uint64_t lost;        /* items nobody recorded */
    uint64_t duplicated;  /* records beyond the first that no kill explains */
    uint64_t redelivered; /* repeats explained by a killed consumer: de-duplicated */
    uint64_t bad;         /* records that match no item put */
} pool_verdict;

/* The number of items producer p of producers puts when they share items. */
uint64_t pool_share(uint64_t items, uint32_t producers, uint32_t p);

/* false when out of memory. */
bool pool_ledger_init(pool_ledger *l, uint64_t items, uint32_t producers, size_t item_size);
void pool_ledger_free(pool_ledger *l);

/* Adds one record, checking that it names an item that was put and that its
 * hash is that item's. */
void pool_ledger_add(pool_ledger *l, const pool_record *r);

/* Every item was recorded at least once. */
bool pool_ledger_complete(const pool_ledger *l);

/* A consumer killed on purpose may have written rec without acking its
 * item: that item may be recorded once more (once per call). false when
 * out of memory. */
bool pool_ledger_allow_redelivery(pool_ledger *l, const pool_record *rec);

/* The final count; true if every item arrived exactly once. */
bool pool_ledger_verdict(const pool_ledger *l, pool_verdict *v);

#endif
