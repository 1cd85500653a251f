/* Unit tests for the rule layer: loader errors and their positions, alert
 * state transitions in fake time (for, for: 0, keep_firing_for, resolved
 * retention), ALERTS and recording output visible to later rules, stale
 * markers, evaluation errors, limit, state export/import, reload carry-over
 * and change-driven extra evaluation points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_rules.h"

#define MIN 60000

static mm_rules_t *load(const char *text, mm_rules_diags_t *d)
{
    mm_rules_t *rs = mm_rules_new(NULL);
    assert_non_null(rs);
    int rc = mm_rules_load_buf(rs, "r.yml", text, strlen(text), d);
    if (rc < 0) {
        mm_rules_free(rs);
        return NULL;
    }
    return rs;
}

static void put(mm_promql_store_t *s, const char *name, const char *lname, const char *lval,
                int64_t t, double v)
{
    mm_label_t l[2] = {{"__name__", name}, {lname, lval}};
    assert_int_equal(mm_promql_store_append(s, l, lname ? 2 : 1, t, v), 0);
}

/* Value of a one-sample instant query, NAN when empty. */
static double query1(mm_promql_store_t *s, const char *q, int64_t t, size_t *ret_n)
{
    mm_promql_expr_t *e = NULL;
    mm_promql_result_t *r = NULL;
    assert_int_equal(mm_promql_parse(q, strlen(q), &e, NULL), 0);
    assert_int_equal(mm_promql_eval(e, s, t, NULL, &r, NULL), 0);
    double v = NAN;
    size_t n = 0;
    if (r->type == MM_PROMQL_VECTOR) {
        n = r->n_samples;
        if (n)
            v = r->samples[0].v;
    } else if (r->type == MM_PROMQL_SCALAR) {
        n = 1;
        v = r->scalar;
    }
    if (ret_n)
        *ret_n = n;
    mm_promql_result_free(r);
    mm_promql_expr_free(e);
    return v;
}

static mm_rules_state_t state_of(mm_rules_t *rs, size_t g, size_t r, size_t *ret_n)
{
    const mm_rules_alert_t *a;
    size_t n = mm_rules_rule_alerts(mm_rules_group_rule_at(mm_rules_group_at(rs, g), r), &a);
    if (ret_n)
        *ret_n = n;
    return n ? a[0].state : MM_RULES_INACTIVE;
}

static void test_load_errors(void **st)
{
    (void)st;
    mm_rules_diags_t d = {0};
    const char *bad = "groups:\n"
                      "- name: g\n"
                      "  rules:\n"
                      "  - alert: A\n"
                      "    expr: |\n"
                      "      sum(up)\n"
                      "        + rate(x[5m]) by (\n"
                      "  - record: 'bad name'\n"
                      "    expr: up\n"
                      "    for: 5m\n"
                      "  - alert: B\n"
                      "    expr: up\n"
                      "    annotations:\n"
                      "      s: 'x {{ .Foo }'\n"
                      "    bogus: 1\n"
                      "- name: g\n"
                      "  rules: []\n";
    assert_null(load(bad, &d));
    char line[1400];
    size_t found = 0;
    for (size_t i = 0; i < d.n; i++) {
        mm_diag_format(&d.items[i], line, sizeof line);
        if (strstr(line, "rule 1, \"A\": could not parse expression")) {
            /* The offending character: line 7 of the file, inside expr. */
            assert_int_equal(d.items[i].line, 7);
            found++;
        }
        if (strstr(line, "r.yml:8:13: group \"g\", rule 2, \"bad name\": invalid field 'for'"))
            found++;
        if (strstr(line, "invalid recording rule name: bad name"))
            found++;
        if (strstr(line, "rule 3, \"B\": annotation \"s\": template: __alert_B:1:")) {
            assert_int_equal(d.items[i].line, 14);
            found++;
        }
        if (strstr(line, "r.yml:15:5: field bogus not found"))
            found++;
        if (strstr(line, "r.yml:16:3: groupname: \"g\" is repeated in the same file"))
            found++;
    }
    assert_int_equal(found, 6);
    mm_rules_diags_fini(&d);

    mm_rules_diags_t d2 = {0};
    mm_rules_t *rs = load("groups:\n- name: a\n  interval: 30s\n  rules:\n"
                          "  - record: job:x:sum\n    expr: sum by (job) (x)\n"
                          "  - alert: X\n    expr: x > 1\n    for: 2m\n"
                          "    keep_firing_for: 1m\n",
                          &d2);
    assert_non_null(rs);
    assert_int_equal(d2.n, 0);
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    assert_int_equal(mm_rules_group_interval(g), 30000);
    assert_int_equal(mm_rules_group_rule_count(g), 2);
    assert_int_equal(mm_rules_rule_kind(mm_rules_group_rule_at(g, 1)), MM_RULES_ALERTING);
    mm_label_t sel[] = {{"__name__", "x"}, {"job", "a"}};
    mm_label_t other[] = {{"__name__", "y"}};
    assert_true(mm_rules_rule_reads(mm_rules_group_rule_at(g, 1), sel, 2));
    assert_false(mm_rules_rule_reads(mm_rules_group_rule_at(g, 1), other, 1));
    mm_rules_free(rs);
}

