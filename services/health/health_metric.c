/* Series kept for metric checks and their evaluation (see health_metric.h).
 * A handful of series is expected, so lookups are linear; each series keeps a
 * bounded ring of samples. */
#include "health_metric.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_labels.h"

#define RING 1024

typedef struct {
    char *name;
    char **lnames, **lvalues;
    size_t n_labels;
    uint64_t fp;
    int64_t t[RING];
    double v[RING];
    size_t len, pos;
} series_t;

typedef struct {
    char *name;
    int64_t keep_ms;
} watch_t;

struct health_metric_store {
    series_t **series;
    size_t n_series;
    watch_t *watch;
    size_t n_watch;
};

int health_metric_store_new(health_metric_store_t **ret)
{
    *ret = calloc(1, sizeof(**ret));
    return *ret ? 0 : -ENOMEM;
}

static void series_free(series_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->lnames[i]);
        free(s->lvalues[i]);
    }
    free(s->lnames);
    free(s->lvalues);
    free(s->name);
    free(s);
}

static void watch_clear(health_metric_store_t *s)
{
    for (size_t i = 0; i < s->n_watch; i++)
        free(s->watch[i].name);
    free(s->watch);
    s->watch = NULL;
    s->n_watch = 0;
}

void health_metric_store_free(health_metric_store_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_series; i++)
        series_free(s->series[i]);
    free(s->series);
    watch_clear(s);
    free(s);
}

static watch_t *watch_find(const health_metric_store_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_watch; i++)
        if (strcmp(s->watch[i].name, name) == 0)
            return &s->watch[i];
    return NULL;
}

static int watch_add(health_metric_store_t *s, const char *name, int64_t keep_ms)
{
    watch_t *w = watch_find(s, name);
    if (w) {
        if (keep_ms > w->keep_ms)
            w->keep_ms = keep_ms;
        return 0;
    }
    watch_t *nw = realloc(s->watch, (s->n_watch + 1) * sizeof(*nw));
    if (!nw)
        return -ENOMEM;
    s->watch = nw;
    if (!(nw[s->n_watch].name = strdup(name)))
        return -ENOMEM;
    nw[s->n_watch++].keep_ms = keep_ms;
    return 0;
}

int health_metric_store_watch(health_metric_store_t *s, const health_config_t *cfg)
{
    watch_clear(s);
    for (size_t i = 0; cfg && i < cfg->n_checks; i++) {
        const health_check_conf_t *c = &cfg->checks[i];
        if (c->kind != HEALTH_KIND_METRIC)
            continue;
        /* Keep one interval more than the window, so "rate" has a sample
         * just before the window's start. */
        int64_t keep = c->window_ms + c->interval_ms + 1000;
        for (size_t k = 0; k < c->series.n; k++)
            if (watch_add(s, c->series.v[k].name, keep) < 0)
                return -ENOMEM;
        for (size_t k = 0; k < c->divide_by.n; k++)
            if (watch_add(s, c->divide_by.v[k].name, keep) < 0)
                return -ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < s->n_series; i++) {
        if (watch_find(s, s->series[i]->name))
            s->series[o++] = s->series[i];
        else
            series_free(s->series[i]);
    }
    s->n_series = o;
    return 0;
}

size_t health_metric_store_series(const health_metric_store_t *s) { return s->n_series; }

static series_t *series_get(health_metric_store_t *s, const Mm__Series *in)
{
    uint64_t fp = in->fingerprint;
    if (fp == 0) {
        mm_label_t lab[32];
        size_t n = in->n_labels < 32 ? in->n_labels : 32;
        for (size_t i = 0; i < n; i++) {
            lab[i].name = in->labels[i]->name;
            lab[i].value = in->labels[i]->value;
        }
        mm_labels_sort(lab, n);
        fp = mm_labels_fingerprint(in->name, lab, n);
    }
    for (size_t i = 0; i < s->n_series; i++)
        if (s->series[i]->fp == fp && strcmp(s->series[i]->name, in->name) == 0)
            return s->series[i];
    series_t *ns = calloc(1, sizeof(*ns));
    series_t **arr = realloc(s->series, (s->n_series + 1) * sizeof(*arr));
    if (!ns || !arr) {
        free(ns);
        if (arr)
            s->series = arr;
        return NULL;
    }
    s->series = arr;
    ns->fp = fp;
    ns->name = strdup(in->name);
    ns->lnames = calloc(in->n_labels + 1, sizeof(char *));
    ns->lvalues = calloc(in->n_labels + 1, sizeof(char *));
    if (!ns->name || !ns->lnames || !ns->lvalues) {
        series_free(ns);
        return NULL;
    }
    for (size_t i = 0; i < in->n_labels; i++) {
        ns->lnames[i] = strdup(in->labels[i]->name ? in->labels[i]->name : "");
        ns->lvalues[i] = strdup(in->labels[i]->value ? in->labels[i]->value : "");
        ns->n_labels++;
        if (!ns->lnames[i] || !ns->lvalues[i]) {
            series_free(ns);
            return NULL;
        }
    }
    s->series[s->n_series++] = ns;
    return ns;
}

