/* PromQL (Prometheus 2.42, native histograms excepted): parse an expression
 * once, evaluate it at a time T against an mm_promql_store_t, and ask it
 * which series it reads. Socket-free, no wall clock, no logging; nothing here
 * blocks. Objects are not thread-safe; distinct objects may be used from
 * distinct threads. */
#ifndef MM_PROMQL_H
#define MM_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_labels.h"
#include "mm_match.h"
#include "mm_promql_store.h"

typedef enum {
    MM_PROMQL_NONE = 0,
    MM_PROMQL_SCALAR,
    MM_PROMQL_VECTOR,
    MM_PROMQL_MATRIX,
    MM_PROMQL_STRING,
} mm_promql_type_t;

/* Limits on what the parser accepts (beyond them: a parse error, never a
 * stack overflow). */
#define MM_PROMQL_MAX_LEN   (256u * 1024u)
#define MM_PROMQL_MAX_DEPTH 200

/* Where and why parsing or evaluation failed. offset is the byte offset in
 * the expression text (parse errors only; evaluation errors set it to 0). */
typedef struct {
    size_t offset;
    char msg[1024];
} mm_promql_error_t;

typedef struct mm_promql_expr mm_promql_expr_t;

/* Parses text[0..len). On success *ret_expr owns everything it needs (text
 * is not referenced afterwards). Errors: -MM_EPARSE (err filled: offset +
 * message), -ENOMEM. err may be NULL. */
int mm_promql_parse(const char *text, size_t len, mm_promql_expr_t **ret_expr,
                    mm_promql_error_t *err);

/* Frees an expression; NULL is a no-op. */
void mm_promql_expr_free(mm_promql_expr_t *e);

/* Static type of the expression's result. */
mm_promql_type_t mm_promql_expr_type(const mm_promql_expr_t *e);

/* Writes the canonical text (Prometheus's String() form) like snprintf:
 * returns the length needed without the NUL. */
size_t mm_promql_expr_print(const mm_promql_expr_t *e, char *buf, size_t cap);

/* One selector the expression reads. Owned by the expression. */
typedef struct {
    const char *metric;            /* metric name from an `=` matcher, or NULL */
    const mm_match_t *matchers;    /* all matchers, __name__ included */
    size_t n_matchers;
    int64_t range_ms;              /* range of a range selector, 0 for instant */
    int64_t offset_ms;             /* offset (may be negative) */
    bool has_at;                   /* carries an @ modifier */
} mm_promql_selector_t;

/* Lists the selectors (in text order). *ret points into e. */
size_t mm_promql_expr_selectors(const mm_promql_expr_t *e, const mm_promql_selector_t **ret);

/* True when a series with these labels (any order, __name__ among them) is
 * selected by one of e's selectors, i.e. when a new sample of it may change
 * e's value: the rule layer re-evaluates a rule on such samples. */
bool mm_promql_expr_reads(const mm_promql_expr_t *e, const mm_label_t *labels, size_t n);

/* How far back from the evaluation time the expression reads, in ms: the
 * longest range (+ subquery ranges + positive offsets) plus lookback_ms.
 * Selectors with @ are counted from their offset only. */
int64_t mm_promql_expr_lookback(const mm_promql_expr_t *e, int64_t lookback_ms);

/* Evaluation options; zeroes mean Prometheus's defaults. */
typedef struct {
    int64_t lookback_ms;           /* default 300000 (5 min) */
    int64_t subquery_step_ms;      /* step of `[r:]`; default 60000 (rules: the group interval) */
    size_t max_samples;            /* 0 = unlimited; samples loaded plus subquery
                                      steps; beyond it evaluation fails.
                                      Prometheus defaults to 50,000,000 (its
                                      count is a peak of samples in memory, not
                                      this total; promtool's tests use 10,000) */
    bool borrow_labels;            /* the result's label strings may point into the
                                      store and the expression instead of being
                                      copied: the result is then valid only while
                                      both stay unchanged */
} mm_promql_opts_t;

typedef struct {
    mm_label_t *labels;            /* sorted by name, __name__ included if any */
    size_t n_labels;
    double v;
    int64_t t;                     /* evaluation time (timestamp() semantics aside) */
} mm_promql_sample_t;

typedef struct {
    int64_t t;
    double v;
} mm_promql_point_t;

typedef struct {
    mm_label_t *labels;
    size_t n_labels;
    mm_promql_point_t *points;
    size_t n_points;
} mm_promql_series_t;

typedef struct mm_promql_result {
    mm_promql_type_t type;
    double scalar;                 /* MM_PROMQL_SCALAR */
    const char *string;            /* MM_PROMQL_STRING */
    mm_promql_sample_t *samples;   /* MM_PROMQL_VECTOR */
    size_t n_samples;
    mm_promql_series_t *series;    /* MM_PROMQL_MATRIX */
    size_t n_series;
    struct promql_arena *arena;    /* private */
} mm_promql_result_t;

/* Evaluates e at t_ms (ms since the epoch) against store. On success
 * *ret_result is the caller's (free with mm_promql_result_free); it owns
 * copies of every string and outlives both e and store. Does not block.
 * Errors: -EINVAL (evaluation error, e.g. many-to-many matching; err
 * filled), -MM_ELIMIT (max_samples exceeded), -ENOMEM. */
int mm_promql_eval(const mm_promql_expr_t *e, const mm_promql_store_t *store, int64_t t_ms,
                   const mm_promql_opts_t *opts, mm_promql_result_t **ret_result,
                   mm_promql_error_t *err);

/* Frees a result; NULL is a no-op. */
void mm_promql_result_free(mm_promql_result_t *r);

/* Formats a value the way Prometheus prints floats (strconv 'g'-like:
 * "1", "0.5", "1e+06", "+Inf", "NaN"). Returns buf. */
char *mm_promql_format_value(double v, char *buf, size_t cap);

#endif
