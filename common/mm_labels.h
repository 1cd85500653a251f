/* Label sets and series identity, shared by the collector, the gateway,
 * health and the rule engine (CONTRACTS.md §3). A series is a metric name plus
 * labels sorted by name; its identity is mm_labels_fingerprint(). */
#ifndef MM_LABELS_H
#define MM_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *value;
} mm_label_t;

/* Sorts labels by name in place (stable for equal names). */
void mm_labels_sort(mm_label_t *labels, size_t n);

/* 64-bit identity of name + labels; labels must be sorted. The metric name
 * takes part as if it were the label __name__, so a label set that carries
 * __name__ itself (n labels, name NULL) hashes the same as (name, n-1 labels). */
uint64_t mm_labels_fingerprint(const char *name, const mm_label_t *labels, size_t n);

/* Prometheus name rules: metric names [a-zA-Z_:][a-zA-Z0-9_:]*,
 * label names [a-zA-Z_][a-zA-Z0-9_]*. */
bool mm_metric_name_valid(const char *s, size_t len);
bool mm_label_name_valid(const char *s, size_t len);

/* Copies src into dst as a valid metric name: dots and every other invalid byte
 * become '_', a leading digit gets a '_' prefix. Writes at most cap bytes with
 * the NUL; returns the length it needed (like snprintf). */
size_t mm_metric_name_sanitize(char *dst, size_t cap, const char *src, size_t len);

/* Same for label names (no ':'). */
size_t mm_label_name_sanitize(char *dst, size_t cap, const char *src, size_t len);

/* Prometheus's stale marker: a NaN with bits 0x7ff0000000000002. */
double mm_stale_nan(void);
bool mm_is_stale_nan(double v);

#endif
