/* Unit tests for the alert template engine: the API contract (ownership,
 * errors, offsets, limits, reuse), Go's semantics for the language, and
 * Prometheus's functions. Outputs were checked against promtool 2.42; the
 * e2e test re-checks thousands of them against promtool itself. */
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
#include "mm_tmpl.h"

static const mm_label_t labels[] = {
    {"__name__", "up"}, {"job", "api"}, {"instance", "web-1.example.com:9100"},
};
static const mm_label_t ext[] = {{"cluster", "prod"}};

static mm_tmpl_data_t data(double value)
{
    mm_tmpl_data_t d;
    memset(&d, 0, sizeof d);
    d.labels = labels;
    d.nlabels = 3;
    d.external_labels = ext;
    d.nexternal_labels = 1;
    d.external_url = "http://prom.example.com:9090/prom";
    d.value = value;
    return d;
}

/* Expands text as an alert annotation of alert "A"; returns a static copy. */
static const char *expand_d(const char *text, const mm_tmpl_data_t *d)
{
    static char out[8192];
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    int r = mm_tmpl_expand_alert("A", text, strlen(text), d, &b);
    assert_true(r == 0 || r == 1);
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    mm_tmpl_buf_fini(&b);
    return out;
}

static const char *expand(const char *text, double value)
{
    mm_tmpl_data_t d = data(value);
    return expand_d(text, &d);
}

#define EXPECT(text, value, want) assert_string_equal(expand(text, value), want)

static void test_variables_and_data(void **state)
{
    (void)state;
    EXPECT("{{ $value }}|{{ .Value }}", 1234.5678, "1234.5678|1234.5678");
    EXPECT("{{ $labels.job }}|{{ .Labels.instance }}|{{ $labels.nope }}|", 1,
           "api|web-1.example.com:9100||");
    EXPECT("{{ $labels }}", 1, "map[__name__:up instance:web-1.example.com:9100 job:api]");
    EXPECT("{{ $externalLabels.cluster }} {{ $externalURL }}", 1,
           "prod http://prom.example.com:9090/prom");
    EXPECT("{{ $x := 5 }}{{ $x }} {{ $x = \"s\" }}{{ $x }}", 1, "5 s");
    EXPECT("{{ . }}", 2,
           "{map[__name__:up instance:web-1.example.com:9100 job:api] map[cluster:prod] "
           "http://prom.example.com:9090/prom 2}");
}

static void test_float_printing(void **state)
{
    (void)state;
    EXPECT("{{ $value }}", 1234567, "1.234567e+06");
    EXPECT("{{ $value }}", 123456, "123456");
    EXPECT("{{ $value }}", 0.0001, "0.0001");
    EXPECT("{{ $value }}", 0.00001, "1e-05");
    EXPECT("{{ $value }}", 1e21, "1e+21");
    EXPECT("{{ $value }}", -0.0, "-0");
    EXPECT("{{ $value }}", NAN, "NaN");
    EXPECT("{{ $value }}", INFINITY, "+Inf");
    EXPECT("{{ $value }}", -INFINITY, "-Inf");
    EXPECT("{{ $value }}", 0.1, "0.1");
    EXPECT("{{ $value }}", 5e-324, "5e-324");
    EXPECT("{{ 1.0 }} {{ 30 }} {{ 0x1F }} {{ 'a' }} {{ 1_000 }}", 0, "1 30 31 97 1000");
}

