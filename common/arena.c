/* A bump allocator for decoding requests (see arena.h). */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/* Under AddressSanitizer each allocation is followed by a poisoned red
 * zone, and everything handed out is poisoned again at reset, so that the
 * fuzzers still catch an overrun or a use after the request is gone. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define RED_ZONE 32
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define RED_ZONE 0
#endif

/* Most requests fit in one chunk; a larger one gets a chunk of its own,
 * freed at the next reset so that one big request pins nothing. */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
    arena_chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
};

static void *
arena_alloc(void *data, size_t size)
{
    arena *a = data;
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t want = size;
    size = (size + RED_ZONE + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    arena_chunk *c = a->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        if ((c = malloc(sizeof *c + cap)) == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->chunks;
        a->chunks = c;
        ASAN_POISON_MEMORY_REGION(c->data, cap);
    }
    void *p = c->data + c->used;
    c->used += size;
    ASAN_UNPOISON_MEMORY_REGION(p, want);
    return p;
}

static void
arena_release(void *data, void *p)
{
    /* Freed all at once by arena_reset(). */
}

void
arena_init(arena *a)
{
    a->chunks = NULL;
    a->unpack = (ProtobufCAllocator){arena_alloc, arena_release, a};
}

void
arena_reset(arena *a)
{
    arena_chunk *keep = NULL;
    while (a->chunks != NULL) {
        arena_chunk *c = a->chunks;
        a->chunks = c->next;
        if (keep == NULL && c->cap == ARENA_CHUNK) {
            keep = c;
            continue;
        }
        ASAN_UNPOISON_MEMORY_REGION(c->data, c->cap);
        free(c);
    }
    if (keep != NULL) {
        ASAN_POISON_MEMORY_REGION(keep->data, keep->cap);
        keep->used = 0;
        keep->next = NULL;
    }
    a->chunks = keep;
}

void
arena_free(arena *a)
{
    arena_reset(a);
    if (a->chunks != NULL)
        ASAN_UNPOISON_MEMORY_REGION(a->chunks->data, a->chunks->cap);
    free(a->chunks);
    a->chunks = NULL;
}
