/* The rule layer: Prometheus rule files (groups of alerting and recording
 * rules) loaded and validated like `promtool check rules`, evaluated group by
 * group at a caller-given time against an mm_promql_store_t, with alert
 * states, templated labels and annotations, state export/restore and reload.
 * Socket-free: no sockets, no wall clock, no logging; nothing here blocks.
 * A rule set is not thread-safe. */
#ifndef MM_RULES_H
#define MM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mm_diag.h"
#include "mm_labels.h"
#include "mm_promql.h"
#include "mm_promql_store.h"

/* Prometheus keeps a resolved alert this long (reported as resolved). */
#define MM_RULES_RESOLVED_RETENTION_MS (15 * 60 * 1000)

/* A growing list of diagnostics ("file:line:col: message"); a loader reports
 * every error of a file, as promtool does. */
typedef struct {
    mm_diag_t *items;
    size_t n, cap;
} mm_rules_diags_t;

void mm_rules_diags_fini(mm_rules_diags_t *d);

/* Options shared by every group of a rule set; zeroes mean defaults. The
 * arrays and strings are copied by mm_rules_new(). */
typedef struct {
    int64_t default_interval_ms;   /* group interval when a group has none; 60000 */
    int64_t subquery_step_ms;      /* `[r:]` step; default: default_interval_ms */
    int64_t lookback_ms;           /* 300000 */
    size_t max_samples;            /* per evaluation; 0 = unlimited */
    const mm_label_t *external_labels;
    size_t n_external_labels;
    const char *external_url;      /* NULL = "" */
} mm_rules_opts_t;

typedef enum {
    MM_RULES_ALERTING = 1,
    MM_RULES_RECORDING,
} mm_rules_kind_t;

typedef enum {
    MM_RULES_INACTIVE = 0,
    MM_RULES_PENDING,
    MM_RULES_FIRING,
} mm_rules_state_t;

/* One alert of an alerting rule (Prometheus's Alert). Owned by the rule;
 * valid until the rule is next evaluated, restored or freed. labels are
 * sorted and include alertname; annotations are sorted by name. */
typedef struct {
    mm_label_t *labels;
    size_t n_labels;
    mm_label_t *annotations;
    size_t n_annotations;
    uint64_t fp;                   /* fingerprint of labels */
    mm_rules_state_t state;
    double value;
    int64_t active_at;             /* ms; every time below is 0 when unset */
    int64_t fired_at;
    int64_t resolved_at;
    int64_t keep_firing_since;
    /* The rule layer's cache, not part of the state: the store series of
     * the alert's ALERTS sample (for state ref_state) and of its
     * ALERTS_FOR_STATE sample. Zeroed (invalid) in a new alert. */
    mm_promql_ref_t ref_alerts, ref_for_state;
    mm_rules_state_t ref_state;
} mm_rules_alert_t;

typedef struct mm_rules mm_rules_t;
typedef struct mm_rules_group mm_rules_group_t;
typedef struct mm_rules_rule mm_rules_rule_t;

/* A new empty rule set, or NULL on allocation failure. */
mm_rules_t *mm_rules_new(const mm_rules_opts_t *opts);

/* Frees the set, its groups, rules and alerts; NULL is a no-op. */
void mm_rules_free(mm_rules_t *rs);

/* Loads one rule file (its groups are appended to rs) from a buffer; `name`
 * is the file name diagnostics use. Every error found is appended to diags
 * as "name:line:col: message" (line/col of the offending character, inside
 * `expr` for PromQL errors). On any error nothing is added to rs. Returns
 * the number of rules loaded, -MM_ECONFIG (diags filled), -ENOMEM. */
int mm_rules_load_buf(mm_rules_t *rs, const char *name, const char *buf, size_t len,
                      mm_rules_diags_t *diags);

/* Same for a file on disk. -ENOENT etc. for I/O errors (a diag is added). */
int mm_rules_load_file(mm_rules_t *rs, const char *path, mm_rules_diags_t *diags);

/* Groups in load order. */
size_t mm_rules_group_count(const mm_rules_t *rs);
mm_rules_group_t *mm_rules_group_at(const mm_rules_t *rs, size_t i);
/* Moves group i to position j (unit tests' group_eval_order). */
void mm_rules_group_move(mm_rules_t *rs, size_t i, size_t j);

const char *mm_rules_group_name(const mm_rules_group_t *g);
const char *mm_rules_group_file(const mm_rules_group_t *g);
int64_t mm_rules_group_interval(const mm_rules_group_t *g);
size_t mm_rules_group_rule_count(const mm_rules_group_t *g);
mm_rules_rule_t *mm_rules_group_rule_at(const mm_rules_group_t *g, size_t i);

/* Extra (change-driven) evaluation points are on by default; off makes the
 * group's timing exactly Prometheus's. */
void mm_rules_group_set_extra_points(mm_rules_group_t *g, bool on);

