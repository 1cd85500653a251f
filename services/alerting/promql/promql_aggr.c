/* PromQL aggregation operators (sum, avg, count, min, max, group, stddev,
 * stdvar, topk, bottomk, count_values, quantile) with by/without grouping,
 * computed as Prometheus 2.42 computes them (incremental mean, Welford
 * variance, NaN handling of min/max/topk). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql_eval.h"

typedef struct {
    lbls_t lb;
    double value, mean;
    double count;
    size_t *members;   /* sample indices (topk, bottomk, quantile) */
    size_t n_members, cap_members;
} group_t;

void format_float_f(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Shortest round-tripping digits, then written without an exponent. */
    char e[64];
    int prec;
    for (prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    char digits[40];
    size_t nd = 0;
    const char *p = e;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    size_t o = 0;
    char out[400];
    if (neg)
        out[o++] = '-';
    int point = exp + 1;   /* digits before the decimal point */
    if (point <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -point; i++)
            out[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[o++] = digits[i];
    } else {
        for (int i = 0; i < point; i++)
            out[o++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)point < nd) {
            out[o++] = '.';
            for (size_t i = (size_t)point; i < nd; i++)
                out[o++] = digits[i];
        }
    }
    out[o] = 0;
    if (strcmp(out, "-0") == 0)
        snprintf(out, sizeof out, "-0");
    snprintf(buf, cap, "%s", out);
}

static int cmp_double_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y ? 1 : 0;
}

double quantile_of(double q, double *vals, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(vals, n, sizeof *vals, cmp_double_nan_first);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)(n - 1), lower + 1);
    double weight = rank - floor(rank);
    return vals[(size_t)lower] * (1 - weight) + vals[(size_t)upper] * weight;
}

/* The heaps topk and bottomk keep, with the ordering and the container/heap
 * algorithm Prometheus uses, so that ties pick the same series. A heap
 * holds sample indices; for topk "less" is the smaller value (NaN least),
 * for bottomk the larger value (NaN least). */
typedef struct {
    size_t *h;
    size_t n;
    const smp_t *s;
    bool rev;
} heap_t;

static bool heap_less(const heap_t *hp, size_t i, size_t j)
{
    double a = hp->s[hp->h[i]].v, b = hp->s[hp->h[j]].v;
    if (isnan(a))
        return true;
    return hp->rev ? a > b : a < b;
}

static void heap_swap(heap_t *hp, size_t i, size_t j)
{
    size_t t = hp->h[i];
    hp->h[i] = hp->h[j];
    hp->h[j] = t;
}

static void heap_up(heap_t *hp, size_t j)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!heap_less(hp, j, i))
            break;
        heap_swap(hp, i, j);
        j = i;
    }
}

static void heap_down(heap_t *hp, size_t i, size_t n)
{
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && heap_less(hp, j1 + 1, j1))
            j = j1 + 1;
        if (!heap_less(hp, j, i))
            break;
        heap_swap(hp, i, j);
        i = j;
    }
}

/* Offers sample idx to a heap of at most k elements (capacity >= k). */
static void heap_offer(heap_t *hp, size_t idx, uint64_t k)
{
    double top = hp->s[hp->h[0]].v, v = hp->s[idx].v;
    bool better = hp->rev ? top > v : top < v;
    if (!((uint64_t)hp->n < k || better || isnan(top)))
        return;
    if ((uint64_t)hp->n == k) {
        if (k == 1) {
            hp->h[0] = idx;
            return;
        }
        heap_swap(hp, 0, hp->n - 1);
        heap_down(hp, 0, hp->n - 1);
        hp->n--;
    }
    hp->h[hp->n++] = idx;
    heap_up(hp, hp->n - 1);
}

/* Output order: topk largest first, bottomk smallest first, NaN last. */
static int cmp_out(const void *a, const void *b, void *arg)
{
    const heap_t *hp = arg;
    double x = hp->s[*(const size_t *)a].v, y = hp->s[*(const size_t *)b].v;
    if (isnan(x) || isnan(y))
        return isnan(x) ? (isnan(y) ? 0 : 1) : -1;
    if (x == y)
        return 0;
    return hp->rev ? (x < y ? -1 : 1) : (x > y ? -1 : 1);
}

static bool is_valid_label(const char *s)
{
    return mm_label_name_valid(s, strlen(s));
}