static void test_control(void **state)
{
    (void)state;
    const char *t = "{{ if gt $value 100.0 }}big{{ else if gt $value 10.0 }}mid{{ else }}small{{ end }}";
    EXPECT(t, 500, "big");
    EXPECT(t, 50, "mid");
    EXPECT(t, 5, "small");
    EXPECT("{{ with $labels.job }}<{{ . }}>{{ else }}none{{ end }}", 1, "<api>");
    EXPECT("{{ with $labels.nope }}x{{ else }}none{{ end }}", 1, "none");
    EXPECT("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 1,
           "__name__=up;instance=web-1.example.com:9100;job=api;");
    EXPECT("{{ range $labels }}{{ if eq . \"up\" }}{{ continue }}{{ end }}[{{ . }}]{{ end }}", 1,
           "[web-1.example.com:9100][api]");
    EXPECT("{{ range $labels }}{{ break }}{{ end }}done", 1, "done");
    EXPECT("a  \n {{- $labels.job -}} \n  b", 1, "aapib");
    EXPECT("a{{/* comment */}}b {{- /* c */ -}} c", 1, "abc");
    EXPECT("{{ and 1 0 }}|{{ or 0 \"x\" }}|{{ not 0 }}", 1, "0|x|true");
    EXPECT("{{ define \"x\" }}X{{ . }}{{ end }}{{ template \"x\" 5 }}", 1, "X5");
}

static void test_functions(void **state)
{
    (void)state;
    EXPECT("{{ humanize 1234567 }}|{{ humanize 0.000012345 }}|{{ humanize 0 }}", 0,
           "1.235M|12.35u|0");
    EXPECT("{{ humanize1024 1048576 }}|{{ humanizePercentage 0.12345 }}", 0, "1Mi|12.35%");
    EXPECT("{{ humanizeDuration 90061.5 }}|{{ humanizeDuration 0.0005 }}|{{ humanizeDuration 0 }}",
           0, "1d 1h 1m 1s|500us|0s");
    EXPECT("{{ humanizeTimestamp 1679000000.1234 }}", 0, "2023-03-16 20:53:20.123 +0000 UTC");
    EXPECT("{{ $value | humanize }}", NAN, "NaN");
    EXPECT("{{ printf \"%.2f\" $value }}|{{ $value | printf \"%.0f\" }}", 2.345, "2.35|2");
    EXPECT("{{ printf \"%5.2f|%-4s|%05d|%x|%q|%v\" 3.14159 \"ab\" -42 255 \"a\\tb\" nil }}", 0,
           " 3.14|ab  |-0042|ff|\"a\\tb\"|<nil>");
    EXPECT("{{ printf \"%d %d\" 1 }}|{{ printf \"%d\" 1 2 }}|{{ printf \"%d\" 1.5 }}", 0,
           "1 %!d(MISSING)|1%!(EXTRA int=2)|%!d(float64=1.5)");
    EXPECT("{{ toUpper \"héllo\" }}|{{ toLower \"ÀB\" }}|{{ title \"foo-bar_baz qux\" }}", 0,
           "HÉLLO|àb|Foo-Bar_baz Qux");
    EXPECT("{{ reReplaceAll \"(a+)(b)?\" \"[$1${2}x$3]\" \"caaabxaa\" }}", 0, "c[aaabx]x[aax]");
    EXPECT("{{ reReplaceAll \"a*\" \"-\" \"baaac\" }}|{{ match \"^a.c$\" \"abc\" }}", 0,
           "-b-c-|true");
    EXPECT("{{ stripPort \"[::1]:90\" }}|{{ stripDomain \"foo.bar.com:90\" }}|{{ stripDomain "
           "\"10.0.0.1:9\" }}",
           0, "::1|foo:90|10.0.0.1:9");
    EXPECT("{{ graphLink \"up == 0\" }}", 0, "/graph?g0.expr=up+%3D%3D+0&g0.tab=0");
    EXPECT("{{ pathPrefix }}|{{ externalURL }}", 0, "/prom|http://prom.example.com:9090/prom");
    EXPECT("{{ js \"<a='x'>\" }}|{{ html \"<a&'\" }}|{{ urlquery \"a b/é\" }}", 0,
           "\\u003Ca\\u003D\\'x\\'\\u003E|&lt;a&amp;&#39;|a+b%2F%C3%A9");
    EXPECT("{{ parseDuration \"1h30m\" }}|{{ len $labels }}|{{ index $labels \"job\" }}", 0,
           "5400|3|api");
    EXPECT("{{ args 1 \"a\" }}|{{ (args 1).arg3 }}|{{ (toTime 1e9).Unix }}", 0,
           "map[arg0:1 arg1:a]|<no value>|1000000000");
}

