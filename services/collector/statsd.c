/* StatsD/DogStatsD parsing and aggregation. The hot path (a line for a series
 * already known) is: split the line, hash its raw key (name, type, tags),
 * find the series, apply the value; no allocation and no label parsing.
 * Only a new raw key takes the slow path that sanitises the name, parses
 * tags into sorted labels, computes the fingerprint and checks limits. */
#include "statsd.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_map.h"

#define MAX_TAGS 32
#define MAX_NAME 200
#define SET_MAX 100000      /* distinct values kept per set per interval */

static const double prom_default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

typedef struct {
    const double *bounds;
    size_t n;
    char (*le)[32];             /* formatted bounds, then "+Inf" */
} bucket_set_t;

typedef struct series series_t;
struct series {
    uint64_t fp;
    statsd_kind_t kind;
    char *name;                 /* final metric name (foo_total, foo_seconds) */
    mm_label_t *labels;         /* sorted; strings live in the same allocation */
    size_t n_labels;
    struct family *fam;
    int64_t last_ms;
    bool dirty;
    size_t index;               /* position in st->all */
    size_t n_aliases;
    double value;               /* counter total, gauge value */
    /* histograms */
    const bucket_set_t *bs;
    double *counts;             /* per bucket (not cumulative), n + 1 with +Inf */
    double sum, count;
    uint64_t *fps;              /* bucket series fps, then _sum, _count; lazily */
    /* sets */
    uint64_t *set;
    size_t set_n, set_cap;
};

typedef struct {
    uint64_t h;
    series_t *s;
    size_t len;
    char key[];                 /* name \0 kind \0 tags */
} alias_t;

typedef struct family {
    uint64_t h;
    size_t n;
    char name[];
} family_t;

struct collector_statsd {
    statsd_opts_t opts;
    char *source;
    bucket_set_t default_bs;
    bucket_set_t *rule_bs;
    statsd_buckets_t *rules;    /* our copy of opts.buckets */
    double *default_copy;       /* our copy of opts.default_bounds */
    mm_map_t aliases;             /* raw key hash -> alias_t */
    mm_map_t by_fp;               /* fp -> series_t */
    mm_map_t families;            /* name hash -> family_t */
    series_t **all;
    size_t n_all, cap_all;
    statsd_stats_t stats;
    uint64_t oversized;
    char help[6][160];          /* generated HELP per kind */
};

/* ---- parsing ---- */

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int collector_statsd_parse_value(const char *s, size_t len, double *ret, bool *ret_delta)
{
    if (len == 0)
        return -MM_EPARSE;
    bool neg = false, delta = false;
    size_t i = 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        delta = true;
        i = 1;
    }
    /* Fast path: [digits][.digits] with at most 15 significant digits; the
     * division of two exactly representable doubles is correctly rounded. */
    uint64_t mant = 0;
    size_t digits = 0, frac = 0;
    bool dot = false, fast = true;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            mant = mant * 10 + (uint64_t)(c - '0');
            digits++;
            if (dot)
                frac++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            fast = false;
            break;
        }
    }
    if (fast && digits > 0 && digits <= 15) {
        double v = (double)mant / pow10_tab[frac];
        *ret = neg ? -v : v;
        if (ret_delta)
            *ret_delta = delta;
        return 0;
    }
    char buf[64];
    if (len >= sizeof buf)
        return -MM_EPARSE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* strtod would accept hex, "inf" and "nan"; StatsD values are decimal. */
    for (size_t k = 0; k < len; k++) {
        char c = buf[k];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return -MM_EPARSE;
    }
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len || !isfinite(v))
        return -MM_EPARSE;
    *ret = v;
    if (ret_delta)
        *ret_delta = delta;
    return 0;
}

