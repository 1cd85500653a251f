/* Runs Prometheus 2.42's own PromQL test files ($MM_SHARED_DIR/promql/v2.42/
 * *.test: load / eval instant / eval_fail / eval_ordered / clear) against our
 * engine, compares results the way promql/test.go does (labels exactly,
 * values within a relative 1e-6, NaN equal to NaN), prints one summary line
 * per file and fails when a file passes fewer evaluations than its floor.
 * Evaluations listed in v242_skips.txt are counted apart, with the reason. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql.h"
#include "promql_internal.h"

/* Minimum number of passing evaluations per file; raise as the engine grows. */
static const struct {
    const char *file;
    int floor;
} floors[] = {
    {"aggregators.test", 83},
    {"at_modifier.test", 33},
    {"collision.test", 2},
    {"functions.test", 207},
    {"histograms.test", 38},
    {"literals.test", 20},
    {"operators.test", 94},
    {"selectors.test", 31},
    {"staleness.test", 14},
    {"subquery.test", 25},
    {"trig_functions.test", 19},
};

typedef struct {
    char *file;
    int line;
    char *reason;
} skip_t;

static skip_t skips[256];
static int n_skips;
static bool verbose;
static bool dump;   /* --dump FILE: print each evaluation's result (differential tests) */

static void load_skips(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[512];
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f) && n_skips < 256) {
        if (buf[0] == '#' || buf[0] == '\n')
            continue;
        char *colon = strchr(buf, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *rest;
        long line = strtol(colon + 1, &rest, 10);
        while (*rest == ' ' || *rest == '\t')
            rest++;
        rest[strcspn(rest, "\n")] = 0;
        skips[n_skips].file = strdup(buf);
        skips[n_skips].line = (int)line;
        skips[n_skips].reason = strdup(rest);
        n_skips++;
    }
    fclose(f);
}

static const char *skip_reason(const char *file, int line)
{
    for (int i = 0; i < n_skips; i++)
        if (skips[i].line == line && strcmp(skips[i].file, file) == 0)
            return skips[i].reason;
    return NULL;
}

/* ---- series descriptions: metric{l="v"} 1+2x10 _ stale ---- */

typedef struct {
    mm_label_t l[64];
    size_t n;
    char buf[4096];
    size_t used;
} lset_t;

typedef struct {
    double v;
    bool omitted;
} seqv_t;

static char *lstore(lset_t *ls, const char *s, size_t n)
{
    if (ls->used + n + 1 > sizeof ls->buf)
        return NULL;
    char *d = ls->buf + ls->used;
    memcpy(d, s, n);
    d[n] = 0;
    ls->used += n + 1;
    return d;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const mm_label_t *)a)->name, ((const mm_label_t *)b)->name);
}

/* Parses the label part; returns the rest of the line or NULL. */
static const char *parse_labels(const char *p, lset_t *ls)
{
    ls->n = 0;
    ls->used = 0;
    const char *s = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    if (p > s) {
        ls->l[ls->n].name = "__name__";
        ls->l[ls->n++].value = lstore(ls, s, (size_t)(p - s));
    }
    if (*p == '{') {
        p++;
        for (;;) {
            while (isspace((unsigned char)*p))
                p++;
            if (*p == '}') {
                p++;
                break;
            }
            s = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            if (p == s || ls->n >= 64)
                return NULL;
            const char *name = lstore(ls, s, (size_t)(p - s));
            while (isspace((unsigned char)*p))
                p++;
            if (*p++ != '=')
                return NULL;
            while (isspace((unsigned char)*p))
                p++;
            char q = *p;
            if (q != '"' && q != '\'' && q != '`')
                return NULL;
            const char *e = p + 1;
            while (*e && *e != q) {
                if (*e == '\\' && q != '`' && e[1])
                    e++;
                e++;
            }
            if (*e != q)
                return NULL;
            char tmp[1024];
            size_t len = (size_t)(e - p + 1);
            if (len > sizeof tmp)
                return NULL;
            long ul = promql_unquote(p, len, tmp);
            if (ul < 0)
                return NULL;
            ls->l[ls->n].name = name;
            ls->l[ls->n++].value = lstore(ls, tmp, (size_t)ul);
            p = e + 1;
            while (isspace((unsigned char)*p))
                p++;
            if (*p == ',')
                p++;
        }
    }
    qsort(ls->l, ls->n, sizeof ls->l[0], cmp_label);
    return p;
}

