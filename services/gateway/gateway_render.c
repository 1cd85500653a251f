/* The gateway's renderers: /api/status, /api/metrics (the reference's shape
 * plus a labelled form), /api/health, the text exposition (families grouped
 * and sorted, histograms as cumulative buckets with +Inf, _sum, _count), the
 * gateway's own series, and WebSocket frames. Socket-free. */
#include "gateway_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_json.h"
#include "mm_build.h"

static int fam_cmp(const void *a, const void *b)
{
    const gw_family_t *x = *(gw_family_t *const *)a, *y = *(gw_family_t *const *)b;
    return strcmp(x->name, y->name);
}

/* Puts families in name order; they stay sorted until one is added or removed. */
static void sort_families(gateway_t *gw)
{
    if (gw->fam_sorted)
        return;
    qsort(gw->families, gw->nfam, sizeof(*gw->families), fam_cmp);
    for (size_t i = 0; i < gw->nfam; i++)
        gw->families[i]->pos = i;
    gw->fam_sorted = true;
}

static const struct {
    const char *service;
    const char *component;
} components[] = {
    { "collector", "metrics_collector" },
    { "health", "health_monitor" },
    { "security", "security_monitor" },
    { "alerting", "alert_manager" },
    { "incident", "incident_response" },
    { "bus", "bus" },
};

/* The best status among a service's instances: operational, down or not_configured. */
static const char *component_status(gateway_t *gw, const char *service)
{
    bool seen = false;
    for (size_t i = 0; i < gw->nsvc; i++) {
        if (strcmp(gw->services[i].service, service))
            continue;
        seen = true;
        if (!strcmp(gateway_service_status(gw, &gw->services[i]), "up"))
            return "operational";
    }
    return seen ? "down" : "not_configured";
}

static void write_service(gateway_t *gw, gateway_jw_t *w, const gw_service_t *s)
{
    gateway_jw_obj_begin(w);
    gateway_jw_key(w, "service");
    gateway_jw_str(w, s->service);
    gateway_jw_key(w, "instance");
    gateway_jw_str(w, s->instance);
    gateway_jw_key(w, "status");
    gateway_jw_str(w, gateway_service_status(gw, s));
    static const char *const states[] = { "starting", "ready", "reloading", "stopping" };
    gateway_jw_key(w, "state");
    gateway_jw_str(w, s->state >= 0 && s->state < 4 ? states[s->state] : "unknown");
    gateway_jw_key(w, "version");
    gateway_jw_str(w, s->version);
    gateway_jw_key(w, "pid");
    gateway_jw_i64(w, s->pid);
    gateway_jw_key(w, "started");
    if (s->started_ms > 0)
        gateway_jw_time(w, s->started_ms);
    else
        gateway_jw_null(w);
    gateway_jw_key(w, "uptime_s");
    gateway_jw_num(w, s->uptime_s);
    gateway_jw_key(w, "last_seen");
    gateway_jw_time(w, s->last_seen_ms);
    gateway_jw_key(w, "heartbeat_interval_ms");
    gateway_jw_i64(w, s->interval_ms);
    gateway_jw_key(w, "rss_bytes");
    gateway_jw_u64(w, s->rss_bytes);
    gateway_jw_key(w, "cpu_seconds");
    gateway_jw_num(w, s->cpu_seconds);
    gateway_jw_key(w, "config_generation");
    gateway_jw_u64(w, s->config_generation);
    gateway_jw_key(w, "config_error");
    gateway_jw_str(w, s->config_error);
    gateway_jw_key(w, "bus_gaps");
    gateway_jw_u64(w, s->bus_gaps);
    gateway_jw_key(w, "bus");
    gateway_jw_obj_begin(w);
    gateway_jw_key(w, "received");
    gateway_jw_u64(w, s->bus_received);
    gateway_jw_key(w, "sent");
    gateway_jw_u64(w, s->bus_sent);
    gateway_jw_key(w, "gaps");
    gateway_jw_u64(w, s->bus_gaps);
    gateway_jw_obj_end(w);
    gateway_jw_obj_end(w);
}

