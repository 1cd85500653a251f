/* The gateway's view of the system: applies bus envelopes (metric batches,
 * heartbeats, health reports, replies, state chunks) to in-memory tables,
 * turns changes into WebSocket events kept in a bounded ring, and matches
 * replies to pending commands. Socket-free; time comes from the clock. */
#include "gateway_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_json.h"

#define DEFAULT_MAX_SERIES 500000
#define DEFAULT_RING 1024
#define DEFAULT_HB_MS 5000
#define WS_MAX_TOPICS 64
#define WS_MAX_TOPIC_LEN 200

static const char *const default_ws_topics[] = {
    "status", "health.", "service.", "alert.", "incident.", "sec.", "resume", NULL,
};

const char *gateway_type_name(Mm__MetricType t)
{
    switch (t) {
    case MM__METRIC_TYPE__COUNTER: return "counter";
    case MM__METRIC_TYPE__GAUGE: return "gauge";
    case MM__METRIC_TYPE__HISTOGRAM: return "histogram";
    case MM__METRIC_TYPE__SUMMARY: return "summary";
    default: return "untyped";
    }
}

const char *gateway_level_name(int level)
{
    switch (level) {
    case MM__HEALTH_LEVEL__HEALTHY: return "healthy";
    case MM__HEALTH_LEVEL__DEGRADED: return "degraded";
    case MM__HEALTH_LEVEL__UNHEALTHY: return "unhealthy";
    case MM__HEALTH_LEVEL__CRITICAL: return "critical";
    default: return "unknown";
    }
}

int gateway_new(const gateway_opts_t *opts, const mm_clock_t *clock, gateway_t **ret_gw)
{
    if (!opts || !clock || !ret_gw)
        return -EINVAL;
    gateway_t *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return -ENOMEM;
    gw->clock = clock;
    gw->instance = strdup(opts->instance ? opts->instance : "gateway");
    gw->max_series = opts->max_series ? opts->max_series : DEFAULT_MAX_SERIES;
    gw->default_hb_ms = opts->default_hb_ms > 0 ? opts->default_hb_ms : DEFAULT_HB_MS;
    gw->ring_cap = opts->event_ring ? opts->event_ring : DEFAULT_RING;
    gw->ring = calloc(gw->ring_cap, sizeof(*gw->ring));
    gw->health_level = -1;
    mm_map_init(&gw->series);
    mm_map_init(&gw->fam_by_name);
    mm_map_init(&gw->groups);
    if (!gw->instance || !gw->ring) {
        gateway_free(gw);
        return -ENOMEM;
    }
    *ret_gw = gw;
    return 0;
}

/* A series is one allocation: the struct, its labels array, then the
 * name, label strings and exposition prefix. */
static void series_free(gw_series_t *s)
{
    free(s);
}

static void group_free(gw_group_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_labels; i++) {
        free((char *)g->own_labels[i].name);
        free((char *)g->own_labels[i].value);
    }
    free(g->own_labels);
    free(g->members);
    free(g);
}

static void family_free(gw_family_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        series_free(f->series[i]);
    for (size_t i = 0; i < f->ngroups; i++) {
        gw_group_t *g = f->groups[i];
        for (size_t j = 0; j < g->n; j++)
            series_free(g->members[j]);
        series_free(g->sum);
        series_free(g->count);
        group_free(g);
    }
    free(f->series);
    free(f->groups);
    free(f->name);
    free(f->help);
    free(f);
}

static void service_fini(gw_service_t *s)
{
    free(s->service);
    free(s->instance);
    free(s->version);
    free(s->config_error);
}

void gateway_free(gateway_t *gw)
{
    if (!gw)
        return;
    for (size_t i = 0; i < gw->nfam; i++)
        family_free(gw->families[i]);
    free(gw->families);
    mm_map_fini(&gw->series);
    mm_map_fini(&gw->fam_by_name);
    mm_map_fini(&gw->groups);
    for (size_t i = 0; i < gw->nsvc; i++)
        service_fini(&gw->services[i]);
    free(gw->services);
    for (size_t i = 1; i < gw->nowners; i++)
        free(gw->owners[i].instance);
    free(gw->owners);
    free(gw->health_json);
    for (size_t i = 0; i < gw->nchecks; i++)
        free(gw->checks[i].name);
    free(gw->checks);
    for (size_t i = 0; i < gw->ring_n; i++) {
        gw_event_t *e = &gw->ring[(gw->ring_head + i) % gw->ring_cap];
        free(e->topic);
        free(e->frame);
    }
    free(gw->ring);
    while (gw->pending) {
        gateway_pending_t *p = gw->pending;
        gw->pending = p->next;
        free(p);
    }
    free(gw->instance);
    free(gw);
}

void gateway_set_hooks(gateway_t *gw, gateway_event_cb on_event, gateway_metrics_cb on_metrics,
                       void *data)
{
    gw->on_event = on_event;
    gw->on_metrics = on_metrics;
    gw->hook_data = data;
}

uint64_t gateway_event_seq(const gateway_t *gw) { return gw->event_seq; }
bool gateway_ready(const gateway_t *gw) { return gw->ready; }
uint64_t gateway_generation(const gateway_t *gw) { return gw->generation; }
size_t gateway_series_count(const gateway_t *gw) { return gw->nseries; }
size_t gateway_pending_count(const gateway_t *gw) { return gw->npending; }

/* ---- events ---- */