/* Scans [+-]?(Inf|NaN|digits[.digits][e[+-]digits]); returns end or NULL. */
static const char *scan_num(const char *p, double *v)
{
    const char *s = p;
    if (*p == '+' || *p == '-')
        p++;
    if (strncasecmp(p, "inf", 3) == 0) {
        p += 3;
    } else if (strncasecmp(p, "nan", 3) == 0) {
        p += 3;
    } else {
        const char *d = p;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (p == d)
            return NULL;
        if (*p == 'e' || *p == 'E') {
            const char *e = p + 1;
            if (*e == '+' || *e == '-')
                e++;
            if (isdigit((unsigned char)*e)) {
                while (isdigit((unsigned char)*e))
                    e++;
                p = e;
            }
        }
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = 0;
    *v = strtod(buf, NULL);
    return p;
}

static int parse_values(const char *p, seqv_t *out, int cap)
{
    int n = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            return n;
        if (*p == '_') {
            p++;
            long times = 1;
            if (*p == 'x')
                times = strtol(p + 1, (char **)&p, 10);
            for (long i = 0; i < times && n < cap; i++)
                out[n++] = (seqv_t){0, true};
            continue;
        }
        if (strncmp(p, "stale", 5) == 0) {
            p += 5;
            if (n < cap)
                out[n++] = (seqv_t){mm_stale_nan(), false};
            continue;
        }
        double a, b = 0;
        const char *e = scan_num(p, &a);
        if (!e)
            return -1;
        p = e;
        bool has_b = false;
        if (*p == '+' || *p == '-') {
            e = scan_num(p, &b);
            if (!e)
                return -1;
            p = e;
            has_b = true;
        }
        if (*p == 'x') {
            long times = strtol(p + 1, (char **)&p, 10);
            if (n < cap)
                out[n++] = (seqv_t){a, false};
            for (long i = 1; i <= times && n < cap; i++) {
                if (has_b)
                    a += b;
                out[n++] = (seqv_t){a, false};
            }
        } else {
            if (has_b)
                return -1;
            if (n < cap)
                out[n++] = (seqv_t){a, false};
        }
        if (*p && !isspace((unsigned char)*p))
            return -1;
    }
}

static bool almost_equal(double a, double b)
{
    const double min_normal = 2.2250738585072014e-308, eps = 1e-6;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || diff < min_normal)
        return diff < eps * min_normal;
    return diff / (fabs(a) + fabs(b)) < eps;
}

static bool labels_eq(const mm_label_t *a, size_t an, const mm_label_t *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (strcmp(a[i].name, b[i].name) || strcmp(a[i].value, b[i].value))
            return false;
    return true;
}

typedef struct {
    lset_t ls;
    double v;
    bool seen;
} expect_t;

