/*
 * The broker core's invariants, checked from outside, for the programs that
 * drive the core in-process (broker.h): its unit tests (test_core_rules.c)
 * and its fuzz target (fuzz/fuzz_broker.c). Both run them after every step.
 *
 *   core_check_broker()  the broker's bookkeeping against what it holds:
 *                        counts, lists, heaps, sessions, memory charged,
 *                        and the hand-over rules of serve.c
 *   core_ledger          the replies owed: every request that expects a
 *                        reply gets exactly one, and every reply answers
 *                        such a request (a waiter ends exactly once)
 *
 * A check that fails calls the failure hook, which must not return: by
 * default it names the check on descriptor 2 and aborts, so that libFuzzer
 * keeps the input; a cmocka test sets a hook that fails the running test.
 */
#ifndef IPCQ_CORE_CHECK_H
#define IPCQ_CORE_CHECK_H
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Reports a failed check: where it is and the condition, as written. */
typedef void (*core_check_fail_fn)(const char *file, int line, const char *what);

/* Sets the hook every failed check calls; NULL restores the default. */
void core_check_on_failure(core_check_fail_fn fail);

/* Checks every invariant of b (after a step: no pass of serve.c may be
 * under way). */
void core_check_broker(broker *b);

/* What limits.c charges for every item alive in the process; 0 once every
 * broker has released its items. */
size_t core_check_items_held(void);

/* The replies owed to requests, by peer (the caller numbers its peers) and
 * request id; id 0 (the broker's probes) is never owed. */
typedef struct core_owed_reply {
    unsigned peer;
    uint64_t id;
    unsigned count;
} core_owed_reply;

enum { CORE_LEDGER_MAX = 2048 }; /* more than the records of a 4 KiB fuzz input */

typedef struct core_ledger {
    core_owed_reply owed[CORE_LEDGER_MAX];
    size_t nowed;
} core_ledger;

/* Notes the reply the encoded request msg from peer is owed, before the
 * broker handles it: none if it cannot be read, or is one-way (confirm,
 * release, cancel; of this protocol version). */
void core_ledger_owe(core_ledger *l, unsigned peer, const void *msg, size_t len);

/* Checks a message the broker sent to peer, decoded: a probe, or the reply
 * to a request of peer still owed one, carrying items only with IPCQ_OK. */
void core_ledger_answered(core_ledger *l, unsigned peer, const Ipcqwire__Reply *r);

/* The client gave up on request id (it sent a cancel): no reply is owed. */
void core_ledger_forget(core_ledger *l, unsigned peer, uint64_t id);

/* How many replies peer is still owed. */
size_t core_ledger_unanswered(const core_ledger *l, unsigned peer);

#endif
