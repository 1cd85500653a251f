/* Tests for the health engine in fake time: first result, N-of-M flap
 * tolerance with asymmetric recovery, threshold hysteresis, weighted score
 * and penalties, dependencies ("blocked by"), restore and the report view. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "health.h"

typedef struct {
    health_config_t cfg;
    health_check_conf_t checks[8];
    char *deps[8][4];
    mm_clock_t clock;
    health_t *h;
    health_change_t changes[64];
    size_t n_changes;
} fixture_t;

static void on_change(health_t *h, const health_change_t *c, void *data)
{
    (void)h;
    fixture_t *f = data;
    if (f->n_changes < 64)
        f->changes[f->n_changes++] = *c;
}

static void add_check(fixture_t *f, const char *name, double weight, int fn, int fm, int rn,
                      int rm)
{
    health_check_conf_t *c = &f->checks[f->cfg.n_checks++];
    memset(c, 0, sizeof(*c));
    c->name = (char *)name;
    c->kind = HEALTH_KIND_COMMAND;
    c->weight = weight;
    c->interval_ms = 1000;
    c->timeout_ms = 500;
    c->fail_n = fn;
    c->fail_m = fm;
    c->recover_n = rn;
    c->recover_m = rm;
}

static void add_dep(fixture_t *f, size_t i, const char *dep)
{
    health_check_conf_t *c = &f->checks[i];
    f->deps[i][c->depends_on.n] = (char *)dep;
    c->depends_on.v = f->deps[i];
    c->depends_on.n++;
}

static void start(fixture_t *f)
{
    f->cfg.checks = f->checks;
    mm_clock_fake_init(&f->clock, 1700000000000LL);
    assert_int_equal(health_new(&f->cfg, &f->clock, &f->h), 0);
    health_set_on_change(f->h, on_change, f);
}

static int setup(void **state)
{
    static fixture_t f;
    memset(&f, 0, sizeof(f));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    health_free(f->h);
    f->h = NULL;
    return 0;
}

/* Records a raw level for check i one second later; returns the smoothed level. */
static health_level_t feed(fixture_t *f, size_t i, health_level_t raw)
{
    mm_clock_fake_advance(&f->clock, 1000);
    health_result_t r;
    health_result_init(&r);
    if (raw != HEALTH_HEALTHY)
        health_result_raise(&r, raw, "raw %s", health_level_name(raw));
    r.time_ms = mm_clock_now_ms(&f->clock);
    r.duration_s = 0.01;
    assert_true(health_record(f->h, i, &r) >= 0);
    health_state_t st;
    assert_int_equal(health_state(f->h, i, &st), 0);
    return st.level;
}

static void test_first_result_and_default_debounce(void **state)
{
    fixture_t *f = *state;
    add_check(f, "db", 1, 0, 0, 0, 0);
    start(f);
    assert_int_equal(health_overall(f->h), HEALTH_HEALTHY);
    assert_true(health_score(f->h) == 1.0);
    /* Without flap tolerance every result counts at once. */
    assert_int_equal(feed(f, 0, HEALTH_CRITICAL), HEALTH_CRITICAL);
    assert_int_equal(f->n_changes, 1);
    assert_int_equal(f->changes[0].from, HEALTH_HEALTHY);
    assert_int_equal(f->changes[0].to, HEALTH_CRITICAL);
    assert_string_equal(f->changes[0].message, "raw critical");
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(f->n_changes, 2);
    assert_int_equal(health_overall(f->h), HEALTH_HEALTHY);
}

static void test_n_of_m(void **state)
{
    fixture_t *f = *state;
    /* Worsen on 2 of 3, recover on 3 of 3. */
    add_check(f, "api", 1, 2, 3, 3, 3);
    start(f);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_CRITICAL), HEALTH_HEALTHY);   /* 1 of 3 */
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_CRITICAL), HEALTH_HEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_DEGRADED), HEALTH_DEGRADED); /* 2 of 3 >= degraded */
    assert_int_equal(feed(f, 0, HEALTH_CRITICAL), HEALTH_CRITICAL); /* 2 of 3 critical */
    assert_int_equal(f->n_changes, 2);
    /* Hysteresis in counts: two good results are not enough to recover. */
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_CRITICAL);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_CRITICAL);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(f->n_changes, 3);
    assert_int_equal(f->changes[2].from, HEALTH_CRITICAL);
    assert_int_equal(f->changes[2].to, HEALTH_HEALTHY);
}

