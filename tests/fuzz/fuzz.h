/*
 * What the libFuzzer targets share: the entry points libFuzzer calls, a
 * check that aborts (so that libFuzzer keeps the input) naming what failed,
 * and a reader that takes a fuzz input apart into small fields without ever
 * reading past its end (a field past the end reads as zeros, a slice is cut
 * short), so that every byte string is a valid script for a target.
 */
#ifndef IPCQ_FUZZ_H
#define IPCQ_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Written to descriptor 2 itself: a target may point the stdio stream
 * stderr elsewhere. */
static inline _Noreturn void
fuzz_fail(const char *file, int line, const char *what)
{
    dprintf(2, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

/* ipcqd's flag converters, for fuzz_cli (ipcqd_args.c): limit flag which
 * (modulo their number) set from value, with its bounds and the field set;
 * and the plain size (--probe-ms). Both return 0 when value is accepted. */
size_t fuzz_ipcqd_limits(void);
int fuzz_ipcqd_limit(size_t which, const char *value, long long *min, long long *max, size_t *out);
int fuzz_ipcqd_size(const char *value, long long *out);

typedef struct fuzz_reader {
    const uint8_t *p;
    size_t left;
} fuzz_reader;

static inline uint8_t
fuzz_byte(fuzz_reader *r)
{
    if (r->left == 0)
        return 0;
    r->left--;
    return *r->p++;
}

/* A little-endian 16-bit length. */
static inline size_t
fuzz_u16(fuzz_reader *r)
{
    size_t lo = fuzz_byte(r);
    return lo | (size_t)fuzz_byte(r) << 8;
}

/* Up to len bytes; *got says how many there were. */
static inline const uint8_t *
fuzz_take(fuzz_reader *r, size_t len, size_t *got)
{
    const uint8_t *s = r->p;
    *got = len < r->left ? len : r->left;
    r->p += *got;
    r->left -= *got;
    return s;
}

#endif
