/* In-memory series store for the rule engine: series by fingerprint, samples
 * appended in time order, Prometheus stale markers, a retention trim, and
 * postings (metric name and label=value) for fast selection by matchers. */
#ifndef MM_PROMQL_STORE_H
#define MM_PROMQL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_labels.h"
#include "mm_match.h"

typedef struct mm_promql_store mm_promql_store_t;

/* A series as the evaluator sees it. labels are sorted, __name__ included. */
typedef struct {
    uint64_t fp;
    mm_label_t *labels;
    size_t n_labels;
    const int64_t *t;      /* n samples, ascending */
    const double *v;
    size_t n;
} mm_promql_series_view_t;

/* A store is used from one thread at a time (appends and evaluations
 * alternate); nothing blocks. */

/* Returns a new empty store, or NULL on allocation failure. */
mm_promql_store_t *mm_promql_store_new(void);

/* Frees the store and every series; NULL is a no-op. */
void mm_promql_store_free(mm_promql_store_t *s);

/* Removes every series. */
void mm_promql_store_clear(mm_promql_store_t *s);

/* Appends one sample to the series named by labels (n labels, __name__ among
 * them or not; any order; copied; empty values mean "no such label").
 * Errors: -EINVAL (no label, invalid or duplicate label names), -ERANGE
 * (t older than the series' newest sample: out of order), -EEXIST (same t,
 * different value; same t and value is accepted and ignored), -ENOMEM.
 * Stale markers are appended like any value. */
int mm_promql_store_append(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                           int64_t t, double v);

/* Bulk load: appends count samples (t ascending) to one series. Samples not
 * newer than the series' newest are skipped (backfill after a restart may
 * overlap). Returns the number appended or a negative errno as above. */
long mm_promql_store_load(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                          const int64_t *t, const double *v, size_t count);

/* Drops samples older than min_t, and series left without samples (which
 * may renumber the series: references taken before become invalid). */
void mm_promql_store_trim(mm_promql_store_t *s, int64_t min_t);

/* A reference to one series of one store, for appending without hashing
 * and comparing labels. It stays valid until the store renumbers its series
 * (mm_promql_store_trim() may, mm_promql_store_clear() does); a zeroed
 * reference is never valid. */
typedef struct {
    uint64_t gen;
    uint32_t id;
} mm_promql_ref_t;

/* Finds the series named by labels (as mm_promql_store_append() takes them)
 * or creates it without samples, and sets *ret_ref. Errors: -EINVAL (no
 * label, invalid or duplicate label names), -ENOMEM. */
int mm_promql_store_ref(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                        mm_promql_ref_t *ret_ref);

/* Like mm_promql_store_ref() but never creates: -ENOENT when there is no
 * such series. */
int mm_promql_store_find(const mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                         mm_promql_ref_t *ret_ref);

/* True when ref still names a series of s. */
bool mm_promql_store_ref_valid(const mm_promql_store_t *s, mm_promql_ref_t ref);

/* Appends one sample to the series ref names, with the errors of
 * mm_promql_store_append(); -ESTALE when the reference is no longer valid. */
int mm_promql_store_append_ref(mm_promql_store_t *s, mm_promql_ref_t ref, int64_t t, double v);

/* The sorted labels of the series ref names (owned by the store, valid
 * while the reference is), or NULL when the reference is not valid. */
const mm_label_t *mm_promql_store_ref_labels(const mm_promql_store_t *s, mm_promql_ref_t ref,
                                             size_t *ret_n);

/* Number of live series. */
size_t mm_promql_store_series_count(const mm_promql_store_t *s);

/* Calls cb for each series matching all matchers (a series lacking a label
 * has it as ""), in no particular order. Stops early when cb returns
 * non-zero and returns that value; else 0. Views are valid until the store
 * is next modified. */
int mm_promql_store_select(const mm_promql_store_t *s, const mm_match_t *matchers, size_t n,
                           int (*cb)(const mm_promql_series_view_t *view, void *arg), void *arg);

/* What mm_promql_store_select_sorted() keeps of one selector between calls:
 * the ids of the series whose labels match, in label order, and what the
 * store looked like then. Zero it before the first call; it belongs to one
 * selector (the same matchers every call). */
typedef struct {
    uint64_t gen;
    size_t key;
    uint32_t *ids;
    size_t n;
} mm_promql_selcache_t;

/* Frees what the cache holds and zeroes it. */
void mm_promql_selcache_fini(mm_promql_selcache_t *c);

/* Like mm_promql_store_select(), but calls cb in label order (the sort of
 * Prometheus's index). The matching series are remembered in cache and
 * looked up again only when the store gained series that could match (or
 * renumbered them). Returns -ENOMEM, cb's non-zero value, or 0. */
int mm_promql_store_select_sorted(const mm_promql_store_t *s, const mm_match_t *matchers,
                                  size_t n, mm_promql_selcache_t *cache,
                                  int (*cb)(const mm_promql_series_view_t *view, void *arg),
                                  void *arg);

#endif
