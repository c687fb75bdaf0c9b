/*
 * A ledger of items for the load and fault suites: one anonymous shared
 * mapping, made before the clients are forked, in which every client writes
 * what it put and what it got the moment it happens, so that a record
 * survives even a SIGKILL a moment later. The test then drains every queue
 * into the same ledger and checks it.
 *
 * Each item carries its producer's slot and sequence number and a payload
 * derived from both, so that the checker knows every item it sees, and sees
 * any damaged byte. Per item the ledger keeps:
 *   put     none, trying (asked, answer not known), accepted, or refused;
 *   got     receipts that certainly took it (a plain get, an acked lease,
 *           the final drain);
 *   maybe   leases taken whose ack is not known to have failed (a client
 *           killed after its ack, before it could write it down).
 * Per slot (one forked client) it keeps what the checker needs to excuse a
 * killed client: the plain get it was inside, and the items it got by plain
 * gets last (their one-way confirmation may have died with it, D1).
 *
 * Queues are of two classes: KEPT queues are never deleted nor shut down
 * immediately while clients run, so every accepted put on them must be seen
 * exactly once; CHAOS queues are, so their items may be dropped, but never
 * seen twice, and never seen if their put was refused.
 */
#ifndef IPCQ_TEST_LEDGER_H
#define IPCQ_TEST_LEDGER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ledger ledger;

typedef enum ledger_class { LEDGER_KEPT, LEDGER_CHAOS } ledger_class;

/* The smallest encoded item: its header. */
#define LEDGER_ITEM_MIN 16

/* A mapping for slots clients of per_slot items each; NULL on failure. */
ledger *ledger_new(uint32_t slots, uint32_t per_slot);
void ledger_free(ledger **l);
/* Forgets every item, slot and counter (between rounds of a test). */
void ledger_reset(ledger *l);
uint32_t ledger_slots(const ledger *l);
uint32_t ledger_per_slot(const ledger *l);

/* The test's epoch (bumped when the broker is killed): a put records the
 * epoch it began in. */
void ledger_set_epoch(ledger *l, uint32_t epoch);
uint32_t ledger_epoch(const ledger *l);

/* Asks every client to stop after its current call. */
void ledger_stop(ledger *l);
bool ledger_stopping(const ledger *l);

/* Producer side. Writes item (slot, seq) of len bytes (>= LEDGER_ITEM_MIN)
 * into buf. */
void ledger_encode(uint32_t slot, uint32_t seq, void *buf, size_t len);
/* Before the put is sent, and with its status after: IPCQ_OK accepted; a
 * status that leaves the outcome unknown (broker unavailable, a flush that
 * failed) keeps it "trying"; any other refused. */
void ledger_put_begin(ledger *l, uint32_t slot, uint32_t seq, ledger_class cls);
void ledger_put_end(ledger *l, uint32_t slot, uint32_t seq, int status);

/* Consumer side; slot is the consumer's own. Each returns the item's id
 * (slot << 32 | seq), or UINT64_MAX for an item the ledger does not know
 * (counted as bad, with a line saying why). */
/* How an item was received, for the checker's report. */
typedef enum ledger_way {
    LEDGER_BY_GET = 1,
    LEDGER_BY_GET_MANY = 2,
    LEDGER_BY_PREFETCH = 4,
    LEDGER_BY_ACK = 8,
    LEDGER_BY_DRAIN = 16,
} ledger_way;

/* A plain get (or the drain) took it. */
uint64_t ledger_got(ledger *l, uint32_t slot, ledger_way way, const void *data, size_t len);
/* Marks the start and end of a plain get of up to max items by slot. */
void ledger_get_begin(ledger *l, uint32_t slot, uint32_t max);
void ledger_get_end(ledger *l, uint32_t slot);
/* A lease was taken: "maybe" until its ack's status is known. */
uint64_t ledger_leased(ledger *l, const void *data, size_t len);
/* The ack (or release, acked false) by slot of lease id returned status. */
void ledger_lease_end(ledger *l, uint32_t slot, uint64_t id, bool acked, int status);
/* The test SIGKILLed slot's process. */
void ledger_killed(ledger *l, uint32_t slot);

