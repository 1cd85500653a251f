/* Group evaluation with Prometheus 2.42's semantics (rules/group.go,
 * alerting.go, recording.go, with keep_firing_for as later releases have
 * it): rules run in order at one timestamp, each one's output is written to
 * the store before the next runs, alert states move inactive -> pending ->
 * firing -> resolved, and series no longer returned get stale markers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "rules_internal.h"

/* A label set under construction: borrowed strings, set/delete by name. */
typedef struct {
    mm_label_t *l;
    size_t n, cap;
} lb_t;

static int lb_set(lb_t *b, const char *name, const char *value)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->l[i].name, name) == 0) {
            if (!value || !*value)
                b->l[i] = b->l[--b->n];
            else
                b->l[i].value = value;
            return 0;
        }
    if (!value || !*value)
        return 0;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        mm_label_t *nl = realloc(b->l, cap * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        b->l = nl;
        b->cap = cap;
    }
    b->l[b->n].name = name;
    b->l[b->n].value = value;
    b->n++;
    return 0;
}

static int lb_from(lb_t *b, const mm_label_t *l, size_t n, bool drop_name)
{
    b->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop_name && strcmp(l[i].name, "__name__") == 0)
            continue;
        if (lb_set(b, l[i].name, l[i].value) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void set_error(mm_rules_rule_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(mm_rules_rule_t *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->last_error);
    r->last_error = strdup(msg);
}

static void clear_error(mm_rules_rule_t *r)
{
    free(r->last_error);
    r->last_error = NULL;
}

static mm_promql_opts_t eval_opts(const mm_rules_t *rs)
{
    mm_promql_opts_t o = {
        .lookback_ms = rs->lookback,
        .subquery_step_ms = rs->substep,
        .max_samples = rs->max_samples,
        /* Results are read (their labels copied where kept) before the
         * store is next written. */
        .borrow_labels = true,
    };
    return o;
}

/* Runs the rule's query; a scalar becomes one sample without labels, as
 * Prometheus's EngineQueryFunc does. */
static int run_query(mm_rules_rule_t *r, const mm_promql_store_t *store, int64_t t,
                     mm_promql_result_t **ret)
{
    mm_promql_opts_t o = eval_opts(r->g->rs);
    mm_promql_error_t err;
    memset(&err, 0, sizeof err);
    int rc = mm_promql_eval(r->expr, store, t, &o, ret, &err);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        set_error(r, "%s", err.msg[0] ? err.msg : mm_strerror(rc));
        return -EINVAL;
    }
    if ((*ret)->type != MM_PROMQL_VECTOR && (*ret)->type != MM_PROMQL_SCALAR) {
        mm_promql_result_free(*ret);
        *ret = NULL;
        set_error(r, "rule result is not a vector or scalar");
        return -EINVAL;
    }
    return 0;
}

/* The template engine's `query`: an instant query through our engine. */
typedef struct {
    const mm_promql_store_t *store;
    const mm_rules_t *rs;
} qctx_t;

static int on_query(void *user, const char *query, int64_t time_ms, mm_tmpl_result_t *res,
                    char *errbuf, size_t errcap)
{
    qctx_t *q = user;
    mm_promql_expr_t *e = NULL;
    mm_promql_result_t *out = NULL;
    mm_promql_error_t err;
    memset(&err, 0, sizeof err);
    int rc = mm_promql_parse(query, strlen(query), &e, &err);
    if (rc < 0) {
        snprintf(errbuf, errcap, "%s", err.msg);
        return rc;
    }
    mm_promql_opts_t o = eval_opts(q->rs);
    rc = mm_promql_eval(e, q->store, time_ms, &o, &out, &err);
    if (rc < 0) {
        snprintf(errbuf, errcap, "%s", err.msg[0] ? err.msg : mm_strerror(rc));
        goto out;
    }
    if (out->type == MM_PROMQL_SCALAR) {
        rc = mm_tmpl_result_add(res, NULL, 0, out->scalar);
    } else if (out->type == MM_PROMQL_VECTOR) {
        for (size_t i = 0; i < out->n_samples && rc == 0; i++)
            rc = mm_tmpl_result_add(res, out->samples[i].labels, out->samples[i].n_labels,
                                    out->samples[i].v);
    } else {
        snprintf(errbuf, errcap, "rule result is not a vector or scalar");
        rc = -EINVAL;
    }
out:
    mm_promql_result_free(out);
    mm_promql_expr_free(e);
    return rc;
}

