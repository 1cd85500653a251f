/* Rule-file loader: maps a Prometheus rule file (groups of alerting and
 * recording rules) onto mm_rules_group_t / mm_rules_rule_t and validates it
 * as rulefmt does, naming file:line:col for every error (inside `expr` and
 * templates: the offending character). Also `promtool check rules`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_yaml.h"
#include "rules_internal.h"

mm_rules_t *mm_rules_new(const mm_rules_opts_t *opts)
{
    mm_rules_t *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->default_interval = opts && opts->default_interval_ms > 0 ? opts->default_interval_ms
                                                                 : 60000;
    rs->substep = opts && opts->subquery_step_ms > 0 ? opts->subquery_step_ms
                                                     : rs->default_interval;
    rs->lookback = opts && opts->lookback_ms > 0 ? opts->lookback_ms : 300000;
    rs->max_samples = opts ? opts->max_samples : 0;
    if (opts && opts->n_external_labels) {
        if (rules_labels_dup(opts->external_labels, opts->n_external_labels, &rs->ext) < 0)
            goto fail;
        rs->n_ext = opts->n_external_labels;
        mm_labels_sort(rs->ext, rs->n_ext);
    }
    rs->ext_url = strdup(opts && opts->external_url ? opts->external_url : "");
    if (!rs->ext_url)
        goto fail;
    return rs;
fail:
    mm_rules_free(rs);
    return NULL;
}

void rules_prev_clear(mm_rules_rule_t *r)
{
    for (size_t i = 0; i < r->n_prev; i++)
        rules_labels_free(r->prev[i].labels, r->prev[i].n);
    free(r->prev);
    r->prev = NULL;
    r->n_prev = 0;
}

void rules_alerts_clear(mm_rules_rule_t *r)
{
    for (size_t i = 0; i < r->n_alerts; i++) {
        rules_labels_free(r->alerts[i].labels, r->alerts[i].n_labels);
        rules_labels_free(r->alerts[i].annotations, r->alerts[i].n_annotations);
    }
    free(r->alerts);
    r->alerts = NULL;
    r->n_alerts = r->cap_alerts = 0;
}

void rules_rule_free(mm_rules_rule_t *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->expr_text);
    mm_promql_expr_free(r->expr);
    if (r->label_tmpl)
        for (size_t i = 0; i < r->n_labels; i++)
            mm_tmpl_free(r->label_tmpl[i]);
    if (r->ann_tmpl)
        for (size_t i = 0; i < r->n_ann; i++)
            mm_tmpl_free(r->ann_tmpl[i]);
    free(r->label_tmpl);
    free(r->ann_tmpl);
    rules_labels_free(r->labels, r->n_labels);
    rules_labels_free(r->ann, r->n_ann);
    rules_alerts_clear(r);
    rules_prev_clear(r);
    free(r->last_error);
    free(r);
}

void rules_group_free(mm_rules_group_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_rules; i++)
        rules_rule_free(g->rules[i]);
    free(g->rules);
    free(g->name);
    free(g->file);
    free(g);
}

void mm_rules_free(mm_rules_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_groups; i++)
        rules_group_free(rs->groups[i]);
    free(rs->groups);
    rules_labels_free(rs->ext, rs->n_ext);
    free(rs->ext_url);
    free(rs);
}

size_t mm_rules_group_count(const mm_rules_t *rs) { return rs->n_groups; }
mm_rules_group_t *mm_rules_group_at(const mm_rules_t *rs, size_t i)
{
    return i < rs->n_groups ? rs->groups[i] : NULL;
}

void mm_rules_group_move(mm_rules_t *rs, size_t i, size_t j)
{
    if (i >= rs->n_groups || j >= rs->n_groups || i == j)
        return;
    mm_rules_group_t *g = rs->groups[i];
    if (i < j)
        memmove(&rs->groups[i], &rs->groups[i + 1], (j - i) * sizeof g);
    else
        memmove(&rs->groups[j + 1], &rs->groups[j], (i - j) * sizeof g);
    rs->groups[j] = g;
}

const char *mm_rules_group_name(const mm_rules_group_t *g) { return g->name; }
const char *mm_rules_group_file(const mm_rules_group_t *g) { return g->file; }
int64_t mm_rules_group_interval(const mm_rules_group_t *g) { return g->interval; }
size_t mm_rules_group_rule_count(const mm_rules_group_t *g) { return g->n_rules; }
mm_rules_rule_t *mm_rules_group_rule_at(const mm_rules_group_t *g, size_t i)
{
    return i < g->n_rules ? g->rules[i] : NULL;
}
void mm_rules_group_set_extra_points(mm_rules_group_t *g, bool on) { g->extra_points = on; }

mm_rules_kind_t mm_rules_rule_kind(const mm_rules_rule_t *r) { return r->kind; }
const char *mm_rules_rule_name(const mm_rules_rule_t *r) { return r->name; }
const mm_promql_expr_t *mm_rules_rule_expr(const mm_rules_rule_t *r) { return r->expr; }
mm_rules_group_t *mm_rules_rule_group(const mm_rules_rule_t *r) { return r->g; }
uint64_t mm_rules_rule_hash(const mm_rules_rule_t *r) { return r->hash; }
const char *mm_rules_rule_last_error(const mm_rules_rule_t *r) { return r->last_error; }
bool mm_rules_rule_reads(const mm_rules_rule_t *r, const mm_label_t *labels, size_t n)
{
    return mm_promql_expr_reads(r->expr, labels, n);
}
size_t mm_rules_rule_alerts(const mm_rules_rule_t *r, const mm_rules_alert_t **ret)
{
    *ret = r->alerts;
    return r->n_alerts;
}

int64_t mm_rules_lookback(const mm_rules_t *rs)
{
    int64_t max = rs->lookback;
    for (size_t i = 0; i < rs->n_groups; i++)
        for (size_t j = 0; j < rs->groups[i]->n_rules; j++) {
            int64_t l = mm_promql_expr_lookback(rs->groups[i]->rules[j]->expr, rs->lookback);
            if (l > max)
                max = l;
        }
    return max;
}

/* ---- loading ---- */