void gateway_emit(gateway_t *gw, const char *topic, const char *data_json, size_t data_len)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    uint64_t seq = gw->event_seq + 1;
    gateway_buf_puts(&b, "{\"topic\":\"");
    gateway_json_escape(&b, topic, strlen(topic));
    gateway_buf_puts(&b, "\",\"seq\":");
    gateway_buf_u64(&b, seq);
    gateway_buf_puts(&b, ",\"data\":");
    gateway_buf_append(&b, data_json, data_len);
    gateway_buf_putc(&b, '}');
    size_t len;
    char *frame = gateway_buf_steal(&b, &len);
    char *t = strdup(topic);
    if (!frame || !t) {
        free(frame);
        free(t);
        return;
    }
    gw->event_seq = seq;
    if (gw->ring_n == gw->ring_cap) {
        gw_event_t *old = &gw->ring[gw->ring_head];
        free(old->topic);
        free(old->frame);
        gw->ring_head = (gw->ring_head + 1) % gw->ring_cap;
        gw->ring_n--;
    }
    gw_event_t *e = &gw->ring[(gw->ring_head + gw->ring_n) % gw->ring_cap];
    e->seq = seq;
    e->topic = t;
    e->frame = frame;
    e->len = len;
    gw->ring_n++;
    if (gw->on_event) {
        gateway_event_t ev = { seq, t, frame, len };
        gw->on_event(gw->hook_data, &ev);
    }
}

uint64_t gateway_events_since(const gateway_t *gw, uint64_t after,
                              void (*cb)(void *data, const gateway_event_t *ev), void *data)
{
    uint64_t missed = 0;
    if (gw->ring_n == 0)
        return after < gw->event_seq ? gw->event_seq - after : 0;
    uint64_t oldest = gw->ring[gw->ring_head].seq;
    if (after + 1 < oldest)
        missed = oldest - after - 1;
    for (size_t i = 0; i < gw->ring_n; i++) {
        const gw_event_t *e = &gw->ring[(gw->ring_head + i) % gw->ring_cap];
        if (e->seq <= after)
            continue;
        gateway_event_t ev = { e->seq, e->topic, e->frame, e->len };
        cb(data, &ev);
    }
    return missed;
}

/* ---- metric series ---- */

static double parse_bound(const char *s, bool *ok)
{
    *ok = true;
    if (!strcmp(s, "+Inf") || !strcmp(s, "Inf") || !strcmp(s, "+inf") || !strcmp(s, "inf"))
        return INFINITY;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || isnan(v))
        *ok = false;
    return v;
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

static uint64_t family_hash(const char *name) { return mm_hash_bytes(name, strlen(name), 0); }

static bool family_named(const void *v, const void *name)
{
    return !strcmp(((const gw_family_t *)v)->name, name);
}

static gw_family_t *family_get(gateway_t *gw, const char *name)
{
    return mm_map_get(&gw->fam_by_name, family_hash(name), family_named, name);
}

static gw_family_t *family_get_n(gateway_t *gw, const char *name, size_t n, const char *suffix)
{
    char tmp[512];
    size_t m = strlen(suffix);
    if (n + m + 1 > sizeof(tmp))
        return NULL;
    memcpy(tmp, name, n);
    memcpy(tmp + n, suffix, m + 1);
    return family_get(gw, tmp);
}

/* Would a new family `name` of `type` produce sample names another family
 * already produces? */
static bool family_conflicts(gateway_t *gw, const char *name, Mm__MetricType type)
{
    size_t n = strlen(name);
    if (!strncmp(name, "memmon_gateway_", 15))
        return true;
    if (type == MM__METRIC_TYPE__HISTOGRAM || type == MM__METRIC_TYPE__SUMMARY) {
        if (family_get_n(gw, name, n, "_sum") || family_get_n(gw, name, n, "_count"))
            return true;
        if (type == MM__METRIC_TYPE__HISTOGRAM && family_get_n(gw, name, n, "_bucket"))
            return true;
        return false;
    }
    static const char *const sufs[] = { "_bucket", "_sum", "_count" };
    for (size_t i = 0; i < 3; i++) {
        if (!ends_with(name, n, sufs[i]))
            continue;
        gw_family_t *f = family_get_n(gw, name, n - strlen(sufs[i]), "");
        if (f && (f->type == MM__METRIC_TYPE__HISTOGRAM ||
                  (i > 0 && f->type == MM__METRIC_TYPE__SUMMARY)))
            return true;
    }
    return false;
}

static gw_family_t *family_create(gateway_t *gw, const char *name, Mm__MetricType type)
{
    if (gw->nfam == gw->famcap) {
        size_t cap = gw->famcap ? gw->famcap * 2 : 64;
        gw_family_t **v = realloc(gw->families, cap * sizeof(*v));
        if (!v)
            return NULL;
        gw->families = v;
        gw->famcap = cap;
    }
    gw_family_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->name = strdup(name))) {
        free(f);
        return NULL;
    }
    f->type = type;
    if (mm_map_put(&gw->fam_by_name, family_hash(name), f) < 0) {
        family_free(f);
        return NULL;
    }
    f->pos = gw->nfam;
    gw->families[gw->nfam++] = f;
    gw->fam_sorted = false;
    return f;
}

static void family_remove(gateway_t *gw, gw_family_t *f)
{
    mm_map_del(&gw->fam_by_name, family_hash(f->name), f);
    size_t last = --gw->nfam;
    if (f->pos != last) {
        gw->families[f->pos] = gw->families[last];
        gw->families[f->pos]->pos = f->pos;
        gw->fam_sorted = false;
    }
    family_free(f);
}

