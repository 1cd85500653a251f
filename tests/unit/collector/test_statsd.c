/* Tests for the StatsD parser and aggregator: every type, sample rates,
 * gauge deltas, tags, malformed lines, multi-line packets, limits and TTL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"
#include "mm_err.h"
#include "statsd.h"

#define T0 1700000000000LL

static void ingest(collector_statsd_t *st, const char *s, int64_t t)
{
    collector_statsd_ingest(st, s, strlen(s), t);
}

static void test_parse_line(void **state)
{
    (void)state;
    statsd_line_t l;
    const char *s = "memmimic.cache.hits:3|c|@0.5|#env:prod,region:eu";
    assert_int_equal(collector_statsd_parse_line(s, strlen(s), &l), 0);
    assert_int_equal(l.name_len, strlen("memmimic.cache.hits"));
    assert_int_equal(l.kind, STATSD_COUNTER);
    assert_true(l.rate == 0.5);
    assert_int_equal(l.tags_len, strlen("env:prod,region:eu"));
    s = "t:1:2:3|ms";
    assert_int_equal(collector_statsd_parse_line(s, strlen(s), &l), 0);
    assert_int_equal(l.values_len, 5);
    s = "g:-3|g|c:abc|T1656581400";
    assert_int_equal(collector_statsd_parse_line(s, strlen(s), &l), 0);
    assert_int_equal(l.kind, STATSD_GAUGE);
    s = "users:alice|s";
    assert_int_equal(collector_statsd_parse_line(s, strlen(s), &l), 0);

    const char *bad[] = {
        "", "nocolon|c", ":1|c", "x:|c", "x:1", "x:1|", "x:1|q", "x:1|c|@0", "x:1|c|@2",
        "x:1|c|@abc", "x:abc|c", "x:1|c||", "x:nan|g", "x:inf|g", "x:-1|c", "x:-5|ms",
        "x:0x10|g", "x:1..2|g", "x:1:|h", "x:1e999|g",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(collector_statsd_parse_line(bad[i], strlen(bad[i]), &l), -MM_EPARSE);

    double d;
    bool delta;
    assert_int_equal(collector_statsd_parse_value("0.1", 3, &d, &delta), 0);
    assert_true(d == 0.1 && !delta);
    assert_int_equal(collector_statsd_parse_value("+2.5", 4, &d, &delta), 0);
    assert_true(d == 2.5 && delta);
    assert_int_equal(collector_statsd_parse_value("-1e3", 4, &d, &delta), 0);
    assert_true(d == -1000 && delta);
    assert_int_equal(collector_statsd_parse_value("12345678901234567890", 20, &d, NULL), 0);
    assert_true(d == 12345678901234567890.0);
}

static void test_counters_gauges(void **state)
{
    (void)state;
    statsd_opts_t o = {.source = "127.0.0.1"};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    ingest(st, "memmimic.searches:1|c\nmemmimic.searches:2|c|@0.5\r\nmemmimic_db_queries_total:4|c", T0);
    ingest(st, "cache.size:100|g\ncache.size:+20|g\ncache.size:-5|g", T0);
    ingest(st, "temp:-3|g\ntemp:7|g", T0);
    ingest(st, "memmimic.cache_entries_count:12|g\nqueue_total:3|g\nlatency_ms:250|ms", T0);
    collector_statsd_flush(st, T0 + 1000, &c.sink);
    assert_true(cap_value(&c, "memmimic_searches_total") == 5.0);
    assert_true(cap_value(&c, "memmimic_db_queries_total") == 4.0);
    assert_true(cap_value(&c, "cache_size") == 115.0);
    assert_true(cap_value(&c, "temp") == 7.0);
    assert_true(cap_value(&c, "memmimic_cache_entries") == 12.0);
    assert_true(cap_value(&c, "queue") == 3.0);
    assert_true(cap_value(&c, "latency_seconds_sum") == 0.25);
    const cap_sample_t *s = cap_find(&c, "memmimic_searches_total");
    assert_int_equal(s->type, COLLECTOR_COUNTER);
    assert_string_equal(s->help, "StatsD counter from 127.0.0.1");
    assert_int_equal(s->t, T0 + 1000);
    assert_true(s->fp == mm_labels_fingerprint("memmimic_searches_total", NULL, 0));
    assert_int_equal(cap_find(&c, "cache_size")->type, COLLECTOR_GAUGE);

    /* Second flush: only updated series, and counters stay cumulative. */
    cap_reset(&c);
    ingest(st, "memmimic.searches:1|c", T0 + 1500);
    collector_statsd_flush(st, T0 + 2000, &c.sink);
    assert_true(cap_value(&c, "memmimic_searches_total") == 6.0);
    assert_null(cap_find(&c, "cache_size"));
    assert_true(cap_value(&c, "memmon_collector_parse_errors_total") == 0.0);
    assert_true(cap_value(&c, "memmon_collector_statsd_lines_total") == 12.0);
    assert_true(cap_value(&c, "memmon_collector_statsd_packets_total") == 5.0);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_tags(void **state)
{
    (void)state;
    statsd_opts_t o = {0};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    ingest(st, "memmimic.errors:1|c|#type:db,severity:high", T0);
    /* Same labels in another order: the same series. */
    ingest(st, "memmimic.errors:2|c|#severity:high,type:db", T0);
    ingest(st, "memmimic.errors:1|c|#type:cache", T0);
    /* Odd tag names are sanitised; valueless, reserved and duplicate tags dropped. */
    ingest(st, "req:1|c|#http.method:GET,flag,__x:1,a:1,a:2,empty:", T0);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "memmimic_errors_total{severity=\"high\",type=\"db\"}") == 3.0);
    assert_true(cap_value(&c, "memmimic_errors_total{type=\"cache\"}") == 1.0);
    const cap_sample_t *s = NULL;
    for (size_t i = 0; i < c.n; i++)
        if (strncmp(c.s[i].key, "req_total{", 10) == 0)
            s = &c.s[i];
    assert_non_null(s);
    assert_true(strstr(s->key, "http_method=\"GET\"") != NULL);
    assert_true(strstr(s->key, "__x") == NULL && strstr(s->key, "flag") == NULL);
    assert_true(strstr(s->key, "a=\"") != NULL);
    statsd_stats_t ss;
    collector_statsd_stats(st, &ss);
    assert_int_equal(ss.series, 3);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_histograms(void **state)
{
    (void)state;
    static const double b1[] = {0.1, 1};
    static const double b2[] = {10, 100};
    statsd_buckets_t rules[] = {{"memmimic_*_seconds", b1, 2}, {"size*", b2, 2}};
    statsd_opts_t o = {.buckets = rules, .n_buckets = 2};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    /* Timers in ms → seconds; packed values; sample rate counts each 1/rate times. */
    ingest(st, "memmimic.search_duration:50:500|ms\nmemmimic.search_duration:2000|ms|@0.5", T0);
    ingest(st, "size:5|h\nsize:50|d\nsize:500|h|#k:v", T0);
    ingest(st, "other:0.3|h", T0);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "memmimic_search_duration_seconds_bucket{le=\"0.1\"}") == 1.0);
    assert_true(cap_value(&c, "memmimic_search_duration_seconds_bucket{le=\"1\"}") == 2.0);
    assert_true(cap_value(&c, "memmimic_search_duration_seconds_bucket{le=\"+Inf\"}") == 4.0);
    assert_true(cap_value(&c, "memmimic_search_duration_seconds_count") == 4.0);
    assert_true(fabs(cap_value(&c, "memmimic_search_duration_seconds_sum") - 4.55) < 1e-9);
    const cap_sample_t *s = cap_find(&c, "memmimic_search_duration_seconds_count");
    assert_int_equal(s->type, COLLECTOR_HISTOGRAM);
    assert_string_equal(s->family, "memmimic_search_duration_seconds");
    assert_true(cap_value(&c, "size_bucket{le=\"10\"}") == 1.0);
    assert_true(cap_value(&c, "size_bucket{le=\"100\"}") == 2.0);
    assert_true(cap_value(&c, "size_bucket{k=\"v\",le=\"+Inf\"}") == 1.0);
    /* Default buckets are Prometheus's. */
    assert_true(cap_value(&c, "other_bucket{le=\"0.25\"}") == 0.0);
    assert_true(cap_value(&c, "other_bucket{le=\"0.5\"}") == 1.0);
    assert_true(cap_value(&c, "other_bucket{le=\"0.005\"}") == 0.0);
    assert_true(cap_value(&c, "other_bucket{le=\"2.5\"}") == 1.0);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_sets(void **state)
{
    (void)state;
    statsd_opts_t o = {0};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    ingest(st, "users:alice|s\nusers:bob|s\nusers:alice|s\nusers:carol:dave|s", T0);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "users") == 4.0);
    assert_int_equal(cap_find(&c, "users")->type, COLLECTOR_GAUGE);
    cap_reset(&c);
    /* Per interval: the next flush starts from zero. */
    ingest(st, "users:zed|s", T0 + 500);
    collector_statsd_flush(st, T0 + 1000, &c.sink);
    assert_true(cap_value(&c, "users") == 1.0);
    cap_reset(&c);
    collector_statsd_flush(st, T0 + 2000, &c.sink);
    assert_true(cap_value(&c, "users") == 0.0);
    /* Many distinct values grow the table. */
    char line[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(line, sizeof line, "users:u%d|s", i % 700);
        ingest(st, line, T0 + 2500);
    }
    cap_reset(&c);
    collector_statsd_flush(st, T0 + 3000, &c.sink);
    assert_true(cap_value(&c, "users") == 700.0);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_malformed(void **state)
{
    (void)state;
    statsd_opts_t o = {0};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    ingest(st, "good:1|c\ngarbage\n\n:1|c\nx:1|zz\nalso.good:2|g\nx:y|c\n", T0);
    char bin[] = {'a', ':', '1', '|', 'c', '\n', (char)0xff, 0, '|', 'c'};
    collector_statsd_ingest(st, bin, sizeof bin, T0);
    collector_statsd_note_oversized(st);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "good_total") == 1.0);
    assert_true(cap_value(&c, "also_good") == 2.0);
    assert_true(cap_value(&c, "a_total") == 1.0);
    assert_true(cap_value(&c, "memmon_collector_parse_errors_total") == 6.0);
    /* A name used as gauge and as set is a conflict: the second kind is dropped. */
    cap_reset(&c);
    ingest(st, "dual:1|g\ndual:x|s", T0);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "dual") == 1.0);
    assert_true(cap_value(&c, "memmon_collector_series_dropped_total{reason=\"type_conflict\"}") == 1.0);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_limits_ttl(void **state)
{
    (void)state;
    statsd_opts_t o = {.max_series = 5, .max_series_per_name = 3, .ttl_ms = 60000};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    char line[64];
    for (int i = 0; i < 5; i++) {
        snprintf(line, sizeof line, "a:1|c|#i:%d", i);
        ingest(st, line, T0);
    }
    ingest(st, "b:1|g\nc:1|g\nd:1|g", T0);
    collector_statsd_flush(st, T0, &c.sink);
    assert_true(cap_value(&c, "memmon_collector_series_dropped_total{reason=\"limit_per_name\"}") == 2.0);
    assert_true(cap_value(&c, "memmon_collector_series_dropped_total{reason=\"limit_total\"}") == 1.0);
    assert_true(cap_value(&c, "memmon_collector_statsd_series") == 5.0);
    assert_true(cap_value(&c, "c") == 1.0);
    assert_null(cap_find(&c, "d"));

    /* Keep b alive; everything else expires after the TTL with stale markers. */
    ingest(st, "b:2|g", T0 + 50000);
    cap_reset(&c);
    collector_statsd_flush(st, T0 + 61000, &c.sink);
    assert_true(mm_is_stale_nan(cap_value(&c, "a_total{i=\"0\"}")));
    assert_true(mm_is_stale_nan(cap_value(&c, "c")));
    assert_true(cap_value(&c, "b") == 2.0);
    assert_true(cap_value(&c, "memmon_collector_statsd_series") == 1.0);
    /* Room again: new series are accepted, and an expired one starts over. */
    cap_reset(&c);
    ingest(st, "d:4|g\na:1|c|#i:0", T0 + 62000);
    collector_statsd_flush(st, T0 + 63000, &c.sink);
    assert_true(cap_value(&c, "d") == 4.0);
    assert_true(cap_value(&c, "a_total{i=\"0\"}") == 1.0);

    /* Histograms expire with a stale marker on every part. */
    ingest(st, "h:1|ms", T0 + 63000);
    cap_reset(&c);
    collector_statsd_flush(st, T0 + 200000, &c.sink);
    assert_true(mm_is_stale_nan(cap_value(&c, "h_seconds_bucket{le=\"+Inf\"}")));
    assert_true(mm_is_stale_nan(cap_value(&c, "h_seconds_count")));
    statsd_stats_t ss;
    collector_statsd_stats(st, &ss);
    assert_int_equal(ss.series, 0);
    assert_int_equal(ss.expired, 8);
    cap_fini(&c);
    collector_statsd_free(st);
}

static void test_many_series(void **state)
{
    (void)state;
    /* Exercises table growth and backward-shift deletion under churn. */
    statsd_opts_t o = {.ttl_ms = 1000};
    collector_statsd_t *st = collector_statsd_new(&o);
    capture_t c;
    cap_init(&c);
    char line[64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3000; i++) {
            if (round == 1 && i % 2)
                continue;
            snprintf(line, sizeof line, "m%d:%d|c|#r:%d", i % 37, i, i);
            ingest(st, line, T0 + round * 2000);
        }
        cap_reset(&c);
        collector_statsd_flush(st, T0 + round * 2000 + 500, &c.sink);
    }
    statsd_stats_t ss;
    collector_statsd_stats(st, &ss);
    assert_int_equal(ss.series, 3000);
    assert_int_equal(ss.expired, 1500);
    cap_fini(&c);
    collector_statsd_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_counters_gauges),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits_ttl),
        cmocka_unit_test(test_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