typedef struct {
    mm_rules_t *rs;
    const mm_yaml_doc_t *doc;
    const char *file;
    mm_rules_diags_t *diags;
    int nerr;
    int oom;
} ld_t;

static void err_at(ld_t *l, const mm_yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_at(ld_t *l, const mm_yaml_node_t *n, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->nerr++;
    if (rules_diag_add(l->diags, l->file, n ? n->line : 0, n ? n->col : 0, "%s", msg) < 0)
        l->oom = 1;
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
    return h;
}

static const char *kind_name(const char *type)
{
    return type;
}

/* Checks that every key of map n is among keys[]. */
static void check_keys(ld_t *l, const mm_yaml_node_t *n, const char *const *keys,
                       const char *type)
{
    for (size_t i = 0; i < n->n / 2; i++) {
        const mm_yaml_node_t *k = n->items[2 * i];
        bool ok = false;
        for (const char *const *p = keys; *p && !ok; p++)
            ok = k->kind == MM_YAML_SCALAR && strcmp(k->str, *p) == 0;
        if (!ok)
            err_at(l, k, "field %s not found in type %s",
                   k->kind == MM_YAML_SCALAR ? k->str : "?", kind_name(type));
    }
}

static const mm_yaml_node_t *scalar(ld_t *l, const mm_yaml_node_t *map, const char *key)
{
    const mm_yaml_node_t *v = mm_yaml_map_get(map, key);
    if (!v)
        return NULL;
    if (v->kind != MM_YAML_SCALAR) {
        err_at(l, v, "cannot unmarshal %s into %s", v->kind == MM_YAML_MAP ? "!!map" : "!!seq",
               key);
        return NULL;
    }
    if (mm_yaml_is_null(v) && v->style == MM_YAML_PLAIN)
        return NULL;
    return v;
}

static int64_t duration(ld_t *l, const mm_yaml_node_t *map, const char *key)
{
    const mm_yaml_node_t *v = scalar(l, map, key);
    int64_t ms = 0;
    if (v && mm_rules_parse_duration(v->str, &ms) < 0) {
        err_at(l, v, "not a valid duration string: \"%s\"", v->str);
        return 0;
    }
    return ms;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const mm_label_t *)a)->name, ((const mm_label_t *)b)->name);
}

