/* Small helpers of the rule layer: owned label arrays, growing text buffers,
 * diagnostics lists, Go-compatible quoting and float/duration formatting
 * (what promtool prints), and Prometheus's duration syntax. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "rules_internal.h"

void rules_labels_free(mm_label_t *l, size_t n)
{
    (void)n;
    free(l);
}

int rules_labels_dup(const mm_label_t *src, size_t n, mm_label_t **ret)
{
    *ret = NULL;
    if (n == 0)
        return 0;
    size_t bytes = n * sizeof(mm_label_t);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(src[i].name) + strlen(src[i].value ? src[i].value : "") + 2;
    mm_label_t *l = malloc(bytes);
    if (!l)
        return -ENOMEM;
    char *p = (char *)(l + n);
    for (size_t i = 0; i < n; i++) {
        const char *v = src[i].value ? src[i].value : "";
        size_t a = strlen(src[i].name) + 1, b = strlen(v) + 1;
        l[i].name = memcpy(p, src[i].name, a);
        l[i].value = memcpy(p + a, v, b);
        p += a + b;
    }
    *ret = l;
    return 0;
}

/* labels.Compare: pairwise by name then value, then by length. */
int rules_labels_cmp(const mm_label_t *a, size_t na, const mm_label_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = strcmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

int rules_buf_add(mm_tmpl_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int rules_buf_printf(mm_tmpl_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof tmp)
        return rules_buf_add(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = rules_buf_add(b, big, (size_t)n);
    free(big);
    return r;
}

/* Length of a valid UTF-8 sequence at s (max n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

void rules_go_quote(const char *s, mm_tmpl_buf_t *out)
{
    size_t n = strlen(s);
    rules_buf_add(out, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rules_buf_add(out, esc, 2);
            i++;
        } else if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (l == 0) {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                rules_buf_add(out, esc, 4);
                i++;
            } else {
                rules_buf_add(out, s + i, l);
                i += l;
            }
        } else if (c < 0x20 || c == 0x7f) {
            const char *e = NULL;
            switch (c) {
            case '\a': e = "\\a"; break;
            case '\b': e = "\\b"; break;
            case '\f': e = "\\f"; break;
            case '\n': e = "\\n"; break;
            case '\r': e = "\\r"; break;
            case '\t': e = "\\t"; break;
            case '\v': e = "\\v"; break;
            default: break;
            }
            if (e) {
                rules_buf_add(out, e, 2);
            } else {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                rules_buf_add(out, esc, 4);
            }
            i++;
        } else {
            rules_buf_add(out, s + i, 1);
            i++;
        }
    }
    rules_buf_add(out, "\"", 1);
}

void rules_labels_print(const mm_label_t *l, size_t n, mm_tmpl_buf_t *out)
{
    rules_buf_add(out, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            rules_buf_add(out, ", ", 2);
        rules_buf_add(out, l[i].name, strlen(l[i].name));
        rules_buf_add(out, "=", 1);
        rules_go_quote(l[i].value, out);
    }
    rules_buf_add(out, "}", 1);
}

/* Shortest digits that round-trip, as Go's 'E' with precision -1. */
void rules_format_E(double v, mm_tmpl_buf_t *out)
{
    if (isnan(v)) {
        rules_buf_add(out, "NaN", 3);
        return;
    }
    if (isinf(v)) {
        rules_buf_add(out, v > 0 ? "+Inf" : "-Inf", 4);
        return;
    }
    char tmp[64];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*E", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* C prints at least two exponent digits, as Go does; keep it. */
    rules_buf_add(out, tmp, strlen(tmp));
}

void rules_parse_error(const char *text, const mm_promql_error_t *pe, char *buf, size_t cap)
{
    unsigned line = 1, col = 1;
    for (size_t k = 0; k < pe->offset && text[k]; k++) {
        if (text[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(buf, cap, "%u:%u: parse error: %s", line, col, pe->msg);
}

void mm_rules_diags_fini(mm_rules_diags_t *d)
{
    if (!d)
        return;
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

int rules_diag_add(mm_rules_diags_t *d, const char *file, unsigned line, unsigned col,
                   const char *fmt, ...)
{
    if (!d)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        mm_diag_t *it = realloc(d->items, cap * sizeof *it);
        if (!it)
            return -ENOMEM;
        d->items = it;
        d->cap = cap;
    }
    mm_diag_t *x = &d->items[d->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->file, sizeof x->file, "%s", file);
    x->line = line;
    x->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof x->msg, fmt, ap);
    va_end(ap);
    return 0;
}

/* Go's time.Duration.String() for whole milliseconds. */
char *mm_rules_go_duration(int64_t ms, char *buf, size_t cap)
{
    char tmp[64];
    size_t p = 0;
    uint64_t u = ms < 0 ? (uint64_t)(-ms) : (uint64_t)ms;
    if (ms < 0)
        tmp[p++] = '-';
    if (u == 0) {
        snprintf(buf, cap, "0s");
        return buf;
    }
    if (u < 1000) {
        snprintf(tmp + p, sizeof tmp - p, "%" PRIu64 "ms", u);
    } else {
        uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, f = u % 1000;
        char sec[32];
        if (f) {
            snprintf(sec, sizeof sec, "%" PRIu64 ".%03" PRIu64, s, f);
            size_t l = strlen(sec);
            while (sec[l - 1] == '0')
                sec[--l] = '\0';
        } else {
            snprintf(sec, sizeof sec, "%" PRIu64, s);
        }
        if (h)
            snprintf(tmp + p, sizeof tmp - p, "%" PRIu64 "h%" PRIu64 "m%ss", h, m, sec);
        else if (m)
            snprintf(tmp + p, sizeof tmp - p, "%" PRIu64 "m%ss", m, sec);
        else
            snprintf(tmp + p, sizeof tmp - p, "%ss", sec);
    }
    snprintf(buf, cap, "%s", tmp);
    return buf;
}

/* Prometheus's model.Duration.String(). */
char *mm_rules_model_duration(int64_t ms, char *buf, size_t cap)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {
        {"y", 365LL * 24 * 3600000}, {"w", 7LL * 24 * 3600000}, {"d", 24LL * 3600000},
        {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    if (ms == 0) {
        snprintf(buf, cap, "0s");
        return buf;
    }
    size_t p = 0;
    buf[0] = '\0';
    int64_t left = ms;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        int64_t k = left / units[i].ms;
        if (k > 0 && p < cap) {
            p += (size_t)snprintf(buf + p, cap - p, "%" PRId64 "%s", k, units[i].u);
            left -= k * units[i].ms;
        }
    }
    return buf;
}

int mm_rules_parse_duration(const char *s, int64_t *ret_ms)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {
        {"y", 365LL * 24 * 3600000}, {"w", 7LL * 24 * 3600000}, {"d", 24LL * 3600000},
        {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    if (!s || !*s)
        return -EINVAL;
    if (strcmp(s, "0") == 0) {
        *ret_ms = 0;
        return 0;
    }
    int64_t total = 0;
    size_t next_unit = 0;
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > INT64_MAX / 10)
                return -EINVAL;
            v = v * 10 + (*p++ - '0');
        }
        size_t u;
        for (u = next_unit; u < sizeof units / sizeof units[0]; u++) {
            size_t l = strlen(units[u].u);
            /* "m" must not swallow the "m" of "ms". */
            if (strncmp(p, units[u].u, l) == 0 && !(u == 4 && p[1] == 's'))
                break;
        }
        if (u == sizeof units / sizeof units[0])
            return -EINVAL;
        if (v > INT64_MAX / units[u].ms || total > INT64_MAX - v * units[u].ms)
            return -EINVAL;
        total += v * units[u].ms;
        p += strlen(units[u].u);
        next_unit = u + 1;
    }
    *ret_ms = total;
    return 0;
}