/* Counters the clients share; add with ledger_count(). */
typedef enum ledger_counter {
    LC_PUTS,           /* items accepted */
    LC_GETS,           /* items got by plain gets */
    LC_ACKS,           /* leases acked */
    LC_LATE_ACKS,      /* acks refused: the lease ran out (IPCQ_ELEASE) */
    LC_TIMEOUTS,       /* timed calls that ended Empty or Full */
    LC_UNAVAILABLE,    /* calls that failed "broker unavailable" */
    LC_UNEXPECTED,     /* calls that returned a status their case does not allow */
    LC_LATE_WAITS,     /* timed waits that outlived their deadline past the bound */
    LC_MAX_LATE_MS,    /* the most a timed wait outlived its deadline (a maximum) */
    LC_CALLS,          /* every call */
    LC_LATE_UNDER_10,  /* timed waits that ended less than 10 ms past their timeout */
    LC_LATE_UNDER_100, /* ... 10 to 99 ms */
    LC_LATE_UNDER_500, /* ... 100 to 499 ms */
    LC_LATE_OVER_500,  /* ... 500 ms or more */
    LC_DELETES,        /* chaos deletes that succeeded */
    LC_SHUTDOWNS,      /* chaos shutdowns that succeeded */
    LC_RECONNECTS,     /* handles closed and opened again */
    LC_BAD_ITEMS,      /* received bytes that are no item a client put, or damaged */
    LC_COUNTERS
} ledger_counter;
void ledger_count(ledger *l, ledger_counter k, int64_t n);
void ledger_count_max(ledger *l, ledger_counter k, int64_t v);
int64_t ledger_counter_value(const ledger *l, ledger_counter k);

/* Keeps the first problem a client reports (printf format), for the test to
 * print; counts it under LC_UNEXPECTED. */
__attribute__((format(printf, 2, 3))) void ledger_problem(ledger *l, const char *fmt, ...);
const char *ledger_first_problem(const ledger *l);

/* Per-slot liveness, for the broker restart test: the last time (monotonic
 * ms) a call of slot succeeded or failed "broker unavailable". */
void ledger_mark_call(ledger *l, uint32_t slot, int status, int64_t at_ms);
int64_t ledger_last_ok(const ledger *l, uint32_t slot);
int64_t ledger_last_unavailable(const ledger *l, uint32_t slot);

/* The test is about to SIGSTOP slot's process, or to SIGCONT it (call it
 * both times, before the signal): a call that spans a stop sees the marks
 * change, and is excused its timing. */
void ledger_mark_stopped(ledger *l, uint32_t slot);
uint32_t ledger_stop_marks(const ledger *l, uint32_t slot);

/* What slot's client is doing: a load_op + 1, 0 between calls; for a test
 * to say at which points it killed clients. */
void ledger_set_doing(ledger *l, uint32_t slot, int what);
int ledger_doing(const ledger *l, uint32_t slot);
/* The max items of the plain get slot is inside, 0 if none. */
uint32_t ledger_in_get(const ledger *l, uint32_t slot);

/* A slot's lease in hand: the time it runs out, 0 when it holds none. */
void ledger_hold(ledger *l, uint32_t slot, int64_t until_ms);
int64_t ledger_holding(const ledger *l, uint32_t slot);

typedef struct ledger_report {
    uint64_t accepted;     /* puts accepted */
    uint64_t unknown;      /* puts whose outcome is unknown */
    uint64_t refused;      /* puts refused */
    uint64_t seen;         /* receipts */
    uint64_t lost;         /* accepted on a kept queue, never seen */
    uint64_t excused_lost; /* of those, within what killed getters may have taken */
    uint64_t duplicated;   /* seen more than once beyond what kills excuse */
    uint64_t excused_dups; /* extra receipts that killed getters excuse */
    uint64_t refused_seen; /* refused, yet seen */
    uint64_t unknown_seen; /* never put, yet seen; or damaged (bad) */
    uint64_t epoch_lost;   /* accepted in epoch since_epoch or later, never seen */
    char first[256];       /* a line on the first failure found */
    /* ledger_check_durable() only (durable is then true): */
    bool durable;
    uint64_t unconfirmed;   /* plain-get receipts never known to be confirmed */
    uint64_t out_of_order;  /* items got after a later item of their producer, unexcused */
    uint64_t order_checked; /* items whose first hand-out the FIFO rule held to */
    uint64_t order_excused; /* items whose first known hand-out began during a kill */
} ledger_report;

/* Checks every item. With since_epoch > 0 (a broker restart test), the
 * kept-queue rule applies only to puts begun in since_epoch or later (what
 * the broker that now runs accepted); the rest may have died with a broker.
 * Returns true if nothing is wrong. */
bool ledger_check(const ledger *l, uint32_t since_epoch, ledger_report *r);
/* One line of figures, for the test's log. */
void ledger_report_print(const ledger_report *r, const char *label);