/* Evaluates every rule of g at t_ms in order. Each rule's output (recording
 * samples, ALERTS and ALERTS_FOR_STATE) is appended to store at t_ms before
 * the next rule runs, and series a rule stopped returning get a stale
 * marker, as Prometheus does. A failing rule does not stop the group: its
 * error is kept (mm_rules_rule_last_error()). Returns the number of rules
 * that failed, or -ENOMEM. */
int mm_rules_group_eval(mm_rules_group_t *g, mm_promql_store_t *store, int64_t t_ms);

/* An extra evaluation point of one alerting rule at t_ms (e.g. when a series
 * it reads got a sample). It may only move alerts forward: a new alert
 * becomes pending (active since t_ms), a pending one fires once its `for`
 * elapsed. It never resolves or drops an alert, never writes to the store,
 * and leaves what the next scheduled evaluation returns unchanged apart from
 * those earlier transitions. Returns the number of alerts whose state
 * changed (0 when the group has extra points off, the rule is a recording
 * rule, or t_ms is not after the group's last scheduled evaluation), -EINVAL on an evaluation error (kept as the rule's last error),
 * -ENOMEM. */
int mm_rules_rule_eval_extra(mm_rules_rule_t *r, mm_promql_store_t *store, int64_t t_ms);

/* True when a new sample of this series may change r's value (the series is
 * selected by one of r's selectors): the service then calls
 * mm_rules_rule_eval_extra() for alerting rules. */
bool mm_rules_rule_reads(const mm_rules_rule_t *r, const mm_label_t *labels, size_t n);

mm_rules_kind_t mm_rules_rule_kind(const mm_rules_rule_t *r);
const char *mm_rules_rule_name(const mm_rules_rule_t *r);
const mm_promql_expr_t *mm_rules_rule_expr(const mm_rules_rule_t *r);
mm_rules_group_t *mm_rules_rule_group(const mm_rules_rule_t *r);
/* Hash of the rule's text (kind, name, expr, for, keep_firing_for, labels,
 * annotations): equal hashes mean an unchanged rule across a reload. */
uint64_t mm_rules_rule_hash(const mm_rules_rule_t *r);
/* Message of the last evaluation's error, or NULL when it succeeded. */
const char *mm_rules_rule_last_error(const mm_rules_rule_t *r);
/* Alerts of an alerting rule (pending, firing and resolved ones kept for
 * MM_RULES_RESOLVED_RETENTION_MS), sorted by labels. */
size_t mm_rules_rule_alerts(const mm_rules_rule_t *r, const mm_rules_alert_t **ret);

/* The longest look-back of any rule (for the store's retention), in ms. */
int64_t mm_rules_lookback(const mm_rules_t *rs);

/* Serialises every alert's state (group, file, rule hash, labels,
 * annotations, state, value, times) into a malloc'd buffer the caller frees.
 * Returns 0 or -ENOMEM. */
int mm_rules_state_export(const mm_rules_t *rs, char **ret_buf, size_t *ret_len);

/* Restores what mm_rules_state_export() wrote, into the rules that have the
 * same group (name and file) and rule hash; other entries are ignored.
 * Returns the number of alerts restored, -EBADMSG on a malformed buffer
 * (nothing restored), -ENOMEM. */
int mm_rules_state_import(mm_rules_t *rs, const char *buf, size_t len);

/* After a reload: moves the alert state (and the series last written) of
 * every rule of `from` into the rule of `to` in the same group (name and
 * file) with the same hash, the n-th such rule to the n-th. `from` keeps its
 * rules, without their state. Returns the number of rules carried over. */
int mm_rules_carry_state(mm_rules_t *to, mm_rules_t *from);

/* `promtool check rules`: for each file prints "Checking FILE" and either
 * "  SUCCESS: N rules found" to out or "  FAILED:" and every error to err.
 * Returns 0 when every file is valid, 1 otherwise. */
int mm_rules_check_files(char *const *files, size_t n, FILE *out, FILE *err);

/* `promtool test rules`: runs unit-test files with our engine, printing as
 * promtool does ("Unit Testing:  FILE", "  SUCCESS" / "  FAILED:" and each
 * failure). Returns 0 when all pass, 1 otherwise. */
int mm_rules_test_files(char *const *files, size_t n, FILE *out, FILE *err);

/* Formats a duration as Go's time.Duration.String() ("1m30s", "0s", "1.5s"). */
char *mm_rules_go_duration(int64_t ms, char *buf, size_t cap);
/* Formats as Prometheus's model.Duration.String() ("1h30m", "0s", "1d"). */
char *mm_rules_model_duration(int64_t ms, char *buf, size_t cap);
/* Parses a Prometheus duration ("1h30m", "15s", "1d"); -EINVAL if invalid. */
int mm_rules_parse_duration(const char *s, int64_t *ret_ms);

#endif
