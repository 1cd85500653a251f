/* collector.yml: one mm_cfg table per section, custom parsers for the lists
 * (bucket rules, scrape targets, history tiers), and cross-field checks
 * that still point at the offending node. */
#include "collector_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_err.h"

/* ---- lists ---- */

static void free_doubles(void *field)
{
    collector_doubles_t *d = field;
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

/* Ascending finite numbers (histogram bounds). */
static int parse_bounds(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, double **ret, size_t *ret_n,
                        mm_diag_t *d)
{
    int r = mm_cfg_expect(doc, n, MM_YAML_SEQ, "bucket bounds", d);
    if (r < 0)
        return r;
    if (n->n == 0 || n->n > 64)
        return mm_yaml_error(d, doc, n, "bucket bounds must list 1 to 64 numbers");
    double *v = calloc(n->n, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const mm_yaml_node_t *it = n->items[i];
        if (it->kind != MM_YAML_SCALAR || mm_cfg_parse_double(it->str, &v[i]) < 0 || !isfinite(v[i])) {
            free(v);
            return mm_yaml_error(d, doc, it, "a bucket bound must be a finite number");
        }
        if (i > 0 && v[i] <= v[i - 1]) {
            free(v);
            return mm_yaml_error(d, doc, it, "bucket bounds must be in ascending order");
        }
    }
    *ret = v;
    *ret_n = n->n;
    return 0;
}

static int parse_default_buckets(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field, mm_diag_t *d)
{
    collector_doubles_t *db = field;
    free_doubles(db);
    if (!n || mm_yaml_is_null(n)) {
        static const double def[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
        db->v = malloc(sizeof def);
        if (!db->v)
            return -ENOMEM;
        memcpy(db->v, def, sizeof def);
        db->n = sizeof def / sizeof def[0];
        return 0;
    }
    return parse_bounds(doc, n, &db->v, &db->n, d);
}

static void free_rules(void *field)
{
    collector_bucket_rules_t *b = field;
    for (size_t i = 0; i < b->n; i++) {
        free(b->rules[i].match);
        free(b->rules[i].le);
    }
    free(b->rules);
    b->rules = NULL;
    b->n = 0;
}

static int parse_rules(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field, mm_diag_t *d)
{
    collector_bucket_rules_t *b = field;
    free_rules(b);
    if (!n || mm_yaml_is_null(n))
        return 0;
    int r = mm_cfg_expect(doc, n, MM_YAML_SEQ, "buckets", d);
    if (r < 0)
        return r;
    b->rules = calloc(n->n ? n->n : 1, sizeof *b->rules);
    if (!b->rules)
        return -ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const mm_yaml_node_t *it = n->items[i];
        if ((r = mm_cfg_expect(doc, it, MM_YAML_MAP, "a bucket rule", d)) < 0)
            return r;
        const mm_yaml_node_t *m = NULL, *le = NULL;
        for (size_t k = 0; k + 1 < it->n; k += 2) {
            const mm_yaml_node_t *key = it->items[k];
            if (key->kind == MM_YAML_SCALAR && strcmp(key->str, "match") == 0)
                m = it->items[k + 1];
            else if (key->kind == MM_YAML_SCALAR && strcmp(key->str, "le") == 0)
                le = it->items[k + 1];
            else
                return mm_yaml_error(d, doc, key, "unknown key \"%s\" in a bucket rule (known keys: match, le)",
                                     key->kind == MM_YAML_SCALAR ? key->str : "?");
        }
        if (!m || m->kind != MM_YAML_SCALAR || !*m->str)
            return mm_yaml_error(d, doc, m ? m : it, "a bucket rule needs \"match\": a metric name pattern");
        if (!le)
            return mm_yaml_error(d, doc, it, "a bucket rule needs \"le\": a list of upper bounds");
        collector_bucket_rule_t *rule = &b->rules[b->n];
        if ((r = parse_bounds(doc, le, &rule->le, &rule->n_le, d)) < 0)
            return r;
        b->n++;
        if (!(rule->match = strdup(m->str)))
            return -ENOMEM;
    }
    return 0;
}

static void free_targets(void *field)
{
    collector_targets_t *t = field;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].job);
        free(t->v[i].url);
        free(t->v[i].instance);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