static void count_types(gateway_t *gw, size_t counts[5])
{
    memset(counts, 0, 5 * sizeof(size_t));
    for (size_t i = 0; i < gw->nfam; i++) {
        unsigned t = (unsigned)gw->families[i]->type;
        counts[t < 5 ? t : 0]++;
    }
}

void gateway_render_status(gateway_t *gw, gateway_buf_t *b)
{
    gateway_jw_t w;
    gateway_jw_init(&w, b);
    int64_t now = mm_clock_now_ms(gw->clock);
    bool any_down = false;
    for (size_t i = 0; i < gw->nsvc; i++)
        if (!strcmp(gateway_service_status(gw, &gw->services[i]), "down"))
            any_down = true;
    const char *system = "operational";
    if (gw->health_level == MM__HEALTH_LEVEL__CRITICAL || gw->health_level == MM__HEALTH_LEVEL__UNHEALTHY)
        system = "critical";
    else if (any_down || gw->health_level == MM__HEALTH_LEVEL__DEGRADED)
        system = "degraded";

    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "timestamp");
    gateway_jw_time(&w, now);
    gateway_jw_key(&w, "system_status");
    gateway_jw_str(&w, system);
    gateway_jw_key(&w, "status");          /* the same, for memmonctl status */
    gateway_jw_str(&w, system);
    gateway_jw_key(&w, "components");
    gateway_jw_obj_begin(&w);
    for (size_t i = 0; i < sizeof(components) / sizeof(components[0]); i++) {
        gateway_jw_key(&w, components[i].component);
        gateway_jw_str(&w, component_status(gw, components[i].service));
    }
    gateway_jw_key(&w, "gateway");
    gateway_jw_str(&w, "operational");
    gateway_jw_obj_end(&w);

    size_t counts[5];
    count_types(gw, counts);
    gateway_jw_key(&w, "metrics_summary");
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "counters");
    gateway_jw_u64(&w, counts[MM__METRIC_TYPE__COUNTER]);
    gateway_jw_key(&w, "gauges");
    gateway_jw_u64(&w, counts[MM__METRIC_TYPE__GAUGE] + counts[MM__METRIC_TYPE__UNTYPED]);
    gateway_jw_key(&w, "histograms");
    gateway_jw_u64(&w, counts[MM__METRIC_TYPE__HISTOGRAM]);
    gateway_jw_key(&w, "summaries");
    gateway_jw_u64(&w, counts[MM__METRIC_TYPE__SUMMARY]);
    gateway_jw_key(&w, "series");
    gateway_jw_u64(&w, gw->nseries);
    /* The reference's collector-only fields; memmon keeps them for its
     * users, unknown here (history lives with the collector). */
    gateway_jw_key(&w, "collection_interval");
    gateway_jw_null(&w);
    gateway_jw_key(&w, "retention_hours");
    gateway_jw_null(&w);
    gateway_jw_key(&w, "historical_points");
    gateway_jw_null(&w);
    gateway_jw_key(&w, "last_collection");
    if (gw->last_batch_ms)
        gateway_jw_time(&w, gw->last_batch_ms);
    else
        gateway_jw_null(&w);
    gateway_jw_obj_end(&w);

    gateway_jw_key(&w, "services");
    gateway_jw_arr_begin(&w);
    for (size_t i = 0; i < gw->nsvc; i++)
        write_service(gw, &w, &gw->services[i]);
    gateway_jw_arr_end(&w);

    if (gw->health_level >= 0) {
        gateway_jw_key(&w, "health");
        gateway_jw_obj_begin(&w);
        gateway_jw_key(&w, "status");
        gateway_jw_str(&w, gateway_level_name(gw->health_level));
        gateway_jw_key(&w, "score");
        gateway_jw_num(&w, gw->health_score);
        gateway_jw_key(&w, "healthy_checks");
        gateway_jw_u64(&w, gw->health_ok);
        gateway_jw_key(&w, "total_checks");
        gateway_jw_u64(&w, gw->health_total);
        gateway_jw_key(&w, "timestamp");
        gateway_jw_time(&w, gw->health_time_ms);
        gateway_jw_obj_end(&w);
    }
    gateway_jw_key(&w, "ready");
    gateway_jw_bool(&w, gw->ready);
    gateway_jw_key(&w, "version");
    gateway_jw_str(&w, MM_VERSION);
    gateway_jw_obj_end(&w);
}

