/* Unit tests for the PromQL engine: parser and printer (canonical text,
 * error offsets, limits), the series store, evaluation through the API, and
 * the selector/lookback queries the rule layer needs. */
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
#include "mm_promql.h"

static char *print(const char *text)
{
    mm_promql_expr_t *e = NULL;
    mm_promql_error_t err;
    int rc = mm_promql_parse(text, strlen(text), &e, &err);
    if (rc < 0)
        fail_msg("parse of '%s' failed at %zu: %s", text, err.offset, err.msg);
    size_t n = mm_promql_expr_print(e, NULL, 0);
    char *buf = malloc(n + 1);
    mm_promql_expr_print(e, buf, n + 1);
    mm_promql_expr_free(e);
    return buf;
}

static void test_canonical(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"foo", "foo"},
        {"foo offset -5m", "foo offset -5m"},
        {"sum(x) by (job)", "sum by (job) (x)"},
        {"SUM BY (job) (x)", "sum by (job) (x)"},
        {"sum without(a,b,)(x)", "sum without (a, b) (x)"},
        {"x AND y OR z UNLESS w", "x and y or z unless w"},
        {"rate(x[1h:])", "rate(x[1h:])"},
        {"max_over_time(rate(x[5m])[1h:30s] offset 1m)", "max_over_time(rate(x[5m])[1h:30s] offset 1m)"},
        {"foo @ start()", "foo @ start()"},
        {"foo[5m] offset 1m @ 100", "foo[5m] @ 100.000 offset 1m"},
        {"a + on(x) group_left(y) b", "a + on (x) group_left (y) b"},
        {"a * ignoring(x) group_right b", "a * ignoring (x) group_right () b"},
        {"topk(3, x)", "topk(3, x)"},
        {"count_values(\"v\", x)", "count_values(\"v\", x)"},
        {"sum(x) # comment\n by (job)", "sum by (job) (x)"},
        {"{__name__=\"foo\",job=~\"a|b\"}", "{__name__=\"foo\",job=~\"a|b\"}"},
        {"foo{}", "foo"},
        {":a:b{c!~'d'}", ":a:b{c!~\"d\"}"},
        {"1 > bool 2", "1 > bool 2"},
        {"-x", "-x"},
        {"- 1", "-1"},
        {"foo{on=\"x\", by=\"y\"}", "foo{on=\"x\",by=\"y\"}"},
        {"1e3 + 0x10 + .5 + Inf + 1e6 + 1.5e-7", "1000 + 16 + 0.5 + Inf + 1e+06 + 1.5e-07"},
        {"x[90m]", "x[1h30m]"},
        {"(a + b) * c", "(a + b) * c"},
        {"label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")"},
        {"`raw\\n`", "\"raw\\\\n\""},
        {"sum + count{a=\"b\"} + start + end + offset", "sum + count{a=\"b\"} + start + end + offset"},
        {"count by (a) (x) and count(x) by (b)", "count by (a) (x) and count by (b) (x)"},
        {"010 + 1", "8 + 1"},
        {"foo{NaN='bc'}", "foo{NaN=\"bc\"}"},
        {"x - on() group_left 2 - y", "x - 2 - y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = print(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("'%s' printed as '%s', want '%s'", cases[i][0], got, cases[i][1]);
        free(got);
    }
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t offset;
        const char *msg;
    } cases[] = {
        {"{}", 0, "at least one non-empty matcher"},
        {"{a=~\".*\"}", 0, "at least one non-empty matcher"},
        {"1 > 2", 2, "comparisons between scalars must use BOOL modifier"},
        {"rate(x)", 5, "expected type range vector in call to function \"rate\", got instant vector"},
        {"foo offset 1m [5m]", 14, "no offset modifiers allowed before range"},
        {"sum(x) offset 5m", 7, "offset modifier must be preceded"},
        {"x and 1", 0, "set operator \"and\" not allowed in binary scalar expression"},
        {"nosuch(x)", 0, "unknown function with name \"nosuch\""},
        {"abs(x, y)", 0, "expected 1 argument(s) in call to \"abs\", got 2"},
        {"sum(rate(x[5m])) by (job) >", 27, "unexpected end of input"},
        {"\"abc", 0, "unterminated quoted string"},
        {"x{a=\"b\"", 7, "unexpected end of input inside braces"},
        {"x + on(a) group_left(a) y", 2, "must not occur in ON and GROUP clause at once"},
        {"x and on(a) group_left y", 0, "no grouping allowed for \"and\" operation"},
        {"1 + on(a) x", 0, "vector matching only allowed between instant vectors"},
        {"x[5m][5m]", 5, "ranges only allowed for vector selectors"},
        {"x[5m:1m] offset 1m offset 2m", 19, "offset may not be set multiple times"},
        {"x @ 1 @ 2", 6, "may not be set multiple times"},
        {"x[5x]", 2, "bad duration syntax"},
        {"foo{__name__=\"bar\"}", 0, "metric name must not be set twice"},
        {"x{a=~\"(\"}", 2, "error parsing regexp"},
        {"x{a=~\"(?=a)\"}", 2, "error parsing regexp"},
        {"sum(x, y)", 0, "wrong number of arguments for aggregate expression"},
        {"topk(x, y)", 5, "expected type scalar in aggregation parameter, got instant vector"},
        {"1 + bool 2", 2, "bool modifier can only be used on comparison operators"},
        {"x[1h]:", 5, "unexpected identifier"},
        {"", 0, "no expression found"},
        {"f(x", 0, "unknown function"},
        {"rate(x[5m],)", 11, "trailing commas not allowed"},
        {"sum(x,)", 6, "trailing commas not allowed"},
        {"1e999", 0, "out of range or malformed"},
        {"1e", 0, "out of range or malformed"},
        {"0x", 0, "out of range or malformed"},
        {"0x1.8", 0, "out of range or malformed"},
        {"1 + on(a) group_left 2", 0, "vector matching only allowed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_promql_expr_t *e = NULL;
        mm_promql_error_t err;
        int rc = mm_promql_parse(cases[i].text, strlen(cases[i].text), &e, &err);
        if (rc != -MM_EPARSE)
            fail_msg("'%s' parsed (rc %d)", cases[i].text, rc);
        if (!strstr(err.msg, cases[i].msg) || err.offset != cases[i].offset)
            fail_msg("'%s': got '%s' at %zu, want '%s' at %zu", cases[i].text, err.msg, err.offset,
                     cases[i].msg, cases[i].offset);
        assert_null(e);
    }
}