#define TF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_target_t, member), __VA_ARGS__ }
static const mm_cfg_field_t target_table[] = {
    TF("job", MM_CFG_STRING, job, .help = "the job label (required)"),
    TF("url", MM_CFG_STRING, url, .help = "http(s) URL of a Prometheus text endpoint (required)"),
    TF("instance", MM_CFG_STRING, instance, .help = "the instance label; default host:port of the url"),
    TF("interval", MM_CFG_DURATION, interval_ms, .min = 0, .max = 86400000,
       .help = "scrape interval; default the scrape section's"),
    TF("timeout", MM_CFG_DURATION, timeout_ms, .min = 0, .max = 86400000,
       .help = "scrape timeout; default the scrape section's"),
    {0},
};

/* "http://host:port/path" → "host:port" (default port by scheme). */
static int url_instance(const char *url, char **ret)
{
    const char *p = strstr(url, "://");
    if (!p)
        return -EINVAL;
    bool https = strncmp(url, "https", 5) == 0;
    p += 3;
    const char *at = strpbrk(p, "@/");
    if (at && *at == '@')
        p = at + 1;
    size_t len = strcspn(p, "/?#");
    if (len == 0)
        return -EINVAL;
    bool has_port = false;
    const char *close = memchr(p, ']', len);
    const char *colon = memrchr(p, ':', len);
    if (colon && (!close || colon > close))
        has_port = true;
    if (asprintf(ret, "%.*s%s", (int)len, p, has_port ? "" : https ? ":443" : ":80") < 0)
        return -ENOMEM;
    return 0;
}

static int parse_targets(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field, mm_diag_t *d)
{
    collector_targets_t *t = field;
    free_targets(t);
    if (!n || mm_yaml_is_null(n))
        return 0;
    int r = mm_cfg_expect(doc, n, MM_YAML_SEQ, "targets", d);
    if (r < 0)
        return r;
    t->v = calloc(n->n ? n->n : 1, sizeof *t->v);
    if (!t->v)
        return -ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const mm_yaml_node_t *it = n->items[i];
        if ((r = mm_cfg_expect(doc, it, MM_YAML_MAP, "a scrape target", d)) < 0)
            return r;
        collector_target_t *tg = &t->v[t->n++];
        if ((r = mm_cfg_apply(target_table, doc, it, tg, d)) < 0)
            return r;
        if (!tg->job || !*tg->job)
            return mm_yaml_error(d, doc, it, "a scrape target needs \"job\"");
        const mm_yaml_node_t *un = mm_yaml_map_get(it, "url");
        if (!tg->url || (strncmp(tg->url, "http://", 7) != 0 && strncmp(tg->url, "https://", 8) != 0))
            return mm_yaml_error(d, doc, un ? un : it, "a scrape target needs \"url\": an http:// or https:// URL");
        if (!tg->instance && (r = url_instance(tg->url, &tg->instance)) < 0)
            return r == -ENOMEM ? r : mm_yaml_error(d, doc, un, "cannot take host:port from this URL");
        for (size_t j = 0; j + 1 < t->n; j++)
            if (strcmp(t->v[j].job, tg->job) == 0 && strcmp(t->v[j].instance, tg->instance) == 0)
                return mm_yaml_error(d, doc, it, "another target already has job \"%s\" and instance \"%s\"",
                                     tg->job, tg->instance);
    }
    return 0;
}

