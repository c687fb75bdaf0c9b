/* The byte-keyed hash table, and the id map: lookups after growth and after
 * deletions that shift probe chains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "idmap.h"
#include "table.h"

enum { N = 5000 };
static char keys[N][16];

static void
finds_every_key_after_growth_and_deletion(void **state)
{
    table t;
    table_init(&t);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "q%d", i);
        assert_true(table_put(&t, keys[i], strlen(keys[i]), keys[i]));
    }
    assert_int_equal(t.count, N);
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(table_remove(&t, keys[i], strlen(keys[i])), keys[i]);
    for (int i = 0; i < N; i++) {
        void *v = table_get(&t, keys[i], strlen(keys[i]));
        if (i % 2)
            assert_ptr_equal(v, keys[i]);
        else
            assert_null(v);
    }
    assert_null(table_remove(&t, "absent", 6));
    size_t seen = 0;
    void *v;
    for (size_t cur = 0; table_next(&t, &cur, &v);)
        seen++;
    assert_int_equal(seen, N / 2);
    table_free(&t);
}

static void
keys_are_binary(void **state)
{
    table t;
    table_init(&t);
    static const char a[] = {'x', 0, 'y'}, b[] = {'x', 0, 'z'};
    assert_true(table_put(&t, a, 3, (void *)a));
    assert_true(table_put(&t, b, 3, (void *)b));
    assert_ptr_equal(table_get(&t, a, 3), a);
    assert_ptr_equal(table_get(&t, b, 3), b);
    assert_null(table_get(&t, a, 1));
    table_free(&t);
}

/* Random puts and removes of sequential ids (as the broker's items come
 * and go, oldest first but not always) against a plain array. */
static void
idmap_matches_a_model(void **state)
{
    enum { IDS = 20000 };
    static bool present[IDS + 1];
    memset(present, 0, sizeof present);
    idmap m;
    idmap_init(&m);
    uint64_t rng = 12345, next = 1, oldest = 1;
    size_t count = 0;
    for (int step = 0; step < 200000; step++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(rng >> 33);
        if (r % 3 == 0 && next <= IDS) { /* a new id */
            assert_true(idmap_put(&m, next, &present[next]));
            present[next++] = true;
            count++;
        } else if (next > oldest) { /* remove: the oldest mostly, else any */
            uint64_t id = r % 4 ? oldest : oldest + r % (next - oldest);
            void *v = idmap_remove(&m, id);
            assert_ptr_equal(v, present[id] ? &present[id] : NULL);
            count -= present[id];
            present[id] = false;
            while (oldest < next && !present[oldest])
                oldest++;
        }
        assert_int_equal(m.count, count);
        uint64_t probe = 1 + r % IDS;
        assert_ptr_equal(idmap_get(&m, probe), present[probe] ? &present[probe] : NULL);
    }
    for (uint64_t id = 1; id <= IDS; id++)
        assert_ptr_equal(idmap_get(&m, id), present[id] ? &present[id] : NULL);
    assert_null(idmap_get(&m, 0));
    idmap_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_every_key_after_growth_and_deletion),
        cmocka_unit_test(keys_are_binary),
        cmocka_unit_test(idmap_matches_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