/* Expands one label or annotation: the literal text when it has no action,
 * else the template's output or Prometheus's error text. */
static int expand(const mm_rules_rule_t *r, const mm_tmpl_t *t, const char *text,
                  const mm_tmpl_data_t *data, mm_tmpl_buf_t *out)
{
    out->len = 0;
    if (!t)
        return rules_buf_add(out, text, strlen(text));
    mm_tmpl_err_t err;
    memset(&err, 0, sizeof err);
    int rc = mm_tmpl_exec(t, data, out, &err);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        out->len = 0;
        (void)r;
        return mm_tmpl_format_error(mm_tmpl_name(t), &err, out);
    }
    return rules_buf_add(out, "", 0);
}

static int cmp_alert(const void *a, const void *b)
{
    const mm_rules_alert_t *x = a, *y = b;
    return rules_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static void alert_fini(mm_rules_alert_t *a)
{
    rules_labels_free(a->labels, a->n_labels);
    rules_labels_free(a->annotations, a->n_annotations);
    memset(a, 0, sizeof *a);
}

/* Builds the alerts an evaluation's result describes (labels templated,
 * alertname set, annotations expanded), sorted by labels. A duplicate label
 * set is Prometheus's evaluation error. */
static int build_alerts(mm_rules_rule_t *r, const mm_promql_store_t *store, int64_t t,
                        const mm_promql_result_t *res, mm_rules_alert_t **ret, size_t *ret_n)
{
    const mm_rules_t *rs = r->g->rs;
    size_t n = res->type == MM_PROMQL_SCALAR ? 1 : res->n_samples;
    mm_rules_alert_t *al = calloc(n ? n : 1, sizeof *al);
    mm_tmpl_buf_t *vals = calloc(r->n_labels ? r->n_labels : 1, sizeof *vals);
    mm_tmpl_buf_t *anns = calloc(r->n_ann ? r->n_ann : 1, sizeof *anns);
    mm_label_t *annl = calloc(r->n_ann ? r->n_ann : 1, sizeof *annl);
    lb_t b = {0};
    qctx_t q = {.store = store, .rs = rs};
    int rc = -ENOMEM;
    size_t k = 0;
    if (!al || !vals || !anns || !annl)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const mm_label_t *sl = NULL;
        size_t sn = 0;
        double v = res->scalar;
        if (res->type == MM_PROMQL_VECTOR) {
            sl = res->samples[i].labels;
            sn = res->samples[i].n_labels;
            v = res->samples[i].v;
        }
        mm_tmpl_data_t d = {
            .labels = sl, .nlabels = sn,
            .external_labels = rs->ext, .nexternal_labels = rs->n_ext,
            .external_url = rs->ext_url, .value = v, .time_ms = t,
            .query = on_query, .query_user = &q,
        };
        if (lb_from(&b, sl, sn, true) < 0)
            goto out;
        for (size_t j = 0; j < r->n_labels; j++) {
            if (expand(r, r->label_tmpl ? r->label_tmpl[j] : NULL, r->labels[j].value, &d,
                       &vals[j]) < 0)
                goto out;
        }
        for (size_t j = 0; j < r->n_labels; j++)
            if (lb_set(&b, r->labels[j].name, vals[j].data ? vals[j].data : "") < 0)
                goto out;
        if (lb_set(&b, "alertname", r->name) < 0)
            goto out;
        mm_labels_sort(b.l, b.n);
        mm_rules_alert_t *a = &al[k];
        if (rules_labels_dup(b.l, b.n, &a->labels) < 0)
            goto out;
        a->n_labels = b.n;
        k++;
        a->fp = mm_labels_fingerprint(NULL, a->labels, a->n_labels);
        a->value = v;
        a->state = MM_RULES_PENDING;
        a->active_at = t;
        if (r->n_ann) {
            for (size_t j = 0; j < r->n_ann; j++) {
                if (expand(r, r->ann_tmpl ? r->ann_tmpl[j] : NULL, r->ann[j].value, &d,
                           &anns[j]) < 0)
                    goto out;
                annl[j].name = r->ann[j].name;
                annl[j].value = anns[j].data ? anns[j].data : "";
            }
            if (rules_labels_dup(annl, r->n_ann, &a->annotations) < 0)
                goto out;
            a->n_annotations = r->n_ann;
        }
    }
    /* Results are often sorted already (selectors return sorted series). */
    size_t sorted = 1;
    while (sorted < k && cmp_alert(&al[sorted - 1], &al[sorted]) < 0)
        sorted++;
    if (sorted < k)
        qsort(al, k, sizeof *al, cmp_alert);
    for (size_t i = 1; i < k; i++)
        if (cmp_alert(&al[i - 1], &al[i]) == 0) {
            set_error(r, "vector contains metrics with the same labelset after applying alert "
                         "labels");
            rc = -EINVAL;
            goto out;
        }
    *ret = al;
    *ret_n = k;
    al = NULL;
    k = 0;
    rc = 0;
out:
    if (al) {
        for (size_t i = 0; i < k; i++)
            alert_fini(&al[i]);
        free(al);
    }
    for (size_t j = 0; vals && j < r->n_labels; j++)
        mm_tmpl_buf_fini(&vals[j]);
    free(vals);
    for (size_t j = 0; anns && j < r->n_ann; j++)
        mm_tmpl_buf_fini(&anns[j]);
    free(anns);
    free(annl);
    free(b.l);
    return rc;
}