/* Reads a string map into a sorted owned array (later keys win). */
static int string_map(ld_t *l, const mm_yaml_node_t *m, mm_label_t **ret, size_t *ret_n,
                      const mm_yaml_node_t ***ret_nodes)
{
    *ret = NULL;
    *ret_n = 0;
    if (ret_nodes)
        *ret_nodes = NULL;
    if (!m || (m->kind == MM_YAML_SCALAR && mm_yaml_is_null(m)))
        return 0;
    if (m->kind != MM_YAML_MAP) {
        err_at(l, m, "cannot unmarshal into map[string]string");
        return 0;
    }
    mm_label_t *a = calloc(m->n ? m->n : 1, sizeof *a);
    const mm_yaml_node_t **nodes = calloc(m->n ? m->n : 1, sizeof *nodes);
    if (!a || !nodes) {
        free(a);
        free(nodes);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n / 2; i++) {
        const mm_yaml_node_t *k = m->items[2 * i], *v = m->items[2 * i + 1];
        if (k->kind != MM_YAML_SCALAR || v->kind != MM_YAML_SCALAR) {
            err_at(l, v, "cannot unmarshal %s into string",
                   v->kind == MM_YAML_MAP ? "!!map" : "!!seq");
            continue;
        }
        size_t j;
        for (j = 0; j < n && strcmp(a[j].name, k->str) != 0; j++)
            ;
        if (j < n) {
            err_at(l, k, "mapping key \"%s\" already defined", k->str);
            continue;
        }
        a[n].name = k->str;
        a[n].value = (mm_yaml_is_null(v) && v->style == MM_YAML_PLAIN) ? "" : v->str;
        nodes[n] = v;
        n++;
    }
    /* Sort names and nodes together (insertion sort: maps are small). */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_label(&a[j - 1], &a[j]) > 0; j--) {
            mm_label_t t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
            const mm_yaml_node_t *tn = nodes[j];
            nodes[j] = nodes[j - 1];
            nodes[j - 1] = tn;
        }
    mm_label_t *owned = NULL;
    if (rules_labels_dup(a, n, &owned) < 0) {
        free(a);
        free(nodes);
        return -ENOMEM;
    }
    free(a);
    *ret = owned;
    *ret_n = n;
    if (ret_nodes)
        *ret_nodes = nodes;
    else
        free(nodes);
    return 0;
}

static bool label_value_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Maps the merged group labels + rule labels; rule labels win. */
static int merge_labels(mm_label_t *gl, size_t ng, mm_label_t **rl, size_t *nr)
{
    if (ng == 0)
        return 0;
    mm_label_t *m = calloc(ng + *nr, sizeof *m);
    if (!m)
        return -ENOMEM;
    size_t n = 0, i = 0, j = 0;
    while (i < ng || j < *nr) {
        int c = i == ng ? 1 : j == *nr ? -1 : strcmp(gl[i].name, (*rl)[j].name);
        if (c < 0)
            m[n++] = gl[i++];
        else if (c > 0)
            m[n++] = (*rl)[j++];
        else {
            m[n++] = (*rl)[j++];
            i++;
        }
    }
    mm_label_t *owned = NULL;
    if (rules_labels_dup(m, n, &owned) < 0) {
        free(m);
        return -ENOMEM;
    }
    free(m);
    rules_labels_free(*rl, *nr);
    *rl = owned;
    *nr = n;
    return 0;
}

static void rule_hash(mm_rules_rule_t *r)
{
    uint64_t h = 14695981039346656037ULL;
    char num[64];
    h = fnv(h, r->kind == MM_RULES_ALERTING ? "alert" : "record", 5);
    h = fnv(h, r->name, strlen(r->name));
    h = fnv(h, r->expr_text, strlen(r->expr_text));
    snprintf(num, sizeof num, "%lld/%lld", (long long)r->for_ms, (long long)r->keep_ms);
    h = fnv(h, num, strlen(num));
    for (size_t i = 0; i < r->n_labels; i++) {
        h = fnv(h, r->labels[i].name, strlen(r->labels[i].name));
        h = fnv(h, r->labels[i].value, strlen(r->labels[i].value));
    }
    h = fnv(h, "|", 1);
    for (size_t i = 0; i < r->n_ann; i++) {
        h = fnv(h, r->ann[i].name, strlen(r->ann[i].name));
        h = fnv(h, r->ann[i].value, strlen(r->ann[i].value));
    }
    r->hash = h;
}