static void test_exec_errors(void **state)
{
    (void)state;
    EXPECT("{{ if gt $value 1 }}x{{ end }}", 2,
           "<error expanding template: error executing template __alert_A: template: "
           "__alert_A:1:118: executing \"__alert_A\" at <gt $value 1>: error calling gt: "
           "incompatible types for comparison>");
    EXPECT("{{ humanize \"abc\" }}", 0,
           "<error expanding template: error executing template __alert_A: template: "
           "__alert_A:1:115: executing \"__alert_A\" at <humanize \"abc\">: error calling "
           "humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax>");
    EXPECT("line1\n{{ .Nope }}", 0,
           "<error expanding template: error executing template __alert_A: template: "
           "__alert_A:2:3: executing \"__alert_A\" at <.Nope>: can't evaluate field Nope in "
           "type struct { Labels map[string]string; ExternalLabels map[string]string; "
           "ExternalURL string; Value float64 }>");
    EXPECT("{{ reReplaceAll \"(\" \"x\" \"y\" }}", 0,
           "<error expanding template: error executing template __alert_A: template: "
           "__alert_A:1:115: executing \"__alert_A\" at <reReplaceAll \"(\" \"x\" \"y\">: error "
           "calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): "
           "`(`>");
}

static void test_parse_errors(void **state)
{
    (void)state;
    mm_tmpl_t *t = (mm_tmpl_t *)1;
    mm_tmpl_err_t err;
    const char *text = "ok\n{{ foo }}";
    assert_int_equal(mm_tmpl_parse_alert("A", text, strlen(text), &t, &err), -MM_EPARSE);
    assert_null(t);
    assert_int_equal(err.phase, MM_TMPL_ERR_PARSE);
    assert_string_equal(err.msg, "template: __alert_A:2: function \"foo\" not defined");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.offset, 6);
    assert_int_equal(err.col, 4);
    EXPECT("{{ if 1 }}x", 0,
           "<error expanding template: error parsing template __alert_A: template: "
           "__alert_A:1: unexpected EOF>");
    EXPECT("{{ $x }}", 0,
           "<error expanding template: error parsing template __alert_A: template: "
           "__alert_A:1: undefined variable \"$x\">");
    EXPECT("{{ end }}", 0,
           "<error expanding template: error parsing template __alert_A: template: "
           "__alert_A:1: unexpected {{end}}>");
    /* Plain parse: no prelude, so $labels is undefined. */
    assert_int_equal(mm_tmpl_parse("t", "{{ $labels }}", 13, &t, &err), -MM_EPARSE);
    assert_string_equal(err.msg, "template: t:1: undefined variable \"$labels\"");
    assert_int_equal(mm_tmpl_parse(NULL, "x", 1, &t, &err), -EINVAL);
}

static void test_nesting_limit(void **state)
{
    (void)state;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 500; i++)
        text[n++] = '(';
    text[n++] = '1';
    for (int i = 0; i < 500; i++)
        text[n++] = ')';
    char buf[4200];
    snprintf(buf, sizeof buf, "{{ %.*s }}", (int)n, text);
    mm_tmpl_t *t = NULL;
    mm_tmpl_err_t err;
    assert_int_equal(mm_tmpl_parse("deep", buf, strlen(buf), &t, &err), -MM_ELIMIT);
    assert_null(t);
    assert_non_null(strstr(err.msg, "max expression depth exceeded"));
}

