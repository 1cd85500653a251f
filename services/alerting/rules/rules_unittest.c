/* `promtool test rules` with our engine: reads unit-test files (rule_files,
 * evaluation_interval, group_eval_order, tests with input_series in the
 * `1+2x10 _ stale` notation, alert_rule_test, promql_expr_test,
 * external_labels, external_url), evaluates at promtool 2.42's times and
 * compares and prints as it does (labels exactly, values exactly). */
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_yaml.h"
#include "rules_internal.h"

/* The failures of one file, each a message as promtool words it. */
typedef struct {
    char **msg;
    size_t n, cap;
} errs_t;

static void errs_addv(errs_t *e, const char *s)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        char **m = realloc(e->msg, cap * sizeof *m);
        if (!m)
            return;
        e->msg = m;
        e->cap = cap;
    }
    char *d = strdup(s);
    if (d)
        e->msg[e->n++] = d;
}

static void errs_add(errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errs_add(errs_t *e, const char *fmt, ...)
{
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    rules_buf_add(&b, tmp, strlen(tmp));
    errs_addv(e, b.data);
    mm_tmpl_buf_fini(&b);
}

static void errs_fini(errs_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->msg[i]);
    free(e->msg);
    memset(e, 0, sizeof *e);
}

/* ---- series notation ---- */

typedef struct {
    mm_label_t *labels;            /* owned */
    size_t n_labels;
    int64_t *t;
    double *v;
    size_t n, next;                /* next: first sample not yet in the store */
} in_series_t;

/* Parses `name{a="b"}` (or `{__name__="x", ...}`) into owned labels. An
 * empty text or `{}` is the empty set. */
static int parse_metric(const char *text, mm_label_t **ret, size_t *ret_n, char *err,
                        size_t errcap)
{
    *ret = NULL;
    *ret_n = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || strcmp(p, "{}") == 0)
        return 0;
    mm_promql_expr_t *e = NULL;
    mm_promql_error_t pe;
    memset(&pe, 0, sizeof pe);
    if (mm_promql_parse(text, strlen(text), &e, &pe) < 0) {
        rules_parse_error(text, &pe, err, errcap);
        return -EINVAL;
    }
    const mm_promql_selector_t *sel;
    size_t ns = mm_promql_expr_selectors(e, &sel);
    int rc = -EINVAL;
    if (ns != 1 || sel[0].range_ms || sel[0].offset_ms || sel[0].has_at ||
        mm_promql_expr_type(e) != MM_PROMQL_VECTOR) {
        snprintf(err, errcap, "not a series description: %s", text);
        goto out;
    }
    mm_label_t *l = calloc(sel[0].n_matchers ? sel[0].n_matchers : 1, sizeof *l);
    if (!l) {
        rc = -ENOMEM;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < sel[0].n_matchers; i++) {
        const mm_match_t *m = &sel[0].matchers[i];
        if (m->type != MM_MATCH_EQ) {
            snprintf(err, errcap, "unexpected matcher type in series description: %s", text);
            free(l);
            goto out;
        }
        if (!m->value[0])
            continue;
        l[n].name = m->name;
        l[n].value = m->value;
        n++;
    }
    mm_labels_sort(l, n);
    rc = rules_labels_dup(l, n, ret);
    free(l);
    if (rc == 0)
        *ret_n = n;
out:
    mm_promql_expr_free(e);
    return rc;
}