int eval_aggregation(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    promql_tok_t op = n->agg.op;
    double param = 0;
    const char *value_label = NULL;
    int64_t k = 0;
    if (n->agg.param) {
        val_t pv;
        if (eval_node(ev, n->agg.param, t, &pv) < 0)
            return -1;
        if (op == T_COUNT_VALUES) {
            value_label = pv.str;
            if (!is_valid_label(value_label)) {
                ev_fail(ev, "invalid label name \"%s\"", value_label);
                return -1;
            }
        } else {
            param = pv.f;
        }
    }
    val_t in;
    if (eval_node(ev, n->agg.e, t, &in) < 0)
        return -1;
    out->type = MM_PROMQL_VECTOR;
    memset(&out->vec, 0, sizeof out->vec);
    if (op == T_TOPK || op == T_BOTTOMK) {
        if (!(param >= -9.2233720368547758e18 && param <= 9.2233720368547758e18)) {
            ev_fail(ev, "Scalar value %g overflows int64", param);
            return -1;
        }
        k = (int64_t)param;
        if (k < 1)
            return 0;
    }
    vec_t *v = &in.vec;
    promql_labels_list_t grouping = n->agg.grouping;
    if (value_label && !n->agg.without) {
        char **l = ev_alloc(ev, (grouping.n + 1) * sizeof *l);
        if (!l)
            return -1;
        if (grouping.n)
            memcpy(l, grouping.labels, grouping.n * sizeof *l);
        l[grouping.n++] = (char *)value_label;
        grouping.labels = l;
    }
    hmap_t idx;
    if (hmap_init(ev, &idx, v->n) < 0)
        return -1;
    group_t *groups = ev_alloc(ev, (v->n ? v->n : 1) * sizeof *groups);
    size_t ng = 0;
    if (!groups)
        return -1;
    for (size_t i = 0; i < v->n; i++) {
        smp_t *s = &v->s[i];
        lbls_t lb = s->lb;
        if (value_label) {
            char buf[400];   /* 'f' format of any double fits */
            format_float_f(s->v, buf, sizeof buf);
            char *val = promql_arena_strndup(ev->a, buf, strlen(buf));
            if (!val)
                return -1;
            lb = lbls_set(ev, lb, value_label, val);
        }
        /* Group key over the grouping labels (by) or all but them (without). */
        uint64_t h = 1469598103934665603ULL;
        if (n->agg.without) {
            for (size_t j = 0; j < lb.n; j++) {
                const char *name = lb.l[j].name;
                bool listed = false;
                for (size_t g = 0; g < grouping.n; g++)
                    if (strcmp(grouping.labels[g], name) == 0)
                        listed = true;
                if (listed || strcmp(name, "__name__") == 0)
                    continue;
                h = hash_mix(hash_mix(h, name), lb.l[j].value);
            }
        } else {
            for (size_t g = 0; g < grouping.n; g++) {
                const char *val = lbls_get(lb, grouping.labels[g]);
                h = hash_mix(hash_mix(h, grouping.labels[g]), val ? val : "");
            }
        }
        long gi = hmap_get(&idx, h);
        group_t *g;
        if (gi < 0) {
            gi = (long)ng++;
            hmap_put(ev, &idx, h, gi);
            g = &groups[gi];
            memset(g, 0, sizeof *g);
            if (op == T_TOPK || op == T_BOTTOMK)
                g->lb = lb;
            else if (n->agg.without)
                g->lb = lbls_filter(ev, lb, &grouping, false, true);
            else
                g->lb = lbls_filter(ev, lb, &grouping, true, false);
            g->value = s->v;
            g->mean = s->v;
            g->count = 1;
            if (op == T_STDDEV || op == T_STDVAR)
                g->value = 0;
        } else {
            g = &groups[gi];
            g->count++;
            switch (op) {
            case T_SUM:
                g->value += s->v;
                break;
            case T_AVG:
                if (isinf(g->mean)) {
                    if (isinf(s->v) && (g->mean > 0) == (s->v > 0))
                        break;
                    if (!isinf(s->v) && !isnan(s->v))
                        break;
                }
                g->mean += s->v / g->count - g->mean / g->count;
                break;
            case T_MAX:
                if (g->value < s->v || isnan(g->value))
                    g->value = s->v;
                break;
            case T_MIN:
                if (g->value > s->v || isnan(g->value))
                    g->value = s->v;
                break;
            case T_STDDEV:
            case T_STDVAR: {
                double delta = s->v - g->mean;
                g->mean += delta / g->count;
                g->value += delta * (s->v - g->mean);
                break;
            }
            default:
                break;
            }
        }
        if (op == T_TOPK || op == T_BOTTOMK) {
            if (!g->members) {
                size_t cap = (uint64_t)k < v->n ? (size_t)k : v->n;
                g->members = ev_alloc(ev, cap * sizeof *g->members);
                if (!g->members)
                    return -1;
                g->cap_members = cap;
                g->members[0] = i;
                g->n_members = 1;
            } else {
                heap_t hp = {g->members, g->n_members, v->s, op == T_BOTTOMK};
                heap_offer(&hp, i, (uint64_t)k);
                g->n_members = hp.n;
            }
        } else if (op == T_QUANTILE) {
            if (g->n_members == g->cap_members) {
                size_t nc = g->cap_members ? g->cap_members * 2 : 4;
                size_t *nm = ev_alloc(ev, nc * sizeof *nm);
                if (!nm)
                    return -1;
                if (g->n_members)
                    memcpy(nm, g->members, g->n_members * sizeof *nm);
                g->members = nm;
                g->cap_members = nc;
            }
            g->members[g->n_members++] = i;
        }
    }
    for (size_t gi = 0; gi < ng; gi++) {
        group_t *g = &groups[gi];
        double val;
        switch (op) {
        case T_AVG: val = g->mean; break;
        case T_COUNT: case T_COUNT_VALUES: val = g->count; break;
        case T_GROUP: val = 1; break;
        case T_STDVAR: val = g->value / g->count; break;
        case T_STDDEV: val = sqrt(g->value / g->count); break;
        case T_QUANTILE: {
            double *vals = ev_alloc(ev, g->n_members * sizeof *vals);
            if (!vals)
                return -1;
            for (size_t m = 0; m < g->n_members; m++)
                vals[m] = v->s[g->members[m]].v;
            val = quantile_of(param, vals, g->n_members);
            break;
        }
        case T_TOPK:
        case T_BOTTOMK: {
            heap_t hp = {g->members, g->n_members, v->s, op == T_BOTTOMK};
            qsort_r(g->members, g->n_members, sizeof *g->members, cmp_out, &hp);
            for (size_t m = 0; m < g->n_members; m++) {
                const smp_t *s = &v->s[g->members[m]];
                if (vec_push(ev, &out->vec, s->lb, s->v, t) < 0)
                    return -1;
            }
            continue;
        }
        default: val = g->value; break;
        }
        if (vec_push(ev, &out->vec, g->lb, val, t) < 0)
            return -1;
    }
    return ev->failed ? -1 : 0;
}
