/* Prometheus 2.42's template functions that work on strings and numbers
 * (humanize*, toTime, parseDuration, case mapping, stripPort/stripDomain,
 * escapers) and the RE2-syntax regexes of match and reReplaceAll, run with
 * PCRE2 under match limits. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tmpl_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

static int fail(char *err, size_t ecap, const char *msg)
{
    snprintf(err, ecap, "%s", msg);
    return -1;
}

/* ---------------------------------------------------------------- numbers */

static bool ci_eq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* strconv.ParseFloat(s, 64): returns 0, or -1 (syntax) / -2 (range). */
static int parse_float(const char *s, size_t n, double *ret)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (ci_eq(s + i, n - i, "inf") || ci_eq(s + i, n - i, "infinity")) {
        *ret = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (i == 0 && ci_eq(s, n, "nan")) {
        *ret = NAN;
        return 0;
    }
    bool hex = i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X');
    char buf[400];
    size_t k = 0;
    size_t j = i;
    if (hex)
        j += 2;
    bool digits = false, dot = false, expo = false;
    for (; j < n; j++) {
        char c = s[j];
        bool isd = (c >= '0' && c <= '9') ||
                   (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (c == '_') {
            if (!hex)
                return -1;
            continue;
        }
        if (isd) {
            digits = true;
        } else if (c == '.' && !dot) {
            dot = true;
        } else if ((!hex && (c == 'e' || c == 'E')) || (hex && (c == 'p' || c == 'P'))) {
            if (!digits)
                return -1;
            expo = true;
            j++;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j >= n)
                return -1;
            for (; j < n; j++)
                if (s[j] < '0' || s[j] > '9')
                    return -1;
            break;
        } else {
            return -1;
        }
    }
    if (!digits || (hex && !expo))
        return -1;
    for (size_t q = 0; q < n && k < sizeof buf - 1; q++)
        if (s[q] != '_')
            buf[k++] = s[q];
    if (k >= sizeof buf - 1 && n >= sizeof buf - 1) {
        /* Very long mantissas: strtod handles them, copy fully. */
        char *big = malloc(n + 1);
        if (!big)
            return -1;
        k = 0;
        for (size_t q = 0; q < n; q++)
            if (s[q] != '_')
                big[k++] = s[q];
        big[k] = 0;
        errno = 0;
        *ret = strtod(big, NULL);
        free(big);
    } else {
        buf[k] = 0;
        errno = 0;
        *ret = strtod(buf, NULL);
    }
    if (isinf(*ret))
        return -2;
    return 0;
}

int to_float(const val_t *v, double *ret, char *err, size_t ecap)
{
    switch (v->k) {
    case V_FLOAT:
        *ret = v->u.f;
        return 0;
    case V_INT:
        if (v->sub == SUB_UINT8)
            break;
        *ret = (double)v->u.i;
        return 0;
    case V_STRING: {
        if (v->sub == SUB_HTML)
            break;
        int r = parse_float(v->u.s.s, v->u.s.n, ret);
        if (r == 0)
            return 0;
        sbuf_t q;
        sb_init(&q);
        go_quote(&q, v->u.s.s, v->u.s.n);
        snprintf(err, ecap, "strconv.ParseFloat: parsing %s: %s", q.p ? q.p : "\"\"",
                 r == -2 ? "value out of range" : "invalid syntax");
        sb_fini(&q);
        return -1;
    }
    default:
        break;
    }
    snprintf(err, ecap, "can't convert %s to float",
             v->k == V_INVALID ? "<nil>" : val_type_name(v));
    return -1;
}

static void fmt4g(sbuf_t *out, double v, const char *suffix)
{
    go_format_float(out, v, 'g', 4);
    sb_puts(out, suffix);
}

int fn_humanize(const val_t *in, sbuf_t *out, char *err, size_t ecap)
{
    double v;
    if (to_float(in, &v, err, ecap))
        return -1;
    if (v == 0 || isnan(v) || isinf(v)) {
        fmt4g(out, v, "");
        return 0;
    }
    static const char *big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (int i = 0; i < 8; i++) {
            if (fabs(v) < 1000)
                break;
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (int i = 0; i < 8; i++) {
            if (fabs(v) >= 1)
                break;
            prefix = small[i];
            v *= 1000;
        }
    }
    fmt4g(out, v, prefix);
    return 0;
}

