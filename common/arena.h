/*
 * A bump allocator for decoding one request: protobuf-c's unpack takes
 * every piece of a request (the message, its item list, each item's bytes)
 * from it, and the whole lot is dropped at once when the request is
 * handled, instead of a malloc and a free per piece.
 */
#ifndef IPCQ_ARENA_H
#define IPCQ_ARENA_H
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *chunks;       /* newest first */
    ProtobufCAllocator unpack; /* pass to ipcqwire__request__unpack */
} arena;

void arena_init(arena *a);
/* Drops everything allocated; keeps one chunk of the usual size. */
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