static void test_flapping_suppressed(void **state)
{
    fixture_t *f = *state;
    /* Monit's "3 times within 5 cycles": 1-0-1-0 flapping never reaches 3 of 5
     * until the third bad result; recovery needs 5 good of 5. */
    add_check(f, "flap", 1, 3, 5, 5, 5);
    start(f);
    health_level_t seq[] = { HEALTH_HEALTHY, HEALTH_UNHEALTHY, HEALTH_HEALTHY,
                             HEALTH_UNHEALTHY, HEALTH_HEALTHY };
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(feed(f, 0, seq[k]), HEALTH_HEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_UNHEALTHY), HEALTH_UNHEALTHY); /* 3 of the last 5 */
    for (int k = 0; k < 4; k++)
        assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_UNHEALTHY);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
}

static void test_partial_recovery(void **state)
{
    fixture_t *f = *state;
    add_check(f, "x", 1, 1, 1, 2, 2);
    start(f);
    assert_int_equal(feed(f, 0, HEALTH_CRITICAL), HEALTH_CRITICAL);
    assert_int_equal(feed(f, 0, HEALTH_DEGRADED), HEALTH_CRITICAL);
    /* Two results at or below degraded: recover to degraded, not healthy. */
    assert_int_equal(feed(f, 0, HEALTH_DEGRADED), HEALTH_DEGRADED);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_DEGRADED);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
}