/* ---- /api/metrics ---- */

/* The reference keyed its maps by name alone; labelled series are keyed by
 * their Prometheus spelling, name{label="value"}. */
static void series_key(gateway_jw_t *w, const gw_series_t *s)
{
    char tmp[1024];
    size_t n = s->prefix_len - 1;   /* without the trailing space */
    if (n < sizeof(tmp)) {
        memcpy(tmp, s->prefix, n);
        tmp[n] = '\0';
        gateway_jw_key(w, tmp);
    } else {
        gateway_jw_key(w, s->name);
    }
}

static void group_key(gateway_jw_t *w, const gw_group_t *g)
{
    if (!g->n_labels) {
        gateway_jw_key(w, g->fam->name);
        return;
    }
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_expo_series_prefix(&b, g->fam->name, NULL, g->labels, g->n_labels, NULL, NULL);
    if (b.len)
        b.data[--b.len] = '\0';
    gateway_jw_key(w, b.data ? b.data : g->fam->name);
    gateway_buf_fini(&b);
}

static void write_labels(gateway_jw_t *w, const mm_label_t *l, size_t n)
{
    gateway_jw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        gateway_jw_key(w, l[i].name);
        gateway_jw_str(w, l[i].value);
    }
    gateway_jw_obj_end(w);
}

static bool want(const gw_family_t *f, const char *prefix)
{
    return !prefix || !strncmp(f->name, prefix, strlen(prefix));
}

static void write_group_reference(gateway_jw_t *w, const gw_group_t *g, bool histogram)
{
    gateway_jw_obj_begin(w);
    gateway_jw_key(w, histogram ? "buckets" : "quantiles");
    gateway_jw_obj_begin(w);
    for (size_t i = 0; i < g->n; i++) {
        const gw_series_t *s = g->members[i];
        char key[GATEWAY_EXPO_VALUE_MAX];
        if (isinf(s->bound) && s->bound > 0)
            strcpy(key, "Infinity");
        else
            gateway_expo_bound(key, s->bound);
        gateway_jw_key(w, key);
        gateway_jw_num(w, s->value);
    }
    gateway_jw_obj_end(w);
    gateway_jw_key(w, "count");
    gateway_jw_num(w, g->count ? g->count->value : 0);
    gateway_jw_key(w, "sum");
    gateway_jw_num(w, g->sum ? g->sum->value : 0);
    gateway_jw_obj_end(w);
}

static void write_reference_maps(gateway_t *gw, gateway_jw_t *w, const char *prefix)
{
    static const struct {
        const char *key;
        Mm__MetricType t1, t2;
    } plain[] = {
        { "counters", MM__METRIC_TYPE__COUNTER, MM__METRIC_TYPE__COUNTER },
        { "gauges", MM__METRIC_TYPE__GAUGE, MM__METRIC_TYPE__UNTYPED },
    };
    for (size_t k = 0; k < 2; k++) {
        gateway_jw_key(w, plain[k].key);
        gateway_jw_obj_begin(w);
        for (size_t i = 0; i < gw->nfam; i++) {
            gw_family_t *f = gw->families[i];
            if ((f->type != plain[k].t1 && f->type != plain[k].t2) || !want(f, prefix))
                continue;
            for (size_t j = 0; j < f->n; j++) {
                series_key(w, f->series[j]);
                gateway_jw_num(w, f->series[j]->value);
            }
        }
        gateway_jw_obj_end(w);
    }
    for (int h = 1; h >= 0; h--) {
        gateway_jw_key(w, h ? "histograms" : "summaries");
        gateway_jw_obj_begin(w);
        for (size_t i = 0; i < gw->nfam; i++) {
            gw_family_t *f = gw->families[i];
            if (f->type != (h ? MM__METRIC_TYPE__HISTOGRAM : MM__METRIC_TYPE__SUMMARY) || !want(f, prefix))
                continue;
            for (size_t j = 0; j < f->ngroups; j++) {
                group_key(w, f->groups[j]);
                write_group_reference(w, f->groups[j], h);
            }
        }
        gateway_jw_obj_end(w);
    }
}

