/* Tests for the Prometheus text parser and scrape handling: valid bodies
 * (HELP, TYPE, escapes, histograms, timestamps, special floats), garbage,
 * limits, target labels, up and staleness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "capture.h"
#include "mm_err.h"
#include "promtext.h"
#include "scrape.h"

static const char body[] =
    "# HELP http_requests_total The total number of HTTP requests.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
    "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
    "\n"
    "# Escaping in label values:\n"
    "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
    "metric_without_timestamp_and_labels 12.47\n"
    "# HELP help_escapes A \\\\ backslash\\nand newline\n"
    "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
    "# TYPE http_request_duration_seconds histogram\n"
    "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
    "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
    "http_request_duration_seconds_sum 53423\n"
    "http_request_duration_seconds_count 144320\n"
    "# TYPE rpc_duration_seconds summary\n"
    "rpc_duration_seconds{quantile=\"0.5\"} 4773\n"
    "rpc_duration_seconds_sum 1.7560473e+07\n"
    "rpc_duration_seconds_count 2693\n"
    "nan_value NaN\n"
    "trailing_comma{a=\"b\",} -Inf\n"
    "  spaced {a = \"b\"}\t7\n";

static const promtext_sample_t *find(const promtext_result_t *r, const char *name, size_t nth)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->samples[i].name, name) == 0 && nth-- == 0)
            return &r->samples[i];
    return NULL;
}

static void test_parse_valid(void **state)
{
    (void)state;
    promtext_result_t r;
    unsigned line;
    char err[128];
    assert_int_equal(collector_promtext_parse(body, strlen(body), NULL, &r, &line, err, sizeof err), 0);
    assert_int_equal(r.n, 15);
    const promtext_sample_t *s = find(&r, "http_requests_total", 1);
    assert_non_null(s);
    assert_int_equal(s->type, COLLECTOR_COUNTER);
    assert_string_equal(s->help, "The total number of HTTP requests.");
    assert_true(s->value == 3);
    assert_int_equal(s->time_ms, 1395066363000LL);
    assert_int_equal(s->n_labels, 2);
    assert_string_equal(s->labels[0].name, "code");   /* sorted */
    assert_string_equal(s->labels[0].value, "400");
    s = find(&r, "msdos_file_access_time_seconds", 0);
    assert_string_equal(s->labels[0].name, "error");
    assert_string_equal(s->labels[0].value, "Cannot find file:\n\"FILE.TXT\"");
    assert_string_equal(s->labels[1].value, "C:\\DIR\\FILE.TXT");
    assert_int_equal(s->type, COLLECTOR_UNTYPED);
    s = find(&r, "something_weird", 0);
    assert_true(isinf(s->value) && s->value > 0);
    assert_int_equal(s->time_ms, -3982045);
    s = find(&r, "http_request_duration_seconds_bucket", 1);
    assert_int_equal(s->type, COLLECTOR_HISTOGRAM);
    assert_string_equal(s->family, "http_request_duration_seconds");
    assert_string_equal(s->labels[0].value, "+Inf");
    s = find(&r, "rpc_duration_seconds_count", 0);
    assert_int_equal(s->type, COLLECTOR_SUMMARY);
    assert_string_equal(s->family, "rpc_duration_seconds");
    assert_true(isnan(find(&r, "nan_value", 0)->value));
    s = find(&r, "trailing_comma", 0);
    assert_true(isinf(s->value) && s->value < 0);
    s = find(&r, "spaced", 0);
    assert_true(s->value == 7);
    assert_string_equal(s->labels[0].value, "b");
    collector_promtext_fini(&r);
    /* Empty input is a valid (empty) exposition. */
    assert_int_equal(collector_promtext_parse("", 0, NULL, &r, &line, err, sizeof err), 0);
    assert_int_equal(r.n, 0);
    collector_promtext_fini(&r);
}

