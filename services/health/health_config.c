/* health.yml → health_config_t through mm_cfg_apply() tables: one table per
 * check kind (the common keys plus the kind's own), custom parsers for
 * thresholds per level, "N of M" flap tolerance, lists and series selectors,
 * then cross-checks (unique names, known dependencies, no cycles). */
#include "health_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_config.h"
#include "mm_err.h"

/* ---- selectors ---- */

void health_selector_fini(health_selector_t *s)
{
    if (!s)
        return;
    free(s->name);
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->label_names[i]);
        free(s->label_values[i]);
    }
    free(s->label_names);
    free(s->label_values);
    memset(s, 0, sizeof(*s));
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int health_selector_parse(const char *s, health_selector_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    const char *p = skip_ws(s);
    const char *b = p;
    while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == ':'))
        p++;
    if (p == b || isdigit((unsigned char)*b))
        return -EINVAL;
    if (!(ret->name = strndup(b, (size_t)(p - b))))
        return -ENOMEM;
    p = skip_ws(p);
    if (*p == '{') {
        p = skip_ws(p + 1);
        while (*p && *p != '}') {
            const char *kb = p;
            while (*p && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            const char *ke = p;
            p = skip_ws(p);
            if (ke == kb || *p != '=' || p[1] != '"')
                goto bad;
            p += 2;
            char val[256];
            size_t vn = 0;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vn + 1 >= sizeof(val))
                    goto bad;
                val[vn++] = *p++;
            }
            if (*p != '"')
                goto bad;
            val[vn] = '\0';
            p = skip_ws(p + 1);
            char **nn = realloc(ret->label_names, (ret->n_labels + 1) * sizeof(char *));
            if (!nn)
                goto nomem;
            ret->label_names = nn;
            char **nv = realloc(ret->label_values, (ret->n_labels + 1) * sizeof(char *));
            if (!nv)
                goto nomem;
            ret->label_values = nv;
            ret->label_names[ret->n_labels] = strndup(kb, (size_t)(ke - kb));
            ret->label_values[ret->n_labels] = strdup(val);
            ret->n_labels++;
            if (!ret->label_names[ret->n_labels - 1] || !ret->label_values[ret->n_labels - 1])
                goto nomem;
            if (*p == ',')
                p = skip_ws(p + 1);
            else if (*p != '}')
                goto bad;
        }
        if (*p != '}')
            goto bad;
        p = skip_ws(p + 1);
    }
    if (*p)
        goto bad;
    return 0;
bad:
    health_selector_fini(ret);
    return -EINVAL;
nomem:
    health_selector_fini(ret);
    return -ENOMEM;
}

/* ---- custom field parsers ---- */