static void test_limits(void **state)
{
    (void)state;
    /* Deep nesting is refused, never a stack overflow. */
    size_t depth = 100000;
    char *s = malloc(2 * depth + 2);
    memset(s, '(', depth);
    s[depth] = '1';
    memset(s + depth + 1, ')', depth);
    s[2 * depth + 1] = 0;
    mm_promql_expr_t *e = NULL;
    mm_promql_error_t err;
    assert_int_equal(mm_promql_parse(s, strlen(s), &e, &err), -MM_EPARSE);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    /* Long unary and binary chains too. */
    memset(s, '-', depth);
    s[depth] = '1';
    s[depth + 1] = 0;
    assert_int_equal(mm_promql_parse(s, strlen(s), &e, &err), -MM_EPARSE);
    for (size_t i = 0; i < depth; i++)
        s[2 * i] = '1', s[2 * i + 1] = '^';
    s[2 * depth - 1] = 0;
    assert_int_equal(mm_promql_parse(s, strlen(s), &e, &err), -MM_EPARSE);
    free(s);
    /* A left-leaning chain of 150 additions is fine. */
    char buf[1024] = "x";
    for (int i = 0; i < 150; i++)
        strcat(buf, "+1");
    assert_int_equal(mm_promql_parse(buf, strlen(buf), &e, &err), 0);
    mm_promql_expr_free(e);
    /* Huge input is refused with a clear error. */
    size_t big = MM_PROMQL_MAX_LEN + 1;
    char *h = malloc(big);
    memset(h, ' ', big);
    h[0] = 'x';
    assert_int_equal(mm_promql_parse(h, big, &e, &err), -MM_EPARSE);
    assert_non_null(strstr(err.msg, "too long"));
    free(h);
}