/* Returns true when an eval command passes. */
static bool run_eval(mm_promql_store_t *store, const char *expr, int64_t t, bool fail, bool ordered,
                     bool scalar_exp, double scalar_v, expect_t *exp, int n_exp, char *why, size_t wcap)
{
    mm_promql_expr_t *e = NULL;
    mm_promql_error_t err;
    mm_promql_result_t *r = NULL;
    bool ok = false;
    int rc = mm_promql_parse(expr, strlen(expr), &e, &err);
    if (rc < 0) {
        snprintf(why, wcap, "parse error at %zu: %s", err.offset, err.msg);
        return false;
    }
    rc = mm_promql_eval(e, store, t, NULL, &r, &err);
    if (rc < 0) {
        ok = fail;
        if (!ok)
            snprintf(why, wcap, "eval error: %s", err.msg);
        goto out;
    }
    if (fail) {
        snprintf(why, wcap, "expected an error, got none");
        goto out;
    }
    if (r->type == MM_PROMQL_SCALAR) {
        if (!scalar_exp) {
            snprintf(why, wcap, "got scalar %g, expected a vector", r->scalar);
            goto out;
        }
        if (!almost_equal(scalar_v, r->scalar)) {
            snprintf(why, wcap, "expected scalar %g, got %g", scalar_v, r->scalar);
            goto out;
        }
        ok = true;
        goto out;
    }
    if (r->type != MM_PROMQL_VECTOR) {
        snprintf(why, wcap, "received a non-vector result");
        goto out;
    }
    if (scalar_exp) {
        snprintf(why, wcap, "expected a scalar, got a vector of %zu", r->n_samples);
        goto out;
    }
    for (size_t i = 0; i < r->n_samples; i++) {
        const mm_promql_sample_t *s = &r->samples[i];
        int k;
        for (k = 0; k < n_exp; k++)
            if (labels_eq(s->labels, s->n_labels, exp[k].ls.l, exp[k].ls.n))
                break;
        char lb[512];
        size_t o = 0;
        lb[0] = 0;
        for (size_t j = 0; j < s->n_labels && o < sizeof lb; j++)
            o += (size_t)snprintf(lb + o, sizeof lb - o, "%s=\"%s\",", s->labels[j].name, s->labels[j].value);
        if (k == n_exp) {
            snprintf(why, wcap, "unexpected metric {%s} %g in result", lb, s->v);
            goto out;
        }
        if (ordered && (size_t)k != i) {
            snprintf(why, wcap, "metric {%s} at position %zu, expected %d", lb, i + 1, k + 1);
            goto out;
        }
        if (!almost_equal(exp[k].v, s->v)) {
            snprintf(why, wcap, "expected %g for {%s} but got %g", exp[k].v, lb, s->v);
            goto out;
        }
        exp[k].seen = true;
    }
    for (int k = 0; k < n_exp; k++)
        if (!exp[k].seen) {
            snprintf(why, wcap, "expected metric #%d (%g) not found (got %zu samples)", k + 1, exp[k].v,
                     r->n_samples);
            goto out;
        }
    ok = true;
out:
    mm_promql_result_free(r);
    mm_promql_expr_free(e);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints "#<line>" then "ERR <msg>", "SCALAR <v>" or one "<labels> <v>" line per
 * sample (labels as Prometheus prints them, lines sorted). */
static void dump_eval(mm_promql_store_t *store, const char *expr, int64_t t, int line)
{
    mm_promql_expr_t *e = NULL;
    mm_promql_error_t err;
    mm_promql_result_t *r = NULL;
    printf("#%d\n", line);
    if (mm_promql_parse(expr, strlen(expr), &e, &err) < 0 || mm_promql_eval(e, store, t, NULL, &r, &err) < 0) {
        printf("ERR %s\n", err.msg);
        mm_promql_expr_free(e);
        return;
    }
    if (r->type == MM_PROMQL_SCALAR) {
        printf("SCALAR %.17g\n", r->scalar);
    } else if (r->type == MM_PROMQL_VECTOR) {
        char **lines = calloc(r->n_samples + 1, sizeof *lines);
        for (size_t i = 0; i < r->n_samples; i++) {
            char buf[4096];
            size_t o = 0;
            o += (size_t)snprintf(buf + o, sizeof buf - o, "{");
            for (size_t j = 0; j < r->samples[i].n_labels && o < sizeof buf; j++)
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s=\"%s\"", j ? ", " : "",
                                      r->samples[i].labels[j].name, r->samples[i].labels[j].value);
            if (o < sizeof buf)
                snprintf(buf + o, sizeof buf - o, "} %.17g", r->samples[i].v);
            lines[i] = strdup(buf);
        }
        qsort(lines, r->n_samples, sizeof *lines, cmp_str);
        for (size_t i = 0; i < r->n_samples; i++) {
            printf("%s\n", lines[i]);
            free(lines[i]);
        }
        free(lines);
    } else {
        printf("ERR result of type %d\n", (int)r->type);
    }
    mm_promql_result_free(r);
    mm_promql_expr_free(e);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    if (s[0] == '#')
        s[0] = 0;
    return s;
}

typedef struct {
    int pass, fail, skip;
} counts_t;