static int ptr_push(void ***v, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void **nv = realloc(*v, c * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = p;
    return 0;
}

static void set_help(gw_family_t *f, const char *help)
{
    if (!help || !*help || (f->help && !strcmp(f->help, help)))
        return;
    size_t n = strlen(help);
    char *h = malloc(n + 1);
    if (!h)
        return;
    /* HELP must be UTF-8; replace whatever is not. */
    for (size_t i = 0; i < n; i++)
        h[i] = help[i];
    h[n] = '\0';
    if (!gateway_utf8_valid(h, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)h[i] >= 0x80)
                h[i] = '?';
    free(f->help);
    f->help = h;
}

static gw_group_t *group_get_or_create(gateway_t *gw, gw_family_t *f, const mm_label_t *labels,
                                       size_t n, const char *skip)
{
    mm_label_t tmp[128];
    size_t m = 0;
    for (size_t i = 0; i < n && m < 128; i++)
        if (!skip || strcmp(labels[i].name, skip))
            tmp[m++] = labels[i];
    uint64_t key = mm_labels_fingerprint(f->name, tmp, m) ^ 0x9e3779b97f4a7c15ULL;
    gw_group_t *g = mm_map_get(&gw->groups, key, NULL, NULL);
    if (g)
        return g->fam == f ? g : NULL;
    g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->key = key;
    g->fam = f;
    g->own_labels = calloc(m ? m : 1, sizeof(mm_label_t));
    if (!g->own_labels) {
        free(g);
        return NULL;
    }
    for (size_t i = 0; i < m; i++) {
        g->own_labels[i].name = strdup(tmp[i].name);
        g->own_labels[i].value = strdup(tmp[i].value);
        g->n_labels = i + 1;
        if (!g->own_labels[i].name || !g->own_labels[i].value) {
            group_free(g);
            return NULL;
        }
    }
    g->labels = g->own_labels;
    if (mm_map_put(&gw->groups, key, g) < 0 ||
        ptr_push((void ***)&f->groups, &f->ngroups, &f->gcap, g) < 0) {
        mm_map_del(&gw->groups, key, g);
        group_free(g);
        return NULL;
    }
    g->pos = f->ngroups - 1;
    return g;
}

static void group_remove(gateway_t *gw, gw_group_t *g)
{
    gw_family_t *f = g->fam;
    mm_map_del(&gw->groups, g->key, g);
    size_t last = --f->ngroups;
    if (g->pos != last) {
        f->groups[g->pos] = f->groups[last];
        f->groups[g->pos]->pos = g->pos;
    }
    group_free(g);
}

/* Unlinks s from its family and group, frees it, and drops what became empty. */
static void series_remove(gateway_t *gw, gw_series_t *s)
{
    gw_family_t *f = s->fam;
    mm_map_del(&gw->series, s->fp, s);
    gw->nseries--;
    if (s->grp) {
        gw_group_t *g = s->grp;
        if (s->role == ROLE_SUM)
            g->sum = NULL;
        else if (s->role == ROLE_COUNT)
            g->count = NULL;
        else {
            memmove(g->members + s->pos, g->members + s->pos + 1,
                    (g->n - s->pos - 1) * sizeof(*g->members));
            g->n--;
            for (size_t i = s->pos; i < g->n; i++)
                g->members[i]->pos = i;
        }
        if (!g->n && !g->sum && !g->count)
            group_remove(gw, g);
    } else {
        size_t last = --f->n;
        if (s->pos != last) {
            f->series[s->pos] = f->series[last];
            f->series[s->pos]->pos = s->pos;
        }
    }
    series_free(s);
    if (!f->n && !f->ngroups)
        family_remove(gw, f);
}

void gateway_series_format(gw_series_t *s)
{
    if (!s->val_dirty)
        return;
    s->val_len = (uint8_t)gateway_expo_value(s->val, s->value);
    s->val_dirty = false;
}

/* Validates a new series and works out its family name and role.
 * Returns 0 or -EINVAL. fam must hold 512 bytes. */
static int classify(const Mm__Series *in, char *fam, int *role, double *bound)
{
    const char *name = in->name;
    size_t n = strlen(name);
    if (!n || n >= 400 || !mm_metric_name_valid(name, n))
        return -EINVAL;
    if (in->n_labels > 64)
        return -EINVAL;
    for (size_t i = 0; i < in->n_labels; i++) {
        const Mm__Label *l = in->labels[i];
        size_t ln = strlen(l->name);
        if (!mm_label_name_valid(l->name, ln) || !strncmp(l->name, "__", 2))
            return -EINVAL;
        if (!gateway_utf8_valid(l->value, strlen(l->value)))
            return -EINVAL;
        if (i && strcmp(in->labels[i - 1]->name, l->name) >= 0)
            return -EINVAL;     /* unsorted or duplicate */
    }
    *role = ROLE_PLAIN;
    *bound = 0;
    if (in->type != MM__METRIC_TYPE__HISTOGRAM && in->type != MM__METRIC_TYPE__SUMMARY) {
        memcpy(fam, name, n + 1);
        return 0;
    }
    const char *fn = in->family_name;
    size_t fl = strlen(fn);
    if (!fl) {
        static const char *const sufs[] = { "_bucket", "_sum", "_count" };
        fn = name;
        fl = n;
        for (size_t i = 0; i < 3; i++)
            if (ends_with(name, n, sufs[i])) {
                fl = n - strlen(sufs[i]);
                break;
            }
    }
    if (fl >= 400 || !mm_metric_name_valid(fn, fl))
        return -EINVAL;
    memcpy(fam, fn, fl);
    fam[fl] = '\0';
    const char *suffix = n >= fl && !memcmp(name, fam, fl) ? name + fl : NULL;
    if (!suffix)
        return -EINVAL;
    const char *want = in->type == MM__METRIC_TYPE__HISTOGRAM ? "le" : "quantile";
    const char *bv = NULL;
    for (size_t i = 0; i < in->n_labels; i++)
        if (!strcmp(in->labels[i]->name, want))
            bv = in->labels[i]->value;
    if (!strcmp(suffix, "_sum"))
        *role = ROLE_SUM;
    else if (!strcmp(suffix, "_count"))
        *role = ROLE_COUNT;
    else if (in->type == MM__METRIC_TYPE__HISTOGRAM && !strcmp(suffix, "_bucket") && bv)
        *role = ROLE_BUCKET;
    else if (in->type == MM__METRIC_TYPE__SUMMARY && !*suffix && bv)
        *role = ROLE_QUANTILE;
    else
        return -EINVAL;
    if (*role == ROLE_BUCKET || *role == ROLE_QUANTILE) {
        bool ok;
        *bound = parse_bound(bv, &ok);
        if (!ok)
            return -EINVAL;
    } else if (bv) {
        return -EINVAL;         /* _sum/_count must not carry le/quantile */
    }
    return 0;
}

static gw_series_t *series_create(gateway_t *gw, const Mm__Series *in, uint64_t fp)
{
    char famname[512];
    int role;
    double bound;
    if (classify(in, famname, &role, &bound) < 0) {
        gw->dropped_invalid++;
        return NULL;
    }
    if (gw->nseries >= gw->max_series) {
        gw->dropped_limit++;
        return NULL;
    }
    gw_family_t *f = family_get(gw, famname);
    if (f && f->type != in->type) {
        gw->dropped_conflict++;
        return NULL;
    }
    bool new_family = false;
    if (!f) {
        if (family_conflicts(gw, famname, in->type)) {
            gw->dropped_conflict++;
            return NULL;
        }
        if (!(f = family_create(gw, famname, in->type)))
            return NULL;
        new_family = true;
    }
    mm_label_t tmp[64];
    size_t strings = strlen(in->name) + 1;
    for (size_t i = 0; i < in->n_labels; i++) {
        tmp[i].name = in->labels[i]->name;
        tmp[i].value = in->labels[i]->value;
        strings += strlen(tmp[i].name) + strlen(tmp[i].value) + 2;
    }
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_expo_series_prefix(&b, in->name, NULL, tmp, in->n_labels, NULL, NULL);
    if (gateway_buf_failed(&b)) {
        gateway_buf_fini(&b);
        goto fail_family;
    }
    size_t head = sizeof(gw_series_t) + in->n_labels * sizeof(mm_label_t);
    gw_series_t *s = calloc(1, head + strings + b.len + 1);
    if (!s) {
        gateway_buf_fini(&b);
        goto fail_family;
    }
    s->labels = (mm_label_t *)(s + 1);
    char *p = (char *)s + head;
    s->name = p;
    p = stpcpy(p, in->name) + 1;
    for (size_t i = 0; i < in->n_labels; i++) {
        s->labels[i].name = p;
        p = stpcpy(p, tmp[i].name) + 1;
        s->labels[i].value = p;
        p = stpcpy(p, tmp[i].value) + 1;
    }
    s->n_labels = in->n_labels;
    s->prefix = p;
    memcpy(p, b.data, b.len + 1);
    s->prefix_len = b.len;
    gateway_buf_fini(&b);
    s->fp = fp;
    s->fam = f;
    s->role = role;
    s->bound = bound;
    if (role == ROLE_PLAIN) {
        if (ptr_push((void ***)&f->series, &f->n, &f->cap, s) < 0)
            goto fail;
        s->pos = f->n - 1;
    } else {
        const char *skip = role == ROLE_BUCKET ? "le" : role == ROLE_QUANTILE ? "quantile" : NULL;
        gw_group_t *g = group_get_or_create(gw, f, s->labels, s->n_labels, skip);
        if (!g)
            goto fail;
        if (role == ROLE_SUM || role == ROLE_COUNT) {
            gw_series_t **slot = role == ROLE_SUM ? &g->sum : &g->count;
            if (*slot) {
                /* Another fingerprint for the same sample: keep the first. */
                gw->dropped_conflict++;
                s->grp = NULL;
                series_free(s);
                return NULL;
            }
            *slot = s;
        } else {
            size_t at = g->n;
            while (at > 0 && g->members[at - 1]->bound > bound)
                at--;
            if (at > 0 && g->members[at - 1]->bound == bound) {
                gw->dropped_conflict++;
                series_free(s);
                return NULL;
            }
            if (ptr_push((void ***)&g->members, &g->n, &g->cap, s) < 0) {
                if (!g->n && !g->sum && !g->count)
                    group_remove(gw, g);
                goto fail;
            }
            memmove(g->members + at + 1, g->members + at, (g->n - 1 - at) * sizeof(*g->members));
            g->members[at] = s;
            for (size_t i = at; i < g->n; i++)
                g->members[i]->pos = i;
        }
        s->grp = g;
    }
    if (mm_map_put(&gw->series, fp, s) < 0) {
        gw->nseries++;
        series_remove(gw, s);
        return NULL;
    }
    gw->nseries++;
    return s;
fail:
    series_free(s);
fail_family:
    if (new_family && !f->n && !f->ngroups)
        family_remove(gw, f);
    return NULL;
}

static void apply_series(gateway_t *gw, const Mm__Series *in, int64_t env_time,
                         uint32_t owner, uint64_t snap)
{
    if (!in->n_values || !in->name)
        return;
    double v = in->values[in->n_values - 1];
    int64_t t = in->n_times_ms == in->n_values ? in->times_ms[in->n_times_ms - 1] : env_time;
    uint64_t fp = in->fingerprint;
    if (!fp) {
        mm_label_t tmp[64];
        size_t n = in->n_labels < 64 ? in->n_labels : 64;
        for (size_t i = 0; i < n; i++) {
            tmp[i].name = in->labels[i]->name;
            tmp[i].value = in->labels[i]->value;
        }
        fp = mm_labels_fingerprint(in->name, tmp, n);
    }
    gw_series_t *s = mm_map_get(&gw->series, fp, NULL, NULL);
    if (s && strcmp(s->name, in->name) != 0) {
        gw->dropped_conflict++;
        return;
    }
    if (mm_is_stale_nan(v)) {
        if (s) {
            series_remove(gw, s);
            gw->generation++;
        }
        return;
    }
    if (!s && !(s = series_create(gw, in, fp)))
        return;
    if (in->help && *in->help)
        set_help(s->fam, in->help);
    if (s->value != v || s->time_ms == 0 || (isnan(v) != isnan(s->value)))
        s->val_dirty = true;
    if (s->time_ms == 0)
        s->val_dirty = true;
    s->value = v;
    s->time_ms = t;
    s->owner = owner;
    s->sent_ms = env_time;
    if (snap)
        s->snap = snap;
    gw->generation++;
}

/* The index of the sender `instance` in gw->owners, added when new; 0 (the
 * anonymous owner, never swept) when it cannot be added. */
static uint32_t owner_index(gateway_t *gw, const char *instance)
{
    if (!instance || !*instance)
        return 0;
    for (size_t i = 1; i < gw->nowners; i++)
        if (!strcmp(gw->owners[i].instance, instance))
            return (uint32_t)i;
    if (gw->nowners == gw->ownercap) {
        size_t cap = gw->ownercap ? gw->ownercap * 2 : 8;
        gw_owner_t *v = realloc(gw->owners, cap * sizeof(*v));
        if (!v)
            return 0;
        gw->owners = v;
        gw->ownercap = cap;
        if (gw->nowners == 0) {
            memset(&gw->owners[0], 0, sizeof gw->owners[0]);
            gw->nowners = 1;
        }
    }
    gw_owner_t *o = &gw->owners[gw->nowners];
    memset(o, 0, sizeof *o);
    if (!(o->instance = strdup(instance)))
        return 0;
    return (uint32_t)gw->nowners++;
}

static void apply_batch(gateway_t *gw, const Mm__MetricBatch *batch, int64_t env_time,
                        uint32_t owner, uint64_t snap)
{
    for (size_t i = 0; i < batch->n_series; i++)
        apply_series(gw, batch->series[i], env_time, owner, snap);
    gw->last_batch_ms = mm_clock_now_ms(gw->clock);
}

/* Drops the series of owner `o` that its complete snapshot did not hold,
 * unless a live batch updated them after the snapshot was taken. */
static void sweep_owner(gateway_t *gw, uint32_t o)
{
    const gw_owner_t *ow = &gw->owners[o];
    size_t n = 0, cap = 0;
    gw_series_t **gone = NULL;
    for (size_t i = 0; i < gw->series.cap; i++) {
        gw_series_t *s = gw->series.slots[i].v;
        if (!s || s->owner != o || s->snap == ow->snap || s->sent_ms >= ow->snap_ms)
            continue;
        if (ptr_push((void ***)&gone, &n, &cap, s) < 0)
            break;
    }
    for (size_t i = 0; i < n; i++)
        series_remove(gw, gone[i]);
    free(gone);
    if (n) {
        gw->swept += n;
        gw->generation++;
    }
}

static void apply_state_metrics(gateway_t *gw, const Mm__Envelope *env)
{
    const Mm__StateChunk *c = env->state;
    uint32_t o = owner_index(gw, env->instance);
    uint64_t snap = c->snapshot_id ? c->snapshot_id : 1;
    if (o) {
        gw_owner_t *ow = &gw->owners[o];
        if (ow->snap != snap || ow->total != c->total) {
            ow->snap = snap;
            ow->total = c->total;
            ow->got = 0;
            ow->snap_ms = env->time_ms;
        }
        /* A chunk seen twice (a resend) does not complete the snapshot. */
        ow->got++;
    }
    apply_batch(gw, c->metrics, env->time_ms, o, snap);
    if (o && gw->owners[o].total && gw->owners[o].got == gw->owners[o].total)
        sweep_owner(gw, o);
}

/* ---- services ---- */

static void emit_service(gateway_t *gw, const char *topic, const gw_service_t *s, const char *why)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_jw_t w;
    gateway_jw_init(&w, &b);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "service");
    gateway_jw_str(&w, s->service);
    gateway_jw_key(&w, "instance");
    gateway_jw_str(&w, s->instance);
    gateway_jw_key(&w, "version");
    gateway_jw_str(&w, s->version);
    gateway_jw_key(&w, "pid");
    gateway_jw_i64(&w, s->pid);
    gateway_jw_key(&w, "reason");
    gateway_jw_str(&w, why);
    gateway_jw_key(&w, "timestamp");
    gateway_jw_time(&w, mm_clock_now_ms(gw->clock));
    gateway_jw_obj_end(&w);
    if (!gateway_buf_failed(&b))
        gateway_emit(gw, topic, b.data, b.len);
    gateway_buf_fini(&b);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void apply_heartbeat(gateway_t *gw, const Mm__Envelope *env, const Mm__Heartbeat *hb)
{
    const char *svc = env->sender ? env->sender : "";
    const char *inst = env->instance ? env->instance : "";
    gw_service_t *s = NULL;
    for (size_t i = 0; i < gw->nsvc; i++)
        if (!strcmp(gw->services[i].service, svc) && !strcmp(gw->services[i].instance, inst))
            s = &gw->services[i];
    const char *event = NULL, *why = NULL;
    if (!s) {
        if (gw->nsvc == gw->svccap) {
            size_t cap = gw->svccap ? gw->svccap * 2 : 8;
            gw_service_t *v = realloc(gw->services, cap * sizeof(*v));
            if (!v)
                return;
            gw->services = v;
            gw->svccap = cap;
        }
        s = &gw->services[gw->nsvc];
        memset(s, 0, sizeof(*s));
        s->service = strdup(svc);
        s->instance = strdup(inst);
        if (!s->service || !s->instance) {
            service_fini(s);
            return;
        }
        gw->nsvc++;
        event = "service.up";
        why = "first heartbeat";
    } else if (s->boot_id != env->boot_id) {
        event = "service.restart";
        why = "new boot id";
    } else if (!s->up && hb->state != MM__SERVICE_STATE__STOPPING) {
        event = "service.up";
        why = "heartbeats resumed";
    } else if (s->state != MM__SERVICE_STATE__STOPPING && hb->state == MM__SERVICE_STATE__STOPPING) {
        event = "service.stop";
        why = "stopping";
    }
    s->boot_id = env->boot_id;
    free(s->version);
    s->version = dup_or_null(hb->version);
    free(s->config_error);
    s->config_error = dup_or_null(hb->config_error);
    s->state = hb->state;
    s->started_ms = hb->started_ms;
    s->uptime_s = hb->uptime_s;
    s->pid = hb->pid;
    s->config_generation = hb->config_generation;
    s->rss_bytes = hb->rss_bytes;
    s->cpu_seconds = hb->cpu_seconds;
    s->bus_gaps = hb->bus_gaps;
    s->bus_received = hb->bus_received;
    s->bus_sent = hb->bus_sent;
    s->interval_ms = hb->interval_ms;
    s->last_seen_ms = mm_clock_now_ms(gw->clock);
    s->sent_ms = env->time_ms;
    s->up = hb->state != MM__SERVICE_STATE__STOPPING;
    gw->generation++;
    if (event)
        emit_service(gw, event, s, why);
}

