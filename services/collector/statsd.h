/* StatsD and DogStatsD: a line parser and an aggregator that turns lines into
 * Prometheus-model series (CONTRACTS.md §3): counters → cumulative <name>_total
 * (sample rate applied), gauges (absolute, +/- deltas), timers (ms) →
 * <name>_seconds histograms, h/d → histograms in the unit sent, sets →
 * distinct values per flush interval; tags become labels. Series idle for
 * the TTL end with a stale marker; cardinality limits drop new series and
 * count them. Names are made acceptable to promtool check metrics: a gauge
 * or set loses a _total/_count/_sum/_bucket suffix, a timer a _ms suffix
 * before _seconds. No sockets, no clock: callers pass the time. */
#ifndef COLLECTOR_STATSD_H
#define COLLECTOR_STATSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample.h"

typedef enum {
    STATSD_COUNTER,     /* c */
    STATSD_GAUGE,       /* g */
    STATSD_TIMER,       /* ms */
    STATSD_HISTOGRAM,   /* h */
    STATSD_DISTRIBUTION,/* d */
    STATSD_SET,         /* s */
} statsd_kind_t;

/* One parsed line; spans point into the caller's buffer. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *values;         /* one value, or several separated by ':' */
    size_t values_len;
    statsd_kind_t kind;
    double rate;                /* @rate, (0, 1]; 1 when absent */
    const char *tags;           /* the text after '#', or NULL */
    size_t tags_len;
} statsd_line_t;

/* Parses one line (without its newline). Returns 0 or -MM_EPARSE for a
 * malformed line (empty name, no value, unknown type, bad rate, a value that
 * is not a number where one is needed). Never allocates. */
int collector_statsd_parse_line(const char *line, size_t len, statsd_line_t *ret);

/* Parses one value of a numeric line: "12.5", "+3", "-1e3". *ret_delta is
 * true when the text starts with a sign (gauges apply it as a delta). */
int collector_statsd_parse_value(const char *s, size_t len, double *ret, bool *ret_delta);

typedef struct {
    const char *pattern;        /* fnmatch(3) pattern on the final metric name */
    const double *bounds;       /* ascending upper bounds, +Inf implied */
    size_t n_bounds;
} statsd_buckets_t;

typedef struct {
    size_t max_series;          /* in total; 0 = 100000 */
    size_t max_series_per_name; /* per metric family; 0 = 10000 */
    int64_t ttl_ms;             /* 0 = 10 min */
    const statsd_buckets_t *buckets;   /* first match wins; copied */
    size_t n_buckets;
    const double *default_bounds;      /* NULL = Prometheus's defaults; copied */
    size_t n_default_bounds;
    const char *source;         /* for generated HELP: "StatsD gauge from <source>" */
} statsd_opts_t;

typedef struct {
    uint64_t packets, lines, samples;
    uint64_t parse_errors;
    uint64_t dropped_limit_total, dropped_limit_name, dropped_type_conflict;
    uint64_t expired;
    size_t series;
} statsd_stats_t;

typedef struct collector_statsd collector_statsd_t;

/* opts is copied, its arrays too. Returns NULL when out of memory. */
collector_statsd_t *collector_statsd_new(const statsd_opts_t *opts);
void collector_statsd_free(collector_statsd_t *st);

/* Feeds one datagram: lines separated by '\n' (a trailing '\r' is ignored).
 * Malformed lines are counted and skipped. O(length); allocates only for a
 * series seen the first time. */
void collector_statsd_ingest(collector_statsd_t *st, const char *buf, size_t len, int64_t now_ms);

/* Emits every series updated since the last flush (sets: every set, with
 * the distinct count of the interval, then clears them), ends the series
 * idle for longer than the TTL with stale markers, all stamped now_ms. */
void collector_statsd_flush(collector_statsd_t *st, int64_t now_ms, collector_sink_t *sink);

/* Changes limits and TTL in place (a config reload); 0 keeps a value.
 * Series over a new, lower limit stay until they expire. */
void collector_statsd_set_limits(collector_statsd_t *st, size_t max_series, size_t max_series_per_name,
                                 int64_t ttl_ms);

/* Counts a datagram that did not fit the receive buffer (truncated) as a
 * parse error; its content is not looked at. */
void collector_statsd_note_oversized(collector_statsd_t *st);

void collector_statsd_stats(const collector_statsd_t *st, statsd_stats_t *ret);

#endif
