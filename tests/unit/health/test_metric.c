/* Tests for the metric store behind `metric` checks, in fake time: only
 * selected names are kept, label matching, last/avg/max/rate with counter
 * resets, ratios of sums, absent data and stale markers. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health_metric.h"
#include "mm_labels.h"

/* Feeds one sample of name{k=v} at t. */
static void feed(health_metric_store_t *s, const char *name, const char *k, const char *v,
                 int64_t t, double val)
{
    Mm__Label lab = MM__LABEL__INIT, *lp = &lab;
    lab.name = (char *)k;
    lab.value = (char *)v;
    Mm__Series se = MM__SERIES__INIT, *sp = &se;
    se.name = (char *)name;
    se.labels = k ? &lp : NULL;
    se.n_labels = k ? 1 : 0;
    se.times_ms = &t;
    se.n_times_ms = 1;
    se.values = &val;
    se.n_values = 1;
    Mm__MetricBatch b = MM__METRIC_BATCH__INIT;
    b.series = &sp;
    b.n_series = 1;
    health_metric_store_feed(s, &b);
}

static health_check_conf_t check(health_selector_t *num, size_t nn, health_selector_t *den,
                                 size_t nd, health_metric_fn_t fn)
{
    health_check_conf_t c;
    memset(&c, 0, sizeof(c));
    c.name = (char *)"m";
    c.kind = HEALTH_KIND_METRIC;
    c.series.v = num;
    c.series.n = nn;
    c.divide_by.v = den;
    c.divide_by.n = nd;
    c.fn = fn;
    c.window_ms = 10000;
    c.interval_ms = 1000;
    return c;
}

static void test_store(void **state)
{
    (void)state;
    health_selector_t hits, misses, hitsb;
    assert_int_equal(health_selector_parse("hits_total", &hits), 0);
    assert_int_equal(health_selector_parse("misses_total", &misses), 0);
    assert_int_equal(health_selector_parse("hits_total{cache=\"b\"}", &hitsb), 0);
    health_selector_t den[2] = { hits, misses };
    health_check_conf_t confs[2];
    confs[0] = check(&hits, 1, den, 2, HEALTH_FN_RATE);
    confs[1] = check(&hitsb, 1, NULL, 0, HEALTH_FN_LAST);
    health_config_t cfg = { .checks = confs, .n_checks = 2 };

    health_metric_store_t *s;
    assert_int_equal(health_metric_store_new(&s), 0);
    assert_int_equal(health_metric_store_watch(s, &cfg), 0);
    char why[200];
    double v;
    assert_int_equal(health_metric_eval(s, &confs[0], 100000, &v, why, sizeof(why)), -ENODATA);
    assert_non_null(strstr(why, "hits_total"));

    /* Unselected names are not kept. */
    feed(s, "other", NULL, NULL, 90000, 1);
    assert_int_equal(health_metric_store_series(s), 0);

    /* Two caches; hits rise 8/s on a, 0/s on b; misses 2/s. */
    for (int i = 0; i <= 10; i++) {
        int64_t t = 90000 + i * 1000;
        feed(s, "hits_total", "cache", "a", t, 8.0 * i);
        feed(s, "hits_total", "cache", "b", t, 5);
        feed(s, "misses_total", "cache", "a", t, 2.0 * i);
    }
    assert_int_equal(health_metric_store_series(s), 3);
    assert_int_equal(health_metric_eval(s, &confs[0], 100000, &v, why, sizeof(why)), 0);
    assert_true(fabs(v - 0.8) < 1e-9);
    assert_int_equal(health_metric_eval(s, &confs[1], 100000, &v, why, sizeof(why)), 0);
    assert_true(v == 5);

    /* A counter reset (restart) counts from 0 again, not as a drop. */
    feed(s, "hits_total", "cache", "a", 101000, 4);
    feed(s, "misses_total", "cache", "a", 101000, 21);
    assert_int_equal(health_metric_eval(s, &confs[0], 101000, &v, why, sizeof(why)), 0);
    /* hits: 8*9 over 91..100 plus 4 after the reset = 76 in 10 s; misses 2*9+1 = 19. */
    assert_true(fabs(v - 76.0 / 95.0) < 1e-9);

    /* Nothing new for longer than the window: absent. */
    assert_int_equal(health_metric_eval(s, &confs[0], 200000, &v, why, sizeof(why)), -ENODATA);

    /* No traffic at all in the window: a zero denominator. */
    feed(s, "hits_total", "cache", "a", 300000, 4);
    feed(s, "hits_total", "cache", "a", 301000, 4);
    feed(s, "misses_total", "cache", "a", 300000, 21);
    feed(s, "misses_total", "cache", "a", 301000, 21);
    assert_int_equal(health_metric_eval(s, &confs[0], 301000, &v, why, sizeof(why)), -EDOM);

    /* A stale marker ends a series. */
    feed(s, "hits_total", "cache", "b", 302000, mm_stale_nan());
    assert_int_equal(health_metric_eval(s, &confs[1], 302000, &v, why, sizeof(why)), -ENODATA);

    /* avg and max over the window. */
    confs[1].fn = HEALTH_FN_AVG;
    feed(s, "hits_total", "cache", "b", 303000, 1);
    feed(s, "hits_total", "cache", "b", 304000, 3);
    assert_int_equal(health_metric_eval(s, &confs[1], 304000, &v, why, sizeof(why)), 0);
    assert_true(v == 2);
    confs[1].fn = HEALTH_FN_MAX;
    assert_int_equal(health_metric_eval(s, &confs[1], 304000, &v, why, sizeof(why)), 0);
    assert_true(v == 3);

    /* Re-watching without the metric checks drops their series. */
    health_config_t none = { 0 };
    assert_int_equal(health_metric_store_watch(s, &none), 0);
    assert_int_equal(health_metric_store_series(s), 0);
    health_metric_store_free(s);
    health_selector_fini(&hits);
    health_selector_fini(&misses);
    health_selector_fini(&hitsb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
