/* The exactly-once check of prodcons (see pool_ledger.h for the reasoning). */
#include "pool_ledger.h"

#include <stdlib.h>
#include <string.h>

#include "tool_item.h"

uint64_t
pool_share(uint64_t items, uint32_t producers, uint32_t p)
{
    return items / producers + (p < items % producers ? 1 : 0);
}

bool
pool_ledger_init(pool_ledger *l, uint64_t items, uint32_t producers, size_t item_size)
{
    memset(l, 0, sizeof *l);
    l->total = items;
    l->producers = producers;
    l->item_size = item_size;
    l->first = calloc((size_t)producers + 1, sizeof *l->first);
    l->count = calloc(items ? (size_t)items : 1, 1);
    l->item = malloc(item_size);
    if (l->first == NULL || l->count == NULL || l->item == NULL) {
        pool_ledger_free(l);
        return false;
    }
    for (uint32_t p = 0; p < producers; p++)
        l->first[p + 1] = l->first[p] + pool_share(items, producers, p);
    return true;
}

void
pool_ledger_free(pool_ledger *l)
{
    free(l->first);
    free(l->count);
    free(l->item);
    free(l->allowed);
    memset(l, 0, sizeof *l);
}

/* The index of the item the record names, or -1 if none was put. */
static int64_t
index_of(const pool_ledger *l, const pool_record *r)
{
    if (r->producer >= l->producers || r->seq >= l->first[r->producer + 1] - l->first[r->producer])
        return -1;
    return (int64_t)(l->first[r->producer] + r->seq);
}

/* The same, and -1 also when the record's hash is not that item's. */
static int64_t
checked_index_of(pool_ledger *l, const pool_record *r)
{
    int64_t i = index_of(l, r);
    if (i >= 0) {
        tool_item_build(l->item, l->item_size, r->producer, r->seq);
        if (tool_item_hash(l->item, l->item_size) != r->hash)
            i = -1;
    }
    return i;
}

void
pool_ledger_add(pool_ledger *l, const pool_record *r)
{
    l->records++;
    int64_t i = checked_index_of(l, r);
    if (i < 0) {
        l->bad++;
        return;
    }
    if (l->count[i] == 0)
        l->distinct++;
    if (l->count[i] < UINT8_MAX)
        l->count[i]++;
}

bool
pool_ledger_complete(const pool_ledger *l)
{
    return l->distinct == l->total;
}

bool
pool_ledger_allow_redelivery(pool_ledger *l, const pool_record *rec)
{
    int64_t i = checked_index_of(l, rec);
    if (i < 0)
        return true; /* a bad record: counted as bad, never forgiven */
    if (l->nallowed == l->allowed_cap) {
        size_t cap = l->allowed_cap ? 2 * l->allowed_cap : 64;
        uint64_t *a = realloc(l->allowed, cap * sizeof *a);
        if (a == NULL)
            return false;
        l->allowed = a;
        l->allowed_cap = cap;
    }
    l->allowed[l->nallowed++] = (uint64_t)i;
    return true;
}

/* How many extra records of item i the kills explain. */
static uint64_t
allowance(const pool_ledger *l, uint64_t i)
{
    uint64_t n = 0;
    for (size_t k = 0; k < l->nallowed; k++)
        n += l->allowed[k] == i;
    return n;
}

bool
pool_ledger_verdict(const pool_ledger *l, pool_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->bad = l->bad;
    for (uint64_t i = 0; i < l->total; i++) {
        uint64_t c = l->count[i];
        if (c == 0) {
            v->lost++;
            continue;
        }
        uint64_t extra = c - 1, ok = extra ? allowance(l, i) : 0;
        if (ok > extra)
            ok = extra;
        v->redelivered += ok;
        v->duplicated += extra - ok;
    }
    return v->lost == 0 && v->duplicated == 0 && v->bad == 0;
}