int collector_statsd_parse_line(const char *line, size_t len, statsd_line_t *ret)
{
    const char *end = line + len;
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -MM_EPARSE;
    const char *pipe = memchr(colon, '|', (size_t)(end - colon));
    if (!pipe || pipe == colon + 1)
        return -MM_EPARSE;
    ret->name = line;
    ret->name_len = (size_t)(colon - line);
    ret->values = colon + 1;
    ret->values_len = (size_t)(pipe - colon - 1);
    ret->rate = 1.0;
    ret->tags = NULL;
    ret->tags_len = 0;

    const char *t = pipe + 1;
    const char *tend = memchr(t, '|', (size_t)(end - t));
    if (!tend)
        tend = end;
    size_t tl = (size_t)(tend - t);
    if (tl == 1 && t[0] == 'c')
        ret->kind = STATSD_COUNTER;
    else if (tl == 1 && t[0] == 'g')
        ret->kind = STATSD_GAUGE;
    else if (tl == 2 && t[0] == 'm' && t[1] == 's')
        ret->kind = STATSD_TIMER;
    else if (tl == 1 && t[0] == 'h')
        ret->kind = STATSD_HISTOGRAM;
    else if (tl == 1 && t[0] == 'd')
        ret->kind = STATSD_DISTRIBUTION;
    else if (tl == 1 && t[0] == 's')
        ret->kind = STATSD_SET;
    else
        return -MM_EPARSE;

    /* Optional sections: |@rate, |#tags, and DogStatsD's |c:container and
     * |T<timestamp>, which carry nothing we map and are skipped. */
    for (const char *sec = tend; sec < end;) {
        sec++;  /* past '|' */
        const char *send = memchr(sec, '|', (size_t)(end - sec));
        if (!send)
            send = end;
        size_t sl = (size_t)(send - sec);
        if (sl > 0 && sec[0] == '@') {
            double r;
            if (collector_statsd_parse_value(sec + 1, sl - 1, &r, NULL) < 0 || !(r > 0.0) || r > 1.0)
                return -MM_EPARSE;
            ret->rate = r;
        } else if (sl > 0 && sec[0] == '#') {
            ret->tags = sec + 1;
            ret->tags_len = sl - 1;
        } else if (sl == 0) {
            return -MM_EPARSE;
        }
        sec = send;
    }

    /* Numeric kinds: every packed value must be a number. */
    if (ret->kind != STATSD_SET) {
        const char *v = ret->values, *vend = ret->values + ret->values_len;
        while (v <= vend) {
            const char *c = memchr(v, ':', (size_t)(vend - v));
            if (!c)
                c = vend;
            double d;
            bool delta;
            if (collector_statsd_parse_value(v, (size_t)(c - v), &d, &delta) < 0)
                return -MM_EPARSE;
            if (ret->kind != STATSD_GAUGE && d < 0)
                return -MM_EPARSE;   /* counters only grow; durations are >= 0 */
            v = c + 1;
        }
    }
    return 0;
}

/* ---- aggregator ---- */

static void format_le(char *buf, size_t cap, double b)
{
    /* Shortest text that reads back as the same double, laid out as Go's
     * strconv 'g' with precision -1 does (what Prometheus clients print):
     * plain decimals for exponents -4..5, else 1.5e+06. */
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, cap, "%.*e", prec - 1, b);
        if (strtod(buf, NULL) == b)
            break;
    }
    snprintf(buf, cap, "%.*e", prec - 1, b);
    int exp = atoi(strchr(buf, 'e') + 1);
    if (exp < -4 || exp >= 6)
        return;
    int decimals = prec - 1 - exp;
    snprintf(buf, cap, "%.*f", decimals > 0 ? decimals : 0, b);
}

static int bucket_set_init(bucket_set_t *bs, const double *bounds, size_t n)
{
    bs->bounds = bounds;
    bs->n = n;
    bs->le = calloc(n + 1, sizeof *bs->le);
    if (!bs->le)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        format_le(bs->le[i], sizeof bs->le[i], bounds[i]);
    strcpy(bs->le[n], "+Inf");
    return 0;
}

