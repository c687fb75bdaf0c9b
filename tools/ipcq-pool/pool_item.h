/*
 * The items of `ipcq-pool prodcons` and the consumers' records of them.
 *
 * An item is [producer:4][seq:8][padding], little-endian, padded to the
 * run's item size with bytes that follow from (producer, seq): anyone can
 * rebuild the item a producer put and so check what a consumer got by its
 * 64-bit hash. A consumer reports each item it got as one pool_record.
 */
#ifndef IPCQ_POOL_ITEM_H
#define IPCQ_POOL_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_ITEM_HEADER 12 /* the smallest item: producer and sequence number */

/* What a consumer tells the parent about one item it got. Fixed size, well
 * under PIPE_BUF, so that each write() of one to a pipe is atomic. */
typedef struct pool_record {
    uint32_t producer;   /* POOL_RECORD_BAD: the item could not be read */
    uint32_t deliveries; /* times the broker handed the item out, this time included */
    uint64_t seq;
    uint64_t hash; /* pool_item_hash() of the bytes the consumer got */
} pool_record;

#define POOL_RECORD_BAD UINT32_MAX

/* Writes the item (producer, seq) of size bytes (>= POOL_ITEM_HEADER) to buf. */
void pool_item_build(unsigned char *buf, size_t size, uint32_t producer, uint64_t seq);

/* Reads the header of an item; false if it is too short to have one. */
bool pool_item_parse(const void *item, size_t len, uint32_t *producer, uint64_t *seq);

/* FNV-1a, 64 bits. */
uint64_t pool_item_hash(const void *data, size_t len);

#endif
