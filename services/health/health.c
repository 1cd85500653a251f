/* The health engine: N-of-M smoothing, dependencies, weighted score, level
 * change history and the report view. Socket-free; time comes from the
 * injected clock (see health.h for the contract). */
#include "health.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_CAP 256

typedef struct {
    const health_check_conf_t *conf;
    uint8_t ring[HEALTH_WINDOW_MAX];
    size_t ring_len;            /* valid entries, at most HEALTH_WINDOW_MAX */
    size_t ring_pos;            /* next write position */
    bool has_result;
    health_level_t level;
    int64_t since_ms;
    health_result_t last;
    int blocked_by;             /* index of the root cause, -1 when not blocked */
    double penalty;
    uint64_t runs;
    char level_str[16];
} check_t;

struct health {
    const health_config_t *cfg;
    const mm_clock_t *clock;
    check_t *checks;
    size_t n;
    health_on_change_cb on_change;
    void *on_change_data;
    health_change_t history[HISTORY_CAP];
    size_t hist_len, hist_pos;
    health_level_t overall;
    double score;
};

static const char *const level_names[HEALTH_LEVELS] = {
    "healthy", "degraded", "unhealthy", "critical",
};

const char *health_level_name(health_level_t l)
{
    return (unsigned)l < HEALTH_LEVELS ? level_names[l] : "unknown";
}

int health_level_parse(const char *s, health_level_t *ret)
{
    for (int i = 0; i < HEALTH_LEVELS; i++)
        if (s && strcmp(s, level_names[i]) == 0) {
            *ret = (health_level_t)i;
            return 0;
        }
    return -EINVAL;
}

static const char *const kind_names[HEALTH_KIND_COUNT] = {
    "sqlite", "http", "tcp", "process", "system", "command", "metric",
};

const char *health_kind_name(health_kind_t k)
{
    return (unsigned)k < HEALTH_KIND_COUNT ? kind_names[k] : "unknown";
}

int health_kind_parse(const char *s, health_kind_t *ret)
{
    for (int i = 0; i < HEALTH_KIND_COUNT; i++)
        if (s && strcmp(s, kind_names[i]) == 0) {
            *ret = (health_kind_t)i;
            return 0;
        }
    return -EINVAL;
}

/* v(level) of CONTRACTS.md §7. */
static double level_value(health_level_t l)
{
    static const double v[HEALTH_LEVELS] = { 1.0, 0.5, 0.2, 0.0 };
    return (unsigned)l < HEALTH_LEVELS ? v[l] : 0.0;
}

void health_thresholds_init(health_thresholds_t *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < HEALTH_LEVELS; i++)
        t->at[i] = NAN;
}

static bool beyond(const health_thresholds_t *t, double v, double bound)
{
    return t->lower_is_worse ? v < bound : v > bound;
}

health_level_t health_thresholds_eval(const health_thresholds_t *t, double v,
                                      health_level_t current)
{
    if (!t || isnan(v))
        return HEALTH_HEALTHY;
    for (int l = HEALTH_CRITICAL; l >= HEALTH_DEGRADED; l--) {
        double b = t->at[l];
        if (isnan(b))
            continue;
        /* A level we are already at (or past) is kept until the value moves
         * back past its bound by the hysteresis margin. */
        if ((int)current >= l && t->hysteresis > 0)
            b = t->lower_is_worse ? b + t->hysteresis : b - t->hysteresis;
        if (beyond(t, v, b))
            return (health_level_t)l;
    }
    return HEALTH_HEALTHY;
}

void health_result_init(health_result_t *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->message, sizeof(r->message), "ok");
}