static int push(in_series_t *s, size_t *cap, int64_t t, double v)
{
    if (s->n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        int64_t *nt = realloc(s->t, c * sizeof *nt);
        if (!nt)
            return -ENOMEM;
        s->t = nt;
        double *nv = realloc(s->v, c * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        *cap = c;
    }
    s->t[s->n] = t;
    s->v[s->n] = v;
    s->n++;
    return 0;
}

/* Go's ParseFloat-ish: accepts Inf/NaN spellings PromQL's lexer takes. */
static bool parse_num(const char *s, size_t len, double *ret)
{
    char tmp[128];
    if (len == 0 || len >= sizeof tmp)
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (strchr(tmp, 'x') || strchr(tmp, 'X') || strchr(tmp, 'p') || strchr(tmp, 'P'))
        return false;
    char *end;
    *ret = strtod(tmp, &end);
    return *end == '\0';
}

/* Expands the values notation: `_`, `_xN`, `stale`, numbers, `A+BxN`,
 * `A-BxN`, `AxN` (N+1 values, each the previous plus B). */
static int parse_values(const char *text, int64_t interval, in_series_t *s, uint64_t max,
                        char *err, size_t errcap)
{
    size_t cap = 0, idx = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        size_t len = (size_t)(p - tok);
        if (len == 1 && tok[0] == '_') {
            idx++;
            continue;
        }
        if (len > 2 && tok[0] == '_' && tok[1] == 'x') {
            char *end;
            unsigned long k = strtoul(tok + 2, &end, 10);
            if (end != p) {
                snprintf(err, errcap, "invalid value %.*s", (int)len, tok);
                return -EINVAL;
            }
            idx += k;
            continue;
        }
        if (len == 5 && strncmp(tok, "stale", 5) == 0) {
            if (push(s, &cap, (int64_t)idx * interval, mm_stale_nan()) < 0)
                return -ENOMEM;
            idx++;
            continue;
        }
        /* Find the 'x' that separates the repeat count. */
        const char *x = NULL;
        for (const char *q = tok + len; q > tok; q--)
            if (q[-1] == 'x') {
                x = q - 1;
                break;
            }
        double a, b = 0;
        if (!x) {
            if (!parse_num(tok, len, &a)) {
                snprintf(err, errcap, "invalid value %.*s", (int)len, tok);
                return -EINVAL;
            }
            if (push(s, &cap, (int64_t)idx * interval, a) < 0)
                return -ENOMEM;
            idx++;
            continue;
        }
        char *end;
        unsigned long times = strtoul(x + 1, &end, 10);
        if (end != p || x + 1 == p) {
            snprintf(err, errcap, "invalid value %.*s", (int)len, tok);
            return -EINVAL;
        }
        /* A then an optional +B / -B (the sign after the first character). */
        const char *op = NULL;
        for (const char *q = tok + 1; q < x; q++)
            if ((*q == '+' || *q == '-') && q[-1] != 'e' && q[-1] != 'E') {
                op = q;
                break;
            }
        if (op) {
            if (!parse_num(tok, (size_t)(op - tok), &a) ||
                !parse_num(op + 1, (size_t)(x - op - 1), &b)) {
                snprintf(err, errcap, "invalid value %.*s", (int)len, tok);
                return -EINVAL;
            }
            if (*op == '-')
                b = -b;
        } else if (!parse_num(tok, (size_t)(x - tok), &a)) {
            snprintf(err, errcap, "invalid value %.*s", (int)len, tok);
            return -EINVAL;
        }
        if (times > max || s->n + times > max) {
            snprintf(err, errcap, "too many values in %.*s", (int)len, tok);
            return -EINVAL;
        }
        double k = a;
        for (unsigned long j = 0; j <= times; j++) {
            if (push(s, &cap, (int64_t)idx * interval, k) < 0)
                return -ENOMEM;
            idx++;
            k += b;
        }
    }
    return 0;
}

/* ---- the test file ---- */

typedef struct {
    int64_t eval_time;
    const char *alertname;
    const mm_yaml_node_t *exp;     /* exp_alerts sequence or NULL */
} alert_test_t;

typedef struct {
    const mm_yaml_node_t *node;
    const char *expr;
    int64_t eval_time;
    const mm_yaml_node_t *exp;     /* exp_samples or NULL */
} expr_test_t;

typedef struct {
    const mm_yaml_doc_t *doc;
    errs_t *errs;
    bool bad;
} tf_t;

static void yerr(tf_t *f, const mm_yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void yerr(tf_t *f, const mm_yaml_node_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!f->bad)
        errs_add(f->errs, "yaml: unmarshal errors:\n  line %u: %s", n ? n->line : 0, msg);
    f->bad = true;
}

static void keys_only(tf_t *f, const mm_yaml_node_t *m, const char *const *keys,
                      const char *type)
{
    if (!m || m->kind != MM_YAML_MAP)
        return;
    for (size_t i = 0; i < m->n / 2; i++) {
        const mm_yaml_node_t *k = m->items[2 * i];
        bool ok = false;
        for (const char *const *p = keys; *p && !ok; p++)
            ok = k->kind == MM_YAML_SCALAR && strcmp(k->str, *p) == 0;
        if (!ok)
            yerr(f, k, "field %s not found in type %s", k->kind == MM_YAML_SCALAR ? k->str : "?",
                 type);
    }
}

static const char *str_of(tf_t *f, const mm_yaml_node_t *m, const char *key)
{
    const mm_yaml_node_t *v = m && m->kind == MM_YAML_MAP ? mm_yaml_map_get(m, key) : NULL;
    if (!v)
        return NULL;
    if (v->kind != MM_YAML_SCALAR) {
        yerr(f, v, "cannot unmarshal into string (%s)", key);
        return NULL;
    }
    if (mm_yaml_is_null(v) && v->style == MM_YAML_PLAIN)
        return NULL;
    return v->str;
}

static int64_t dur_of(tf_t *f, const mm_yaml_node_t *m, const char *key)
{
    const char *s = str_of(f, m, key);
    int64_t ms = 0;
    if (s && mm_rules_parse_duration(s, &ms) < 0) {
        if (!f->bad)
            errs_add(f->errs, "not a valid duration string: \"%s\"", s);
        f->bad = true;
    }
    return ms;
}