int fn_humanize1024(const val_t *in, sbuf_t *out, char *err, size_t ecap)
{
    double v;
    if (to_float(in, &v, err, ecap))
        return -1;
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        fmt4g(out, v, "");
        return 0;
    }
    static const char *p[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    for (int i = 0; i < 8; i++) {
        if (fabs(v) < 1024)
            break;
        prefix = p[i];
        v /= 1024;
    }
    fmt4g(out, v, prefix);
    return 0;
}

/* Go's int64(f) on amd64: out-of-range and NaN give the "integer indefinite". */
static int64_t go_int64(double f)
{
    if (!(f > -9223372036854775808.0 && f < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)f;
}

int fn_humanize_duration(const val_t *in, sbuf_t *out, char *err, size_t ecap)
{
    double v;
    if (to_float(in, &v, err, ecap))
        return -1;
    if (isnan(v) || isinf(v)) {
        fmt4g(out, v, "");
        return 0;
    }
    if (v == 0) {
        fmt4g(out, v, "s");
        return 0;
    }
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        int64_t d = go_int64(v);
        long long seconds = d % 60, minutes = (d / 60) % 60, hours = (d / 60 / 60) % 24,
                  days = d / 60 / 60 / 24;
        if (days != 0)
            sb_printf(out, "%s%lldd %lldh %lldm %llds", sign, days, hours, minutes, seconds);
        else if (hours != 0)
            sb_printf(out, "%s%lldh %lldm %llds", sign, hours, minutes, seconds);
        else if (minutes != 0)
            sb_printf(out, "%s%lldm %llds", sign, minutes, seconds);
        else {
            sb_puts(out, sign);
            fmt4g(out, v, "s");
        }
        return 0;
    }
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (int i = 0; i < 8; i++) {
        if (fabs(v) >= 1)
            break;
        prefix = small[i];
        v *= 1000;
    }
    go_format_float(out, v, 'g', 4);
    sb_puts(out, prefix);
    sb_putc(out, 's');
    return 0;
}

int fn_humanize_percentage(const val_t *in, sbuf_t *out, char *err, size_t ecap)
{
    double v;
    if (to_float(in, &v, err, ecap))
        return -1;
    fmt4g(out, v * 100, "%");
    return 0;
}

int fn_to_time(const val_t *in, int64_t *ms, bool *nan_inf, char *err, size_t ecap)
{
    double v;
    *nan_inf = false;
    if (to_float(in, &v, err, ecap))
        return -1;
    if (isnan(v) || isinf(v)) {
        *nan_inf = true;
        return 0;
    }
    double ts = v * 1e9;
    if (ts > 9223372036854775807.0 || ts < -9223372036854775808.0) {
        sbuf_t b;
        sb_init(&b);
        go_format_float(&b, v, 'g', -1);
        snprintf(err, ecap,
                 "%s cannot be represented as a nanoseconds timestamp since it overflows int64",
                 b.p ? b.p : "");
        sb_fini(&b);
        return -1;
    }
    *ms = go_int64(ts) / 1000000;
    return 0;
}

int fn_humanize_timestamp(const val_t *in, sbuf_t *out, char *err, size_t ecap)
{
    int64_t ms;
    bool ni;
    if (fn_to_time(in, &ms, &ni, err, ecap))
        return -1;
    if (ni) {
        double v;
        to_float(in, &v, err, ecap);
        fmt4g(out, v, "");
        return 0;
    }
    go_time_string(out, ms);
    return 0;
}