void gateway_render_metrics_current(gateway_t *gw, gateway_buf_t *b)
{
    gateway_jw_t w;
    gateway_jw_init(&w, b);
    sort_families(gw);
    gateway_jw_obj_begin(&w);
    write_reference_maps(gw, &w, NULL);
    gateway_jw_obj_end(&w);
}

static int64_t group_time(const gw_group_t *g)
{
    int64_t t = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->members[i]->time_ms > t)
            t = g->members[i]->time_ms;
    if (g->count && g->count->time_ms > t)
        t = g->count->time_ms;
    return t;
}

static void write_labelled(gateway_t *gw, gateway_jw_t *w, const char *prefix)
{
    gateway_jw_key(w, "metadata");
    gateway_jw_obj_begin(w);
    for (size_t i = 0; i < gw->nfam; i++) {
        gw_family_t *f = gw->families[i];
        if (!want(f, prefix))
            continue;
        gateway_jw_key(w, f->name);
        gateway_jw_obj_begin(w);
        gateway_jw_key(w, "type");
        gateway_jw_str(w, gateway_type_name(f->type));
        gateway_jw_key(w, "help");
        gateway_jw_str(w, f->help ? f->help : "");
        gateway_jw_obj_end(w);
    }
    gateway_jw_obj_end(w);
    gateway_jw_key(w, "series");
    gateway_jw_arr_begin(w);
    for (size_t i = 0; i < gw->nfam; i++) {
        gw_family_t *f = gw->families[i];
        if (!want(f, prefix))
            continue;
        const char *type = gateway_type_name(f->type);
        for (size_t j = 0; j < f->n; j++) {
            const gw_series_t *s = f->series[j];
            gateway_jw_obj_begin(w);
            gateway_jw_key(w, "name");
            gateway_jw_str(w, s->name);
            gateway_jw_key(w, "type");
            gateway_jw_str(w, type);
            gateway_jw_key(w, "labels");
            write_labels(w, s->labels, s->n_labels);
            gateway_jw_key(w, "value");
            gateway_jw_num(w, s->value);
            gateway_jw_key(w, "timestamp_ms");
            gateway_jw_i64(w, s->time_ms);
            gateway_jw_obj_end(w);
        }
        bool hist = f->type == MM__METRIC_TYPE__HISTOGRAM;
        for (size_t j = 0; j < f->ngroups; j++) {
            const gw_group_t *g = f->groups[j];
            gateway_jw_obj_begin(w);
            gateway_jw_key(w, "name");
            gateway_jw_str(w, f->name);
            gateway_jw_key(w, "type");
            gateway_jw_str(w, type);
            gateway_jw_key(w, "labels");
            write_labels(w, g->labels, g->n_labels);
            gateway_jw_key(w, hist ? "buckets" : "quantiles");
            gateway_jw_arr_begin(w);
            for (size_t k = 0; k < g->n; k++) {
                char bound[GATEWAY_EXPO_VALUE_MAX];
                gateway_expo_bound(bound, g->members[k]->bound);
                gateway_jw_obj_begin(w);
                gateway_jw_key(w, hist ? "le" : "quantile");
                gateway_jw_str(w, bound);
                gateway_jw_key(w, hist ? "count" : "value");
                gateway_jw_num(w, g->members[k]->value);
                gateway_jw_obj_end(w);
            }
            gateway_jw_arr_end(w);
            gateway_jw_key(w, "count");
            gateway_jw_num(w, g->count ? g->count->value : 0);
            gateway_jw_key(w, "sum");
            gateway_jw_num(w, g->sum ? g->sum->value : 0);
            gateway_jw_key(w, "timestamp_ms");
            gateway_jw_i64(w, group_time(g));
            gateway_jw_obj_end(w);
        }
    }
    gateway_jw_arr_end(w);
}

