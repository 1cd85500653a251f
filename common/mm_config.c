/* The table-driven config loader and memmon.yml. */
#include "mm_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_err.h"

/* ---- scalar converters ---- */

int mm_cfg_parse_int(const char *s, int64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int mm_cfg_parse_double(const char *s, double *ret)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || isnan(v))
        return -EINVAL;
    *ret = v;
    return 0;
}

int mm_cfg_parse_bool(const char *s, bool *ret)
{
    static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "1"};
    static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

int mm_cfg_parse_duration_ms(const char *s, int64_t *ret_ms)
{
    if (!s || !*s)
        return -EINVAL;
    /* A plain number is seconds (the reference's *_INTERVAL variables). */
    double plain;
    if (mm_cfg_parse_double(s, &plain) == 0) {
        if (plain < 0 || plain > 9.2e15)
            return -EINVAL;
        *ret_ms = (int64_t)llround(plain * 1000.0);
        return 0;
    }
    /* Prometheus style: a sequence of <number><unit>, units y w d h m s ms. */
    double total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -EINVAL;
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return -EINVAL;
        p = end;
        double mult;
        if (strncmp(p, "ms", 2) == 0) {
            mult = 1;
            p += 2;
        } else if (*p == 's') {
            mult = 1000;
            p++;
        } else if (*p == 'm') {
            mult = 60000;
            p++;
        } else if (*p == 'h') {
            mult = 3600000;
            p++;
        } else if (*p == 'd') {
            mult = 86400000;
            p++;
        } else if (*p == 'w') {
            mult = 7 * 86400000.0;
            p++;
        } else if (*p == 'y') {
            mult = 365 * 86400000.0;
            p++;
        } else {
            return -EINVAL;
        }
        total += v * mult;
    }
    if (total > 9.2e15)
        return -EINVAL;
    *ret_ms = (int64_t)llround(total);
    return 0;
}

int mm_cfg_parse_bytes(const char *s, int64_t *ret_bytes)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    while (*end == ' ')
        end++;
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1}, {"B", 1}, {"k", 1024}, {"K", 1024}, {"KB", 1024}, {"KiB", 1024},
        {"m", 1048576}, {"M", 1048576}, {"MB", 1048576}, {"MiB", 1048576},
        {"g", 1073741824.0}, {"G", 1073741824.0}, {"GB", 1073741824.0}, {"GiB", 1073741824.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double b = v * units[i].mult;
            if (b > 9.2e18)
                return -EINVAL;
            *ret_bytes = (int64_t)b;
            return 0;
        }
    }
    return -EINVAL;
}

int mm_cfg_expect(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, int kind, const char *what,
                  mm_diag_t *d)
{
    static const char *names[] = {"a scalar", "a list", "a map"};
    if (n && (int)n->kind == kind)
        return 0;
    return mm_yaml_error(d, doc, n, "%s must be %s", what, names[kind]);
}

/* ---- the table walker ---- */

static const char *type_name(mm_cfg_type_t t)
{
    switch (t) {
    case MM_CFG_STRING: return "a string";
    case MM_CFG_INT: return "an integer";
    case MM_CFG_DOUBLE: return "a number";
    case MM_CFG_BOOL: return "true or false";
    case MM_CFG_DURATION: return "a duration (e.g. 30s, 5m, 1h30m)";
    case MM_CFG_BYTES: return "a size (e.g. 512KiB, 10MiB)";
    case MM_CFG_PORT: return "a port number (0-65535)";
    default: return "a value";
    }
}

/* Converts text s into the field. Returns 0, -EINVAL (wrong syntax) or -ERANGE. */
static int set_scalar(const mm_cfg_field_t *f, void *obj, const char *s, bool is_null)
{
    void *p = (char *)obj + f->offset;
    int64_t iv;
    double dv;
    int r;
    switch (f->type) {
    case MM_CFG_STRING: {
        char *dup = NULL;
        if (!is_null && !(dup = strdup(s)))
            return -ENOMEM;
        free(*(char **)p);
        *(char **)p = dup;
        return 0;
    }
    case MM_CFG_BOOL:
        return mm_cfg_parse_bool(s, (bool *)p);
    case MM_CFG_DOUBLE:
        if ((r = mm_cfg_parse_double(s, &dv)) < 0)
            return r;
        if (f->min != f->max && (dv < f->min || dv > f->max))
            return -ERANGE;
        *(double *)p = dv;
        return 0;
    case MM_CFG_INT:
    case MM_CFG_PORT:
    case MM_CFG_DURATION:
    case MM_CFG_BYTES:
        if (f->type == MM_CFG_DURATION)
            r = mm_cfg_parse_duration_ms(s, &iv);
        else if (f->type == MM_CFG_BYTES)
            r = mm_cfg_parse_bytes(s, &iv);
        else
            r = mm_cfg_parse_int(s, &iv);
        if (r < 0)
            return r;
        if (f->type == MM_CFG_PORT && (iv < 0 || iv > 65535))
            return -ERANGE;
        if (f->min != f->max && ((double)iv < f->min || (double)iv > f->max))
            return -ERANGE;
        *(int64_t *)p = iv;
        return 0;
    default:
        return -EINVAL;
    }
}

