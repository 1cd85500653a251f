/* Tests for the collector core: batching under the size limit and by age,
 * help sent once, stale series leaving the state, state chunks, and the
 * history.query command (answers, errors, repeats, deadlines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "history.h"
#include "mm_db.h"

#define T0 1699999200000LL

typedef struct {
    char topic[80];
    size_t packed;
    size_t n_series;
    size_t n_samples;
    size_t n_help;
    uint32_t index, total;
    int32_t status;
    char result[512];
    char error_code[64];
} msg_t;

static msg_t msgs[4096];
static size_t n_msgs;

static int on_publish(void *data, const char *topic, Mm__Envelope *env)
{
    (void)data;
    msg_t *m = &msgs[n_msgs++];
    memset(m, 0, sizeof *m);
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    m->packed = mm__envelope__get_packed_size(env);
    Mm__MetricBatch *b = NULL;
    if (env->payload_case == MM__ENVELOPE__PAYLOAD_METRICS) {
        b = env->metrics;
    } else if (env->payload_case == MM__ENVELOPE__PAYLOAD_STATE) {
        b = env->state->metrics;
        m->index = env->state->index;
        m->total = env->state->total;
    } else if (env->payload_case == MM__ENVELOPE__PAYLOAD_REPLY) {
        m->status = env->reply->status;
        snprintf(m->result, sizeof m->result, "%s", env->reply->result_json);
        snprintf(m->error_code, sizeof m->error_code, "%s", env->reply->error_code);
    }
    if (b) {
        m->n_series = b->n_series;
        for (size_t i = 0; i < b->n_series; i++) {
            m->n_samples += b->series[i]->n_values;
            assert_int_equal(b->series[i]->n_values, b->series[i]->n_times_ms);
            m->n_help += b->series[i]->help[0] != '\0';
        }
    }
    return 0;
}

static void emit(collector_t *c, const char *name, const char *lv, int64_t t, double v)
{
    mm_label_t l[2] = {{"instance", "a-rather-long-instance-label-value-for-size"}, {"k", lv}};
    collector_sample_t s = {.name = name, .labels = l, .n_labels = 2, .type = COLLECTOR_GAUGE,
                            .help = "A gauge with a help text", .time_ms = t, .value = v};
    collector_emit(collector_sink(c), &s);
}

static void test_batching(void **state)
{
    (void)state;
    n_msgs = 0;
    collector_opts_t o = {.publish = on_publish};
    collector_t *c = collector_new(&o);
    char lv[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(lv, sizeof lv, "v%d", i);
        emit(c, "some_metric_name", lv, T0, i);
    }
    /* Size-triggered batches are under 64 KiB, and nothing is lost. */
    size_t series = 0;
    for (size_t i = 0; i < n_msgs; i++) {
        assert_string_equal(msgs[i].topic, "metric.batch");
        assert_true(msgs[i].packed <= 64 * 1024);
        assert_true(msgs[i].packed > 48 * 1024);
        series += msgs[i].n_series;
    }
    assert_true(n_msgs >= 5);
    collector_tick(c, T0 + 10);     /* too young */
    size_t before = n_msgs;
    assert_int_equal(n_msgs, before);
    collector_tick(c, T0 + 50);     /* 50 ms old: goes */
    assert_int_equal(n_msgs, before + 1);
    series += msgs[n_msgs - 1].n_series;
    assert_int_equal(series, 5000);

    /* Second round: the help text is not repeated; two samples of one series
     * in one batch travel together. */
    n_msgs = 0;
    emit(c, "some_metric_name", "v1", T0 + 100, 1);
    emit(c, "some_metric_name", "v1", T0 + 120, 2);
    collector_flush(c, T0 + 130);
    assert_int_equal(n_msgs, 1);
    assert_int_equal(msgs[0].n_series, 1);
    assert_int_equal(msgs[0].n_samples, 2);
    assert_int_equal(msgs[0].n_help, 0);

    /* A stale marker is published, then the series is gone from the state. */
    n_msgs = 0;
    mm_label_t l[2] = {{"instance", "a-rather-long-instance-label-value-for-size"}, {"k", "v2"}};
    collector_sample_t st = {.fp = mm_labels_fingerprint("some_metric_name", l, 2), .time_ms = T0 + 200,
                             .value = mm_stale_nan()};
    collector_emit(collector_sink(c), &st);
    collector_flush(c, T0 + 200);
    assert_int_equal(msgs[0].n_series, 1);
    collector_stats_t cs;
    collector_stats(c, &cs);
    assert_int_equal(cs.series, 4999);

    /* State: chunks under 256 KiB, numbered, covering every live series with help. */
    n_msgs = 0;
    collector_publish_state(c, T0 + 300, 42);
    series = 0;
    for (size_t i = 0; i < n_msgs; i++) {
        assert_string_equal(msgs[i].topic, "state.collector");
        assert_true(msgs[i].packed <= 256 * 1024);
        assert_int_equal(msgs[i].index, i);
        assert_int_equal(msgs[i].total, n_msgs);
        assert_int_equal(msgs[i].n_help, msgs[i].n_series);
        series += msgs[i].n_series;
    }
    assert_int_equal(series, 4999);
    assert_true(n_msgs >= 2);
    collector_free(c);

    /* An empty collector still publishes one (empty) state chunk. */
    n_msgs = 0;
    c = collector_new(&o);
    collector_publish_state(c, T0, 1);
    assert_int_equal(n_msgs, 1);
    assert_int_equal(msgs[0].total, 1);
    collector_free(c);
}

