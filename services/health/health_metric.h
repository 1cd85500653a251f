/* The series the `metric` checks read, kept from the metric.* bus stream:
 * only names some check selects, only as far back as the longest window
 * asks. Socket-free; evaluation takes the time as an argument. */
#ifndef HEALTH_METRIC_H
#define HEALTH_METRIC_H

#include <stddef.h>
#include <stdint.h>

#include "health_config.h"
#include "memmon.pb-c.h"

typedef struct health_metric_store health_metric_store_t;

int health_metric_store_new(health_metric_store_t **ret);
void health_metric_store_free(health_metric_store_t *s);

/* Takes the names and windows to keep from cfg's metric checks (borrowed
 * for the call only). Series no longer selected are dropped. */
int health_metric_store_watch(health_metric_store_t *s, const health_config_t *cfg);

/* Adds the samples of the selected series in b. Stale markers end a series. */
void health_metric_store_feed(health_metric_store_t *s, const Mm__MetricBatch *b);

/* The value of check c at now_ms: fn over the window of the sum of the
 * `series` selectors, divided by the sum of `divide_by` when given. Returns
 * 0 with *ret set, -ENODATA when no selected series has samples in the window
 * (why says which), or -EDOM for a zero denominator. */
int health_metric_eval(const health_metric_store_t *s, const health_check_conf_t *c,
                       int64_t now_ms, double *ret, char *why, size_t cap);

size_t health_metric_store_series(const health_metric_store_t *s);

#endif