static int on_query(void *user, const char *q, int64_t time_ms, mm_tmpl_result_t *res,
                    char *errbuf, size_t errcap)
{
    int *calls = user;
    (*calls)++;
    assert_int_equal(time_ms, 1700000000000);
    if (strcmp(q, "fail") == 0) {
        snprintf(errbuf, errcap, "parse error: boom");
        return -EINVAL;
    }
    int count = strcmp(q, "many") == 0 ? 50000 : 2;
    for (int i = 0; i < count; i++) {
        char v[16];
        snprintf(v, sizeof v, "n%d", count - i);
        mm_label_t l[] = {{"__name__", "m"}, {"node", v}};
        assert_int_equal(mm_tmpl_result_add(res, l, 2, i + 0.5), 0);
    }
    return 0;
}

static void test_query(void **state)
{
    (void)state;
    int calls = 0;
    mm_tmpl_data_t d = data(0);
    d.query = on_query;
    d.query_user = &calls;
    d.time_ms = 1700000000000;
    assert_string_equal(expand_d("{{ range query \"x\" }}{{ .Labels.node }}={{ .Value }} {{ end }}",
                                 &d),
                        "n2=0.5 n1=1.5 ");
    assert_string_equal(
        expand_d("{{ range $i, $s := sortByLabel \"node\" (query \"x\") }}{{ $i }}{{ label \"node\" $s }}{{ end }}",
                 &d),
        "0n11n2");
    assert_string_equal(expand_d("{{ query \"x\" | first | value | humanize }}", &d), "500m");
    assert_string_equal(expand_d("{{ query \"fail\" }}", &d),
                        "<error expanding template: error executing template __alert_A: "
                        "template: __alert_A:1:115: executing \"__alert_A\" at <query \"fail\">: "
                        "error calling query: parse error: boom>");
    assert_int_equal(calls, 4);
    d.query = NULL;
    assert_non_null(strstr(expand_d("{{ query \"x\" }}", &d), "error calling query"));
}

static void test_limits(void **state)
{
    (void)state;
    int calls = 0;
    mm_tmpl_data_t d = data(0);
    d.query = on_query;
    d.query_user = &calls;
    d.time_ms = 1700000000000;
    d.max_steps = 10000;
    mm_tmpl_t *t;
    mm_tmpl_err_t err;
    const char *loop = "{{ range query \"many\" }}{{ range query \"many\" }}x{{ end }}{{ end }}";
    assert_int_equal(mm_tmpl_parse_alert("A", loop, strlen(loop), &t, &err), 0);
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    assert_int_equal(mm_tmpl_exec(t, &d, &b, &err), -MM_ELIMIT);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(err.msg, "steps"));
    mm_tmpl_free(t);

    d.max_steps = 0;
    d.max_output = 100;
    const char *big = "{{ printf \"%200d\" 1 }}";
    assert_int_equal(mm_tmpl_parse("big", big, strlen(big), &t, &err), 0);
    assert_int_equal(mm_tmpl_exec(t, &d, &b, &err), -MM_ELIMIT);
    assert_non_null(strstr(err.msg, "output exceeds"));
    mm_tmpl_free(t);
    mm_tmpl_buf_fini(&b);
}

static void test_depth_and_memory(void **state)
{
    (void)state;
    /* Unbounded {{template}} recursion stops with an error, not a stack overflow. */
    assert_non_null(strstr(expand("{{ define \"r\" }}x{{ template \"r\" . }}{{ end }}{{ template \"r\" 1 }}", 0),
                           "exceeded maximum template depth"));
    /* Nested parentheses inside recursive templates too. */
    assert_non_null(strstr(expand("{{ define \"r\" }}{{ ((((((((((template_r_arg)))))))))) }}{{ end }}", 0),
                           "function \"template_r_arg\" not defined"));
    assert_non_null(strstr(expand("{{ define \"r\" }}{{ if (((((1))))) }}{{ template \"r\" . }}{{ end }}{{ end }}"
                                  "{{ template \"r\" 1 }}", 0),
                           "exceeded maximum template depth"));
    /* Scratch memory is capped. */
    mm_tmpl_data_t d = data(0);
    d.max_memory = 1 << 20;
    const char *t = "{{ range $i, $v := $labels }}{{ $x := printf \"%500000d\" 1 }}"
                    "{{ $y := printf \"%500000d\" 2 }}{{ end }}";
    mm_tmpl_t *tp;
    mm_tmpl_err_t err;
    assert_int_equal(mm_tmpl_parse_alert("A", t, strlen(t), &tp, &err), 0);
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    assert_int_equal(mm_tmpl_exec(tp, &d, &b, &err), -MM_ELIMIT);
    assert_non_null(strstr(err.msg, "memory limit"));
    mm_tmpl_free(tp);
    mm_tmpl_buf_fini(&b);
}