collector_statsd_t *collector_statsd_new(const statsd_opts_t *opts)
{
    collector_statsd_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->opts = *opts;
    if (!st->opts.max_series)
        st->opts.max_series = 100000;
    if (!st->opts.max_series_per_name)
        st->opts.max_series_per_name = 10000;
    if (st->opts.ttl_ms <= 0)
        st->opts.ttl_ms = 600000;
    st->source = strdup(opts->source ? opts->source : "the StatsD listener");
    if (!st->opts.default_bounds) {
        st->opts.default_bounds = prom_default_bounds;
        st->opts.n_default_bounds = sizeof prom_default_bounds / sizeof prom_default_bounds[0];
    } else {
        st->default_copy = malloc((opts->n_default_bounds ? opts->n_default_bounds : 1) * sizeof(double));
        if (!st->default_copy) {
            free(st->source);
            free(st);
            return NULL;
        }
        memcpy(st->default_copy, opts->default_bounds, opts->n_default_bounds * sizeof(double));
        st->opts.default_bounds = st->default_copy;
    }
    mm_map_init(&st->aliases);
    mm_map_init(&st->by_fp);
    mm_map_init(&st->families);
    static const char *const words[] = {"counter", "gauge", "timer", "histogram", "distribution", "set"};
    for (size_t i = 0; i < 6; i++)
        snprintf(st->help[i], sizeof st->help[i], "StatsD %s from %s", words[i],
                 st->source ? st->source : "the StatsD listener");
    if (!st->source || bucket_set_init(&st->default_bs, st->opts.default_bounds, st->opts.n_default_bounds) < 0)
        goto fail;
    if (st->opts.n_buckets) {
        /* Copy the rules: the aggregator outlives the config it came from. */
        st->rules = calloc(st->opts.n_buckets, sizeof *st->rules);
        st->rule_bs = calloc(st->opts.n_buckets, sizeof *st->rule_bs);
        if (!st->rules || !st->rule_bs)
            goto fail;
        for (size_t i = 0; i < st->opts.n_buckets; i++) {
            const statsd_buckets_t *src = &opts->buckets[i];
            double *b = malloc((src->n_bounds ? src->n_bounds : 1) * sizeof *b);
            st->rules[i].pattern = strdup(src->pattern);
            st->rules[i].bounds = b;
            st->rules[i].n_bounds = src->n_bounds;
            if (!b || !st->rules[i].pattern)
                goto fail;
            memcpy(b, src->bounds, src->n_bounds * sizeof *b);
            if (bucket_set_init(&st->rule_bs[i], b, src->n_bounds) < 0)
                goto fail;
        }
        st->opts.buckets = st->rules;
    }
    return st;
fail:
    collector_statsd_free(st);
    return NULL;
}

static void series_free(series_t *s)
{
    if (!s)
        return;
    free(s->counts);
    free(s->fps);
    free(s->set);
    free(s);
}

void collector_statsd_free(collector_statsd_t *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->aliases.cap; i++)
        free(st->aliases.slots[i].v);
    for (size_t i = 0; i < st->families.cap; i++)
        free(st->families.slots[i].v);
    for (size_t i = 0; i < st->n_all; i++)
        series_free(st->all[i]);
    mm_map_fini(&st->aliases);
    mm_map_fini(&st->by_fp);
    mm_map_fini(&st->families);
    free(st->all);
    free(st->default_bs.le);
    for (size_t i = 0; i < st->opts.n_buckets; i++) {
        if (st->rule_bs)
            free(st->rule_bs[i].le);
        if (st->rules) {
            free((char *)st->rules[i].pattern);
            free((double *)st->rules[i].bounds);
        }
    }
    free(st->rule_bs);
    free(st->rules);
    free(st->default_copy);
    free(st->source);
    free(st);
}

static char kind_char(statsd_kind_t k) { return "cgmhds"[k]; }

static uint64_t raw_key_hash(const statsd_line_t *l)
{
    uint64_t h = mm_hash_bytes(l->name, l->name_len, (uint64_t)l->kind + 1);
    if (l->tags_len)
        h = mm_hash_bytes(l->tags, l->tags_len, h);
    return h;
}

typedef struct {
    const statsd_line_t *l;
} raw_key_t;

static bool alias_eq(const void *v, const void *key)
{
    const alias_t *a = v;
    const statsd_line_t *l = ((const raw_key_t *)key)->l;
    size_t want = l->name_len + 2 + l->tags_len;
    return a->len == want && a->key[l->name_len + 1] == kind_char(l->kind) &&
           memcmp(a->key, l->name, l->name_len) == 0 &&
           (l->tags_len == 0 || memcmp(a->key + l->name_len + 2, l->tags, l->tags_len) == 0);
}

static bool family_eq(const void *v, const void *key)
{
    return strcmp(((const family_t *)v)->name, key) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && memcmp(s + len - sl, suffix, sl) == 0;
}

typedef struct {
    char name[64];
    const char *value;
    size_t value_len;
} tag_t;

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const tag_t *)a)->name, ((const tag_t *)b)->name);
}

/* Parses "k:v,k2:v2" into sorted, de-duplicated tags. Tags without a value,
 * with an empty or reserved (__) name, and "le" on histograms are left out. */
