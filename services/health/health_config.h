/* health.yml as structs: the checks, their kind-specific settings, thresholds
 * per level and flap tolerance. health_config_load() maps the YAML through
 * mm_cfg_apply() tables, so every error names file:line:col; the structs are
 * plain data shared by the engine (health.c) and the probes (check_*.c). */
#ifndef HEALTH_CONFIG_H
#define HEALTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_diag.h"
#include "mm_yaml.h"

/* The four levels, numbered as mm.HealthLevel and memmon_health_status. */
typedef enum {
    HEALTH_HEALTHY = 0,
    HEALTH_DEGRADED = 1,
    HEALTH_UNHEALTHY = 2,
    HEALTH_CRITICAL = 3,
} health_level_t;

#define HEALTH_LEVELS 4

const char *health_level_name(health_level_t l);
/* Parses "healthy", "degraded", "unhealthy", "critical"; -EINVAL otherwise. */
int health_level_parse(const char *s, health_level_t *ret);

/* A bound per level: a value beyond at[L] is at least level L (L = 1..3).
 * Unset bounds are NAN. With lower_is_worse the comparison flips (a cache hit
 * ratio below at[L]). `hysteresis` is an absolute margin a value must move
 * back past a bound before the level it set is left. */
typedef struct {
    double at[HEALTH_LEVELS];
    bool lower_is_worse;
    double hysteresis;
    bool set;                   /* any bound given */
} health_thresholds_t;

void health_thresholds_init(health_thresholds_t *t);
/* The level of value v; `current` is the level the same measure gave last
 * time (HEALTH_HEALTHY when unknown), for hysteresis. NAN gives HEALTHY. */
health_level_t health_thresholds_eval(const health_thresholds_t *t, double v,
                                      health_level_t current);

typedef enum {
    HEALTH_KIND_SQLITE,
    HEALTH_KIND_HTTP,
    HEALTH_KIND_TCP,
    HEALTH_KIND_PROCESS,
    HEALTH_KIND_SYSTEM,
    HEALTH_KIND_COMMAND,
    HEALTH_KIND_METRIC,
    HEALTH_KIND_COUNT,
} health_kind_t;

const char *health_kind_name(health_kind_t k);
int health_kind_parse(const char *s, health_kind_t *ret);

/* A list of strings from YAML (a sequence of scalars). */
typedef struct {
    char **v;
    size_t n;
} health_strv_t;

/* A series selector for metric checks: a name and exact label matches. */
typedef struct {
    char *name;
    char **label_names;
    char **label_values;
    size_t n_labels;
} health_selector_t;

typedef struct {
    health_selector_t *v;
    size_t n;
} health_selv_t;

/* Parses `name{a="x",b="y"}` (exact matches only). Returns 0 or -EINVAL. */
int health_selector_parse(const char *s, health_selector_t *ret);
void health_selector_fini(health_selector_t *s);

typedef enum {
    HEALTH_FN_LAST,             /* newest sample */
    HEALTH_FN_RATE,             /* per-second increase over the window (counters) */
    HEALTH_FN_AVG,              /* mean of the window's samples */
    HEALTH_FN_MAX,
} health_metric_fn_t;

typedef struct health_check_conf {
    char *name;
    health_kind_t kind;
    char *description;
    int64_t interval_ms;
    int64_t timeout_ms;
    double weight;
    health_strv_t depends_on;
    /* Flap tolerance: the level worsens when fail_n of the last fail_m
     * results agree, and improves when recover_n of the last recover_m do
     * (recover_n > fail_n is the usual hysteresis). */
    int64_t fail_n, fail_m, recover_n, recover_m;
    bool enabled;

    /* sqlite */
    char *path;
    char *query;                /* run each time; its first column's first row is reported */
    health_thresholds_t latency_ms;   /* sqlite, http, tcp */
    int64_t quick_check_ms;     /* PRAGMA quick_check period; 0 = never */
    health_thresholds_t size_bytes;
    bool memmimic;              /* count `memories` and age of the newest created_at */
    health_thresholds_t newest_age_ms;
    health_thresholds_t rows;   /* usually lower_is_worse */

    /* http */
    char *url;
    char *method;
    char *body;
    health_strv_t headers;     /* "Name: value" */
    int64_t expect_status;      /* 0 = any 2xx/3xx */
    char *body_regex;
    bool tls_verify;
    health_thresholds_t cert_days;    /* lower_is_worse */
    int64_t max_body_bytes;

    /* tcp */
    char *host;
    int64_t port;
    char *send;
    char *expect;               /* substring the reply must contain */

    /* process */
    char *pidfile;
    char *process_name;         /* matched against /proc/<pid>/comm or argv[0]'s basename */
    health_thresholds_t rss_bytes;
    health_thresholds_t cpu_percent;
    health_level_t missing_level;   /* process not running; default critical */
    health_level_t restart_level;   /* pid changed since last run; default degraded */

    /* system */
    health_thresholds_t memory_percent;
    health_thresholds_t cpu_total_percent;
    health_thresholds_t disk_percent;
    health_strv_t mounts;
    char *proc_root;            /* "/" by default; a container reads the host's */

    /* command */
    health_strv_t argv;
    int64_t output_max_bytes;
    health_strv_t env;         /* extra KEY=VALUE */

    /* metric */
    health_selv_t series;      /* summed */
    health_selv_t divide_by;   /* summed denominator, optional */
    health_metric_fn_t fn;
    int64_t window_ms;
    health_thresholds_t value;
    health_level_t absent_level;    /* no sample in the window */
} health_check_conf_t;

typedef struct {
    health_check_conf_t *checks;
    size_t n_checks;
    int64_t default_interval_ms;
    int64_t default_timeout_ms;
    int64_t history_keep;       /* level changes kept in health.db */
    int64_t report_changes;     /* level changes carried in each report */
    int64_t max_concurrent;     /* probes in flight at once */
    char *file;
    int refs;                   /* 1 after loading; see health_config_ref */
} health_config_t;

/* Loads <dir>/health.yml. A missing file is an empty config (no checks).
 * `default_db` (memmon.yml's memmimic_db, may be NULL) is the path of sqlite
 * checks that name none. Returns 0, or a negative code with d filled as
 * file:line:col. On success *ret_cfg is owned by the caller
 * (health_config_free). Does not touch the checked resources. */
int health_config_load(const char *dir, const char *default_db, health_config_t **ret_cfg,
                       mm_diag_t *d);
/* Same from a buffer; `name` is the file name diagnostics use. */
int health_config_load_buf(const char *name, const char *buf, size_t len,
                           const char *default_db, health_config_t **ret_cfg, mm_diag_t *d);
/* Frees cfg now, whatever its references (tests, loaders). */
void health_config_free(health_config_t *cfg);
/* Shared ownership for runs still in flight after a reload: _unref frees at
 * zero. NULL is a no-op for both. */
health_config_t *health_config_ref(health_config_t *cfg);
void health_config_unref(health_config_t *cfg);

/* Finds a check by name, or NULL. */
const health_check_conf_t *health_config_find(const health_config_t *cfg, const char *name);

#endif