static void range_text(const mm_cfg_field_t *f, char *buf, size_t cap)
{
    if (f->min == f->max) {
        buf[0] = '\0';
        return;
    }
    if (f->type == MM_CFG_DURATION)
        snprintf(buf, cap, " between %gs and %gs", f->min / 1000, f->max / 1000);
    else
        snprintf(buf, cap, " between %g and %g", f->min, f->max);
}

static int apply_env(const mm_cfg_field_t *f, void *obj, const char *var, mm_diag_t *d)
{
    const char *v = var ? getenv(var) : NULL;
    if (!v)
        return 0;
    if (f->type == MM_CFG_CUSTOM) {
        /* Custom fields take their environment value as a YAML scalar. */
        mm_yaml_doc_t *doc;
        int r = mm_yaml_load_buf(var, v, strlen(v), &doc, d);
        if (r < 0)
            return r;
        r = f->parse(doc, doc->root, (char *)obj + f->offset, d);
        mm_yaml_free(doc);
        return r;
    }
    int r = set_scalar(f, obj, v, false);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        char range[96];
        range_text(f, range, sizeof range);
        return mm_diag_set(d, MM_ECONFIG, "environment", 0, 0, "%s=\"%s\": %s must be %s%s", var,
                           v, f->key, type_name(f->type), range);
    }
    return 0;
}

int mm_cfg_apply(const mm_cfg_field_t *table, const mm_yaml_doc_t *doc,
                 const mm_yaml_node_t *map, void *obj, mm_diag_t *d)
{
    int r;
    for (const mm_cfg_field_t *f = table; f->key; f++) {
        if (f->type == MM_CFG_CUSTOM) {
            if (f->parse && (r = f->parse(doc, NULL, (char *)obj + f->offset, d)) < 0)
                return r;
        } else if (f->def && (r = set_scalar(f, obj, f->def, false)) < 0) {
            return r == -ENOMEM ? r : mm_diag_set(d, MM_ECONFIG, "built-in", 0, 0,
                                                  "bad default for %s", f->key);
        }
    }

    if (map && !mm_yaml_is_null(map)) {
        if ((r = mm_cfg_expect(doc, map, MM_YAML_MAP, "this section", d)) < 0)
            return r;
        for (size_t i = 0; i + 1 < map->n; i += 2) {
            const mm_yaml_node_t *k = map->items[i], *v = map->items[i + 1];
            if (k->kind != MM_YAML_SCALAR)
                return mm_yaml_error(d, doc, k, "keys must be plain names");
            if (strcmp(k->str, "<<") == 0)
                continue;
            const mm_cfg_field_t *f = table;
            while (f->key && strcmp(f->key, k->str) != 0)
                f++;
            if (!f->key) {
                char keys[400];
                size_t n = 0;
                keys[0] = '\0';
                for (const mm_cfg_field_t *g = table; g->key && n + 2 < sizeof keys; g++)
                    n += (size_t)snprintf(keys + n, sizeof keys - n, "%s%s",
                                          g == table ? "" : ", ", g->key);
                return mm_yaml_error(d, doc, k, "unknown key \"%s\" (known keys: %s)", k->str,
                                     keys);
            }
            if (f->type == MM_CFG_CUSTOM) {
                if ((r = f->parse(doc, v, (char *)obj + f->offset, d)) < 0)
                    return r;
                continue;
            }
            if (v->kind != MM_YAML_SCALAR)
                return mm_yaml_error(d, doc, v, "%s must be %s", f->key, type_name(f->type));
            r = set_scalar(f, obj, v->str, mm_yaml_is_null(v));
            if (r == -ENOMEM)
                return r;
            if (r < 0) {
                char range[96];
                range_text(f, range, sizeof range);
                return mm_yaml_error(d, doc, v, "%s must be %s%s, not \"%s\"", f->key,
                                     type_name(f->type), range, v->str);
            }
        }
    }

    /* The reference's MEMMIMIC_* first, so MEMMON_* wins over it. */
    for (const mm_cfg_field_t *f = table; f->key; f++) {
        if ((r = apply_env(f, obj, f->legacy_env, d)) < 0)
            return r;
        if ((r = apply_env(f, obj, f->env, d)) < 0)
            return r;
    }
    return 0;
}