static void strv_free(void *field)
{
    health_strv_t *l = field;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* A list of strings; a single scalar is a list of one. */
static int parse_strv(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                      mm_diag_t *d)
{
    health_strv_t *l = field;
    if (!n)
        return 0;
    strv_free(l);
    if (mm_yaml_is_null(n))
        return 0;
    size_t cnt = n->kind == MM_YAML_SCALAR ? 1 : n->n;
    if (n->kind == MM_YAML_MAP)
        return mm_yaml_error(d, doc, n, "expected a list of strings");
    if (!(l->v = calloc(cnt + 1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const mm_yaml_node_t *it = n->kind == MM_YAML_SCALAR ? n : n->items[i];
        if (it->kind != MM_YAML_SCALAR)
            return mm_yaml_error(d, doc, it, "list items must be strings");
        if (!(l->v[l->n] = strdup(it->str)))
            return -ENOMEM;
        l->n++;
    }
    return 0;
}

/* "2 of 3", "2/3" or "2" (2 of 2) into two adjacent int64_t (n, m). */
static int parse_nofm(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                      mm_diag_t *d)
{
    int64_t *nm = field;
    if (!n)
        return 0;
    long a = 0, b = 0;
    int used = 0;
    if (n->kind != MM_YAML_SCALAR)
        goto bad;
    if (sscanf(n->str, " %ld of %ld %n", &a, &b, &used) == 2 && (size_t)used == n->len)
        ;
    else if (sscanf(n->str, " %ld / %ld %n", &a, &b, &used) == 2 && (size_t)used == n->len)
        ;
    else if (sscanf(n->str, " %ld %n", &a, &used) == 1 && (size_t)used == n->len)
        b = a;
    else
        goto bad;
    if (a < 1 || b < a || b > 64)
        return mm_yaml_error(d, doc, n, "need 1 <= N <= M <= 64 in \"N of M\", not \"%s\"",
                             n->str);
    nm[0] = a;
    nm[1] = b;
    return 0;
bad:
    return mm_yaml_error(d, doc, n, "expected \"N of M\" (e.g. \"2 of 3\")");
}

static int parse_level(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                       mm_diag_t *d)
{
    if (!n)
        return 0;
    if (n->kind != MM_YAML_SCALAR || health_level_parse(n->str, field) < 0)
        return mm_yaml_error(d, doc, n,
                             "expected a level: healthy, degraded, unhealthy or critical");
    return 0;
}

static int parse_noop(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                      mm_diag_t *d)
{
    return 0;
}

static int parse_fn(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                    mm_diag_t *d)
{
    static const char *names[] = { "last", "rate", "avg", "max" };
    if (!n)
        return 0;
    for (int i = 0; i < 4; i++)
        if (n->kind == MM_YAML_SCALAR && strcmp(n->str, names[i]) == 0) {
            *(health_metric_fn_t *)field = (health_metric_fn_t)i;
            return 0;
        }
    return mm_yaml_error(d, doc, n, "function must be last, rate, avg or max");
}

static void selv_free(void *field)
{
    health_selv_t *l = field;
    for (size_t i = 0; i < l->n; i++)
        health_selector_fini(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int parse_selv(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                      mm_diag_t *d)
{
    health_selv_t *l = field;
    if (!n)
        return 0;
    selv_free(l);
    if (mm_yaml_is_null(n))
        return 0;
    if (n->kind == MM_YAML_MAP)
        return mm_yaml_error(d, doc, n, "expected a series selector or a list of them");
    size_t cnt = n->kind == MM_YAML_SCALAR ? 1 : n->n;
    if (!(l->v = calloc(cnt + 1, sizeof(*l->v))))
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const mm_yaml_node_t *it = n->kind == MM_YAML_SCALAR ? n : n->items[i];
        if (it->kind != MM_YAML_SCALAR)
            return mm_yaml_error(d, doc, it, "a selector is a string like name{label=\"v\"}");
        int r = health_selector_parse(it->str, &l->v[l->n]);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            return mm_yaml_error(d, doc, it, "bad series selector \"%s\" (expected "
                                 "name or name{label=\"value\",...})", it->str);
        l->n++;
    }
    return 0;
}

/* Thresholds: {degraded: X, unhealthy: Y, critical: Z, hysteresis: H}, each
 * value in the field's unit. The direction follows from the order of the
 * bounds (decreasing = lower is worse); with one bound, the field's default. */
typedef enum { U_NUM, U_MS, U_BYTES } unit_t;

static int thr_value(const mm_yaml_doc_t *doc, const mm_yaml_node_t *v, unit_t u, double *ret,
                     mm_diag_t *d)
{
    int64_t iv;
    if (v->kind != MM_YAML_SCALAR)
        return mm_yaml_error(d, doc, v, "a threshold must be a single value");
    switch (u) {
    case U_MS:
        if (mm_cfg_parse_duration_ms(v->str, &iv) < 0)
            return mm_yaml_error(d, doc, v, "expected a duration (e.g. 250ms, 2s), not \"%s\"",
                                 v->str);
        *ret = (double)iv;
        return 0;
    case U_BYTES:
        if (mm_cfg_parse_bytes(v->str, &iv) < 0)
            return mm_yaml_error(d, doc, v, "expected a size (e.g. 512MiB), not \"%s\"", v->str);
        *ret = (double)iv;
        return 0;
    default:
        if (mm_cfg_parse_double(v->str, ret) < 0)
            return mm_yaml_error(d, doc, v, "expected a number, not \"%s\"", v->str);
        return 0;
    }
}

static int parse_thr(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                     mm_diag_t *d, unit_t u, bool lower_default)
{
    health_thresholds_t *t = field;
    if (!n)
        return 0;
    if (mm_yaml_is_null(n)) {
        health_thresholds_init(t);
        return 0;
    }
    if (n->kind != MM_YAML_MAP)
        return mm_yaml_error(d, doc, n,
                             "thresholds must be a map: {degraded: .., unhealthy: .., critical: ..}");
    health_thresholds_t nt;
    health_thresholds_init(&nt);
    nt.lower_is_worse = lower_default;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const mm_yaml_node_t *k = n->items[i], *v = n->items[i + 1];
        health_level_t l;
        double val;
        int r;
        if (k->kind == MM_YAML_SCALAR && strcmp(k->str, "hysteresis") == 0) {
            if ((r = thr_value(doc, v, u, &val, d)) < 0)
                return r;
            if (val < 0)
                return mm_yaml_error(d, doc, v, "hysteresis must not be negative");
            nt.hysteresis = val;
            continue;
        }
        if (k->kind != MM_YAML_SCALAR || health_level_parse(k->str, &l) < 0 ||
            l == HEALTH_HEALTHY)
            return mm_yaml_error(d, doc, k, "unknown key \"%s\" (known keys: degraded, "
                                 "unhealthy, critical, hysteresis)",
                                 k->kind == MM_YAML_SCALAR ? k->str : "");
        if ((r = thr_value(doc, v, u, &val, d)) < 0)
            return r;
        nt.at[l] = val;
        nt.set = true;
    }
    /* Direction from the order of the given bounds; they must be monotonic. */
    double prev = NAN;
    int dir = 0;
    for (int l = HEALTH_DEGRADED; l <= HEALTH_CRITICAL; l++) {
        if (isnan(nt.at[l]))
            continue;
        if (!isnan(prev) && nt.at[l] != prev) {
            int ndir = nt.at[l] > prev ? 1 : -1;
            if (dir && ndir != dir)
                return mm_yaml_error(d, doc, n, "bounds must rise (or all fall) from "
                                     "degraded to critical");
            dir = ndir;
        }
        prev = nt.at[l];
    }
    if (dir)
        nt.lower_is_worse = dir < 0;
    *t = nt;
    return 0;
}

#define THR_PARSER(fn, unit, low)                                                          \
    static int fn(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,          \
                  mm_diag_t *d)                                                             \
    {                                                                                      \
        return parse_thr(doc, n, field, d, unit, low);                                     \
    }
THR_PARSER(parse_thr_num, U_NUM, false)
THR_PARSER(parse_thr_num_low, U_NUM, true)
THR_PARSER(parse_thr_ms, U_MS, false)
THR_PARSER(parse_thr_bytes, U_BYTES, false)

/* ---- tables ---- */

#define O(m) offsetof(health_check_conf_t, m)
#define S(k, m) {.key = k, .type = MM_CFG_STRING, .offset = O(m)}
#define C(k, m, p, f) {.key = k, .type = MM_CFG_CUSTOM, .offset = O(m), .parse = p, .free = f}
#define COMMON_FIELDS                                                                      \
    S("name", name), C("kind", kind, parse_noop, NULL), S("description", description),     \
    {.key = "interval", .type = MM_CFG_DURATION, .offset = O(interval_ms), .min = 100,     \
     .max = 86400000.0},                                                                   \
    {.key = "timeout", .type = MM_CFG_DURATION, .offset = O(timeout_ms), .min = 10,        \
     .max = 3600000.0},                                                                    \
    {.key = "weight", .type = MM_CFG_DOUBLE, .offset = O(weight), .min = 0, .max = 1000},  \
    C("depends_on", depends_on, parse_strv, strv_free),                                    \
    C("fail", fail_n, parse_nofm, NULL), C("recover", recover_n, parse_nofm, NULL),        \
    {.key = "enabled", .type = MM_CFG_BOOL, .offset = O(enabled), .def = "true"}
#define LATENCY C("latency", latency_ms, parse_thr_ms, NULL)

static const mm_cfg_field_t sqlite_table[] = {
    COMMON_FIELDS, S("path", path), S("query", query), LATENCY,
    {.key = "quick_check", .type = MM_CFG_DURATION, .offset = O(quick_check_ms), .def = "5m"},
    C("size", size_bytes, parse_thr_bytes, NULL),
    {.key = "memmimic", .type = MM_CFG_BOOL, .offset = O(memmimic), .def = "false"},
    C("newest_age", newest_age_ms, parse_thr_ms, NULL),
    C("rows", rows, parse_thr_num_low, NULL),
    {0},
};

static const mm_cfg_field_t http_table[] = {
    COMMON_FIELDS, S("url", url), S("method", method), S("body", body),
    C("headers", headers, parse_strv, strv_free),
    {.key = "status", .type = MM_CFG_INT, .offset = O(expect_status), .min = 0, .max = 999},
    S("body_regex", body_regex),
    {.key = "tls_verify", .type = MM_CFG_BOOL, .offset = O(tls_verify), .def = "true"},
    C("cert_days", cert_days, parse_thr_num_low, NULL), LATENCY,
    {.key = "max_body", .type = MM_CFG_BYTES, .offset = O(max_body_bytes), .def = "1MiB",
     .min = 0, .max = 67108864.0},
    {0},
};

static const mm_cfg_field_t tcp_table[] = {
    COMMON_FIELDS, S("host", host),
    {.key = "port", .type = MM_CFG_PORT, .offset = O(port)},
    S("send", send), S("expect", expect), LATENCY,
    {0},
};

static const mm_cfg_field_t process_table[] = {
    COMMON_FIELDS, S("pidfile", pidfile), S("process", process_name),
    C("rss", rss_bytes, parse_thr_bytes, NULL), C("cpu", cpu_percent, parse_thr_num, NULL),
    C("missing", missing_level, parse_level, NULL),
    C("restart", restart_level, parse_level, NULL), S("proc_root", proc_root),
    {0},
};

static const mm_cfg_field_t system_table[] = {
    COMMON_FIELDS, C("memory", memory_percent, parse_thr_num, NULL),
    C("cpu", cpu_total_percent, parse_thr_num, NULL), C("disk", disk_percent, parse_thr_num, NULL),
    C("mounts", mounts, parse_strv, strv_free), S("proc_root", proc_root),
    {0},
};

static const mm_cfg_field_t command_table[] = {
    COMMON_FIELDS, C("argv", argv, parse_strv, strv_free),
    {.key = "output_max", .type = MM_CFG_BYTES, .offset = O(output_max_bytes), .def = "64KiB",
     .min = 256, .max = 16777216.0},
    C("env", env, parse_strv, strv_free),
    {0},
};

static const mm_cfg_field_t metric_table[] = {
    COMMON_FIELDS, C("series", series, parse_selv, selv_free),
    C("divide_by", divide_by, parse_selv, selv_free), C("function", fn, parse_fn, NULL),
    {.key = "window", .type = MM_CFG_DURATION, .offset = O(window_ms), .def = "1m", .min = 1000,
     .max = 86400000.0},
    C("value", value, parse_thr_num, NULL), C("absent", absent_level, parse_level, NULL),
    {0},
};

static const mm_cfg_field_t *const kind_tables[HEALTH_KIND_COUNT] = {
    sqlite_table, http_table, tcp_table, process_table, system_table, command_table,
    metric_table,
};

typedef struct {
    int64_t interval_ms, timeout_ms;
    int64_t fail_n, fail_m, recover_n, recover_m;
    int64_t history_keep, report_changes, max_concurrent;
    const mm_yaml_node_t *checks;
} top_t;

static int parse_node(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                      mm_diag_t *d)
{
    if (n)
        *(const mm_yaml_node_t **)field = n;
    return 0;
}

#define T(m) offsetof(top_t, m)
static const mm_cfg_field_t top_table[] = {
    {.key = "interval", .type = MM_CFG_DURATION, .offset = T(interval_ms), .def = "30s",
     .min = 100, .max = 86400000.0, .env = "MEMMON_HEALTH_INTERVAL",
     .legacy_env = "MEMMIMIC_HEALTH_CHECK_INTERVAL",
     .help = "default interval between runs of a check"},
    {.key = "timeout", .type = MM_CFG_DURATION, .offset = T(timeout_ms), .def = "5s", .min = 10,
     .max = 3600000.0, .help = "default hard timeout of a run"},
    {.key = "fail", .type = MM_CFG_CUSTOM, .offset = T(fail_n), .parse = parse_nofm,
     .help = "default flap tolerance when worsening, \"N of M\""},
    {.key = "recover", .type = MM_CFG_CUSTOM, .offset = T(recover_n), .parse = parse_nofm,
     .help = "default flap tolerance when improving, \"N of M\""},
    {.key = "history_keep", .type = MM_CFG_INT, .offset = T(history_keep), .def = "10000",
     .min = 10, .max = 10000000, .help = "level changes kept in health.db"},
    {.key = "report_changes", .type = MM_CFG_INT, .offset = T(report_changes), .def = "50",
     .min = 0, .max = 1000, .help = "recent level changes carried by each report"},
    {.key = "max_concurrent", .type = MM_CFG_INT, .offset = T(max_concurrent), .def = "256",
     .min = 1, .max = 100000, .help = "probes in flight at once"},
    {.key = "checks", .type = MM_CFG_CUSTOM, .offset = T(checks), .parse = parse_node,
     .help = "the list of checks"},
    {0},
};

/* ---- loading ---- */

static void check_fini(health_check_conf_t *c)
{
    if (c->kind >= 0 && c->kind < HEALTH_KIND_COUNT)
        mm_cfg_free(kind_tables[c->kind], c);
    else
        free(c->name);
}

void health_config_free(health_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_checks; i++)
        check_fini(&cfg->checks[i]);
    free(cfg->checks);
    free(cfg->file);
    free(cfg);
}

health_config_t *health_config_ref(health_config_t *cfg)
{
    if (cfg)
        cfg->refs++;
    return cfg;
}

void health_config_unref(health_config_t *cfg)
{
    if (cfg && --cfg->refs <= 0)
        health_config_free(cfg);
}

const health_check_conf_t *health_config_find(const health_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_checks; i++)
        if (strcmp(cfg->checks[i].name, name) == 0)
            return &cfg->checks[i];
    return NULL;
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static void set_defaults(health_check_conf_t *c, const top_t *top, health_kind_t kind)
{
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->interval_ms = top->interval_ms;
    c->timeout_ms = top->timeout_ms;
    c->weight = 1.0;
    c->fail_n = top->fail_n;
    c->fail_m = top->fail_m;
    c->recover_n = top->recover_n;
    c->recover_m = top->recover_m;
    health_thresholds_t *all[] = {
        &c->latency_ms, &c->size_bytes, &c->newest_age_ms, &c->rows, &c->cert_days,
        &c->rss_bytes, &c->cpu_percent, &c->memory_percent, &c->cpu_total_percent,
        &c->disk_percent, &c->value,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        health_thresholds_init(all[i]);
    c->rows.lower_is_worse = true;
    c->cert_days.lower_is_worse = true;
    c->missing_level = HEALTH_CRITICAL;
    c->restart_level = HEALTH_DEGRADED;
    c->absent_level = HEALTH_UNHEALTHY;
    if (kind == HEALTH_KIND_SYSTEM) {
        /* The reference's bounds: degraded >70/70/80, unhealthy >80/80/90,
         * critical >90/90/95 for memory/cpu/disk. */
        static const double mem[] = { 70, 80, 90 }, dsk[] = { 80, 90, 95 };
        for (int l = 1; l <= 3; l++) {
            c->memory_percent.at[l] = mem[l - 1];
            c->cpu_total_percent.at[l] = mem[l - 1];
            c->disk_percent.at[l] = dsk[l - 1];
        }
        c->memory_percent.set = c->cpu_total_percent.set = c->disk_percent.set = true;
    }
    if (kind == HEALTH_KIND_SQLITE) {
        /* The reference's database check: <100 ms healthy, <500 ms degraded. */
        c->latency_ms.at[HEALTH_DEGRADED] = 100;
        c->latency_ms.at[HEALTH_UNHEALTHY] = 500;
        c->latency_ms.set = true;
    }
}

/* Paths in health.yml are relative to the config directory, as in memmon.yml. */
static int resolve(const char *dir, char **path)
{
    if (!dir || !*path || (*path)[0] == '/')
        return 0;
    size_t n = strlen(dir) + strlen(*path) + 2;
    char *p = malloc(n);
    if (!p)
        return -ENOMEM;
    snprintf(p, n, "%s/%s", dir, *path);
    free(*path);
    *path = p;
    return 0;
}

/* Required keys and combinations per kind. */
static int validate_check(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n,
                          health_check_conf_t *c, const char *default_db, const char *dir,
                          mm_diag_t *d)
{
    if (resolve(dir, &c->path) < 0 || resolve(dir, &c->pidfile) < 0)
        return -ENOMEM;
    switch (c->kind) {
    case HEALTH_KIND_SQLITE:
        if (!c->path && default_db && !(c->path = strdup(default_db)))
            return -ENOMEM;
        if (!c->path)
            return mm_yaml_error(d, doc, n, "check \"%s\": sqlite needs \"path\" (or "
                                 "memmimic_db in memmon.yml)", c->name);
        break;
    case HEALTH_KIND_HTTP:
        if (!c->url || (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0))
            return mm_yaml_error(d, doc, mm_yaml_map_get(n, "url") ? mm_yaml_map_get(n, "url") : n,
                                 "check \"%s\": http needs \"url\" starting with http:// or "
                                 "https://", c->name);
        break;
    case HEALTH_KIND_TCP:
        if (!c->host || c->port <= 0)
            return mm_yaml_error(d, doc, n, "check \"%s\": tcp needs \"host\" and \"port\"",
                                 c->name);
        break;
    case HEALTH_KIND_PROCESS:
        if (!c->pidfile == !c->process_name)
            return mm_yaml_error(d, doc, n, "check \"%s\": process needs exactly one of "
                                 "\"pidfile\" and \"process\"", c->name);
        break;
    case HEALTH_KIND_COMMAND:
        if (c->argv.n == 0 || c->argv.v[0][0] == '\0')
            return mm_yaml_error(d, doc, n, "check \"%s\": command needs \"argv\" (a list; "
                                 "no shell is used)", c->name);
        for (size_t i = 0; i < c->env.n; i++)
            if (!strchr(c->env.v[i], '=') || c->env.v[i][0] == '=')
                return mm_yaml_error(d, doc, mm_yaml_map_get(n, "env"),
                                     "env entries are KEY=VALUE, not \"%s\"", c->env.v[i]);
        break;
    case HEALTH_KIND_METRIC:
        if (c->series.n == 0)
            return mm_yaml_error(d, doc, n, "check \"%s\": metric needs \"series\"", c->name);
        if (!c->value.set)
            return mm_yaml_error(d, doc, n, "check \"%s\": metric needs \"value\" thresholds",
                                 c->name);
        break;
    default:
        break;
    }
    if (c->fail_m > 64 || c->recover_m > 64)
        return mm_yaml_error(d, doc, n, "flap windows are at most 64 results");
    return 0;
}

/* Depth-first search for a cycle through depends_on from check i. */
static bool has_cycle(const health_config_t *cfg, size_t i, uint8_t *mark)
{
    if (mark[i] == 1)
        return true;
    if (mark[i] == 2)
        return false;
    mark[i] = 1;
    const health_check_conf_t *c = &cfg->checks[i];
    for (size_t k = 0; k < c->depends_on.n; k++)
        for (size_t j = 0; j < cfg->n_checks; j++)
            if (strcmp(cfg->checks[j].name, c->depends_on.v[k]) == 0 && has_cycle(cfg, j, mark))
                return true;
    mark[i] = 2;
    return false;
}

static int load_doc(const mm_yaml_doc_t *doc, const char *default_db, const char *dir,
                    health_config_t *cfg, mm_diag_t *d)
{
    top_t top;
    memset(&top, 0, sizeof(top));
    top.fail_n = top.fail_m = top.recover_n = top.recover_m = 1;
    int r = mm_cfg_apply(top_table, doc, doc->root, &top, d);
    if (r < 0)
        return r;
    cfg->default_interval_ms = top.interval_ms;
    cfg->default_timeout_ms = top.timeout_ms;
    cfg->history_keep = top.history_keep;
    cfg->report_changes = top.report_changes;
    cfg->max_concurrent = top.max_concurrent;
    const mm_yaml_node_t *list = top.checks;
    if (!list || mm_yaml_is_null(list))
        return 0;
    if ((r = mm_cfg_expect(doc, list, MM_YAML_SEQ, "checks", d)) < 0)
        return r;
    if (!(cfg->checks = calloc(list->n + 1, sizeof(*cfg->checks))))
        return -ENOMEM;
    const mm_yaml_node_t *const *node_of = (const mm_yaml_node_t *const *)list->items;
    for (size_t i = 0; i < list->n; i++) {
        const mm_yaml_node_t *n = list->items[i];
        if ((r = mm_cfg_expect(doc, n, MM_YAML_MAP, "a check", d)) < 0)
            return r;
        const mm_yaml_node_t *kn = mm_yaml_map_get(n, "kind");
        health_kind_t kind;
        if (!kn)
            return mm_yaml_error(d, doc, n, "a check needs \"kind\" (sqlite, http, tcp, "
                                 "process, system, command, metric)");
        if (kn->kind != MM_YAML_SCALAR || health_kind_parse(kn->str, &kind) < 0)
            return mm_yaml_error(d, doc, kn, "unknown kind \"%s\" (known kinds: sqlite, http, "
                                 "tcp, process, system, command, metric)",
                                 kn->kind == MM_YAML_SCALAR ? kn->str : "");
        health_check_conf_t *c = &cfg->checks[cfg->n_checks];
        set_defaults(c, &top, kind);
        cfg->n_checks++;
        if ((r = mm_cfg_apply(kind_tables[kind], doc, n, c, d)) < 0)
            return r;
        if (!c->name)
            return mm_yaml_error(d, doc, n, "a check needs \"name\"");
        if (!name_ok(c->name))
            return mm_yaml_error(d, doc, mm_yaml_map_get(n, "name"), "check names are 1-63 of "
                                 "[A-Za-z0-9_.-], not \"%s\"", c->name);
        for (size_t j = 0; j + 1 < cfg->n_checks; j++)
            if (strcmp(cfg->checks[j].name, c->name) == 0)
                return mm_yaml_error(d, doc, mm_yaml_map_get(n, "name"),
                                     "duplicate check name \"%s\"", c->name);
        if ((r = validate_check(doc, n, c, default_db, dir, d)) < 0)
            return r;
    }
    for (size_t i = 0; i < cfg->n_checks; i++) {
        const health_check_conf_t *c = &cfg->checks[i];
        const mm_yaml_node_t *dn = mm_yaml_map_get(node_of[i], "depends_on");
        for (size_t k = 0; k < c->depends_on.n; k++) {
            if (strcmp(c->depends_on.v[k], c->name) == 0)
                return mm_yaml_error(d, doc, dn, "check \"%s\" depends on itself", c->name);
            if (!health_config_find(cfg, c->depends_on.v[k]))
                return mm_yaml_error(d, doc, dn, "check \"%s\" depends on \"%s\", which is "
                                     "not a check", c->name, c->depends_on.v[k]);
        }
    }
    uint8_t *mark = calloc(cfg->n_checks, 1);
    if (!mark)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_checks; i++)
        if (has_cycle(cfg, i, mark)) {
            free(mark);
            return mm_yaml_error(d, doc, mm_yaml_map_get(node_of[i], "depends_on"),
                                 "depends_on forms a cycle through \"%s\"", cfg->checks[i].name);
        }
    free(mark);
    return 0;
}

int health_config_load_buf(const char *name, const char *buf, size_t len,
                           const char *default_db, health_config_t **ret_cfg, mm_diag_t *d)
{
    health_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return -ENOMEM;
    cfg->refs = 1;
    mm_yaml_doc_t *doc = NULL;
    int r = mm_yaml_load_buf(name, buf, len, &doc, d);
    if (r >= 0)
        r = load_doc(doc, default_db, NULL, cfg, d);
    if (r >= 0 && !(cfg->file = strdup(name)))
        r = -ENOMEM;
    mm_yaml_free(doc);
    if (r < 0) {
        health_config_free(cfg);
        return r;
    }
    *ret_cfg = cfg;
    return 0;
}

int health_config_load(const char *dir, const char *default_db, health_config_t **ret_cfg,
                       mm_diag_t *d)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/health.yml", dir ? dir : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT)
            return mm_diag_set(d, errno, path, 0, 0, "cannot open: %s", strerror(errno));
        return health_config_load_buf(path, "", 0, default_db, ret_cfg, d);
    }
    fclose(f);
    health_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return -ENOMEM;
    cfg->refs = 1;
    mm_yaml_doc_t *doc = NULL;
    int r = mm_yaml_load_file(path, &doc, d);
    if (r >= 0)
        r = load_doc(doc, default_db, dir, cfg, d);
    if (r >= 0 && !(cfg->file = strdup(path)))
        r = -ENOMEM;
    mm_yaml_free(doc);
    if (r < 0) {
        health_config_free(cfg);
        return r;
    }
    *ret_cfg = cfg;
    return 0;
}
