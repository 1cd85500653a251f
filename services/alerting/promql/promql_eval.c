/* PromQL evaluator: evaluates an AST at one instant T, recursively, with
 * Prometheus 2.42 semantics (lookback and staleness, @ and offset, vector
 * matching and its errors, label dropping). Subqueries evaluate their inner
 * expression at each aligned step. Everything an evaluation allocates lives
 * in one arena that the result takes over. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "promql_eval.h"

/* ------------------------------------------------------------ helpers */

void ev_fail(ev_t *ev, const char *fmt, ...)
{
    if (ev->failed)
        return;
    ev->failed = true;
    ev->code = -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->msg, sizeof ev->msg, fmt, ap);
    va_end(ap);
}

void *ev_alloc(ev_t *ev, size_t n)
{
    void *p = promql_arena_alloc(ev->a, n);
    if (!p && !ev->failed) {
        ev->failed = true;
        ev->code = -ENOMEM;
        snprintf(ev->msg, sizeof ev->msg, "out of memory");
    }
    return p;
}

static int vec_reserve(ev_t *ev, vec_t *v, size_t want)
{
    if (want <= v->cap)
        return 0;
    size_t nc = v->cap ? v->cap * 2 : 8;
    while (nc < want)
        nc *= 2;
    smp_t *ns = ev_alloc(ev, nc * sizeof *ns);
    if (!ns)
        return -1;
    if (v->n)
        memcpy(ns, v->s, v->n * sizeof *ns);
    v->s = ns;
    v->cap = nc;
    return 0;
}

int vec_push(ev_t *ev, vec_t *v, lbls_t lb, double val, int64_t t)
{
    if (vec_reserve(ev, v, v->n + 1) < 0)
        return -1;
    v->s[v->n].lb = lb;
    v->s[v->n].v = val;
    v->s[v->n].t = t;
    v->n++;
    return 0;
}

int mat_push(ev_t *ev, mat_t *m, const ser_t *s)
{
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        ser_t *ns = ev_alloc(ev, nc * sizeof *ns);
        if (!ns)
            return -1;
        if (m->n)
            memcpy(ns, m->s, m->n * sizeof *ns);
        m->s = ns;
        m->cap = nc;
    }
    m->s[m->n++] = *s;
    return 0;
}

uint64_t hash_mix(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
    return h;
}

uint64_t lbls_hash(lbls_t lb)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < lb.n; i++) {
        h = hash_mix(h, lb.l[i].name);
        h = hash_mix(h, lb.l[i].value);
    }
    return h;
}

static bool in_list(const promql_labels_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->labels[i], s) == 0)
            return true;
    return false;
}

const char *lbls_get(lbls_t lb, const char *name)
{
    for (size_t i = 0; i < lb.n; i++)
        if (strcmp(lb.l[i].name, name) == 0)
            return lb.l[i].value;
    return NULL;
}

lbls_t lbls_drop_name(ev_t *ev, lbls_t lb)
{
    size_t k;
    for (k = 0; k < lb.n; k++)
        if (strcmp(lb.l[k].name, "__name__") == 0)
            break;
    if (k == lb.n)
        return lb;
    lbls_t r = {ev_alloc(ev, (lb.n ? lb.n : 1) * sizeof(mm_label_t)), 0};
    if (!r.l)
        return lb;
    for (size_t i = 0; i < lb.n; i++)
        if (i != k)
            r.l[r.n++] = lb.l[i];
    return r;
}

/* Keeps (keep=true) or deletes the listed labels. */
lbls_t lbls_filter(ev_t *ev, lbls_t lb, const promql_labels_list_t *list, bool keep, bool drop_name)
{
    lbls_t r = {ev_alloc(ev, (lb.n ? lb.n : 1) * sizeof(mm_label_t)), 0};
    if (!r.l)
        return lb;
    for (size_t i = 0; i < lb.n; i++) {
        bool listed = in_list(list, lb.l[i].name);
        if (drop_name && strcmp(lb.l[i].name, "__name__") == 0)
            continue;
        if (listed == keep)
            r.l[r.n++] = lb.l[i];
    }
    return r;
}