static mm_rules_alert_t *find_alert(mm_rules_rule_t *r, const mm_rules_alert_t *key)
{
    if (r->n_alerts == 0)
        return NULL;
    return bsearch(key, r->alerts, r->n_alerts, sizeof *r->alerts, cmp_alert);
}

static int add_alert(mm_rules_rule_t *r, mm_rules_alert_t *a)
{
    if (r->n_alerts == r->cap_alerts) {
        size_t cap = r->cap_alerts ? r->cap_alerts * 2 : 8;
        mm_rules_alert_t *na = realloc(r->alerts, cap * sizeof *na);
        if (!na)
            return -ENOMEM;
        r->alerts = na;
        r->cap_alerts = cap;
    }
    size_t i = r->n_alerts;
    while (i > 0 && cmp_alert(&r->alerts[i - 1], a) > 0)
        i--;
    memmove(&r->alerts[i + 1], &r->alerts[i], (r->n_alerts - i) * sizeof *a);
    r->alerts[i] = *a;
    r->n_alerts++;
    memset(a, 0, sizeof *a);
    return 0;
}

/* An output sample of a rule: its labels (owned; NULL when ref names the
 * series already), its store series when known, and a value. */
typedef struct {
    mm_label_t *l;
    size_t n;
    mm_promql_ref_t ref;
    double v;
} out_t;

typedef struct {
    out_t *s;
    size_t n, cap;
} outv_t;

static void outv_fini(outv_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        rules_labels_free(o->s[i].l, o->s[i].n);
    free(o->s);
    memset(o, 0, sizeof *o);
}

static out_t *outv_next(outv_t *o)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        out_t *ns = realloc(o->s, cap * sizeof *ns);
        if (!ns)
            return NULL;
        o->s = ns;
        o->cap = cap;
    }
    out_t *s = &o->s[o->n];
    memset(s, 0, sizeof *s);
    return s;
}

static int outv_add(outv_t *o, lb_t *b, double v)
{
    out_t *s = outv_next(o);
    if (!s)
        return -ENOMEM;
    mm_labels_sort(b->l, b->n);
    if (rules_labels_dup(b->l, b->n, &s->l) < 0)
        return -ENOMEM;
    s->n = b->n;
    s->v = v;
    o->n++;
    return 0;
}

static int outv_add_ref(outv_t *o, mm_promql_ref_t ref, double v)
{
    out_t *s = outv_next(o);
    if (!s)
        return -ENOMEM;
    s->ref = ref;
    s->v = v;
    o->n++;
    return 0;
}

