/* The health service's adapter to libuv and the bus: schedules every check on
 * the loop (a timer each, jittered, bounded concurrency, hard deadlines),
 * feeds results to the engine, and publishes reports (health.report), series
 * (metric.health), on-demand results (health.run.<id>) and the full state
 * (state.health); answers cmd.health. Publishing goes through a callback so
 * this file does not depend on the service lifecycle. */
#ifndef HEALTH_IO_H
#define HEALTH_IO_H

#include <stdint.h>
#include <uv.h>

#include "health_config.h"
#include "memmon.pb-c.h"
#include "mm_clock.h"

typedef struct health_io health_io_t;

typedef int (*health_publish_cb)(void *data, const char *topic, Mm__Envelope *env);

typedef struct {
    uv_loop_t *loop;
    const mm_clock_t *clock;
    health_publish_cb publish;
    void *publish_data;
    const char *db_path;        /* <data_dir>/health.db, or NULL for none */
    int64_t state_ms;           /* full-state republish period */
    int64_t flush_ms;           /* report batching period; 0 = 200 ms */
} health_io_opts_t;

/* Creates the scheduler for cfg, which it references (health_config_ref) until
 * replaced or freed. Nothing runs before health_io_start(). Returns 0 or a
 * negative errno. */
int health_io_new(const health_io_opts_t *opts, health_config_t *cfg, health_io_t **ret_io);
int health_io_start(health_io_t *io);
/* Switches to a new config; checks keep state by name; runs in flight finish
 * against the old one. Returns 0 or -ENOMEM (then the old config stays). */
int health_io_reload(health_io_t *io, health_config_t *cfg);
/* Handles a bus message (metric.* batches, cmd.health commands). */
void health_io_on_message(health_io_t *io, const char *topic, const Mm__Envelope *env);
/* Stops timers, kills running commands, closes handles; the loop must run
 * until empty afterwards. health_io_free() then releases the memory. */
void health_io_stop(health_io_t *io);
void health_io_free(health_io_t *io);

/* Figures for the heartbeat and tests. */
typedef struct {
    uint64_t runs, timeouts, overruns, in_flight, reports, changes;
} health_io_stats_t;
void health_io_stats(const health_io_t *io, health_io_stats_t *ret);

#endif
