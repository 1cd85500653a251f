/* In-memory series store: series found by fingerprint through an open
 * addressing table, samples in per-series arrays (times and values apart, so
 * a range is two contiguous slices), and postings lists per label=value for
 * selection. Series left empty by a trim are compacted away in bulk. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql_store.h"

typedef struct {
    uint64_t fp;
    mm_label_t *labels;      /* one block: array followed by the strings */
    size_t n_labels;
    int64_t *t;
    double *v;
    size_t off, n, cap;
} series_t;

typedef struct {
    char *key;               /* "name\0value" */
    size_t klen;
    uint64_t hash;
    uint32_t *ids;
    size_t n, cap;
} posting_t;

struct mm_promql_store {
    uint64_t gen;            /* changes whenever series are renumbered */
    series_t *series;
    size_t n_series, cap_series;
    size_t n_empty;
    uint32_t *fp_tab;        /* series index + 1; 0 = free */
    size_t fp_cap;           /* power of two */
    posting_t *post;
    size_t post_n, post_cap; /* power of two */
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* Generations are unique across stores, so a reference never names a
 * series of another store either. */
static uint64_t new_gen(void)
{
    static _Atomic uint64_t last;
    return ++last;
}

mm_promql_store_t *mm_promql_store_new(void)
{
    mm_promql_store_t *s = calloc(1, sizeof(mm_promql_store_t));
    if (s)
        s->gen = new_gen();
    return s;
}

static void free_all(mm_promql_store_t *s)
{
    for (size_t i = 0; i < s->n_series; i++) {
        free(s->series[i].labels);
        free(s->series[i].t);
        free(s->series[i].v);
    }
    free(s->series);
    free(s->fp_tab);
    for (size_t i = 0; i < s->post_cap; i++) {
        free(s->post[i].key);
        free(s->post[i].ids);
    }
    free(s->post);
}

void mm_promql_store_free(mm_promql_store_t *s)
{
    if (!s)
        return;
    free_all(s);
    free(s);
}

void mm_promql_store_clear(mm_promql_store_t *s)
{
    free_all(s);
    memset(s, 0, sizeof *s);
    s->gen = new_gen();
}

size_t mm_promql_store_series_count(const mm_promql_store_t *s)
{
    return s->n_series - s->n_empty;
}

static bool labels_equal(const series_t *se, const mm_label_t *l, size_t n)
{
    if (se->n_labels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(se->labels[i].name, l[i].name) || strcmp(se->labels[i].value, l[i].value))
            return false;
    return true;
}

static int fp_grow(mm_promql_store_t *s)
{
    size_t nc = s->fp_cap ? s->fp_cap * 2 : 1024;
    uint32_t *nt = calloc(nc, sizeof *nt);
    if (!nt)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_series; i++) {
        size_t h = (size_t)s->series[i].fp & (nc - 1);
        while (nt[h])
            h = (h + 1) & (nc - 1);
        nt[h] = (uint32_t)(i + 1);
    }
    free(s->fp_tab);
    s->fp_tab = nt;
    s->fp_cap = nc;
    return 0;
}

static posting_t *post_find(const mm_promql_store_t *s, const char *name, const char *value,
                            bool *ret_found, char *key, size_t klen)
{
    size_t nl = strlen(name);
    memcpy(key, name, nl + 1);
    memcpy(key + nl + 1, value, klen - nl - 1);
    uint64_t h = hash_bytes(key, klen);
    if (!s->post_cap) {
        *ret_found = false;
        return NULL;
    }
    size_t i = (size_t)h & (s->post_cap - 1);
    for (;;) {
        posting_t *p = &s->post[i];
        if (!p->key) {
            *ret_found = false;
            return p;
        }
        if (p->hash == h && p->klen == klen && memcmp(p->key, key, klen) == 0) {
            *ret_found = true;
            return p;
        }
        i = (i + 1) & (s->post_cap - 1);
    }
}