static void test_thresholds(void **state)
{
    (void)state;
    health_thresholds_t t;
    health_thresholds_init(&t);
    t.at[HEALTH_DEGRADED] = 70;
    t.at[HEALTH_UNHEALTHY] = 80;
    t.at[HEALTH_CRITICAL] = 90;
    assert_int_equal(health_thresholds_eval(&t, 70, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(health_thresholds_eval(&t, 70.5, HEALTH_HEALTHY), HEALTH_DEGRADED);
    assert_int_equal(health_thresholds_eval(&t, 85, HEALTH_HEALTHY), HEALTH_UNHEALTHY);
    assert_int_equal(health_thresholds_eval(&t, 95, HEALTH_HEALTHY), HEALTH_CRITICAL);
    assert_int_equal(health_thresholds_eval(&t, NAN, HEALTH_HEALTHY), HEALTH_HEALTHY);
    /* With a margin of 5, an unhealthy value must fall below 75 to leave. */
    t.hysteresis = 5;
    assert_int_equal(health_thresholds_eval(&t, 78, HEALTH_UNHEALTHY), HEALTH_UNHEALTHY);
    assert_int_equal(health_thresholds_eval(&t, 78, HEALTH_HEALTHY), HEALTH_DEGRADED);
    assert_int_equal(health_thresholds_eval(&t, 74, HEALTH_UNHEALTHY), HEALTH_DEGRADED);
    assert_int_equal(health_thresholds_eval(&t, 64, HEALTH_UNHEALTHY), HEALTH_HEALTHY);
    /* Lower is worse (a hit ratio). */
    health_thresholds_init(&t);
    t.lower_is_worse = true;
    t.at[HEALTH_DEGRADED] = 0.8;
    t.at[HEALTH_CRITICAL] = 0.3;
    assert_int_equal(health_thresholds_eval(&t, 0.9, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(health_thresholds_eval(&t, 0.5, HEALTH_HEALTHY), HEALTH_DEGRADED);
    assert_int_equal(health_thresholds_eval(&t, 0.1, HEALTH_HEALTHY), HEALTH_CRITICAL);
}

static void test_weighted_score(void **state)
{
    fixture_t *f = *state;
    add_check(f, "database", 3, 1, 1, 1, 1);
    add_check(f, "cache", 1, 1, 1, 1, 1);
    add_check(f, "system", 1, 1, 1, 1, 1);
    add_check(f, "never_run", 5, 1, 1, 1, 1);
    start(f);
    feed(f, 0, HEALTH_HEALTHY);
    feed(f, 1, HEALTH_DEGRADED);
    feed(f, 2, HEALTH_UNHEALTHY);
    /* (3*1 + 1*0.5 + 1*0.2) / 5; the check with no result is left out. */
    assert_true(fabs(health_score(f->h) - 3.7 / 5) < 1e-9);
    assert_int_equal(health_overall(f->h), HEALTH_UNHEALTHY);
    health_state_t st;
    health_state(f->h, 1, &st);
    assert_true(fabs(st.penalty - 0.5 / 5) < 1e-9);
    health_state(f->h, 2, &st);
    assert_true(fabs(st.penalty - 0.8 / 5) < 1e-9);
    health_state(f->h, 0, &st);
    assert_true(st.penalty == 0);
    /* Penalties add up to what the score lacks. */
    double sum = 0;
    for (size_t i = 0; i < 4; i++) {
        health_state(f->h, i, &st);
        sum += st.penalty;
    }
    assert_true(fabs(1 - health_score(f->h) - sum) < 1e-9);
    feed(f, 0, HEALTH_CRITICAL);
    assert_true(fabs(health_score(f->h) - 0.7 / 5) < 1e-9);
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);
}

static void test_dependencies(void **state)
{
    fixture_t *f = *state;
    add_check(f, "database", 2, 1, 1, 1, 1);
    add_check(f, "memory_system", 1, 1, 1, 1, 1);
    add_check(f, "api", 1, 1, 1, 1, 1);
    add_check(f, "system", 1, 1, 1, 1, 1);
    add_dep(f, 1, "database");
    add_dep(f, 2, "memory_system");
    start(f);
    feed(f, 0, HEALTH_HEALTHY);
    feed(f, 1, HEALTH_HEALTHY);
    feed(f, 2, HEALTH_HEALTHY);
    feed(f, 3, HEALTH_HEALTHY);
    /* The database fails and takes memory_system and api with it: they are
     * blocked by the root cause and left out of the score. */
    feed(f, 0, HEALTH_CRITICAL);
    feed(f, 1, HEALTH_CRITICAL);
    feed(f, 2, HEALTH_UNHEALTHY);
    health_state_t st;
    health_state(f->h, 1, &st);
    assert_non_null(st.blocked_by);
    assert_string_equal(st.blocked_by, "database");
    assert_true(st.penalty == 0);
    health_state(f->h, 2, &st);
    assert_non_null(st.blocked_by);
    assert_string_equal(st.blocked_by, "database");
    health_state(f->h, 0, &st);
    assert_null(st.blocked_by);
    /* Only database (w 2, critical) and system (w 1, healthy) count. */
    assert_true(fabs(health_score(f->h) - 1.0 / 3) < 1e-9);
    assert_true(fabs(st.penalty - 2.0 / 3) < 1e-9);
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);

    /* A dependency that is merely degraded blocks nothing. */
    feed(f, 0, HEALTH_DEGRADED);
    health_state(f->h, 1, &st);
    assert_null(st.blocked_by);
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);

    /* Recovery of the root unblocks; a healthy dependent is never blocked. */
    feed(f, 0, HEALTH_CRITICAL);
    feed(f, 1, HEALTH_HEALTHY);
    health_state(f->h, 1, &st);
    assert_null(st.blocked_by);
    health_state(f->h, 2, &st);
    assert_null(st.blocked_by);     /* memory_system is healthy now */
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);
}

static void test_dependency_cycle_terminates(void **state)
{
    fixture_t *f = *state;
    add_check(f, "a", 1, 1, 1, 1, 1);
    add_check(f, "b", 1, 1, 1, 1, 1);
    add_dep(f, 0, "b");
    add_dep(f, 1, "a");
    start(f);
    feed(f, 0, HEALTH_CRITICAL);
    feed(f, 1, HEALTH_CRITICAL);
    health_state_t a, b;
    health_state(f->h, 0, &a);
    health_state(f->h, 1, &b);
    /* Not both can be blocked: something must count as the root cause. */
    assert_true(a.blocked_by == NULL || b.blocked_by == NULL);
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);
}

