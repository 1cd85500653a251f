/* Tests for label sorting, fingerprints and name rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "mm_labels.h"

static void test_sort_and_fingerprint(void **state)
{
    (void)state;
    mm_label_t a[] = {{"job", "node"}, {"instance", "h:9100"}, {"cpu", "0"}};
    mm_label_t b[] = {{"cpu", "0"}, {"job", "node"}, {"instance", "h:9100"}};
    mm_labels_sort(a, 3);
    mm_labels_sort(b, 3);
    assert_string_equal(a[0].name, "cpu");
    assert_string_equal(a[1].name, "instance");
    assert_string_equal(a[2].name, "job");
    assert_int_equal(mm_labels_fingerprint("up", a, 3), mm_labels_fingerprint("up", b, 3));
    assert_int_not_equal(mm_labels_fingerprint("up", a, 3), mm_labels_fingerprint("down", a, 3));
    mm_label_t c[] = {{"cpu", "0"}, {"instance", "h:9100"}, {"job", "nodex"}};
    assert_int_not_equal(mm_labels_fingerprint("up", a, 3), mm_labels_fingerprint("up", c, 3));
    /* Moving a byte between name and value must change the identity. */
    mm_label_t d[] = {{"ab", "c"}}, e[] = {{"a", "bc"}};
    assert_int_not_equal(mm_labels_fingerprint("m", d, 1), mm_labels_fingerprint("m", e, 1));
}

static void test_name_as_label(void **state)
{
    (void)state;
    mm_label_t with[] = {{"Zone", "z"}, {"__name__", "up"}, {"job", "x"}};
    mm_labels_sort(with, 3);
    mm_label_t without[] = {{"Zone", "z"}, {"job", "x"}};
    assert_int_equal(mm_labels_fingerprint(NULL, with, 3), mm_labels_fingerprint("up", without, 2));
}

static void test_names(void **state)
{
    (void)state;
    assert_true(mm_metric_name_valid("memmimic_cache_hits_total", 25));
    assert_true(mm_metric_name_valid("job:rate5m", 10));
    assert_false(mm_metric_name_valid("1abc", 4));
    assert_false(mm_label_name_valid("a:b", 3));
    assert_false(mm_metric_name_valid("", 0));
    char buf[64];
    assert_int_equal(mm_metric_name_sanitize(buf, sizeof buf, "api.req-time", 12), 12);
    assert_string_equal(buf, "api_req_time");
    assert_int_equal(mm_metric_name_sanitize(buf, sizeof buf, "9lives", 6), 7);
    assert_string_equal(buf, "_9lives");
    /* Truncation still terminates. */
    assert_int_equal(mm_metric_name_sanitize(buf, 4, "abcdef", 6), 6);
    assert_string_equal(buf, "abc");
}

static void test_stale(void **state)
{
    (void)state;
    double s = mm_stale_nan();
    assert_true(isnan(s));
    assert_true(mm_is_stale_nan(s));
    assert_false(mm_is_stale_nan(NAN));
    assert_false(mm_is_stale_nan(1.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_and_fingerprint),
        cmocka_unit_test(test_name_as_label),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
