/* PromQL function calls: math and trigonometry, the *_over_time family,
 * rate/increase/delta extrapolation, histogram_quantile, holt_winters,
 * predict_linear, label_replace/label_join, absent, sort, time and dates,
 * with Prometheus 2.42's label rules (most functions drop __name__). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql_eval.h"

typedef double (*mathfn_t)(double);

/* Neumaier-compensated summation step, as Prometheus 2.42 sums. */
static double kahan_inc(double inc, double sum, double *c)
{
    double t = sum + inc;
    if (fabs(sum) >= fabs(inc))
        *c += (sum - t) + inc;
    else
        *c += (inc - t) + sum;
    return t;
}

/* Go's math.Max / math.Min, whose special cases differ from fmax/fmin:
 * an infinity wins over NaN, NaN wins over everything else. */
static double go_max(double x, double y)
{
    if ((isinf(x) && x > 0) || (isinf(y) && y > 0))
        return INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if ((isinf(x) && x < 0) || (isinf(y) && y < 0))
        return -INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? x : y;
    return x < y ? x : y;
}

static double f_sgn(double v) { return v > 0 ? 1 : v < 0 ? -1 : v; }
static double f_deg(double v) { return v * 180 / M_PI; }
static double f_rad(double v) { return v * M_PI / 180; }

static const struct {
    const char *name;
    mathfn_t fn;
} mathfns[] = {
    {"abs", fabs}, {"ceil", ceil}, {"floor", floor}, {"exp", exp}, {"sqrt", sqrt},
    {"ln", log}, {"log2", log2}, {"log10", log10}, {"sgn", f_sgn},
    {"sin", sin}, {"cos", cos}, {"tan", tan}, {"asin", asin}, {"acos", acos}, {"atan", atan},
    {"sinh", sinh}, {"cosh", cosh}, {"tanh", tanh}, {"asinh", asinh}, {"acosh", acosh},
    {"atanh", atanh}, {"deg", f_deg}, {"rad", f_rad},
};

static const promql_node_t *unwrap(const promql_node_t *n)
{
    while (n->kind == N_PAREN)
        n = n->paren.e;
    return n;
}

/* Labels absent() infers from a selector's equality matchers. */
static lbls_t absent_labels(ev_t *ev, const promql_node_t *arg)
{
    lbls_t lb = {NULL, 0};
    arg = unwrap(arg);
    const promql_node_t *vs = NULL;
    if (arg->kind == N_SEL)
        vs = arg;
    else if (arg->kind == N_MATRIX)
        vs = arg->matrix.vs;
    if (!vs)
        return lb;
    for (size_t i = 0; i < vs->sel.n; i++) {
        const mm_match_t *m = &vs->sel.m[i];
        if (strcmp(m->name, "__name__") == 0)
            continue;
        if (m->type == MM_MATCH_EQ && !lbls_get(lb, m->name))
            lb = lbls_set(ev, lb, m->name, m->value);
    }
    for (size_t i = 0; i < vs->sel.n; i++) {
        const mm_match_t *m = &vs->sel.m[i];
        if (strcmp(m->name, "__name__") == 0)
            continue;
        bool first_eq = false;
        if (m->type == MM_MATCH_EQ) {
            /* Only the first `=` matcher of a name sets it; later ones delete. */
            size_t j;
            for (j = 0; j < vs->sel.n; j++)
                if (vs->sel.m[j].type == MM_MATCH_EQ && strcmp(vs->sel.m[j].name, m->name) == 0)
                    break;
            first_eq = j == i;
        }
        if (!first_eq)
            lb = lbls_set(ev, lb, m->name, NULL);
    }
    return lb;
}