static int64_t service_period(const gateway_t *gw, const gw_service_t *s)
{
    return s->interval_ms > 0 ? s->interval_ms : gw->default_hb_ms;
}

const char *gateway_service_status(const gateway_t *gw, const gw_service_t *s)
{
    if (s->state == MM__SERVICE_STATE__STOPPING)
        return "stopped";
    int64_t age = mm_clock_now_ms(gw->clock) - s->last_seen_ms;
    return age <= 3 * service_period(gw, s) ? "up" : "down";
}

/* ---- health ---- */

static void apply_health(gateway_t *gw, const Mm__HealthReport *r, int64_t env_time)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_health_report(gw, &b, r, env_time);
    size_t len;
    char *json = gateway_buf_steal(&b, &len);
    if (!json)
        return;
    free(gw->health_json);
    gw->health_json = json;
    gw->health_len = len;
    int prev = gw->health_level;
    gw->health_level = r->overall;
    gw->health_score = r->score;
    gw->health_time_ms = env_time;
    gw->health_total = r->n_checks;
    gw->health_ok = 0;
    for (size_t i = 0; i < r->n_checks; i++)
        if (r->checks[i]->level == MM__HEALTH_LEVEL__HEALTHY)
            gw->health_ok++;
    gw->generation++;

    /* Events: the overall level or any check's level changed. */
    gateway_buf_t ch;
    gateway_buf_init(&ch);
    gateway_jw_t w;
    gateway_jw_init(&w, &ch);
    gateway_jw_arr_begin(&w);
    size_t nchanged = 0;
    gw_checklevel_t *levels = calloc(r->n_checks ? r->n_checks : 1, sizeof(*levels));
    if (!levels) {
        gateway_buf_fini(&ch);
        return;
    }
    for (size_t i = 0; i < r->n_checks; i++) {
        const Mm__CheckResult *c = r->checks[i];
        int before = -1;
        for (size_t j = 0; j < gw->nchecks; j++)
            if (!strcmp(gw->checks[j].name, c->name))
                before = gw->checks[j].level;
        levels[i].name = strdup(c->name);
        levels[i].level = c->level;
        if (before != (int)c->level) {
            nchanged++;
            gateway_jw_obj_begin(&w);
            gateway_jw_key(&w, "check");
            gateway_jw_str(&w, c->name);
            gateway_jw_key(&w, "from");
            if (before < 0)
                gateway_jw_null(&w);
            else
                gateway_jw_str(&w, gateway_level_name(before));
            gateway_jw_key(&w, "to");
            gateway_jw_str(&w, gateway_level_name(c->level));
            gateway_jw_key(&w, "message");
            gateway_jw_str(&w, c->message);
            gateway_jw_obj_end(&w);
        }
    }
    gateway_jw_arr_end(&w);
    for (size_t j = 0; j < gw->nchecks; j++)
        free(gw->checks[j].name);
    free(gw->checks);
    gw->checks = levels;
    gw->nchecks = r->n_checks;
    if ((nchanged || prev != (int)r->overall) && !gateway_buf_failed(&ch)) {
        gateway_buf_t d;
        gateway_buf_init(&d);
        gateway_jw_t dw;
        gateway_jw_init(&dw, &d);
        gateway_jw_obj_begin(&dw);
        gateway_jw_key(&dw, "status");
        gateway_jw_str(&dw, gateway_level_name(r->overall));
        gateway_jw_key(&dw, "previous_status");
        if (prev < 0)
            gateway_jw_null(&dw);
        else
            gateway_jw_str(&dw, gateway_level_name(prev));
        gateway_jw_key(&dw, "score");
        gateway_jw_num(&dw, r->score);
        gateway_jw_key(&dw, "changes");
        gateway_jw_raw(&dw, ch.data, ch.len);
        gateway_jw_key(&dw, "timestamp");
        gateway_jw_time(&dw, env_time);
        gateway_jw_obj_end(&dw);
        if (!gateway_buf_failed(&d))
            gateway_emit(gw, "health.change", d.data, d.len);
        gateway_buf_fini(&d);
    }
    gateway_buf_fini(&ch);
}