/* Resolves the store series of an output that has labels only; the series
 * is created (without samples) when new. Labels the store refuses leave the
 * reference invalid: such an output is written by labels and fails there,
 * as any append of it would. */
static int out_resolve(mm_promql_store_t *store, out_t *s)
{
    if (mm_promql_store_ref_valid(store, s->ref))
        return 0;
    memset(&s->ref, 0, sizeof s->ref);
    int rc = mm_promql_store_ref(store, s->l, s->n, &s->ref);
    return rc == -ENOMEM ? rc : 0;
}

/* Appends one alert's ALERTS and ALERTS_FOR_STATE samples. The alert
 * remembers their series, so later rounds skip building their labels. */
static int alert_samples(const mm_rules_rule_t *r, mm_rules_alert_t *a,
                         mm_promql_store_t *store, outv_t *o)
{
    double for_state = (double)(a->active_at / 1000);
    if (a->ref_state == a->state && mm_promql_store_ref_valid(store, a->ref_alerts) &&
        mm_promql_store_ref_valid(store, a->ref_for_state))
        return outv_add_ref(o, a->ref_alerts, 1) < 0 || outv_add_ref(o, a->ref_for_state, for_state) < 0
                   ? -ENOMEM : 0;
    lb_t b = {0};
    int rc = -ENOMEM;
    /* Rule labels first (as Prometheus's sample() does), then the alert's. */
    for (size_t i = 0; i < r->n_labels; i++)
        if (lb_set(&b, r->labels[i].name, r->labels[i].value) < 0)
            goto out;
    for (size_t i = 0; i < a->n_labels; i++)
        if (lb_set(&b, a->labels[i].name, a->labels[i].value) < 0)
            goto out;
    if (lb_set(&b, "__name__", "ALERTS") < 0 ||
        lb_set(&b, "alertstate", a->state == MM_RULES_FIRING ? "firing" : "pending") < 0 ||
        outv_add(o, &b, 1) < 0)
        goto out;
    if (lb_from(&b, a->labels, a->n_labels, false) < 0 ||
        lb_set(&b, "__name__", "ALERTS_FOR_STATE") < 0 ||
        outv_add(o, &b, for_state) < 0)
        goto out;
    out_t *x = &o->s[o->n - 2], *y = &o->s[o->n - 1];
    if (out_resolve(store, x) < 0 || out_resolve(store, y) < 0)
        goto out;
    a->ref_alerts = x->ref;
    a->ref_for_state = y->ref;
    a->ref_state = a->state;
    rc = 0;
out:
    free(b.l);
    return rc;
}

/* Runs an alerting rule's query at t and turns the result into its alerts
 * (sorted), as both the scheduled and the extra evaluations need. */
static int query_alerts(mm_rules_rule_t *r, mm_promql_store_t *store, int64_t t,
                        mm_rules_alert_t **al, size_t *n)
{
    mm_promql_result_t *res = NULL;
    int rc = run_query(r, store, t, &res);
    if (rc < 0)
        return rc;
    rc = build_alerts(r, store, t, res, al, n);
    mm_promql_result_free(res);
    return rc;
}