/* ---- a durable broker (SPEC D5; test_durable_crash) ---------------------
 *
 * A durable broker loses nothing it accepted, kill it as often as one
 * likes; what it may hand out again is an item whose hand-out was not
 * confirmed, or whose lease was not acked, in a log that survived the
 * kill. A ledger made by ledger_new_durable() keeps, besides the above,
 * per item: the queue it was put on (a small index of the test's) and its
 * length; each hand-out a client saw, on a clock of tickets that every
 * client shares (when its call began and ended, and the epoch then); and
 * how many of its plain-get receipts are not known to be confirmed.
 *
 * Epochs: the test bumps the epoch once before it kills the broker and
 * once after the next broker answers. So an even epoch read at two moments
 * proves that one broker ran, never killed, from the first to the second.
 *
 * Confirmation: a plain get's confirmation is one-way (D1); it is known to
 * be in the log once a later call of the same client on the same handle
 * was answered by the broker (answers come in order, and a durable broker
 * answers only after the commit that holds every record before), with the
 * same even epoch read before the get and after that answer. The client
 * says so with ledger_confirmed(). An acked lease is confirmed by its OK.
 *
 * The rules ledger_check_durable() holds every item to:
 *   lost:   a put accepted on a kept queue is seen (a receipt, or a lease
 *           whose ack may have been applied): a durable broker loses
 *           nothing it acknowledged, whatever was killed;
 *   twice:  an item has at most one confirmed receipt (plain gets
 *           confirmed, leases acked OK, the drain's gets); every other
 *           receipt is one whose confirmation the kill may have lost, so an
 *           item may come twice (or more) only through those;
 *   never put, refused: never seen;
 *   order:  FIFO per producer and queue, on first hand-outs: if x was
 *           accepted before its producer put y (x's put acknowledged before
 *           y's began, or x before y in one put_many or one async window
 *           that flush acknowledged), x's first hand-out comes before y's
 *           first hand-out, across restarts too (keys survive; what comes
 *           back goes to the head in key order). Redelivered items go back
 *           to the head, so it is each item's FIRST hand-out that keeps its
 *           place, not its last receipt. A violation is:
 *           - y's earliest-ended hand-out ended (ticket) before x's
 *             earliest-begun hand-out began, both calls having begun in one
 *             even epoch (one broker ran, unkilled, from the first to the
 *             second). With a kill between them the killed broker may have
 *             handed x out to a call that never returned it (a first
 *             hand-out the ledger cannot see), then y;
 *           - x after y in one reply while x had no hand-out before (an
 *             unseen hand-out by a killed broker brought x back to the
 *             head, ahead of y or back with it, in key order);
 *   deliveries: a lease reports at least 1 + the hand-outs of the item
 *           that ended before its call began (counts survive a restart).
 * Delivery counts and the order within one reply are checked as hand-outs
 * are recorded (ledger_problem), the order across calls and the rest by
 * ledger_check_durable(). */

/* A point on the ledger's shared clock: a ticket later than every ticket
 * taken before it, and the epoch read with it. */
typedef struct ledger_stamp {
    uint64_t ticket;
    uint32_t epoch;
} ledger_stamp;

/* Like ledger_new(), with the per-item figures above. */
ledger *ledger_new_durable(uint32_t slots, uint32_t per_slot);
ledger_stamp ledger_stamp_now(ledger *l);
/* After ledger_put_begin(): the item goes to queue number queue (< 256) of
 * the test's, and is len bytes long. */
void ledger_put_queue(ledger *l, uint32_t slot, uint32_t seq, unsigned queue, size_t len);
/* A plain get took it, its confirmation not known yet: counted as one
 * receipt (ledger_got) and one unconfirmed. */
uint64_t ledger_got_unconfirmed(ledger *l, uint32_t slot, ledger_way way, const void *data,
                                size_t len);
/* That receipt's confirmation is now known to be in the log. */
void ledger_confirmed(ledger *l, uint64_t id);
/* The n items (ids from ledger_got*() or ledger_leased(), UINT64_MAX for
 * one the ledger did not know) of one reply, in its order, to a call that
 * began at begin and ended at end; deliveries[i] as the lease reported, or
 * deliveries NULL for plain gets. Checks the reply's order and the counts. */
void ledger_handouts(ledger *l, const uint64_t *ids, size_t n, const ledger_stamp *begin,
                     const ledger_stamp *end, const uint32_t *deliveries);
/* Items accepted on queue: put acknowledged, or put with an unknown outcome
 * but seen (so it was accepted). Valid once every client is done. */
uint64_t ledger_accepted_on(const ledger *l, unsigned queue);
/* An upper bound of the bytes of the items on queues (put, perhaps
 * accepted, and no confirmed receipt), each counted as its length plus
 * per_item: for a bound of what the broker's log holds live. */
uint64_t ledger_live_bytes(const ledger *l, size_t per_item);
/* The rules above; true if nothing is wrong. */
bool ledger_check_durable(const ledger *l, ledger_report *r);

#endif
