/* Sums of primes (see pool_sieve.h). */
#include "pool_sieve.h"

#include <stdlib.h>
#include <string.h>

#define SEGMENT (256 * 1024) /* numbers sieved at a time: fits in a cache */

/* The largest r with r * r <= n. */
static uint64_t
isqrt(uint64_t n)
{
    uint64_t r = 0;
    while ((r + 1) * (r + 1) <= n)
        r++;
    return r;
}

/* composite[i] for 0 <= i <= n, by the plain sieve. */
static unsigned char *
small_sieve(uint64_t n)
{
    unsigned char *composite = calloc((size_t)n + 1, 1);
    if (composite == NULL)
        return NULL;
    for (uint64_t i = 2; i * i <= n; i++)
        if (!composite[i])
            for (uint64_t j = i * i; j <= n; j += i)
                composite[j] = 1;
    return composite;
}

uint64_t
pool_sum_primes_trial(uint64_t lo, uint64_t hi)
{
    uint64_t sum = lo <= 2 && hi > 2 ? 2 : 0;
    for (uint64_t n = lo < 3 ? 3 : lo | 1; n < hi; n += 2) {
        bool prime = true;
        for (uint64_t d = 3; d * d <= n; d += 2) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        sum += prime ? n : 0;
    }
    return sum;
}

bool
pool_sum_primes_range(uint64_t lo, uint64_t hi, uint64_t *sum)
{
    *sum = 0;
    if (lo < 2)
        lo = 2;
    if (hi <= lo)
        return true;
    uint64_t root = isqrt(hi - 1);
    unsigned char *small = small_sieve(root);
    unsigned char *seg = malloc(SEGMENT);
    if (small == NULL || seg == NULL) {
        free(small);
        free(seg);
        return false;
    }
    for (uint64_t base = lo; base < hi; base += SEGMENT) {
        uint64_t end = hi - base < SEGMENT ? hi : base + SEGMENT;
        memset(seg, 0, (size_t)(end - base));
        for (uint64_t p = 2; p <= root; p++) {
            if (small[p])
                continue;
            uint64_t start = (base + p - 1) / p * p;
            if (start < p * p)
                start = p * p;
            for (uint64_t m = start; m < end; m += p)
                seg[m - base] = 1;
        }
        for (uint64_t n = base; n < end; n++)
            if (!seg[n - base])
                *sum += n;
    }
    free(small);
    free(seg);
    return true;
}

bool
pool_sum_primes_below(uint64_t limit, uint64_t *sum, bool (*stop)(void))
{
    *sum = 0;
    if (limit <= 2)
        return true;
    /* bit k stands for the odd number 2k + 1 */
    uint64_t odds = limit / 2;
    unsigned char *composite = calloc((size_t)(odds / 8 + 1), 1);
    if (composite == NULL)
        return false;
    for (uint64_t k = 1; k < odds; k++) {
        if (composite[k / 8] & (1u << (k % 8)))
            continue;
        uint64_t p = 2 * k + 1;
        if (p * p >= limit)
            break;
        if (stop != NULL && stop()) {
            free(composite);
            return false;
        }
        for (uint64_t m = p * p; m < limit; m += 2 * p)
            composite[m / 2 / 8] |= (unsigned char)(1u << ((m / 2) % 8));
    }
    *sum = 2;
    bool stopped = false;
    for (uint64_t k = 1; k < odds && !stopped; k++) {
        if (!(composite[k / 8] & (1u << (k % 8))))
            *sum += 2 * k + 1;
        stopped = (k & 0xfffff) == 0 && stop != NULL && stop();
    }
    free(composite);
    return !stopped;
}
