/*
 * Sums of primes for `ipcq-pool primes`, independent ways: the ones the
 * workers run on a range (trial division or a segmented sieve), and a plain
 * single-process sieve that checks the pool's total.
 */
#ifndef IPCQ_POOL_SIEVE_H
#define IPCQ_POOL_SIEVE_H

#include <stdbool.h>
#include <stdint.h>

/* The largest limit either function takes: the sum of the primes below it
 * fits in 64 bits with room to spare, and the check's bitmap in 64 MB. */
#define POOL_SIEVE_MAX 1000000000ULL

/* The sum of the primes p with lo <= p < hi (hi <= POOL_SIEVE_MAX), by a
 * sieve of the range in segments. false when out of memory. */
bool pool_sum_primes_range(uint64_t lo, uint64_t hi, uint64_t *sum);

/* The same sum by trial division of each odd number by the odd numbers up
 * to its square root: the CPU-bound exercise of Python's process-pool
 * examples, slow enough that the pool's own costs do not hide its
 * scaling. */
uint64_t pool_sum_primes_trial(uint64_t lo, uint64_t hi);

/* The sum of the primes below limit (<= POOL_SIEVE_MAX), by one sieve of
 * Eratosthenes over the odd numbers. false when out of memory, or when
 * stop (may be NULL), asked now and then, returns true. */
bool pool_sum_primes_below(uint64_t limit, uint64_t *sum, bool (*stop)(void));

#endif