static int parse_tiers(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field, mm_diag_t *d)
{
    collector_tiers_t *t = field;
    if (!n || mm_yaml_is_null(n)) {
        /* 1 s for an hour, 1 min for a day, 1 h for a month. */
        t->n = 3;
        t->v[0] = (history_tier_t){1000, 3600000};
        t->v[1] = (history_tier_t){60000, 86400000};
        t->v[2] = (history_tier_t){3600000, 30LL * 86400000};
        return 0;
    }
    int r = mm_cfg_expect(doc, n, MM_YAML_SEQ, "tiers", d);
    if (r < 0)
        return r;
    if (n->n < 1 || n->n > HISTORY_MAX_TIERS)
        return mm_yaml_error(d, doc, n, "tiers must list 1 to %d tiers", HISTORY_MAX_TIERS);
    static const mm_cfg_field_t tier_table[] = {
        {.key = "step", .type = MM_CFG_DURATION, .offset = offsetof(history_tier_t, step_ms), .def = "1s",
         .min = 1, .max = 366.0 * 86400000, .help = "resolution of the tier (the first tier keeps raw samples)"},
        {.key = "retention", .type = MM_CFG_DURATION, .offset = offsetof(history_tier_t, retention_ms),
         .def = "1h", .min = 1000, .max = 3660.0 * 86400000, .help = "how long the tier keeps data"},
        {0},
    };
    t->n = 0;
    for (size_t i = 0; i < n->n; i++) {
        const mm_yaml_node_t *it = n->items[i];
        if ((r = mm_cfg_expect(doc, it, MM_YAML_MAP, "a tier", d)) < 0)
            return r;
        history_tier_t *tier = &t->v[t->n];
        if ((r = mm_cfg_apply(tier_table, doc, it, tier, d)) < 0)
            return r;
        if (i > 0 && tier->step_ms <= t->v[i - 1].step_ms)
            return mm_yaml_error(d, doc, it, "each tier's step must be longer than the one before");
        if (i > 0 && tier->step_ms % t->v[i - 1].step_ms != 0)
            return mm_yaml_error(d, doc, it, "each tier's step must be a multiple of the one before");
        if (tier->retention_ms < tier->step_ms)
            return mm_yaml_error(d, doc, it, "a tier's retention must be at least its step");
        t->n++;
    }
    return 0;
}

/* ---- sections ---- */

#define SF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_statsd_cfg_t, member), __VA_ARGS__ }
static const mm_cfg_field_t statsd_table[] = {
    SF("listen", MM_CFG_STRING, listen, .def = "127.0.0.1:8125", .env = "MEMMON_STATSD_LISTEN",
       .help = "UDP host:port for StatsD/DogStatsD; \"off\" disables"),
    SF("flush_interval", MM_CFG_DURATION, flush_ms, .def = "1s", .min = 100, .max = 3600000,
       .help = "how often aggregated StatsD values are published (sets count per interval)"),
    SF("ttl", MM_CFG_DURATION, ttl_ms, .def = "10m", .min = 1000, .max = 30.0 * 86400000,
       .help = "a series not updated for this long ends with a stale marker"),
    SF("receive_buffer", MM_CFG_BYTES, receive_buffer, .def = "32MiB", .min = 65536, .max = 1073741824.0,
       .help = "UDP receive buffer asked for (SO_RCVBUFFORCE, else SO_RCVBUF up to rmem_max)"),
    SF("max_packet", MM_CFG_BYTES, max_packet, .def = "65535", .min = 512, .max = 65535,
       .help = "largest datagram taken; longer ones are counted as malformed"),
    SF("max_series", MM_CFG_INT, max_series, .def = "100000", .min = 1, .max = 100000000,
       .help = "StatsD series in total; new series beyond are dropped and counted"),
    SF("max_series_per_name", MM_CFG_INT, max_series_per_name, .def = "10000", .min = 1, .max = 100000000,
       .help = "StatsD series per metric name"),
    SF("default_buckets", MM_CFG_CUSTOM, default_buckets, .parse = parse_default_buckets, .free = free_doubles,
       .help = "histogram upper bounds for timers and histograms no rule matches"),
    SF("buckets", MM_CFG_CUSTOM, buckets, .parse = parse_rules, .free = free_rules,
       .help = "list of {match: pattern, le: [bounds]}; the first match wins"),
    {0},
};

#define CF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_scrape_cfg_t, member), __VA_ARGS__ }
static const mm_cfg_field_t scrape_table[] = {
    CF("interval", MM_CFG_DURATION, interval_ms, .def = "15s", .min = 100, .max = 86400000,
       .help = "default scrape interval"),
    CF("timeout", MM_CFG_DURATION, timeout_ms, .def = "10s", .min = 100, .max = 86400000,
       .help = "default scrape timeout"),
    CF("max_samples", MM_CFG_INT, max_samples, .def = "50000", .min = 1, .max = 100000000,
       .help = "a target exposing more samples fails its scrape (up 0)"),
    CF("max_body", MM_CFG_BYTES, max_body, .def = "16MiB", .min = 1024, .max = 1073741824.0,
       .help = "a larger response fails the scrape"),
    CF("targets", MM_CFG_CUSTOM, targets, .parse = parse_targets, .free = free_targets,
       .help = "list of {job, url, instance, interval, timeout}"),
    {0},
};