static int parse_tags(const statsd_line_t *l, bool histogram, tag_t *tags, size_t *ret_n)
{
    size_t n = 0;
    const char *p = l->tags, *end = l->tags + l->tags_len;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma)
            comma = end;
        const char *colon = memchr(p, ':', (size_t)(comma - p));
        if (colon && colon > p) {
            if (n == MAX_TAGS)
                return -MM_ELIMIT;
            tag_t *t = &tags[n];
            size_t need = mm_label_name_sanitize(t->name, sizeof t->name, p, (size_t)(colon - p));
            if (need < sizeof t->name && !(t->name[0] == '_' && t->name[1] == '_') &&
                !(histogram && strcmp(t->name, "le") == 0)) {
                t->value = colon + 1;
                t->value_len = (size_t)(comma - colon - 1);
                n++;
            }
        }
        p = comma + 1;
    }
    qsort(tags, n, sizeof *tags, tag_cmp);
    /* Keep the first of equal names (qsort is not stable: any one of them). */
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || strcmp(tags[w - 1].name, tags[i].name) != 0)
            tags[w++] = tags[i];
    *ret_n = w;
    return 0;
}

static const bucket_set_t *pick_buckets(collector_statsd_t *st, const char *name)
{
    for (size_t i = 0; i < st->opts.n_buckets; i++)
        if (fnmatch(st->opts.buckets[i].pattern, name, 0) == 0)
            return &st->rule_bs[i];
    return &st->default_bs;
}

static int add_alias(collector_statsd_t *st, const statsd_line_t *l, uint64_t h, series_t *s)
{
    size_t len = l->name_len + 2 + l->tags_len;
    alias_t *a = malloc(sizeof *a + len);
    if (!a)
        return -ENOMEM;
    a->h = h;
    a->s = s;
    a->len = len;
    memcpy(a->key, l->name, l->name_len);
    a->key[l->name_len] = '\0';
    a->key[l->name_len + 1] = kind_char(l->kind);
    if (l->tags_len)
        memcpy(a->key + l->name_len + 2, l->tags, l->tags_len);
    if (mm_map_put(&st->aliases, h, a) < 0) {
        free(a);
        return -ENOMEM;
    }
    s->n_aliases++;
    return 0;
}

