/* Tests for collector.yml loading: defaults, a full file, and errors that
 * name file:line:col. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_config.h"
#include "mm_err.h"

static collector_config_t *load_ok(const char *text)
{
    collector_config_t *c = NULL;
    mm_diag_t d;
    int r = collector_config_load_buf("collector.yml", text, strlen(text), &c, &d);
    if (r < 0) {
        char buf[700];
        mm_diag_format(&d, buf, sizeof buf);
        fail_msg("unexpected error: %s", buf);
    }
    return c;
}

static void expect_error(const char *text, const char *where, const char *what)
{
    collector_config_t *c = NULL;
    mm_diag_t d;
    int r = collector_config_load_buf("collector.yml", text, strlen(text), &c, &d);
    assert_true(r < 0);
    assert_null(c);
    char buf[1200];
    mm_diag_format(&d, buf, sizeof buf);
    if (strncmp(buf, where, strlen(where)) != 0 || !strstr(buf, what))
        fail_msg("for:\n%s\nexpected \"%s ... %s\", got \"%s\"", text, where, what, buf);
}

static void test_defaults(void **state)
{
    (void)state;
    collector_config_t *c = load_ok("");
    assert_string_equal(c->statsd.listen, "127.0.0.1:8125");
    assert_int_equal(c->statsd.flush_ms, 1000);
    assert_int_equal(c->statsd.ttl_ms, 600000);
    assert_int_equal(c->statsd.receive_buffer, 32 << 20);
    assert_int_equal(c->statsd.default_buckets.n, 14);
    assert_int_equal(c->statsd.buckets.n, 0);
    assert_int_equal(c->scrape.targets.n, 0);
    assert_true(c->system.enabled);
    assert_int_equal(c->system.interval_ms, 1000);
    assert_string_equal(c->system.proc_root, "/proc");
    assert_string_equal(c->system.process_pattern, "memmon-*");
    assert_true(c->history.enabled);
    assert_int_equal(c->history.tiers.n, 3);
    assert_int_equal(c->history.tiers.v[2].retention_ms, 30LL * 86400000);
    assert_int_equal(c->publish.batch_max_bytes, 65536);
    assert_int_equal(c->publish.batch_interval_ms, 50);
    collector_config_free(c);
}

static void test_full(void **state)
{
    (void)state;
    collector_config_t *c = load_ok(
        "statsd:\n"
        "  listen: 0.0.0.0:9125\n"
        "  flush_interval: 2s\n"
        "  ttl: 5m\n"
        "  buckets:\n"
        "    - match: \"memmimic_*_seconds\"\n"
        "      le: [0.001, 0.01, 0.1, 1]\n"
        "    - match: \"*_bytes\"\n"
        "      le: [1024, 1048576]\n"
        "scrape:\n"
        "  interval: 30s\n"
        "  targets:\n"
        "    - job: node\n"
        "      url: http://127.0.0.1:9100/metrics\n"
        "    - job: app\n"
        "      url: https://app.example/metrics\n"
        "      instance: app-1\n"
        "      interval: 5s\n"
        "system:\n"
        "  interval: 500ms\n"
        "  proc_root: /host/proc\n"
        "history:\n"
        "  tiers:\n"
        "    - {step: 1s, retention: 2h}\n"
        "    - {step: 5m, retention: 7d}\n");
    assert_string_equal(c->statsd.listen, "0.0.0.0:9125");
    assert_int_equal(c->statsd.flush_ms, 2000);
    assert_int_equal(c->statsd.buckets.n, 2);
    assert_string_equal(c->statsd.buckets.rules[1].match, "*_bytes");
    assert_true(c->statsd.buckets.rules[1].le[1] == 1048576);
    assert_int_equal(c->scrape.targets.n, 2);
    assert_string_equal(c->scrape.targets.v[0].instance, "127.0.0.1:9100");
    assert_int_equal(c->scrape.targets.v[0].interval_ms, 0);
    assert_string_equal(c->scrape.targets.v[1].instance, "app-1");
    assert_int_equal(c->scrape.targets.v[1].interval_ms, 5000);
    assert_int_equal(c->system.interval_ms, 500);
    assert_string_equal(c->system.proc_root, "/host/proc");
    assert_int_equal(c->history.tiers.n, 2);
    assert_int_equal(c->history.tiers.v[1].step_ms, 300000);
    assert_int_equal(c->history.tiers.v[1].retention_ms, 7LL * 86400000);
    collector_config_free(c);

    c = load_ok("scrape:\n  targets:\n    - job: x\n      url: https://h/metrics\n");
    assert_string_equal(c->scrape.targets.v[0].instance, "h:443");
    collector_config_free(c);

    /* A null value means the default (for listen: off). */
    c = load_ok("statsd:\n  listen: ~\nsystem:\n  proc_root:\n");
    assert_string_equal(c->statsd.listen, "off");
    assert_string_equal(c->system.proc_root, "/proc");
    collector_config_free(c);

    setenv("MEMMON_STATSD_LISTEN", "127.0.0.1:18125", 1);
    c = load_ok("statsd:\n  listen: 127.0.0.1:1\n");
    assert_string_equal(c->statsd.listen, "127.0.0.1:18125");
    collector_config_free(c);
    unsetenv("MEMMON_STATSD_LISTEN");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("statsd:\n  listen: 1.2.3.4:5\nbogus: 1\n", "collector.yml:3:1:", "unknown key \"bogus\"");
    expect_error("statsd:\n  lisen: x\n", "collector.yml:2:3:", "unknown key \"lisen\"");
    expect_error("statsd:\n  ttl: forever\n", "collector.yml:2:8:", "ttl must be a duration");
    expect_error("statsd:\n  listen: nowhere\n", "collector.yml:2:11:", "host:port");
    expect_error("statsd:\n  buckets:\n    - match: a\n      le: [1, 0.5]\n", "collector.yml:4:15:", "ascending");
    expect_error("statsd:\n  buckets:\n    - match: a\n", "collector.yml:3:7:", "needs \"le\"");
    expect_error("statsd:\n  buckets:\n    - match: a\n      le: [1]\n      lo: 2\n", "collector.yml:5:7:",
                 "unknown key \"lo\"");
    expect_error("scrape:\n  targets:\n    - job: x\n", "collector.yml:3:7:", "needs \"url\"");
    expect_error("scrape:\n  targets:\n    - job: x\n      url: ftp://h/\n", "collector.yml:4:12:", "http://");
    expect_error("scrape:\n  targets:\n    - url: http://h/\n", "collector.yml:3:7:", "needs \"job\"");
    expect_error("scrape:\n  targets:\n    - {job: a, url: 'http://h:1/'}\n    - {job: a, url: 'http://h:1/x'}\n",
                 "collector.yml:4:7:", "already has job");
    expect_error("history:\n  tiers:\n    - {step: 1m, retention: 1h}\n    - {step: 1s, retention: 1d}\n",
                 "collector.yml:4:7:", "longer than");
    expect_error("history:\n  tiers:\n    - {step: 1m, retention: 1h}\n    - {step: 90s, retention: 1d}\n",
                 "collector.yml:4:7:", "multiple");
    expect_error("history:\n  tiers: []\n", "collector.yml:2:10:", "1 to 8");
    expect_error("system:\n  enabled: maybe\n", "collector.yml:2:12:", "true or false");
    expect_error("publish:\n  batch_max_bytes: 100MiB\n", "collector.yml:2:20:", "between");
    expect_error("statsd: [1, 2]\n", "collector.yml:1:9:", "must be a map");
    expect_error("statsd:\n  listen: [\n", "collector.yml:", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
