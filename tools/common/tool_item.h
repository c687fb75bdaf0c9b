/*
 * The items that ipcq-pool and ipcq-bench put and check: each says who put
 * it and which it is, and every byte of it follows from that, so that
 * whoever gets one can check it without being told what was put.
 *
 * An item is [producer:4][seq:8][fill], little-endian, of any size from
 * TOOL_ITEM_HEADER bytes up; byte i of the fill is seed + i (mod 256),
 * the seed a mix of (producer, seq): every byte value occurs. An item of
 * TOOL_ITEM_HEADER bytes is a bare header, which ipcq-bench uses as its
 * end-of-run marker.
 *
 * Also here: tool_item_mix(), a bijection on 64-bit words that ipcq-bench
 * sums over the items to prove each arrived exactly once, and
 * tool_item_hash(), the hash of an item's bytes that ipcq-pool's consumers
 * report to prove they got what was put.
 */
#ifndef IPCQ_TOOL_ITEM_H
#define IPCQ_TOOL_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOOL_ITEM_HEADER 12 /* the smallest item: producer and sequence number */

/* Writes item (producer, seq) of size (>= TOOL_ITEM_HEADER) bytes to buf. */
void tool_item_build(unsigned char *buf, size_t size, uint32_t producer, uint64_t seq);

/* Reads the header; false if the item is too short to have one. */
bool tool_item_parse(const void *item, size_t len, uint32_t *producer, uint64_t *seq);

/* Whether the fill bytes are the ones tool_item_build() writes: all of them
 * if full, else the last one only. */
bool tool_item_fill_ok(const void *item, size_t len, bool full);

/* A bijection on 64-bit words that spreads every bit (splitmix64's). */
uint64_t tool_item_mix(uint64_t x);

/* FNV-1a, 64 bits, of len bytes. */
uint64_t tool_item_hash(const void *data, size_t len);

#endif
