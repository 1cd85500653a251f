/* The view's data structures, shared by gateway.c (updates) and
 * gateway_render.c (renderers). Not part of the gateway's interface. */
#ifndef GATEWAY_INTERNAL_H
#define GATEWAY_INTERNAL_H

#include "expo.h"
#include "gateway.h"
#include "mm_labels.h"
#include "mm_map.h"

enum { ROLE_PLAIN, ROLE_BUCKET, ROLE_QUANTILE, ROLE_SUM, ROLE_COUNT };

typedef struct gw_family gw_family_t;
typedef struct gw_group gw_group_t;

typedef struct {
    uint64_t fp;
    gw_family_t *fam;
    gw_group_t *grp;            /* histogram and summary members only */
    char *name;                 /* the sample name (x, x_bucket, x_sum ...) */
    mm_label_t *labels;         /* sorted; all strings live in the same block */
    size_t n_labels;
    int role;
    double bound;               /* le or quantile */
    double value;
    int64_t time_ms;
    char *prefix;               /* "name{labels} " for the exposition */
    size_t prefix_len;
    char val[GATEWAY_EXPO_VALUE_MAX];
    uint8_t val_len;
    bool val_dirty;
    uint32_t owner;             /* index in gateway_t.owners: who last sent it */
    uint64_t snap;              /* the owner's last full-state snapshot holding it */
    int64_t sent_ms;            /* envelope time of its last update */
    size_t pos;                 /* index in fam->series or grp->members */
} gw_series_t;

struct gw_group {               /* one label set of a histogram or summary */
    uint64_t key;
    gw_family_t *fam;
    const mm_label_t *labels;   /* borrowed from a member, without le/quantile */
    size_t n_labels;
    mm_label_t *own_labels;     /* the copy behind labels */
    gw_series_t **members;      /* buckets or quantiles, sorted by bound */
    size_t n, cap;
    gw_series_t *sum, *count;
    size_t pos;
};

struct gw_family {
    char *name;
    Mm__MetricType type;
    char *help;
    gw_series_t **series;       /* plain series */
    size_t n, cap;
    gw_group_t **groups;        /* histograms and summaries */
    size_t ngroups, gcap;
    size_t pos;
};

typedef struct {
    char *service;
    char *instance;
    uint64_t boot_id;
    char *version;
    int state;
    int64_t started_ms;
    double uptime_s;
    int32_t pid;
    uint64_t config_generation;
    char *config_error;
    uint64_t rss_bytes;
    double cpu_seconds;
    uint64_t bus_gaps, bus_received, bus_sent;
    int64_t interval_ms;
    int64_t last_seen_ms;       /* our clock */
    int64_t sent_ms;            /* the envelope's time */
    bool up;                    /* as last reported in an event */
} gw_service_t;

/* A sender of metrics, and the full-state snapshot it is sending: once all
 * chunks of one snapshot have arrived, the series it no longer holds go. */
typedef struct {
    char *instance;
    uint64_t snap;
    uint32_t got, total;
    int64_t snap_ms;            /* envelope time of the snapshot's first chunk seen */
} gw_owner_t;

typedef struct {
    uint64_t seq;
    char *topic;
    char *frame;
    size_t len;
} gw_event_t;

struct gateway_pending {
    char id[64];
    int64_t deadline_ms;
    gateway_reply_cb cb;
    void *data;
    gateway_pending_t *next, *prev;
};

typedef struct {
    const char *handler;
    int status;
    uint64_t count;
} gw_reqcount_t;

typedef struct {
    char *name;
    int level;
} gw_checklevel_t;

struct gateway {
    const mm_clock_t *clock;
    char *instance;
    size_t max_series;
    int64_t default_hb_ms;
    uint64_t generation;
    bool ready;

    mm_map_t series;       /* fp -> gw_series_t */
    mm_map_t fam_by_name;  /* hash(name) -> gw_family_t */
    mm_map_t groups;       /* group key -> gw_group_t */
    gw_family_t **families;
    size_t nfam, famcap;
    bool fam_sorted;            /* families[] is in name order */
    size_t nseries;
    int64_t last_batch_ms;
    gw_owner_t *owners;
    size_t nowners, ownercap;
    uint64_t swept;             /* series dropped because a full state lacked them */

    gw_service_t *services;
    size_t nsvc, svccap;

    char *health_json;          /* the latest report, rendered */
    size_t health_len;
    int health_level;           /* -1 before the first report */
    double health_score;
    size_t health_ok, health_total;
    int64_t health_time_ms;
    gw_checklevel_t *checks;    /* last levels, for change events */
    size_t nchecks;

    gw_event_t *ring;
    size_t ring_cap, ring_head, ring_n;   /* head: index of the oldest */
    uint64_t event_seq;
    gateway_event_cb on_event;
    gateway_metrics_cb on_metrics;
    void *hook_data;

    gateway_pending_t *pending;
    size_t npending;

    gw_reqcount_t reqs[128];
    size_t nreqs;
    size_t ws_clients;
    uint64_t ws_dropped;
    uint64_t dropped_limit, dropped_conflict, dropped_invalid;
    uint64_t envelopes, replies_unmatched;
};

/* gateway.c: event publication, shared with the renderers' tests. */
void gateway_emit(gateway_t *gw, const char *topic, const char *data_json, size_t data_len);
const char *gateway_type_name(Mm__MetricType t);
const char *gateway_level_name(int level);
/* "up", "down" (heartbeats late by 3 periods) or "stopped", as of now. */
const char *gateway_service_status(const gateway_t *gw, const gw_service_t *s);
/* gateway_render.c: a health report in the reference's /api/health shape. */
void gateway_render_health_report(gateway_t *gw, gateway_buf_t *b, const Mm__HealthReport *r,
                                  int64_t time_ms);
/* Formats the value cache of s when it is dirty. */
void gateway_series_format(gw_series_t *s);

#endif
