/* Tests for health.yml loading: defaults, every kind, thresholds with their
 * direction, "N of M", and errors that name file:line:col. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "health_config.h"

static health_config_t *load_ok(const char *text)
{
    health_config_t *cfg = NULL;
    mm_diag_t d;
    memset(&d, 0, sizeof(d));
    int r = health_config_load_buf("health.yml", text, strlen(text), "/var/lib/memmimic.db",
                                   &cfg, &d);
    if (r < 0)
        fail_msg("unexpected error: %s:%u:%u: %s", d.file, d.line, d.col, d.msg);
    return cfg;
}

/* Expects an error at line:col whose message contains `needle`. */
static void load_bad(const char *text, unsigned line, unsigned col, const char *needle)
{
    health_config_t *cfg = NULL;
    mm_diag_t d;
    memset(&d, 0, sizeof(d));
    int r = health_config_load_buf("health.yml", text, strlen(text), NULL, &cfg, &d);
    assert_true(r < 0);
    assert_null(cfg);
    if (d.line != line || d.col != col || !strstr(d.msg, needle))
        fail_msg("got %s:%u:%u: %s; wanted %u:%u containing \"%s\"", d.file, d.line, d.col,
                 d.msg, line, col, needle);
    assert_string_equal(d.file, "health.yml");
}

static void test_empty(void **state)
{
    (void)state;
    health_config_t *cfg = load_ok("");
    assert_int_equal(cfg->n_checks, 0);
    assert_int_equal(cfg->default_interval_ms, 30000);
    health_config_free(cfg);
}

