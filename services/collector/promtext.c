/* Prometheus text format 0.0.4: # HELP / # TYPE lines, samples with optional
 * labels and timestamp, escapes in label values and help text. Strings are
 * copied into an arena owned by the result. */
#include "promtext.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm_err.h"

struct promtext_block {
    promtext_block_t *next;
    size_t used, cap;
    char data[];
};

typedef struct {
    char *name;
    collector_type_t type;
    char *help;
} meta_t;

typedef struct {
    promtext_result_t *r;
    meta_t *meta;
    size_t n_meta, cap_meta;
    const promtext_limits_t *lim;
    char *err;
    size_t errcap;
} parser_t;

static void *arena_alloc(promtext_result_t *r, size_t n, size_t align)
{
    promtext_block_t *b = r->blocks;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off + n <= b->cap) {
            b->used = off + n;
            return b->data + off;
        }
    }
    size_t cap = n + align > 65536 ? n + align : 65536;
    b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = r->blocks;
    r->blocks = b;
    size_t off = (size_t)(-(uintptr_t)b->data & (align - 1));
    b->used = off + n;
    b->cap = cap;
    return b->data + off;
}

static char *arena_str(promtext_result_t *r, const char *s, size_t len)
{
    char *d = arena_alloc(r, len + 1, 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

void collector_promtext_fini(promtext_result_t *r)
{
    if (!r)
        return;
    for (promtext_block_t *b = r->blocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(r->samples);
    memset(r, 0, sizeof *r);
}

static int fail(parser_t *p, int code, const char *fmt, ...)
{
    if (p->err && p->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errcap, fmt, ap);
        va_end(ap);
    }
    return code;
}

static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

static const char *skip_ws(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* Reads a metric name; returns its end (== s when there is none). */
static const char *read_name(const char *s, const char *e)
{
    if (s >= e || !is_name_start(*s))
        return s;
    while (s < e && is_name_char(*s))
        s++;
    return s;
}

/* Go's strconv.ParseFloat spellings Prometheus accepts, plus decimals. */
static int parse_float(const char *s, size_t len, double *ret)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *t = buf;
    bool neg = false;
    if (*t == '+' || *t == '-') {
        neg = *t == '-';
        t++;
    }
    if (strcasecmp(t, "inf") == 0 || strcasecmp(t, "infinity") == 0) {
        *ret = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (strcasecmp(t, "nan") == 0) {
        *ret = NAN;
        return 0;
    }
    for (const char *c = t; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' || *c == '-' || *c == '_'))
            return -1;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len)
        return -1;
    *ret = v;
    return 0;
}

static meta_t *find_meta(parser_t *p, const char *name, size_t len)
{
    for (size_t i = p->n_meta; i-- > 0;)
        if (strlen(p->meta[i].name) == len && memcmp(p->meta[i].name, name, len) == 0)
            return &p->meta[i];
    return NULL;
}

static meta_t *get_meta(parser_t *p, const char *name, size_t len)
{
    meta_t *m = find_meta(p, name, len);
    if (m)
        return m;
    if (p->n_meta == p->cap_meta) {
        size_t nc = p->cap_meta ? p->cap_meta * 2 : 32;
        meta_t *nm = realloc(p->meta, nc * sizeof *nm);
        if (!nm)
            return NULL;
        p->meta = nm;
        p->cap_meta = nc;
    }
    m = &p->meta[p->n_meta];
    m->name = arena_str(p->r, name, len);
    if (!m->name)
        return NULL;
    m->type = COLLECTOR_UNTYPED;
    m->help = "";
    p->n_meta++;
    return m;
}

/* Unescapes help text (\\ and \n) into the arena. */
static char *unescape(promtext_result_t *r, const char *s, size_t len, bool quotes)
{
    char *d = arena_alloc(r, len + 1, 1);
    if (!d)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[i + 1];
            if (c == 'n') { d[w++] = '\n'; i++; continue; }
            if (c == '\\') { d[w++] = '\\'; i++; continue; }
            if (quotes && c == '"') { d[w++] = '"'; i++; continue; }
        }
        d[w++] = s[i];
    }
    d[w] = '\0';
    return d;
}

static int parse_comment(parser_t *p, const char *s, const char *e)
{
    s = skip_ws(s + 1, e);
    bool help = (size_t)(e - s) >= 4 && memcmp(s, "HELP", 4) == 0;
    bool type = (size_t)(e - s) >= 4 && memcmp(s, "TYPE", 4) == 0;
    if (!help && !type)
        return 0;   /* an ordinary comment */
    s += 4;
    if (s < e && *s != ' ' && *s != '\t')
        return 0;   /* e.g. "# HELPER": a comment */
    s = skip_ws(s, e);
    const char *ne = read_name(s, e);
    if (ne == s)
        return fail(p, -MM_EPARSE, "%s without a metric name", help ? "HELP" : "TYPE");
    meta_t *m = get_meta(p, s, (size_t)(ne - s));
    if (!m)
        return -ENOMEM;
    const char *v = skip_ws(ne, e);
    if (ne < e && v == ne)
        return fail(p, -MM_EPARSE, "invalid metric name");
    if (help) {
        m->help = unescape(p->r, v, (size_t)(e - v), false);
        return m->help ? 0 : -ENOMEM;
    }
    const char *ve = e;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    static const struct { const char *w; collector_type_t t; } types[] = {
        {"counter", COLLECTOR_COUNTER}, {"gauge", COLLECTOR_GAUGE}, {"histogram", COLLECTOR_HISTOGRAM},
        {"summary", COLLECTOR_SUMMARY}, {"untyped", COLLECTOR_UNTYPED},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].w) == (size_t)(ve - v) && memcmp(types[i].w, v, (size_t)(ve - v)) == 0) {
            m->type = types[i].t;
            return 0;
        }
    }
    return fail(p, -MM_EPARSE, "unknown metric type \"%.*s\"", (int)(ve - v > 32 ? 32 : ve - v), v);
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const mm_label_t *)a)->name, ((const mm_label_t *)b)->name);
}

