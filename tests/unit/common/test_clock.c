/* Tests for the system and fake clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mm_clock.h"

static void test_fake(void **state)
{
    (void)state;
    mm_clock_t c;
    mm_clock_fake_init(&c, 1000);
    assert_int_equal(mm_clock_now_ms(&c), 1000);
    mm_clock_fake_advance(&c, 250);
    assert_int_equal(mm_clock_now_ms(&c), 1250);
    assert_int_equal(mm_clock_mono_ns(&c), 250000000);
}

static void test_system(void **state)
{
    (void)state;
    int64_t a = mm_clock_mono_ns(&mm_clock_system);
    int64_t b = mm_clock_mono_ns(&mm_clock_system);
    assert_true(b >= a);
    /* After 2020-01-01. */
    assert_true(mm_clock_now_ms(&mm_clock_system) > 1577836800000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake),
        cmocka_unit_test(test_system),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