static double extrapolated_rate(const ser_t *s, int64_t range_start, int64_t range_end,
                                int64_t range_ms, bool counter, bool is_rate, bool *ok)
{
    *ok = s->n >= 2;
    if (!*ok)
        return 0;
    double result = s->v[s->n - 1] - s->v[0];
    if (counter) {
        double last = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i] < last)
                result += last;
            last = s->v[i];
        }
    }
    double to_start = (double)(s->t[0] - range_start) / 1000;
    double to_end = (double)(range_end - s->t[s->n - 1]) / 1000;
    double sampled = (double)(s->t[s->n - 1] - s->t[0]) / 1000;
    double avg = sampled / (double)(s->n - 1);
    if (counter && result > 0 && s->v[0] >= 0) {
        double to_zero = sampled * (s->v[0] / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double threshold = avg * 1.1;
    double interval = sampled;
    interval += to_start < threshold ? to_start : avg / 2;
    interval += to_end < threshold ? to_end : avg / 2;
    /* Same operation order as Prometheus, for bit-identical results. */
    double factor = interval / sampled;
    if (is_rate)
        factor /= (double)range_ms / 1000;
    return result * factor;
}

static void linear_regression(const ser_t *s, int64_t intercept_t, double *slope, double *intercept)
{
    double n = 0, sx = 0, sy = 0, sxy = 0, sx2 = 0, cx = 0, cy = 0, cxy = 0, cx2 = 0;
    bool const_y = true;
    double init = s->v[0];
    for (size_t i = 0; i < s->n; i++) {
        if (const_y && i > 0 && s->v[i] != init)
            const_y = false;
        n += 1;
        double x = (double)(s->t[i] - intercept_t) / 1e3;
        sx = kahan_inc(x, sx, &cx);
        sy = kahan_inc(s->v[i], sy, &cy);
        sxy = kahan_inc(x * s->v[i], sxy, &cxy);
        sx2 = kahan_inc(x * x, sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init;
        }
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n;
    double var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

typedef struct {
    double upper, count;
} bucket_t;

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const bucket_t *)a)->upper, y = ((const bucket_t *)b)->upper;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double bucket_quantile(double q, bucket_t *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!isinf(b[n - 1].upper) || b[n - 1].upper < 0)
        return NAN;
    /* Coalesce buckets with the same upper bound. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && b[m - 1].upper == b[i].upper)
            b[m - 1].count += b[i].count;
        else
            b[m++] = b[i];
    }
    n = m;
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    /* First bucket (among all but the last) whose count reaches rank. */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b[mid].count >= rank)
            hi = mid;
        else
            lo = mid + 1;
    }
    i = lo;
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

static int histogram_quantile(ev_t *ev, double q, const vec_t *in, int64_t t, vec_t *out)
{
    hmap_t idx;
    if (hmap_init(ev, &idx, in->n) < 0)
        return -1;
    typedef struct {
        lbls_t lb;
        bucket_t *b;
        size_t n, cap;
    } hg_t;
    hg_t *g = ev_alloc(ev, (in->n ? in->n : 1) * sizeof *g);
    size_t ng = 0;
    if (!g)
        return -1;
    for (size_t i = 0; i < in->n; i++) {
        const char *le = lbls_get(in->s[i].lb, "le");
        if (!le || !le[0])
            continue;
        char *end;
        double upper = strtod(le, &end);
        if (*end)
            continue;
        uint64_t h = 1469598103934665603ULL;
        for (size_t j = 0; j < in->s[i].lb.n; j++) {
            if (strcmp(in->s[i].lb.l[j].name, "le") == 0)
                continue;
            h = hash_mix(hash_mix(h, in->s[i].lb.l[j].name), in->s[i].lb.l[j].value);
        }
        long k = hmap_get(&idx, h);
        if (k < 0) {
            k = (long)ng++;
            hmap_put(ev, &idx, h, k);
            memset(&g[k], 0, sizeof g[k]);
            lbls_t lb = lbls_drop_name(ev, in->s[i].lb);
            g[k].lb = lbls_set(ev, lb, "le", NULL);
        }
        if (g[k].n == g[k].cap) {
            size_t nc = g[k].cap ? g[k].cap * 2 : 8;
            bucket_t *nb = ev_alloc(ev, nc * sizeof *nb);
            if (!nb)
                return -1;
            if (g[k].n)
                memcpy(nb, g[k].b, g[k].n * sizeof *nb);
            g[k].b = nb;
            g[k].cap = nc;
        }
        g[k].b[g[k].n++] = (bucket_t){upper, in->s[i].v};
    }
    for (size_t k = 0; k < ng; k++)
        if (vec_push(ev, out, g[k].lb, bucket_quantile(q, g[k].b, g[k].n), t) < 0)
            return -1;
    return 0;
}