void gateway_render_metrics_json(gateway_t *gw, gateway_buf_t *b, const gateway_metrics_query_t *q)
{
    gateway_jw_t w;
    gateway_jw_init(&w, b);
    sort_families(gw);
    int64_t now = mm_clock_now_ms(gw->clock);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "timestamp");
    gateway_jw_time(&w, now);
    if (q->reference) {
        /* Doubly nested, exactly as the reference served it. */
        gateway_jw_key(&w, "metrics");
        gateway_jw_obj_begin(&w);
        gateway_jw_key(&w, "timestamp");
        gateway_jw_time(&w, now);
        gateway_jw_key(&w, "metrics");
        gateway_jw_obj_begin(&w);
        write_reference_maps(gw, &w, q->name_prefix);
        gateway_jw_obj_end(&w);
        gateway_jw_obj_end(&w);
    }
    if (q->labelled)
        write_labelled(gw, &w, q->name_prefix);
    gateway_jw_obj_end(&w);
}

/* ---- exposition ---- */

static void line(gateway_buf_t *b, gw_series_t *s)
{
    gateway_series_format(s);
    if (gateway_buf_reserve(b, s->prefix_len + s->val_len + 1) < 0)
        return;
    char *p = b->data + b->len;
    memcpy(p, s->prefix, s->prefix_len);
    p += s->prefix_len;
    memcpy(p, s->val, s->val_len);
    p += s->val_len;
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

static void help_text(gateway_buf_t *tmp, const gw_family_t *f)
{
    gateway_buf_reset(tmp);
    if (f->help && *f->help)
        gateway_buf_puts(tmp, f->help);
    else
        gateway_buf_printf(tmp, "%s %s (no HELP text was published for it)",
                           gateway_type_name(f->type), f->name);
}

void gateway_render_exposition(gateway_t *gw, gateway_buf_t *b)
{
    sort_families(gw);
    gateway_buf_t help;
    gateway_buf_init(&help);
    /* Roughly what the body will need, to avoid regrowing. */
    gateway_buf_reserve(b, gw->nseries * 96 + gw->nfam * 128);
    for (size_t i = 0; i < gw->nfam; i++) {
        gw_family_t *f = gw->families[i];
        help_text(&help, f);
        gateway_expo_family(b, f->name, gateway_type_name(f->type), help.data ? help.data : "");
        for (size_t j = 0; j < f->n; j++)
            line(b, f->series[j]);
        for (size_t j = 0; j < f->ngroups; j++) {
            gw_group_t *g = f->groups[j];
            for (size_t k = 0; k < g->n; k++)
                line(b, g->members[k]);
            if (f->type == MM__METRIC_TYPE__HISTOGRAM && g->count &&
                (!g->n || !isinf(g->members[g->n - 1]->bound))) {
                /* A histogram must end with le="+Inf", which equals _count. */
                gateway_expo_series_prefix(b, f->name, "_bucket", g->labels, g->n_labels, "le", "+Inf");
                gateway_series_format(g->count);
                gateway_buf_append(b, g->count->val, g->count->val_len);
                gateway_buf_putc(b, '\n');
            }
            if (g->sum)
                line(b, g->sum);
            if (g->count)
                line(b, g->count);
        }
    }
    gateway_buf_fini(&help);
}

static void own_sample(gateway_buf_t *b, const char *name, const mm_label_t *l, size_t n, double v)
{
    char val[GATEWAY_EXPO_VALUE_MAX];
    gateway_expo_series_prefix(b, name, NULL, l, n, NULL, NULL);
    gateway_buf_append(b, val, gateway_expo_value(val, v));
    gateway_buf_putc(b, '\n');
}

void gateway_render_own_exposition(gateway_t *gw, gateway_buf_t *b)
{
    gateway_expo_family(b, "memmon_gateway_http_requests_total",
                        "counter", "HTTP requests the gateway answered, by handler and status code.");
    for (size_t i = 0; i < gw->nreqs; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%d", gw->reqs[i].status);
        mm_label_t l[2] = { { "code", code }, { "handler", gw->reqs[i].handler } };
        own_sample(b, "memmon_gateway_http_requests_total", l, 2, (double)gw->reqs[i].count);
    }
    gateway_expo_family(b, "memmon_gateway_websocket_clients", "gauge",
                        "WebSocket clients connected now.");
    own_sample(b, "memmon_gateway_websocket_clients", NULL, 0, (double)gw->ws_clients);
    gateway_expo_family(b, "memmon_gateway_websocket_dropped_frames_total", "counter",
                        "Frames not sent to slow WebSocket clients.");
    own_sample(b, "memmon_gateway_websocket_dropped_frames_total", NULL, 0, (double)gw->ws_dropped);
    gateway_expo_family(b, "memmon_gateway_series", "gauge", "Series in the gateway's view.");
    own_sample(b, "memmon_gateway_series", NULL, 0, (double)gw->nseries);
    gateway_expo_family(b, "memmon_gateway_series_dropped_total", "counter",
                        "Series updates the gateway could not keep, by reason.");
    mm_label_t r1[1] = { { "reason", "conflict" } }, r2[1] = { { "reason", "invalid" } },
               r3[1] = { { "reason", "limit" } };
    own_sample(b, "memmon_gateway_series_dropped_total", r1, 1, (double)gw->dropped_conflict);
    own_sample(b, "memmon_gateway_series_dropped_total", r2, 1, (double)gw->dropped_invalid);
    own_sample(b, "memmon_gateway_series_dropped_total", r3, 1, (double)gw->dropped_limit);
    gateway_expo_family(b, "memmon_gateway_series_swept_total", "counter",
                        "Series removed because their sender's complete state no longer held them.");
    own_sample(b, "memmon_gateway_series_swept_total", NULL, 0, (double)gw->swept);
    gateway_expo_family(b, "memmon_gateway_bus_envelopes_total", "counter",
                        "Bus envelopes the gateway applied.");
    own_sample(b, "memmon_gateway_bus_envelopes_total", NULL, 0, (double)gw->envelopes);
    gateway_expo_family(b, "memmon_gateway_pending_commands", "gauge",
                        "Commands waiting for a reply.");
    own_sample(b, "memmon_gateway_pending_commands", NULL, 0, (double)gw->npending);
    if (!gw->nsvc)
        return;
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        { "memmon_gateway_service_up", "gauge",
          "1 when the service instance's heartbeats arrive on time, as the gateway sees it." },
        { "memmon_gateway_service_bus_gaps_total", "counter",
          "Bus messages the service instance reported missing (sequence gaps)." },
        { "memmon_gateway_service_resident_memory_bytes", "gauge",
          "Resident memory the service instance reported in its heartbeat." },
    };
    for (size_t k = 0; k < 3; k++) {
        gateway_expo_family(b, fams[k].name, fams[k].type, fams[k].help);
        for (size_t i = 0; i < gw->nsvc; i++) {
            const gw_service_t *s = &gw->services[i];
            mm_label_t l[2] = { { "instance", s->instance }, { "service", s->service } };
            double v = k == 0 ? (!strcmp(gateway_service_status(gw, s), "up") ? 1.0 : 0.0)
                     : k == 1 ? (double)s->bus_gaps : (double)s->rss_bytes;
            own_sample(b, fams[k].name, l, 2, v);
        }
    }
}