static void test_pending_firing_resolved(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  rules:\n"
                          "  - alert: High\n    expr: x > 1\n    for: 2m\n"
                          "    labels:\n      sev: '{{ if gt $value 5.0 }}crit{{ else }}warn{{ end }}'\n"
                          "    annotations:\n      v: 'value {{ $value }} on {{ $labels.i }}'\n"
                          "  - record: n_alerts\n    expr: count(ALERTS{alertname=\"High\"})\n",
                          NULL);
    assert_non_null(rs);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    for (int m = 0; m <= 3; m++)
        put(s, "x", "i", "a", m * MIN, 2);
    assert_int_equal(mm_rules_group_eval(g, s, 0), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_PENDING);
    /* The recording rule saw the ALERTS series written just before it. */
    assert_true(query1(s, "n_alerts", 0, NULL) == 1);
    assert_true(query1(s, "ALERTS{alertstate=\"pending\",sev=\"warn\"}", 0, NULL) == 1);
    assert_int_equal(mm_rules_group_eval(g, s, MIN), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_PENDING);
    assert_int_equal(mm_rules_group_eval(g, s, 2 * MIN), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_FIRING);
    assert_true(query1(s, "ALERTS_FOR_STATE", 2 * MIN, NULL) == 0);
    const mm_rules_alert_t *a;
    assert_int_equal(mm_rules_rule_alerts(mm_rules_group_rule_at(g, 0), &a), 1);
    assert_string_equal(a[0].annotations[0].value, "value 2 on a");
    assert_int_equal(a[0].fired_at, 2 * MIN);
    /* The condition ends: resolved, kept for 15 minutes, then dropped. */
    put(s, "x", "i", "a", 4 * MIN, 0);
    assert_int_equal(mm_rules_group_eval(g, s, 4 * MIN), 0);
    size_t n;
    assert_int_equal(state_of(rs, 0, 0, &n), MM_RULES_INACTIVE);
    assert_int_equal(n, 1);
    assert_int_equal(mm_rules_rule_alerts(mm_rules_group_rule_at(g, 0), &a), 1);
    assert_int_equal(a[0].resolved_at, 4 * MIN);
    /* ALERTS got a stale marker. */
    size_t na;
    query1(s, "ALERTS", 4 * MIN, &na);
    assert_int_equal(na, 0);
    put(s, "x", "i", "a", 19 * MIN, 0);
    assert_int_equal(mm_rules_group_eval(g, s, 19 * MIN), 0);
    state_of(rs, 0, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(mm_rules_group_eval(g, s, 19 * MIN + 1), 0);
    state_of(rs, 0, 0, &n);
    assert_int_equal(n, 0);
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

static void test_for_zero_keep_firing(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  rules:\n"
                          "  - alert: Now\n    expr: x > 1\n"
                          "  - alert: Keep\n    expr: x > 1\n    keep_firing_for: 3m\n"
                          "  - alert: Short\n    expr: x > 1\n    for: 30s\n",
                          NULL);
    assert_non_null(rs);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    put(s, "x", NULL, NULL, 0, 5);
    assert_int_equal(mm_rules_group_eval(g, s, 0), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_FIRING);
    assert_int_equal(state_of(rs, 0, 1, NULL), MM_RULES_FIRING);
    assert_int_equal(state_of(rs, 0, 2, NULL), MM_RULES_PENDING);
    put(s, "x", NULL, NULL, MIN, 5);
    assert_int_equal(mm_rules_group_eval(g, s, MIN), 0);
    /* `for` shorter than the interval fires at the next evaluation. */
    assert_int_equal(state_of(rs, 0, 2, NULL), MM_RULES_FIRING);
    put(s, "x", NULL, NULL, 2 * MIN, 0);
    for (int m = 2; m <= 5; m++) {
        assert_int_equal(mm_rules_group_eval(g, s, m * MIN), 0);
        assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_INACTIVE);
        /* keep_firing_for: still firing for 3 minutes after the condition ended. */
        assert_int_equal(state_of(rs, 0, 1, NULL), m < 5 ? MM_RULES_FIRING : MM_RULES_INACTIVE);
    }
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