void mm_cfg_free(const mm_cfg_field_t *table, void *obj)
{
    for (const mm_cfg_field_t *f = table; f->key; f++) {
        void *p = (char *)obj + f->offset;
        if (f->type == MM_CFG_STRING) {
            free(*(char **)p);
            *(char **)p = NULL;
        } else if (f->type == MM_CFG_CUSTOM && f->free) {
            f->free(p);
        }
    }
}

/* ---- memmon.yml ---- */

typedef struct {
    mm_label_t *labels;
    size_t n;
} label_list_t;

static void free_labels(void *field)
{
    /* external_labels and n_external_labels are adjacent in mm_config_t. */
    label_list_t *l = field;
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->labels[i].name);
        free((char *)l->labels[i].value);
    }
    free(l->labels);
    l->labels = NULL;
    l->n = 0;
}

static int parse_labels(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                        mm_diag_t *d)
{
    label_list_t *l = field;
    if (!n)
        return 0;
    free_labels(field);
    if (mm_yaml_is_null(n))
        return 0;
    int r = mm_cfg_expect(doc, n, MM_YAML_MAP, "external_labels", d);
    if (r < 0)
        return r;
    l->labels = calloc(n->n / 2 + 1, sizeof *l->labels);
    if (!l->labels)
        return -ENOMEM;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const mm_yaml_node_t *k = n->items[i], *v = n->items[i + 1];
        if (k->kind != MM_YAML_SCALAR || !mm_label_name_valid(k->str, k->len) ||
            strncmp(k->str, "__", 2) == 0)
            return mm_yaml_error(d, doc, k, "\"%s\" is not a valid label name",
                                 k->kind == MM_YAML_SCALAR ? k->str : "");
        if (v->kind != MM_YAML_SCALAR)
            return mm_yaml_error(d, doc, v, "label values must be strings");
        mm_label_t *lab = &l->labels[l->n];
        lab->name = strdup(k->str);
        lab->value = strdup(v->str);
        l->n++;
        if (!lab->name || !lab->value)
            return -ENOMEM;
    }
    mm_labels_sort(l->labels, l->n);
    return 0;
}

#define F(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(mm_config_t, member), __VA_ARGS__ }