static void test_selectors_api(void **state)
{
    (void)state;
    const char *q = "rate(a{job=\"x\"}[5m]) / on(job) b offset 1h > bool max_over_time(c[10m:1m] offset 2h)";
    mm_promql_expr_t *e = NULL;
    assert_int_equal(mm_promql_parse(q, strlen(q), &e, NULL), 0);
    assert_int_equal(mm_promql_expr_type(e), MM_PROMQL_VECTOR);
    const mm_promql_selector_t *s;
    size_t n = mm_promql_expr_selectors(e, &s);
    assert_int_equal(n, 3);
    assert_string_equal(s[0].metric, "a");
    assert_int_equal(s[0].range_ms, 300000);
    assert_int_equal(s[0].n_matchers, 2);
    assert_string_equal(s[1].metric, "b");
    assert_int_equal(s[1].offset_ms, 3600000);
    assert_int_equal(s[1].range_ms, 0);
    assert_string_equal(s[2].metric, "c");
    /* c: 2h offset + 10m subquery + 5m lookback */
    assert_int_equal(mm_promql_expr_lookback(e, 0), 2 * 3600000 + 600000 + 300000);
    mm_label_t a_x[2] = {{"job", "x"}, {"__name__", "a"}};
    mm_label_t a_y[2] = {{"__name__", "a"}, {"job", "y"}};
    mm_label_t b_y[2] = {{"__name__", "b"}, {"job", "y"}};
    assert_true(mm_promql_expr_reads(e, a_x, 2));
    assert_false(mm_promql_expr_reads(e, a_y, 2));
    assert_true(mm_promql_expr_reads(e, b_y, 2));
    assert_false(mm_promql_expr_reads(e, b_y + 1, 1));
    mm_promql_expr_free(e);
}

static void add(mm_promql_store_t *st, const char *name, const char *job, int64_t t, double v)
{
    mm_label_t l[2] = {{"__name__", name}, {"job", job}};
    assert_int_equal(mm_promql_store_append(st, l, 2, t, v), 0);
}

static void test_store(void **state)
{
    (void)state;
    mm_promql_store_t *st = mm_promql_store_new();
    add(st, "up", "a", 1000, 1);
    add(st, "up", "a", 2000, 1);
    add(st, "up", "b", 1000, 0);
    mm_label_t l[2] = {{"job", "a"}, {"__name__", "up"}};   /* any order */
    assert_int_equal(mm_promql_store_append(st, l, 2, 1500, 1), -ERANGE);
    assert_int_equal(mm_promql_store_append(st, l, 2, 2000, 5), -EEXIST);
    assert_int_equal(mm_promql_store_append(st, l, 2, 2000, 1), 0);
    mm_label_t bad[2] = {{"__name__", "up"}, {"1x", "a"}};
    assert_int_equal(mm_promql_store_append(st, bad, 2, 1, 1), -EINVAL);
    mm_label_t empty[1] = {{"__name__", ""}};
    assert_int_equal(mm_promql_store_append(st, empty, 1, 1, 1), -EINVAL);
    assert_int_equal(mm_promql_store_series_count(st), 2);
    int64_t ts[3] = {1000, 3000, 4000};
    double vs[3] = {7, 8, 9};
    assert_int_equal(mm_promql_store_load(st, l, 2, ts, vs, 3), 2);   /* 1000 overlaps */
    mm_promql_store_trim(st, 1500);
    assert_int_equal(mm_promql_store_series_count(st), 1);              /* b had only t=1000 */
    mm_promql_store_free(st);
    mm_promql_store_free(NULL);
}

static int count_cb(const mm_promql_series_view_t *v, void *arg)
{
    (void)v;
    ++*(int *)arg;
    return 0;
}