/* Go's regexp.Expand for label_replace templates: $1, ${1}, $name, $$. */
static char *expand(ev_t *ev, const mm_regex_t *re, const char *tmpl, const char *src,
                    const long *ov, int ngroups)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    for (int g = 0; g < ngroups; g++)
        if (ov[2 * g] >= 0)
            cap += (size_t)(ov[2 * g + 1] - ov[2 * g]) * strlen(tmpl);
    char *out = ev_alloc(ev, cap + 1);
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        if (*p != '$') {
            out[len++] = *p++;
            continue;
        }
        p++;
        if (*p == '$') {
            out[len++] = '$';
            p++;
            continue;
        }
        const char *name = p;
        size_t nl = 0;
        bool brace = false;
        if (*p == '{') {
            brace = true;
            name = ++p;
            while (p[nl] && p[nl] != '}')
                nl++;
            if (!p[nl] || nl == 0) {
                out[len++] = '$';
                p = name - 1;
                continue;
            }
        } else {
            while (p[nl] == '_' || (p[nl] >= '0' && p[nl] <= '9') || (p[nl] >= 'a' && p[nl] <= 'z') ||
                   (p[nl] >= 'A' && p[nl] <= 'Z'))
                nl++;
            if (nl == 0) {
                out[len++] = '$';
                continue;
            }
        }
        bool valid = true;
        for (size_t i = 0; i < nl; i++)
            if (!(name[i] == '_' || (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
                  (name[i] >= 'A' && name[i] <= 'Z')))
                valid = false;
        if (brace && !valid) {
            out[len++] = '$';
            p = name - 1;
            continue;
        }
        char nbuf[128];
        size_t cl = nl < sizeof nbuf - 1 ? nl : sizeof nbuf - 1;
        memcpy(nbuf, name, cl);
        nbuf[cl] = 0;
        int gi = -1;
        bool digits = true;
        for (size_t i = 0; i < cl; i++)
            if (nbuf[i] < '0' || nbuf[i] > '9')
                digits = false;
        if (digits) {
            long v = strtol(nbuf, NULL, 10);
            if (cl < 10 && v < ngroups)
                gi = (int)v;
        } else {
            gi = mm_regex_group_index(re, nbuf);
        }
        if (gi >= 0 && gi < ngroups && ov[2 * gi] >= 0) {
            size_t sl = (size_t)(ov[2 * gi + 1] - ov[2 * gi]);
            memcpy(out + len, src + ov[2 * gi], sl);
            len += sl;
        }
        p = name + nl + (brace ? 1 : 0);
    }
    out[len] = 0;
    return out;
}

static int label_replace(ev_t *ev, const vec_t *in, const char *dst, const char *repl,
                         const char *src, const char *regex, int64_t t, vec_t *out)
{
    char why[256];
    mm_regex_t *re = mm_regex_new(regex, why, sizeof why);
    if (!re) {
        ev_fail(ev, "invalid regular expression in label_replace(): %s", regex);
        return -1;
    }
    int rc = 0;
    if (!mm_label_name_valid(dst, strlen(dst))) {
        ev_fail(ev, "invalid destination label name in label_replace(): %s", dst);
        rc = -1;
        goto out;
    }
    enum { MAXG = 32 };
    long ov[2 * MAXG];
    for (size_t i = 0; i < in->n; i++) {
        lbls_t lb = in->s[i].lb;
        const char *sv = lbls_get(lb, src);
        if (!sv)
            sv = "";
        int ng = mm_regex_match(re, sv, strlen(sv), ov, MAXG);
        if (ng > 0) {
            char *res = expand(ev, re, repl, sv, ov, ng < MAXG ? ng : MAXG);
            if (!res) {
                rc = -1;
                goto out;
            }
            lb = lbls_set(ev, lb, promql_arena_strndup(ev->a, dst, strlen(dst)), res);
        }
        if (vec_push(ev, out, lb, in->s[i].v, t) < 0) {
            rc = -1;
            goto out;
        }
    }
out:
    mm_regex_free(re);
    return rc;
}

static int cmp_sort_asc(const void *a, const void *b)
{
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y))
        return isnan(x) ? (isnan(y) ? 0 : 1) : -1;
    return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_sort_desc(const void *a, const void *b)
{
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y))
        return isnan(x) ? (isnan(y) ? 0 : 1) : -1;
    return x > y ? -1 : x < y ? 1 : 0;
}