static int post_grow(mm_promql_store_t *s)
{
    size_t nc = s->post_cap ? s->post_cap * 2 : 1024;
    posting_t *np = calloc(nc, sizeof *np);
    if (!np)
        return -ENOMEM;
    for (size_t i = 0; i < s->post_cap; i++) {
        if (!s->post[i].key)
            continue;
        size_t h = (size_t)s->post[i].hash & (nc - 1);
        while (np[h].key)
            h = (h + 1) & (nc - 1);
        np[h] = s->post[i];
    }
    free(s->post);
    s->post = np;
    s->post_cap = nc;
    return 0;
}

static int post_add(mm_promql_store_t *s, const char *name, const char *value, uint32_t id)
{
    if ((s->post_n + 1) * 2 > s->post_cap && post_grow(s) < 0)
        return -ENOMEM;
    size_t klen = strlen(name) + 1 + strlen(value);
    char stackkey[256];
    char *key = klen <= sizeof stackkey ? stackkey : malloc(klen);
    if (!key)
        return -ENOMEM;
    bool found;
    posting_t *p = post_find(s, name, value, &found, key, klen);
    if (!found) {
        p->key = malloc(klen);
        if (!p->key) {
            if (key != stackkey)
                free(key);
            return -ENOMEM;
        }
        memcpy(p->key, key, klen);
        p->klen = klen;
        p->hash = hash_bytes(key, klen);
        s->post_n++;
    }
    if (key != stackkey)
        free(key);
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 4;
        uint32_t *ni = realloc(p->ids, nc * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        p->ids = ni;
        p->cap = nc;
    }
    p->ids[p->n++] = id;
    return 0;
}

/* Empty label values mean "no label", as in Prometheus. Callers usually
 * pass sorted sets without empties; only other sets are copied (into stackl
 * when they fit, else into *ret_buf, which the caller frees). Sets *ret_l
 * and *ret_n to the normalised set. */
static int normalise(const mm_label_t *in, size_t n, mm_label_t *stackl, size_t stack_n,
                     mm_label_t **ret_buf, const mm_label_t **ret_l, size_t *ret_n)
{
    bool must_copy = false;
    *ret_buf = NULL;
    for (size_t i = 0; i < n && !must_copy; i++)
        must_copy = !in[i].value || !in[i].value[0] || (i && strcmp(in[i - 1].name, in[i].name) > 0);
    if (!must_copy) {
        *ret_l = in;
        *ret_n = n;
        return 0;
    }
    mm_label_t *buf = stackl;
    if (n > stack_n) {
        buf = malloc(n * sizeof *buf);
        if (!buf)
            return -ENOMEM;
        *ret_buf = buf;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].value || !in[i].value[0])
            continue;
        /* Insertion sort: label sets are short. */
        size_t j = m++;
        while (j > 0 && strcmp(buf[j - 1].name, in[i].name) > 0) {
            buf[j] = buf[j - 1];
            j--;
        }
        buf[j] = in[i];
    }
    *ret_l = buf;
    *ret_n = m;
    return 0;
}

/* Index of the series with these (normalised) labels and fingerprint, or -1. */
static long lookup(const mm_promql_store_t *s, const mm_label_t *l, size_t n, uint64_t fp)
{
    if (!s->fp_cap)
        return -1;
    size_t h = (size_t)fp & (s->fp_cap - 1);
    while (s->fp_tab[h]) {
        const series_t *se = &s->series[s->fp_tab[h] - 1];
        if (se->fp == fp && labels_equal(se, l, n))
            return (long)(s->fp_tab[h] - 1);
        h = (h + 1) & (s->fp_cap - 1);
    }
    return -1;
}

