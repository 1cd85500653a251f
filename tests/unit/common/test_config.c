/* Tests for the table-driven config loader and memmon.yml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_config.h"
#include "mm_err.h"

typedef struct {
    char *name;
    int64_t interval_ms;
    int64_t port;
    double ratio;
    bool on;
    int64_t size;
} demo_t;

static const mm_cfg_field_t demo_table[] = {
    {.key = "name", .type = MM_CFG_STRING, .offset = offsetof(demo_t, name), .def = "x"},
    {.key = "interval", .type = MM_CFG_DURATION, .offset = offsetof(demo_t, interval_ms),
     .def = "10s", .min = 100, .max = 86400000, .legacy_env = "MEMMIMIC_TEST_INTERVAL",
     .env = "MEMMON_TEST_INTERVAL"},
    {.key = "port", .type = MM_CFG_PORT, .offset = offsetof(demo_t, port), .def = "8125"},
    {.key = "ratio", .type = MM_CFG_DOUBLE, .offset = offsetof(demo_t, ratio), .def = "0.5",
     .min = 0, .max = 1},
    {.key = "on", .type = MM_CFG_BOOL, .offset = offsetof(demo_t, on), .def = "false"},
    {.key = "size", .type = MM_CFG_BYTES, .offset = offsetof(demo_t, size), .def = "1MiB"},
    {0},
};

static int apply(const char *text, demo_t *o, mm_diag_t *d)
{
    mm_yaml_doc_t *doc;
    memset(o, 0, sizeof *o);
    int r = mm_yaml_load_buf("demo.yml", text, strlen(text), &doc, d);
    if (r < 0)
        return r;
    r = mm_cfg_apply(demo_table, doc, doc->root, o, d);
    mm_yaml_free(doc);
    return r;
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    demo_t o;
    mm_diag_t d;
    assert_int_equal(apply("", &o, &d), 0);
    assert_string_equal(o.name, "x");
    assert_int_equal(o.interval_ms, 10000);
    assert_int_equal(o.port, 8125);
    assert_int_equal(o.size, 1048576);
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("name: y\ninterval: 1h30m\nport: 9\nratio: 0.25\non: yes\nsize: 4k\n",
                           &o, &d), 0);
    assert_string_equal(o.name, "y");
    assert_int_equal(o.interval_ms, 5400000);
    assert_true(o.on);
    assert_int_equal(o.size, 4096);
    mm_cfg_free(demo_table, &o);
}

static void test_errors(void **state)
{
    (void)state;
    demo_t o;
    mm_diag_t d;
    assert_int_equal(apply("name: a\nbogus: 1\n", &o, &d), -MM_ECONFIG);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 1);
    assert_non_null(strstr(d.msg, "unknown key \"bogus\""));
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("port: 70000\n", &o, &d), -MM_ECONFIG);
    assert_int_equal(d.line, 1);
    assert_int_equal(d.col, 7);
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("ratio: 2\n", &o, &d), -MM_ECONFIG);
    assert_non_null(strstr(d.msg, "between 0 and 1"));
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("interval: soon\n", &o, &d), -MM_ECONFIG);
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("name: [1]\n", &o, &d), -MM_ECONFIG);
    mm_cfg_free(demo_table, &o);
    assert_int_equal(apply("- 1\n", &o, &d), -MM_ECONFIG);
    mm_cfg_free(demo_table, &o);
}

static void test_env_precedence(void **state)
{
    (void)state;
    demo_t o;
    mm_diag_t d;
    setenv("MEMMIMIC_TEST_INTERVAL", "30", 1);
    assert_int_equal(apply("interval: 5s\n", &o, &d), 0);
    assert_int_equal(o.interval_ms, 30000);   /* legacy env beats the file */
    mm_cfg_free(demo_table, &o);
    setenv("MEMMON_TEST_INTERVAL", "2m", 1);
    assert_int_equal(apply("interval: 5s\n", &o, &d), 0);
    assert_int_equal(o.interval_ms, 120000);  /* MEMMON_ beats MEMMIMIC_ */
    mm_cfg_free(demo_table, &o);
    setenv("MEMMON_TEST_INTERVAL", "never", 1);
    assert_int_equal(apply("", &o, &d), -MM_ECONFIG);
    assert_string_equal(d.file, "environment");
    mm_cfg_free(demo_table, &o);
    unsetenv("MEMMON_TEST_INTERVAL");
    unsetenv("MEMMIMIC_TEST_INTERVAL");
}

static void test_memmon_yml(void **state)
{
    (void)state;
    char dir[] = "/tmp/mmcfgXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/memmon.yml", dir);
    FILE *f = fopen(path, "w");
    fputs("data_dir: run\ngateway_port: 9090\nexternal_labels:\n  site: a\n  env: prod\n", f);
    fclose(f);
    setenv("MEMMIMIC_DASHBOARD_HOST", "0.0.0.0", 1);
    mm_config_t cfg;
    mm_diag_t d;
    assert_int_equal(mm_config_load(dir, "collector", &cfg, &d), 0);
    assert_int_equal(cfg.gateway_port, 9090);
    assert_string_equal(cfg.gateway_host, "0.0.0.0");
    assert_int_equal(cfg.n_external_labels, 2);
    assert_string_equal(cfg.external_labels[0].name, "env");
    char want[300];
    snprintf(want, sizeof want, "%s/run", dir);
    assert_string_equal(cfg.data_dir, want);
    snprintf(want, sizeof want, "ipc://%s/run/bus-in.sock", dir);
    assert_string_equal(cfg.bus_in, want);
    assert_non_null(strstr(cfg.instance, "-collector"));
    mm_config_fini(&cfg);
    unsetenv("MEMMIMIC_DASHBOARD_HOST");

    f = fopen(path, "w");
    fputs("gateway_port: 8080\nlog_levle: debug\n", f);
    fclose(f);
    assert_int_equal(mm_config_load(dir, "gateway", &cfg, &d), -MM_ECONFIG);
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 2);
    unlink(path);
    /* No memmon.yml at all: defaults. */
    assert_int_equal(mm_config_load(dir, "gateway", &cfg, &d), 0);
    assert_int_equal(cfg.gateway_port, 8080);
    assert_string_equal(cfg.gateway_host, "127.0.0.1");
    mm_config_fini(&cfg);
    rmdir(dir);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(mm_cfg_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(mm_cfg_parse_duration_ms("1.5", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(mm_cfg_parse_duration_ms("1d2h", &ms), 0);
    assert_int_equal(ms, 93600000);
    assert_true(mm_cfg_parse_duration_ms("5 m", &ms) < 0);
    assert_true(mm_cfg_parse_duration_ms("-5s", &ms) < 0);
    assert_true(mm_cfg_parse_duration_ms("", &ms) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_env_precedence),
        cmocka_unit_test(test_memmon_yml),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
