/* Tests for the chunked history: the chunk codec, chunking, downsampling
 * tiers, retention and queries, all in fake time, and that committed data
 * survives a reopen while uncommitted data is not claimed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"
#include "mm_clock.h"
#include "mm_db.h"

#define T0 1699999200000LL   /* a multiple of an hour */

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mm-hist-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/collector.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

typedef struct {
    int64_t t[512];
    double v[512];
    size_t n;
} collect_t;

static void on_sample(void *ctx, int64_t t, double v)
{
    collect_t *c = ctx;
    c->t[c->n] = t;
    c->v[c->n++] = v;
}

static void test_codec(void **state)
{
    (void)state;
    history_chunk_t c = {0};
    const double vals[] = {0, 1, 1, 2.5, -3e10, 1e-300, NAN, 42, 42, INFINITY};
    const int64_t ts[] = {T0, T0 + 1000, T0 + 2000, T0 + 2000, T0 + 5000, T0 + 5001, T0 + 9000, T0 + 10000,
                          T0 + 11000, T0 + 70000};
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(collector_history_chunk_add(&c, ts[i], vals[i]), 0);
    double stale = mm_stale_nan();
    assert_int_equal(collector_history_chunk_add(&c, T0 + 71000, stale), 0);
    collect_t out = {0};
    assert_int_equal(collector_history_chunk_decode(c.buf, c.len, c.n, c.t0, on_sample, &out), 0);
    assert_int_equal(out.n, 11);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(out.t[i], ts[i]);
        if (isnan(vals[i]))
            assert_true(isnan(out.v[i]));
        else
            assert_true(out.v[i] == vals[i]);
    }
    assert_true(mm_is_stale_nan(out.v[10]));
    /* Constant values cost 2 bytes a sample at a steady interval. */
    history_chunk_t k = {0};
    for (int i = 0; i < 60; i++)
        collector_history_chunk_add(&k, T0 + i * 1000, 7.0);
    assert_true(k.len <= 60 * 2 + 12);
    /* Corrupt or truncated data is refused, never overread. */
    assert_int_equal(collector_history_chunk_decode(c.buf, c.len - 1, c.n, c.t0, NULL, NULL), -EBADMSG);
    assert_int_equal(collector_history_chunk_decode(c.buf, c.len, c.n + 1, c.t0, NULL, NULL), -EBADMSG);
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(collector_history_chunk_decode(junk, sizeof junk, 1, 0, NULL, NULL), -EBADMSG);
    free(c.buf);
    free(k.buf);
}

static history_opts_t opts(void)
{
    history_opts_t o = {
        .tiers = {{1000, 3600000}, {60000, 86400000}, {3600000, 30LL * 86400000}},
        .n_tiers = 3,
        .chunk_ms = 60000,
        .commit_ms = 5000,
        .cleanup_ms = 60000,
    };
    return o;
}

static void append(history_t *h, const char *name, const char *job, int64_t t, double v)
{
    mm_label_t l[1] = {{"job", job}};
    collector_sample_t s = {.name = name, .labels = l, .n_labels = 1, .type = COLLECTOR_GAUGE,
                            .time_ms = t, .value = v};
    s.fp = mm_labels_fingerprint(name, l, 1);
    collector_history_append(h, &s);
}

