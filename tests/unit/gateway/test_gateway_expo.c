/* Tests for the exposition primitives and the JSON writer: value spelling as
 * Go's 'g' shortest form, HELP and label escaping, JSON escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "gateway_json.h"

static void check_value(double v, const char *want)
{
    char out[GATEWAY_EXPO_VALUE_MAX];
    size_t n = gateway_expo_value(out, v);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_values(void **state)
{
    (void)state;
    check_value(0, "0");
    check_value(1, "1");
    check_value(-7, "-7");
    check_value(0.5, "0.5");
    check_value(0.1, "0.1");
    check_value(0.005, "0.005");
    check_value(2.5, "2.5");
    check_value(999999, "999999");
    check_value(1e6, "1e+06");
    check_value(1234567, "1.234567e+06");
    check_value(123456.5, "123456.5");
    check_value(0.0001, "0.0001");
    check_value(0.00001, "1e-05");
    check_value(1.0 / 3.0, "0.3333333333333333");
    check_value(1e100, "1e+100");
    check_value(-2.5e-7, "-2.5e-07");
    check_value(NAN, "NaN");
    check_value(INFINITY, "+Inf");
    check_value(-INFINITY, "-Inf");
    check_value(4294967296.0, "4.294967296e+09");
    check_value(0.1 + 0.2, "0.30000000000000004");
    check_value(-0.0, "-0");
    check_value(112.345, "112.345");
    check_value(0.00012, "0.00012");
    check_value(123456789012345.0, "1.23456789012345e+14");
    /* Exact ties at the 16th digit round half to even, as Go does. */
    check_value(989896121825172.25, "9.898961218251722e+14");
    check_value(17976304331585.3125, "1.7976304331585312e+13");
    check_value(5e-324, "5e-324");
    check_value(1.7976931348623157e308, "1.7976931348623157e+308");
}

/* Every formatted value reads back as the same double. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof(v));
        if (isnan(v) || isinf(v))
            continue;
        char out[GATEWAY_EXPO_VALUE_MAX];
        gateway_expo_value(out, v);
        if (strtod(out, NULL) != v)
            fail_msg("%.17g formatted as %s", v, out);
    }
}

static void test_escaping(void **state)
{
    (void)state;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_expo_family(&b, "x_total", "counter", "a \\ b\nc \"q\"");
    assert_string_equal(b.data, "# HELP x_total a \\\\ b\\nc \"q\"\n# TYPE x_total counter\n");
    gateway_buf_reset(&b);
    mm_label_t l[2] = { { "a", "x\"y" }, { "b", "back\\slash\nnl" } };
    gateway_expo_series_prefix(&b, "m", "_bucket", l, 2, "le", "+Inf");
    assert_string_equal(b.data, "m_bucket{a=\"x\\\"y\",b=\"back\\\\slash\\nnl\",le=\"+Inf\"} ");
    gateway_buf_reset(&b);
    gateway_expo_series_prefix(&b, "up", NULL, NULL, 0, NULL, NULL);
    assert_string_equal(b.data, "up ");
    gateway_buf_fini(&b);
}

static void test_json(void **state)
{
    (void)state;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_jw_t w;
    gateway_jw_init(&w, &b);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "s");
    gateway_jw_str(&w, "<script>\"\\\n\x01&\xe2\x80\xa8");
    gateway_jw_key(&w, "bad");
    gateway_jw_strn(&w, "a\xff" "b", 3);
    gateway_jw_key(&w, "n");
    gateway_jw_num(&w, NAN);
    gateway_jw_key(&w, "a");
    gateway_jw_arr_begin(&w);
    gateway_jw_i64(&w, -3);
    gateway_jw_num(&w, 0.25);
    gateway_jw_bool(&w, true);
    gateway_jw_null(&w);
    gateway_jw_arr_end(&w);
    gateway_jw_key(&w, "e");
    gateway_jw_obj_begin(&w);
    gateway_jw_obj_end(&w);
    gateway_jw_key(&w, "t");
    gateway_jw_time(&w, 1700000000123LL);
    gateway_jw_obj_end(&w);
    assert_false(gateway_buf_failed(&b));
    assert_string_equal(b.data,
        "{\"s\":\"\\u003cscript\\u003e\\\"\\\\\\n\\u0001\\u0026\\u2028\","
        "\"bad\":\"a\\ufffdb\",\"n\":null,\"a\":[-3,0.25,true,null],\"e\":{},"
        "\"t\":\"2023-11-14T22:13:20.123Z\"}");
    assert_true(gateway_utf8_valid("h\xc3\xa9", 3));
    assert_false(gateway_utf8_valid("\xc3", 1));
    assert_false(gateway_utf8_valid("\xed\xa0\x80", 3));   /* a surrogate */
    gateway_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