const mm_cfg_field_t mm_config_table[] = {
    F("instance", MM_CFG_STRING, instance, .env = "MEMMON_INSTANCE",
      .help = "host or slot name; a process is <instance>-<service>[-<shard>]; default the hostname"),
    F("data_dir", MM_CFG_STRING, data_dir, .def = "/var/lib/memmon", .env = "MEMMON_DATA_DIR",
      .help = "where durable files (<service>.db) and sockets live; relative to the config dir"),
    F("log_level", MM_CFG_STRING, log_level, .def = "info", .env = "MEMMON_LOG_LEVEL",
      .help = "error, warning, notice, info or debug"),
    F("log_json", MM_CFG_BOOL, log_json, .def = "false", .env = "MEMMON_LOG_JSON",
      .help = "log JSON lines instead of text"),
    F("bus_in", MM_CFG_STRING, bus_in, .env = "MEMMON_BUS_IN",
      .help = "the bus's input address (publishers dial it); default ipc://<data_dir>/bus-in.sock"),
    F("bus_out", MM_CFG_STRING, bus_out, .env = "MEMMON_BUS_OUT",
      .help = "the bus's output address (subscribers dial it); default ipc://<data_dir>/bus-out.sock"),
    F("bus_tls_cert", MM_CFG_STRING, bus_tls_cert, .env = "MEMMON_BUS_TLS_CERT",
      .help = "certificate for a tls+tcp:// bus"),
    F("bus_tls_key", MM_CFG_STRING, bus_tls_key, .env = "MEMMON_BUS_TLS_KEY",
      .help = "private key for a tls+tcp:// bus"),
    F("bus_tls_ca", MM_CFG_STRING, bus_tls_ca, .env = "MEMMON_BUS_TLS_CA",
      .help = "CA that signs bus certificates"),
    F("gateway_host", MM_CFG_STRING, gateway_host, .def = "127.0.0.1",
      .env = "MEMMON_GATEWAY_HOST", .legacy_env = "MEMMIMIC_DASHBOARD_HOST",
      .help = "address the gateway listens on"),
    F("gateway_port", MM_CFG_PORT, gateway_port, .def = "8080", .env = "MEMMON_GATEWAY_PORT",
      .legacy_env = "MEMMIMIC_DASHBOARD_PORT", .help = "port the gateway listens on"),
    F("api_token", MM_CFG_STRING, api_token, .env = "MEMMON_API_TOKEN",
      .help = "bearer token every write request must carry"),
    F("external_labels", MM_CFG_CUSTOM, external_labels, .parse = parse_labels,
      .free = free_labels, .help = "labels added to alerts and federation"),
    F("external_url", MM_CFG_STRING, external_url, .env = "MEMMON_EXTERNAL_URL",
      .help = "the URL users reach the gateway at"),
    F("shard_index", MM_CFG_INT, shard_index, .def = "0", .min = 0, .max = 1023,
      .env = "MEMMON_SHARD_INDEX", .help = "this instance's shard (0-based)"),
    F("shard_count", MM_CFG_INT, shard_count, .def = "1", .min = 1, .max = 1024,
      .env = "MEMMON_SHARD_COUNT", .help = "number of shards of each stateful service"),
    F("heartbeat_interval", MM_CFG_DURATION, heartbeat_ms, .def = "5s", .min = 100,
      .max = 3600000, .env = "MEMMON_HEARTBEAT_INTERVAL", .help = "service heartbeat period"),
    F("state_interval", MM_CFG_DURATION, state_ms, .def = "30s", .min = 1000, .max = 86400000,
      .env = "MEMMON_STATE_INTERVAL", .help = "full-state republish period"),
    F("memmimic_db", MM_CFG_STRING, memmimic_db, .def = "/var/lib/memmimic/memmimic.db",
      .env = "MEMMON_MEMMIMIC_DB", .legacy_env = "MEMMIMIC_DB_PATH",
      .help = "the monitored MemMimic database"),
    {0},
};

/* Removes "." and ".." segments lexically (the path may not exist yet). */
static void normalize(char *path)
{
    char *segs[256];
    size_t n = 0;
    bool abs = path[0] == '/';
    char *save, *tok = strtok_r(path, "/", &save);
    char *copy[256];
    for (; tok && n < 256; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0 && n > 0 && strcmp(segs[n - 1], "..") != 0) {
            n--;
            continue;
        }
        if (strcmp(tok, "..") == 0 && abs)
            continue;
        segs[n++] = tok;
    }
    /* Rebuild into a scratch copy first: the segments point into path. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup(segs[i]);
        total += strlen(segs[i]) + 1;
    }
    char *w = path;
    if (abs)
        *w++ = '/';
    for (size_t i = 0; i < n; i++) {
        if (copy[i]) {
            size_t l = strlen(copy[i]);
            memcpy(w, copy[i], l);
            w += l;
            if (i + 1 < n)
                *w++ = '/';
            free(copy[i]);
        }
    }
    if (w == path)
        *w++ = '.';
    *w = '\0';
    (void)total;
}

/* Makes a path relative to the config dir absolute. Returns a new string. */
static char *resolve(const char *dir, const char *path)
{
    if (!path || path[0] == '/' || strstr(path, "://"))
        return path ? strdup(path) : NULL;
    char *out;
    if (asprintf(&out, "%s/%s", dir, path) < 0)
        return NULL;
    normalize(out);
    return out;
}

int mm_config_bus_url_check(const char *url)
{
    if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0 ||
        strncmp(url, "tls+tcp://", 10) == 0)
        return 0;
    const char *host;
    if (strncmp(url, "tcp://", 6) == 0)
        host = url + 6;
    else if (strncmp(url, "tcp4://", 7) == 0)
        host = url + 7;
    else
        return -EINVAL;
    if (strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
        strncmp(host, "[::1]:", 6) == 0)
        return 0;
    return -EPERM;
}