static int run_file(const char *dir, const char *name, counts_t *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", name[0] == '/' ? "" : dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char **lines = NULL;
    size_t nl = 0, cap = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        if (nl == cap) {
            cap = cap ? cap * 2 : 256;
            lines = realloc(lines, cap * sizeof *lines);
        }
        lines[nl++] = strdup(buf);
    }
    fclose(f);
    mm_promql_store_t *store = mm_promql_store_new();
    static expect_t exp[256];
    static seqv_t vals[100000];
    for (size_t i = 0; i < nl; i++) {
        char *l = trim(lines[i]);
        if (!*l)
            continue;
        if (strncasecmp(l, "clear", 5) == 0) {
            mm_promql_store_clear(store);
            continue;
        }
        if (strncasecmp(l, "load", 4) == 0) {
            int64_t step;
            char *d = trim(l + 4);
            if (promql_parse_duration(d, strlen(d), &step) < 0) {
                fprintf(stderr, "%s:%zu: bad load step\n", name, i + 1);
                return -EINVAL;
            }
            /* As in test.go, a later definition of the same series in one
             * load block replaces the earlier one. */
            size_t first = i + 1, last = i;
            while (last + 1 < nl && *trim(lines[last + 1]))
                last++;
            i = last;
            for (size_t d = first; d <= last; d++) {
                lset_t ls, other;
                const char *rest = parse_labels(trim(lines[d]), &ls);
                bool replaced = false;
                for (size_t d2 = d + 1; d2 <= last && rest; d2++)
                    if (parse_labels(trim(lines[d2]), &other) &&
                        labels_eq(ls.l, ls.n, other.l, other.n))
                        replaced = true;
                if (replaced)
                    continue;
                int nv = rest ? parse_values(rest, vals, 100000) : -1;
                if (nv < 0) {
                    fprintf(stderr, "%s:%zu: bad series description\n", name, d + 1);
                    return -EINVAL;
                }
                for (int k = 0; k < nv; k++) {
                    if (vals[k].omitted)
                        continue;
                    int rc = mm_promql_store_append(store, ls.l, ls.n, (int64_t)k * step, vals[k].v);
                    if (rc < 0)
                        fprintf(stderr, "%s:%zu: append: %s\n", name, d + 1, strerror(-rc));
                }
            }
            continue;
        }
        if (strncasecmp(l, "eval", 4) != 0) {
            fprintf(stderr, "%s:%zu: invalid command\n", name, i + 1);
            return -EINVAL;
        }
        int line = (int)i + 1;
        bool fail = strncmp(l, "eval_fail", 9) == 0, ordered = strncmp(l, "eval_ordered", 12) == 0;
        char *p = strstr(l, " at ");
        if (!p) {
            fprintf(stderr, "%s:%d: eval without 'at'\n", name, line);
            return -EINVAL;
        }
        p = trim(p + 4);
        char *sp = p + strcspn(p, " \t");
        int64_t t;
        if (promql_parse_duration(p, (size_t)(sp - p), &t) < 0) {
            fprintf(stderr, "%s:%d: bad eval time\n", name, line);
            return -EINVAL;
        }
        char *expr = trim(sp);
        int n_exp = 0;
        bool scalar_exp = false;
        double scalar_v = 0;
        bool bad = false;
        while (i + 1 < nl && *trim(lines[i + 1])) {
            i++;
            char *def = trim(lines[i]);
            char *end;
            double v = strtod(def, &end);
            if (end != def && *end == 0) {
                scalar_exp = true;
                scalar_v = v;
                continue;
            }
            if (n_exp == 256) {
                bad = true;
                continue;
            }
            const char *rest = parse_labels(def, &exp[n_exp].ls);
            int nv = rest ? parse_values(rest, vals, 100000) : -1;
            if (nv != 1) {
                bad = true;
                continue;
            }
            exp[n_exp].v = vals[0].v;
            exp[n_exp].seen = false;
            n_exp++;
        }
        if (dump) {
            dump_eval(store, expr, t, line);
            continue;
        }
        const char *reason = skip_reason(name, line);
        char why[1024] = "";
        bool ok = !bad && run_eval(store, expr, t, fail, ordered, scalar_exp, scalar_v, exp, n_exp, why,
                                   sizeof why);
        if (bad)
            snprintf(why, sizeof why, "could not parse the expected results");
        if (reason) {
            c->skip++;
            if (verbose)
                printf("  SKIP %s:%d %s (%s)%s\n", name, line, expr, reason, ok ? " [passes now]" : "");
        } else if (ok) {
            c->pass++;
        } else {
            c->fail++;
            printf("  FAIL %s:%d %s\n       %s\n", name, line, expr, why);
        }
    }
    mm_promql_store_free(store);
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        counts_t c = {0};
        dump = true;
        return run_file(".", argv[2], &c) < 0 ? 2 : 0;
    }
    const char *shared = getenv("MM_SHARED_DIR");
    const char *src = getenv("MM_SOURCE_ROOT");
    verbose = getenv("MM_PROMQL_VERBOSE") != NULL;
    char dir[1024], skipf[1024];
    if (!shared) {
        printf("SKIP promql_v242: MM_SHARED_DIR is not set\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/promql/v2.42", shared);
    FILE *probe = fopen(dir, "r");
    if (!probe) {
        printf("SKIP promql_v242: %s is absent\n", dir);
        return 77;
    }
    fclose(probe);
    if (src) {
        snprintf(skipf, sizeof skipf, "%s/tests/unit/promql/v242_skips.txt", src);
        load_skips(skipf);
    }
    int status = 0;
    counts_t total = {0};
    for (size_t i = 0; i < sizeof floors / sizeof floors[0]; i++) {
        counts_t c = {0};
        int rc = run_file(dir, floors[i].file, &c);
        if (rc < 0) {
            printf("promql v2.42 %-20s could not run: %s\n", floors[i].file, strerror(-rc));
            status = 1;
            continue;
        }
        int all = c.pass + c.fail + c.skip;
        printf("promql v2.42 %-20s %3d/%3d passed, %d failed, %d skipped (floor %d)\n", floors[i].file,
               c.pass, all, c.fail, c.skip, floors[i].floor);
        if (c.pass < floors[i].floor)
            status = 1;
        total.pass += c.pass;
        total.fail += c.fail;
        total.skip += c.skip;
    }
    printf("promql v2.42 total: %d/%d passed, %d failed, %d skipped\n", total.pass,
           total.pass + total.fail + total.skip, total.fail, total.skip);
    for (int i = 0; i < n_skips; i++) {
        free(skips[i].file);
        free(skips[i].reason);
    }
    return status;
}