/* Finds or creates the series; returns its index or a negative errno. */
static long series_get(mm_promql_store_t *s, const mm_label_t *in, size_t n)
{
    mm_label_t stackl[32];
    mm_label_t *buf;
    const mm_label_t *l;
    long ret;
    if (normalise(in, n, stackl, 32, &buf, &l, &n) < 0)
        return -ENOMEM;
    uint64_t fp = mm_labels_fingerprint(NULL, l, n);
    ret = lookup(s, l, n, fp);
    if (ret >= 0)
        goto out;
    /* A new series: it needs a label, and its names must be valid and distinct. */
    if (n == 0) {
        ret = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!mm_label_name_valid(l[i].name, strlen(l[i].name)) || (i && !strcmp(l[i].name, l[i - 1].name))) {
            ret = -EINVAL;
            goto out;
        }
    }
    if ((s->n_series + 1) * 2 > s->fp_cap && fp_grow(s) < 0) {
        ret = -ENOMEM;
        goto out;
    }
    if (s->n_series == s->cap_series) {
        size_t nc = s->cap_series ? s->cap_series * 2 : 256;
        series_t *ns = realloc(s->series, nc * sizeof *ns);
        if (!ns) {
            ret = -ENOMEM;
            goto out;
        }
        s->series = ns;
        s->cap_series = nc;
    }
    size_t bytes = n * sizeof(mm_label_t);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(l[i].name) + strlen(l[i].value) + 2;
    mm_label_t *copy = malloc(bytes ? bytes : 1);
    if (!copy) {
        ret = -ENOMEM;
        goto out;
    }
    char *str = (char *)(copy + n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(l[i].name) + 1, b = strlen(l[i].value) + 1;
        memcpy(str, l[i].name, a);
        copy[i].name = str;
        str += a;
        memcpy(str, l[i].value, b);
        copy[i].value = str;
        str += b;
    }
    size_t id = s->n_series;
    series_t *se = &s->series[id];
    memset(se, 0, sizeof *se);
    se->fp = fp;
    se->labels = copy;
    se->n_labels = n;
    s->n_series++;
    s->n_empty++;
    size_t h = (size_t)fp & (s->fp_cap - 1);
    while (s->fp_tab[h])
        h = (h + 1) & (s->fp_cap - 1);
    s->fp_tab[h] = (uint32_t)(id + 1);
    for (size_t i = 0; i < n; i++)
        if (post_add(s, copy[i].name, copy[i].value, (uint32_t)id) < 0) {
            ret = -ENOMEM;
            goto out;
        }
    ret = (long)id;
out:
    free(buf);
    return ret;
}