static const mm_yaml_node_t *seq_of(tf_t *f, const mm_yaml_node_t *m, const char *key)
{
    const mm_yaml_node_t *v = m && m->kind == MM_YAML_MAP ? mm_yaml_map_get(m, key) : NULL;
    if (!v || (v->kind == MM_YAML_SCALAR && mm_yaml_is_null(v)))
        return NULL;
    if (v->kind != MM_YAML_SEQ) {
        yerr(f, v, "cannot unmarshal into a list (%s)", key);
        return NULL;
    }
    return v;
}

/* Reads a map of strings into an owned sorted label array. */
static int map_of(tf_t *f, const mm_yaml_node_t *m, mm_label_t **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (!m || (m->kind == MM_YAML_SCALAR && mm_yaml_is_null(m)))
        return 0;
    if (m->kind != MM_YAML_MAP) {
        yerr(f, m, "cannot unmarshal into map[string]string");
        return 0;
    }
    mm_label_t *l = calloc(m->n ? m->n : 1, sizeof *l);
    if (!l)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->n / 2; i++) {
        const mm_yaml_node_t *k = m->items[2 * i], *v = m->items[2 * i + 1];
        if (k->kind != MM_YAML_SCALAR || v->kind != MM_YAML_SCALAR) {
            yerr(f, v, "cannot unmarshal into string");
            continue;
        }
        size_t j;
        for (j = 0; j < n && strcmp(l[j].name, k->str) != 0; j++)
            ;
        const char *val = mm_yaml_is_null(v) && v->style == MM_YAML_PLAIN ? "" : v->str;
        if (j < n) {
            l[j].value = val;
            continue;
        }
        l[n].name = k->str;
        l[n].value = val;
        n++;
    }
    mm_labels_sort(l, n);
    int rc = rules_labels_dup(l, n, ret);
    free(l);
    if (rc == 0)
        *ret_n = n;
    return rc;
}

typedef struct {
    mm_label_t *labels, *ann;
    size_t nl, na;
} la_t;

static int cmp_la(const void *a, const void *b)
{
    const la_t *x = a, *y = b;
    int c = rules_labels_cmp(x->labels, x->nl, y->labels, y->nl);
    return c ? c : rules_labels_cmp(x->ann, x->na, y->ann, y->na);
}

static void la_fini(la_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rules_labels_free(v[i].labels, v[i].nl);
        rules_labels_free(v[i].ann, v[i].na);
    }
    free(v);
}

/* Go's indentLines: every line after the first gets the indent. */
static void indent_into(mm_tmpl_buf_t *out, const char *s, const char *indent)
{
    for (const char *p = s; *p; p++) {
        rules_buf_add(out, p, 1);
        if (*p == '\n')
            rules_buf_add(out, indent, strlen(indent));
    }
}

static void la_string(const la_t *v, size_t n, mm_tmpl_buf_t *out)
{
    if (n == 0) {
        rules_buf_add(out, "[]", 2);
        return;
    }
    rules_buf_add(out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        mm_tmpl_buf_t one;
        mm_tmpl_buf_init(&one);
        rules_buf_add(&one, "\nLabels:", 8);
        rules_labels_print(v[i].labels, v[i].nl, &one);
        rules_buf_add(&one, "\nAnnotations:", 13);
        rules_labels_print(v[i].ann, v[i].na, &one);
        rules_buf_printf(out, "%s\n%zu:", i ? "," : "", i);
        indent_into(out, one.data, "  ");
        mm_tmpl_buf_fini(&one);
    }
    rules_buf_add(out, "\n]", 2);
}

typedef struct {
    mm_label_t *l;
    size_t n;
    double v;
} ps_t;

static int cmp_ps(const void *a, const void *b)
{
    const ps_t *x = a, *y = b;
    return rules_labels_cmp(x->l, x->n, y->l, y->n);
}

static void ps_string(const ps_t *v, size_t n, mm_tmpl_buf_t *out)
{
    if (n == 0) {
        rules_buf_add(out, "nil", 3);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            rules_buf_add(out, ", ", 2);
        rules_labels_print(v[i].l, v[i].n, out);
        rules_buf_add(out, " ", 1);
        rules_format_E(v[i].v, out);
    }
}

static void ps_free(ps_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rules_labels_free(v[i].l, v[i].n);
    free(v);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    char **files;
    size_t n;
    int64_t eval_interval;
    char **order;
    size_t n_order;
    const char *rules_buf;         /* fuzzing: this rule file instead of rule_files */
    size_t rules_len;
    uint64_t max_steps;            /* 0 = unlimited */
} file_ctx_t;