/* Sets (value non-empty) or deletes (value NULL or "") one label. */
lbls_t lbls_set(ev_t *ev, lbls_t lb, const char *name, const char *value)
{
    lbls_t r = {ev_alloc(ev, (lb.n + 1) * sizeof(mm_label_t)), 0};
    if (!r.l)
        return lb;
    bool done = false;
    for (size_t i = 0; i < lb.n; i++) {
        int c = strcmp(lb.l[i].name, name);
        if (c == 0) {
            if (value && value[0])
                r.l[r.n++] = (mm_label_t){lb.l[i].name, value};
            done = true;
            continue;
        }
        if (c > 0 && !done) {
            if (value && value[0])
                r.l[r.n++] = (mm_label_t){name, value};
            done = true;
        }
        r.l[r.n++] = lb.l[i];
    }
    if (!done && value && value[0])
        r.l[r.n++] = (mm_label_t){name, value};
    return r;
}

int lbls_cmp(lbls_t a, lbls_t b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a.l[i].name, b.l[i].name);
        if (c)
            return c;
        c = strcmp(a.l[i].value, b.l[i].value);
        if (c)
            return c;
    }
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

/* ------------------------------------------------------------ hash map */

int hmap_init(ev_t *ev, hmap_t *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    m->keys = ev_alloc(ev, cap * sizeof *m->keys);
    m->vals = ev_alloc(ev, cap * sizeof *m->vals);
    m->used = ev_alloc(ev, cap);
    m->cap = cap;
    m->n = 0;
    return (m->keys && m->vals && m->used) ? 0 : -1;
}

/* Returns the slot for key; *found tells whether it holds key already. */
static size_t hmap_slot(const hmap_t *m, uint64_t key, bool *found)
{
    size_t i = (size_t)(key ^ (key >> 31)) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) {
            *found = true;
            return i;
        }
        i = (i + 1) & (m->cap - 1);
    }
    *found = false;
    return i;
}

long hmap_get(const hmap_t *m, uint64_t key)
{
    bool f;
    size_t i = hmap_slot(m, key, &f);
    return f ? m->vals[i] : -1;
}

int hmap_put(ev_t *ev, hmap_t *m, uint64_t key, long val)
{
    if ((m->n + 1) * 2 > m->cap) {
        hmap_t nm;
        if (hmap_init(ev, &nm, m->cap) < 0)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->used[i])
                hmap_put(ev, &nm, m->keys[i], m->vals[i]);
        *m = nm;
    }
    bool f;
    size_t i = hmap_slot(m, key, &f);
    if (!f) {
        m->used[i] = 1;
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

bool vec_has_dup_labelsets(ev_t *ev, const vec_t *v)
{
    if (v->n < 2)
        return false;
    /* Vectors usually keep their selectors' label order: when strictly
     * increasing there is no duplicate, found in n - 1 comparisons. */
    size_t sorted = 1;
    while (sorted < v->n && lbls_cmp(v->s[sorted - 1].lb, v->s[sorted].lb) < 0)
        sorted++;
    if (sorted == v->n)
        return false;
    hmap_t m;
    if (hmap_init(ev, &m, v->n) < 0)
        return false;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t h = lbls_hash(v->s[i].lb);
        long j = hmap_get(&m, h);
        if (j >= 0 && lbls_cmp(v->s[j].lb, v->s[i].lb) == 0)
            return true;
        hmap_put(ev, &m, h, (long)i);
    }
    return false;
}

int check_dups(ev_t *ev, const vec_t *v)
{
    if (vec_has_dup_labelsets(ev, v)) {
        ev_fail(ev, "vector cannot contain metrics with the same labelset");
        return -1;
    }
    return ev->failed ? -1 : 0;
}

/* ------------------------------------------------------------ selectors */

static int64_t at_time(const ev_t *ev, promql_at_t at, int64_t at_ms, int64_t t)
{
    switch (at) {
    case AT_TS: return at_ms;
    case AT_START: return ev->start;
    case AT_END: return ev->end;
    default: return t;
    }
}

/* Prometheus 2.42 rewrites the offsets of @-modified selectors and
 * subqueries relative to an evaluator's start time, and recomputes them when
 * a subquery's evaluator starts elsewhere. When a subquery's aligned start
 * equals its parent's, it skips the recomputation and the offsets keep a
 * compensation for the enclosing subqueries: an @ time inside then reads
 * shifted by what this returns (0 in every other case). Reproduced so that
 * results match Prometheus's exactly. */
static int64_t at_shift(const ev_t *ev)
{
    int64_t off = 0;
    for (int i = 0; i < ev->chain_n; i++) {
        const promql_node_t *q = ev->chain[i];
        off += q->subq.offset;
        if (q->subq.at != AT_NONE)
            off = q->subq.offset + (ev->frame_start - at_time(ev, q->subq.at, q->subq.at_ms, 0));
    }
    return off;
}