static void test_store_compaction(void **state)
{
    (void)state;
    mm_promql_store_t *st = mm_promql_store_new();
    char job[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(job, sizeof job, "j%d", i);
        add(st, i % 2 ? "odd" : "even", job, 1000, i);
        if (i % 3 == 0)
            add(st, i % 2 ? "odd" : "even", job, 5000, i);
    }
    assert_int_equal(mm_promql_store_series_count(st), 3000);
    /* References: j0 keeps samples, j1 does not. */
    mm_label_t l0[] = {{"__name__", "even"}, {"job", "j0"}};
    mm_label_t l1[] = {{"job", "j1"}, {"__name__", "odd"}};
    mm_promql_ref_t r0, r1, r;
    assert_int_equal(mm_promql_store_ref(st, l0, 2, &r0), 0);
    assert_int_equal(mm_promql_store_find(st, l1, 2, &r1), 0);
    assert_true(mm_promql_store_ref_valid(st, r0));
    assert_int_equal(mm_promql_store_append_ref(st, r0, 4000, 1), -ERANGE);
    assert_int_equal(mm_promql_store_append_ref(st, r0, 6000, 1), 0);
    size_t nl;
    const mm_label_t *lr = mm_promql_store_ref_labels(st, r1, &nl);
    assert_int_equal(nl, 2);
    assert_string_equal(lr[0].name, "__name__");
    assert_string_equal(lr[0].value, "odd");
    mm_label_t lx[] = {{"__name__", "even"}, {"job", "new"}};
    assert_int_equal(mm_promql_store_find(st, lx, 2, &r), -ENOENT);
    assert_false(mm_promql_store_ref_valid(st, (mm_promql_ref_t){0}));
    /* Two thirds of the series end up empty: they are compacted away. */
    mm_promql_store_trim(st, 2000);
    assert_false(mm_promql_store_ref_valid(st, r0));
    assert_int_equal(mm_promql_store_append_ref(st, r0, 7000, 1), -ESTALE);
    assert_null(mm_promql_store_ref_labels(st, r0, &nl));
    assert_int_equal(mm_promql_store_find(st, l1, 2, &r1), -ENOENT);
    assert_int_equal(mm_promql_store_find(st, l0, 2, &r), 0);
    assert_int_equal(mm_promql_store_append_ref(st, r, 7000, 1), 0);
    assert_int_equal(mm_promql_store_series_count(st), 1000);
    mm_match_t m;
    assert_int_equal(mm_match_init(&m, MM_MATCH_EQ, "__name__", "even", NULL, 0), 0);
    int n = 0;
    assert_int_equal(mm_promql_store_select(st, &m, 1, count_cb, &n), 0);
    assert_int_equal(n, 500);
    mm_match_fini(&m);
    assert_int_equal(mm_match_init(&m, MM_MATCH_RE, "job", "j(1|3)0+", NULL, 0), 0);
    n = 0;
    assert_int_equal(mm_promql_store_select(st, &m, 1, count_cb, &n), 0);
    assert_int_equal(n, 2);   /* j30 and j300: j10, j100, j1000 were trimmed */
    mm_match_fini(&m);
    /* Series come back after a trim. */
    add(st, "even", "j2", 6000, 1);
    assert_int_equal(mm_promql_store_series_count(st), 1001);
    mm_promql_store_clear(st);
    assert_int_equal(mm_promql_store_series_count(st), 0);
    mm_promql_store_free(st);
}

static mm_promql_result_t *eval(mm_promql_store_t *st, const char *q, int64_t t, int want_rc,
                                mm_promql_error_t *err)
{
    mm_promql_expr_t *e = NULL;
    mm_promql_result_t *r = NULL;
    if (mm_promql_parse(q, strlen(q), &e, err) < 0)
        fail_msg("parse '%s': %s", q, err->msg);
    int rc = mm_promql_eval(e, st, t, NULL, &r, err);
    if (rc != want_rc)
        fail_msg("eval '%s': rc %d (%s), want %d", q, rc, err->msg, want_rc);
    mm_promql_expr_free(e);
    return r;
}

