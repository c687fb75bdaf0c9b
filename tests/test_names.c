/* Queue-name rules (Q1): 1 to 255 bytes of valid UTF-8, no control chars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static bool
valid(const char *s)
{
    return queue_name_valid(s, strlen(s));
}

static void
accepts_plain_and_multibyte_names(void **state)
{
    assert_true(valid("jobs"));
    assert_true(valid("a"));
    assert_true(valid("file/with spaces.and-dots"));
    assert_true(valid("\xc3\xa9t\xc3\xa9"));          /* été */
    assert_true(valid("\xe6\x97\xa5\xe6\x9c\xac"));   /* 日本 */
    assert_true(valid("\xf0\x9f\x93\xa6"));           /* U+1F4E6 */
    char longest[256];
    memset(longest, 'x', 255);
    longest[255] = '\0';
    assert_true(valid(longest));
}

static void
rejects_empty_long_control_and_bad_utf8(void **state)
{
    assert_false(queue_name_valid("", 0));
    assert_false(queue_name_valid(NULL, 3));
    char too_long[257];
    memset(too_long, 'x', 256);
    too_long[256] = '\0';
    assert_false(valid(too_long));
    assert_false(valid("tab\there"));
    assert_false(valid("nl\n"));
    assert_false(valid("del\x7f"));
    assert_false(valid("c1\xc2\x85"));             /* U+0085 NEL */
    assert_false(queue_name_valid("nul\0x", 5));
    assert_false(valid("\xc3"));                   /* truncated */
    assert_false(valid("\xc0\xaf"));               /* overlong '/' */
    assert_false(valid("\xed\xa0\x80"));           /* surrogate */
    assert_false(valid("\xf4\x90\x80\x80"));       /* above U+10FFFF */
    assert_false(valid("\xff"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_plain_and_multibyte_names),
        cmocka_unit_test(rejects_empty_long_control_and_bad_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