static void test_commands(void **state)
{
    (void)state;
    char dir[64] = "/tmp/mm-coll-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/collector.db", dir);
    mm_db_t *db;
    assert_int_equal(mm_db_new(path, 0, &db), 0);
    history_opts_t ho = {.tiers = {{1000, 3600000}, {60000, 86400000}}, .n_tiers = 2};
    history_t *h;
    assert_int_equal(collector_history_new(db, &ho, &h), 0);
    collector_opts_t o = {.publish = on_publish, .history = h};
    collector_t *c = collector_new(&o);
    for (int i = 0; i < 10; i++)
        emit(c, "memmimic_cache_size_bytes", "x", T0 + i * 1000, 100 + i);
    collector_flush(c, T0 + 10000);

    n_msgs = 0;
    Mm__Command cmd = MM__COMMAND__INIT;
    cmd.id = "0123456789abcdef0123456789abcdef";
    cmd.requester = "host-gateway";
    cmd.deadline_ms = T0 + 15000;
    cmd.verb = "history.query";
    cmd.args_json = "{\"name\":\"memmimic_cache_size_bytes\",\"hours\":1,\"step_ms\":5000}";
    collector_command(c, &cmd, T0 + 11000);
    assert_int_equal(n_msgs, 1);
    assert_string_equal(msgs[0].topic, "reply.host-gateway");
    assert_int_equal(msgs[0].status, 200);
    assert_non_null(strstr(msgs[0].result, "\"points\":[["));
    assert_non_null(strstr(msgs[0].result, "memmimic_cache_size_bytes"));
    /* The same id again: the same answer, even though more data arrived. */
    emit(c, "memmimic_cache_size_bytes", "x", T0 + 11500, 999);
    collector_command(c, &cmd, T0 + 12000);
    assert_int_equal(n_msgs, 2);
    assert_string_equal(msgs[1].result, msgs[0].result);
    /* Past its deadline: no answer. */
    cmd.id = "ffffffffffffffffffffffffffffffff";
    collector_command(c, &cmd, T0 + 16000);
    assert_int_equal(n_msgs, 2);
    /* Bad arguments and unknown verbs. */
    cmd.deadline_ms = 0;
    cmd.args_json = "{\"name\":[]}";
    collector_command(c, &cmd, T0 + 16000);
    assert_int_equal(msgs[2].status, 400);
    assert_string_equal(msgs[2].error_code, "bad_request");
    cmd.id = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    cmd.verb = "metrics.delete";
    collector_command(c, &cmd, T0 + 16000);
    assert_int_equal(msgs[3].status, 404);
    assert_string_equal(msgs[3].error_code, "unknown_verb");
    /* No requester: nobody to answer. */
    cmd.requester = "";
    collector_command(c, &cmd, T0 + 16000);
    assert_int_equal(n_msgs, 4);

    collector_free(c);
    collector_history_free(h);
    mm_db_free(db);
    char cmdline[128];
    snprintf(cmdline, sizeof cmdline, "rm -rf %s", dir);
    assert_int_equal(system(cmdline), 0);
}

static void test_ingest(void **state)
{
    (void)state;
    n_msgs = 0;
    collector_opts_t o = {.publish = on_publish};
    collector_t *c = collector_new(&o);
    Mm__Label l1 = MM__LABEL__INIT, l0 = MM__LABEL__INIT;
    l1.name = "zone";
    l1.value = "b";
    l0.name = "app";
    l0.value = "a";
    Mm__Label *lp[2] = {&l1, &l0};     /* unsorted on purpose */
    int64_t ts[2] = {T0, T0 + 1000};
    double vs[2] = {1, 2};
    Mm__Series s1 = MM__SERIES__INIT, s2 = MM__SERIES__INIT;
    s1.name = "pushed_total";
    s1.type = MM__METRIC_TYPE__COUNTER;
    s1.n_labels = 2;
    s1.labels = lp;
    s1.n_times_ms = 2;
    s1.times_ms = ts;
    s1.n_values = 2;
    s1.values = vs;
    s2.name = "bad name";
    s2.n_values = 1;
    s2.values = vs;
    Mm__Series *sp[2] = {&s1, &s2};
    Mm__MetricBatch b = MM__METRIC_BATCH__INIT;
    b.n_series = 2;
    b.series = sp;
    collector_ingest(c, &b, T0 + 2000);
    collector_flush(c, T0 + 2000);
    assert_int_equal(n_msgs, 0);    /* not published again */
    collector_stats_t cs;
    collector_stats(c, &cs);
    assert_int_equal(cs.series, 1);
    collector_publish_state(c, T0 + 3000, 1);
    assert_int_equal(n_msgs, 1);
    assert_int_equal(msgs[0].n_series, 1);
    collector_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_ingest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