/* ---- replies and pending commands ---- */

int gateway_pending_add(gateway_t *gw, const char *id, int64_t deadline_ms, gateway_reply_cb cb,
                        void *data, gateway_pending_t **ret)
{
    if (!id || strlen(id) >= sizeof(((gateway_pending_t *)0)->id) || !cb)
        return -EINVAL;
    for (gateway_pending_t *p = gw->pending; p; p = p->next)
        if (!strcmp(p->id, id))
            return -EEXIST;
    gateway_pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    strcpy(p->id, id);
    p->deadline_ms = deadline_ms;
    p->cb = cb;
    p->data = data;
    p->next = gw->pending;
    if (gw->pending)
        gw->pending->prev = p;
    gw->pending = p;
    gw->npending++;
    if (ret)
        *ret = p;
    return 0;
}

static void pending_unlink(gateway_t *gw, gateway_pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        gw->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    gw->npending--;
}

void gateway_pending_cancel(gateway_t *gw, gateway_pending_t *p)
{
    if (!p)
        return;
    pending_unlink(gw, p);
    free(p);
}

static void apply_reply(gateway_t *gw, const Mm__Reply *r)
{
    for (gateway_pending_t *p = gw->pending; p; p = p->next) {
        if (strcmp(p->id, r->id ? r->id : ""))
            continue;
        pending_unlink(gw, p);
        gateway_reply_cb cb = p->cb;
        void *data = p->data;
        free(p);
        cb(data, r);
        return;
    }
    gw->replies_unmatched++;
}