/* Rule-level error: "group \"g\", rule N, \"name\": message" at node n. */
#define RULE_ERR(node, ...)                                                                  \
    do {                                                                                     \
        char m_[1100];                                                                        \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                \
        err_at(l, (node), "group \"%s\", rule %zu, \"%s\": %s", gname, idx, rname, m_);     \
    } while (0)

static int compile_templates(ld_t *l, mm_rules_rule_t *r, mm_label_t *items, size_t n,
                             const mm_yaml_node_t **nodes, mm_tmpl_t ***ret, const char *what,
                             const char *gname, size_t idx, const char *rname)
{
    *ret = calloc(n ? n : 1, sizeof **ret);
    if (!*ret)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!strstr(items[i].value, "{{"))
            continue;
        mm_tmpl_err_t te;
        memset(&te, 0, sizeof te);
        int rc = mm_tmpl_parse_alert(r->name, items[i].value, strlen(items[i].value),
                                     &(*ret)[i], &te);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            mm_yaml_node_t at = {0};
            const mm_yaml_node_t *pos = nodes ? nodes[i] : NULL;
            if (pos) {
                at = *pos;
                mm_yaml_scalar_locate(l->doc, pos, te.offset, &at.line, &at.col);
            }
            RULE_ERR(pos ? &at : NULL, "%s \"%s\": %s", what, items[i].name, te.msg);
        }
    }
    return 0;
}