int fn_parse_duration(const char *s, size_t n, double *ret, char *err, size_t ecap)
{
    if (n == 1 && s[0] == '0') {
        *ret = 0;
        return 0;
    }
    if (n == 0)
        return fail(err, ecap, "empty duration string");
    static const struct { const char *u; int64_t mult; } units[] = {
        {"y", 1000LL * 60 * 60 * 24 * 365}, {"w", 1000LL * 60 * 60 * 24 * 7},
        {"d", 1000LL * 60 * 60 * 24}, {"h", 1000LL * 60 * 60}, {"m", 1000LL * 60},
        {"s", 1000}, {"ms", 1},
    };
    size_t i = 0;
    int next_unit = 0;
    int64_t dur = 0; /* nanoseconds, as time.Duration */
    bool overflow = false;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++;
        if (j == i)
            goto bad;
        size_t k = j;
        while (k < n && !(s[k] >= '0' && s[k] <= '9'))
            k++;
        int u = -1;
        for (int q = next_unit; q < 7; q++) {
            if (strlen(units[q].u) == k - j && memcmp(units[q].u, s + j, k - j) == 0) {
                u = q;
                break;
            }
        }
        if (u < 0)
            goto bad;
        /* strconv.Atoi: values beyond int64 saturate with an error Go ignores. */
        int64_t num = 0;
        for (size_t q = i; q < j; q++) {
            if (num > (INT64_MAX - 9) / 10) {
                num = INT64_MAX;
                break;
            }
            num = num * 10 + (s[q] - '0');
        }
        if (num > INT64_MAX / units[u].mult / 1000000)
            overflow = true;
        uint64_t d = (uint64_t)num * 1000000u * (uint64_t)units[u].mult;
        dur = (int64_t)((uint64_t)dur + d);
        if (dur < 0)
            overflow = true;
        next_unit = u + 1;
        i = k;
    }
    if (overflow)
        return fail(err, ecap, "duration out of range");
    *ret = (double)dur / 1e9;
    return 0;
bad:;
    sbuf_t q;
    sb_init(&q);
    go_quote(&q, s, n);
    snprintf(err, ecap, "not a valid duration string: %s", q.p ? q.p : "");
    sb_fini(&q);
    return -1;
}

/* ---------------------------------------------------------------- case */

static bool is_space_r(uint32_t r)
{
    return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0 || r == 0x1680 ||
           (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
           r == 0x205F || r == 0x3000;
}

/* strings.Title's isSeparator. */
static bool is_separator(uint32_t r)
{
    if (r <= 0x7F) {
        if ((r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
            r == '_')
            return false;
        return true;
    }
    if (go_is_letter(r) || go_is_digit(r))
        return false;
    return is_space_r(r);
}

void fn_case(sbuf_t *out, const char *s, size_t n, int mode)
{
    uint32_t prev = ' ';
    size_t w;
    for (size_t i = 0; i < n; i += w) {
        uint32_t r = utf8_decode(s + i, n - i, &w);
        uint32_t m = r;
        if (mode == 0)
            m = go_to_upper(r);
        else if (mode == 1)
            m = go_to_lower(r);
        else {
            if (is_separator(prev))
                m = go_to_title(r);
            prev = r;
        }
        sb_utf8(out, m);
    }
}

/* ---------------------------------------------------------------- hosts */

/* net.SplitHostPort; returns false on error. */
static bool split_host_port(const char *s, size_t n, size_t *h0, size_t *h1, size_t *p0)
{
    ssize_t i = -1;
    for (size_t k = n; k > 0; k--)
        if (s[k - 1] == ':') {
            i = (ssize_t)k - 1;
            break;
        }
    if (i < 0)
        return false;
    size_t j = 0, k = 0;
    if (s[0] == '[') {
        const char *e = memchr(s, ']', n);
        if (!e)
            return false;
        size_t end = (size_t)(e - s);
        if (end + 1 == n)
            return false;
        if ((ssize_t)(end + 1) != i)
            return false;
        *h0 = 1;
        *h1 = end;
        j = 1;
        k = end + 1;
    } else {
        *h0 = 0;
        *h1 = (size_t)i;
        if (memchr(s, ':', (size_t)i))
            return false;
    }
    if (memchr(s + j, '[', n - j))
        return false;
    if (memchr(s + k, ']', n - k))
        return false;
    *p0 = (size_t)i + 1;
    return true;
}

void fn_strip_port(sbuf_t *out, const char *s, size_t n)
{
    size_t h0, h1, p0;
    if (!split_host_port(s, n, &h0, &h1, &p0)) {
        sb_put(out, s, n);
        return;
    }
    sb_put(out, s + h0, h1 - h0);
}

static bool parse_ip(const char *s, size_t n)
{
    char tmp[64];
    unsigned char buf[16];
    if (n == 0 || n >= sizeof tmp || memchr(s, 0, n))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return inet_pton(AF_INET, tmp, buf) == 1 || inet_pton(AF_INET6, tmp, buf) == 1;
}

void fn_strip_domain(sbuf_t *out, const char *s, size_t n)
{
    size_t h0 = 0, h1 = n, p0 = n;
    bool has_port = split_host_port(s, n, &h0, &h1, &p0);
    if (!has_port) {
        h0 = 0;
        h1 = n;
    }
    if (parse_ip(s + h0, h1 - h0)) {
        sb_put(out, s, n);
        return;
    }
    const char *dot = memchr(s + h0, '.', h1 - h0);
    size_t hend = dot ? (size_t)(dot - s) : h1;
    if (has_port && p0 < n) {
        bool colon = memchr(s + h0, ':', hend - h0) != NULL;
        if (colon)
            sb_putc(out, '[');
        sb_put(out, s + h0, hend - h0);
        if (colon)
            sb_putc(out, ']');
        sb_putc(out, ':');
        sb_put(out, s + p0, n - p0);
        return;
    }
    sb_put(out, s + h0, hend - h0);
}

/* ---------------------------------------------------------------- escapers */

void fn_query_escape(sbuf_t *out, const char *s, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            sb_putc(out, (char)c);
        } else if (c == ' ') {
            sb_putc(out, '+');
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            sb_put(out, e, 3);
        }
    }
}