/* ---- health ---- */

void gateway_render_health_report(gateway_t *gw, gateway_buf_t *b, const Mm__HealthReport *r,
                                  int64_t time_ms)
{
    (void)gw;
    gateway_jw_t w;
    gateway_jw_init(&w, b);
    double total_ms = 0;
    size_t ok = 0;
    for (size_t i = 0; i < r->n_checks; i++) {
        total_ms += r->checks[i]->duration_s * 1000.0;
        if (r->checks[i]->level == MM__HEALTH_LEVEL__HEALTHY)
            ok++;
    }
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "status");
    gateway_jw_str(&w, gateway_level_name(r->overall));
    gateway_jw_key(&w, "score");
    gateway_jw_num(&w, r->score);
    gateway_jw_key(&w, "overall_response_time_ms");
    gateway_jw_num(&w, total_ms);
    gateway_jw_key(&w, "healthy_checks");
    gateway_jw_u64(&w, ok);
    gateway_jw_key(&w, "total_checks");
    gateway_jw_u64(&w, r->n_checks);
    gateway_jw_key(&w, "timestamp");
    gateway_jw_time(&w, time_ms);
    gateway_jw_key(&w, "checks");
    gateway_jw_arr_begin(&w);
    for (size_t i = 0; i < r->n_checks; i++) {
        const Mm__CheckResult *c = r->checks[i];
        gateway_jw_obj_begin(&w);
        gateway_jw_key(&w, "name");
        gateway_jw_str(&w, c->name);
        gateway_jw_key(&w, "status");
        gateway_jw_str(&w, gateway_level_name(c->level));
        gateway_jw_key(&w, "message");
        gateway_jw_str(&w, c->message);
        gateway_jw_key(&w, "response_time_ms");
        gateway_jw_num(&w, c->duration_s * 1000.0);
        gateway_jw_key(&w, "metadata");
        gateway_jw_obj_begin(&w);
        for (size_t j = 0; j < c->n_details; j++) {
            gateway_jw_key(&w, c->details[j]->name);
            gateway_jw_str(&w, c->details[j]->value);
        }
        gateway_jw_obj_end(&w);
        gateway_jw_key(&w, "timestamp");
        gateway_jw_time(&w, c->time_ms ? c->time_ms : time_ms);
        gateway_jw_key(&w, "kind");
        gateway_jw_str(&w, c->kind);
        gateway_jw_key(&w, "raw_status");
        gateway_jw_str(&w, gateway_level_name(c->raw_level));
        gateway_jw_key(&w, "weight");
        gateway_jw_num(&w, c->weight);
        gateway_jw_key(&w, "score_penalty");
        gateway_jw_num(&w, c->score_penalty);
        gateway_jw_key(&w, "depends_on");
        gateway_jw_arr_begin(&w);
        for (size_t j = 0; j < c->n_depends_on; j++)
            gateway_jw_str(&w, c->depends_on[j]);
        gateway_jw_arr_end(&w);
        gateway_jw_key(&w, "blocked_by");
        gateway_jw_str(&w, c->blocked_by && *c->blocked_by ? c->blocked_by : NULL);
        gateway_jw_key(&w, "since");
        if (c->since_ms)
            gateway_jw_time(&w, c->since_ms);
        else
            gateway_jw_null(&w);
        gateway_jw_obj_end(&w);
    }
    gateway_jw_arr_end(&w);
    gateway_jw_key(&w, "changes");
    gateway_jw_arr_begin(&w);
    for (size_t i = 0; i < r->n_changes; i++) {
        const Mm__LevelChange *c = r->changes[i];
        gateway_jw_obj_begin(&w);
        gateway_jw_key(&w, "check");
        gateway_jw_str(&w, c->check);
        gateway_jw_key(&w, "from");
        gateway_jw_str(&w, gateway_level_name(c->from));
        gateway_jw_key(&w, "to");
        gateway_jw_str(&w, gateway_level_name(c->to));
        gateway_jw_key(&w, "timestamp");
        gateway_jw_time(&w, c->time_ms);
        gateway_jw_key(&w, "message");
        gateway_jw_str(&w, c->message);
        gateway_jw_obj_end(&w);
    }
    gateway_jw_arr_end(&w);
    gateway_jw_obj_end(&w);
}