static void test_reuse_and_append(void **state)
{
    (void)state;
    mm_tmpl_t *t;
    mm_tmpl_err_t err;
    const char *text = "{{ $value | humanize }}";
    assert_int_equal(mm_tmpl_parse_alert("A", text, strlen(text), &t, &err), 0);
    assert_string_equal(mm_tmpl_name(t), "__alert_A");
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    for (int i = 0; i < 3; i++) {
        mm_tmpl_data_t d = data(1000.0 * (i + 1));
        assert_int_equal(mm_tmpl_exec(t, &d, &b, &err), 0);
    }
    assert_string_equal(b.data, "1k2k3k");
    /* A failed execution leaves what was there. */
    mm_tmpl_t *bad;
    assert_int_equal(mm_tmpl_parse_alert("A", "x{{ humanize \"q\" }}", 19, &bad, &err), 0);
    mm_tmpl_data_t d = data(0);
    assert_int_equal(mm_tmpl_exec(bad, &d, &b, &err), -EINVAL);
    assert_string_equal(b.data, "1k2k3k");
    assert_int_equal(err.phase, MM_TMPL_ERR_EXEC);
    assert_int_equal(err.offset, 4);
    assert_int_equal(mm_tmpl_format_error(mm_tmpl_name(bad), &err, &b), 0);
    assert_non_null(strstr(b.data, "1k2k3k<error expanding template: error executing template __alert_A: "));
    mm_tmpl_free(bad);
    mm_tmpl_free(t);
    mm_tmpl_free(NULL);
    mm_tmpl_buf_fini(&b);
    mm_tmpl_buf_fini(NULL);
}

static void test_garbage_never_crashes(void **state)
{
    (void)state;
    /* Pseudo-random byte soup built from template fragments. */
    static const char *frag[] = {"{{", "}}", " ", "$x", ":=", "=", "|", "(", ")", "\"a\"", "`b`",
                                 "if", "else", "end", "range", "with", "$labels", ".", ".Labels",
                                 "printf", "\"%v\"", "1", "1.5", "-", "/*", "*/", "query",
                                 "humanize", "index", "$value", "nil", "break", "define",
                                 "template", "\n", "'c'", "and", "eq", "len"};
    uint32_t seed = 12345;
    mm_tmpl_data_t d = data(3.5);
    for (int iter = 0; iter < 3000; iter++) {
        char text[512];
        size_t n = 0;
        int parts = 1 + (int)(seed % 24);
        for (int i = 0; i < parts; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *f = frag[(seed >> 8) % (sizeof frag / sizeof frag[0])];
            size_t fl = strlen(f);
            if (n + fl + 1 >= sizeof text)
                break;
            memcpy(text + n, f, fl);
            n += fl;
        }
        text[n] = 0;
        mm_tmpl_buf_t b;
        mm_tmpl_buf_init(&b);
        int r = mm_tmpl_expand_alert("G", text, n, &d, &b);
        assert_true(r == 0 || r == 1);
        mm_tmpl_buf_fini(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables_and_data),
        cmocka_unit_test(test_float_printing),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_depth_and_memory),
        cmocka_unit_test(test_reuse_and_append),
        cmocka_unit_test(test_garbage_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