void fn_html_escape(sbuf_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '"': sb_puts(out, "&#34;"); break;
        case '\'': sb_puts(out, "&#39;"); break;
        case '&': sb_puts(out, "&amp;"); break;
        case '<': sb_puts(out, "&lt;"); break;
        case '>': sb_puts(out, "&gt;"); break;
        case 0: sb_puts(out, "\xEF\xBF\xBD"); break;
        default: sb_putc(out, s[i]); break;
        }
    }
}

void fn_js_escape(sbuf_t *out, const char *s, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t w;
    for (size_t i = 0; i < n; i += w) {
        unsigned char c = (unsigned char)s[i];
        w = 1;
        if (c < 0x80) {
            switch (c) {
            case '\\': sb_puts(out, "\\\\"); break;
            case '\'': sb_puts(out, "\\'"); break;
            case '"': sb_puts(out, "\\\""); break;
            case '<': sb_puts(out, "\\u003C"); break;
            case '>': sb_puts(out, "\\u003E"); break;
            case '&': sb_puts(out, "\\u0026"); break;
            case '=': sb_puts(out, "\\u003D"); break;
            default:
                if (c < ' ') {
                    char e[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
                    sb_put(out, e, 6);
                } else {
                    sb_putc(out, (char)c);
                }
            }
            continue;
        }
        uint32_t r = utf8_decode(s + i, n - i, &w);
        if (go_is_print(r))
            sb_put(out, s + i, w);
        else
            sb_printf(out, "\\u%04X", (unsigned)r);
    }
}

void fn_path_prefix(sbuf_t *out, const char *url)
{
    /* The path of scheme://host/path?query#fragment, or of a relative URL. */
    const char *p = url;
    const char *sch = strstr(url, "://");
    if (sch)
        p = strchr(sch + 3, '/');
    if (!p)
        return;
    size_t n = strcspn(p, "?#");
    /* Percent-decode as url.URL.Path holds the decoded path. */
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n) {
            char h[3] = {p[i + 1], p[i + 2], 0};
            char *e;
            long v = strtol(h, &e, 16);
            if (e == h + 2) {
                sb_putc(out, (char)v);
                i += 2;
                continue;
            }
        }
        sb_putc(out, p[i]);
    }
}