int64_t gateway_tick(gateway_t *gw)
{
    int64_t now = mm_clock_now_ms(gw->clock);
    for (size_t i = 0; i < gw->nsvc; i++) {
        gw_service_t *s = &gw->services[i];
        if (s->up && !strcmp(gateway_service_status(gw, s), "down")) {
            s->up = false;
            gw->generation++;
            emit_service(gw, "service.down", s, "heartbeats stopped");
        }
    }
    /* Expire in a loop: a callback may add or cancel entries. */
    for (;;) {
        gateway_pending_t *p = gw->pending;
        while (p && p->deadline_ms > now)
            p = p->next;
        if (!p)
            break;
        pending_unlink(gw, p);
        gateway_reply_cb cb = p->cb;
        void *data = p->data;
        free(p);
        cb(data, NULL);
    }
    int64_t next = -1;
    for (gateway_pending_t *p = gw->pending; p; p = p->next)
        if (next < 0 || p->deadline_ms - now < next)
            next = p->deadline_ms - now;
    return next;
}

void gateway_pending_fail_all(gateway_t *gw)
{
    while (gw->pending) {
        gateway_pending_t *p = gw->pending;
        pending_unlink(gw, p);
        gateway_reply_cb cb = p->cb;
        void *data = p->data;
        free(p);
        cb(data, NULL);
    }
}