void health_metric_store_feed(health_metric_store_t *s, const Mm__MetricBatch *b)
{
    for (size_t i = 0; b && i < b->n_series; i++) {
        const Mm__Series *in = b->series[i];
        if (!in->name || !watch_find(s, in->name))
            continue;
        series_t *se = series_get(s, in);
        if (!se)
            continue;
        size_t n = in->n_times_ms < in->n_values ? in->n_times_ms : in->n_values;
        for (size_t k = 0; k < n; k++) {
            if (mm_is_stale_nan(in->values[k])) {
                se->len = se->pos = 0;
                continue;
            }
            se->t[se->pos] = in->times_ms[k];
            se->v[se->pos] = in->values[k];
            se->pos = (se->pos + 1) % RING;
            if (se->len < RING)
                se->len++;
        }
    }
}

static bool matches(const series_t *se, const health_selector_t *sel)
{
    if (strcmp(se->name, sel->name) != 0)
        return false;
    for (size_t i = 0; i < sel->n_labels; i++) {
        bool ok = false;
        for (size_t k = 0; k < se->n_labels && !ok; k++)
            ok = strcmp(se->lnames[k], sel->label_names[i]) == 0 &&
                 strcmp(se->lvalues[k], sel->label_values[i]) == 0;
        /* An empty value matches a missing label, as in PromQL. */
        if (!ok && sel->label_values[i][0] != '\0')
            return false;
    }
    return true;
}

/* fn over one series' samples in (from, to]; false when there is none. */
static bool series_value(const series_t *se, health_metric_fn_t fn, int64_t from, int64_t to,
                         double *ret)
{
    size_t cnt = 0;
    double sum = 0, mx = -INFINITY, last = NAN, first = NAN, inc = 0, prev = NAN;
    int64_t t_first = 0, t_last = 0;
    for (size_t k = 0; k < se->len; k++) {
        size_t idx = (se->pos + RING - se->len + k) % RING;
        int64_t t = se->t[idx];
        double v = se->v[idx];
        /* For rate, the sample just before the window is its starting point. */
        if (t <= from) {
            if (fn == HEALTH_FN_RATE) {
                first = prev = v;
                t_first = t;
            }
            continue;
        }
        if (t > to)
            continue;
        if (isnan(first)) {
            first = prev = v;
            t_first = t;
        } else if (fn == HEALTH_FN_RATE) {
            inc += v >= prev ? v - prev : v;    /* a counter reset starts again at 0 */
            prev = v;
        }
        cnt++;
        sum += v;
        if (v > mx)
            mx = v;
        last = v;
        t_last = t;
    }
    if (cnt == 0)
        return false;
    switch (fn) {
    case HEALTH_FN_LAST: *ret = last; break;
    case HEALTH_FN_AVG: *ret = sum / (double)cnt; break;
    case HEALTH_FN_MAX: *ret = mx; break;
    case HEALTH_FN_RATE:
        if (t_last <= t_first)
            return false;
        *ret = inc / ((double)(t_last - t_first) / 1000.0);
        break;
    }
    return true;
}

static size_t sum_of(const health_metric_store_t *s, const health_selv_t *sels,
                     health_metric_fn_t fn, int64_t from, int64_t to, double *ret)
{
    size_t found = 0;
    double total = 0;
    for (size_t i = 0; i < s->n_series; i++) {
        const series_t *se = s->series[i];
        for (size_t k = 0; k < sels->n; k++) {
            double v;
            if (matches(se, &sels->v[k])) {
                if (series_value(se, fn, from, to, &v)) {
                    total += v;
                    found++;
                }
                break;
            }
        }
    }
    *ret = total;
    return found;
}

int health_metric_eval(const health_metric_store_t *s, const health_check_conf_t *c,
                       int64_t now_ms, double *ret, char *why, size_t cap)
{
    int64_t from = now_ms - c->window_ms;
    double num, den;
    if (sum_of(s, &c->series, c->fn, from, now_ms, &num) == 0) {
        snprintf(why, cap, "no samples of %s%s in the last %llds", c->series.v[0].name,
                 c->series.n > 1 ? " (and others)" : "", (long long)(c->window_ms / 1000));
        return -ENODATA;
    }
    if (c->divide_by.n == 0) {
        *ret = num;
        return 0;
    }
    if (sum_of(s, &c->divide_by, c->fn, from, now_ms, &den) == 0) {
        snprintf(why, cap, "no samples of %s in the last %llds", c->divide_by.v[0].name,
                 (long long)(c->window_ms / 1000));
        return -ENODATA;
    }
    if (den == 0) {
        snprintf(why, cap, "denominator is 0 (no events in the last %llds)",
                 (long long)(c->window_ms / 1000));
        return -EDOM;
    }
    *ret = num / den;
    return 0;
}