static double over_time(const char *name, const ser_t *s, double q, bool *ok)
{
    *ok = true;
    size_t n = s->n;
    if (!strcmp(name, "avg_over_time")) {
        double mean = 0, count = 0, c = 0;
        for (size_t i = 0; i < n; i++) {
            count++;
            double v = s->v[i];
            if (isinf(mean)) {
                if (isinf(v) && (mean > 0) == (v > 0))
                    continue;
                if (!isinf(v) && !isnan(v))
                    continue;
            }
            mean = kahan_inc(v / count - mean / count, mean, &c);
        }
        return isinf(mean) ? mean : mean + c;
    }
    if (!strcmp(name, "count_over_time"))
        return (double)n;
    if (!strcmp(name, "sum_over_time")) {
        double sum = 0, c = 0;
        for (size_t i = 0; i < n; i++)
            sum = kahan_inc(s->v[i], sum, &c);
        return isinf(sum) ? sum : sum + c;
    }
    if (!strcmp(name, "min_over_time") || !strcmp(name, "max_over_time")) {
        bool mx = name[1] == 'a';
        double r = s->v[0];
        for (size_t i = 0; i < n; i++) {
            double v = s->v[i];
            if ((mx ? v > r : v < r) || isnan(r))
                r = v;
        }
        return r;
    }
    if (!strcmp(name, "last_over_time"))
        return s->v[n - 1];
    if (!strcmp(name, "present_over_time"))
        return 1;
    if (!strcmp(name, "stddev_over_time") || !strcmp(name, "stdvar_over_time")) {
        double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
        for (size_t i = 0; i < n; i++) {
            count++;
            double delta = s->v[i] - (mean + cmean);
            mean = kahan_inc(delta / count, mean, &cmean);
            aux = kahan_inc(delta * (s->v[i] - (mean + cmean)), aux, &caux);
        }
        return name[3] == 'd' ? sqrt((aux + caux) / count) : (aux + caux) / count;
    }
    if (!strcmp(name, "quantile_over_time")) {
        double *vals = malloc(n * sizeof *vals);
        if (!vals)
            return NAN;
        memcpy(vals, s->v, n * sizeof *vals);
        double r = quantile_of(q, vals, n);
        free(vals);
        return r;
    }
    if (!strcmp(name, "changes") || !strcmp(name, "resets")) {
        double c = 0;
        bool ch = name[0] == 'c';
        for (size_t i = 1; i < n; i++) {
            double cur = s->v[i], prev = s->v[i - 1];
            if (ch ? (cur != prev && !(isnan(cur) && isnan(prev))) : cur < prev)
                c++;
        }
        return c;
    }
    *ok = false;
    return 0;
}

static double holt_winters(const ser_t *s, double sf, double tf, bool *ok)
{
    *ok = s->n >= 2;
    if (!*ok)
        return 0;
    double s0 = 0, s1 = s->v[0], b = s->v[1] - s->v[0];
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->v[i];
        if (i > 1)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    return s1;
}

static double date_part(const char *name, double v)
{
    time_t tt = (time_t)(int64_t)v;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return NAN;
    if (!strcmp(name, "day_of_month")) return tm.tm_mday;
    if (!strcmp(name, "day_of_week")) return tm.tm_wday;
    if (!strcmp(name, "day_of_year")) return tm.tm_yday + 1;
    if (!strcmp(name, "hour")) return tm.tm_hour;
    if (!strcmp(name, "minute")) return tm.tm_min;
    if (!strcmp(name, "month")) return tm.tm_mon + 1;
    if (!strcmp(name, "year")) return tm.tm_year + 1900;
    if (!strcmp(name, "days_in_month")) {
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
            return 29;
        return days[tm.tm_mon];
    }
    return NAN;
}

