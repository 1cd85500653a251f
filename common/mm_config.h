/* memmon.yml, the configuration every service shares (CONTRACTS.md §4), and
 * a table-driven loader services use for their own files. Precedence:
 * command-line flag > MEMMON_* variable > the reference's MEMMIMIC_* variable
 * > file > built-in default. Errors carry file:line:col. */
#ifndef MM_CONFIG_H
#define MM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_diag.h"
#include "mm_labels.h"
#include "mm_log.h"
#include "mm_yaml.h"

/* ---- the table-driven loader ---- */

typedef enum {
    MM_CFG_STRING,      /* char *, strdup'ed */
    MM_CFG_INT,         /* int64_t */
    MM_CFG_DOUBLE,      /* double */
    MM_CFG_BOOL,        /* bool */
    MM_CFG_DURATION,    /* int64_t milliseconds; "1s", "250ms", "1h30m", "5m", plain number = seconds */
    MM_CFG_BYTES,       /* int64_t bytes; "10MiB", "4k", plain number */
    MM_CFG_PORT,        /* int64_t 0..65535 */
    MM_CFG_CUSTOM,      /* parsed by .parse */
} mm_cfg_type_t;

typedef struct mm_cfg_field mm_cfg_field_t;
struct mm_cfg_field {
    const char *key;            /* key in the YAML map */
    mm_cfg_type_t type;
    size_t offset;              /* offsetof(struct, member) */
    const char *def;            /* default, as text in the YAML syntax; NULL = zero */
    double min, max;            /* bounds for numbers; ignored when min == max */
    const char *env;            /* MEMMON_* override, or NULL */
    const char *legacy_env;     /* MEMMIMIC_* override, or NULL */
    /* For MM_CFG_CUSTOM: parse node into obj + offset. May be NULL when the
     * node is absent (n == NULL) to apply a default. */
    int (*parse)(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field, mm_diag_t *d);
    void (*free)(void *field);  /* frees what parse allocated, or NULL */
    const char *help;           /* one line for docs and memmonctl */
};

/* Applies defaults, then the map's keys, then environment overrides, to obj.
 * `map` may be NULL (all defaults). An unknown key, a wrong type or an
 * out-of-range value fails with file:line:col. Tables end with a {NULL} entry.
 * On failure obj may be partly filled: release it with mm_cfg_free(). */
int mm_cfg_apply(const mm_cfg_field_t *table, const mm_yaml_doc_t *doc,
                 const mm_yaml_node_t *map, void *obj, mm_diag_t *d);

/* Frees strings and custom fields of obj that the table owns. */
void mm_cfg_free(const mm_cfg_field_t *table, void *obj);

/* Scalar converters, shared by custom parsers. Return 0 or -EINVAL. */
int mm_cfg_parse_duration_ms(const char *s, int64_t *ret_ms);
int mm_cfg_parse_bytes(const char *s, int64_t *ret_bytes);
int mm_cfg_parse_bool(const char *s, bool *ret);
int mm_cfg_parse_int(const char *s, int64_t *ret);
int mm_cfg_parse_double(const char *s, double *ret);

/* Requires n to be a map / a sequence / a scalar, else fills d. */
int mm_cfg_expect(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, int kind, const char *what,
                  mm_diag_t *d);

/* ---- memmon.yml ---- */

typedef struct {
    char *instance;             /* after loading: <instance or hostname>-<service>[-<shard>] */
    char *data_dir;             /* default: /var/lib/memmon (the repo's run dir for tools/run) */
    char *log_level;            /* error, warning, notice, info, debug */
    bool log_json;
    char *bus_in;               /* publishers dial; default ipc://<data_dir>/bus-in.sock */
    char *bus_out;              /* subscribers dial; default ipc://<data_dir>/bus-out.sock */
    char *bus_tls_cert;
    char *bus_tls_key;
    char *bus_tls_ca;
    char *gateway_host;         /* 127.0.0.1; MEMMIMIC_DASHBOARD_HOST */
    int64_t gateway_port;       /* 8080; MEMMIMIC_DASHBOARD_PORT */
    char *api_token;            /* MEMMON_API_TOKEN */
    mm_label_t *external_labels;
    size_t n_external_labels;
    char *external_url;
    int64_t shard_index;
    int64_t shard_count;
    int64_t heartbeat_ms;       /* 5s */
    int64_t state_ms;           /* 30s: full-state republish period */
    char *memmimic_db;          /* MEMMIMIC_DB_PATH: the monitored MemMimic database */
    char *dir;                  /* the config directory it was loaded from */
    char *file;                 /* path of memmon.yml (may not exist) */
} mm_config_t;

/* Loads <dir>/memmon.yml (a missing file means all defaults) for `service`,
 * applying environment overrides. Returns 0 or a negative code with d filled. */
int mm_config_load(const char *dir, const char *service, mm_config_t *cfg, mm_diag_t *d);
void mm_config_fini(mm_config_t *cfg);

/* Checks a bus address: ipc://, inproc://, tcp:// on a loopback host, or
 * tls+tcp:// anywhere. A plain tcp:// address that is not loopback is refused
 * (-EPERM) because the bus carries commands; anything else is -EINVAL. */
int mm_config_bus_url_check(const char *url);

/* The table behind memmon.yml, for docs and memmonctl. */
extern const mm_cfg_field_t mm_config_table[];

#endif
