/* The gateway's logic: an in-memory view of everyone's latest state built
 * from bus envelopes (metric series with type, help, labels and latest value;
 * per-service heartbeats; the latest health report), the event ring the
 * WebSocket replays from, pending commands awaiting replies, and the JSON and
 * text renderers. No sockets and no loop: time comes from the injected clock,
 * and the I/O layer (gateway_io.c) calls in. Single-threaded. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway_buf.h"
#include "memmon.pb-c.h"
#include "mm_clock.h"

typedef struct gateway gateway_t;

typedef struct {
    const char *instance;       /* our own instance name (copied) */
    size_t max_series;          /* 0 = 500,000; more are dropped and counted */
    size_t event_ring;          /* events kept for {"resume": N}; 0 = 1024 */
    int64_t default_hb_ms;      /* heartbeat period assumed when a service sends 0; 0 = 5 s */
} gateway_opts_t;

/* Creates an empty view. The clock must outlive the gateway. Returns 0,
 * -EINVAL or -ENOMEM. */
int gateway_new(const gateway_opts_t *opts, const mm_clock_t *clock, gateway_t **ret_gw);
void gateway_free(gateway_t *gw);   /* NULL is a no-op; pending commands get no callback */

/* ---- events (WebSocket frames) ---- */

typedef struct {
    uint64_t seq;               /* 1, 2, ... per gateway process */
    const char *topic;          /* "health.change", "service.up", ... */
    const char *frame;          /* the whole frame {"topic","seq","data"}; NUL-terminated */
    size_t len;
} gateway_event_t;

/* Called for each new event (already in the ring), and for each metric batch
 * (so the I/O layer can send per-client filtered metric frames). Both may be
 * NULL. Pointers are valid during the call only. */
typedef void (*gateway_event_cb)(void *data, const gateway_event_t *ev);
typedef void (*gateway_metrics_cb)(void *data, const Mm__Envelope *env, const Mm__MetricBatch *batch);
void gateway_set_hooks(gateway_t *gw, gateway_event_cb on_event, gateway_metrics_cb on_metrics,
                       void *data);

/* Last event sequence number handed out (0 before the first). */
uint64_t gateway_event_seq(const gateway_t *gw);
/* Calls cb for every event in the ring with seq > after, oldest first.
 * Returns the number of events the ring no longer holds (a gap) or 0. */
uint64_t gateway_events_since(const gateway_t *gw, uint64_t after,
                              void (*cb)(void *data, const gateway_event_t *ev), void *data);

/* ---- input ---- */

/* Applies one envelope (metric batch, heartbeat, health report, reply, state
 * chunk). Never fails: what it cannot use is counted (see the exposition). */
void gateway_on_envelope(gateway_t *gw, const char *topic, const Mm__Envelope *env);

/* Periodic work (call about every second): services going stale become
 * events, expired pending commands get their callback with NULL. Returns the
 * milliseconds until the next pending deadline, or -1 when none. */
int64_t gateway_tick(gateway_t *gw);

/* True once a metric batch or another service's state has arrived. */
bool gateway_ready(const gateway_t *gw);
/* Bumps on every change of what the renderers show. */
uint64_t gateway_generation(const gateway_t *gw);
size_t gateway_series_count(const gateway_t *gw);

/* ---- commands awaiting replies ---- */

typedef struct gateway_pending gateway_pending_t;
/* reply is NULL when the deadline passed. The pending entry is gone when
 * this runs; do not cancel it. */
typedef void (*gateway_reply_cb)(void *data, const Mm__Reply *reply);

/* Registers a command id (copied) to wait for until deadline_ms (clock's
 * now_ms scale). Returns 0, -EEXIST or -ENOMEM. */
int gateway_pending_add(gateway_t *gw, const char *id, int64_t deadline_ms, gateway_reply_cb cb,
                        void *data, gateway_pending_t **ret);