static void test_errors_and_limit(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  limit: 1\n  rules:\n"
                          "  - alert: Dup\n    expr: x\n    labels:\n      i: same\n"
                          "  - alert: Many\n    expr: x\n"
                          "  - record: r\n    expr: x\n    labels:\n      i: same\n"
                          "  - record: ok\n    expr: sum(x)\n",
                          NULL);
    assert_non_null(rs);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    put(s, "x", "i", "a", 0, 1);
    put(s, "x", "i", "b", 0, 1);
    assert_int_equal(mm_rules_group_eval(g, s, 0), 3);
    assert_string_equal(mm_rules_rule_last_error(mm_rules_group_rule_at(g, 0)),
                        "vector contains metrics with the same labelset after applying alert "
                        "labels");
    assert_string_equal(mm_rules_rule_last_error(mm_rules_group_rule_at(g, 1)),
                        "exceeded limit of 1 with 2 alerts");
    assert_string_equal(mm_rules_rule_last_error(mm_rules_group_rule_at(g, 2)),
                        "vector contains metrics with the same labelset after applying rule "
                        "labels");
    assert_null(mm_rules_rule_last_error(mm_rules_group_rule_at(g, 3)));
    assert_true(query1(s, "ok", 0, NULL) == 2);
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

static void test_recording_stale(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  rules:\n"
                          "  - record: y\n    expr: x > 1\n"
                          "  - record: z\n    expr: y * 2\n",
                          NULL);
    assert_non_null(rs);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    put(s, "x", "i", "a", 0, 5);
    assert_int_equal(mm_rules_group_eval(g, s, 0), 0);
    assert_true(query1(s, "z", 0, NULL) == 10);
    put(s, "x", "i", "a", MIN, 0);
    assert_int_equal(mm_rules_group_eval(g, s, MIN), 0);
    size_t n;
    query1(s, "y", MIN + 1000, &n);
    assert_int_equal(n, 0);
    query1(s, "z", MIN + 1000, &n);
    assert_int_equal(n, 0);
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

/* Alerts remember the store series of their ALERTS samples; a trim that
 * renumbers the series invalidates those references, and both the output
 * and the stale markers find their series again by labels. */