#define YF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_system_cfg_t, member), __VA_ARGS__ }
static const mm_cfg_field_t system_table[] = {
    YF("enabled", MM_CFG_BOOL, enabled, .def = "true", .help = "collect host metrics from /proc and /sys"),
    YF("interval", MM_CFG_DURATION, interval_ms, .def = "1s", .min = 100, .max = 3600000,
       .env = "MEMMON_SYSTEM_INTERVAL", .legacy_env = "MEMMIMIC_METRICS_COLLECTION_INTERVAL",
       .help = "how often host metrics are read"),
    YF("proc_root", MM_CFG_STRING, proc_root, .def = "/proc", .help = "where procfs is (a container: the host's)"),
    YF("sys_root", MM_CFG_STRING, sys_root, .def = "/sys", .help = "where sysfs is"),
    YF("rootfs", MM_CFG_STRING, rootfs, .def = "", .help = "prefix for statvfs of mount points (e.g. /host)"),
    YF("process_pattern", MM_CFG_STRING, process_pattern, .def = "memmon-*",
       .help = "processes reported as memmon_process_*{service} (fnmatch on the program name)"),
    {0},
};

#define HF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_history_cfg_t, member), __VA_ARGS__ }
static const mm_cfg_field_t history_table[] = {
    HF("enabled", MM_CFG_BOOL, enabled, .def = "true", .help = "keep history in <data_dir>/collector.db"),
    HF("chunk", MM_CFG_DURATION, chunk_ms, .def = "1m", .min = 1000, .max = 3600000,
       .help = "raw samples are stored one row per series per chunk"),
    HF("commit_interval", MM_CFG_DURATION, commit_ms, .def = "5s", .min = 100, .max = 600000,
       .help = "history is committed (acknowledged: survives kill -9) this often"),
    HF("cleanup_interval", MM_CFG_DURATION, cleanup_ms, .def = "1m", .min = 1000, .max = 86400000,
       .help = "retention is applied this often"),
    HF("max_series", MM_CFG_INT, max_series, .def = "200000", .min = 1, .max = 100000000,
       .help = "series with history in memory at once"),
    HF("tiers", MM_CFG_CUSTOM, tiers, .parse = parse_tiers,
       .help = "list of {step, retention}; the first keeps raw samples, the others min/max/sum/count"),
    {0},
};

#define PF(k, t, member, ...) \
    { .key = k, .type = t, .offset = offsetof(collector_publish_cfg_t, member), __VA_ARGS__ }
static const mm_cfg_field_t publish_table[] = {
    PF("batch_max_bytes", MM_CFG_BYTES, batch_max_bytes, .def = "64KiB", .min = 4096, .max = 4194304,
       .help = "largest metric.batch message"),
    PF("batch_interval", MM_CFG_DURATION, batch_interval_ms, .def = "50ms", .min = 1, .max = 10000,
       .help = "a batch is published at the latest this long after its first sample"),
    PF("max_series", MM_CFG_INT, max_series, .def = "1000000", .min = 1, .max = 100000000,
       .help = "series the collector holds from all sources together"),
    {0},
};

static int section(const mm_cfg_field_t *table, const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *field,
                   mm_diag_t *d)
{
    return mm_cfg_apply(table, doc, n, field, d);
}

static int p_statsd(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *f, mm_diag_t *d)
{
    return section(statsd_table, doc, n, f, d);
}
static int p_scrape(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *f, mm_diag_t *d)
{
    return section(scrape_table, doc, n, f, d);
}
static int p_system(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *f, mm_diag_t *d)
{
    return section(system_table, doc, n, f, d);
}
static int p_history(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *f, mm_diag_t *d)
{
    return section(history_table, doc, n, f, d);
}
static int p_publish(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, void *f, mm_diag_t *d)
{
    return section(publish_table, doc, n, f, d);
}
static void f_statsd(void *f) { mm_cfg_free(statsd_table, f); }
static void f_scrape(void *f) { mm_cfg_free(scrape_table, f); }
static void f_system(void *f) { mm_cfg_free(system_table, f); }
static void f_history(void *f) { mm_cfg_free(history_table, f); }

#define TOP(k, member, p, fr, h) \
    { .key = k, .type = MM_CFG_CUSTOM, .offset = offsetof(collector_config_t, member), .parse = p, .free = fr, .help = h }