/* Forgets a pending command without calling its callback. */
void gateway_pending_cancel(gateway_t *gw, gateway_pending_t *p);
size_t gateway_pending_count(const gateway_t *gw);
/* Calls every pending callback with NULL now (at shutdown). */
void gateway_pending_fail_all(gateway_t *gw);

/* ---- request accounting (for the exposition) ---- */

/* handler must be a string with static lifetime. */
void gateway_count_request(gateway_t *gw, const char *handler, int status);
void gateway_set_ws_clients(gateway_t *gw, size_t n);
void gateway_count_ws_dropped(gateway_t *gw, uint64_t frames);

/* ---- renderers: append to b; check gateway_buf_failed(b) afterwards ---- */

/* GET /api/status: the reference's shape plus heartbeats. */
void gateway_render_status(gateway_t *gw, gateway_buf_t *b);

typedef struct {
    const char *name_prefix;    /* only series whose name starts with it; NULL = all */
    bool reference;             /* include {"metrics":{"timestamp","metrics":{counters,...}}} */
    bool labelled;              /* include "series": [...] */
} gateway_metrics_query_t;
/* GET /api/metrics. */
void gateway_render_metrics_json(gateway_t *gw, gateway_buf_t *b, const gateway_metrics_query_t *q);
/* The current counters/gauges/histograms object alone (for /api/performance). */
void gateway_render_metrics_current(gateway_t *gw, gateway_buf_t *b);

/* Text format 0.0.4 of every series in the view, families grouped and sorted
 * by name. Depends only on gateway_generation(), so callers may cache it. */
void gateway_render_exposition(gateway_t *gw, gateway_buf_t *b);
/* The gateway's own series (requests, WebSocket clients, services' up and
 * bus gaps from heartbeats); changes on every request, so render it apart. */
void gateway_render_own_exposition(gateway_t *gw, gateway_buf_t *b);

/* GET /api/health: the latest report in the reference's shape, or
 * {"status":"unknown","message":...}. Returns false when none arrived. */
bool gateway_render_health(gateway_t *gw, gateway_buf_t *b);

/* ---- WebSocket client protocol ---- */

/* A client's topic filter: prefixes of frame topics. The default (what a
 * client that sends nothing gets) is everything but "metric.". */
typedef struct {
    char **prefixes;
    size_t n;
    bool is_default;
} gateway_ws_filter_t;

void gateway_ws_filter_init(gateway_ws_filter_t *f);        /* the default */
void gateway_ws_filter_fini(gateway_ws_filter_t *f);
bool gateway_ws_filter_match(const gateway_ws_filter_t *f, const char *topic);
/* True when the filter takes any "metric." topic. */
bool gateway_ws_filter_wants_metrics(const gateway_ws_filter_t *f);

/* Handles one text message from a client: {"subscribe": [...]} replaces the
 * filter, {"unsubscribe": [...]} removes prefixes, {"resume": N} asks for a
 * replay (returned in *ret_resume, else -1), {"type":"ping"} and the
 * reference's {"type":"subscribe"} are answered. The answer frame, if any,
 * is appended to reply. Returns 0, or -EINVAL for a bad message (the error
 * frame is in reply). */
int gateway_ws_client_message(gateway_t *gw, gateway_ws_filter_t *f, const char *msg, size_t len,
                              int64_t *ret_resume, gateway_buf_t *reply);

/* Appends {"topic":topic,"seq":S,"data":<status>} with S = gateway_event_seq(). */
void gateway_render_status_frame(gateway_t *gw, gateway_buf_t *b);
/* Appends a metric frame holding the batch's series that f wants; returns how
 * many it holds (0: nothing appended). */
size_t gateway_render_metric_frame(gateway_t *gw, const gateway_ws_filter_t *f,
                                   const Mm__Envelope *env, const Mm__MetricBatch *batch,
                                   gateway_buf_t *b);
/* Appends {"topic":topic,"seq":S,"data":<data_json>} (data_json trusted). */
void gateway_render_frame(gateway_t *gw, gateway_buf_t *b, const char *topic, const char *data_json,
                          size_t data_len);

#endif