static void test_parse_garbage(void **state)
{
    (void)state;
    static const struct { const char *text; unsigned line; } bad[] = {
        {"<html><body>Not Found</body></html>\n", 1},
        {"ok 1\nbad\n", 2},
        {"x{a=\"b\" 1\n", 1},
        {"x{a=b} 1\n", 1},
        {"x{a=\"b\",a=\"c\"} 1\n", 1},
        {"x 1 notatime\n", 1},
        {"x one\n", 1},
        {"x{=\"v\"} 1\n", 1},
        {"x{a=\"\\q\"} 1\n", 1},
        {"# TYPE x bogus\n", 1},
        {"# TYPE\n", 1},
        {"x 0x1p3\n", 1},
        {"x{a=\"unterminated} 1\n", 1},
        {"x 1 2 3\n", 1},
        {"{a=\"b\"} 1\n", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promtext_result_t r;
        unsigned line = 99;
        char err[128];
        int rc = collector_promtext_parse(bad[i].text, strlen(bad[i].text), NULL, &r, &line, err, sizeof err);
        if (rc != -MM_EPARSE)
            fail_msg("case %zu (%s): rc %d", i, bad[i].text, rc);
        assert_int_equal(line, bad[i].line);
        assert_true(err[0] != '\0');
        assert_int_equal(r.n, 0);
        assert_null(r.samples);
    }
    promtext_result_t r;
    unsigned line;
    char err[128];
    const char nul[] = "x 1\ny\0 2\n";
    assert_int_equal(collector_promtext_parse(nul, sizeof nul - 1, NULL, &r, &line, err, sizeof err), -MM_EPARSE);
    promtext_limits_t lim = {.max_samples = 2};
    assert_int_equal(collector_promtext_parse("a 1\nb 2\nc 3\n", 12, &lim, &r, &line, err, sizeof err), -MM_ELIMIT);
    assert_int_equal(line, 3);
    /* "# HELPER" and other comments are just comments. */
    assert_int_equal(collector_promtext_parse("# HELPER x\n# whatever\n", 22, NULL, &r, &line, err, sizeof err), 0);
    collector_promtext_fini(&r);
}

static void test_scrape(void **state)
{
    (void)state;
    scrape_target_t t;
    assert_int_equal(collector_scrape_target_init(&t, "node", "localhost:9100", 0), 0);
    capture_t c;
    cap_init(&c);
    const char *b1 = "# TYPE a gauge\na 1\nb{job=\"inner\"} 2\nc 3\n";
    assert_int_equal(collector_scrape_apply(&t, b1, strlen(b1), NULL, 0.01, 1000, &c.sink), 1);
    assert_true(cap_value(&c, "a{instance=\"localhost:9100\",job=\"node\"}") == 1);
    assert_int_equal(cap_find(&c, "a{instance=\"localhost:9100\",job=\"node\"}")->type, COLLECTOR_GAUGE);
    assert_true(cap_value(&c, "b{exported_job=\"inner\",instance=\"localhost:9100\",job=\"node\"}") == 2);
    assert_true(cap_value(&c, "up{instance=\"localhost:9100\",job=\"node\"}") == 1);
    assert_true(cap_value(&c, "scrape_samples_scraped{instance=\"localhost:9100\",job=\"node\"}") == 3);
    assert_true(cap_value(&c, "scrape_duration_seconds{instance=\"localhost:9100\",job=\"node\"}") == 0.01);
    const cap_sample_t *cs = cap_find(&c, "c{instance=\"localhost:9100\",job=\"node\"}");
    mm_label_t l[2] = {{"instance", "localhost:9100"}, {"job", "node"}};
    assert_true(cs->fp == mm_labels_fingerprint("c", l, 2));

    /* c disappears: one stale marker, by fingerprint. */
    cap_reset(&c);
    const char *b2 = "a 5\nb{job=\"inner\"} 2\n";
    assert_int_equal(collector_scrape_apply(&t, b2, strlen(b2), NULL, 0.01, 2000, &c.sink), 1);
    size_t stale = 0;
    for (size_t i = 0; i < c.n; i++)
        if (mm_is_stale_nan(c.s[i].value)) {
            stale++;
            assert_true(c.s[i].fp == cs->fp);
        }
    assert_int_equal(stale, 1);

    /* Garbage: up 0, a reason, and every series ends. */
    cap_reset(&c);
    const char *b3 = "<html>oops</html>";
    assert_int_equal(collector_scrape_apply(&t, b3, strlen(b3), NULL, 0.02, 3000, &c.sink), 0);
    assert_true(cap_value(&c, "up{instance=\"localhost:9100\",job=\"node\"}") == 0);
    assert_non_null(strstr(t.last_error, "line 1"));
    stale = 0;
    for (size_t i = 0; i < c.n; i++)
        stale += mm_is_stale_nan(c.s[i].value);
    assert_int_equal(stale, 2);

    cap_reset(&c);
    assert_int_equal(collector_scrape_apply(&t, NULL, 0, "connection refused", 0.001, 4000, &c.sink), 0);
    assert_string_equal(t.last_error, "connection refused");
    assert_true(cap_value(&c, "up{instance=\"localhost:9100\",job=\"node\"}") == 0);

    cap_reset(&c);
    collector_scrape_target_end(&t, 5000, &c.sink);
    assert_true(mm_is_stale_nan(cap_value(&c, "up{instance=\"localhost:9100\",job=\"node\"}")));
    cap_fini(&c);
    collector_scrape_target_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
