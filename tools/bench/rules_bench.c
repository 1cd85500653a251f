/* Rule-evaluation benchmark, memmon side (driven by tools/bench/rules-bench):
 * generates the series of rules_gen.py in memory (same formulas), loads a
 * rule file, and per round appends the next sample of every series (as a
 * live store gets them; timed apart) and evaluates every group at that
 * time, printing time, CPU and RSS per round, then the first round (which
 * creates the ALERTS series) and the later rounds apart; then the
 * threshold-rule latency (sample appended -> alert state changed through an
 * extra evaluation point), p50/p99/max. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mm_rules.h"

#define N_GAUGE 60
#define N_COUNTER 30

static const char *const les[] = {"0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "50",
                                  "+Inf"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0)
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Same as rules_gen.py's series_of / value_of. */
static void series_of(size_t i, char *name, size_t cap, mm_label_t *l, size_t *n, char *b1,
                      char *b2, char *kind)
{
    size_t fam = i / 1000, k = i % 1000;
    snprintf(b1, 16, "job%zu", k % 10);
    l[0] = (mm_label_t){"__name__", name};
    l[1] = (mm_label_t){"job", b1};
    l[2] = (mm_label_t){"instance", b2};
    *n = 3;
    if (fam < N_GAUGE) {
        snprintf(name, cap, "bench_gauge_%zu", fam);
        snprintf(b2, 16, "inst%zu", k / 10);
        *kind = 'g';
    } else if (fam < N_GAUGE + N_COUNTER) {
        snprintf(name, cap, "bench_counter_%zu_total", fam - N_GAUGE);
        snprintf(b2, 16, "inst%zu", k / 10);
        *kind = 'c';
    } else {
        snprintf(name, cap, "bench_hist_%zu_bucket", fam - N_GAUGE - N_COUNTER);
        snprintf(b2, 16, "inst%zu", k / 10 % 10);
        l[3] = (mm_label_t){"le", les[k / 100 % 10]};
        *n = 4;
        *kind = 'h';
    }
}