/* ---- envelopes ---- */

void gateway_on_envelope(gateway_t *gw, const char *topic, const Mm__Envelope *env)
{
    gw->envelopes++;
    bool from_self = env->instance && !strcmp(env->instance, gw->instance);
    switch (env->payload_case) {
    case MM__ENVELOPE__PAYLOAD_METRICS:
        apply_batch(gw, env->metrics, env->time_ms, owner_index(gw, env->instance), 0);
        gw->ready = true;
        if (gw->on_metrics)
            gw->on_metrics(gw->hook_data, env, env->metrics);
        break;
    case MM__ENVELOPE__PAYLOAD_HEARTBEAT:
        apply_heartbeat(gw, env, env->heartbeat);
        if (!from_self)
            gw->ready = true;
        break;
    case MM__ENVELOPE__PAYLOAD_HEALTH:
        apply_health(gw, env->health, env->time_ms);
        break;
    case MM__ENVELOPE__PAYLOAD_REPLY:
        apply_reply(gw, env->reply);
        break;
    case MM__ENVELOPE__PAYLOAD_STATE:
        if (env->state->part_case == MM__STATE_CHUNK__PART_METRICS)
            apply_state_metrics(gw, env);
        else if (env->state->part_case == MM__STATE_CHUNK__PART_HEALTH)
            apply_health(gw, env->state->health, env->time_ms);
        if (!from_self)
            gw->ready = true;
        break;
    default:
        (void)topic;
        break;
    }
}

/* ---- accounting ---- */

void gateway_count_request(gateway_t *gw, const char *handler, int status)
{
    for (size_t i = 0; i < gw->nreqs; i++)
        if (gw->reqs[i].handler == handler && gw->reqs[i].status == status) {
            gw->reqs[i].count++;
            return;
        }
    if (gw->nreqs < sizeof(gw->reqs) / sizeof(gw->reqs[0]))
        gw->reqs[gw->nreqs++] = (gw_reqcount_t){ handler, status, 1 };
}

void gateway_set_ws_clients(gateway_t *gw, size_t n) { gw->ws_clients = n; }
void gateway_count_ws_dropped(gateway_t *gw, uint64_t frames) { gw->ws_dropped += frames; }

/* ---- WebSocket client protocol ---- */

void gateway_ws_filter_init(gateway_ws_filter_t *f)
{
    f->prefixes = NULL;
    f->n = 0;
    f->is_default = true;
}

void gateway_ws_filter_fini(gateway_ws_filter_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->prefixes[i]);
    free(f->prefixes);
    gateway_ws_filter_init(f);
}

bool gateway_ws_filter_match(const gateway_ws_filter_t *f, const char *topic)
{
    if (f->is_default)
        return strncmp(topic, "metric.", 7) != 0;
    for (size_t i = 0; i < f->n; i++)
        if (!strncmp(topic, f->prefixes[i], strlen(f->prefixes[i])))
            return true;
    return false;
}

bool gateway_ws_filter_wants_metrics(const gateway_ws_filter_t *f)
{
    if (f->is_default)
        return false;
    for (size_t i = 0; i < f->n; i++) {
        size_t l = strlen(f->prefixes[i]);
        if (!strncmp(f->prefixes[i], "metric.", l < 7 ? l : 7))
            return true;
    }
    return false;
}

static void ws_error(gateway_t *gw, gateway_buf_t *reply, const char *code, const char *msg)
{
    gateway_buf_t d;
    gateway_buf_init(&d);
    gateway_jw_t w;
    gateway_jw_init(&w, &d);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "code");
    gateway_jw_str(&w, code);
    gateway_jw_key(&w, "message");
    gateway_jw_str(&w, msg);
    gateway_jw_obj_end(&w);
    gateway_render_frame(gw, reply, "error", d.data ? d.data : "{}", d.data ? d.len : 2);
    gateway_buf_fini(&d);
}