static json_t *query(history_t *h, const char *args, int64_t now)
{
    char *out = NULL, err[128];
    int r = collector_history_query_json(h, args, now, &out, err, sizeof err);
    if (r < 0)
        fail_msg("query %s: %s", args, err);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

static long long count_rows(mm_db_t *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(mm_db_prepare(db, sql, &st), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

static void test_chunks_rollups_retention(void **state)
{
    (void)state;
    mm_db_t *db;
    assert_int_equal(mm_db_new(path, 0, &db), 0);
    history_opts_t o = opts();
    history_t *h;
    assert_int_equal(collector_history_new(db, &o, &h), 0);
    mm_clock_t clk;
    mm_clock_fake_init(&clk, T0);

    /* Three minutes at 1 s for two series of one name, one other name. */
    for (int i = 0; i < 180; i++) {
        int64_t now = mm_clock_now_ms(&clk);
        append(h, "cpu", "a", now, i);
        append(h, "cpu", "b", now, 2 * i);
        append(h, "mem", "a", now, 100);
        assert_int_equal(collector_history_tick(h, now), 0);
        mm_clock_fake_advance(&clk, 1000);
    }
    int64_t now = mm_clock_now_ms(&clk);   /* T0 + 180 s */
    assert_int_equal(collector_history_commit(h, now), 0);
    /* One row per series per minute: 3 series x 3 minutes. */
    assert_int_equal(count_rows(db, "SELECT count(*) FROM chunks"), 9);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM series"), 3);
    /* Tier 1 (1 min): the three finished minutes of each series. */
    assert_int_equal(count_rows(db, "SELECT count(*) FROM rollups WHERE tier = 1"), 9);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM rollups WHERE tier = 2"), 0);
    assert_int_equal(count_rows(db, "SELECT sum(count) FROM rollups WHERE tier = 1"), 540);

    /* A 60 s step reads the 1-minute tier: avg/min/max per minute. */
    char args[256];
    snprintf(args, sizeof args, "{\"name\":\"cpu\",\"match\":{\"job\":\"a\"},\"from_ms\":%lld,\"to_ms\":%lld,"
                                "\"step_ms\":60000}", (long long)T0, (long long)now);
    json_t *j = query(h, args, now);
    assert_int_equal(json_integer_value(json_object_get(j, "tier")), 1);
    json_t *series = json_object_get(j, "series");
    assert_int_equal(json_array_size(series), 1);
    json_t *pts = json_object_get(json_array_get(series, 0), "points");
    assert_int_equal(json_array_size(pts), 3);
    json_t *p0 = json_array_get(pts, 0);
    assert_int_equal(json_integer_value(json_array_get(p0, 0)), T0);
    assert_true(json_real_value(json_array_get(p0, 1)) == 29.5);
    assert_true(json_real_value(json_array_get(p0, 2)) == 0);
    assert_true(json_real_value(json_array_get(p0, 3)) == 59);
    assert_int_equal(json_integer_value(json_array_get(p0, 4)), 60);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(series, 0), "labels"), "job")), "a");
    json_decref(j);

    /* A 10 s step reads raw chunks. */
    snprintf(args, sizeof args, "{\"name\":\"cpu\",\"match\":{\"job\":\"a\"},\"from_ms\":%lld,\"to_ms\":%lld,"
                                "\"step_ms\":10000}", (long long)T0, (long long)now);
    j = query(h, args, now);
    assert_int_equal(json_integer_value(json_object_get(j, "tier")), 0);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    assert_int_equal(json_array_size(pts), 18);
    p0 = json_array_get(pts, 17);
    assert_int_equal(json_integer_value(json_array_get(p0, 0)), T0 + 170000);
    assert_true(json_real_value(json_array_get(p0, 1)) == 174.5);
    json_decref(j);

    /* Glob and no matcher: both cpu series and mem. */
    j = query(h, "{\"name\":\"*\",\"hours\":1}", now);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 3);
    json_decref(j);

    /* Two hours later tier 0 is gone; an hours=3 query reads tier 1. */
    mm_clock_fake_advance(&clk, 2 * 3600000);
    now = mm_clock_now_ms(&clk);
    append(h, "cpu", "a", now, 1000);
    assert_int_equal(collector_history_cleanup(h, now), 0);
    assert_int_equal(collector_history_commit(h, now), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM chunks"), 1);
    j = query(h, "{\"name\":\"cpu\",\"match\":{\"job\":\"b\"},\"hours\":3}", now);
    assert_int_equal(json_integer_value(json_object_get(j, "tier")), 1);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    assert_int_equal(json_array_size(pts), 3);
    p0 = json_array_get(pts, 2);
    assert_true(json_real_value(json_array_get(p0, 1)) == 2 * 149.5);
    assert_true(json_real_value(json_array_get(p0, 3)) == 358);
    json_decref(j);

    /* Past tier 1's retention (a day) only tier 2 is left: the hour rows
     * were written when each hour ended. */
    mm_clock_fake_advance(&clk, 25LL * 3600000);
    now = mm_clock_now_ms(&clk);
    assert_int_equal(collector_history_commit(h, now), 0);
    assert_int_equal(collector_history_cleanup(h, now), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM rollups WHERE tier = 1"), 0);
    assert_true(count_rows(db, "SELECT count(*) FROM rollups WHERE tier = 2") >= 3);
    j = query(h, "{\"name\":\"cpu\",\"match\":{\"job\":\"a\"},\"hours\":48}", now);
    assert_int_equal(json_integer_value(json_object_get(j, "tier")), 2);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    assert_int_equal(json_array_size(pts), 2);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 0), 4)), 180);
    json_decref(j);

    history_stats_t hs;
    collector_history_stats(h, &hs);
    assert_int_equal(hs.appended, 541);
    assert_true(hs.rows_deleted > 0);
    collector_history_free(h);
    mm_db_free(db);
}

