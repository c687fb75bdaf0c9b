/*
 * The items of an ipcq-bench run, and the checksums that prove each one
 * arrived exactly once.
 *
 * An item is [producer:4][seq:8][fill], little-endian, --size bytes; the
 * fill bytes follow from (producer, seq), so a consumer can check every
 * byte without being told what was put. The end-of-run marker ("stop") is
 * a bare header with producer BENCH_STOP.
 *
 * Exactly once: each producer adds bench_item_mix(seq) of every item it put
 * to a 64-bit sum, and every consumer does the same, per producer, for
 * every item it got. Equal counts and equal sums mean no item was lost and
 * none duplicated (a duplicate that hides a loss would need mix(a) ==
 * mix(b) for a != b, and mix is a bijection).
 */
#ifndef IPCQ_BENCH_ITEM_H
#define IPCQ_BENCH_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_ITEM_HEADER 12 /* the smallest item: producer and sequence number */
#define BENCH_STOP UINT32_MAX

/* Writes item (producer, seq) of size (>= BENCH_ITEM_HEADER) bytes to buf. */
void bench_item_build(unsigned char *buf, size_t size, uint32_t producer, uint64_t seq);

/* Writes the stop marker to buf[0..BENCH_ITEM_HEADER). */
void bench_item_stop(unsigned char *buf);

/* Reads the header; false if the item is too short to have one. */
bool bench_item_parse(const void *item, size_t len, uint32_t *producer, uint64_t *seq);

/* Whether the fill bytes are the ones bench_item_build() writes: all of them
 * if full, else the last one only. */
bool bench_item_fill_ok(const void *item, size_t len, bool full);

/* A bijection on 64-bit words that spreads every bit (splitmix64's). */
uint64_t bench_item_mix(uint64_t seq);

#endif