/* Reads a JSON array of topic prefixes into a new string vector. */
static int read_topics(json_t *arr, char ***ret, size_t *ret_n, const char **err)
{
    if (!json_is_array(arr)) {
        *err = "expected an array of topic prefixes";
        return -EINVAL;
    }
    size_t n = json_array_size(arr);
    if (n > WS_MAX_TOPICS) {
        *err = "too many topics (at most 64)";
        return -EINVAL;
    }
    char **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_string(t) || json_string_length(t) > WS_MAX_TOPIC_LEN ||
            strlen(json_string_value(t)) != json_string_length(t)) {
            *err = "each topic must be a string of at most 200 bytes";
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -EINVAL;
        }
        v[i] = strdup(json_string_value(t));
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static void subscribed_frame(gateway_t *gw, const gateway_ws_filter_t *f, gateway_buf_t *reply)
{
    gateway_buf_t d;
    gateway_buf_init(&d);
    gateway_jw_t w;
    gateway_jw_init(&w, &d);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "topics");
    gateway_jw_arr_begin(&w);
    if (f->is_default) {
        for (size_t i = 0; default_ws_topics[i]; i++)
            gateway_jw_str(&w, default_ws_topics[i]);
    } else {
        for (size_t i = 0; i < f->n; i++)
            gateway_jw_str(&w, f->prefixes[i]);
    }
    gateway_jw_arr_end(&w);
    gateway_jw_obj_end(&w);
    if (!gateway_buf_failed(&d))
        gateway_render_frame(gw, reply, "subscribed", d.data, d.len);
    gateway_buf_fini(&d);
}

int gateway_ws_client_message(gateway_t *gw, gateway_ws_filter_t *f, const char *msg, size_t len,
                              int64_t *ret_resume, gateway_buf_t *reply)
{
    *ret_resume = -1;
    json_error_t jerr;
    json_t *root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        ws_error(gw, reply, "bad_json", jerr.text);
        return -EINVAL;
    }
    int r = 0;
    const char *err = NULL;
    json_t *v;
    if (!json_is_object(root)) {
        ws_error(gw, reply, "bad_message", "expected a JSON object");
        r = -EINVAL;
    } else if ((v = json_object_get(root, "subscribe"))) {
        char **topics;
        size_t n;
        r = read_topics(v, &topics, &n, &err);
        if (r == 0) {
            gateway_ws_filter_fini(f);
            f->prefixes = topics;
            f->n = n;
            f->is_default = false;
            subscribed_frame(gw, f, reply);
        } else {
            ws_error(gw, reply, "bad_subscribe", err ? err : "out of memory");
        }
    } else if ((v = json_object_get(root, "unsubscribe"))) {
        char **topics;
        size_t n;
        r = read_topics(v, &topics, &n, &err);
        if (r == 0) {
            if (f->is_default) {
                size_t nd = 0;
                while (default_ws_topics[nd])
                    nd++;
                char **d = calloc(nd, sizeof(*d));
                for (size_t i = 0; d && i < nd; i++)
                    d[i] = strdup(default_ws_topics[i]);
                if (d) {
                    f->prefixes = d;
                    f->n = nd;
                    f->is_default = false;
                }
            }
            for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < f->n;) {
                    if (f->prefixes[j] && !strcmp(f->prefixes[j], topics[i])) {
                        free(f->prefixes[j]);
                        f->prefixes[j] = f->prefixes[--f->n];
                    } else {
                        j++;
                    }
                }
                free(topics[i]);
            }
            free(topics);
            subscribed_frame(gw, f, reply);
        } else {
            ws_error(gw, reply, "bad_unsubscribe", err ? err : "out of memory");
        }
    } else if ((v = json_object_get(root, "resume"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            ws_error(gw, reply, "bad_resume", "resume takes the last seq seen, an integer >= 0");
            r = -EINVAL;
        } else {
            *ret_resume = json_integer_value(v);
        }
    } else if ((v = json_object_get(root, "type")) && json_is_string(v)) {
        const char *t = json_string_value(v);
        gateway_buf_t d;
        gateway_buf_init(&d);
        gateway_jw_t w;
        gateway_jw_init(&w, &d);
        if (!strcmp(t, "ping")) {
            /* The reference's application-level ping: {"type":"pong","timestamp":s}. */
            gateway_jw_obj_begin(&w);
            gateway_jw_key(&w, "topic");
            gateway_jw_str(&w, "pong");
            gateway_jw_key(&w, "seq");
            gateway_jw_u64(&w, gw->event_seq);
            gateway_jw_key(&w, "type");
            gateway_jw_str(&w, "pong");
            gateway_jw_key(&w, "timestamp");
            gateway_jw_num(&w, (double)mm_clock_now_ms(gw->clock) / 1000.0);
            gateway_jw_key(&w, "data");
            gateway_jw_obj_begin(&w);
            gateway_jw_obj_end(&w);
            gateway_jw_obj_end(&w);
            gateway_buf_append(reply, d.data, d.len);
        } else if (!strcmp(t, "subscribe")) {
            gateway_jw_obj_begin(&w);
            gateway_jw_key(&w, "topic");
            gateway_jw_str(&w, "subscribed");
            gateway_jw_key(&w, "seq");
            gateway_jw_u64(&w, gw->event_seq);
            gateway_jw_key(&w, "type");
            gateway_jw_str(&w, "subscribed");
            gateway_jw_key(&w, "streams");
            gateway_jw_arr_begin(&w);
            gateway_jw_str(&w, "all");
            gateway_jw_arr_end(&w);
            gateway_jw_key(&w, "data");
            gateway_jw_obj_begin(&w);
            gateway_jw_obj_end(&w);
            gateway_jw_obj_end(&w);
            gateway_buf_append(reply, d.data, d.len);
        } else {
            gateway_buf_t m;
            gateway_buf_init(&m);
            gateway_buf_puts(&m, "Unknown message type: ");
            gateway_buf_puts(&m, t);
            ws_error(gw, reply, "unknown_type", m.data ? m.data : "");
            gateway_buf_fini(&m);
            r = -EINVAL;
        }
        gateway_buf_fini(&d);
    } else {
        ws_error(gw, reply, "unknown_message",
                 "expected subscribe, unsubscribe, resume or type");
        r = -EINVAL;
    }
    json_decref(root);
    return r;
}