static int load_rule(ld_t *l, mm_rules_group_t *g, const mm_yaml_node_t *rn, size_t idx,
                     const char *gname, mm_label_t *glabels, size_t n_glabels,
                     mm_rules_rule_t **ret)
{
    static const char *const keys[] = {"record", "alert", "expr", "for", "keep_firing_for",
                                       "labels", "annotations", NULL};
    *ret = NULL;
    if (rn->kind != MM_YAML_MAP) {
        err_at(l, rn, "cannot unmarshal into rulefmt.Rule");
        return 0;
    }
    int before = l->nerr;
    check_keys(l, rn, keys, "rulefmt.Rule");
    const mm_yaml_node_t *rec = scalar(l, rn, "record"), *alert = scalar(l, rn, "alert");
    const mm_yaml_node_t *expr = scalar(l, rn, "expr");
    const mm_yaml_node_t *namenode = alert && alert->len ? alert : rec;
    const char *rname = namenode ? namenode->str : "";
    const mm_yaml_node_t *lnode = mm_yaml_map_get(rn, "labels");
    const mm_yaml_node_t *anode = mm_yaml_map_get(rn, "annotations");
    mm_rules_rule_t *r = calloc(1, sizeof *r);
    const mm_yaml_node_t **lnodes = NULL, **anodes = NULL;
    int rc = -ENOMEM;
    if (!r)
        goto out;
    r->g = g;
    r->for_ms = duration(l, rn, "for");
    r->keep_ms = duration(l, rn, "keep_firing_for");
    if (string_map(l, lnode, &r->labels, &r->n_labels, &lnodes) < 0 ||
        string_map(l, anode, &r->ann, &r->n_ann, &anodes) < 0)
        goto out;

    bool has_rec = rec && rec->len, has_alert = alert && alert->len;
    if (has_rec && has_alert)
        RULE_ERR(rec, "only one of 'record' and 'alert' must be set");
    if (!has_rec && !has_alert)
        RULE_ERR(rn, "one of 'record' or 'alert' must be set");
    if (!expr || expr->len == 0) {
        RULE_ERR(expr ? expr : rn, "field 'expr' must be set in rule");
    } else {
        mm_promql_error_t pe;
        memset(&pe, 0, sizeof pe);
        int prc = mm_promql_parse(expr->str, expr->len, &r->expr, &pe);
        if (prc == -ENOMEM)
            goto out;
        if (prc < 0) {
            mm_yaml_node_t at = *expr;
            mm_yaml_scalar_locate(l->doc, expr, pe.offset, &at.line, &at.col);
            char pm[600];
            rules_parse_error(expr->str, &pe, pm, sizeof pm);
            RULE_ERR(&at, "could not parse expression: %s", pm);
        }
    }
    if (has_rec && !has_alert) {
        if (r->n_ann)
            RULE_ERR(rec, "invalid field 'annotations' in recording rule");
        if (r->for_ms)
            RULE_ERR(rec, "invalid field 'for' in recording rule");
        if (r->keep_ms)
            RULE_ERR(rec, "invalid field 'keep_firing_for' in recording rule");
        if (!mm_metric_name_valid(rec->str, rec->len))
            RULE_ERR(rec, "invalid recording rule name: %s", rec->str);
    }
    for (size_t i = 0; i < r->n_labels; i++) {
        const char *k = r->labels[i].name;
        if (!mm_label_name_valid(k, strlen(k)) || strcmp(k, "__name__") == 0)
            RULE_ERR(lnodes[i], "invalid label name: %s", k);
        if (!label_value_valid(r->labels[i].value))
            RULE_ERR(lnodes[i], "invalid label value: %s", r->labels[i].value);
    }
    for (size_t i = 0; i < r->n_ann; i++) {
        const char *k = r->ann[i].name;
        if (!mm_label_name_valid(k, strlen(k)))
            RULE_ERR(anodes[i], "invalid annotation name: %s", k);
    }
    r->kind = has_alert ? MM_RULES_ALERTING : MM_RULES_RECORDING;
    r->name = strdup(rname);
    r->expr_text = strdup(expr ? expr->str : "");
    if (!r->name || !r->expr_text)
        goto out;
    if (has_alert && !has_rec) {
        if (compile_templates(l, r, r->labels, r->n_labels, lnodes, &r->label_tmpl, "label",
                              gname, idx, rname) < 0 ||
            compile_templates(l, r, r->ann, r->n_ann, anodes, &r->ann_tmpl, "annotation",
                              gname, idx, rname) < 0)
            goto out;
    }
    if (l->nerr == before) {
        /* Hash the rule's own text before group labels are merged in. */
        rule_hash(r);
        if (n_glabels) {
            if (r->label_tmpl) {
                /* Group labels are literal; re-compile the merged set. */
                for (size_t i = 0; i < r->n_labels; i++)
                    mm_tmpl_free(r->label_tmpl[i]);
                free(r->label_tmpl);
                r->label_tmpl = NULL;
            }
            if (merge_labels(glabels, n_glabels, &r->labels, &r->n_labels) < 0)
                goto out;
            if (r->kind == MM_RULES_ALERTING &&
                compile_templates(l, r, r->labels, r->n_labels, NULL, &r->label_tmpl, "label",
                                  gname, idx, rname) < 0)
                goto out;
        }
        *ret = r;
        r = NULL;
    }
    rc = 0;
out:
    free(lnodes);
    free(anodes);
    rules_rule_free(r);
    return rc;
}

