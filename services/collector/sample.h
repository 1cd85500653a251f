/* The one shape every collector source (StatsD, scrapes, system metrics)
 * hands its values in: a sample of one series, pushed into a sink. The
 * collector core behind the sink keeps the latest value of every series,
 * batches updates for the bus and feeds the history. */
#ifndef COLLECTOR_SAMPLE_H
#define COLLECTOR_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "mm_labels.h"

/* Same numbering as mm.MetricType in proto/memmon.proto. */
typedef enum {
    COLLECTOR_UNTYPED = 0,
    COLLECTOR_COUNTER = 1,
    COLLECTOR_GAUGE = 2,
    COLLECTOR_HISTOGRAM = 3,
    COLLECTOR_SUMMARY = 4,
} collector_type_t;

/* A stale marker may name its series by fp alone (name NULL): the core then
 * ends whatever series it holds under that fingerprint. */
typedef struct {
    const char *name;           /* the sample's series name (foo_bucket, foo_total) */
    const char *family;         /* metric family for TYPE/HELP (foo); NULL = name */
    const mm_label_t *labels;   /* sorted by name */
    size_t n_labels;
    collector_type_t type;
    const char *help;           /* NULL or "" = none */
    uint64_t fp;                /* mm_labels_fingerprint(name, labels); 0 = compute it */
    int64_t time_ms;
    double value;               /* mm_stale_nan() ends the series */
} collector_sample_t;


typedef struct collector_sink collector_sink_t;
struct collector_sink {
    /* Takes a sample; everything it points to is only borrowed for the call. */
    void (*emit)(collector_sink_t *sink, const collector_sample_t *s);
};

static inline void collector_emit(collector_sink_t *sink, const collector_sample_t *s)
{
    sink->emit(sink, s);
}

/* One unlabelled series of the collector's own metrics. */
typedef struct {
    collector_type_t type;
    const char *name;
    const char *help;
    double value;
} collector_self_t;

/* memmon_collector_series_dropped_total{reason}, which several parts of the
 * collector emit, each for its own reasons. */
static inline void collector_emit_dropped(collector_sink_t *sink, int64_t now_ms, const char *reason,
                                          uint64_t count)
{
    mm_label_t l = {"reason", reason};
    collector_sample_t s = {
        .name = "memmon_collector_series_dropped_total", .labels = &l, .n_labels = 1,
        .type = COLLECTOR_COUNTER, .time_ms = now_ms, .value = (double)count,
        .help = "Samples dropped because they would create a series over a limit or of a conflicting type",
    };
    collector_emit(sink, &s);
}

/* Emits n self-metric rows, all stamped now_ms. */
static inline void collector_emit_rows(collector_sink_t *sink, int64_t now_ms,
                                       const collector_self_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        collector_sample_t s = {.name = rows[i].name, .type = rows[i].type, .help = rows[i].help,
                                .time_ms = now_ms, .value = rows[i].value};
        collector_emit(sink, &s);
    }
}

#endif