/* ---------------------------------------------------------------- regex */

static bool backquotable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '`' || (c < ' ' && c != '\t') || c == 0x7F)
            return false;
    }
    size_t w;
    for (size_t i = 0; i < n; i += w)
        if (utf8_decode(s + i, n - i, &w) == 0xFFFD && w == 1)
            return false;
    return true;
}

/* Sets Go's "error parsing regexp: CODE: `EXPR`". */
static int re_err(char *err, size_t ecap, const char *code, const char *e, size_t en)
{
    snprintf(err, ecap, "error parsing regexp: %s: `%.*s`", code, (int)en, e);
    return -1;
}

static bool is_word(char c)
{
    return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '_';
}

/* Copies an escape at s[i] ('\\') into out, RE2 -> PCRE2. Returns bytes used,
 * 0 on error (err set). */
static size_t re_escape(const char *s, size_t n, size_t i, sbuf_t *out, bool in_class,
                        char *err, size_t ecap)
{
    if (i + 1 >= n) {
        re_err(err, ecap, "trailing backslash at end of expression", "", 0);
        return 0;
    }
    char d = s[i + 1];
    if (d >= '1' && d <= '7' && !(i + 2 < n && s[i + 2] >= '0' && s[i + 2] <= '7')) {
        re_err(err, ecap, "invalid escape sequence", s + i, 2);
        return 0;
    }
    if (d >= '0' && d <= '7') {
        size_t j = i + 1;
        unsigned v = 0;
        for (int k = 0; k < 3 && j < n && s[j] >= '0' && s[j] <= '7'; k++, j++)
            v = v * 8 + (unsigned)(s[j] - '0');
        sb_printf(out, "\\x{%x}", v);
        return j - i;
    }
    if (d == '8' || d == '9') {
        re_err(err, ecap, "invalid escape sequence", s + i, 2);
        return 0;
    }
    if (d == 'v') {
        sb_puts(out, "\\x0B");
        return 2;
    }
    if (d == 'x') {
        size_t j = i + 2;
        if (j < n && s[j] == '{') {
            const char *e = memchr(s + j, '}', n - j);
            if (!e) {
                re_err(err, ecap, "invalid escape sequence", s + i, n - i);
                return 0;
            }
            size_t end = (size_t)(e - s) + 1;
            sb_put(out, s + i, end - i);
            return end - i;
        }
        if (j + 1 < n && isxdigit((unsigned char)s[j]) && isxdigit((unsigned char)s[j + 1])) {
            sb_put(out, s + i, 4);
            return 4;
        }
        re_err(err, ecap, "invalid escape sequence", s + i, j + 2 <= n ? 4 : n - i);
        return 0;
    }
    if (d == 'p' || d == 'P') {
        size_t j = i + 2;
        if (j < n && s[j] == '{') {
            const char *e = memchr(s + j, '}', n - j);
            if (!e) {
                re_err(err, ecap, "invalid character class range", s + i, n - i);
                return 0;
            }
            size_t end = (size_t)(e - s) + 1;
            sb_put(out, s + i, end - i);
            return end - i;
        }
        if (j < n) {
            sb_put(out, s + i, 3);
            return 3;
        }
        re_err(err, ecap, "invalid character class range", s + i, n - i);
        return 0;
    }
    if (strchr("afnrtdDsSwW", d) || (!in_class && strchr("bBAz", d))) {
        sb_put(out, s + i, 2);
        return 2;
    }
    if (!in_class && (d == 'Q')) {
        /* \Q...\E: literal text. */
        size_t j = i + 2;
        const char *e = NULL;
        for (size_t k = j; k + 1 < n; k++)
            if (s[k] == '\\' && s[k + 1] == 'E') {
                e = s + k;
                break;
            }
        size_t end = e ? (size_t)(e - s) : n;
        for (size_t k = j; k < end; k++) {
            if (!is_word(s[k]) && (unsigned char)s[k] < 0x80)
                sb_putc(out, '\\');
            sb_putc(out, s[k]);
        }
        return (e ? end + 2 : n) - i;
    }
    if ((unsigned char)d < 0x80 && !is_word(d)) {
        sb_put(out, s + i, 2);
        return 2;
    }
    size_t w;
    utf8_decode(s + i + 1, n - i - 1, &w);
    re_err(err, ecap, "invalid escape sequence", s + i, 1 + w);
    return 0;
}

