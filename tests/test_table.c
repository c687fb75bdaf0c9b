/* The byte-keyed hash table: lookups after growth and after deletions that
 * shift probe chains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_every_key_after_growth_and_deletion),
        cmocka_unit_test(keys_are_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
