/* The collector's core: the latest value of every series from every source
 * (StatsD, scrapes, system metrics), batched updates for the bus (metric.batch,
 * at most batch_max_bytes per message, at most batch_max_age_ms old), the
 * full state republished in chunks on state.collector, the history feed, and
 * the history.query command. No sockets and no loop: collector_io drives it
 * with the time and hands it commands; it hands envelopes to publish(). */
#ifndef COLLECTOR_H
#define COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "memmon.pb-c.h"
#include "sample.h"

typedef struct collector collector_t;

/* Publishes env on topic. env and everything it points to is only borrowed
 * for the call. Returns 0 or a negative errno (counted, never retried). */
typedef int (*collector_publish_fn)(void *data, const char *topic, Mm__Envelope *env);

typedef struct {
    size_t batch_max_bytes;     /* 0 = 64 KiB */
    int64_t batch_max_age_ms;   /* 0 = 50 ms */
    size_t state_chunk_bytes;   /* 0 = 256 KiB */
    size_t max_series;          /* 0 = 1,000,000: beyond, new series are dropped */
    history_t *history;         /* borrowed; NULL = no history */
    collector_publish_fn publish;
    void *data;
} collector_opts_t;

/* Returns NULL when out of memory. */
collector_t *collector_new(const collector_opts_t *opts);
void collector_free(collector_t *c);

/* The sink every source emits into. Owned by c. Each sample updates the
 * latest value, joins the pending batch (published at once when it reaches
 * batch_max_bytes) and goes to the history. */
collector_sink_t *collector_sink(collector_t *c);

/* Publishes the pending batch when it is batch_max_age_ms old (or older). */
void collector_tick(collector_t *c, int64_t now_ms);

/* Publishes the pending batch now (when there is one). */
void collector_flush(collector_t *c, int64_t now_ms);

/* Publishes every live series (latest value, type, help) on state.collector
 * as numbered StateChunks of at most state_chunk_bytes. */
void collector_publish_state(collector_t *c, int64_t now_ms, uint64_t snapshot_id);

/* Handles a command addressed to the collector and publishes the reply on
 * reply.<requester>. Verb history.query answers with the JSON of
 * collector_history_query_json(); state.publish republishes the full state
 * at once (202); a repeated id gets the remembered reply;
 * a command past its deadline is dropped (the requester gave up). */
void collector_command(collector_t *c, const Mm__Command *cmd, int64_t now_ms);

/* Takes samples other processes published (the gateway's HTTP ingest on
 * metric.ingest): they join the latest values, the state and the history,
 * but are not published again. Invalid names and labels are skipped. */
void collector_ingest(collector_t *c, const Mm__MetricBatch *b, int64_t now_ms);

typedef struct {
    size_t series;
    uint64_t samples, batches, state_chunks, publish_errors, dropped_limit, replies;
} collector_stats_t;
void collector_stats(const collector_t *c, collector_stats_t *ret);

/* Emits the core's own series (memmon_collector_series, ..._published_total). */
void collector_emit_self(collector_t *c, int64_t now_ms);

#endif
