/*
 * Command-line options of ipcq-pool: each mode lists its options in a table
 * (name, kind, bounds, where the value goes) and pool_parse() fills them in,
 * taking "--name VALUE" and "--name=VALUE". Usage errors are reported here,
 * as "ipcq-pool: MODE: WHAT" and a hint, on stderr (tool_usage.h, with
 * pool_usage); the numbers are read as every tool reads them
 * (tool_numbers.h).
 *
 * The ipcq CLI's scanner (cli_args.c) does not fit: its option set is a
 * fixed table of the CLI's own options, and it sorts options from
 * positional arguments, which ipcq-pool's modes do not take.
 */
#ifndef IPCQ_POOL_ARGS_H
#define IPCQ_POOL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tool_usage.h"

typedef enum pool_arg_kind {
    POOL_ARG_INT,    /* an integer in [min, max]; dst: int64_t */
    POOL_ARG_FLAG,   /* no value; dst: bool */
    POOL_ARG_STRING, /* a non-empty word; dst: const char * (borrowed from argv) */
    POOL_ARG_LIST,   /* integers in [min, max], comma separated; dst: pool_list */
} pool_arg_kind;

#define POOL_LIST_MAX 16

typedef struct pool_list {
    int64_t v[POOL_LIST_MAX];
    int n;
} pool_list;

typedef struct pool_opt {
    const char *name; /* "--items" */
    pool_arg_kind kind;
    bool required;
    int64_t min, max;
    void *dst;
} pool_opt;

/* What pool_parse() found. */
enum { POOL_PARSED = 0, POOL_HELP = -1, POOL_BAD = 2 /* = TOOL_EXIT_USAGE */ };

/* Fills the options of mode from argv[0..argc). POOL_HELP when --help or
 * -h came (scanning stops there); POOL_BAD after reporting a usage error. */
int pool_parse(const char *mode, int argc, char **argv, const pool_opt *opts, size_t nopts);

/* How ipcq-pool words a usage error: tool_usage_error(&pool_usage, MODE,
 * ...) prints "ipcq-pool: [MODE: ]WHAT" and "Try 'ipcq-pool [MODE ]--help'."
 * (MODE may be NULL) and returns TOOL_EXIT_USAGE. */
extern const tool_usage pool_usage;

#endif
