/* The health engine: turns probe results into levels and a report. It keeps,
 * per check, the last M raw levels (N-of-M flap tolerance with asymmetric
 * fail/recover counts for hysteresis), resolves depends_on ("blocked by X",
 * left out of score and overall), computes the weighted score of CONTRACTS.md
 * §7 with each check's penalty, and records level changes. No sockets, no
 * loop: time comes from an injected clock. */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "health_config.h"
#include "memmon.pb-c.h"
#include "mm_clock.h"

#define HEALTH_WINDOW_MAX 64
#define HEALTH_MSG_MAX 512
#define HEALTH_DETAILS_MAX 16

/* One measured value of a run ("latency_ms" = "12.5"). */
typedef struct {
    char name[48];
    char value[80];
} health_detail_t;

/* What one probe run found. */
typedef struct {
    health_level_t level;
    char message[HEALTH_MSG_MAX];
    double duration_s;
    int64_t time_ms;            /* when the run finished (wall clock) */
    health_detail_t details[HEALTH_DETAILS_MAX];
    size_t n_details;
} health_result_t;

void health_result_init(health_result_t *r);
/* Sets level and message (printf); a worse level than the current one wins,
 * and its message replaces the current one. */
void health_result_raise(health_result_t *r, health_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a detail; silently drops it when the array is full. */
void health_result_detail(health_result_t *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replaces bytes that are not valid UTF-8, and control bytes, with '?'. */
void health_utf8_clean(char *s);

typedef struct {
    char check[64];
    health_level_t from, to;
    int64_t time_ms;
    char message[256];
} health_change_t;

typedef struct health health_t;

/* Called for every level change (also for the first result of a check), from
 * inside health_record(). */
typedef void (*health_on_change_cb)(health_t *h, const health_change_t *c, void *data);

/* Creates an engine for cfg's checks. cfg is borrowed and must outlive the
 * engine (or until health_set_config). Returns 0 or -ENOMEM. */
int health_new(const health_config_t *cfg, const mm_clock_t *clock, health_t **ret_h);
void health_free(health_t *h);

void health_set_on_change(health_t *h, health_on_change_cb cb, void *data);

/* Switches to a new config; checks keep their state by name, new ones start
 * empty, removed ones go. cfg is borrowed as in health_new. */
int health_set_config(health_t *h, const health_config_t *cfg);

size_t health_count(const health_t *h);
/* Index of a check by name, or -ENOENT. */
int health_index(const health_t *h, const char *name);
const health_check_conf_t *health_conf(const health_t *h, size_t i);

/* Records a probe result for check i: pushes the raw level into the window,
 * applies N-of-M, updates dependencies, score and overall, and calls the
 * change callback when the smoothed level moves. Returns 1 when the level
 * changed, 0 when not, -EINVAL for a bad index. */
int health_record(health_t *h, size_t i, const health_result_t *r);

/* Restores a check's persisted state (level, since, window oldest first).
 * Used at startup from health.db. Returns 0 or -ENOENT for an unknown name. */
int health_restore(health_t *h, const char *name, health_level_t level, int64_t since_ms,
                   const uint8_t *window, size_t n);
/* Current window of check i, oldest first; returns its length. */
size_t health_window(const health_t *h, size_t i, uint8_t *ret, size_t cap);
/* Appends a past change to the in-memory history without a callback. */
void health_history_push(health_t *h, const health_change_t *c);

/* The state of check i. */
typedef struct {
    bool has_result;
    health_level_t level;       /* smoothed */
    int64_t since_ms;
    const health_result_t *last;
    const char *blocked_by;     /* NULL when not blocked; the root cause's name */
    double penalty;             /* what it takes off the score */
    uint64_t runs;
} health_state_t;

int health_state(const health_t *h, size_t i, health_state_t *ret);

health_level_t health_overall(const health_t *h);
double health_score(const health_t *h);

/* A HealthReport view of the engine: the proto structs point into h and into
 * this object, so it is valid until the next call that changes h. Fill with
 * health_report_fill(), release with health_report_fini(). `only` (may be
 * NULL) restricts checks to those whose index has only[i] true. */
typedef struct {
    Mm__HealthReport report;
    Mm__CheckResult *results;
    Mm__CheckResult **result_ptrs;
    Mm__Label *labels;
    Mm__Label **label_ptrs;
    Mm__LevelChange *changes;
    Mm__LevelChange **change_ptrs;
} health_report_t;

void health_report_init(health_report_t *r);
int health_report_fill(const health_t *h, health_report_t *r, const bool *only,
                       size_t max_changes);
void health_report_fini(health_report_t *r);

#endif
