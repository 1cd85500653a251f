/* collector.yml → collector_config_t, through mm_cfg_apply tables (one per
 * section). A missing file means all defaults; an unknown key, a wrong type
 * or an invalid value fails with file:line:col. See deploy/config/collector.yml
 * for every key with its default. */
#ifndef COLLECTOR_CONFIG_H
#define COLLECTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "mm_config.h"
#include "statsd.h"

typedef struct {
    char *match;                /* fnmatch pattern on the final metric name */
    double *le;
    size_t n_le;
} collector_bucket_rule_t;

typedef struct {
    double *v;
    size_t n;
} collector_doubles_t;

typedef struct {
    collector_bucket_rule_t *rules;
    size_t n;
} collector_bucket_rules_t;

typedef struct {
    char *listen;               /* host:port; "" or "off" disables */
    int64_t flush_ms;
    int64_t ttl_ms;
    int64_t receive_buffer;     /* bytes asked for SO_RCVBUF(FORCE) */
    int64_t max_packet;         /* bytes; larger datagrams are counted as malformed */
    int64_t max_series;
    int64_t max_series_per_name;
    collector_doubles_t default_buckets;
    collector_bucket_rules_t buckets;
} collector_statsd_cfg_t;

typedef struct {
    char *job;
    char *url;
    char *instance;             /* default: host:port of the url */
    int64_t interval_ms;        /* 0 = the scrape section's */
    int64_t timeout_ms;
} collector_target_t;

typedef struct {
    collector_target_t *v;
    size_t n;
} collector_targets_t;

typedef struct {
    int64_t interval_ms;
    int64_t timeout_ms;
    int64_t max_samples;
    int64_t max_body;           /* bytes */
    collector_targets_t targets;
} collector_scrape_cfg_t;

typedef struct {
    bool enabled;
    int64_t interval_ms;
    char *proc_root;
    char *sys_root;
    char *rootfs;
    char *process_pattern;      /* fnmatch on process names: memmon-* */
} collector_system_cfg_t;

typedef struct {
    history_tier_t v[HISTORY_MAX_TIERS];
    size_t n;
} collector_tiers_t;

typedef struct {
    bool enabled;
    int64_t chunk_ms;
    int64_t commit_ms;
    int64_t cleanup_ms;
    int64_t max_series;
    collector_tiers_t tiers;
} collector_history_cfg_t;

typedef struct {
    int64_t batch_max_bytes;
    int64_t batch_interval_ms;
    int64_t max_series;
} collector_publish_cfg_t;

typedef struct {
    collector_statsd_cfg_t statsd;
    collector_scrape_cfg_t scrape;
    collector_system_cfg_t system;
    collector_history_cfg_t history;
    collector_publish_cfg_t publish;
    char *file;                 /* the file it came from */
} collector_config_t;

/* Loads <cfg->dir>/collector.yml. Returns 0 with *ret set (free with
 * collector_config_free), or a negative code with d filled (file:line:col).
 * Blocks on reading the file. */
int collector_config_load(const mm_config_t *cfg, collector_config_t **ret, mm_diag_t *d);

/* Same from a buffer (tests, fuzzing); name is what diagnostics call it. */
int collector_config_load_buf(const char *name, const char *buf, size_t len, collector_config_t **ret,
                              mm_diag_t *d);

void collector_config_free(collector_config_t *c);

/* memmonctl's validator: loads and frees. */
int collector_config_check(const mm_config_t *cfg, mm_diag_t *d);

/* Splits "host:port" / "[v6]:port"; returns 0 or -EINVAL. */
int collector_config_split_hostport(const char *s, char *host, size_t cap, int *ret_port);

/* The tables, for docs and memmonctl. */
extern const mm_cfg_field_t collector_config_table[];

#endif