void health_result_raise(health_result_t *r, health_level_t level, const char *fmt, ...)
{
    if (level < r->level)
        return;
    /* At equal level the first reason stays, unless it is the default "ok". */
    if (level == r->level && level != HEALTH_HEALTHY)
        return;
    r->level = level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

void health_result_detail(health_result_t *r, const char *name, const char *fmt, ...)
{
    if (r->n_details >= HEALTH_DETAILS_MAX)
        return;
    health_detail_t *d = &r->details[r->n_details++];
    snprintf(d->name, sizeof(d->name), "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->value, sizeof(d->value), fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = p[0] & 0x0f;
    else if ((p[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = p[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void health_utf8_clean(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0 || ch < 0x20 || ch == 0x7f) {
            s[i++] = '?';
            continue;
        }
        i += k;
    }
}

static void check_reset(check_t *c, const health_check_conf_t *conf)
{
    memset(c, 0, sizeof(*c));
    c->conf = conf;
    c->blocked_by = -1;
    health_result_init(&c->last);
}

static void evaluate(health_t *h);

int health_new(const health_config_t *cfg, const mm_clock_t *clock, health_t **ret_h)
{
    health_t *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->clock = clock;
    h->score = 1.0;
    int r = health_set_config(h, cfg);
    if (r < 0) {
        free(h);
        return r;
    }
    *ret_h = h;
    return 0;
}

void health_free(health_t *h)
{
    if (!h)
        return;
    free(h->checks);
    free(h);
}

void health_set_on_change(health_t *h, health_on_change_cb cb, void *data)
{
    h->on_change = cb;
    h->on_change_data = data;
}

int health_set_config(health_t *h, const health_config_t *cfg)
{
    size_t n = cfg ? cfg->n_checks : 0;
    check_t *nc = calloc(n ? n : 1, sizeof(*nc));
    if (!nc)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const health_check_conf_t *conf = &cfg->checks[i];
        check_reset(&nc[i], conf);
        for (size_t j = 0; j < h->n; j++)
            if (strcmp(h->checks[j].conf->name, conf->name) == 0) {
                nc[i] = h->checks[j];
                nc[i].conf = conf;
                break;
            }
    }
    free(h->checks);
    h->checks = nc;
    h->n = n;
    h->cfg = cfg;
    evaluate(h);
    return 0;
}

size_t health_count(const health_t *h) { return h->n; }

int health_index(const health_t *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->checks[i].conf->name, name) == 0)
            return (int)i;
    return -ENOENT;
}

const health_check_conf_t *health_conf(const health_t *h, size_t i)
{
    return i < h->n ? h->checks[i].conf : NULL;
}

static void ring_push(check_t *c, health_level_t l)
{
    c->ring[c->ring_pos] = (uint8_t)l;
    c->ring_pos = (c->ring_pos + 1) % HEALTH_WINDOW_MAX;
    if (c->ring_len < HEALTH_WINDOW_MAX)
        c->ring_len++;
}

/* The k-th newest raw level (k = 0 is the newest). */
static health_level_t ring_get(const check_t *c, size_t k)
{
    size_t idx = (c->ring_pos + HEALTH_WINDOW_MAX - 1 - k) % HEALTH_WINDOW_MAX;
    return (health_level_t)c->ring[idx];
}

static size_t count_last(const check_t *c, size_t m, health_level_t l, bool at_least)
{
    size_t cnt = 0;
    if (m > c->ring_len)
        m = c->ring_len;
    for (size_t k = 0; k < m; k++) {
        health_level_t v = ring_get(c, k);
        if (at_least ? v >= l : v <= l)
            cnt++;
    }
    return cnt;
}

/* The smoothed level after the newest raw result: worsen to the worst level L
 * that fail_n of the last fail_m results reach; otherwise improve to the best
 * level L that recover_n of the last recover_m results are at or below. */
static health_level_t smooth(const check_t *c)
{
    const health_check_conf_t *k = c->conf;
    size_t fn = k->fail_n > 0 ? (size_t)k->fail_n : 1;
    size_t fm = k->fail_m > 0 ? (size_t)k->fail_m : fn;
    size_t rn = k->recover_n > 0 ? (size_t)k->recover_n : 1;
    size_t rm = k->recover_m > 0 ? (size_t)k->recover_m : rn;
    for (int l = HEALTH_CRITICAL; l > (int)c->level; l--)
        if (count_last(c, fm, (health_level_t)l, true) >= fn)
            return (health_level_t)l;
    for (int l = HEALTH_HEALTHY; l < (int)c->level; l++)
        if (count_last(c, rm, (health_level_t)l, false) >= rn)
            return (health_level_t)l;
    return c->level;
}

static bool dep_failing(const health_t *h, const check_t *d)
{
    return d->has_result && (d->level >= HEALTH_UNHEALTHY || d->blocked_by >= 0);
}

/* Resolves blocked_by for check i (memoised through `done`). A check is
 * blocked when it is not healthy and a dependency is failing; it then points
 * at the root cause (the first failing dependency that is not itself blocked). */
static int resolve_blocked(health_t *h, size_t i, uint8_t *done, size_t depth)
{
    check_t *c = &h->checks[i];
    if (done[i] == 2 || depth > h->n)
        return c->blocked_by;
    done[i] = 1;
    c->blocked_by = -1;
    if (c->has_result && c->level > HEALTH_HEALTHY) {
        for (size_t j = 0; j < c->conf->depends_on.n; j++) {
            int d = health_index(h, c->conf->depends_on.v[j]);
            if (d < 0 || (size_t)d == i || done[d] == 1)
                continue;
            int root = resolve_blocked(h, (size_t)d, done, depth + 1);
            check_t *dc = &h->checks[d];
            if (root >= 0) {
                c->blocked_by = root;
                break;
            }
            if (dep_failing(h, dc)) {
                c->blocked_by = d;
                break;
            }
        }
    }
    done[i] = 2;
    return c->blocked_by;
}

static void evaluate(health_t *h)
{
    uint8_t stackbuf[256];
    uint8_t *done = h->n <= sizeof(stackbuf) ? stackbuf : calloc(h->n, 1);
    if (!done)
        return;
    memset(done, 0, h->n);
    for (size_t i = 0; i < h->n; i++)
        resolve_blocked(h, i, done, 0);
    if (done != stackbuf)
        free(done);

    double wsum = 0, vsum = 0;
    health_level_t overall = HEALTH_HEALTHY;
    for (size_t i = 0; i < h->n; i++) {
        check_t *c = &h->checks[i];
        c->penalty = 0;
        if (!c->has_result || c->blocked_by >= 0)
            continue;
        wsum += c->conf->weight;
        vsum += c->conf->weight * level_value(c->level);
        if (c->level > overall)
            overall = c->level;
    }
    for (size_t i = 0; i < h->n; i++) {
        check_t *c = &h->checks[i];
        if (c->has_result && c->blocked_by < 0 && wsum > 0)
            c->penalty = c->conf->weight * (1.0 - level_value(c->level)) / wsum;
    }
    h->score = wsum > 0 ? vsum / wsum : 1.0;
    h->overall = overall;
}

void health_history_push(health_t *h, const health_change_t *c)
{
    h->history[h->hist_pos] = *c;
    h->hist_pos = (h->hist_pos + 1) % HISTORY_CAP;
    if (h->hist_len < HISTORY_CAP)
        h->hist_len++;
}

static void note_change(health_t *h, check_t *c, health_level_t from, const health_result_t *r)
{
    health_change_t ch;
    memset(&ch, 0, sizeof(ch));
    snprintf(ch.check, sizeof(ch.check), "%s", c->conf->name);
    ch.from = from;
    ch.to = c->level;
    ch.time_ms = c->since_ms;
    snprintf(ch.message, sizeof(ch.message), "%.*s", (int)sizeof(ch.message) - 1, r->message);
    health_history_push(h, &ch);
    if (h->on_change)
        h->on_change(h, &ch, h->on_change_data);
}

int health_record(health_t *h, size_t i, const health_result_t *r)
{
    if (i >= h->n || !r)
        return -EINVAL;
    check_t *c = &h->checks[i];
    health_level_t raw = (unsigned)r->level < HEALTH_LEVELS ? r->level : HEALTH_CRITICAL;
    ring_push(c, raw);
    c->last = *r;
    c->last.level = raw;
    /* Reports are protobuf strings and JSON: valid UTF-8 only. */
    health_utf8_clean(c->last.message);
    for (size_t k = 0; k < c->last.n_details; k++) {
        health_utf8_clean(c->last.details[k].name);
        health_utf8_clean(c->last.details[k].value);
    }
    if (c->last.time_ms == 0)
        c->last.time_ms = mm_clock_now_ms(h->clock);
    c->runs++;

    health_level_t from = c->level;
    bool changed;
    if (!c->has_result) {
        /* The first result is taken as is: there is nothing to smooth against. */
        c->has_result = true;
        c->level = raw;
        changed = raw != HEALTH_HEALTHY;
        from = HEALTH_HEALTHY;
        c->since_ms = c->last.time_ms;
    } else {
        c->level = smooth(c);
        changed = c->level != from;
        if (changed)
            c->since_ms = c->last.time_ms;
    }
    evaluate(h);
    if (changed)
        note_change(h, c, from, &c->last);
    return changed ? 1 : 0;
}

int health_restore(health_t *h, const char *name, health_level_t level, int64_t since_ms,
                   const uint8_t *window, size_t n)
{
    int i = health_index(h, name);
    if (i < 0)
        return i;
    check_t *c = &h->checks[i];
    if (n > HEALTH_WINDOW_MAX)
        window += n - HEALTH_WINDOW_MAX, n = HEALTH_WINDOW_MAX;
    c->ring_len = 0;
    c->ring_pos = 0;
    for (size_t k = 0; k < n; k++)
        ring_push(c, window[k] < HEALTH_LEVELS ? (health_level_t)window[k] : HEALTH_CRITICAL);
    c->has_result = true;
    c->level = (unsigned)level < HEALTH_LEVELS ? level : HEALTH_CRITICAL;
    c->since_ms = since_ms;
    health_result_init(&c->last);
    c->last.level = n ? ring_get(c, 0) : c->level;
    c->last.time_ms = since_ms;
    snprintf(c->last.message, sizeof(c->last.message), "restored from health.db; not run yet");
    evaluate(h);
    return 0;
}

size_t health_window(const health_t *h, size_t i, uint8_t *ret, size_t cap)
{
    if (i >= h->n)
        return 0;
    const check_t *c = &h->checks[i];
    size_t n = c->ring_len < cap ? c->ring_len : cap;
    for (size_t k = 0; k < n; k++)
        ret[k] = (uint8_t)ring_get(c, n - 1 - k);
    return n;
}

int health_state(const health_t *h, size_t i, health_state_t *ret)
{
    if (i >= h->n)
        return -EINVAL;
    const check_t *c = &h->checks[i];
    ret->has_result = c->has_result;
    ret->level = c->level;
    ret->since_ms = c->since_ms;
    ret->last = &c->last;
    ret->blocked_by = c->blocked_by >= 0 ? h->checks[c->blocked_by].conf->name : NULL;
    ret->penalty = c->penalty;
    ret->runs = c->runs;
    return 0;
}

health_level_t health_overall(const health_t *h) { return h->overall; }
double health_score(const health_t *h) { return h->score; }

/* ---- report view ---- */

void health_report_init(health_report_t *r)
{
    memset(r, 0, sizeof(*r));
}

void health_report_fini(health_report_t *r)
{
    free(r->results);
    free(r->result_ptrs);
    free(r->labels);
    free(r->label_ptrs);
    free(r->changes);
    free(r->change_ptrs);
    health_report_init(r);
}

static int grow(void **p, size_t need, size_t elem)
{
    void *q = realloc(*p, (need ? need : 1) * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    return 0;
}

int health_report_fill(const health_t *h, health_report_t *r, const bool *only,
                       size_t max_changes)
{
    size_t nlab = 0;
    for (size_t i = 0; i < h->n; i++)
        nlab += h->checks[i].last.n_details;
    size_t nch = h->hist_len < max_changes ? h->hist_len : max_changes;

    if (grow((void **)&r->results, h->n, sizeof(*r->results)) < 0 ||
        grow((void **)&r->result_ptrs, h->n, sizeof(*r->result_ptrs)) < 0 ||
        grow((void **)&r->labels, nlab, sizeof(*r->labels)) < 0 ||
        grow((void **)&r->label_ptrs, nlab, sizeof(*r->label_ptrs)) < 0 ||
        grow((void **)&r->changes, nch, sizeof(*r->changes)) < 0 ||
        grow((void **)&r->change_ptrs, nch, sizeof(*r->change_ptrs)) < 0)
        return -ENOMEM;

    mm__health_report__init(&r->report);
    r->report.overall = (Mm__HealthLevel)h->overall;
    r->report.score = h->score;
    size_t nr = 0, li = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (only && !only[i])
            continue;
        const check_t *c = &h->checks[i];
        Mm__CheckResult *cr = &r->results[nr];
        mm__check_result__init(cr);
        cr->name = c->conf->name;
        cr->kind = (char *)health_kind_name(c->conf->kind);
        cr->level = (Mm__HealthLevel)c->level;
        cr->raw_level = (Mm__HealthLevel)c->last.level;
        cr->message = (char *)(c->has_result ? c->last.message : "not run yet");
        cr->duration_s = c->last.duration_s;
        cr->weight = c->conf->weight;
        cr->n_depends_on = c->conf->depends_on.n;
        cr->depends_on = c->conf->depends_on.v;
        cr->blocked_by = c->blocked_by >= 0 ? h->checks[c->blocked_by].conf->name
                                            : (char *)"";
        cr->score_penalty = c->penalty;
        cr->time_ms = c->has_result ? c->last.time_ms : 0;
        cr->since_ms = c->since_ms;
        cr->details = &r->label_ptrs[li];
        cr->n_details = c->last.n_details;
        for (size_t k = 0; k < c->last.n_details; k++, li++) {
            mm__label__init(&r->labels[li]);
            r->labels[li].name = (char *)c->last.details[k].name;
            r->labels[li].value = (char *)c->last.details[k].value;
            r->label_ptrs[li] = &r->labels[li];
        }
        r->result_ptrs[nr++] = cr;
    }
    r->report.checks = r->result_ptrs;
    r->report.n_checks = nr;

    /* Newest last: the oldest of the last nch entries first. */
    for (size_t k = 0; k < nch; k++) {
        size_t idx = (h->hist_pos + HISTORY_CAP - nch + k) % HISTORY_CAP;
        const health_change_t *hc = &h->history[idx];
        Mm__LevelChange *lc = &r->changes[k];
        mm__level_change__init(lc);
        lc->check = (char *)hc->check;
        lc->from = (Mm__HealthLevel)hc->from;
        lc->to = (Mm__HealthLevel)hc->to;
        lc->time_ms = hc->time_ms;
        lc->message = (char *)hc->message;
        r->change_ptrs[k] = lc;
    }
    r->report.changes = r->change_ptrs;
    r->report.n_changes = nch;
    return 0;
}
