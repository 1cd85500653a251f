/* Tests for /api/ingest parsing (good bodies and every kind of bad one) and
 * the bearer-token check. */
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

#include "gateway_ingest.h"

static void test_good(void **state)
{
    (void)state;
    const char *body =
        "{\"samples\": [{\"name\": \"app_jobs_total\", \"type\": \"counter\", \"value\": 3,"
        " \"labels\": {\"queue\": \"b\", \"host\": \"x\"}, \"help\": \"Jobs.\"},"
        " {\"name\": \"app_temp\", \"value\": \"+Inf\", \"timestamp_ms\": 1234}]}";
    gateway_ingest_t *in;
    gateway_error_t err;
    assert_int_equal(gateway_ingest_parse(body, strlen(body), 999, &in, &err), 0);
    const Mm__MetricBatch *b = gateway_ingest_batch(in);
    assert_int_equal(b->n_series, 2);
    const Mm__Series *s = b->series[0];
    assert_string_equal(s->name, "app_jobs_total");
    assert_int_equal(s->type, MM__METRIC_TYPE__COUNTER);
    assert_int_equal(s->n_labels, 2);
    assert_string_equal(s->labels[0]->name, "host");     /* sorted */
    assert_string_equal(s->labels[1]->name, "queue");
    assert_true(s->values[0] == 3);
    assert_int_equal(s->times_ms[0], 999);
    assert_true(s->fingerprint != 0);
    s = b->series[1];
    assert_int_equal(s->type, MM__METRIC_TYPE__GAUGE);
    assert_true(isinf(s->values[0]));
    assert_int_equal(s->times_ms[0], 1234);
    gateway_ingest_free(in);

    const char *arr = "[{\"name\": \"x\", \"value\": 1.5}]";
    assert_int_equal(gateway_ingest_parse(arr, strlen(arr), 1, &in, &err), 0);
    gateway_ingest_free(in);
}

static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *code;
    } cases[] = {
        { "", "bad_json" },
        { "{\"samples\": [", "bad_json" },
        { "{\"samples\": [], \"x\": 1}", "bad_request" },
        { "{\"samples\": []}", "bad_request" },
        { "{\"samples\": 5}", "bad_request" },
        { "\"hello\"", "bad_json" },
        { "[5]", "invalid_sample" },
        { "[{\"value\": 1}]", "invalid_sample" },
        { "[{\"name\": \"1abc\", \"value\": 1}]", "invalid_sample" },
        { "[{\"name\": \"a-b\", \"value\": 1}]", "invalid_sample" },
        { "[{\"name\": \"a\"}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": \"12\"}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"type\": \"histogram\"}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": -1, \"type\": \"counter\"}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"labels\": {\"b-c\": \"x\"}}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"labels\": {\"__x\": \"x\"}}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"labels\": {\"b\": 5}}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"labels\": []}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"colour\": \"red\"}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"timestamp_ms\": \"now\"}]", "invalid_sample" },
        { "[{\"name\": \"memmon_x\", \"value\": 1}]", "invalid_sample" },
        { "[{\"name\": \"a\", \"value\": 1, \"name\": \"b\"}]", "bad_json" },   /* duplicate key */
        { "[{\"name\": \"a\", \"value\": 1, \"labels\": {\"b\": \"\\u0000\"}}]", "bad_json" },
        { "[{\"name\": \"a\xff\", \"value\": 1}]", "bad_json" },                 /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gateway_ingest_t *in = NULL;
        gateway_error_t err;
        int r = gateway_ingest_parse(cases[i].body, strlen(cases[i].body), 1, &in, &err);
        if (r != -EINVAL || strcmp(err.code, cases[i].code))
            fail_msg("case %zu (%s): r=%d code=%s msg=%s", i, cases[i].body, r,
                     r == -EINVAL ? err.code : "-", err.message);
        assert_int_equal(err.status, 400);
        assert_true(err.message[0] != '\0');
        assert_null(in);
    }
}

static void test_too_many(void **state)
{
    (void)state;
    size_t n = GATEWAY_INGEST_MAX_SAMPLES + 1;
    size_t cap = n * 24 + 16;
    char *body = malloc(cap);
    size_t len = 0;
    body[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len, "%s{\"name\":\"a\",\"value\":1}", i ? "," : "");
    body[len++] = ']';
    gateway_ingest_t *in;
    gateway_error_t err;
    assert_int_equal(gateway_ingest_parse(body, len, 1, &in, &err), -EINVAL);
    assert_string_equal(err.code, "too_many_samples");
    free(body);
}

static void test_auth(void **state)
{
    (void)state;
    const char *tok = "s3cret-token";
    assert_int_equal(gateway_auth_check("Bearer s3cret-token", 19, tok), 0);
    assert_int_equal(gateway_auth_check("bearer  s3cret-token ", 21, tok), 0);
    assert_int_equal(gateway_auth_check(NULL, 0, tok), -EACCES);
    assert_int_equal(gateway_auth_check("Basic abc", 9, tok), -EACCES);
    assert_int_equal(gateway_auth_check("Bearer ", 7, tok), -EACCES);
    assert_int_equal(gateway_auth_check("Bearer s3cret-toke", 18, tok), -EPERM);
    assert_int_equal(gateway_auth_check("Bearer s3cret-tokenX", 20, tok), -EPERM);
    assert_int_equal(gateway_auth_check("Bearer x", 8, NULL), -EPERM);
    assert_int_equal(gateway_auth_check("Bearer x", 8, ""), -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