static int eval_alerting(mm_rules_rule_t *r, mm_promql_store_t *store, int64_t t,
                         outv_t *o)
{
    mm_rules_alert_t *al = NULL;
    size_t n = 0;
    int rc = query_alerts(r, store, t, &al, &n);
    if (rc < 0)
        return rc;
    /* Merge the two sorted lists: an active alert keeps its labels and
     * times, takes the new value and annotations; a new (or resolved) one
     * starts pending at t. present[] marks the alerts the result holds. */
    size_t cap = r->n_alerts + n;
    mm_rules_alert_t *merged = calloc(cap ? cap : 1, sizeof *merged);
    bool *present = calloc(cap ? cap : 1, sizeof *present);
    if (!merged || !present) {
        free(merged);
        rc = -ENOMEM;
        goto out;
    }
    size_t oi = 0, j = 0, m = 0;
    while (oi < r->n_alerts || j < n) {
        int c = oi == r->n_alerts ? 1 : j == n ? -1 : cmp_alert(&r->alerts[oi], &al[j]);
        if (c < 0) {
            merged[m++] = r->alerts[oi++];
            continue;
        }
        present[m] = true;
        if (c > 0) {
            merged[m++] = al[j];
            memset(&al[j++], 0, sizeof al[0]);
            continue;
        }
        mm_rules_alert_t *cur = &r->alerts[oi++];
        if (cur->state != MM_RULES_INACTIVE) {
            cur->value = al[j].value;
            rules_labels_free(cur->annotations, cur->n_annotations);
            cur->annotations = al[j].annotations;
            cur->n_annotations = al[j].n_annotations;
            al[j].annotations = NULL;
            al[j].n_annotations = 0;
        } else {
            alert_fini(cur);
            *cur = al[j];
            memset(&al[j], 0, sizeof al[0]);
        }
        j++;
        merged[m++] = *cur;
    }
    free(r->alerts);
    r->alerts = merged;
    r->n_alerts = m;
    r->cap_alerts = cap ? cap : 1;
    size_t num_active = 0, w = 0;
    for (size_t i = 0; i < r->n_alerts; i++) {
        mm_rules_alert_t *a = &r->alerts[i];
        bool keep = true, emit = true;
        if (!present[i]) {
            bool keep_firing = false;
            if (a->state == MM_RULES_FIRING && r->keep_ms > 0) {
                if (a->keep_firing_since == 0)
                    a->keep_firing_since = t;
                if (t - a->keep_firing_since < r->keep_ms)
                    keep_firing = true;
            }
            if (a->state == MM_RULES_PENDING ||
                (a->resolved_at != 0 && t - a->resolved_at > MM_RULES_RESOLVED_RETENTION_MS))
                keep = false;
            if (a->state != MM_RULES_INACTIVE && !keep_firing) {
                a->state = MM_RULES_INACTIVE;
                a->resolved_at = t;
            }
            if (!keep_firing)
                emit = false;
        } else {
            a->keep_firing_since = 0;
        }
        if (emit) {
            num_active++;
            if (a->state == MM_RULES_PENDING && t - a->active_at >= r->for_ms) {
                a->state = MM_RULES_FIRING;
                a->fired_at = t;
            }
            if ((rc = alert_samples(r, a, store, o)) < 0)
                goto out;
        }
        if (keep)
            r->alerts[w++] = *a;
        else
            alert_fini(a);
    }
    r->n_alerts = w;
    if (r->cap_alerts > w + w / 4 + 8) {
        mm_rules_alert_t *na = realloc(r->alerts, (w ? w : 1) * sizeof *na);
        if (na) {
            r->alerts = na;
            r->cap_alerts = w ? w : 1;
        }
    }
    if (r->g->limit > 0 && num_active > (size_t)r->g->limit) {
        rules_alerts_clear(r);
        outv_fini(o);
        set_error(r, "exceeded limit of %ld with %zu alerts", r->g->limit, num_active);
        rc = -EINVAL;
        goto out;
    }
    rc = 0;
out:
    free(present);
    for (size_t i = 0; i < n; i++)
        alert_fini(&al[i]);
    free(al);
    return rc;
}

static int cmp_out(const void *a, const void *b)
{
    const out_t *x = a, *y = b;
    return rules_labels_cmp(x->l, x->n, y->l, y->n);
}