static int push(series_t *se, int64_t t, double v)
{
    if (se->off + se->n == se->cap) {
        if (se->off > se->cap / 2) {
            memmove(se->t, se->t + se->off, se->n * sizeof *se->t);
            memmove(se->v, se->v + se->off, se->n * sizeof *se->v);
            se->off = 0;
        } else {
            size_t nc = se->cap ? se->cap * 2 : 4;
            int64_t *nt = realloc(se->t, nc * sizeof *nt);
            if (!nt)
                return -ENOMEM;
            se->t = nt;
            double *nv = realloc(se->v, nc * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            se->v = nv;
            se->cap = nc;
        }
    }
    se->t[se->off + se->n] = t;
    se->v[se->off + se->n] = v;
    se->n++;
    return 0;
}

static bool same_value(double a, double b)
{
    uint64_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    return x == y || a == b;
}

static int append_at(mm_promql_store_t *s, size_t id, int64_t t, double v)
{
    series_t *se = &s->series[id];
    if (se->n) {
        int64_t last = se->t[se->off + se->n - 1];
        if (t < last)
            return -ERANGE;
        if (t == last)
            return same_value(se->v[se->off + se->n - 1], v) ? 0 : -EEXIST;
    }
    bool was_empty = se->n == 0;
    int rc = push(se, t, v);
    if (rc == 0 && was_empty)
        s->n_empty--;
    return rc;
}

int mm_promql_store_append(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                           int64_t t, double v)
{
    long id = series_get(s, labels, n);
    if (id < 0)
        return (int)id;
    return append_at(s, (size_t)id, t, v);
}

int mm_promql_store_ref(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                        mm_promql_ref_t *ret_ref)
{
    long id = series_get(s, labels, n);
    if (id < 0)
        return (int)id;
    *ret_ref = (mm_promql_ref_t){.gen = s->gen, .id = (uint32_t)id};
    return 0;
}

int mm_promql_store_find(const mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                         mm_promql_ref_t *ret_ref)
{
    mm_label_t stackl[32];
    mm_label_t *buf;
    const mm_label_t *l;
    if (normalise(labels, n, stackl, 32, &buf, &l, &n) < 0)
        return -ENOMEM;
    long id = lookup(s, l, n, mm_labels_fingerprint(NULL, l, n));
    free(buf);
    if (id < 0)
        return -ENOENT;
    *ret_ref = (mm_promql_ref_t){.gen = s->gen, .id = (uint32_t)id};
    return 0;
}

bool mm_promql_store_ref_valid(const mm_promql_store_t *s, mm_promql_ref_t ref)
{
    return ref.gen == s->gen && ref.id < s->n_series;
}

int mm_promql_store_append_ref(mm_promql_store_t *s, mm_promql_ref_t ref, int64_t t, double v)
{
    if (!mm_promql_store_ref_valid(s, ref))
        return -ESTALE;
    return append_at(s, ref.id, t, v);
}

const mm_label_t *mm_promql_store_ref_labels(const mm_promql_store_t *s, mm_promql_ref_t ref,
                                             size_t *ret_n)
{
    if (!mm_promql_store_ref_valid(s, ref))
        return NULL;
    *ret_n = s->series[ref.id].n_labels;
    return s->series[ref.id].labels;
}

long mm_promql_store_load(mm_promql_store_t *s, const mm_label_t *labels, size_t n,
                          const int64_t *t, const double *v, size_t count)
{
    long id = series_get(s, labels, n);
    if (id < 0)
        return id;
    series_t *se = &s->series[id];
    long added = 0;
    for (size_t i = 0; i < count; i++) {
        if (se->n && t[i] <= se->t[se->off + se->n - 1])
            continue;
        if (se->n == 0)
            s->n_empty--;
        if (push(se, t[i], v[i]) < 0)
            return -ENOMEM;
        added++;
    }
    return added;
}

/* Rebuilds the tables without the empty series. */
static int compact(mm_promql_store_t *s)
{
    size_t o = 0;
    for (size_t i = 0; i < s->n_series; i++) {
        series_t *se = &s->series[i];
        if (se->n == 0) {
            free(se->labels);
            free(se->t);
            free(se->v);
            continue;
        }
        s->series[o++] = *se;
    }
    s->n_series = o;
    s->n_empty = 0;
    s->gen = new_gen();
    for (size_t i = 0; i < s->post_cap; i++) {
        free(s->post[i].key);
        free(s->post[i].ids);
    }
    free(s->post);
    s->post = NULL;
    s->post_cap = s->post_n = 0;
    free(s->fp_tab);
    s->fp_tab = NULL;
    s->fp_cap = 0;
    while (s->fp_cap < (s->n_series + 1) * 2)
        if (fp_grow(s) < 0)
            return -ENOMEM;
    if (!s->fp_cap && fp_grow(s) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_series; i++)
        for (size_t k = 0; k < s->series[i].n_labels; k++)
            if (post_add(s, s->series[i].labels[k].name, s->series[i].labels[k].value, (uint32_t)i) < 0)
                return -ENOMEM;
    return 0;
}

void mm_promql_store_trim(mm_promql_store_t *s, int64_t min_t)
{
    for (size_t i = 0; i < s->n_series; i++) {
        series_t *se = &s->series[i];
        if (se->n == 0 || se->t[se->off] >= min_t)
            continue;
        size_t lo = 0, hi = se->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (se->t[se->off + mid] < min_t)
                lo = mid + 1;
            else
                hi = mid;
        }
        se->off += lo;
        se->n -= lo;
        if (se->n == 0) {
            se->off = 0;
            s->n_empty++;
        }
    }
    if (s->n_empty > 1024 && s->n_empty * 2 > s->n_series)
        (void)compact(s);
}