/* Translates an RE2 pattern to PCRE2 and rejects what RE2 rejects. */
static int re_translate(const char *s, size_t n, sbuf_t *out, char *err, size_t ecap)
{
    int depth = 0;
    bool have_atom = false, after_rep = false;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c == '\\') {
            size_t used = re_escape(s, n, i, out, false, err, ecap);
            if (!used)
                return -1;
            i += used;
            have_atom = true;
            after_rep = false;
            continue;
        }
        if (c == '[') {
            size_t j = i + 1;
            sb_putc(out, '[');
            if (j < n && s[j] == '^')
                sb_putc(out, s[j++]);
            bool first = true;
            for (;;) {
                if (j >= n)
                    return re_err(err, ecap, "missing closing ]", s + i, n - i);
                if (s[j] == ']' && !first)
                    break;
                first = false;
                if (s[j] == '[' && j + 1 < n && s[j + 1] == ':') {
                    const char *e = NULL;
                    for (size_t k = j + 2; k + 1 < n; k++)
                        if (s[k] == ':' && s[k + 1] == ']') {
                            e = s + k;
                            break;
                        }
                    if (e) {
                        size_t end = (size_t)(e - s) + 2;
                        sb_put(out, s + j, end - j);
                        j = end;
                        continue;
                    }
                }
                if (s[j] == '\\') {
                    size_t used = re_escape(s, n, j, out, true, err, ecap);
                    if (!used)
                        return -1;
                    j += used;
                    continue;
                }
                if (s[j] == '[')
                    sb_putc(out, '\\');
                sb_putc(out, s[j]);
                j++;
            }
            sb_putc(out, ']');
            i = j + 1;
            have_atom = true;
            after_rep = false;
            continue;
        }
        if (c == '(') {
            if (i + 1 < n && s[i + 1] == '?') {
                size_t j = i + 2;
                if (j + 1 < n && s[j] == 'P' && s[j + 1] == '<') {
                    const char *e = memchr(s + j, '>', n - j);
                    if (!e)
                        return re_err(err, ecap, "invalid named capture", s + i, n - i);
                    size_t end = (size_t)(e - s) + 1;
                    for (size_t k = j + 2; k + 1 < end; k++)
                        if (!is_word(s[k]))
                            return re_err(err, ecap, "invalid named capture", s + i, end - i);
                    if (end - j - 3 == 0)
                        return re_err(err, ecap, "invalid named capture", s + i, end - i);
                    sb_put(out, s + i, end - i);
                    i = end;
                    depth++;
                    have_atom = false;
                    after_rep = false;
                    continue;
                }
                /* Flags: (?flags) or (?flags:...) with flags in imsU and one '-'. */
                size_t k = j;
                bool neg = false, any = false;
                while (k < n && (strchr("imsU", s[k]) || (s[k] == '-' && !neg))) {
                    if (s[k] == '-')
                        neg = true;
                    else
                        any = true;
                    k++;
                }
                if (k < n && (s[k] == ')' || s[k] == ':') && !(neg && !any) &&
                    !(k > j && s[k - 1] == '-')) {
                    sb_put(out, s + i, k + 1 - i);
                    if (s[k] == ':') {
                        depth++;
                        have_atom = false;
                    }
                    i = k + 1;
                    after_rep = false;
                    continue;
                }
                size_t w;
                utf8_decode(s + j, n - j, &w);
                if (j >= n)
                    return re_err(err, ecap, "missing closing )", s, n);
                if (k < n && s[k] == ':' && k == j) {
                    sb_puts(out, "(?:");
                    i = k + 1;
                    depth++;
                    have_atom = false;
                    after_rep = false;
                    continue;
                }
                return re_err(err, ecap, "invalid or unsupported Perl syntax", s + i,
                              (k < n ? k + 1 : n) - i);
            }
            sb_putc(out, '(');
            depth++;
            i++;
            have_atom = false;
            after_rep = false;
            continue;
        }
        if (c == ')') {
            if (--depth < 0)
                return re_err(err, ecap, "unexpected )", s, n);
            sb_putc(out, ')');
            i++;
            have_atom = true;
            after_rep = false;
            continue;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{') {
            size_t j = i + 1;
            if (c == '{') {
                /* A repeat only when it reads {n}, {n,} or {n,m}; else a literal. */
                size_t k = j;
                long lo = -1, hi = -1;
                while (k < n && s[k] >= '0' && s[k] <= '9')
                    k++;
                bool ok = k > j;
                if (ok) {
                    lo = strtol(s + j, NULL, 10);
                    if (k < n && s[k] == ',') {
                        size_t m = ++k;
                        while (k < n && s[k] >= '0' && s[k] <= '9')
                            k++;
                        hi = k > m ? strtol(s + m, NULL, 10) : -2;
                    } else {
                        hi = lo;
                    }
                    ok = k < n && s[k] == '}';
                }
                if (!ok) {
                    sb_puts(out, "\\{");
                    i++;
                    have_atom = true;
                    after_rep = false;
                    continue;
                }
                j = k + 1;
                if (lo > 1000 || hi > 1000 || (hi >= 0 && hi < lo))
                    return re_err(err, ecap, "invalid repeat count", s + i, j - i);
            }
            if (j < n && s[j] == '?')
                j++;
            if (after_rep)
                return re_err(err, ecap, "invalid nested repetition operator", s + i - 1 - 0,
                              j - i + 1);
            if (!have_atom)
                return re_err(err, ecap, "missing argument to repetition operator", s + i,
                              j - i);
            sb_put(out, s + i, j - i);
            i = j;
            after_rep = true;
            continue;
        }
        if (c == '|') {
            have_atom = false;
            after_rep = false;
            sb_putc(out, '|');
            i++;
            continue;
        }
        if (c == '^' || c == '$') {
            sb_putc(out, c);
            i++;
            have_atom = true;
            after_rep = false;
            continue;
        }
        if (c == '#' || c == ' ') {
            /* Never special in RE2; PCRE2 leaves them alone without (?x). */
        }
        sb_putc(out, c);
        i++;
        have_atom = true;
        after_rep = false;
    }
    if (depth > 0)
        return re_err(err, ecap, "missing closing )", s, n);
    return 0;
}

