/* A parser for the Prometheus text exposition format 0.0.4, for the targets
 * the collector scrapes. A body is taken whole or not at all: the first
 * malformed line fails the parse (as Prometheus fails the scrape), so a
 * target returning garbage gets up 0. No I/O. */
#ifndef COLLECTOR_PROMTEXT_H
#define COLLECTOR_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sample.h"

typedef struct {
    const char *name;
    const char *family;         /* TYPE/HELP name (foo for foo_bucket) */
    mm_label_t *labels;         /* sorted by name */
    size_t n_labels;
    collector_type_t type;
    const char *help;           /* "" when none */
    double value;
    int64_t time_ms;            /* 0 when the line has no timestamp */
} promtext_sample_t;

typedef struct promtext_block promtext_block_t;

typedef struct {
    promtext_sample_t *samples;
    size_t n, cap;
    promtext_block_t *blocks;   /* arena holding every string */
} promtext_result_t;

typedef struct {
    size_t max_samples;         /* 0 = unlimited; more fails with -MM_ELIMIT */
    size_t max_labels;          /* per sample; 0 = 64 */
    size_t max_line;            /* bytes; 0 = 64 KiB */
} promtext_limits_t;

/* Parses buf (need not be NUL-terminated). On success fills *ret (release it
 * with collector_promtext_fini) and returns 0. On error returns -MM_EPARSE
 * (or -MM_ELIMIT, -ENOMEM), leaves *ret empty, and sets *ret_line to the
 * 1-based line and err to a short reason. limits may be NULL. */
int collector_promtext_parse(const char *buf, size_t len, const promtext_limits_t *limits,
                             promtext_result_t *ret, unsigned *ret_line, char *err, size_t errcap);

void collector_promtext_fini(promtext_result_t *r);

#endif