static const char *label_get(const series_t *se, const char *name)
{
    for (size_t i = 0; i < se->n_labels; i++)
        if (strcmp(se->labels[i].name, name) == 0)
            return se->labels[i].value;
    return NULL;
}

static bool matches(const series_t *se, const mm_match_t *m, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!mm_match_value(&m[k], label_get(se, m[k].name)))
            return false;
    return true;
}

static int emit(const series_t *se, int (*cb)(const mm_promql_series_view_t *, void *),
                void *arg)
{
    mm_promql_series_view_t v = {
        .fp = se->fp, .labels = se->labels, .n_labels = se->n_labels,
        .t = se->t + se->off, .v = se->v + se->off, .n = se->n,
    };
    return cb(&v, arg);
}

typedef int (*cand_fn)(const mm_promql_store_t *s, size_t id, void *ctx);

/* Finds the shortest postings list among the non-empty `=` matchers
 * (*ret_best; NULL when there is none) and a key that changes whenever a
 * series that could match is added: the sum of those lists' lengths, else
 * the number of series. Returns 1 when an `=` matcher has no list (nothing
 * can match), else 0, or -ENOMEM. */
static int plan(const mm_promql_store_t *s, const mm_match_t *m, size_t n,
                const posting_t **ret_best, size_t *ret_key)
{
    const posting_t *best = NULL;
    size_t key = 0;
    for (size_t k = 0; k < n; k++) {
        if (m[k].type != MM_MATCH_EQ || !m[k].value[0])
            continue;
        size_t klen = strlen(m[k].name) + 1 + strlen(m[k].value);
        char stackkey[256];
        char *buf = klen <= sizeof stackkey ? stackkey : malloc(klen);
        if (!buf)
            return -ENOMEM;
        bool found;
        const posting_t *p = post_find(s, m[k].name, m[k].value, &found, buf, klen);
        if (buf != stackkey)
            free(buf);
        if (!found)
            return 1;
        if (!best || p->n < best->n)
            best = p;
        key += p->n;
    }
    *ret_best = best;
    *ret_key = best ? key : s->n_series;
    return 0;
}

/* Calls fn for every series that may match (a superset of those that do;
 * each once), stopping at fn's first non-zero value, which it returns. */