static void test_eval(void **state)
{
    (void)state;
    mm_promql_store_t *st = mm_promql_store_new();
    mm_promql_error_t err;
    add(st, "m", "a", 0, 1);
    add(st, "m", "b", 0, 2);
    add(st, "m", "b", 60000, mm_stale_nan());
    add(st, "n", "a", 0, 10);
    /* Lookback: 5 minutes inclusive; stale markers end a series at once. */
    mm_promql_result_t *r = eval(st, "m", 300000, 0, &err);
    assert_int_equal(r->type, MM_PROMQL_VECTOR);
    assert_int_equal(r->n_samples, 1);
    assert_string_equal(r->samples[0].labels[1].value, "a");
    mm_promql_result_free(r);
    r = eval(st, "m", 300001, 0, &err);
    assert_int_equal(r->n_samples, 0);
    mm_promql_result_free(r);
    r = eval(st, "m", 30000, 0, &err);
    assert_int_equal(r->n_samples, 2);
    mm_promql_result_free(r);
    /* Right-associative power, unary minus binding looser than ^. */
    r = eval(st, "2 ^ 3 ^ 2", 0, 0, &err);
    assert_true(r->scalar == 512);
    mm_promql_result_free(r);
    r = eval(st, "-2 ^ 2", 0, 0, &err);
    assert_true(r->scalar == -4);
    mm_promql_result_free(r);
    /* Arithmetic drops the metric name; comparison keeps it. */
    r = eval(st, "m{job=\"a\"} + 1", 0, 0, &err);
    assert_int_equal(r->samples[0].n_labels, 1);
    mm_promql_result_free(r);
    r = eval(st, "m > 1", 0, 0, &err);
    assert_int_equal(r->n_samples, 1);
    assert_int_equal(r->samples[0].n_labels, 2);
    mm_promql_result_free(r);
    /* Vector matching errors. */
    r = eval(st, "n + on() m", 0, -EINVAL, &err);
    assert_non_null(strstr(err.msg, "many-to-many matching not allowed"));
    r = eval(st, "m + on() group_left n", 0, 0, &err);
    assert_int_equal(r->n_samples, 2);
    mm_promql_result_free(r);
    r = eval(st, "label_replace(m, \"x\", \"$1\", \"job\", \"(\")", 0, -EINVAL, &err);
    assert_non_null(strstr(err.msg, "invalid regular expression"));
    /* Strings and matrices come back as such. */
    r = eval(st, "\"hi\"", 0, 0, &err);
    assert_int_equal(r->type, MM_PROMQL_STRING);
    assert_string_equal(r->string, "hi");
    mm_promql_result_free(r);
    r = eval(st, "m[1m]", 60000, 0, &err);
    assert_int_equal(r->type, MM_PROMQL_MATRIX);
    assert_int_equal(r->n_series, 2);
    mm_promql_result_free(r);
    /* A sample limit turns into -MM_ELIMIT. */
    mm_promql_expr_t *e = NULL;
    assert_int_equal(mm_promql_parse("m", 1, &e, NULL), 0);
    mm_promql_opts_t o = {.max_samples = 1};
    assert_int_equal(mm_promql_eval(e, st, 0, &o, &r, &err), -MM_ELIMIT);
    mm_promql_expr_free(e);
    mm_promql_store_free(st);
}

static void test_format_value(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(mm_promql_format_value(1, buf, sizeof buf), "1");
    assert_string_equal(mm_promql_format_value(0.1, buf, sizeof buf), "0.1");
    assert_string_equal(mm_promql_format_value(1e21, buf, sizeof buf), "1e+21");
    assert_string_equal(mm_promql_format_value(-INFINITY, buf, sizeof buf), "-Inf");
    assert_string_equal(mm_promql_format_value(NAN, buf, sizeof buf), "NaN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_selectors_api),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_store_compaction),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_format_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
