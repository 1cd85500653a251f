/* Micro-benchmark of the PromQL engine: N series (metric m<k>{job,instance})
 * sampled every 15 s, R rule expressions of the common shapes, one
 * evaluation round timed (wall and CPU) after a warm-up; also the store's
 * append rate. Not a test: `meson test --benchmark promql_bench` or run it
 * with arguments: bench_promql [series] [samples_per_series] [rules]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_promql.h"

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n_series = argc > 1 ? atol(argv[1]) : 100000;
    long n_samples = argc > 2 ? atol(argv[2]) : 40;
    long n_rules = argc > 3 ? atol(argv[3]) : 1000;
    long per_metric = 100;
    long n_metrics = n_series / per_metric;
    mm_promql_store_t *st = mm_promql_store_new();
    double t0 = now(CLOCK_MONOTONIC);
    for (long k = 0; k < n_samples; k++)
        for (long m = 0; m < n_metrics; m++)
            for (long s = 0; s < per_metric; s++) {
                char name[32], job[16], inst[16];
                snprintf(name, sizeof name, "m%ld", m);
                snprintf(job, sizeof job, "j%ld", s / 10);
                snprintf(inst, sizeof inst, "i%ld", s % 10);
                mm_label_t l[3] = {{"__name__", name}, {"job", job}, {"instance", inst}};
                double v = (double)(k * (s + 1) % 97) + (double)m;
                if (mm_promql_store_append(st, l, 3, k * 15000, v) < 0)
                    return 1;
            }
    double t1 = now(CLOCK_MONOTONIC);
    printf("store: %ld series x %ld samples appended in %.2f s (%.0f samples/s)\n", n_series, n_samples,
           t1 - t0, (double)(n_series * n_samples) / (t1 - t0));
    static const char *shapes[] = {
        "m%ld > 50",
        "rate(m%ld[5m]) > 0.5",
        "sum by (job) (rate(m%ld[5m])) > 1",
        "avg_over_time(m%ld{job=\"j3\"}[5m]) < 10",
        "max by (instance) (m%ld) / on(instance) group_left sum by (instance) (m%ld) > 0.9",
        "absent(m%ld{job=\"nope\"})",
        "histogram_quantile(0.9, sum by (le) (rate(m%ld[5m]))) > 1",
        "increase(m%ld{instance=~\"i[1-3]\"}[5m]) > 100",
    };
    size_t n_shapes = sizeof shapes / sizeof shapes[0];
    mm_promql_expr_t **ex = calloc((size_t)n_rules, sizeof *ex);
    for (long r = 0; r < n_rules; r++) {
        char q[256];
        long m = r % n_metrics;
        snprintf(q, sizeof q, shapes[(size_t)r % n_shapes], m, m);
        mm_promql_error_t err;
        if (mm_promql_parse(q, strlen(q), &ex[r], &err) < 0) {
            fprintf(stderr, "parse %s: %s\n", q, err.msg);
            return 1;
        }
    }
    int64_t t = (n_samples - 1) * 15000;
    mm_promql_opts_t o = {0};
    size_t out = 0;
    for (int round = 0; round < 4; round++) {
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        out = 0;
        for (long r = 0; r < n_rules; r++) {
            mm_promql_result_t *res = NULL;
            mm_promql_error_t err;
            if (mm_promql_eval(ex[r], st, t, &o, &res, &err) == 0) {
                out += res->n_samples;
                mm_promql_result_free(res);
            }
        }
        double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (round > 0)
            printf("round %d: %ld rules over %ld series: %.1f ms wall, %.1f ms CPU, %zu output samples\n",
                   round, n_rules, n_series, (w1 - w0) * 1e3, (c1 - c0) * 1e3, out);
    }
    for (long r = 0; r < n_rules; r++)
        mm_promql_expr_free(ex[r]);
    free(ex);
    mm_promql_store_free(st);
    return 0;
}