static int parse_sample(parser_t *p, const char *s, const char *e)
{
    promtext_result_t *r = p->r;
    size_t max_labels = p->lim && p->lim->max_labels ? p->lim->max_labels : 64;
    const char *ne = read_name(s, e);
    if (ne == s)
        return fail(p, -MM_EPARSE, "expected a metric name");
    mm_label_t labels[256];
    size_t nl = 0;
    const char *c = skip_ws(ne, e);
    if (c < e && *c == '{') {
        c = skip_ws(c + 1, e);
        while (c < e && *c != '}') {
            const char *ln = c;
            if (c >= e || !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_'))
                return fail(p, -MM_EPARSE, "expected a label name");
            while (c < e && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
                             (*c >= '0' && *c <= '9')))
                c++;
            const char *lne = c;
            c = skip_ws(c, e);
            if (c >= e || *c != '=')
                return fail(p, -MM_EPARSE, "expected '=' after a label name");
            c = skip_ws(c + 1, e);
            if (c >= e || *c != '"')
                return fail(p, -MM_EPARSE, "expected '\"' to open a label value");
            const char *vs = ++c;
            while (c < e && *c != '"') {
                if (*c == '\\') {
                    if (c + 1 >= e || (c[1] != '\\' && c[1] != '"' && c[1] != 'n'))
                        return fail(p, -MM_EPARSE, "invalid escape in a label value");
                    c++;
                }
                c++;
            }
            if (c >= e)
                return fail(p, -MM_EPARSE, "unterminated label value");
            if (nl == max_labels || nl == sizeof labels / sizeof labels[0])
                return fail(p, -MM_ELIMIT, "more than %zu labels", max_labels);
            labels[nl].name = arena_str(r, ln, (size_t)(lne - ln));
            labels[nl].value = unescape(r, vs, (size_t)(c - vs), true);
            if (!labels[nl].name || !labels[nl].value)
                return -ENOMEM;
            for (size_t i = 0; i < nl; i++)
                if (strcmp(labels[i].name, labels[nl].name) == 0)
                    return fail(p, -MM_EPARSE, "duplicate label \"%s\"", labels[nl].name);
            nl++;
            c = skip_ws(c + 1, e);
            if (c < e && *c == ',')
                c = skip_ws(c + 1, e);
            else if (c < e && *c != '}')
                return fail(p, -MM_EPARSE, "expected ',' or '}'");
        }
        if (c >= e)
            return fail(p, -MM_EPARSE, "unterminated label set");
        c++;
    } else {
        c = ne;
    }
    const char *vs = skip_ws(c, e);
    if (vs == c)
        return fail(p, -MM_EPARSE, "expected whitespace before the value");
    const char *ve = vs;
    while (ve < e && *ve != ' ' && *ve != '\t')
        ve++;
    double value;
    if (parse_float(vs, (size_t)(ve - vs), &value) < 0)
        return fail(p, -MM_EPARSE, "invalid value \"%.*s\"", (int)(ve - vs > 32 ? 32 : ve - vs), vs);
    int64_t ts = 0;
    const char *ts_s = skip_ws(ve, e);
    if (ts_s < e) {
        const char *te = ts_s;
        if (te < e && *te == '-')
            te++;
        while (te < e && *te >= '0' && *te <= '9')
            te++;
        if (te == ts_s || skip_ws(te, e) != e)
            return fail(p, -MM_EPARSE, "invalid timestamp");
        char buf[32];
        size_t tl = (size_t)(te - ts_s);
        if (tl >= sizeof buf)
            return fail(p, -MM_EPARSE, "invalid timestamp");
        memcpy(buf, ts_s, tl);
        buf[tl] = '\0';
        ts = strtoll(buf, NULL, 10);
    }

    if (p->lim && p->lim->max_samples && r->n >= p->lim->max_samples)
        return fail(p, -MM_ELIMIT, "more than %zu samples", p->lim->max_samples);
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        promtext_sample_t *ns = realloc(r->samples, nc * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        r->samples = ns;
        r->cap = nc;
    }
    promtext_sample_t *smp = &r->samples[r->n];
    size_t len = (size_t)(ne - s);
    smp->name = arena_str(r, s, len);
    if (!smp->name)
        return -ENOMEM;
    /* The family: the exact name when it has metadata, else the name without
     * a histogram/summary suffix when that has. */
    meta_t *m = find_meta(p, s, len);
    if (!m) {
        static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; i < 3 && !m; i++) {
            size_t sl = strlen(suffixes[i]);
            if (len > sl && memcmp(s + len - sl, suffixes[i], sl) == 0) {
                meta_t *cand = find_meta(p, s, len - sl);
                if (cand && (cand->type == COLLECTOR_HISTOGRAM || cand->type == COLLECTOR_SUMMARY) &&
                    !(i == 0 && cand->type == COLLECTOR_SUMMARY))
                    m = cand;
            }
        }
    }
    smp->family = m ? m->name : smp->name;
    smp->type = m ? m->type : COLLECTOR_UNTYPED;
    smp->help = m ? m->help : "";
    smp->labels = NULL;
    if (nl) {
        qsort(labels, nl, sizeof *labels, label_cmp);
        smp->labels = arena_alloc(r, nl * sizeof *labels, sizeof(void *));
        if (!smp->labels)
            return -ENOMEM;
        memcpy(smp->labels, labels, nl * sizeof *labels);
    }
    smp->n_labels = nl;
    smp->value = value;
    smp->time_ms = ts;
    r->n++;
    return 0;
}