/* The slow path: builds (or finds) the series a new raw key maps to. */
static series_t *resolve(collector_statsd_t *st, const statsd_line_t *l, uint64_t h)
{
    char name[MAX_NAME + 16];
    if (l->name_len > MAX_NAME) {
        st->stats.parse_errors++;
        return NULL;
    }
    size_t nl = mm_metric_name_sanitize(name, sizeof name, l->name, l->name_len);
    /* Names promtool check metrics accepts: gauges and sets lose a _total,
     * _count, _sum or _bucket suffix (memmimic_cache_entries_count →
     * memmimic_cache_entries), timers a unit suffix before _seconds
     * (latency_ms → latency_seconds). */
    if (l->kind == STATSD_GAUGE || l->kind == STATSD_SET) {
        static const char *const bad[] = {"_total", "_count", "_sum", "_bucket"};
        for (size_t i = 0; i < 4; i++) {
            if (nl > strlen(bad[i]) && ends_with(name, nl, bad[i])) {
                nl -= strlen(bad[i]);
                name[nl] = '\0';
                break;
            }
        }
    }
    if (l->kind == STATSD_TIMER) {
        static const char *const units[] = {"_milliseconds", "_millis", "_ms"};
        for (size_t i = 0; i < 3; i++) {
            if (nl > strlen(units[i]) && ends_with(name, nl, units[i])) {
                nl -= strlen(units[i]);
                name[nl] = '\0';
                break;
            }
        }
    }
    if (l->kind == STATSD_COUNTER && !ends_with(name, nl, "_total"))
        strcat(name, "_total");
    else if (l->kind == STATSD_TIMER && !ends_with(name, nl, "_seconds"))
        strcat(name, "_seconds");
    bool hist = l->kind == STATSD_TIMER || l->kind == STATSD_HISTOGRAM || l->kind == STATSD_DISTRIBUTION;

    tag_t tags[MAX_TAGS];
    size_t nt = 0;
    if (parse_tags(l, hist, tags, &nt) < 0) {
        st->stats.parse_errors++;
        return NULL;
    }
    mm_label_t labels[MAX_TAGS];
    char *vals[MAX_TAGS];
    for (size_t i = 0; i < nt; i++) {
        vals[i] = strndup(tags[i].value, tags[i].value_len);
        labels[i].name = tags[i].name;
        labels[i].value = vals[i] ? vals[i] : "";
    }
    uint64_t fp = mm_labels_fingerprint(name, labels, nt);
    series_t *s = mm_map_get(&st->by_fp, fp, NULL, NULL);
    if (s) {
        if (s->kind != l->kind &&
            !(hist && (s->kind == STATSD_TIMER || s->kind == STATSD_HISTOGRAM || s->kind == STATSD_DISTRIBUTION))) {
            st->stats.dropped_type_conflict++;
            s = NULL;
        } else if (add_alias(st, l, h, s) < 0) {
            s = NULL;
        }
        goto out;
    }
    /* Limits: a new series. */
    uint64_t fh = mm_hash_bytes(name, strlen(name), 7);
    family_t *fam = mm_map_get(&st->families, fh, family_eq, name);
    if (st->n_all >= st->opts.max_series) {
        st->stats.dropped_limit_total++;
        goto out;
    }
    if (fam && fam->n >= st->opts.max_series_per_name) {
        st->stats.dropped_limit_name++;
        goto out;
    }
    /* Everything a series owns by name sits in one allocation after it. */
    size_t strbytes = strlen(name) + 1;
    for (size_t i = 0; i < nt; i++)
        strbytes += strlen(labels[i].name) + 1 + strlen(labels[i].value) + 1;
    s = calloc(1, sizeof *s + nt * sizeof(mm_label_t) + strbytes);
    if (!s)
        goto out;
    s->labels = (mm_label_t *)(s + 1);
    char *w = (char *)(s->labels + nt);
    s->name = w;
    w = stpcpy(w, name) + 1;
    for (size_t i = 0; i < nt; i++) {
        s->labels[i].name = w;
        w = stpcpy(w, labels[i].name) + 1;
        s->labels[i].value = w;
        w = stpcpy(w, labels[i].value) + 1;
    }
    s->n_labels = nt;
    s->fp = fp;
    s->kind = l->kind;
    if (hist) {
        s->bs = pick_buckets(st, name);
        s->counts = calloc(s->bs->n + 1, sizeof *s->counts);
        if (!s->counts) {
            series_free(s);
            s = NULL;
            goto out;
        }
    }
    if (!fam) {
        fam = malloc(sizeof *fam + strlen(name) + 1);
        if (!fam || mm_map_put(&st->families, fh, fam) < 0) {
            free(fam);
            series_free(s);
            s = NULL;
            goto out;
        }
        fam->h = fh;
        fam->n = 0;
        strcpy(fam->name, name);
    }
    if (st->n_all == st->cap_all) {
        size_t nc = st->cap_all ? st->cap_all * 2 : 256;
        series_t **na = realloc(st->all, nc * sizeof *na);
        if (!na) {
            series_free(s);
            s = NULL;
            goto out;
        }
        st->all = na;
        st->cap_all = nc;
    }
    if (mm_map_put(&st->by_fp, fp, s) < 0) {
        series_free(s);
        s = NULL;
        goto out;
    }
    s->fam = fam;
    fam->n++;
    s->index = st->n_all;
    st->all[st->n_all++] = s;
    if (add_alias(st, l, h, s) < 0) {
        /* The series stays; the next line just takes the slow path again. */
    }
out:
    for (size_t i = 0; i < nt; i++)
        free(vals[i]);
    return s;
}

static void set_add(series_t *s, const char *v, size_t len)
{
    uint64_t h = mm_hash_bytes(v, len, 3) | 1;   /* 0 marks an empty slot */
    if ((s->set_n + 1) * 2 > s->set_cap) {
        if (s->set_n >= SET_MAX)
            return;
        size_t nc = s->set_cap ? s->set_cap * 2 : 16;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return;
        for (size_t i = 0; i < s->set_cap; i++) {
            if (!s->set[i])
                continue;
            size_t j = s->set[i] & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = s->set[i];
        }
        free(s->set);
        s->set = ns;
        s->set_cap = nc;
    }
    size_t j = h & (s->set_cap - 1);
    while (s->set[j]) {
        if (s->set[j] == h)
            return;
        j = (j + 1) & (s->set_cap - 1);
    }
    s->set[j] = h;
    s->set_n++;
}

