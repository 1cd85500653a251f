/* The probe interface between the scheduler (health_io.c) and the check
 * kinds (check_*.c). A run is started by the scheduler, which owns its
 * deadline: when the timeout fires first, the scheduler records a critical
 * "timed out" result and asks the probe to cancel; the probe then releases
 * its resources asynchronously and drops its reference. A probe reports
 * exactly once through health_run_done(); calls after a timeout are ignored. */
#ifndef HEALTH_PROBE_H
#define HEALTH_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "health.h"
#include "health_config.h"

typedef struct health_io health_io_t;
typedef struct health_run health_run_t;

typedef struct {
    /* Starts the run; returns 0 (it will call health_run_done later, or is
     * cancelled) or a negative errno (the scheduler records the error). */
    int (*start)(health_run_t *run);
    /* The deadline passed: stop at once (kill, close, interrupt). The probe
     * still calls health_run_unref() when its resources are released. */
    void (*cancel)(health_run_t *run);
} health_probe_ops_t;

/* Per-check state a probe may keep between runs (a compiled regex, the
 * previous pid, the last quick_check time). Owned by the scheduler and
 * released with `free_fn` when the check goes away. */
typedef struct {
    void *data;
    void (*free_fn)(void *data);
    int64_t last_quick_check_ms;
    long last_pid;
    health_level_t last_level[4];   /* per measure, for threshold hysteresis */
    uint64_t restarts;
} health_probe_memo_t;

struct health_run {
    health_io_t *io;
    struct sched *sched;        /* the scheduler's entry; opaque to probes */
    health_config_t *cfg_ref;   /* keeps conf alive across a reload */
    health_run_t *next, *prev;  /* runs in flight */
    uv_loop_t *loop;
    const health_check_conf_t *conf;
    health_probe_memo_t *memo;
    size_t index;
    int refs;
    bool done;                  /* a result was recorded (by the probe or the timeout) */
    bool cancelled;
    int64_t start_ns;
    int64_t deadline_ns;        /* monotonic */
    uv_timer_t timer;
    health_result_t result;     /* the probe fills this, then calls health_run_done */
    void *probe;                /* the probe's own state */
    const health_probe_ops_t *ops;
};

/* Records run->result (duration filled in here) unless the run already
 * timed out. Does not drop the probe's reference. */
void health_run_done(health_run_t *run);
/* Drops a reference; the run is freed with the last one. */
void health_run_unref(health_run_t *run);
void health_run_ref(health_run_t *run);
/* Monotonic now, from the scheduler's clock. */
int64_t health_run_mono_ns(const health_run_t *run);
int64_t health_run_now_ms(const health_run_t *run);

extern const health_probe_ops_t health_probe_command;
extern const health_probe_ops_t health_probe_tcp;
extern const health_probe_ops_t health_probe_http;
extern const health_probe_ops_t health_probe_sqlite;
extern const health_probe_ops_t health_probe_metric;
extern const health_probe_ops_t health_probe_system;
extern const health_probe_ops_t health_probe_process;

/* Reaps orphaned descendants of command plugins (the service is their
 * subreaper), leaving the plugins themselves to libuv. Call on SIGCHLD. */
void health_command_reap(void);

/* The metric store the metric probe reads (health_metric.c). */
struct health_metric_store;
struct health_metric_store *health_io_metrics(health_io_t *io);
/* The shared libcurl multi context (check_http.c creates it on first use).
 * close_fn runs at health_io_stop(), after every run was cancelled: it closes
 * the context's handles and frees it from their close callbacks. */
void *health_io_curl(health_io_t *io);
void health_io_set_curl(health_io_t *io, void *curl, void (*close_fn)(void *));

#endif