static void test_series_refs_across_compaction(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  rules:\n"
                          "  - alert: A\n    expr: x > 1\n    for: 1m\n",
                          NULL);
    assert_non_null(rs);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    char v[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(v, sizeof v, "%d", i);
        put(s, "x", "i", v, 0, 2);
    }
    assert_int_equal(mm_rules_group_eval(g, s, 0), 0);
    size_t n;
    assert_true(query1(s, "count(ALERTS{alertstate=\"pending\"})", 0, NULL) == 2000);
    /* Half the series go on; everything else is trimmed away and the store
     * compacts (5,000 of 6,000 series empty). */
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "%d", i);
        put(s, "x", "i", v, MIN, 2);
    }
    mm_promql_store_trim(s, 1);
    assert_int_equal(mm_promql_store_series_count(s), 1000);
    assert_int_equal(mm_rules_group_eval(g, s, MIN), 0);
    state_of(rs, 0, 0, &n);
    assert_int_equal(n, 1000);
    assert_true(query1(s, "count(ALERTS{alertstate=\"firing\"})", MIN, NULL) == 1000);
    assert_true(query1(s, "count(ALERTS_FOR_STATE)", MIN, NULL) == 1000);
    /* x, the firing ALERTS series, and with a stale marker the pending
     * ALERTS series of the first round's 2,000 alerts and ALERTS_FOR_STATE
     * of the 1,000 that ended. */
    assert_int_equal(mm_promql_store_series_count(s), 6000);
    for (int i = 0; i < 1000; i++) {
        snprintf(v, sizeof v, "%d", i);
        put(s, "x", "i", v, 2 * MIN, i < 500 ? 2 : 0);
    }
    assert_int_equal(mm_rules_group_eval(g, s, 2 * MIN), 0);
    assert_true(query1(s, "count(ALERTS{alertstate=\"firing\"})", 2 * MIN, NULL) == 500);
    assert_true(query1(s, "count(ALERTS_FOR_STATE)", 2 * MIN, NULL) == 500);
    query1(s, "ALERTS{alertstate=\"pending\"}", 2 * MIN, &n);
    assert_int_equal(n, 0);
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

static const char *const state_rules =
    "groups:\n- name: g\n  rules:\n"
    "  - alert: A\n    expr: x > 1\n    for: 5m\n    annotations:\n      d: \"a\\tb\"\n"
    "  - alert: B\n    expr: x > 1\n";

static void test_export_import_reload(void **st)
{
    (void)st;
    mm_rules_t *rs = load(state_rules, NULL);
    mm_promql_store_t *s = mm_promql_store_new();
    put(s, "x", "i", "a", 0, 5);
    put(s, "x", "i", "b", 0, 5);
    assert_int_equal(mm_rules_group_eval(mm_rules_group_at(rs, 0), s, 0), 0);
    char *buf;
    size_t len;
    assert_int_equal(mm_rules_state_export(rs, &buf, &len), 0);
    /* A restart: a new rule set resumes the pending timer. */
    mm_rules_t *rs2 = load(state_rules, NULL);
    assert_int_equal(mm_rules_state_import(rs2, buf, len), 4);
    assert_int_equal(mm_rules_state_import(rs2, "garbage\n", 8), -EBADMSG);
    const mm_rules_alert_t *a;
    assert_int_equal(mm_rules_rule_alerts(mm_rules_group_rule_at(mm_rules_group_at(rs2, 0), 0), &a),
                     2);
    assert_int_equal(a[0].state, MM_RULES_PENDING);
    assert_string_equal(a[0].annotations[0].value, "a\tb");
    put(s, "x", "i", "a", 5 * MIN, 5);
    put(s, "x", "i", "b", 5 * MIN, 5);
    assert_int_equal(mm_rules_group_eval(mm_rules_group_at(rs2, 0), s, 5 * MIN), 0);
    assert_int_equal(state_of(rs2, 0, 0, NULL), MM_RULES_FIRING);
    free(buf);

    /* A reload that changes B keeps A's state only. */
    mm_rules_t *rs3 = load("groups:\n- name: g\n  rules:\n"
                           "  - alert: A\n    expr: x > 1\n    for: 5m\n    annotations:\n"
                           "      d: \"a\\tb\"\n"
                           "  - alert: B\n    expr: x > 2\n",
                           NULL);
    assert_int_equal(mm_rules_carry_state(rs3, rs2), 1);
    assert_int_equal(state_of(rs3, 0, 0, NULL), MM_RULES_FIRING);
    size_t n;
    state_of(rs3, 0, 1, &n);
    assert_int_equal(n, 0);
    mm_rules_free(rs);
    mm_rules_free(rs2);
    mm_rules_free(rs3);
    mm_promql_store_free(s);
}