static void test_full(void **state)
{
    (void)state;
    const char *y =
        "interval: 10s\n"
        "fail: 2 of 3\n"
        "recover: 3/3\n"
        "checks:\n"
        "  - name: database\n"
        "    kind: sqlite\n"
        "    memmimic: true\n"
        "    query: SELECT COUNT(*) FROM memories\n"
        "    latency: {degraded: 100ms, unhealthy: 500ms, critical: 2s, hysteresis: 20ms}\n"
        "    newest_age: {degraded: 1h}\n"
        "    weight: 3\n"
        "  - name: api\n"
        "    kind: http\n"
        "    url: http://127.0.0.1:8080/-/healthy\n"
        "    status: 200\n"
        "    body_regex: '(?i)ok'\n"
        "    cert_days: {degraded: 30, critical: 7}\n"
        "    depends_on: [database]\n"
        "    timeout: 2s\n"
        "    fail: 1\n"
        "  - name: port\n"
        "    kind: tcp\n"
        "    host: 127.0.0.1\n"
        "    port: 8125\n"
        "  - name: proc\n"
        "    kind: process\n"
        "    process: memmimic\n"
        "    rss: {degraded: 512MiB, critical: 1GiB}\n"
        "    missing: unhealthy\n"
        "  - name: system_resources\n"
        "    kind: system\n"
        "    mounts: [/, /tmp]\n"
        "  - name: plugin\n"
        "    kind: command\n"
        "    argv: [/usr/lib/nagios/plugins/check_load, -w, '1,1,1']\n"
        "    env: [LC_ALL=C]\n"
        "  - name: cache\n"
        "    kind: metric\n"
        "    series: memmimic_cache_hits_total\n"
        "    divide_by: [memmimic_cache_hits_total, 'memmimic_cache_misses_total{job=\"m\"}']\n"
        "    function: rate\n"
        "    value: {degraded: 0.8, unhealthy: 0.6, critical: 0.3}\n"
        "    absent: degraded\n";
    health_config_t *cfg = load_ok(y);
    assert_int_equal(cfg->n_checks, 7);
    const health_check_conf_t *db = health_config_find(cfg, "database");
    assert_non_null(db);
    assert_int_equal(db->kind, HEALTH_KIND_SQLITE);
    assert_string_equal(db->path, "/var/lib/memmimic.db");
    assert_true(db->memmimic);
    assert_int_equal(db->interval_ms, 10000);
    assert_int_equal(db->fail_n, 2);
    assert_int_equal(db->fail_m, 3);
    assert_int_equal(db->recover_n, 3);
    assert_true(db->latency_ms.at[HEALTH_CRITICAL] == 2000);
    assert_true(db->latency_ms.hysteresis == 20);
    assert_false(db->latency_ms.lower_is_worse);
    assert_true(db->newest_age_ms.at[HEALTH_DEGRADED] == 3600000);
    assert_true(db->weight == 3);
    assert_int_equal(db->quick_check_ms, 300000);

    const health_check_conf_t *api = health_config_find(cfg, "api");
    assert_int_equal(api->expect_status, 200);
    assert_true(api->cert_days.lower_is_worse);
    assert_int_equal(api->depends_on.n, 1);
    assert_string_equal(api->depends_on.v[0], "database");
    assert_int_equal(api->timeout_ms, 2000);
    assert_int_equal(api->fail_n, 1);
    assert_int_equal(api->fail_m, 1);
    assert_true(api->tls_verify);

    const health_check_conf_t *proc = health_config_find(cfg, "proc");
    assert_true(proc->rss_bytes.at[HEALTH_CRITICAL] == 1073741824.0);
    assert_int_equal(proc->missing_level, HEALTH_UNHEALTHY);
    assert_int_equal(proc->restart_level, HEALTH_DEGRADED);

    const health_check_conf_t *sys = health_config_find(cfg, "system_resources");
    assert_true(sys->memory_percent.at[HEALTH_DEGRADED] == 70);
    assert_true(sys->cpu_total_percent.at[HEALTH_UNHEALTHY] == 80);
    assert_true(sys->disk_percent.at[HEALTH_CRITICAL] == 95);
    assert_int_equal(sys->mounts.n, 2);

    const health_check_conf_t *pl = health_config_find(cfg, "plugin");
    assert_int_equal(pl->argv.n, 3);
    assert_string_equal(pl->argv.v[2], "1,1,1");
    assert_int_equal(pl->output_max_bytes, 65536);

    const health_check_conf_t *ca = health_config_find(cfg, "cache");
    assert_int_equal(ca->series.n, 1);
    assert_int_equal(ca->divide_by.n, 2);
    assert_string_equal(ca->divide_by.v[1].name, "memmimic_cache_misses_total");
    assert_int_equal(ca->divide_by.v[1].n_labels, 1);
    assert_string_equal(ca->divide_by.v[1].label_values[0], "m");
    assert_int_equal(ca->fn, HEALTH_FN_RATE);
    assert_true(ca->value.lower_is_worse);
    assert_int_equal(ca->absent_level, HEALTH_DEGRADED);
    health_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    load_bad("bogus: 1\n", 1, 1, "unknown key \"bogus\"");
    load_bad("checks:\n  - name: a\n    kind: sqlit\n    path: x\n", 3, 11, "unknown kind");
    load_bad("checks:\n  - name: a\n    path: x\n", 2, 5, "needs \"kind\"");
    load_bad("checks:\n  - name: a\n    kind: http\n    url: http://x\n    colour: red\n", 5, 5,
             "unknown key \"colour\"");
    load_bad("checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 99999\n", 5, 11,
             "port");
    load_bad("checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 1\n    interval: soon\n",
             6, 15, "duration");
    load_bad("checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 1\n    fail: 3 of 2\n",
             6, 11, "N <= M");
    load_bad("checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 1\n"
             "    latency: {degraded: 1s, critical: 100ms, unhealthy: 2s}\n",
             6, 14, "must rise");
    load_bad("checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 1\n"
             "    latency: {warning: 1s}\n", 6, 15, "unknown key \"warning\"");
    load_bad("checks:\n  - name: a\n    kind: system\n  - name: a\n    kind: system\n", 4, 11,
             "duplicate");
    load_bad("checks:\n  - name: a\n    kind: system\n    depends_on: [b]\n", 4, 17,
             "not a check");
    load_bad("checks:\n  - name: a\n    kind: system\n    depends_on: b\n"
             "  - name: b\n    kind: system\n    depends_on: [a]\n", 4, 17, "cycle");
    load_bad("checks:\n  - name: a\n    kind: command\n    argv: []\n", 2, 5, "argv");
    load_bad("checks:\n  - name: a\n    kind: sqlite\n", 2, 5, "path");
    load_bad("checks:\n  - name: a\n    kind: metric\n    series: 'x{a=1}'\n"
             "    value: {critical: 1}\n", 4, 13, "selector");
    load_bad("checks:\n  - name: a b\n    kind: system\n", 2, 11, "names");
    load_bad("checks:\n  - name: a\n    kind: http\n    url: ftp://x\n", 4, 10, "http://");
    load_bad("checks: [a\n", 2, 1, "");
    load_bad("checks:\n  - name: a\n    kind: process\n", 2, 5, "exactly one");
    load_bad("checks:\n  - name: a\n    kind: system\n    weight: -1\n", 4, 13, "weight");
}

static void test_env_interval(void **state)
{
    (void)state;
    setenv("MEMMIMIC_HEALTH_CHECK_INTERVAL", "12", 1);
    health_config_t *cfg = load_ok("checks:\n  - name: s\n    kind: system\n");
    assert_int_equal(cfg->default_interval_ms, 12000);
    assert_int_equal(cfg->checks[0].interval_ms, 12000);
    health_config_free(cfg);
    unsetenv("MEMMIMIC_HEALTH_CHECK_INTERVAL");
}

static void test_selector(void **state)
{
    (void)state;
    health_selector_t s;
    assert_int_equal(health_selector_parse("up{job=\"a\", instance=\"b\\\"c\"}", &s), 0);
    assert_string_equal(s.name, "up");
    assert_int_equal(s.n_labels, 2);
    assert_string_equal(s.label_values[1], "b\"c");
    health_selector_fini(&s);
    assert_int_equal(health_selector_parse("a:b_c", &s), 0);
    health_selector_fini(&s);
    assert_int_equal(health_selector_parse("", &s), -EINVAL);
    assert_int_equal(health_selector_parse("1x", &s), -EINVAL);
    assert_int_equal(health_selector_parse("x{", &s), -EINVAL);
    assert_int_equal(health_selector_parse("x{a=\"b\"} junk", &s), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_env_interval),
        cmocka_unit_test(test_selector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