static void apply(series_t *s, const statsd_line_t *l, int64_t now_ms)
{
    const char *v = l->values, *vend = l->values + l->values_len;
    while (v <= vend) {
        const char *c = memchr(v, ':', (size_t)(vend - v));
        if (!c)
            c = vend;
        size_t len = (size_t)(c - v);
        if (s->kind == STATSD_SET) {
            set_add(s, v, len);
        } else {
            double d;
            bool delta;
            /* Already validated by the parser. */
            collector_statsd_parse_value(v, len, &d, &delta);
            switch (s->kind) {
            case STATSD_COUNTER:
                s->value += d / l->rate;
                break;
            case STATSD_GAUGE:
                s->value = delta ? s->value + d : d;
                break;
            default: {
                if (l->kind == STATSD_TIMER)
                    d /= 1000.0;
                double w = 1.0 / l->rate;
                size_t i = 0;
                while (i < s->bs->n && d > s->bs->bounds[i])
                    i++;
                s->counts[i] += w;
                s->sum += d * w;
                s->count += w;
                break;
            }
            }
        }
        v = c + 1;
    }
    s->last_ms = now_ms;
    s->dirty = true;
}

static void ingest_line(collector_statsd_t *st, const char *line, size_t len, int64_t now_ms)
{
    statsd_line_t l;
    st->stats.lines++;
    if (collector_statsd_parse_line(line, len, &l) < 0) {
        st->stats.parse_errors++;
        return;
    }
    uint64_t h = raw_key_hash(&l);
    raw_key_t key = {&l};
    alias_t *a = mm_map_get(&st->aliases, h, alias_eq, &key);
    series_t *s = a ? a->s : resolve(st, &l, h);
    if (!s)
        return;
    apply(s, &l, now_ms);
    st->stats.samples++;
}

void collector_statsd_ingest(collector_statsd_t *st, const char *buf, size_t len, int64_t now_ms)
{
    st->stats.packets++;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll > 0 && p[ll - 1] == '\r')
            ll--;
        if (ll > 0)
            ingest_line(st, p, ll, now_ms);
        p = le + 1;
    }
}

/* ---- flush ---- */

static void emit_series(collector_statsd_t *st, series_t *s, int64_t now_ms, bool stale,
                        collector_sink_t *sink)
{
    collector_sample_t smp = {
        .name = s->name, .family = s->name, .labels = s->labels, .n_labels = s->n_labels,
        .help = st->help[s->kind], .fp = s->fp, .time_ms = now_ms,
    };
    switch (s->kind) {
    case STATSD_COUNTER:
        smp.type = COLLECTOR_COUNTER;
        smp.value = stale ? mm_stale_nan() : s->value;
        collector_emit(sink, &smp);
        return;
    case STATSD_GAUGE:
    case STATSD_SET:
        smp.type = COLLECTOR_GAUGE;
        smp.value = stale ? mm_stale_nan() : s->kind == STATSD_SET ? (double)s->set_n : s->value;
        collector_emit(sink, &smp);
        return;
    default:
        break;
    }
    /* A classic histogram: _bucket{le} (cumulative), _sum, _count. */
    size_t nb = s->bs->n + 1;
    size_t nl = strlen(s->name);
    char bname[MAX_NAME + 32], sname[MAX_NAME + 32], cname[MAX_NAME + 32];
    snprintf(bname, sizeof bname, "%.*s_bucket", (int)nl, s->name);
    snprintf(sname, sizeof sname, "%.*s_sum", (int)nl, s->name);
    snprintf(cname, sizeof cname, "%.*s_count", (int)nl, s->name);
    mm_label_t lb[MAX_TAGS + 1];
    size_t pos = 0;
    while (pos < s->n_labels && strcmp(s->labels[pos].name, "le") < 0)
        pos++;
    memcpy(lb, s->labels, pos * sizeof *lb);
    memcpy(lb + pos + 1, s->labels + pos, (s->n_labels - pos) * sizeof *lb);
    lb[pos].name = "le";
    if (!s->fps) {
        s->fps = malloc((nb + 2) * sizeof *s->fps);
        if (s->fps) {
            for (size_t i = 0; i < nb; i++) {
                lb[pos].value = s->bs->le[i];
                s->fps[i] = mm_labels_fingerprint(bname, lb, s->n_labels + 1);
            }
            s->fps[nb] = mm_labels_fingerprint(sname, s->labels, s->n_labels);
            s->fps[nb + 1] = mm_labels_fingerprint(cname, s->labels, s->n_labels);
        }
    }
    smp.type = COLLECTOR_HISTOGRAM;
    smp.name = bname;
    smp.labels = lb;
    smp.n_labels = s->n_labels + 1;
    double cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += s->counts[i];
        lb[pos].value = s->bs->le[i];
        smp.fp = s->fps ? s->fps[i] : 0;
        smp.value = stale ? mm_stale_nan() : cum;
        collector_emit(sink, &smp);
    }
    smp.labels = s->labels;
    smp.n_labels = s->n_labels;
    smp.name = sname;
    smp.fp = s->fps ? s->fps[nb] : 0;
    smp.value = stale ? mm_stale_nan() : s->sum;
    collector_emit(sink, &smp);
    smp.name = cname;
    smp.fp = s->fps ? s->fps[nb + 1] : 0;
    smp.value = stale ? mm_stale_nan() : s->count;
    collector_emit(sink, &smp);
}

