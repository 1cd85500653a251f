/* Private structures of the rule layer, shared by its files: the rule set,
 * groups, rules with their compiled expression and templates, and the
 * helpers (label arrays, strings) they all use. */
#ifndef RULES_INTERNAL_H
#define RULES_INTERNAL_H

#include "mm_rules.h"
#include "mm_tmpl.h"

struct mm_rules {
    int64_t default_interval;
    int64_t substep;
    int64_t lookback;
    size_t max_samples;
    mm_label_t *ext;               /* sorted, owned */
    size_t n_ext;
    char *ext_url;
    mm_rules_group_t **groups;
    size_t n_groups, cap_groups;
};

/* A series the rule wrote last time (for stale markers): its labels (owned)
 * and, when the store could name it, its reference there. */
typedef struct {
    mm_label_t *labels;
    size_t n;
    mm_promql_ref_t ref;
} rules_lset_t;

struct mm_rules_rule {
    mm_rules_group_t *g;
    mm_rules_kind_t kind;
    char *name;
    char *expr_text;
    mm_promql_expr_t *expr;
    int64_t for_ms;
    int64_t keep_ms;
    mm_label_t *labels;            /* sorted, owned; group labels merged in */
    size_t n_labels;
    mm_tmpl_t **label_tmpl;        /* alerting rules: NULL entry = literal text */
    mm_label_t *ann;               /* sorted, owned */
    size_t n_ann;
    mm_tmpl_t **ann_tmpl;
    uint64_t hash;
    mm_rules_alert_t *alerts;      /* sorted by labels */
    size_t n_alerts, cap_alerts;
    rules_lset_t *prev;            /* series written by the last evaluation, by ref.id */
    size_t n_prev;
    char *last_error;
};

struct mm_rules_group {
    mm_rules_t *rs;
    char *name;
    char *file;
    int64_t interval;
    long limit;
    bool extra_points;
    bool evaluated;                /* last_eval is set */
    int64_t last_eval;             /* time of the last scheduled evaluation */
    mm_rules_rule_t **rules;
    size_t n_rules;
};

/* Owned label arrays: one allocation holding the array and its strings,
 * made by rules_labels_dup() (n = 0 gives NULL) and freed whole. */
void rules_labels_free(mm_label_t *l, size_t n);
int rules_labels_dup(const mm_label_t *src, size_t n, mm_label_t **ret);
int rules_labels_cmp(const mm_label_t *a, size_t na, const mm_label_t *b, size_t nb);
/* Prometheus's labels.String(): {a="b", c="d"} with Go-quoted values. */
void rules_labels_print(const mm_label_t *l, size_t n, mm_tmpl_buf_t *out);
int rules_buf_add(mm_tmpl_buf_t *b, const char *s, size_t n);
int rules_buf_printf(mm_tmpl_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Go's strconv.Quote of s (UTF-8 aware enough for label values). */
void rules_go_quote(const char *s, mm_tmpl_buf_t *out);
/* Go's strconv.FormatFloat(v, 'E', -1, 64). */
void rules_format_E(double v, mm_tmpl_buf_t *out);

/* Prometheus's ParseErr text: "LINE:COL: parse error: MSG" within text. */
void rules_parse_error(const char *text, const mm_promql_error_t *pe, char *buf, size_t cap);

/* Runs a unit-test file from a buffer with `rules` as its only rule file
 * (rule_files is ignored: for fuzzing), at most about max_steps evaluation
 * steps (0 = unlimited). Sets the number of failures. */
int rules_unittest_buf(const char *buf, size_t len, const char *rules, size_t rules_len,
                       uint64_t max_steps, size_t *ret_failures);

void rules_group_free(mm_rules_group_t *g);
void rules_rule_free(mm_rules_rule_t *r);
void rules_alerts_clear(mm_rules_rule_t *r);
void rules_prev_clear(mm_rules_rule_t *r);

int rules_diag_add(mm_rules_diags_t *d, const char *file, unsigned line, unsigned col,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