static pcre2_code *re_compile(const char *re, size_t relen, char *err, size_t ecap)
{
    sbuf_t t;
    sb_init(&t);
    if (re_translate(re, relen, &t, err, ecap)) {
        sb_fini(&t);
        return NULL;
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)(t.p ? t.p : ""), t.n,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                                      PCRE2_NEVER_BACKSLASH_C,
                                  &code, &off, NULL);
    sb_fini(&t);
    if (!c) {
        char msg[256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, ecap, "error parsing regexp: %s: `%.*s`", msg, (int)relen, re);
    }
    return c;
}

static pcre2_match_context *match_ctx(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);
    if (m) {
        pcre2_set_match_limit(m, 1000000);
        pcre2_set_depth_limit(m, 10000);
        pcre2_set_heap_limit(m, 20000);
    }
    return m;
}

int fn_match(const char *re, size_t relen, const char *s, size_t n, bool *ret, char *err,
             size_t ecap)
{
    pcre2_code *c = re_compile(re, relen, err, ecap);
    if (!c)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    pcre2_match_context *mc = match_ctx();
    int rc = -1;
    if (md && mc) {
        int r = pcre2_match(c, (PCRE2_SPTR)s, n, 0, 0, md, mc);
        if (r >= 0 || r == PCRE2_ERROR_NOMATCH) {
            *ret = r >= 0;
            rc = 0;
        } else {
            fail(err, ecap, "regexp match limit exceeded");
        }
    } else {
        fail(err, ecap, "out of memory");
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc;
}

/* Go's Regexp.expand for one match. */
static void expand(sbuf_t *out, const char *t, size_t tn, const char *src, const PCRE2_SIZE *ov,
                   int nsub, pcre2_code *c)
{
    size_t i = 0;
    while (i < tn) {
        const char *d = memchr(t + i, '$', tn - i);
        if (!d) {
            break;
        }
        size_t k = (size_t)(d - t);
        sb_put(out, t + i, k - i);
        i = k + 1;
        if (i < tn && t[i] == '$') {
            sb_putc(out, '$');
            i++;
            continue;
        }
        size_t j = i;
        bool brace = false;
        if (j < tn && t[j] == '{') {
            brace = true;
            j++;
        }
        size_t ns = j;
        while (j < tn) {
            size_t w;
            uint32_t r = utf8_decode(t + j, tn - j, &w);
            bool ok = r == '_' || go_is_letter(r) || go_is_digit(r);
            if (!ok)
                break;
            j += w;
        }
        size_t ne = j;
        bool good = ne > ns;
        if (good && brace) {
            if (j >= tn || t[j] != '}')
                good = false;
            else
                j++;
        }
        if (!good) {
            sb_putc(out, '$');
            continue;
        }
        i = j;
        long num = 0;
        for (size_t q = ns; q < ne; q++) {
            if (t[q] < '0' || t[q] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (t[q] - '0');
        }
        if (t[ns] == '0' && ne - ns > 1)
            num = -1;
        if (num < 0) {
            char name[256];
            size_t nl = ne - ns < sizeof name - 1 ? ne - ns : sizeof name - 1;
            memcpy(name, t + ns, nl);
            name[nl] = 0;
            int g = pcre2_substring_number_from_name(c, (PCRE2_SPTR)name);
            num = g > 0 ? g : -1;
        }
        if (num >= 0 && num < nsub && ov[2 * num] != PCRE2_UNSET)
            sb_put(out, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    sb_put(out, t + i, tn - i);
}

int fn_replace_all(const char *re, size_t relen, const char *repl, size_t repllen,
                   const char *s, size_t n, sbuf_t *out, char *err, size_t ecap)
{
    char cerr[512];
    pcre2_code *c = re_compile(re, relen, cerr, sizeof cerr);
    if (!c) {
        /* regexp.MustCompile panics with this text; template turns it into an error. */
        sbuf_t q;
        sb_init(&q);
        if (backquotable(re, relen)) {
            sb_putc(&q, '`');
            sb_put(&q, re, relen);
            sb_putc(&q, '`');
        } else {
            go_quote(&q, re, relen);
        }
        snprintf(err, ecap, "regexp: Compile(%s): %s", q.p ? q.p : "", cerr);
        sb_fini(&q);
        return -1;
    }
    uint32_t cap = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &cap);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    pcre2_match_context *mc = match_ctx();
    int rc = 0;
    if (!md || !mc) {
        rc = fail(err, ecap, "out of memory");
        goto done;
    }
    size_t last_end = 0, pos = 0;
    while (pos <= n) {
        int r = pcre2_match(c, (PCRE2_SPTR)s, n, pos, 0, md, mc);
        if (r == PCRE2_ERROR_NOMATCH)
            break;
        if (r < 0) {
            rc = fail(err, ecap, "regexp match limit exceeded");
            goto done;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a0 = ov[0], a1 = ov[1];
        if (a1 < a0) {
            /* \K can invert a match; RE2 has no \K, so this cannot happen. */
            a1 = a0;
        }
        sb_put(out, s + last_end, a0 - last_end);
        if (a1 > last_end || a0 == 0)
            expand(out, repl, repllen, s, ov, (int)cap + 1, c);
        last_end = a1;
        size_t w = 0;
        if (pos < n)
            utf8_decode(s + pos, n - pos, &w);
        if (pos + w > a1)
            pos += w;
        else if (pos + 1 > a1)
            pos++;
        else
            pos = a1;
    }
    sb_put(out, s + last_end, n - last_end);
done:
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc;
}