static void test_restore_and_window(void **state)
{
    fixture_t *f = *state;
    add_check(f, "db", 1, 2, 3, 3, 3);
    start(f);
    uint8_t win[] = { 0, 3, 3 };
    assert_int_equal(health_restore(f->h, "db", HEALTH_CRITICAL, 1234, win, 3), 0);
    assert_int_equal(health_restore(f->h, "nope", HEALTH_CRITICAL, 1234, win, 3), -ENOENT);
    health_state_t st;
    health_state(f->h, 0, &st);
    assert_int_equal(st.level, HEALTH_CRITICAL);
    assert_int_equal(st.since_ms, 1234);
    assert_int_equal(health_overall(f->h), HEALTH_CRITICAL);
    /* The restored window still counts: two good results do not recover. */
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_CRITICAL);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_CRITICAL);
    uint8_t out[8];
    size_t n = health_window(f->h, 0, out, 8);
    assert_int_equal(n, 5);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[4], 0);
    assert_int_equal(feed(f, 0, HEALTH_HEALTHY), HEALTH_HEALTHY);
    assert_int_equal(f->n_changes, 1);
}

static void test_report(void **state)
{
    fixture_t *f = *state;
    add_check(f, "database", 2, 1, 1, 1, 1);
    add_check(f, "memory_system", 1, 1, 1, 1, 1);
    add_dep(f, 1, "database");
    start(f);
    health_result_t r;
    health_result_init(&r);
    health_result_raise(&r, HEALTH_CRITICAL, "database: unable to open database file");
    health_result_detail(&r, "latency_ms", "%.1f", 2.5);
    r.time_ms = 1000;
    health_record(f->h, 0, &r);
    feed(f, 1, HEALTH_CRITICAL);

    health_report_t rep;
    health_report_init(&rep);
    assert_int_equal(health_report_fill(f->h, &rep, NULL, 10), 0);
    assert_int_equal(rep.report.overall, MM__HEALTH_LEVEL__CRITICAL);
    assert_int_equal(rep.report.n_checks, 2);
    Mm__CheckResult *db = rep.report.checks[0], *ms = rep.report.checks[1];
    assert_string_equal(db->name, "database");
    assert_string_equal(db->kind, "command");
    assert_int_equal(db->n_details, 1);
    assert_string_equal(db->details[0]->name, "latency_ms");
    assert_string_equal(db->details[0]->value, "2.5");
    assert_true(db->score_penalty == 1.0);
    assert_string_equal(ms->blocked_by, "database");
    assert_int_equal(ms->n_depends_on, 1);
    assert_true(ms->weight == 1.0);
    assert_int_equal(rep.report.n_changes, 2);
    assert_string_equal(rep.report.changes[0]->check, "database");
    assert_string_equal(rep.report.changes[1]->check, "memory_system");

    /* Packs and unpacks as a real message. */
    size_t len = mm__health_report__get_packed_size(&rep.report);
    uint8_t buf[4096];
    assert_true(len < sizeof(buf));
    mm__health_report__pack(&rep.report, buf);
    Mm__HealthReport *back = mm__health_report__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_int_equal(back->n_checks, 2);
    mm__health_report__free_unpacked(back, NULL);

    bool only[2] = { false, true };
    assert_int_equal(health_report_fill(f->h, &rep, only, 1), 0);
    assert_int_equal(rep.report.n_checks, 1);
    assert_string_equal(rep.report.checks[0]->name, "memory_system");
    assert_int_equal(rep.report.n_changes, 1);
    health_report_fini(&rep);
}

static void test_reload_keeps_state(void **state)
{
    fixture_t *f = *state;
    add_check(f, "a", 1, 1, 1, 1, 1);
    add_check(f, "b", 1, 1, 1, 1, 1);
    start(f);
    feed(f, 1, HEALTH_CRITICAL);
    /* New config: b moves to index 0, a is gone, c is new. */
    static health_check_conf_t nc[2];
    nc[0] = f->checks[1];
    nc[1] = f->checks[0];
    nc[1].name = "c";
    health_config_t cfg2 = { .checks = nc, .n_checks = 2 };
    assert_int_equal(health_set_config(f->h, &cfg2), 0);
    health_state_t st;
    health_state(f->h, 0, &st);
    assert_int_equal(st.level, HEALTH_CRITICAL);
    health_state(f->h, 1, &st);
    assert_false(st.has_result);
    assert_int_equal(health_index(f->h, "a"), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_result_and_default_debounce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_n_of_m, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_recovery, setup, teardown),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test_setup_teardown(test_weighted_score, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dependency_cycle_terminates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_and_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