static void test_extra_points(void **st)
{
    (void)st;
    mm_rules_t *rs = load("groups:\n- name: g\n  rules:\n"
                          "  - alert: A\n    expr: x > 1\n    for: 2m\n"
                          "  - record: r\n    expr: x\n",
                          NULL);
    mm_promql_store_t *s = mm_promql_store_new();
    mm_rules_group_t *g = mm_rules_group_at(rs, 0);
    mm_rules_rule_t *a = mm_rules_group_rule_at(g, 0);
    put(s, "x", NULL, NULL, 0, 0);
    assert_int_equal(mm_rules_group_eval(g, s, 0), 0);
    /* A sample at 10s crosses the threshold: pending at once. */
    put(s, "x", NULL, NULL, 10000, 5);
    assert_int_equal(mm_rules_rule_eval_extra(a, s, 10000), 1);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_PENDING);
    /* Recording rules never run at extra points. */
    assert_int_equal(mm_rules_rule_eval_extra(mm_rules_group_rule_at(g, 1), s, 10000), 0);
    assert_int_equal(mm_rules_group_eval(g, s, MIN), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_PENDING);
    put(s, "x", NULL, NULL, 130000, 5);
    assert_int_equal(mm_rules_rule_eval_extra(a, s, 130000), 1);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_FIRING);
    /* The scheduled evaluation keeps it firing; its value is the same as
     * without extra points. */
    assert_int_equal(mm_rules_group_eval(g, s, 2 * MIN + 60000), 0);
    assert_int_equal(state_of(rs, 0, 0, NULL), MM_RULES_FIRING);
    /* Off: Prometheus's timing exactly. */
    mm_rules_group_set_extra_points(g, false);
    assert_int_equal(mm_rules_rule_eval_extra(a, s, 190000), 0);
    mm_promql_store_free(s);
    mm_rules_free(rs);
}

static void test_durations(void **st)
{
    (void)st;
    char b[64];
    assert_string_equal(mm_rules_go_duration(0, b, sizeof b), "0s");
    assert_string_equal(mm_rules_go_duration(90000, b, sizeof b), "1m30s");
    assert_string_equal(mm_rules_go_duration(3600000, b, sizeof b), "1h0m0s");
    assert_string_equal(mm_rules_go_duration(1500, b, sizeof b), "1.5s");
    assert_string_equal(mm_rules_model_duration(5400000, b, sizeof b), "1h30m");
    assert_string_equal(mm_rules_model_duration(86400000, b, sizeof b), "1d");
    int64_t ms;
    assert_int_equal(mm_rules_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(mm_rules_parse_duration("100ms", &ms), 0);
    assert_int_equal(ms, 100);
    assert_int_equal(mm_rules_parse_duration("5x", &ms), -EINVAL);
    assert_int_equal(mm_rules_parse_duration("m", &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_pending_firing_resolved),
        cmocka_unit_test(test_for_zero_keep_firing),
        cmocka_unit_test(test_errors_and_limit),
        cmocka_unit_test(test_recording_stale),
        cmocka_unit_test(test_series_refs_across_compaction),
        cmocka_unit_test(test_export_import_reload),
        cmocka_unit_test(test_extra_points),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