static void remove_series(collector_statsd_t *st, series_t *s)
{
    /* Drop the raw keys that lead to it. Expiry is rare next to ingest, so
     * one scan of the alias table per expired batch is fine. */
    if (s->n_aliases) {
        for (size_t i = 0; i < st->aliases.cap && s->n_aliases;) {
            alias_t *a = st->aliases.slots[i].v;
            if (a && a->s == s) {
                mm_map_del(&st->aliases, a->h, a);
                free(a);
                s->n_aliases--;
                continue;   /* the backward shift may have moved another entry here */
            }
            i++;
        }
    }
    mm_map_del(&st->by_fp, s->fp, s);
    if (--s->fam->n == 0) {
        mm_map_del(&st->families, s->fam->h, s->fam);
        free(s->fam);
    }
    st->all[s->index] = st->all[--st->n_all];
    st->all[s->index]->index = s->index;
    series_free(s);
}

static void emit_self(collector_statsd_t *st, int64_t now_ms, collector_sink_t *sink)
{
    const collector_self_t rows[] = {
        {COLLECTOR_COUNTER, "memmon_collector_parse_errors_total",
         "StatsD lines and packets that could not be parsed and were skipped",
         (double)st->stats.parse_errors},
        {COLLECTOR_COUNTER, "memmon_collector_statsd_packets_total", "StatsD datagrams received",
         (double)st->stats.packets},
        {COLLECTOR_COUNTER, "memmon_collector_statsd_lines_total", "StatsD lines received",
         (double)st->stats.lines},
        {COLLECTOR_GAUGE, "memmon_collector_statsd_series", "StatsD series currently held",
         (double)st->n_all},
    };
    collector_emit_rows(sink, now_ms, rows, sizeof rows / sizeof rows[0]);
    collector_emit_dropped(sink, now_ms, "limit_total", st->stats.dropped_limit_total);
    collector_emit_dropped(sink, now_ms, "limit_per_name", st->stats.dropped_limit_name);
    collector_emit_dropped(sink, now_ms, "type_conflict", st->stats.dropped_type_conflict);
}

void collector_statsd_flush(collector_statsd_t *st, int64_t now_ms, collector_sink_t *sink)
{
    for (size_t i = 0; i < st->n_all;) {
        series_t *s = st->all[i];
        if (now_ms - s->last_ms > st->opts.ttl_ms) {
            emit_series(st, s, now_ms, true, sink);
            st->stats.expired++;
            remove_series(st, s);
            continue;   /* another series moved into slot i */
        }
        if (s->dirty || s->kind == STATSD_SET)
            emit_series(st, s, now_ms, false, sink);
        s->dirty = false;
        if (s->kind == STATSD_SET) {
            if (s->set)
                memset(s->set, 0, s->set_cap * sizeof *s->set);
            s->set_n = 0;
        }
        i++;
    }
    emit_self(st, now_ms, sink);
}

void collector_statsd_set_limits(collector_statsd_t *st, size_t max_series, size_t max_series_per_name,
                                 int64_t ttl_ms)
{
    if (max_series)
        st->opts.max_series = max_series;
    if (max_series_per_name)
        st->opts.max_series_per_name = max_series_per_name;
    if (ttl_ms > 0)
        st->opts.ttl_ms = ttl_ms;
}

void collector_statsd_note_oversized(collector_statsd_t *st)
{
    st->stats.packets++;
    st->stats.parse_errors++;
    st->oversized++;
}

void collector_statsd_stats(const collector_statsd_t *st, statsd_stats_t *ret)
{
    *ret = st->stats;
    ret->series = st->n_all;
}