static int load_group(ld_t *l, const mm_yaml_node_t *gn, mm_rules_group_t **ret)
{
    static const char *const keys[] = {"name", "interval", "limit", "labels", "rules", NULL};
    *ret = NULL;
    if (gn->kind != MM_YAML_MAP) {
        err_at(l, gn, "cannot unmarshal into rulefmt.RuleGroup");
        return 0;
    }
    check_keys(l, gn, keys, "rulefmt.RuleGroup");
    mm_rules_group_t *g = calloc(1, sizeof *g);
    mm_label_t *glabels = NULL;
    size_t n_glabels = 0;
    int rc = -ENOMEM;
    if (!g)
        return -ENOMEM;
    g->rs = l->rs;
    g->extra_points = true;
    const mm_yaml_node_t *name = scalar(l, gn, "name");
    g->name = strdup(name ? name->str : "");
    g->file = strdup(l->file);
    if (!g->name || !g->file)
        goto out;
    if (!name || !name->len)
        err_at(l, gn, "Groupname must not be empty");
    g->interval = duration(l, gn, "interval");
    if (g->interval <= 0)
        g->interval = l->rs->default_interval;
    const mm_yaml_node_t *lim = scalar(l, gn, "limit");
    if (lim) {
        char *end;
        g->limit = strtol(lim->str, &end, 10);
        if (*end || end == lim->str)
            err_at(l, lim, "cannot unmarshal !!str `%s` into int", lim->str);
    }
    const mm_yaml_node_t **gnodes = NULL;
    if (string_map(l, mm_yaml_map_get(gn, "labels"), &glabels, &n_glabels, &gnodes) < 0)
        goto out;
    for (size_t i = 0; i < n_glabels; i++) {
        const char *k = glabels[i].name;
        if (!mm_label_name_valid(k, strlen(k)) || strcmp(k, "__name__") == 0)
            err_at(l, gnodes[i], "invalid label name: %s", k);
    }
    free(gnodes);
    const mm_yaml_node_t *rules = mm_yaml_map_get(gn, "rules");
    if (rules && rules->kind == MM_YAML_SEQ) {
        g->rules = calloc(rules->n ? rules->n : 1, sizeof *g->rules);
        if (!g->rules)
            goto out;
        for (size_t i = 0; i < rules->n; i++) {
            mm_rules_rule_t *r;
            if (load_rule(l, g, rules->items[i], i + 1, g->name, glabels, n_glabels, &r) < 0)
                goto out;
            if (r)
                g->rules[g->n_rules++] = r;
        }
    } else if (rules && !(rules->kind == MM_YAML_SCALAR && mm_yaml_is_null(rules))) {
        err_at(l, rules, "cannot unmarshal into []rulefmt.RuleNode");
    }
    *ret = g;
    g = NULL;
    rc = 0;
out:
    rules_labels_free(glabels, n_glabels);
    rules_group_free(g);
    return rc;
}

int mm_rules_load_buf(mm_rules_t *rs, const char *name, const char *buf, size_t len,
                      mm_rules_diags_t *diags)
{
    mm_yaml_doc_t *doc = NULL;
    mm_diag_t d;
    memset(&d, 0, sizeof d);
    int rc = mm_yaml_load_buf(name, buf, len, &doc, &d);
    if (rc < 0) {
        if (rc == -ENOMEM)
            return rc;
        rules_diag_add(diags, d.file[0] ? d.file : name, d.line, d.col, "%s", d.msg);
        return -MM_ECONFIG;
    }
    ld_t l = {.rs = rs, .doc = doc, .file = name, .diags = diags};
    mm_rules_group_t **gs = NULL;
    size_t ng = 0, nrules = 0;
    rc = -ENOMEM;
    const mm_yaml_node_t *root = doc->root;
    if (root && !(root->kind == MM_YAML_SCALAR && mm_yaml_is_null(root))) {
        static const char *const keys[] = {"groups", NULL};
        if (root->kind != MM_YAML_MAP) {
            err_at(&l, root, "cannot unmarshal into rulefmt.RuleGroups");
        } else {
            check_keys(&l, root, keys, "rulefmt.RuleGroups");
            const mm_yaml_node_t *groups = mm_yaml_map_get(root, "groups");
            if (groups && groups->kind == MM_YAML_SEQ) {
                gs = calloc(groups->n ? groups->n : 1, sizeof *gs);
                if (!gs)
                    goto out;
                for (size_t i = 0; i < groups->n; i++) {
                    mm_rules_group_t *g;
                    if (load_group(&l, groups->items[i], &g) < 0)
                        goto out;
                    if (!g)
                        continue;
                    for (size_t j = 0; j < ng; j++)
                        if (g->name[0] && strcmp(gs[j]->name, g->name) == 0) {
                            err_at(&l, groups->items[i],
                                   "groupname: \"%s\" is repeated in the same file", g->name);
                            break;
                        }
                    gs[ng++] = g;
                    nrules += g->n_rules;
                }
            } else if (groups && !(groups->kind == MM_YAML_SCALAR && mm_yaml_is_null(groups))) {
                err_at(&l, groups, "cannot unmarshal into []rulefmt.RuleGroup");
            }
        }
    }
    if (l.oom)
        goto out;
    if (l.nerr) {
        rc = -MM_ECONFIG;
        goto out;
    }
    if (rs->n_groups + ng > rs->cap_groups) {
        size_t cap = rs->cap_groups ? rs->cap_groups : 8;
        while (cap < rs->n_groups + ng)
            cap *= 2;
        mm_rules_group_t **ngs = realloc(rs->groups, cap * sizeof *ngs);
        if (!ngs)
            goto out;
        rs->groups = ngs;
        rs->cap_groups = cap;
    }
    for (size_t i = 0; i < ng; i++)
        rs->groups[rs->n_groups++] = gs[i];
    ng = 0;
    rc = (int)nrules;
out:
    for (size_t i = 0; i < ng; i++)
        rules_group_free(gs[i]);
    free(gs);
    mm_yaml_free(doc);
    return rc;
}