typedef struct {
    ev_t *ev;
    int64_t ref, mint;
    bool range;
    vec_t *vec;
    mat_t *mat;
} selctx_t;

/* Index of the first sample with time >= t. Reads are nearly always near
 * the newest samples: the search gallops back from the end, so it touches
 * a few cache lines there instead of halving the whole array. */
static size_t lower_bound(const int64_t *ts, size_t n, int64_t t)
{
    size_t hi = n, back = 1;
    /* Every sample from hi on is >= t. */
    for (;;) {
        if (hi == 0 || ts[hi - 1] < t)
            return hi;
        if (back > hi)
            back = hi;
        if (ts[hi - back] < t)
            break;
        hi -= back;
        back *= 2;
    }
    /* The answer is in (hi - back, hi - 1]. */
    size_t lo = hi - back + 1;
    hi--;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int on_series(const mm_promql_series_view_t *sv, void *arg)
{
    selctx_t *c = arg;
    ev_t *ev = c->ev;
    lbls_t lb = {sv->labels, sv->n_labels};
    if (!c->range) {
        size_t i = lower_bound(sv->t, sv->n, c->ref + 1);
        if (i == 0)
            return 0;
        i--;
        if (sv->t[i] < c->mint || mm_is_stale_nan(sv->v[i]))
            return 0;
        if (ev->max_samples && ++ev->samples > ev->max_samples)
            goto limit;
        return vec_push(ev, c->vec, lb, sv->v[i], sv->t[i]);
    }
    size_t a = lower_bound(sv->t, sv->n, c->mint);
    size_t b = lower_bound(sv->t, sv->n, c->ref + 1);
    if (a >= b)
        return 0;
    ser_t s = {.lb = lb, .t = sv->t + a, .v = sv->v + a, .n = b - a};
    bool stale = false;
    for (size_t i = a; i < b; i++)
        if (mm_is_stale_nan(sv->v[i])) {
            stale = true;
            break;
        }
    if (stale) {
        /* Stale markers are not samples: copy the range without them. */
        int64_t *t = ev_alloc(ev, (b - a) * sizeof *t);
        double *v = ev_alloc(ev, (b - a) * sizeof *v);
        if (!t || !v)
            return -1;
        size_t n = 0;
        for (size_t i = a; i < b; i++)
            if (!mm_is_stale_nan(sv->v[i])) {
                t[n] = sv->t[i];
                v[n++] = sv->v[i];
            }
        if (n == 0)
            return 0;
        s.t = t;
        s.v = v;
        s.n = n;
    }
    if (ev->max_samples && (ev->samples += s.n) > ev->max_samples)
        goto limit;
    return mat_push(ev, c->mat, &s);
limit:
    ev->failed = true;
    ev->code = -MM_ELIMIT;
    snprintf(ev->msg, sizeof ev->msg, "query processing would load too many samples into memory in query execution");
    return -1;
}

static int cmp_smp(const void *a, const void *b)
{
    return lbls_cmp(((const smp_t *)a)->lb, ((const smp_t *)b)->lb);
}

static int cmp_ser(const void *a, const void *b)
{
    return lbls_cmp(((const ser_t *)a)->lb, ((const ser_t *)b)->lb);
}

/* Prometheus fetches an @ selector's samples for [@ - offset - span,
 * @ - offset] only (span: lookback or range); reads that the shifts above
 * move elsewhere see just that part. No effect on any other read. */
static void clip_to_fetched(const ev_t *ev, const promql_node_t *vs, int64_t span, selctx_t *c)
{
    if (vs->sel.at == AT_NONE)
        return;
    int64_t hi = at_time(ev, vs->sel.at, vs->sel.at_ms, 0) - vs->sel.offset;
    if (c->ref > hi)
        c->ref = hi;
    if (c->mint < hi - span)
        c->mint = hi - span;
}

/* Reads the selector's series through on_series. Returns 1 when they came
 * in label order (through the expression's selection cache), 0 when they
 * still need sorting, -1 on error. */
static int select_series(ev_t *ev, const promql_node_t *vs, selctx_t *c)
{
    int rc;
    if (ev->selcache) {
        rc = mm_promql_store_select_sorted(ev->store, vs->sel.m, vs->sel.n,
                                           &ev->selcache[vs->sel.sel_index], on_series, c);
        return rc ? -1 : 1;
    }
    rc = mm_promql_store_select(ev->store, vs->sel.m, vs->sel.n, on_series, c);
    return rc ? -1 : 0;
}

int eval_selector(ev_t *ev, const promql_node_t *vs, int64_t t, bool at_only, val_t *out)
{
    selctx_t c = {.ev = ev};
    c.ref = at_time(ev, vs->sel.at, vs->sel.at_ms, t) - vs->sel.offset;
    if (vs->sel.at != AT_NONE)
        c.ref = at_only ? at_time(ev, vs->sel.at, vs->sel.at_ms, t) : c.ref + at_shift(ev);
    c.mint = c.ref - ev->lookback;
    clip_to_fetched(ev, vs, ev->lookback, &c);
    c.vec = &out->vec;
    out->type = MM_PROMQL_VECTOR;
    memset(&out->vec, 0, sizeof out->vec);
    int rc = select_series(ev, vs, &c);
    if (rc < 0 || ev->failed)
        return -1;
    if (rc == 0 && out->vec.n > 1)
        qsort(out->vec.s, out->vec.n, sizeof *out->vec.s, cmp_smp);
    return 0;
}

static int eval_matrix_sel(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    const promql_node_t *vs = n->matrix.vs;
    selctx_t c = {.ev = ev, .range = true};
    c.ref = at_time(ev, vs->sel.at, vs->sel.at_ms, t) - vs->sel.offset;
    if (vs->sel.at != AT_NONE)
        c.ref += at_shift(ev) + ev->at_drift;
    c.mint = c.ref - n->matrix.range;
    c.mat = &out->mat;
    out->type = MM_PROMQL_MATRIX;
    memset(&out->mat, 0, sizeof out->mat);
    out->mstart = c.mint;
    out->mend = c.ref;
    out->mrange = n->matrix.range;
    clip_to_fetched(ev, vs, n->matrix.range, &c);
    int rc = select_series(ev, vs, &c);
    if (rc < 0 || ev->failed)
        return -1;
    if (rc == 0 && out->mat.n > 1)
        qsort(out->mat.s, out->mat.n, sizeof *out->mat.s, cmp_ser);
    return 0;
}

/* ------------------------------------------------------------ subqueries */

typedef struct {
    lbls_t lb;
    int64_t *t;
    double *v;
    size_t n, cap;
} acc_t;

static int eval_subquery(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    int64_t step = n->subq.step ? n->subq.step : ev->substep;
    bool at = n->subq.at != AT_NONE;
    int64_t shift = at ? at_shift(ev) : 0;
    /* The window the result is read in, and the (possibly shifted, see
     * at_shift) window the steps are evaluated in. */
    int64_t wend = at_time(ev, n->subq.at, n->subq.at_ms, t) - n->subq.offset;
    int64_t end = wend + shift;
    int64_t start = end - n->subq.range;
    /* Go's integer division truncates toward zero, as C's does. */
    int64_t first = step * (start / step);
    if (first < start)
        first += step;
    /* Where Prometheus's evaluator for this subquery starts: computed from
     * the parent frame's start, not from this step's time. */
    int64_t fend = at ? end : ev->frame_start - n->subq.offset;
    int64_t fstart = fend - n->subq.range;
    int64_t ffirst = step * (fstart / step);
    if (ffirst < fstart)
        ffirst += step;
    out->type = MM_PROMQL_MATRIX;
    memset(&out->mat, 0, sizeof out->mat);
    out->mstart = wend - n->subq.range;
    out->mend = wend;
    out->mrange = n->subq.range;
    hmap_t idx;
    if (hmap_init(ev, &idx, 16) < 0)
        return -1;
    acc_t *accs = NULL;
    size_t nacc = 0, capacc = 0;
    if (++ev->depth > 64) {
        ev_fail(ev, "subqueries nested too deeply");
        return -1;
    }
    int64_t saved_frame = ev->frame_start;
    int saved_chain = ev->chain_n;
    if (ffirst == ev->frame_start) {
        if (ev->chain_n < 64)
            ev->chain[ev->chain_n++] = n;   /* offsets not recomputed: keep the chain */
    } else {
        ev->chain_n = 0;                /* recomputed relative to the new start */
    }
    ev->frame_start = ffirst;
    for (int64_t ts = first; ts <= end; ts += step) {
        val_t in;
        if (eval_node(ev, n->subq.e, ts, &in) < 0)
            return -1;
        for (size_t i = 0; i < in.vec.n; i++) {
            const smp_t *s = &in.vec.s[i];
            uint64_t h = lbls_hash(s->lb);
            long k = hmap_get(&idx, h);
            if (k < 0) {
                if (nacc == capacc) {
                    size_t nc = capacc ? capacc * 2 : 8;
                    acc_t *na = ev_alloc(ev, nc * sizeof *na);
                    if (!na)
                        return -1;
                    if (nacc)
                        memcpy(na, accs, nacc * sizeof *na);
                    accs = na;
                    capacc = nc;
                }
                k = (long)nacc++;
                memset(&accs[k], 0, sizeof accs[k]);
                accs[k].lb = s->lb;
                if (hmap_put(ev, &idx, h, k) < 0)
                    return -1;
            }
            acc_t *a = &accs[k];
            if (a->n == a->cap) {
                size_t nc = a->cap ? a->cap * 2 : 16;
                int64_t *nt = ev_alloc(ev, nc * sizeof *nt);
                double *nv = ev_alloc(ev, nc * sizeof *nv);
                if (!nt || !nv)
                    return -1;
                if (a->n) {
                    memcpy(nt, a->t, a->n * sizeof *nt);
                    memcpy(nv, a->v, a->n * sizeof *nv);
                }
                a->t = nt;
                a->v = nv;
                a->cap = nc;
            }
            a->t[a->n] = ts;
            a->v[a->n++] = s->v;
        }
        /* Each step counts at least one toward the budget, so an empty
         * but huge subquery is bounded too. */
        if (ev->max_samples && (ev->samples += in.vec.n + 1) > ev->max_samples) {
            ev->failed = true;
            ev->code = -MM_ELIMIT;
            snprintf(ev->msg, sizeof ev->msg, "query processing would load too many samples into memory in query execution");
            return -1;
        }
        if (step <= 0)
            break;
    }
    ev->depth--;
    ev->frame_start = saved_frame;
    ev->chain_n = saved_chain;
    for (size_t i = 0; i < nacc; i++) {
        ser_t s = {.lb = accs[i].lb, .t = accs[i].t, .v = accs[i].v, .n = accs[i].n};
        if (shift) {
            /* Prometheus reads the shifted points through the unshifted window. */
            size_t a = 0;
            while (a < s.n && s.t[a] < out->mstart)
                a++;
            size_t b = a;
            while (b < s.n && s.t[b] <= out->mend)
                b++;
            s.t += a;
            s.v += a;
            s.n = b - a;
            if (s.n == 0)
                continue;
        }
        if (mat_push(ev, &out->mat, &s) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ binary ops */

/* Applies op; for comparisons *keep tells whether the pair passes and the
 * value is the left operand. */
static double binop(promql_tok_t op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case T_ADD: return l + r;
    case T_SUB: return l - r;
    case T_MUL: return l * r;
    case T_DIV: return l / r;
    case T_MOD: return fmod(l, r);   /* Go's math.Mod has the same results */
    case T_POW: return pow(l, r);
    case T_ATAN2: return atan2(l, r);
    case T_EQLC: *keep = l == r; return l;
    case T_NEQ: *keep = l != r; return l;
    case T_GTR: *keep = l > r; return l;
    case T_LSS: *keep = l < r; return l;
    case T_GTE: *keep = l >= r; return l;
    case T_LTE: *keep = l <= r; return l;
    default: return NAN;
    }
}

static bool drops_name(promql_tok_t op)
{
    return op == T_ADD || op == T_SUB || op == T_MUL || op == T_DIV || op == T_MOD ||
           op == T_POW;
}

/* Matching signature of a sample's labels. */
static uint64_t signature(lbls_t lb, const promql_node_t *n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < lb.n; i++) {
        const char *name = lb.l[i].name;
        if (n->bin.on) {
            if (!in_list(&n->bin.match, name))
                continue;
        } else if (strcmp(name, "__name__") == 0 || in_list(&n->bin.match, name)) {
            continue;
        }
        h = hash_mix(h, name);
        h = hash_mix(h, lb.l[i].value);
    }
    return h;
}

static void match_labels_str(lbls_t lb, const promql_node_t *n, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{");
    bool first = true;
    for (size_t i = 0; i < lb.n && o < cap; i++) {
        const char *name = lb.l[i].name;
        bool in = in_list(&n->bin.match, name);
        if (n->bin.on ? !in : (in || strcmp(name, "__name__") == 0))
            continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s=\"%s\"", first ? "" : ", ", name, lb.l[i].value);
        first = false;
    }
    if (o < cap)
        snprintf(buf + o, cap - o, "}");
}

void lbls_str(lbls_t lb, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{");
    for (size_t i = 0; i < lb.n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s=\"%s\"", i ? ", " : "", lb.l[i].name, lb.l[i].value);
    if (o < cap)
        snprintf(buf + o, cap - o, "}");
}

static int vector_binop(ev_t *ev, const promql_node_t *n, vec_t *lhs, vec_t *rhs, int64_t t, val_t *out)
{
    promql_tok_t op = n->bin.op;
    out->type = MM_PROMQL_VECTOR;
    memset(&out->vec, 0, sizeof out->vec);
    if (n->bin.card == 3) {
        hmap_t sigs;
        if (hmap_init(ev, &sigs, rhs->n + lhs->n) < 0)
            return -1;
        if (op == T_LAND || op == T_LUNLESS) {
            for (size_t i = 0; i < rhs->n; i++)
                hmap_put(ev, &sigs, signature(rhs->s[i].lb, n), 1);
            for (size_t i = 0; i < lhs->n; i++) {
                bool found = hmap_get(&sigs, signature(lhs->s[i].lb, n)) >= 0;
                if (found == (op == T_LAND) &&
                    vec_push(ev, &out->vec, lhs->s[i].lb, lhs->s[i].v, t) < 0)
                    return -1;
            }
        } else {
            for (size_t i = 0; i < lhs->n; i++) {
                hmap_put(ev, &sigs, signature(lhs->s[i].lb, n), 1);
                if (vec_push(ev, &out->vec, lhs->s[i].lb, lhs->s[i].v, t) < 0)
                    return -1;
            }
            for (size_t i = 0; i < rhs->n; i++)
                if (hmap_get(&sigs, signature(rhs->s[i].lb, n)) < 0 &&
                    vec_push(ev, &out->vec, rhs->s[i].lb, rhs->s[i].v, t) < 0)
                    return -1;
        }
        return ev->failed ? -1 : 0;
    }
    /* Nothing can match an empty side; Prometheus returns before looking
     * for duplicates, so no many-to-many error either. */
    if (lhs->n == 0 || rhs->n == 0)
        return 0;
    /* One-to-one or many-to-one; one-to-many is many-to-one with the
     * sides swapped. */
    bool swap = n->bin.card == 2;
    vec_t *many = swap ? rhs : lhs, *one = swap ? lhs : rhs;
    hmap_t right;
    if (hmap_init(ev, &right, one->n) < 0)
        return -1;
    for (size_t i = 0; i < one->n; i++) {
        uint64_t sig = signature(one->s[i].lb, n);
        long j = hmap_get(&right, sig);
        if (j >= 0) {
            char ml[200], a[300], b[300];
            match_labels_str(one->s[i].lb, n, ml, sizeof ml);
            lbls_str(one->s[i].lb, a, sizeof a);
            lbls_str(one->s[j].lb, b, sizeof b);
            ev_fail(ev, "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
                    ml, swap ? "left" : "right", a, b);
            return -1;
        }
        hmap_put(ev, &right, sig, (long)i);
    }
    hmap_t matched;     /* signature -> 1 (one-to-one) */
    hmap_t inserted;    /* hash(sig, result labels) for many-to-one */
    if (hmap_init(ev, &matched, many->n) < 0 || hmap_init(ev, &inserted, many->n) < 0)
        return -1;
    for (size_t i = 0; i < many->n; i++) {
        const smp_t *ls = &many->s[i];
        uint64_t sig = signature(ls->lb, n);
        long j = hmap_get(&right, sig);
        if (j < 0)
            continue;
        const smp_t *rs = &one->s[j];
        double vl = ls->v, vr = rs->v;
        if (swap) {
            double x = vl;
            vl = vr;
            vr = x;
        }
        bool keep;
        double value = binop(op, vl, vr, &keep);
        if (n->bin.ret_bool) {
            value = keep ? 1.0 : 0.0;
        } else if (!keep) {
            continue;
        }
        /* Result labels come from the "many" side. */
        lbls_t lb = ls->lb;
        if (drops_name(op))
            lb = lbls_drop_name(ev, lb);
        if (n->bin.card == 0)
            lb = lbls_filter(ev, lb, &n->bin.match, n->bin.on, false);
        for (size_t k = 0; k < n->bin.include.n; k++) {
            const char *ln = n->bin.include.labels[k];
            lb = lbls_set(ev, lb, ln, lbls_get(rs->lb, ln));
        }
        if (n->bin.ret_bool)
            lb = lbls_drop_name(ev, lb);
        if (n->bin.card == 0) {
            if (hmap_get(&matched, sig) >= 0) {
                ev_fail(ev, "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
                return -1;
            }
            hmap_put(ev, &matched, sig, 1);
        } else {
            uint64_t ins = lbls_hash(lb) * 31 + sig;
            if (hmap_get(&inserted, ins) >= 0) {
                ev_fail(ev, "multiple matches for matching labels; many-to-one matching must be explicit (group_left/group_right)");
                return -1;
            }
            hmap_put(ev, &inserted, ins, 1);
        }
        if (vec_push(ev, &out->vec, lb, value, t) < 0)
            return -1;
    }
    return ev->failed ? -1 : 0;
}

static int eval_binary(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    val_t l, r;
    if (eval_node(ev, n->bin.l, t, &l) < 0 || eval_node(ev, n->bin.r, t, &r) < 0)
        return -1;
    promql_tok_t op = n->bin.op;
    if (l.type == MM_PROMQL_SCALAR && r.type == MM_PROMQL_SCALAR) {
        bool keep;
        double v = binop(op, l.f, r.f, &keep);
        if (n->bin.ret_bool)
            v = keep ? 1.0 : 0.0;
        out->type = MM_PROMQL_SCALAR;
        out->f = v;
        return 0;
    }
    if (l.type == MM_PROMQL_VECTOR && r.type == MM_PROMQL_VECTOR) {
        if (vector_binop(ev, n, &l.vec, &r.vec, t, out) < 0)
            return -1;
        return promql_is_setop(op) ? 0 : check_dups(ev, &out->vec);
    }
    /* Vector and scalar. */
    bool swap = l.type == MM_PROMQL_SCALAR;
    vec_t *v = swap ? &r.vec : &l.vec;
    double sc = swap ? l.f : r.f;
    out->type = MM_PROMQL_VECTOR;
    memset(&out->vec, 0, sizeof out->vec);
    for (size_t i = 0; i < v->n; i++) {
        double lv = v->s[i].v, rv = sc;
        if (swap) {
            lv = sc;
            rv = v->s[i].v;
        }
        bool keep;
        double value = binop(op, lv, rv, &keep);
        if (promql_is_comparison(op) && swap)
            value = rv;
        if (n->bin.ret_bool) {
            value = keep ? 1.0 : 0.0;
            keep = true;
        }
        if (!keep)
            continue;
        lbls_t lb = v->s[i].lb;
        if (drops_name(op) || n->bin.ret_bool)
            lb = lbls_drop_name(ev, lb);
        if (vec_push(ev, &out->vec, lb, value, t) < 0)
            return -1;
    }
    return check_dups(ev, &out->vec);
}

/* ------------------------------------------------------------ dispatch */

int eval_node(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out)
{
    memset(out, 0, sizeof *out);
    if (ev->failed)
        return -1;
    switch (n->kind) {
    case N_NUM:
        out->type = MM_PROMQL_SCALAR;
        out->f = n->num;
        return 0;
    case N_STR:
        out->type = MM_PROMQL_STRING;
        out->str = n->str;
        return 0;
    case N_PAREN:
        return eval_node(ev, n->paren.e, t, out);
    case N_SEL: {
        if (eval_selector(ev, n, t, false, out) < 0)
            return -1;
        return 0;
    }
    case N_MATRIX:
        return eval_matrix_sel(ev, n, t, out);
    case N_SUBQ:
        return eval_subquery(ev, n, t, out);
    case N_UNARY: {
        if (eval_node(ev, n->unary.e, t, out) < 0)
            return -1;
        if (n->unary.op != T_SUB)
            return 0;
        if (out->type == MM_PROMQL_SCALAR) {
            out->f = -out->f;
            return 0;
        }
        vec_t v = {0};
        for (size_t i = 0; i < out->vec.n; i++)
            if (vec_push(ev, &v, lbls_drop_name(ev, out->vec.s[i].lb), -out->vec.s[i].v, t) < 0)
                return -1;
        out->vec = v;
        return check_dups(ev, &out->vec);
    }
    case N_BIN:
        return eval_binary(ev, n, t, out);
    case N_CALL:
        return eval_call(ev, n, t, out);
    case N_AGG:
        return eval_aggregation(ev, n, t, out);
    }
    return -1;
}

/* ------------------------------------------------------------ API */

/* Copies a label set into the arena so a result outlives the expression
 * and the store it came from. */
static mm_label_t *copy_labels(promql_arena_t *a, lbls_t lb, bool borrow)
{
    static mm_label_t none[1];
    if (borrow)
        return lb.l ? lb.l : none;
    mm_label_t *l = promql_arena_alloc(a, (lb.n ? lb.n : 1) * sizeof *l);
    if (!l)
        return NULL;
    for (size_t i = 0; i < lb.n; i++) {
        l[i].name = promql_arena_strndup(a, lb.l[i].name, strlen(lb.l[i].name));
        l[i].value = promql_arena_strndup(a, lb.l[i].value, strlen(lb.l[i].value));
        if (!l[i].name || !l[i].value)
            return NULL;
    }
    return l;
}

int mm_promql_eval(const mm_promql_expr_t *e, const mm_promql_store_t *store, int64_t t_ms,
                   const mm_promql_opts_t *opts, mm_promql_result_t **ret_result,
                   mm_promql_error_t *err)
{
    mm_promql_error_t dummy;
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    *ret_result = NULL;
    ev_t ev = {.store = store, .start = t_ms, .end = t_ms, .frame_start = t_ms};
    /* Each selector's matching series are remembered in the expression
     * between evaluations (hence one thread at a time per expression). */
    mm_promql_expr_t *mut = (mm_promql_expr_t *)e;
    if (!mut->selcache && e->n_sels)
        mut->selcache = calloc(e->n_sels, sizeof *mut->selcache);
    ev.selcache = mut->selcache;
    ev.lookback = opts && opts->lookback_ms > 0 ? opts->lookback_ms : 300000;
    ev.substep = opts && opts->subquery_step_ms > 0 ? opts->subquery_step_ms : 60000;
    ev.max_samples = opts ? opts->max_samples : 0;
    ev.a = promql_arena_new();
    if (!ev.a)
        return -ENOMEM;
    mm_promql_result_t *r = promql_arena_alloc(ev.a, sizeof *r);
    if (!r) {
        promql_arena_free(ev.a);
        return -ENOMEM;
    }
    val_t v;
    if (eval_node(&ev, e->root, t_ms, &v) < 0 || ev.failed) {
        snprintf(err->msg, sizeof err->msg, "%s", ev.msg[0] ? ev.msg : "evaluation failed");
        promql_arena_free(ev.a);
        return ev.code ? ev.code : -EINVAL;
    }
    r->arena = ev.a;
    r->type = v.type;
    bool borrow = opts && opts->borrow_labels;
    switch (v.type) {
    case MM_PROMQL_SCALAR:
        r->scalar = v.f;
        break;
    case MM_PROMQL_STRING:
        r->string = promql_arena_strndup(ev.a, v.str, strlen(v.str));
        if (!r->string)
            goto oom;
        break;
    case MM_PROMQL_VECTOR:
        r->samples = promql_arena_alloc(ev.a, (v.vec.n ? v.vec.n : 1) * sizeof *r->samples);
        if (!r->samples)
            goto oom;
        for (size_t i = 0; i < v.vec.n; i++) {
            r->samples[i].labels = copy_labels(ev.a, v.vec.s[i].lb, borrow);
            if (!r->samples[i].labels)
                goto oom;
            r->samples[i].n_labels = v.vec.s[i].lb.n;
            r->samples[i].v = v.vec.s[i].v;
            r->samples[i].t = t_ms;
        }
        r->n_samples = v.vec.n;
        break;
    case MM_PROMQL_MATRIX:
        r->series = promql_arena_alloc(ev.a, (v.mat.n ? v.mat.n : 1) * sizeof *r->series);
        if (!r->series)
            goto oom;
        for (size_t i = 0; i < v.mat.n; i++) {
            mm_promql_series_t *s = &r->series[i];
            s->labels = copy_labels(ev.a, v.mat.s[i].lb, borrow);
            if (!s->labels)
                goto oom;
            s->n_labels = v.mat.s[i].lb.n;
            s->points = promql_arena_alloc(ev.a, (v.mat.s[i].n ? v.mat.s[i].n : 1) * sizeof *s->points);
            if (!s->points)
                goto oom;
            for (size_t k = 0; k < v.mat.s[i].n; k++) {
                s->points[k].t = v.mat.s[i].t[k];
                s->points[k].v = v.mat.s[i].v[k];
            }
            s->n_points = v.mat.s[i].n;
        }
        r->n_series = v.mat.n;
        break;
    default:
        break;
    }
    *ret_result = r;
    return 0;
oom:
    promql_arena_free(ev.a);
    return -ENOMEM;
}

void mm_promql_result_free(mm_promql_result_t *r)
{
    if (!r)
        return;
    /* The result struct itself lives in its arena. */
    promql_arena_free(r->arena);
}
