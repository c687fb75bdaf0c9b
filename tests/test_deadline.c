/* The deadline heap: order, removal from any position, and the recorded
 * indexes that make removal O(log n). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deadline.h"

static void
pops_in_deadline_order(void **state)
{
    enum { N = 1000 };
    deadline_heap h;
    deadline_heap_init(&h);
    static deadline_entry e[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        deadline_entry_init(&e[i]);
        assert_true(deadline_add(&h, &e[i], rand() % 5000));
    }
    int64_t last = -1;
    for (int i = 0; i < N; i++) {
        deadline_entry *top = deadline_peek(&h);
        assert_non_null(top);
        assert_true(top->at_us >= last);
        last = top->at_us;
        deadline_remove(&h, top);
        assert_int_equal(top->index, DEADLINE_NONE);
    }
    assert_null(deadline_peek(&h));
    deadline_heap_free(&h);
}

static void
removes_from_the_middle_and_keeps_indexes(void **state)
{
    enum { N = 257 };
    deadline_heap h;
    deadline_heap_init(&h);
    static deadline_entry e[N];
    for (int i = 0; i < N; i++) {
        deadline_entry_init(&e[i]);
        assert_true(deadline_add(&h, &e[i], (i * 7919) % N));
    }
    /* Remove every third entry, wherever it sits. */
    for (int i = 0; i < N; i += 3)
        deadline_remove(&h, &e[i]);
    for (size_t i = 0; i < h.count; i++)
        assert_int_equal(h.slots[i]->index, i);
    int64_t last = -1;
    size_t left = 0;
    deadline_entry *top;
    while ((top = deadline_peek(&h)) != NULL) {
        assert_true(top->at_us >= last);
        assert_true((top - e) % 3 != 0);
        last = top->at_us;
        deadline_remove(&h, top);
        left++;
    }
    assert_int_equal(left, N - (N + 2) / 3);
    deadline_heap_free(&h);
}

static void
removing_twice_is_harmless(void **state)
{
    deadline_heap h;
    deadline_heap_init(&h);
    deadline_entry a, b;
    deadline_entry_init(&a);
    deadline_entry_init(&b);
    deadline_remove(&h, &a); /* never added */
    assert_true(deadline_add(&h, &a, 10));
    assert_true(deadline_add(&h, &b, 5));
    deadline_remove(&h, &b);
    deadline_remove(&h, &b);
    assert_ptr_equal(deadline_peek(&h), &a);
    assert_int_equal(h.count, 1);
    deadline_heap_free(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pops_in_deadline_order),
        cmocka_unit_test(removes_from_the_middle_and_keeps_indexes),
        cmocka_unit_test(removing_twice_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