static void test_durability_and_errors(void **state)
{
    (void)state;
    char p2[160];
    snprintf(p2, sizeof p2, "%s/dur.db", dir);
    mm_db_t *db;
    assert_int_equal(mm_db_new(p2, 0, &db), 0);
    history_opts_t o = opts();
    history_t *h;
    assert_int_equal(collector_history_new(db, &o, &h), 0);
    for (int i = 0; i < 30; i++)
        append(h, "x", "a", T0 + i * 1000, i);
    assert_int_equal(collector_history_commit(h, T0 + 30000), 0);   /* acknowledged */
    for (int i = 30; i < 40; i++)
        append(h, "x", "a", T0 + i * 1000, i);                  /* not acknowledged */
    /* Out of order: dropped and counted. */
    append(h, "x", "a", T0, 5);
    history_stats_t hs;
    collector_history_stats(h, &hs);
    assert_int_equal(hs.out_of_order, 1);
    /* "Crash": drop the process state without committing. */
    collector_history_free(h);
    mm_db_free(db);

    assert_int_equal(mm_db_new(p2, 0, &db), 0);
    assert_int_equal(collector_history_new(db, &o, &h), 0);
    json_t *j = query(h, "{\"name\":\"x\",\"hours\":1,\"step_ms\":1000}", T0 + 40000);
    json_t *pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    assert_int_equal(json_array_size(pts), 30);
    json_decref(j);
    /* The series comes back with the same id and appends a new chunk. */
    append(h, "x", "a", T0 + 41000, 41);
    j = query(h, "{\"name\":\"x\",\"hours\":1,\"step_ms\":1000}", T0 + 42000);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    assert_int_equal(json_array_size(pts), 31);
    json_decref(j);

    char *out = NULL, err[128];
    assert_int_equal(collector_history_query_json(h, "not json", T0, &out, err, sizeof err), -EINVAL);
    assert_int_equal(collector_history_query_json(h, "{\"name\":7,\"hours\":1}", T0, &out, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "name"));
    /* No name: the overview (memmimic_*, ...), which x is not part of. */
    append(h, "memmimic_cache_size_bytes", "a", T0 + 41500, 3);
    j = query(h, "{\"hours\":1}", T0 + 42000);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "step_ms")), 5000);
    json_decref(j);
    j = query(h, "{\"name\":[\"x\",\"memmimic_*\"],\"hours\":1}", T0 + 42000);
    assert_int_equal(json_array_size(json_object_get(j, "series")), 2);
    json_decref(j);
    assert_int_equal(collector_history_query_json(h, "{\"name\":\"x\",\"hours\":-1}", T0, &out, err, sizeof err), -EINVAL);
    assert_int_equal(collector_history_query_json(h, "{\"name\":\"x\",\"from_ms\":5,\"to_ms\":1}", T0, &out, err, sizeof err), -EINVAL);
    /* A huge range is capped in points, not refused. */
    assert_int_equal(collector_history_query_json(h, "{\"name\":\"x\",\"from_ms\":0,\"to_ms\":1700000000000,\"step_ms\":1}",
                                                  T0 + 42000, &out, err, sizeof err), 0);
    free(out);
    collector_history_free(h);
    mm_db_free(db);
}

static void test_jobs(void **state)
{
    (void)state;
    char p2[160];
    snprintf(p2, sizeof p2, "%s/jobs.db", dir);
    mm_db_t *db;
    assert_int_equal(mm_db_new(p2, 0, &db), 0);
    history_opts_t o = opts();
    history_t *h;
    assert_int_equal(collector_history_new(db, &o, &h), 0);
    for (int i = 0; i < 70; i++)
        append(h, "j", "a", T0 + i * 1000, i);
    /* Prepared, then the loop appends more before the job runs: the job
     * writes its snapshot, the rest stays for the next commit. */
    history_job_t *job = collector_history_job_prepare(h, T0 + 70000, false);
    assert_non_null(job);
    for (int i = 70; i < 75; i++)
        append(h, "j", "a", T0 + i * 1000, i);
    collector_history_job_run(h, job);
    assert_int_equal(collector_history_job_finish(h, job), 0);
    assert_int_equal(count_rows(db, "SELECT sum(n) FROM chunks"), 70);
    assert_int_equal(collector_history_commit(h, T0 + 76000), 0);
    assert_int_equal(count_rows(db, "SELECT sum(n) FROM chunks"), 75);

    /* A failing commit puts everything back and the next one writes it. */
    for (int i = 75; i < 130; i++)
        append(h, "j", "a", T0 + i * 1000, i);
    assert_int_equal(mm_db_exec(db, "ALTER TABLE rollups RENAME TO rollups_away"), 0);
    job = collector_history_job_prepare(h, T0 + 130000, false);
    collector_history_job_run(h, job);
    assert_true(collector_history_job_finish(h, job) < 0);
    history_stats_t hs;
    collector_history_stats(h, &hs);
    assert_int_equal(hs.commit_errors, 1);
    assert_int_equal(count_rows(db, "SELECT sum(n) FROM chunks"), 75);
    assert_int_equal(mm_db_exec(db, "ALTER TABLE rollups_away RENAME TO rollups"), 0);
    assert_int_equal(collector_history_commit(h, T0 + 131000), 0);
    assert_int_equal(count_rows(db, "SELECT sum(n) FROM chunks"), 130);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM rollups WHERE tier = 1"), 2);
    /* A job never run is discarded. */
    append(h, "j", "a", T0 + 132000, 1);
    job = collector_history_job_prepare(h, T0 + 133000, true);
    collector_history_job_discard(h, job);
    collector_history_free(h);
    mm_db_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_chunks_rollups_retention),
        cmocka_unit_test(test_durability_and_errors),
        cmocka_unit_test(test_jobs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