int collector_promtext_parse(const char *buf, size_t len, const promtext_limits_t *limits,
                             promtext_result_t *ret, unsigned *ret_line, char *err, size_t errcap)
{
    memset(ret, 0, sizeof *ret);
    parser_t p = {.r = ret, .lim = limits, .err = err, .errcap = errcap};
    size_t max_line = limits && limits->max_line ? limits->max_line : 65536;
    if (err && errcap)
        err[0] = '\0';
    const char *s = buf, *end = buf + len;
    unsigned line = 0;
    int r = 0;
    while (s < end) {
        line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if ((size_t)(e - s) > max_line) {
            r = fail(&p, -MM_ELIMIT, "line longer than %zu bytes", max_line);
            break;
        }
        if (memchr(s, '\0', (size_t)(e - s))) {
            r = fail(&p, -MM_EPARSE, "NUL byte");
            break;
        }
        const char *t = skip_ws(s, e);
        if (t < e && *t == '#')
            r = parse_comment(&p, t, e);
        else if (t < e)
            r = parse_sample(&p, t, e);
        if (r < 0)
            break;
        s = e + 1;
    }
    free(p.meta);
    if (r < 0) {
        if (r == -ENOMEM)
            fail(&p, r, "out of memory");
        collector_promtext_fini(ret);
        if (ret_line)
            *ret_line = line;
        return r;
    }
    if (ret_line)
        *ret_line = 0;
    return 0;
}