int eval_call(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    const char *name = n->call.f->name;
    out->type = n->call.f->ret;
    memset(&out->vec, 0, sizeof out->vec);
    vec_t *o = &out->vec;

    if (!strcmp(name, "time")) {
        out->f = (double)t / 1000;
        return 0;
    }
    if (!strcmp(name, "pi")) {
        out->f = M_PI;
        return 0;
    }
    if (!strcmp(name, "timestamp")) {
        const promql_node_t *a = unwrap(n->call.args[0]);
        val_t v;
        if (a->kind == N_SEL) {
            if (eval_selector(ev, a, t, &v) < 0)
                return -1;
            for (size_t i = 0; i < v.vec.n; i++)
                if (vec_push(ev, o, lbls_drop_name(ev, v.vec.s[i].lb), (double)v.vec.s[i].t / 1000, t) < 0)
                    return -1;
        } else {
            if (eval_node(ev, a, t, &v) < 0)
                return -1;
            for (size_t i = 0; i < v.vec.n; i++)
                if (vec_push(ev, o, lbls_drop_name(ev, v.vec.s[i].lb), (double)t / 1000, t) < 0)
                    return -1;
        }
        return check_dups(ev, o);
    }

    val_t args[5];
    size_t na = n->call.n < 5 ? n->call.n : 5;
    for (size_t i = 0; i < na; i++)
        if (eval_node(ev, n->call.args[i], t, &args[i]) < 0)
            return -1;

    if (!strcmp(name, "vector")) {
        return vec_push(ev, o, (lbls_t){NULL, 0}, args[0].f, t);
    }
    if (!strcmp(name, "scalar")) {
        out->f = args[0].vec.n == 1 ? args[0].vec.s[0].v : NAN;
        return 0;
    }
    for (size_t k = 0; k < sizeof mathfns / sizeof mathfns[0]; k++) {
        if (strcmp(name, mathfns[k].name))
            continue;
        for (size_t i = 0; i < args[0].vec.n; i++)
            if (vec_push(ev, o, lbls_drop_name(ev, args[0].vec.s[i].lb), mathfns[k].fn(args[0].vec.s[i].v), t) < 0)
                return -1;
        return check_dups(ev, o);
    }
    if (!strcmp(name, "round")) {
        double to = na > 1 ? args[1].f : 1;
        double inv = 1.0 / to;
        for (size_t i = 0; i < args[0].vec.n; i++) {
            double v = floor(args[0].vec.s[i].v * inv + 0.5) / inv;
            if (vec_push(ev, o, lbls_drop_name(ev, args[0].vec.s[i].lb), v, t) < 0)
                return -1;
        }
        return check_dups(ev, o);
    }
    if (!strcmp(name, "clamp") || !strcmp(name, "clamp_min") || !strcmp(name, "clamp_max")) {
        double lo = -INFINITY, hi = INFINITY;
        if (!strcmp(name, "clamp")) {
            lo = args[1].f;
            hi = args[2].f;
            if (hi < lo)
                return 0;
        } else if (!strcmp(name, "clamp_min")) {
            lo = args[1].f;
        } else {
            hi = args[1].f;
        }
        for (size_t i = 0; i < args[0].vec.n; i++) {
            double v = args[0].vec.s[i].v;
            if (!strcmp(name, "clamp"))
                v = go_max(lo, go_min(hi, v));
            else if (!strcmp(name, "clamp_min"))
                v = go_max(lo, v);
            else
                v = go_min(hi, v);
            if (vec_push(ev, o, lbls_drop_name(ev, args[0].vec.s[i].lb), v, t) < 0)
                return -1;
        }
        return check_dups(ev, o);
    }
    if (!strcmp(name, "sort") || !strcmp(name, "sort_desc")) {
        *o = args[0].vec;
        if (o->n > 1)
            qsort(o->s, o->n, sizeof *o->s, name[4] ? cmp_sort_desc : cmp_sort_asc);
        for (size_t i = 0; i < o->n; i++)
            o->s[i].t = t;
        return 0;
    }
    if (!strcmp(name, "absent")) {
        if (args[0].vec.n > 0)
            return 0;
        return vec_push(ev, o, absent_labels(ev, n->call.args[0]), 1, t);
    }
    if (!strcmp(name, "absent_over_time")) {
        if (args[0].mat.n > 0)
            return 0;
        return vec_push(ev, o, absent_labels(ev, n->call.args[0]), 1, t);
    }
    if (!strcmp(name, "histogram_quantile")) {
        if (histogram_quantile(ev, args[0].f, &args[1].vec, t, o) < 0)
            return -1;
        return check_dups(ev, o);
    }
    if (!strncmp(name, "histogram_", 10))
        return 0;   /* native histograms only: nothing for classic series */
    if (!strcmp(name, "label_replace")) {
        if (label_replace(ev, &args[0].vec, args[1].str, args[2].str, args[3].str, args[4].str, t, o) < 0)
            return -1;
        return check_dups(ev, o);
    }
    if (!strcmp(name, "label_join")) {
        const char *dst = args[1].str, *sep = args[2].str;
        size_t nsrc = n->call.n - 3;
        const char **srcs = ev_alloc(ev, (nsrc ? nsrc : 1) * sizeof *srcs);
        if (!srcs)
            return -1;
        for (size_t i = 0; i < nsrc; i++) {
            val_t sv;
            if (eval_node(ev, n->call.args[3 + i], t, &sv) < 0)
                return -1;
            srcs[i] = sv.str;
            if (!mm_label_name_valid(srcs[i], strlen(srcs[i]))) {
                ev_fail(ev, "invalid source label name in label_join(): %s", srcs[i]);
                return -1;
            }
        }
        if (!mm_label_name_valid(dst, strlen(dst))) {
            ev_fail(ev, "invalid destination label name in label_join(): %s", dst);
            return -1;
        }
        for (size_t i = 0; i < args[0].vec.n; i++) {
            lbls_t lb = args[0].vec.s[i].lb;
            size_t len = 1;
            for (size_t k = 0; k < nsrc; k++) {
                const char *v = lbls_get(lb, srcs[k]);
                len += (v ? strlen(v) : 0) + strlen(sep);
            }
            char *joined = ev_alloc(ev, len);
            if (!joined)
                return -1;
            for (size_t k = 0; k < nsrc; k++) {
                const char *v = lbls_get(lb, srcs[k]);
                if (k)
                    strcat(joined, sep);
                strcat(joined, v ? v : "");
            }
            if (vec_push(ev, o, lbls_set(ev, lb, dst, joined), args[0].vec.s[i].v, t) < 0)
                return -1;
        }
        return check_dups(ev, o);
    }
    if (!strcmp(name, "days_in_month") || !strcmp(name, "day_of_month") || !strcmp(name, "day_of_week") ||
        !strcmp(name, "day_of_year") || !strcmp(name, "hour") || !strcmp(name, "minute") ||
        !strcmp(name, "month") || !strcmp(name, "year")) {
        if (na == 0)
            return vec_push(ev, o, (lbls_t){NULL, 0}, date_part(name, (double)t / 1000), t);
        for (size_t i = 0; i < args[0].vec.n; i++)
            if (vec_push(ev, o, lbls_drop_name(ev, args[0].vec.s[i].lb), date_part(name, args[0].vec.s[i].v), t) < 0)
                return -1;
        return check_dups(ev, o);
    }

    /* Functions over a range vector. */
    size_t mi = 0;
    for (size_t i = 0; i < na; i++)
        if (args[i].type == MM_PROMQL_MATRIX)
            mi = i;
    const val_t *m = &args[mi];
    if (!strcmp(name, "holt_winters")) {
        double sf = args[1].f, tf = args[2].f;
        if (sf <= 0 || sf >= 1) {
            ev_fail(ev, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
            return -1;
        }
        if (tf <= 0 || tf >= 1) {
            ev_fail(ev, "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf);
            return -1;
        }
    }
    for (size_t i = 0; i < m->mat.n; i++) {
        const ser_t *s = &m->mat.s[i];
        bool ok = true;
        double v;
        if (!strcmp(name, "rate") || !strcmp(name, "increase") || !strcmp(name, "delta")) {
            v = extrapolated_rate(s, m->mstart, m->mend, m->mrange, name[0] != 'd', name[0] == 'r', &ok);
        } else if (!strcmp(name, "irate") || !strcmp(name, "idelta")) {
            ok = s->n >= 2;
            if (ok) {
                double last = s->v[s->n - 1], prev = s->v[s->n - 2];
                bool is_rate = name[1] == 'r';
                v = (is_rate && last < prev) ? last : last - prev;
                int64_t dt = s->t[s->n - 1] - s->t[s->n - 2];
                if (dt == 0)
                    ok = false;
                else if (is_rate)
                    v /= (double)dt / 1000;
            } else {
                v = 0;
            }
        } else if (!strcmp(name, "deriv")) {
            ok = s->n >= 2;
            double slope = 0, icpt;
            if (ok)
                linear_regression(s, s->t[0], &slope, &icpt);
            v = slope;
        } else if (!strcmp(name, "predict_linear")) {
            ok = s->n >= 2;
            double slope = 0, icpt = 0;
            if (ok)
                linear_regression(s, t, &slope, &icpt);
            v = slope * args[1].f + icpt;
        } else if (!strcmp(name, "holt_winters")) {
            v = holt_winters(s, args[1].f, args[2].f, &ok);
        } else {
            v = over_time(name, s, mi == 1 ? args[0].f : 0, &ok);
        }
        if (!ok)
            continue;
        lbls_t lb = strcmp(name, "last_over_time") ? lbls_drop_name(ev, s->lb) : s->lb;
        if (vec_push(ev, o, lb, v, t) < 0)
            return -1;
    }
    return check_dups(ev, o);
}