bool gateway_render_health(gateway_t *gw, gateway_buf_t *b)
{
    if (gw->health_json) {
        gateway_buf_append(b, gw->health_json, gw->health_len);
        return true;
    }
    gateway_buf_puts(b, "{\"status\":\"unknown\",\"message\":\"no health report has arrived yet\"}");
    return false;
}

/* ---- frames ---- */

void gateway_render_frame(gateway_t *gw, gateway_buf_t *b, const char *topic, const char *data_json,
                          size_t data_len)
{
    gateway_buf_puts(b, "{\"topic\":\"");
    gateway_json_escape(b, topic, strlen(topic));
    gateway_buf_puts(b, "\",\"seq\":");
    gateway_buf_u64(b, gw->event_seq);
    gateway_buf_puts(b, ",\"data\":");
    gateway_buf_append(b, data_json, data_len);
    gateway_buf_putc(b, '}');
}

void gateway_render_status_frame(gateway_t *gw, gateway_buf_t *b)
{
    gateway_buf_t d;
    gateway_buf_init(&d);
    gateway_render_status(gw, &d);
    if (!gateway_buf_failed(&d))
        gateway_render_frame(gw, b, "status", d.data, d.len);
    gateway_buf_fini(&d);
}

size_t gateway_render_metric_frame(gateway_t *gw, const gateway_ws_filter_t *f,
                                   const Mm__Envelope *env, const Mm__MetricBatch *batch,
                                   gateway_buf_t *b)
{
    if (!gateway_ws_filter_wants_metrics(f))
        return 0;
    size_t start = b->len, n = 0;
    gateway_jw_t w;
    char topic[512];
    for (size_t i = 0; i < batch->n_series; i++) {
        const Mm__Series *s = batch->series[i];
        if (!s->n_values)
            continue;
        snprintf(topic, sizeof(topic), "metric.%s", s->name);
        if (!gateway_ws_filter_match(f, topic))
            continue;
        if (n == 0) {
            gateway_buf_puts(b, "{\"topic\":\"metric.update\",\"seq\":");
            gateway_buf_u64(b, gw->event_seq);
            gateway_buf_puts(b, ",\"data\":");
            gateway_jw_init(&w, b);
            gateway_jw_obj_begin(&w);
            gateway_jw_key(&w, "sender");
            gateway_jw_str(&w, env->sender);
            gateway_jw_key(&w, "instance");
            gateway_jw_str(&w, env->instance);
            gateway_jw_key(&w, "time_ms");
            gateway_jw_i64(&w, env->time_ms);
            gateway_jw_key(&w, "series");
            gateway_jw_arr_begin(&w);
        }
        n++;
        gateway_jw_obj_begin(&w);
        gateway_jw_key(&w, "name");
        gateway_jw_str(&w, s->name);
        gateway_jw_key(&w, "type");
        gateway_jw_str(&w, gateway_type_name(s->type));
        gateway_jw_key(&w, "labels");
        gateway_jw_obj_begin(&w);
        for (size_t j = 0; j < s->n_labels; j++) {
            gateway_jw_key(&w, s->labels[j]->name);
            gateway_jw_str(&w, s->labels[j]->value);
        }
        gateway_jw_obj_end(&w);
        double v = s->values[s->n_values - 1];
        gateway_jw_key(&w, "value");
        if (isnan(v) || isinf(v)) {
            char tmp[GATEWAY_EXPO_VALUE_MAX];
            gateway_expo_value(tmp, v);
            gateway_jw_str(&w, mm_is_stale_nan(v) ? "stale" : tmp);
        } else {
            gateway_jw_num(&w, v);
        }
        gateway_jw_key(&w, "time_ms");
        gateway_jw_i64(&w, s->n_times_ms == s->n_values ? s->times_ms[s->n_times_ms - 1] : env->time_ms);
        gateway_jw_obj_end(&w);
    }
    if (n) {
        gateway_jw_arr_end(&w);
        gateway_jw_obj_end(&w);
        gateway_buf_putc(b, '}');
    }
    if (gateway_buf_failed(b)) {
        b->len = start;
        return 0;
    }
    return n;
}