int mm_rules_load_file(mm_rules_t *rs, const char *path, mm_rules_diags_t *diags)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        rules_diag_add(diags, path, 0, 0, "%s", strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        rules_diag_add(diags, path, 0, 0, "read error");
    }
    fclose(f);
    if (rc == 0)
        rc = mm_rules_load_buf(rs, path, buf ? buf : "", len, diags);
    free(buf);
    return rc;
}

static int cmp_rule_lint(const void *a, const void *b)
{
    const mm_rules_rule_t *x = *(const mm_rules_rule_t *const *)a;
    const mm_rules_rule_t *y = *(const mm_rules_rule_t *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : rules_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* promtool's duplicate-rules lint: rules with the same name and labels.
 * Prints the lint failure and returns true when there are any. */
static bool lint_duplicates(const mm_rules_t *rs, FILE *err)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < rs->n_groups; i++)
        n += rs->groups[i]->n_rules;
    if (n < 2)
        return false;
    mm_rules_rule_t **v = calloc(n, sizeof *v);
    mm_rules_rule_t **dup = calloc(n, sizeof *dup);
    size_t nd = 0;
    if (!v || !dup) {
        free(v);
        free(dup);
        return false;
    }
    for (size_t i = 0; i < rs->n_groups; i++)
        for (size_t j = 0; j < rs->groups[i]->n_rules; j++)
            v[k++] = rs->groups[i]->rules[j];
    qsort(v, n, sizeof *v, cmp_rule_lint);
    for (size_t i = 1; i < n; i++)
        if (cmp_rule_lint(&v[i - 1], &v[i]) == 0 &&
            (nd == 0 || cmp_rule_lint(&v[i - 1], &dup[nd - 1]) != 0))
            dup[nd++] = v[i];
    if (nd) {
        fprintf(err, "  FAILED:\nlint error %zu duplicate rule(s) found.\n", nd);
        for (size_t i = 0; i < nd; i++) {
            fprintf(err, "Metric: %s\nLabel(s):\n", dup[i]->name);
            for (size_t j = 0; j < dup[i]->n_labels; j++)
                fprintf(err, "\t%s: %s\n", dup[i]->labels[j].name, dup[i]->labels[j].value);
        }
        fprintf(err, "Might cause inconsistency while recording expressions\n");
        fflush(err);
    }
    free(v);
    free(dup);
    return nd > 0;
}

int mm_rules_check_files(char *const *files, size_t n, FILE *out, FILE *err)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "Checking %s\n", files[i]);
        mm_rules_t *rs = mm_rules_new(NULL);
        mm_rules_diags_t d = {0};
        int rc = rs ? mm_rules_load_file(rs, files[i], &d) : -ENOMEM;
        if (rc >= 0 && lint_duplicates(rs, err)) {
            /* promtool reports duplicates as a lint failure that does not
             * change the exit status. */
        } else if (rc >= 0) {
            fprintf(out, "  SUCCESS: %d rules found\n", rc);
        } else {
            fflush(out);
            fprintf(err, "  FAILED:\n");
            for (size_t k = 0; k < d.n; k++) {
                char line[1400];
                mm_diag_format(&d.items[k], line, sizeof line);
                fprintf(err, "%s\n", line);
            }
            if (d.n == 0)
                fprintf(err, "%s: %s\n", files[i], mm_strerror(rc));
            fflush(err);
            failed = 1;
        }
        fprintf(out, "\n");
        mm_rules_diags_fini(&d);
        mm_rules_free(rs);
    }
    return failed;
}
