/* Evaluator internals shared by promql_eval.c (nodes, operators),
 * promql_functions.c (function calls) and promql_aggr.c (aggregations). */
#ifndef PROMQL_EVAL_H
#define PROMQL_EVAL_H

#include "promql_internal.h"

typedef struct {
    mm_label_t *l;
    size_t n;
} lbls_t;

typedef struct {
    lbls_t lb;
    double v;
    int64_t t;       /* sample time for selector output; eval time otherwise */
} smp_t;

typedef struct {
    smp_t *s;
    size_t n, cap;
} vec_t;

typedef struct {
    lbls_t lb;
    const int64_t *t;
    const double *v;
    size_t n;
} ser_t;

typedef struct {
    ser_t *s;
    size_t n, cap;
} mat_t;

typedef struct {
    mm_promql_type_t type;
    double f;
    const char *str;
    vec_t vec;
    mat_t mat;
    int64_t mstart, mend, mrange;   /* range a matrix covers */
} val_t;

typedef struct {
    const mm_promql_store_t *store;
    mm_promql_selcache_t *selcache;   /* the expression's, by sel_index; may be NULL */
    promql_arena_t *a;
    int64_t start, end;
    int64_t lookback, substep;
    size_t max_samples, samples;
    int depth;
    /* Emulation of Prometheus 2.42's offset bookkeeping for @ inside
     * subqueries (see at_shift() in promql_eval.c): the start of the current
     * evaluator frame and the subqueries entered since offsets were last
     * recomputed. */
    int64_t frame_start;
    int64_t at_drift;      /* see predict_linear in promql_functions.c */
    const promql_node_t *chain[64];
    int chain_n;
    bool failed;
    int code;
    char msg[1024];
} ev_t;

typedef struct {
    uint64_t *keys;
    long *vals;
    unsigned char *used;
    size_t cap, n;
} hmap_t;

void ev_fail(ev_t *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *ev_alloc(ev_t *ev, size_t n);
int vec_push(ev_t *ev, vec_t *v, lbls_t lb, double val, int64_t t);
int mat_push(ev_t *ev, mat_t *m, const ser_t *s);
uint64_t hash_mix(uint64_t h, const char *s);
uint64_t lbls_hash(lbls_t lb);
const char *lbls_get(lbls_t lb, const char *name);
lbls_t lbls_drop_name(ev_t *ev, lbls_t lb);
lbls_t lbls_filter(ev_t *ev, lbls_t lb, const promql_labels_list_t *list, bool keep, bool drop_name);
lbls_t lbls_set(ev_t *ev, lbls_t lb, const char *name, const char *value);
int lbls_cmp(lbls_t a, lbls_t b);
void lbls_str(lbls_t lb, char *buf, size_t cap);
int hmap_init(ev_t *ev, hmap_t *m, size_t n);
long hmap_get(const hmap_t *m, uint64_t key);
int hmap_put(ev_t *ev, hmap_t *m, uint64_t key, long val);
int check_dups(ev_t *ev, const vec_t *v);

int eval_node(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out);
/* at_only: read at the @ time itself, offset ignored (what 2.42 does for
 * the argument of timestamp()). */
int eval_selector(ev_t *ev, const promql_node_t *vs, int64_t t, bool at_only, val_t *out);
int eval_call(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out);
int eval_aggregation(ev_t *ev, const promql_node_t *n, int64_t t, val_t *out);

/* Go's strconv.FormatFloat(v, 'f', -1, 64). */
void format_float_f(double v, char *buf, size_t cap);
/* quantile over values (sorted in place), Prometheus's interpolation. */
double quantile_of(double q, double *vals, size_t n);

#endif