/* One test group: its own store, rule set and clock. */
static void run_group(tf_t *f, const file_ctx_t *fc, const mm_yaml_node_t *tg)
{
    static const char *const keys[] = {"interval", "input_series", "alert_rule_test",
                                       "promql_expr_test", "external_labels", "external_url",
                                       "name", NULL};
    errs_t *errs = f->errs;
    keys_only(f, tg, keys, "main.testGroup");
    int64_t interval = dur_of(f, tg, "interval");
    const char *name = str_of(f, tg, "name");
    const char *ext_url = str_of(f, tg, "external_url");
    mm_label_t *ext = NULL;
    size_t n_ext = 0;
    const mm_yaml_node_t *is = seq_of(f, tg, "input_series");
    const mm_yaml_node_t *at = seq_of(f, tg, "alert_rule_test");
    const mm_yaml_node_t *pt = seq_of(f, tg, "promql_expr_test");
    in_series_t *series = NULL;
    size_t n_series = 0;
    alert_test_t *ats = NULL;
    expr_test_t *pts = NULL;
    int64_t *times = NULL;
    size_t n_ats = 0, n_pts = 0, n_times = 0;
    mm_rules_t *rs = NULL;
    mm_promql_store_t *store = NULL;
    char err[512];
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    if (map_of(f, tg && tg->kind == MM_YAML_MAP ? mm_yaml_map_get(tg, "external_labels") : NULL,
               &ext, &n_ext) < 0 || f->bad)
        goto out;

    /* Input series. */
    series = calloc(is ? is->n + 1 : 1, sizeof *series);
    if (!series)
        goto out;
    for (size_t i = 0; is && i < is->n; i++) {
        static const char *const skeys[] = {"series", "values", NULL};
        keys_only(f, is->items[i], skeys, "main.series");
        const char *sd = str_of(f, is->items[i], "series");
        const char *vals = str_of(f, is->items[i], "values");
        if (f->bad)
            goto out;
        in_series_t *s = &series[n_series++];
        if (parse_metric(sd ? sd : "", &s->labels, &s->n_labels, err, sizeof err) < 0 ||
            parse_values(vals ? vals : "", interval, s,
                         fc->max_steps ? fc->max_steps : 100000000, err, sizeof err) < 0) {
            errs_add(errs, "error in series '%s': %s", sd ? sd : "", err);
            goto out;
        }
    }

    /* Alert tests, grouped by eval_time. */
    ats = calloc(at ? at->n + 1 : 1, sizeof *ats);
    times = calloc(at ? at->n + 1 : 1, sizeof *times);
    if (!ats || !times)
        goto out;
    for (size_t i = 0; at && i < at->n; i++) {
        static const char *const akeys[] = {"eval_time", "alertname", "exp_alerts", NULL};
        keys_only(f, at->items[i], akeys, "main.alertTestCase");
        alert_test_t *a = &ats[n_ats++];
        a->eval_time = dur_of(f, at->items[i], "eval_time");
        a->alertname = str_of(f, at->items[i], "alertname");
        a->exp = seq_of(f, at->items[i], "exp_alerts");
        if (f->bad)
            goto out;
    }
    pts = calloc(pt ? pt->n + 1 : 1, sizeof *pts);
    if (!pts)
        goto out;
    for (size_t i = 0; pt && i < pt->n; i++) {
        static const char *const pkeys[] = {"expr", "eval_time", "exp_samples", NULL};
        keys_only(f, pt->items[i], pkeys, "main.promqlTestCase");
        expr_test_t *p = &pts[n_pts++];
        p->node = pt->items[i];
        p->expr = str_of(f, pt->items[i], "expr");
        p->eval_time = dur_of(f, pt->items[i], "eval_time");
        p->exp = seq_of(f, pt->items[i], "exp_samples");
        if (!p->expr)
            p->expr = "";
        if (f->bad)
            goto out;
    }

    mm_rules_opts_t o = {
        .default_interval_ms = interval > 0 ? interval : 60000,
        .subquery_step_ms = fc->eval_interval,
        .external_labels = ext, .n_external_labels = n_ext,
        .external_url = ext_url,
    };
    rs = mm_rules_new(&o);
    store = mm_promql_store_new();
    if (!rs || !store)
        goto out;
    {
        mm_rules_diags_t d = {0};
        if (fc->rules_buf)
            mm_rules_load_buf(rs, "rules.yml", fc->rules_buf, fc->rules_len, &d);
        for (size_t i = 0; i < fc->n; i++)
            mm_rules_load_file(rs, fc->files[i], &d);
        for (size_t i = 0; i < d.n; i++) {
            char line[1400];
            mm_diag_format(&d.items[i], line, sizeof line);
            errs_add(errs, "%s", line);
        }
        size_t nd = d.n;
        mm_rules_diags_fini(&d);
        if (nd)
            goto out;
    }
    /* group_eval_order: a stable sort by position (unlisted groups count 0). */
    for (size_t i = 1; i < rs->n_groups; i++) {
        for (size_t j = i; j > 0; j--) {
            size_t pa = 0, pb = 0;
            for (size_t k = 0; k < fc->n_order; k++) {
                if (strcmp(fc->order[k], rs->groups[j - 1]->name) == 0)
                    pa = k;
                if (strcmp(fc->order[k], rs->groups[j]->name) == 0)
                    pb = k;
            }
            if (pa <= pb)
                break;
            mm_rules_group_move(rs, j, j - 1);
        }
    }

    int64_t maxt = 0;
    for (size_t i = 0; i < n_ats; i++) {
        if (!ats[i].alertname || !*ats[i].alertname) {
            char d1[64];
            if (name)
                errs_add(errs, "an item under alert_rule_test misses required attribute "
                               "alertname at eval_time %s (in TestGroup %s)",
                         mm_rules_model_duration(ats[i].eval_time, d1, sizeof d1), name);
            else
                errs_add(errs, "an item under alert_rule_test misses required attribute "
                               "alertname at eval_time %s",
                         mm_rules_model_duration(ats[i].eval_time, d1, sizeof d1));
            goto out;
        }
        if (ats[i].eval_time > maxt)
            maxt = ats[i].eval_time;
        bool seen = false;
        for (size_t k = 0; k < n_times && !seen; k++)
            seen = times[k] == ats[i].eval_time;
        if (!seen)
            times[n_times++] = ats[i].eval_time;
    }
    for (size_t i = 0; i < n_pts; i++)
        if (pts[i].eval_time > maxt)
            maxt = pts[i].eval_time;
    qsort(times, n_times, sizeof *times, cmp_i64);

    size_t curr = 0;
    int64_t ev = fc->eval_interval;
    if (fc->max_steps && (uint64_t)(maxt / ev) * (rs->n_groups + n_series + 1) > fc->max_steps) {
        errs_add(errs, "too many evaluation steps");
        goto out;
    }
    for (int64_t ts = 0; ts <= maxt; ts += ev) {
        for (size_t i = 0; i < n_series; i++) {
            in_series_t *s = &series[i];
            while (s->next < s->n && s->t[s->next] <= ts) {
                mm_promql_store_append(store, s->labels, s->n_labels, s->t[s->next],
                                       s->v[s->next]);
                s->next++;
            }
        }
        size_t before = errs->n;
        for (size_t gi = 0; gi < rs->n_groups; gi++) {
            mm_rules_group_t *g = rs->groups[gi];
            if (mm_rules_group_eval(g, store, ts) == -ENOMEM)
                goto out;
            for (size_t ri = 0; ri < g->n_rules; ri++)
                if (g->rules[ri]->last_error) {
                    char d1[64];
                    errs_add(errs, "    rule: %s, time: %s, err: %s", g->rules[ri]->name,
                             mm_rules_go_duration(ts, d1, sizeof d1), g->rules[ri]->last_error);
                }
        }
        if (errs->n > before)
            goto out;
        while (curr < n_times && ts <= times[curr] && times[curr] < ts + ev) {
            int64_t t = times[curr];
            for (size_t ti = 0; ti < n_ats; ti++) {
                if (ats[ti].eval_time != t)
                    continue;
                const char *an = ats[ti].alertname;
                /* Got: firing alerts of every alerting rule with that name. */
                la_t *got = NULL, *exp = NULL;
                size_t ng = 0, ne = 0, capg = 0;
                for (size_t gi = 0; gi < rs->n_groups; gi++)
                    for (size_t ri = 0; ri < rs->groups[gi]->n_rules; ri++) {
                        mm_rules_rule_t *r = rs->groups[gi]->rules[ri];
                        if (r->kind != MM_RULES_ALERTING || strcmp(r->name, an) != 0)
                            continue;
                        for (size_t k = 0; k < r->n_alerts; k++) {
                            if (r->alerts[k].state != MM_RULES_FIRING)
                                continue;
                            if (ng == capg) {
                                capg = capg ? capg * 2 : 8;
                                la_t *ngot = realloc(got, capg * sizeof *ngot);
                                if (!ngot) {
                                    la_fini(got, ng);
                                    goto out;
                                }
                                got = ngot;
                            }
                            memset(&got[ng], 0, sizeof got[ng]);
                            rules_labels_dup(r->alerts[k].labels, r->alerts[k].n_labels,
                                             &got[ng].labels);
                            got[ng].nl = r->alerts[k].n_labels;
                            rules_labels_dup(r->alerts[k].annotations,
                                             r->alerts[k].n_annotations, &got[ng].ann);
                            got[ng].na = r->alerts[k].n_annotations;
                            ng++;
                        }
                    }
                const mm_yaml_node_t *ex = ats[ti].exp;
                exp = calloc(ex ? ex->n + 1 : 1, sizeof *exp);
                if (!exp) {
                    la_fini(got, ng);
                    goto out;
                }
                for (size_t k = 0; ex && k < ex->n; k++) {
                    static const char *const ekeys[] = {"exp_labels", "exp_annotations", NULL};
                    keys_only(f, ex->items[k], ekeys, "main.alert");
                    const mm_yaml_node_t *el = ex->items[k]->kind == MM_YAML_MAP
                        ? mm_yaml_map_get(ex->items[k], "exp_labels") : NULL;
                    const mm_yaml_node_t *ea = ex->items[k]->kind == MM_YAML_MAP
                        ? mm_yaml_map_get(ex->items[k], "exp_annotations") : NULL;
                    mm_label_t *l = NULL;
                    size_t nl = 0;
                    map_of(f, el, &l, &nl);
                    /* alertname is set to the test's (overriding any given). */
                    mm_label_t *l2 = calloc(nl + 1, sizeof *l2);
                    size_t n2 = 0;
                    for (size_t q = 0; l2 && q < nl; q++)
                        if (strcmp(l[q].name, "alertname") != 0)
                            l2[n2++] = l[q];
                    if (l2) {
                        l2[n2].name = "alertname";
                        l2[n2].value = an;
                        n2++;
                        mm_labels_sort(l2, n2);
                        rules_labels_dup(l2, n2, &exp[ne].labels);
                        exp[ne].nl = n2;
                    }
                    free(l2);
                    rules_labels_free(l, nl);
                    map_of(f, ea, &exp[ne].ann, &exp[ne].na);
                    ne++;
                }
                if (f->bad) {
                    la_fini(got, ng);
                    la_fini(exp, ne);
                    goto out;
                }
                if (ng)
                    qsort(got, ng, sizeof *got, cmp_la);
                qsort(exp, ne, sizeof *exp, cmp_la);
                bool same = ng == ne;
                for (size_t k = 0; same && k < ng; k++)
                    same = cmp_la(&got[k], &exp[k]) == 0;
                if (!same) {
                    mm_tmpl_buf_t es, gs, msg;
                    mm_tmpl_buf_init(&es);
                    mm_tmpl_buf_init(&gs);
                    mm_tmpl_buf_init(&msg);
                    mm_tmpl_buf_t e1, g1;
                    mm_tmpl_buf_init(&e1);
                    mm_tmpl_buf_init(&g1);
                    la_string(exp, ne, &e1);
                    la_string(got, ng, &g1);
                    indent_into(&es, e1.data, "            ");
                    indent_into(&gs, g1.data, "            ");
                    char d1[64];
                    if (name)
                        rules_buf_printf(&msg, "    name: %s,\n", name);
                    rules_buf_printf(&msg, "    alertname: %s, time: %s, \n        exp:", an,
                                     mm_rules_model_duration(t, d1, sizeof d1));
                    rules_buf_add(&msg, es.data, es.len);
                    rules_buf_add(&msg, ", \n        got:", 15);
                    rules_buf_add(&msg, gs.data, gs.len);
                    errs_addv(errs, msg.data);
                    mm_tmpl_buf_fini(&es);
                    mm_tmpl_buf_fini(&gs);
                    mm_tmpl_buf_fini(&e1);
                    mm_tmpl_buf_fini(&g1);
                    mm_tmpl_buf_fini(&msg);
                }
                la_fini(got, ng);
                la_fini(exp, ne);
            }
            curr++;
        }
    }

    /* PromQL expression tests, against everything loaded and written. */
    for (size_t i = 0; i < n_pts; i++) {
        expr_test_t *p = &pts[i];
        char d1[64];
        mm_rules_model_duration(p->eval_time, d1, sizeof d1);
        b.len = 0;
        rules_go_quote(p->expr, &b);
        mm_promql_expr_t *e = NULL;
        mm_promql_result_t *res = NULL;
        mm_promql_error_t pe;
        memset(&pe, 0, sizeof pe);
        int rc = mm_promql_parse(p->expr, strlen(p->expr), &e, &pe);
        if (rc < 0) {
            char pm[600];
            rules_parse_error(p->expr, &pe, pm, sizeof pm);
            errs_add(errs, "    expr: %s, time: %s, err: %s", b.data, d1, pm);
            continue;
        }
        if (rc == 0) {
            mm_promql_opts_t qo = {.subquery_step_ms = fc->eval_interval};
            rc = mm_promql_eval(e, store, p->eval_time, &qo, &res, &pe);
        }
        if (rc == 0 && res->type != MM_PROMQL_VECTOR && res->type != MM_PROMQL_SCALAR) {
            snprintf(pe.msg, sizeof pe.msg, "rule result is not a vector or scalar");
            rc = -EINVAL;
        }
        if (rc < 0) {
            errs_add(errs, "    expr: %s, time: %s, err: %s", b.data, d1, pe.msg);
            mm_promql_result_free(res);
            mm_promql_expr_free(e);
            continue;
        }
        size_t ng = res->type == MM_PROMQL_SCALAR ? 1 : res->n_samples;
        ps_t *got = calloc(ng + 1, sizeof *got);
        const mm_yaml_node_t *ex = p->exp;
        ps_t *exp = calloc(ex ? ex->n + 1 : 1, sizeof *exp);
        size_t ne = 0;
        bool bad_labels = false;
        for (size_t k = 0; got && k < ng; k++) {
            if (res->type == MM_PROMQL_SCALAR) {
                got[k].v = res->scalar;
                continue;
            }
            rules_labels_dup(res->samples[k].labels, res->samples[k].n_labels, &got[k].l);
            got[k].n = res->samples[k].n_labels;
            got[k].v = res->samples[k].v;
        }
        for (size_t k = 0; exp && ex && k < ex->n && !bad_labels; k++) {
            static const char *const skeys[] = {"labels", "value", NULL};
            keys_only(f, ex->items[k], skeys, "main.sample");
            const char *ls = str_of(f, ex->items[k], "labels");
            const char *vs = str_of(f, ex->items[k], "value");
            double v = 0;
            if (vs) {
                char *end;
                if (strcmp(vs, ".nan") == 0 || strcmp(vs, ".NaN") == 0 || strcmp(vs, ".NAN") == 0)
                    v = NAN;
                else if (strcmp(vs, ".inf") == 0 || strcmp(vs, "+.inf") == 0 ||
                         strcmp(vs, ".Inf") == 0 || strcmp(vs, "+.Inf") == 0 ||
                         strcmp(vs, ".INF") == 0)
                    v = INFINITY;
                else if (strcmp(vs, "-.inf") == 0 || strcmp(vs, "-.Inf") == 0 ||
                         strcmp(vs, "-.INF") == 0)
                    v = -INFINITY;
                else {
                    v = strtod(vs, &end);
                    if (*end || end == vs || strchr(vs, 'n') || strchr(vs, 'N') ||
                        strchr(vs, 'x') || strchr(vs, 'X'))
                        yerr(f, ex->items[k], "cannot unmarshal !!str `%s` into float64", vs);
                }
            }
            if (f->bad)
                break;
            if (parse_metric(ls ? ls : "", &exp[ne].l, &exp[ne].n, err, sizeof err) < 0) {
                mm_tmpl_buf_t q;
                mm_tmpl_buf_init(&q);
                rules_go_quote(ls ? ls : "", &q);
                errs_add(errs, "    expr: %s, time: %s, err: labels %s: %s", b.data, d1, q.data,
                         err);
                mm_tmpl_buf_fini(&q);
                bad_labels = true;
                break;
            }
            exp[ne].v = v;
            ne++;
        }
        if (!bad_labels && !f->bad && got && exp) {
            qsort(got, ng, sizeof *got, cmp_ps);
            qsort(exp, ne, sizeof *exp, cmp_ps);
            bool same = ng == ne;
            for (size_t k = 0; same && k < ng; k++)
                same = cmp_ps(&got[k], &exp[k]) == 0 && got[k].v == exp[k].v;
            if (!same) {
                mm_tmpl_buf_t msg;
                mm_tmpl_buf_init(&msg);
                rules_buf_printf(&msg, "    expr: %s, time: %s,\n        exp: ", b.data, d1);
                ps_string(exp, ne, &msg);
                rules_buf_add(&msg, "\n        got: ", 14);
                ps_string(got, ng, &msg);
                errs_addv(errs, msg.data);
                mm_tmpl_buf_fini(&msg);
            }
        }
        ps_free(got, ng);
        ps_free(exp, ne);
        mm_promql_result_free(res);
        mm_promql_expr_free(e);
        if (f->bad)
            goto out;
    }
out:
    for (size_t i = 0; i < n_series; i++) {
        rules_labels_free(series[i].labels, series[i].n_labels);
        free(series[i].t);
        free(series[i].v);
    }
    free(series);
    free(ats);
    free(pts);
    free(times);
    rules_labels_free(ext, n_ext);
    mm_rules_free(rs);
    mm_promql_store_free(store);
    mm_tmpl_buf_fini(&b);
}