static double value_of(size_t i, char kind, long step)
{
    if (kind == 'g')
        return (double)((i * 7919 + (size_t)step * 31) % 1000) / 10.0;
    if (kind == 'c')
        return (double)((step % 200) * (long)(i % 13 + 1));
    long le = (long)(i % 1000 / 100);
    return (double)((step % 200) * (le + 1) * (long)(i % 7 + 1));
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *rules = NULL;
    size_t n_series = 100000;
    long minutes = 60, rounds = 5, start = 1700000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--series") == 0 && i + 1 < argc)
            n_series = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--minutes") == 0 && i + 1 < argc)
            minutes = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
            start = strtol(argv[++i], NULL, 10);
        else
            rules = argv[i];
    }
    if (!rules) {
        fprintf(stderr, "usage: rules_bench [--series N] [--minutes M] [--rounds R] "
                        "[--start UNIX] RULES.yml\n");
        return 2;
    }
    long steps = minutes * 4 + 1;
    mm_promql_store_t *s = mm_promql_store_new();
    int64_t *t = malloc((size_t)steps * sizeof *t);
    double *v = malloc((size_t)steps * sizeof *v);
    if (!s || !t || !v)
        return 1;
    double t0 = now_s();
    for (size_t i = 0; i < n_series; i++) {
        char name[64], b1[16], b2[16], kind;
        mm_label_t l[4];
        size_t nl;
        series_of(i, name, sizeof name, l, &nl, b1, b2, &kind);
        for (long k = 0; k < steps; k++) {
            t[k] = (start + k * 15) * 1000LL;
            v[k] = value_of(i, kind, k);
        }
        if (mm_promql_store_load(s, l, nl, t, v, (size_t)steps) < 0) {
            fprintf(stderr, "load failed\n");
            return 1;
        }
    }
    printf("loaded %zu series x %ld samples in %.1f s, RSS %ld MiB\n", n_series, steps,
           now_s() - t0, status_kb("VmRSS:") / 1024);
    mm_rules_opts_t o = {.default_interval_ms = 15000, .subquery_step_ms = 15000};
    mm_rules_t *rs = mm_rules_new(&o);
    mm_rules_diags_t d = {0};
    int nr = mm_rules_load_file(rs, rules, &d);
    if (nr < 0) {
        char line[1400];
        mm_diag_format(&d.items[0], line, sizeof line);
        fprintf(stderr, "%s\n", line);
        return 1;
    }
    mm_rules_diags_fini(&d);
    int64_t tend = (start + (steps - 1) * 15) * 1000LL;
    /* References to every series, for the per-round samples. */
    mm_promql_ref_t *refs = malloc(n_series * sizeof *refs);
    char *kinds = malloc(n_series);
    if (!refs || !kinds)
        return 1;
    for (size_t i = 0; i < n_series; i++) {
        char name[64], b1[16], b2[16];
        mm_label_t l[4];
        size_t nl;
        series_of(i, name, sizeof name, l, &nl, b1, b2, &kinds[i]);
        if (mm_promql_store_ref(s, l, nl, &refs[i]) < 0)
            return 1;
    }
    double cpu_min = 1e9, cpu_max = 0, cpu_sum = 0, w_min = 1e9, w_max = 0, w_sum = 0;
    double first_w = 0, first_c = 0, ingest_sum = 0;
    size_t alerts_last = 0;
    for (long r = 0; r < rounds; r++) {
        int64_t at = tend + (r + 1) * 15000;
        double i0 = now_s();
        for (size_t i = 0; i < n_series; i++)
            mm_promql_store_append_ref(s, refs[i], at, value_of(i, kinds[i], steps + r));
        ingest_sum += now_s() - i0;
        double c0 = cpu_s(), w0 = now_s();
        int failed = 0;
        size_t alerts = 0;
        for (size_t g = 0; g < mm_rules_group_count(rs); g++) {
            mm_rules_group_t *grp = mm_rules_group_at(rs, g);
            int f = mm_rules_group_eval(grp, s, at);
            failed += f > 0 ? f : 0;
            for (size_t k = 0; k < mm_rules_group_rule_count(grp); k++) {
                const mm_rules_alert_t *a;
                alerts += mm_rules_rule_alerts(mm_rules_group_rule_at(grp, k), &a);
            }
        }
        double w = now_s() - w0, c = cpu_s() - c0;
        alerts_last = alerts;
        if (r == 0) {
            first_w = w;
            first_c = c;
        } else {
            w_sum += w;
            cpu_sum += c;
            w_min = w < w_min ? w : w_min;
            w_max = w > w_max ? w : w_max;
            cpu_min = c < cpu_min ? c : cpu_min;
            cpu_max = c > cpu_max ? c : cpu_max;
        }
        printf("round %ld: %d rules, %.3f s wall, %.3f s CPU, %d failed, %zu alerts, "
               "RSS %ld MiB\n", r + 1, nr, w, c, failed, alerts, status_kb("VmRSS:") / 1024);
    }
    printf("ingest: %zu samples per round in %.1f ms (by series reference)\n", n_series,
           ingest_sum / (double)rounds * 1e3);
    printf("memmon: %d rules over %zu series: first round %.3f s wall, %.3f s CPU",
           nr, n_series, first_w, first_c);
    if (rounds > 1)
        printf("; rounds 2-%ld: wall %.3f-%.3f s (mean %.3f), CPU %.3f-%.3f s (mean %.3f)",
               rounds, w_min, w_max, w_sum / (double)(rounds - 1), cpu_min, cpu_max,
               cpu_sum / (double)(rounds - 1));
    printf("; %zu alerts; peak RSS %ld MiB\n", alerts_last, status_kb("VmHWM:") / 1024);
    fflush(stdout);
    free(refs);
    free(kinds);

    /* Threshold latency: one rule on one series, in the same store. */
    mm_rules_t *lr = mm_rules_new(&o);
    const char *lt = "groups:\n- name: latency\n  rules:\n"
                     "  - alert: Threshold\n    expr: bench_latency > 10\n";
    if (mm_rules_load_buf(lr, "latency.yml", lt, strlen(lt), NULL) < 0)
        return 1;
    mm_rules_group_t *lg = mm_rules_group_at(lr, 0);
    mm_rules_rule_t *rule = mm_rules_group_rule_at(lg, 0);
    mm_label_t ll[] = {{"__name__", "bench_latency"}, {"instance", "x"}};
    enum { N = 20000 };
    double *lat = malloc(N * sizeof *lat);
    size_t nl = 0;
    int64_t at = tend + 3600000;
    for (int k = 0; k < N; k++) {
        at += 1000;
        double w0 = now_s();
        mm_promql_store_append(s, ll, 2, at, 20);
        int ch = mm_rules_rule_reads(rule, ll, 2) ? mm_rules_rule_eval_extra(rule, s, at) : 0;
        double w = now_s() - w0;
        if (ch == 1)
            lat[nl++] = w;
        at += 500;
        mm_promql_store_append(s, ll, 2, at, 0);
        mm_rules_group_eval(lg, s, at);
    }
    qsort(lat, nl, sizeof *lat, cmp_d);
    if (nl)
        printf("threshold latency (sample -> alert firing), %zu changes: p50 %.1f us, p99 %.1f "
               "us, max %.1f us\n", nl, lat[nl / 2] * 1e6, lat[nl * 99 / 100] * 1e6,
               lat[nl - 1] * 1e6);
    free(lat);
    mm_rules_free(lr);
    mm_rules_free(rs);
    mm_promql_store_free(s);
    free(t);
    free(v);
    return 0;
}