static int eval_recording(mm_rules_rule_t *r, const mm_promql_store_t *store, int64_t t,
                          outv_t *o)
{
    mm_promql_result_t *res = NULL;
    int rc = run_query(r, store, t, &res);
    if (rc < 0)
        return rc;
    lb_t b = {0};
    size_t n = res->type == MM_PROMQL_SCALAR ? 1 : res->n_samples;
    for (size_t i = 0; i < n; i++) {
        const mm_label_t *sl = NULL;
        size_t sn = 0;
        double v = res->scalar;
        if (res->type == MM_PROMQL_VECTOR) {
            sl = res->samples[i].labels;
            sn = res->samples[i].n_labels;
            v = res->samples[i].v;
        }
        rc = -ENOMEM;
        if (lb_from(&b, sl, sn, false) < 0 || lb_set(&b, "__name__", r->name) < 0)
            goto out;
        for (size_t j = 0; j < r->n_labels; j++)
            if (lb_set(&b, r->labels[j].name, r->labels[j].value) < 0)
                goto out;
        if (outv_add(o, &b, v) < 0)
            goto out;
    }
    if (o->n)
        qsort(o->s, o->n, sizeof *o->s, cmp_out);
    for (size_t i = 1; i < o->n; i++)
        if (cmp_out(&o->s[i - 1], &o->s[i]) == 0) {
            set_error(r, "vector contains metrics with the same labelset after applying rule "
                         "labels");
            rc = -EINVAL;
            goto out;
        }
    if (r->g->limit > 0 && o->n > (size_t)r->g->limit) {
        set_error(r, "exceeded limit of %ld with %zu series", r->g->limit, o->n);
        rc = -EINVAL;
        goto out;
    }
    rc = 0;
out:
    free(b.l);
    mm_promql_result_free(res);
    return rc;
}

static uint32_t lset_key(const rules_lset_t *e)
{
    return e->ref.gen ? e->ref.id : UINT32_MAX;
}

static int cmp_lset(const void *a, const void *b)
{
    uint32_t x = lset_key(a), y = lset_key(b);
    return x < y ? -1 : x > y;
}

/* Index of an entry of prev (sorted by lset_key) not yet taken whose
 * series is id, or -1. */
static long prev_find(const rules_lset_t *prev, size_t n, const bool *taken, uint32_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (lset_key(&prev[mid]) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && lset_key(&prev[lo]) == id; lo++)
        if (!taken[lo])
            return (long)lo;
    return -1;
}

/* Writes the output at t, stale markers for what the last evaluation wrote
 * and this one did not, and remembers this output for the next time. Series
 * are compared through their store references; labels only where the store
 * could not name a series. */
static int write_output(mm_rules_rule_t *r, mm_promql_store_t *store, int64_t t, outv_t *o)
{
    int rc;
    for (size_t i = 0; i < o->n; i++) {
        out_t *s = &o->s[i];
        if (s->l && (rc = out_resolve(store, s)) < 0)
            return rc;
        if (mm_promql_store_ref_valid(store, s->ref))
            rc = mm_promql_store_append_ref(store, s->ref, t, s->v);
        else
            rc = mm_promql_store_append(store, s->l, s->n, t, s->v);
        if (rc == -ENOMEM)
            return rc;
    }
    /* References from before the store last renumbered its series are
     * found again by labels (every output series exists by now, so a label
     * set of prev that is output this time is found). */
    bool resort = false;
    for (size_t i = 0; i < r->n_prev; i++) {
        rules_lset_t *e = &r->prev[i];
        if (mm_promql_store_ref_valid(store, e->ref))
            continue;
        uint32_t old = lset_key(e);
        e->ref = (mm_promql_ref_t){.id = UINT32_MAX};
        rc = mm_promql_store_find(store, e->labels, e->n, &e->ref);
        if (rc == -ENOMEM)
            return rc;
        resort |= lset_key(e) != old;
    }
    if (resort && r->n_prev > 1)
        qsort(r->prev, r->n_prev, sizeof *r->prev, cmp_lset);
    rules_lset_t *now = calloc(o->n ? o->n : 1, sizeof *now);
    bool *taken = calloc(r->n_prev ? r->n_prev : 1, sizeof *taken);
    if (!now || !taken) {
        free(now);
        free(taken);
        return -ENOMEM;
    }
    rc = 0;
    for (size_t i = 0; i < o->n; i++) {
        out_t *s = &o->s[i];
        rules_lset_t *e = &now[i];
        bool valid = mm_promql_store_ref_valid(store, s->ref);
        long k = -1;
        if (valid) {
            k = prev_find(r->prev, r->n_prev, taken, s->ref.id);
        } else {
            for (size_t j = 0; j < r->n_prev && k < 0; j++)
                if (!taken[j] && lset_key(&r->prev[j]) == UINT32_MAX &&
                    rules_labels_cmp(s->l, s->n, r->prev[j].labels, r->prev[j].n) == 0)
                    k = (long)j;
        }
        e->ref = valid ? s->ref : (mm_promql_ref_t){.id = UINT32_MAX};
        if (k >= 0) {
            taken[k] = true;
            if (valid || !s->l) {
                /* Keep last round's copy of the labels. */
                e->labels = r->prev[k].labels;
                e->n = r->prev[k].n;
                r->prev[k].labels = NULL;
                r->prev[k].n = 0;
                continue;
            }
        }
        if (s->l) {
            e->labels = s->l;
            e->n = s->n;
            s->l = NULL;
            s->n = 0;
            continue;
        }
        size_t n;
        const mm_label_t *l = mm_promql_store_ref_labels(store, s->ref, &n);
        if (rules_labels_dup(l, n, &e->labels) < 0) {
            rc = -ENOMEM;
            break;
        }
        e->n = n;
    }
    for (size_t i = 0; i < r->n_prev && rc == 0; i++) {
        if (taken[i])
            continue;
        rules_lset_t *e = &r->prev[i];
        int arc = mm_promql_store_ref_valid(store, e->ref)
                      ? mm_promql_store_append_ref(store, e->ref, t, mm_stale_nan())
                      : mm_promql_store_append(store, e->labels, e->n, t, mm_stale_nan());
        if (arc == -ENOMEM)
            rc = arc;
    }
    free(taken);
    rules_prev_clear(r);
    if (rc < 0) {
        for (size_t i = 0; i < o->n; i++)
            rules_labels_free(now[i].labels, now[i].n);
        free(now);
        return rc;
    }
    if (o->n > 1)
        qsort(now, o->n, sizeof *now, cmp_lset);
    r->prev = now;
    r->n_prev = o->n;
    return 0;
}