/* Go's filepath.Clean, in place: no "." elements, ".." resolved where it
 * can be, no repeated or trailing slashes; "" becomes ".". */
static void clean_path(char *p)
{
    bool abs = p[0] == '/';
    char *elems[512];
    size_t n = 0;
    char *save = NULL;
    char *copy = strdup(p);
    if (!copy)
        return;
    for (char *e = strtok_r(copy, "/", &save); e && n < 512; e = strtok_r(NULL, "/", &save)) {
        if (strcmp(e, ".") == 0)
            continue;
        if (strcmp(e, "..") == 0 && n > 0 && strcmp(elems[n - 1], "..") != 0) {
            n--;
            continue;
        }
        if (strcmp(e, "..") == 0 && abs)
            continue;
        elems[n++] = e;
    }
    size_t len = 0;
    if (abs)
        p[len++] = '/';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(elems[i]);
        if (i)
            p[len++] = '/';
        memmove(p + len, elems[i], l);
        len += l;
    }
    if (len == 0)
        p[len++] = '.';
    p[len] = '\0';
    free(copy);
}

static void test_doc(const char *path, const char *buf, size_t len, file_ctx_t *fcin,
                     errs_t *errs)
{
    mm_yaml_doc_t *doc = NULL;
    mm_diag_t d;
    memset(&d, 0, sizeof d);
    int rc = buf ? mm_yaml_load_buf(path, buf, len, &doc, &d) : mm_yaml_load_file(path, &doc, &d);
    if (rc < 0) {
        if (d.line)
            errs_add(errs, "yaml: line %u: %s", d.line, d.msg);
        else
            errs_add(errs, "open %s: %s", path, d.msg[0] ? d.msg : mm_strerror(rc));
        return;
    }
    tf_t f = {.doc = doc, .errs = errs};
    file_ctx_t fc = *fcin;
    const mm_yaml_node_t *root = doc->root;
    static const char *const keys[] = {"rule_files", "evaluation_interval", "group_eval_order",
                                       "tests", NULL};
    char *dir_copy = strdup(path);
    const char *dir = dir_copy ? dirname(dir_copy) : ".";
    keys_only(&f, root, keys, "main.unitTestFile");
    const mm_yaml_node_t *rfs = seq_of(&f, root, "rule_files");
    const mm_yaml_node_t *geo = seq_of(&f, root, "group_eval_order");
    const mm_yaml_node_t *tests = seq_of(&f, root, "tests");
    fc.eval_interval = dur_of(&f, root, "evaluation_interval");
    if (f.bad)
        goto out;
    if (fc.eval_interval <= 0)
        fc.eval_interval = 60000;
    for (size_t i = 0; rfs && !fc.rules_buf && i < rfs->n; i++) {
        const mm_yaml_node_t *n = rfs->items[i];
        if (n->kind != MM_YAML_SCALAR || !n->len)
            continue;
        char pat[4096];
        if (n->str[0] == '/')
            snprintf(pat, sizeof pat, "%s", n->str);
        else
            snprintf(pat, sizeof pat, "%s/%s", dir, n->str);
        clean_path(pat);
        glob_t g;
        int grc = glob(pat, 0, NULL, &g);
        if (grc != 0 || g.gl_pathc == 0) {
            fflush(stdout);
            fprintf(stderr, "  WARNING: no file match pattern %s\n", pat);
        }
        for (size_t k = 0; grc == 0 && k < g.gl_pathc; k++) {
            char **nf = realloc(fc.files, (fc.n + 1) * sizeof *nf);
            if (!nf)
                break;
            fc.files = nf;
            fc.files[fc.n] = strdup(g.gl_pathv[k]);
            if (fc.files[fc.n])
                fc.n++;
        }
        if (grc == 0)
            globfree(&g);
    }
    for (size_t i = 0; geo && i < geo->n; i++) {
        const char *gn = geo->items[i]->kind == MM_YAML_SCALAR ? geo->items[i]->str : "";
        for (size_t k = 0; k < fc.n_order; k++)
            if (strcmp(fc.order[k], gn) == 0) {
                errs_add(errs, "group name repeated in evaluation order: %s", gn);
                goto out;
            }
        char **no = realloc(fc.order, (fc.n_order + 1) * sizeof *no);
        if (!no)
            goto out;
        fc.order = no;
        fc.order[fc.n_order++] = (char *)gn;
    }
    for (size_t i = 0; tests && i < tests->n; i++) {
        f.bad = false;
        run_group(&f, &fc, tests->items[i]);
    }
out:
    for (size_t i = 0; i < fc.n; i++)
        free(fc.files[i]);
    free(fc.files);
    free(fc.order);
    free(dir_copy);
    mm_yaml_free(doc);
}

int mm_rules_test_files(char *const *files, size_t n, FILE *out, FILE *err)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        errs_t errs = {0};
        file_ctx_t fc = {0};
        fprintf(out, "Unit Testing:  %s\n", files[i]);
        fflush(out);
        test_doc(files[i], NULL, 0, &fc, &errs);
        if (errs.n) {
            fprintf(err, "  FAILED:\n");
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(err, "%s\n", errs.msg[k]);
                fflush(err);
                fprintf(out, "\n");
                fflush(out);
            }
            failed = 1;
        } else {
            fprintf(out, "  SUCCESS\n");
        }
        fprintf(out, "\n");
        fflush(out);
        errs_fini(&errs);
    }
    return failed;
}

int rules_unittest_buf(const char *buf, size_t len, const char *rules, size_t rules_len,
                       uint64_t max_steps, size_t *ret_failures)
{
    errs_t errs = {0};
    file_ctx_t fc = {.rules_buf = rules ? rules : "", .rules_len = rules ? rules_len : 0,
                     .max_steps = max_steps};
    test_doc("test.yml", buf, len, &fc, &errs);
    *ret_failures = errs.n;
    errs_fini(&errs);
    return 0;
}