const mm_cfg_field_t collector_config_table[] = {
    TOP("statsd", statsd, p_statsd, f_statsd, "the StatsD/DogStatsD UDP listener"),
    TOP("scrape", scrape, p_scrape, f_scrape, "Prometheus text endpoints to scrape"),
    TOP("system", system, p_system, f_system, "host metrics with node_exporter's names"),
    TOP("history", history, p_history, f_history, "SQLite history tiers"),
    TOP("publish", publish, p_publish, NULL, "bus batching"),
    {0},
};

int collector_config_split_hostport(const char *s, char *host, size_t cap, int *ret_port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= cap)
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *ret_port = (int)port;
    return 0;
}

/* A key given as null ("listen:" or "listen: ~") means its default (for
 * listen: off), so no consumer ever sees a NULL string. */
static int fill_null(char **p, const char *def)
{
    if (*p)
        return 0;
    *p = strdup(def);
    return *p ? 0 : -ENOMEM;
}

static int validate(collector_config_t *c, const mm_yaml_doc_t *doc, mm_diag_t *d)
{
    int r;
    if ((r = fill_null(&c->statsd.listen, "off")) < 0 || (r = fill_null(&c->system.proc_root, "/proc")) < 0 ||
        (r = fill_null(&c->system.sys_root, "/sys")) < 0 || (r = fill_null(&c->system.rootfs, "")) < 0 ||
        (r = fill_null(&c->system.process_pattern, "memmon-*")) < 0)
        return r;
    const mm_yaml_node_t *root = doc ? doc->root : NULL;
    const mm_yaml_node_t *sec = root && root->kind == MM_YAML_MAP ? mm_yaml_map_get(root, "statsd") : NULL;
    if (strcmp(c->statsd.listen, "off") != 0 && c->statsd.listen[0]) {
        char host[256];
        int port;
        if (collector_config_split_hostport(c->statsd.listen, host, sizeof host, &port) < 0) {
            const mm_yaml_node_t *n = sec && sec->kind == MM_YAML_MAP ? mm_yaml_map_get(sec, "listen") : NULL;
            if (n)
                return mm_yaml_error(d, doc, n, "listen must be host:port (or \"off\"), not \"%s\"", c->statsd.listen);
            return mm_diag_set(d, MM_ECONFIG, c->file, 0, 0, "statsd listen must be host:port, not \"%s\"",
                               c->statsd.listen);
        }
    }
    return 0;
}

static int load_doc(const char *file, mm_yaml_doc_t *doc, collector_config_t **ret, mm_diag_t *d)
{
    collector_config_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->file = strdup(file);
    int r = c->file ? 0 : -ENOMEM;
    if (r == 0)
        r = mm_cfg_apply(collector_config_table, doc, doc ? doc->root : NULL, c, d);
    if (r == 0)
        r = validate(c, doc, d);
    if (r < 0) {
        collector_config_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

int collector_config_load_buf(const char *name, const char *buf, size_t len, collector_config_t **ret,
                              mm_diag_t *d)
{
    mm_yaml_doc_t *doc;
    int r = mm_yaml_load_buf(name, buf, len, &doc, d);
    if (r < 0)
        return r;
    r = load_doc(name, doc, ret, d);
    mm_yaml_free(doc);
    return r;
}

int collector_config_load(const mm_config_t *cfg, collector_config_t **ret, mm_diag_t *d)
{
    char *path;
    if (asprintf(&path, "%s/collector.yml", cfg->dir) < 0)
        return -ENOMEM;
    mm_yaml_doc_t *doc = NULL;
    int r = 0;
    if (access(path, F_OK) == 0)
        r = mm_yaml_load_file(path, &doc, d);
    if (r == 0)
        r = load_doc(path, doc, ret, d);
    mm_yaml_free(doc);
    free(path);
    return r;
}

void collector_config_free(collector_config_t *c)
{
    if (!c)
        return;
    mm_cfg_free(collector_config_table, c);
    free(c->file);
    free(c);
}

int collector_config_check(const mm_config_t *cfg, mm_diag_t *d)
{
    collector_config_t *c;
    int r = collector_config_load(cfg, &c, d);
    if (r == 0)
        collector_config_free(c);
    return r;
}