static int candidates(const mm_promql_store_t *s, const posting_t *best, const mm_match_t *m,
                      size_t n, cand_fn fn, void *ctx)
{
    if (best) {
        for (size_t i = 0; i < best->n; i++) {
            int rc = fn(s, best->ids[i], ctx);
            if (rc)
                return rc;
        }
        return 0;
    }
    /* No usable `=`: a regex that rejects "" (every selected series has the
     * label) is tried once per distinct value through the postings, not
     * once per series. A series has one value per name, so the lists are
     * disjoint and nothing is visited twice. */
    for (size_t k = 0; k < n; k++) {
        if (m[k].type != MM_MATCH_RE || mm_match_value(&m[k], ""))
            continue;
        size_t nl = strlen(m[k].name) + 1;
        for (size_t i = 0; i < s->post_cap; i++) {
            const posting_t *p = &s->post[i];
            if (!p->key || p->klen < nl || memcmp(p->key, m[k].name, nl) != 0)
                continue;
            char stackval[256];
            size_t vl = p->klen - nl;
            char *val = vl < sizeof stackval ? stackval : malloc(vl + 1);
            if (!val)
                return -ENOMEM;
            memcpy(val, p->key + nl, vl);
            val[vl] = 0;
            bool hit = mm_match_value(&m[k], val);
            if (val != stackval)
                free(val);
            if (!hit)
                continue;
            for (size_t j = 0; j < p->n; j++) {
                int rc = fn(s, p->ids[j], ctx);
                if (rc)
                    return rc;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < s->n_series; i++) {
        int rc = fn(s, i, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct {
    const mm_match_t *m;
    size_t n;
    int (*cb)(const mm_promql_series_view_t *, void *);
    void *arg;
    uint32_t *ids;           /* collect(): matching ids */
    size_t n_ids, cap_ids;
} selctx_t;

static int visit(const mm_promql_store_t *s, size_t id, void *ctx)
{
    const selctx_t *c = ctx;
    const series_t *se = &s->series[id];
    if (se->n == 0 || !matches(se, c->m, c->n))
        return 0;
    return emit(se, c->cb, c->arg);
}

int mm_promql_store_select(const mm_promql_store_t *s, const mm_match_t *m, size_t n,
                           int (*cb)(const mm_promql_series_view_t *, void *), void *arg)
{
    const posting_t *best;
    size_t key;
    int rc = plan(s, m, n, &best, &key);
    if (rc)
        return rc < 0 ? rc : 0;
    selctx_t c = {.m = m, .n = n, .cb = cb, .arg = arg};
    return candidates(s, best, m, n, visit, &c);
}

/* Series that match by labels, with samples or not (an empty series may
 * get samples again without changing the key). */
static int collect(const mm_promql_store_t *s, size_t id, void *ctx)
{
    selctx_t *c = ctx;
    if (!matches(&s->series[id], c->m, c->n))
        return 0;
    if (c->n_ids == c->cap_ids) {
        size_t nc = c->cap_ids ? c->cap_ids * 2 : 16;
        uint32_t *ni = realloc(c->ids, nc * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        c->ids = ni;
        c->cap_ids = nc;
    }
    c->ids[c->n_ids++] = (uint32_t)id;
    return 0;
}

/* Label order as the evaluator sorts: name, then value, pair by pair. */
static int cmp_ids(const void *a, const void *b, void *ctx)
{
    const mm_promql_store_t *s = ctx;
    const series_t *x = &s->series[*(const uint32_t *)a], *y = &s->series[*(const uint32_t *)b];
    size_t n = x->n_labels < y->n_labels ? x->n_labels : y->n_labels;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(x->labels[i].name, y->labels[i].name);
        if (c)
            return c;
        c = strcmp(x->labels[i].value, y->labels[i].value);
        if (c)
            return c;
    }
    return x->n_labels < y->n_labels ? -1 : x->n_labels > y->n_labels;
}

void mm_promql_selcache_fini(mm_promql_selcache_t *c)
{
    if (!c)
        return;
    free(c->ids);
    memset(c, 0, sizeof *c);
}

int mm_promql_store_select_sorted(const mm_promql_store_t *s, const mm_match_t *m, size_t n,
                                  mm_promql_selcache_t *cache,
                                  int (*cb)(const mm_promql_series_view_t *, void *), void *arg)
{
    const posting_t *best;
    size_t key;
    int rc = plan(s, m, n, &best, &key);
    if (rc)
        return rc < 0 ? rc : 0;
    if (cache->gen != s->gen || cache->key != key) {
        selctx_t c = {.m = m, .n = n};
        rc = candidates(s, best, m, n, collect, &c);
        if (rc) {
            free(c.ids);
            return rc;
        }
        if (c.n_ids > 1)
            qsort_r(c.ids, c.n_ids, sizeof *c.ids, cmp_ids, (void *)s);
        free(cache->ids);
        cache->ids = c.ids;
        cache->n = c.n_ids;
        cache->gen = s->gen;
        cache->key = key;
    }
    for (size_t i = 0; i < cache->n; i++) {
        /* Reads are bound by memory latency (a series, then the newest
         * end of its arrays): ask for those of the series a few ids on. */
        if (i + 8 < cache->n)
            __builtin_prefetch(&s->series[cache->ids[i + 8]]);
        if (i + 4 < cache->n) {
            const series_t *p = &s->series[cache->ids[i + 4]];
            if (p->n) {
                __builtin_prefetch(p->t + p->off + p->n - 1);
                __builtin_prefetch(p->v + p->off + p->n - 1);
            }
        }
        const series_t *se = &s->series[cache->ids[i]];
        if (se->n == 0)
            continue;
        rc = emit(se, cb, arg);
        if (rc)
            return rc;
    }
    return 0;
}
