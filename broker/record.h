/* The durable broker's records (SPEC D5): what each change of state writes
 * to the log (store/), and how it reads back. Little-endian fields, then a
 * queue name, then an item's bytes; docs/PROTOCOL.md §11 lists them.
 *
 * Every queue and every item has one live record that says all of it (a
 * queue's state, an item's put or its copy); the other records change one
 * thing and are released as soon as they are written. The store deletes
 * segments oldest first, so such a record is on disk whenever the record
 * it changes is, and replaying the log in order rebuilds the state. */
#ifndef IPCQ_RECORD_H
#define IPCQ_RECORD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum record_type {
    RECORD_QUEUE = 1,   /* a queue's state, absolute: created or changed */
    RECORD_DELETED = 2, /* a queue deleted, with every item it held */
    RECORD_PUT = 3,     /* an item accepted: one more unfinished task */
    RECORD_ITEM = 4,    /* an item's copy, its state now (compaction, recovery) */
    RECORD_HANDOUT = 5, /* an item handed out, its delivery count */
    RECORD_RETURN = 6,  /* an item back in its queue, at a new place */
    RECORD_DONE = 7,    /* an item gone for good: acked, confirmed, dead-lettered */
};

#define RECORD_QUEUE_SHUTDOWN 1u
#define RECORD_QUEUE_IMMEDIATE 2u

typedef struct record_queue {
    uint8_t flags; /* RECORD_QUEUE_* */
    uint32_t max_deliveries;
    int64_t maxsize;
    uint64_t unfinished, dead_lettered;
    const char *name;
    size_t name_len;
} record_queue;

typedef struct record_item {
    uint64_t id;
    int64_t key;
    uint32_t deliveries;
    uint8_t state; /* item_state: queued or out */
    const char *name;
    size_t name_len;
    const unsigned char *data;
    size_t len;
} record_item;

/* An item's key (its place in its queue) lies within +-RECORD_KEY_MAX: a
 * record with one beyond is damaged (a queue gets there after 2^62 puts or
 * returns), and the keys counted on from a recovered one never overflow. */
#define RECORD_KEY_MAX ((int64_t)1 << 62)

/* HANDOUT (value: deliveries), RETURN (value: key) and DONE (no value). */
typedef struct record_ref {
    uint64_t id;
    int64_t value;
} record_ref;

/* Sizes of the encoded payloads; the encoders write exactly that many. */
size_t record_queue_size(size_t name_len);
size_t record_item_size(size_t name_len, size_t len);
size_t record_ref_size(enum record_type type);
void record_queue_encode(const record_queue *r, unsigned char *out);
void record_deleted_encode(const char *name, size_t name_len, unsigned char *out);
void record_item_encode(const record_item *r, unsigned char *out);
void record_ref_encode(enum record_type type, const record_ref *r, unsigned char *out);

/* Each false when the payload is not one of its type (its pointers point
 * into the payload). */
bool record_queue_decode(const void *payload, size_t len, record_queue *r);
bool record_deleted_decode(const void *payload, size_t len, const char **name, size_t *name_len);
bool record_item_decode(const void *payload, size_t len, record_item *r);
bool record_ref_decode(enum record_type type, const void *payload, size_t len, record_ref *r);

#endif