int mm_rules_group_eval(mm_rules_group_t *g, mm_promql_store_t *store, int64_t t_ms)
{
    int failed = 0;
    g->evaluated = true;
    g->last_eval = t_ms;
    for (size_t i = 0; i < g->n_rules; i++) {
        mm_rules_rule_t *r = g->rules[i];
        outv_t o = {0};
        int rc = r->kind == MM_RULES_ALERTING ? eval_alerting(r, store, t_ms, &o)
                                              : eval_recording(r, store, t_ms, &o);
        if (rc == 0) {
            clear_error(r);
            rc = write_output(r, store, t_ms, &o);
        }
        outv_fini(&o);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0)
            failed++;
    }
    return failed;
}

int mm_rules_rule_eval_extra(mm_rules_rule_t *r, mm_promql_store_t *store, int64_t t_ms)
{
    /* Only between scheduled evaluations, moving forward in time. */
    if (r->kind != MM_RULES_ALERTING || !r->g->extra_points ||
        (r->g->evaluated && t_ms <= r->g->last_eval))
        return 0;
    mm_rules_alert_t *al = NULL;
    size_t n = 0;
    int rc = query_alerts(r, store, t_ms, &al, &n);
    if (rc < 0)
        return rc;
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        mm_rules_alert_t *cur = find_alert(r, &al[i]);
        if (cur && cur->state == MM_RULES_PENDING) {
            if (t_ms - cur->active_at >= r->for_ms && t_ms >= cur->active_at) {
                cur->state = MM_RULES_FIRING;
                cur->fired_at = t_ms;
                changed++;
            }
        } else if (!cur || cur->state == MM_RULES_INACTIVE) {
            mm_rules_alert_t a = al[i];
            memset(&al[i], 0, sizeof al[i]);
            if (r->for_ms == 0) {
                a.state = MM_RULES_FIRING;
                a.fired_at = t_ms;
            }
            if (cur) {
                alert_fini(cur);
                *cur = a;
            } else if ((rc = add_alert(r, &a)) < 0) {
                alert_fini(&a);
                goto out;
            }
            changed++;
        }
    }
    rc = changed;
out:
    for (size_t i = 0; i < n; i++)
        alert_fini(&al[i]);
    free(al);
    return rc;
}