int mm_config_load(const char *dir, const char *service, mm_config_t *cfg, mm_diag_t *d)
{
    memset(cfg, 0, sizeof *cfg);
    int r = -ENOMEM;
    char *real = realpath(dir, NULL);
    cfg->dir = real ? real : strdup(dir);
    if (!cfg->dir || asprintf(&cfg->file, "%s/memmon.yml", dir) < 0) {
        cfg->file = NULL;
        goto fail;
    }
    mm_yaml_doc_t *doc = NULL;
    dir = cfg->dir;
    if (access(cfg->file, F_OK) == 0 && (r = mm_yaml_load_file(cfg->file, &doc, d)) < 0)
        goto fail;
    r = mm_cfg_apply(mm_config_table, doc, doc ? doc->root : NULL, cfg, d);
    mm_yaml_free(doc);
    if (r < 0)
        goto fail;

    mm_log_level_t lvl;
    if (mm_log_level_parse(cfg->log_level, &lvl) < 0) {
        r = mm_diag_set(d, MM_ECONFIG, cfg->file, 0, 0,
                        "log_level \"%s\" must be error, warning, notice, info or debug",
                        cfg->log_level);
        goto fail;
    }
    if (cfg->shard_index >= cfg->shard_count) {
        r = mm_diag_set(d, MM_ECONFIG, cfg->file, 0, 0, "shard_index %lld must be below shard_count %lld",
                        (long long)cfg->shard_index, (long long)cfg->shard_count);
        goto fail;
    }

    char *dd = resolve(dir, cfg->data_dir);
    if (!dd) {
        r = -ENOMEM;
        goto fail;
    }
    free(cfg->data_dir);
    cfg->data_dir = dd;
    char *db = resolve(dir, cfg->memmimic_db);
    if (!db) {
        r = -ENOMEM;
        goto fail;
    }
    free(cfg->memmimic_db);
    cfg->memmimic_db = db;
    if (!cfg->bus_in && asprintf(&cfg->bus_in, "ipc://%s/bus-in.sock", cfg->data_dir) < 0) {
        cfg->bus_in = NULL;
        r = -ENOMEM;
        goto fail;
    }
    if (!cfg->bus_out && asprintf(&cfg->bus_out, "ipc://%s/bus-out.sock", cfg->data_dir) < 0) {
        cfg->bus_out = NULL;
        r = -ENOMEM;
        goto fail;
    }
    /* `instance` names the host (or deployment slot); each process adds its
     * service and shard so that no two processes share a sequence stream. */
    char host[256] = "localhost";
    const char *urls[] = {cfg->bus_in, cfg->bus_out};
    const char *keys[] = {"bus_in", "bus_out"};
    for (int i = 0; i < 2; i++) {
        int u = mm_config_bus_url_check(urls[i]);
        if (u == -EPERM) {
            r = mm_diag_set(d, MM_ECONFIG, cfg->file, 0, 0,
                            "%s \"%s\": a bus address that is not loopback must use tls+tcp://",
                            keys[i], urls[i]);
            goto fail;
        }
        if (u < 0) {
            r = mm_diag_set(d, MM_ECONFIG, cfg->file, 0, 0,
                            "%s \"%s\" must be ipc://, tcp:// (loopback) or tls+tcp://", keys[i],
                            urls[i]);
            goto fail;
        }
        if (strncmp(urls[i], "tls+tcp://", 10) == 0 && (!cfg->bus_tls_cert || !cfg->bus_tls_key)) {
            r = mm_diag_set(d, MM_ECONFIG, cfg->file, 0, 0,
                            "%s uses tls+tcp:// but bus_tls_cert and bus_tls_key are not set",
                            keys[i]);
            goto fail;
        }
    }
    if (!cfg->instance) {
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
    }
    char *inst;
    int n = cfg->shard_count > 1
                ? asprintf(&inst, "%s-%s-%lld", cfg->instance ? cfg->instance : host, service,
                           (long long)cfg->shard_index)
                : asprintf(&inst, "%s-%s", cfg->instance ? cfg->instance : host, service);
    if (n < 0) {
        r = -ENOMEM;
        goto fail;
    }
    free(cfg->instance);
    cfg->instance = inst;
    return 0;

fail:
    mm_config_fini(cfg);
    return r;
}

void mm_config_fini(mm_config_t *cfg)
{
    if (!cfg)
        return;
    mm_cfg_free(mm_config_table, cfg);
    free(cfg->dir);
    free(cfg->file);
    cfg->dir = cfg->file = NULL;
}
