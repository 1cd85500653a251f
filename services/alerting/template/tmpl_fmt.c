/* Go's fmt and strconv output as text/template produces it: Sprint, Sprintln,
 * Sprintf with flags, width and precision, shortest float formatting, Quote,
 * time.Time.String(). Also the arena and the growing string the engine uses. */
#include "tmpl_internal.h"
#include "tmpl_unicode.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

struct arena_block {
    arena_block_t *next;
    size_t used, cap;
    max_align_t data[];
};

void arena_init(arena_t *a)
{
    memset(a, 0, sizeof *a);
}

void arena_fini(arena_t *a)
{
    arena_block_t *b = a->head;
    while (b) {
        arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        if (a->limit && a->total + cap > a->limit) {
            a->over_limit = true;
            if (a->oom)
                longjmp(*a->oom, 1);
            return NULL;
        }
        b = malloc(sizeof *b + cap);
        if (!b) {
            if (a->oom)
                longjmp(*a->oom, 1);
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        a->total += cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

/* ---------------------------------------------------------------- sbuf */

void sb_init(sbuf_t *b)
{
    memset(b, 0, sizeof *b);
}

void sb_fini(sbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->limit && b->n + n > b->limit) {
        b->failed = b->over_limit = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void sb_puts(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_putc(sbuf_t *b, char c)
{
    sb_put(b, &c, 1);
}

void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

void sb_utf8(sbuf_t *b, uint32_t r)
{
    char c[4];
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        r = 0xFFFD;
    if (r < 0x80) {
        c[0] = (char)r;
        sb_put(b, c, 1);
    } else if (r < 0x800) {
        c[0] = (char)(0xC0 | (r >> 6));
        c[1] = (char)(0x80 | (r & 0x3F));
        sb_put(b, c, 2);
    } else if (r < 0x10000) {
        c[0] = (char)(0xE0 | (r >> 12));
        c[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        c[2] = (char)(0x80 | (r & 0x3F));
        sb_put(b, c, 3);
    } else {
        c[0] = (char)(0xF0 | (r >> 18));
        c[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        c[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        c[3] = (char)(0x80 | (r & 0x3F));
        sb_put(b, c, 4);
    }
}

/* ---------------------------------------------------------------- UTF-8 */

uint32_t utf8_decode(const char *str, size_t n, size_t *w)
{
    const unsigned char *s = (const unsigned char *)str;
    *w = 1;
    if (n == 0) {
        *w = 0;
        return 0xFFFD;
    }
    unsigned c = s[0];
    if (c < 0x80)
        return c;
    if (c < 0xC2 || c > 0xF4)
        return 0xFFFD;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0xFFFD;
        *w = 2;
        return ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0xFFFD;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0xFFFD;
        if (c == 0xED && s[1] > 0x9F)
            return 0xFFFD;
        *w = 3;
        return ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0xFFFD;
    if (c == 0xF0 && s[1] < 0x90)
        return 0xFFFD;
    if (c == 0xF4 && s[1] > 0x8F)
        return 0xFFFD;
    *w = 4;
    return ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

static int uclass(uint32_t r)
{
    size_t lo = 0, hi = tmpl_nuclass;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r < tmpl_uclass[mid].lo)
            hi = mid;
        else if (r > tmpl_uclass[mid].hi)
            lo = mid + 1;
        else
            return tmpl_uclass[mid].bits;
    }
    return 0;
}

static uint32_t umap(const tmpl_umap_t *m, size_t n, uint32_t r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r < m[mid].from)
            hi = mid;
        else if (r > m[mid].from)
            lo = mid + 1;
        else
            return m[mid].to;
    }
    return r;
}

/* unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space. */
bool go_is_print(uint32_t r)
{
    if (r < 0x80)
        return r >= 0x20 && r < 0x7F;
    return (uclass(r) & U_PRINT) != 0;
}

bool go_is_letter(uint32_t r)
{
    if (r < 0x80)
        return (r | 32) >= 'a' && (r | 32) <= 'z';
    return (uclass(r) & U_LETTER) != 0;
}

bool go_is_digit(uint32_t r)
{
    if (r < 0x80)
        return r >= '0' && r <= '9';
    return (uclass(r) & U_DIGIT) != 0;
}

uint32_t go_to_upper(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'a' && r <= 'z') ? r - 32 : r;
    return umap(tmpl_uupper, tmpl_nuupper, r);
}

uint32_t go_to_lower(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'A' && r <= 'Z') ? r + 32 : r;
    return umap(tmpl_ulower, tmpl_nulower, r);
}

uint32_t go_to_title(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'a' && r <= 'z') ? r - 32 : r;
    return umap(tmpl_utitle, tmpl_nutitle, r);
}

static size_t rune_count(const char *s, size_t n)
{
    size_t c = 0, w;
    for (size_t i = 0; i < n; i += w) {
        utf8_decode(s + i, n - i, &w);
        c++;
    }
    return c;
}

/* ---------------------------------------------------------------- quoting */

static void quote_impl(sbuf_t *b, const char *s, size_t n, char q, bool ascii)
{
    static const char hx[] = "0123456789abcdef";
    sb_putc(b, q);
    size_t w;
    for (size_t i = 0; i < n; i += w) {
        uint32_t r = utf8_decode(s + i, n - i, &w);
        if (r == 0xFFFD && w == 1) {
            char e[4] = {'\\', 'x', hx[((unsigned char)s[i]) >> 4], hx[s[i] & 15]};
            sb_put(b, e, 4);
            continue;
        }
        if (r == (uint32_t)q || r == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)r);
            continue;
        }
        if (ascii ? (r < 0x80 && go_is_print(r)) : go_is_print(r)) {
            sb_put(b, s + i, w);
            continue;
        }
        switch (r) {
        case '\a': sb_puts(b, "\\a"); continue;
        case '\b': sb_puts(b, "\\b"); continue;
        case '\f': sb_puts(b, "\\f"); continue;
        case '\n': sb_puts(b, "\\n"); continue;
        case '\r': sb_puts(b, "\\r"); continue;
        case '\t': sb_puts(b, "\\t"); continue;
        case '\v': sb_puts(b, "\\v"); continue;
        default: break;
        }
        if (r < ' ' || r == 0x7F) {
            char e[4] = {'\\', 'x', hx[r >> 4], hx[r & 15]};
            sb_put(b, e, 4);
        } else if (r < 0x10000) {
            sb_printf(b, "\\u%04x", (unsigned)r);
        } else {
            sb_printf(b, "\\U%08x", (unsigned)r);
        }
    }
    sb_putc(b, q);
}

void go_quote(sbuf_t *b, const char *s, size_t n)
{
    quote_impl(b, s, n, '"', false);
}

static bool can_backquote(const char *s, size_t n)
{
    size_t w;
    for (size_t i = 0; i < n; i += w) {
        uint32_t r = utf8_decode(s + i, n - i, &w);
        if (r == 0xFFFD && w == 1)
            return false;
        if (r == '`' || r == 0xFEFF)
            return false;
        if (r < ' ' && r != '\t')
            return false;
        if (r == 0x7F)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- floats */

/* Shortest decimal digits that read back as v (v finite, > 0). */
static void shortest_digits(double v, char *digs, int *nd, int *exp10)
{
    char tmp[40];
    for (int p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (strtod(tmp, NULL) == v || p == 16) {
            int k = 0;
            char *e = strchr(tmp, 'e');
            for (char *c = tmp; c < e; c++)
                if (*c >= '0' && *c <= '9')
                    digs[k++] = *c;
            while (k > 1 && digs[k - 1] == '0')
                k--;
            digs[k] = 0;
            *nd = k;
            *exp10 = atoi(e + 1);
            return;
        }
    }
}

static void put_exp(sbuf_t *b, char e, int x)
{
    sb_putc(b, e);
    sb_putc(b, x < 0 ? '-' : '+');
    if (x < 0)
        x = -x;
    if (x < 10)
        sb_printf(b, "0%d", x);
    else
        sb_printf(b, "%d", x);
}

/* Writes digits d (nd of them, value 0.d * 10^(x+1)) in %e form with prec
 * digits after the point. */
static void fmt_e_digits(sbuf_t *b, const char *d, int nd, int x, int prec, char e)
{
    sb_putc(b, d[0]);
    if (prec > 0) {
        sb_putc(b, '.');
        for (int i = 1; i <= prec; i++)
            sb_putc(b, i < nd ? d[i] : '0');
    }
    put_exp(b, e, x);
}

static void fmt_f_digits(sbuf_t *b, const char *d, int nd, int x, int prec)
{
    int dp = x + 1; /* digits before the point */
    if (dp > 0) {
        for (int i = 0; i < dp; i++)
            sb_putc(b, i < nd ? d[i] : '0');
    } else {
        sb_putc(b, '0');
    }
    if (prec > 0) {
        sb_putc(b, '.');
        for (int i = 0; i < prec; i++) {
            int j = dp + i;
            sb_putc(b, (j >= 0 && j < nd) ? d[j] : '0');
        }
    }
}

void go_format_float(sbuf_t *b, double v, char fmt, int prec)
{
    if (isnan(v)) {
        sb_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        sb_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (prec >= 0) {
        char f[8];
        if (prec > 1000)
            prec = 1000;
        snprintf(f, sizeof f, "%%.*%c", fmt);
        /* The buffer is large enough for any double with prec <= 1000. */
        char *tmp = malloc(1400);
        if (!tmp) {
            b->failed = true;
            return;
        }
        snprintf(tmp, 1400, f, prec, v);
        sb_puts(b, tmp);
        free(tmp);
        return;
    }
    if (signbit(v))
        sb_putc(b, '-');
    double a = fabs(v);
    char d[40];
    int nd, x;
    if (a == 0) {
        d[0] = '0';
        d[1] = 0;
        nd = 1;
        x = 0;
    } else {
        shortest_digits(a, d, &nd, &x);
    }
    switch (fmt) {
    case 'e':
    case 'E':
        fmt_e_digits(b, d, nd, x, nd - 1, fmt);
        break;
    case 'f':
        fmt_f_digits(b, d, nd, x, nd - (x + 1) > 0 ? nd - (x + 1) : 0);
        break;
    default: /* g, G */
        /* With the shortest precision Go decides as if the precision were 6. */
        if (x < -4 || x >= 6)
            fmt_e_digits(b, d, nd, x, nd - 1, fmt == 'G' ? 'E' : 'e');
        else
            fmt_f_digits(b, d, nd, x, nd - (x + 1) > 0 ? nd - (x + 1) : 0);
        break;
    }
}

/* Go's %x/%X for floats: hexadecimal mantissa, exponent with two digits. */
static void format_hex_float(sbuf_t *b, double v, int prec, bool upper)
{
    if (isnan(v) || isinf(v)) {
        go_format_float(b, v, 'g', -1);
        return;
    }
    char tmp[64];
    if (prec >= 0)
        snprintf(tmp, sizeof tmp, upper ? "%.*A" : "%.*a", prec > 20 ? 20 : prec, v);
    else
        snprintf(tmp, sizeof tmp, upper ? "%A" : "%a", v);
    char *p = strchr(tmp, upper ? 'P' : 'p');
    if (!p) {
        sb_puts(b, tmp);
        return;
    }
    /* Rounding may carry into a leading 2 ("0x2p+03"); Go renormalises that to
     * "0x1p+04" with an all-zero fraction. */
    char *x = strstr(tmp, upper ? "0X" : "0x");
    int exp = atoi(p + 1);
    if (x && x[2] == '2') {
        x[2] = '1';
        for (char *q = x + 3; q < p; q++)
            if (*q != '.')
                *q = '0';
        exp++;
    }
    sb_put(b, tmp, (size_t)(p - tmp) + 1);
    sb_putc(b, exp < 0 ? '-' : '+');
    sb_printf(b, "%02d", exp < 0 ? -exp : exp);
}

/* ---------------------------------------------------------------- time */

typedef struct {
    int64_t year;
    int month, day, hour, min, sec, ms, yday, wday;
} civil_t;

static civil_t civil(int64_t ms)
{
    civil_t c;
    int64_t secs = ms / 1000, msr = ms % 1000;
    if (msr < 0) {
        msr += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    /* Civil date from days since 1970-01-01 (proleptic Gregorian). */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    if (c.month <= 2)
        y++;
    c.year = y;
    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    c.yday = cum[c.month - 1] + c.day + (leap && c.month > 2 ? 1 : 0);
    c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    c.hour = (int)(sod / 3600);
    c.min = (int)(sod / 60 % 60);
    c.sec = (int)(sod % 60);
    c.ms = (int)msr;
    return c;
}

static void put_year(sbuf_t *b, int64_t y)
{
    if (y < 0)
        sb_printf(b, "-%04lld", (long long)-y);
    else
        sb_printf(b, "%04lld", (long long)y);
}

void go_time_string(sbuf_t *b, int64_t ms)
{
    civil_t c = civil(ms);
    put_year(b, c.year);
    sb_printf(b, "-%02d-%02d %02d:%02d:%02d", c.month, c.day, c.hour, c.min, c.sec);
    if (c.ms) {
        char f[8];
        snprintf(f, sizeof f, "%03d", c.ms);
        int k = 3;
        while (k > 0 && f[k - 1] == '0')
            k--;
        f[k] = 0;
        sb_printf(b, ".%s", f);
    }
    sb_puts(b, " +0000 UTC");
}

static bool has(const char *s, size_t n, size_t i, const char *p)
{
    size_t k = strlen(p);
    return n - i >= k && memcmp(s + i, p, k) == 0;
}

/* time.Time.Format for a UTC time with millisecond precision. */
void go_time_format(sbuf_t *b, int64_t ms, const char *l, size_t n)
{
    static const char *months[] = {"January", "February", "March", "April", "May", "June",
                                   "July", "August", "September", "October", "November",
                                   "December"};
    static const char *days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
                                 "Friday", "Saturday"};
    civil_t c = civil(ms);
    int h12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
    for (size_t i = 0; i < n;) {
        if (has(l, n, i, "January")) { sb_puts(b, months[c.month - 1]); i += 7; continue; }
        if (has(l, n, i, "Jan")) { sb_put(b, months[c.month - 1], 3); i += 3; continue; }
        if (has(l, n, i, "Monday")) { sb_puts(b, days[c.wday]); i += 6; continue; }
        if (has(l, n, i, "Mon")) { sb_put(b, days[c.wday], 3); i += 3; continue; }
        if (has(l, n, i, "MST")) { sb_puts(b, "UTC"); i += 3; continue; }
        if (has(l, n, i, "01")) { sb_printf(b, "%02d", c.month); i += 2; continue; }
        if (has(l, n, i, "02")) { sb_printf(b, "%02d", c.day); i += 2; continue; }
        if (has(l, n, i, "03")) { sb_printf(b, "%02d", h12); i += 2; continue; }
        if (has(l, n, i, "04")) { sb_printf(b, "%02d", c.min); i += 2; continue; }
        if (has(l, n, i, "05")) { sb_printf(b, "%02d", c.sec); i += 2; continue; }
        if (has(l, n, i, "06")) {
            sb_printf(b, "%02d", (int)(((c.year % 100) + 100) % 100));
            i += 2;
            continue;
        }
        if (has(l, n, i, "002")) { sb_printf(b, "%03d", c.yday); i += 3; continue; }
        if (has(l, n, i, "15")) { sb_printf(b, "%02d", c.hour); i += 2; continue; }
        if (has(l, n, i, "2006")) { put_year(b, c.year); i += 4; continue; }
        if (has(l, n, i, "__2")) { sb_printf(b, "%3d", c.yday); i += 3; continue; }
        if (has(l, n, i, "_2") && !has(l, n, i, "_2006")) { sb_printf(b, "%2d", c.day); i += 2; continue; }
        if (has(l, n, i, "1")) { sb_printf(b, "%d", c.month); i += 1; continue; }
        if (has(l, n, i, "2")) { sb_printf(b, "%d", c.day); i += 1; continue; }
        if (has(l, n, i, "3")) { sb_printf(b, "%d", h12); i += 1; continue; }
        if (has(l, n, i, "4")) { sb_printf(b, "%d", c.min); i += 1; continue; }
        if (has(l, n, i, "5")) { sb_printf(b, "%d", c.sec); i += 1; continue; }
        if (has(l, n, i, "PM")) { sb_puts(b, c.hour >= 12 ? "PM" : "AM"); i += 2; continue; }
        if (has(l, n, i, "pm")) { sb_puts(b, c.hour >= 12 ? "pm" : "am"); i += 2; continue; }
        static const struct { const char *p, *utc; } zones[] = {
            {"-07:00:00", "+00:00:00"}, {"-070000", "+000000"}, {"-07:00", "+00:00"},
            {"-0700", "+0000"}, {"-07", "+00"}, {"Z07:00:00", "Z"}, {"Z070000", "Z"},
            {"Z07:00", "Z"}, {"Z0700", "Z"}, {"Z07", "Z"},
        };
        bool zone = false;
        for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++)
            if (has(l, n, i, zones[z].p)) {
                sb_puts(b, zones[z].utc);
                i += strlen(zones[z].p);
                zone = true;
                break;
            }
        if (zone)
            continue;
        if ((l[i] == '.' || l[i] == ',') && i + 1 < n && (l[i + 1] == '0' || l[i + 1] == '9')) {
            char ch = l[i + 1];
            size_t j = i + 1;
            while (j < n && l[j] == ch)
                j++;
            if (!(j < n && l[j] >= '0' && l[j] <= '9')) {
                int digits = (int)(j - i - 1);
                char frac[24];
                long long ns = (long long)c.ms * 1000000;
                snprintf(frac, sizeof frac, "%09lld", ns);
                int k = digits > 9 ? 9 : digits;
                if (ch == '9') {
                    while (k > 0 && frac[k - 1] == '0')
                        k--;
                    if (k > 0) {
                        sb_putc(b, l[i]);
                        sb_put(b, frac, (size_t)k);
                    }
                } else {
                    sb_putc(b, l[i]);
                    sb_put(b, frac, (size_t)k);
                }
                i = j;
                continue;
            }
        }
        sb_putc(b, l[i]);
        i++;
    }
}

int64_t go_time_field(int64_t ms, int which)
{
    civil_t c = civil(ms);
    switch (which) {
    case 0: return c.year;
    case 1: return c.month;
    case 2: return c.day;
    case 3: return c.hour;
    case 4: return c.min;
    case 5: return c.sec;
    case 6: return c.yday;
    default: return (int64_t)c.ms * 1000000;
    }
}

/* ---------------------------------------------------------------- fmt */

typedef struct {
    bool minus, plus, sharp, space, zero;
    bool wid_present, prec_present;
    bool plus_v;
    int wid, prec;
} fflags_t;

static void write_padding(sbuf_t *b, int n, bool zero)
{
    char chunk[256];
    memset(chunk, zero ? '0' : ' ', sizeof chunk);
    while (n > 0 && !b->failed) {
        int k = n < (int)sizeof chunk ? n : (int)sizeof chunk;
        sb_put(b, chunk, (size_t)k);
        n -= k;
    }
}

/* fmt.pad: pads s to the width, counting runes. */
static void pad(sbuf_t *b, const fflags_t *f, const char *s, size_t n)
{
    if (!f->wid_present || f->wid == 0) {
        sb_put(b, s, n);
        return;
    }
    int w = f->wid - (int)rune_count(s, n);
    if (w <= 0) {
        sb_put(b, s, n);
        return;
    }
    if (f->minus) {
        sb_put(b, s, n);
        write_padding(b, w, false);
    } else {
        write_padding(b, w, f->zero);
        sb_put(b, s, n);
    }
}

static void pad_sb(sbuf_t *b, const fflags_t *f, sbuf_t *s)
{
    pad(b, f, s->p ? s->p : "", s->n);
    sb_fini(s);
}

static size_t truncate_runes(const fflags_t *f, const char *s, size_t n)
{
    if (!f->prec_present)
        return n;
    size_t w, i = 0;
    for (int k = 0; k < f->prec && i < n; k++) {
        utf8_decode(s + i, n - i, &w);
        i += w;
    }
    return i;
}

static void fmt_string(sbuf_t *b, const fflags_t *f, const char *s, size_t n, int verb)
{
    sbuf_t t;
    sb_init(&t);
    switch (verb) {
    case 'v':
    case 's':
        pad(b, f, s, truncate_runes(f, s, n));
        return;
    case 'q':
        n = truncate_runes(f, s, n);
        if (f->sharp && can_backquote(s, n)) {
            sb_putc(&t, '`');
            sb_put(&t, s, n);
            sb_putc(&t, '`');
        } else {
            quote_impl(&t, s, n, '"', f->plus);
        }
        pad_sb(b, f, &t);
        return;
    case 'x':
    case 'X': {
        const char *hx = verb == 'x' ? "0123456789abcdef" : "0123456789ABCDEF";
        size_t len = n;
        if (f->prec_present && (size_t)f->prec < len)
            len = (size_t)f->prec;
        for (size_t i = 0; i < len; i++) {
            if (f->space && i > 0)
                sb_putc(&t, ' ');
            if (f->sharp && (f->space || i == 0))
                sb_puts(&t, verb == 'x' ? "0x" : "0X");
            sb_putc(&t, hx[((unsigned char)s[i]) >> 4]);
            sb_putc(&t, hx[s[i] & 15]);
        }
        pad_sb(b, f, &t);
        return;
    }
    default:
        break;
    }
}

static void fmt_bool(sbuf_t *b, const fflags_t *f, bool v)
{
    pad(b, f, v ? "true" : "false", v ? 4 : 5);
}

static void fmt_integer(sbuf_t *b, const fflags_t *f, int64_t sv, bool is_unsigned, int base,
                        int verb)
{
    uint64_t u = is_unsigned ? (uint64_t)sv : (sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv);
    bool neg = !is_unsigned && sv < 0;
    char buf[80];
    int i = (int)sizeof buf;
    const char *digits = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    int prec = 0;
    bool zero_pad = false;
    if (f->prec_present) {
        prec = f->prec;
        if (prec > 60)
            prec = 60;
        if (prec == 0 && u == 0) {
            fflags_t g = *f;
            g.zero = false;
            write_padding(b, f->wid_present ? f->wid : 0, false);
            (void)g;
            return;
        }
    } else if (f->zero && f->wid_present && !f->minus) {
        zero_pad = true;
        prec = f->wid;
        if (prec > 60)
            prec = 60;
        if (neg || f->plus || f->space)
            prec--;
    }
    do {
        buf[--i] = digits[u % (uint64_t)base];
        u /= (uint64_t)base;
    } while (u);
    while (i > 0 && (int)sizeof buf - i < prec)
        buf[--i] = '0';
    if (f->sharp) {
        switch (base) {
        case 2: buf[--i] = 'b'; buf[--i] = '0'; break;
        case 8: if (buf[i] != '0') buf[--i] = '0'; break;
        case 16: buf[--i] = (char)verb; buf[--i] = '0'; break;
        default: break;
        }
    }
    if (verb == 'O') {
        buf[--i] = 'o';
        buf[--i] = '0';
    }
    if (neg)
        buf[--i] = '-';
    else if (f->plus)
        buf[--i] = '+';
    else if (f->space)
        buf[--i] = ' ';
    fflags_t g = *f;
    if (zero_pad)
        g.zero = false;
    pad(b, &g, buf + i, sizeof buf - (size_t)i);
}

static void fmt_float(sbuf_t *b, const fflags_t *f, double v, int verb, int prec)
{
    if (f->prec_present)
        prec = f->prec;
    sbuf_t num;
    sb_init(&num);
    if (verb == 'x' || verb == 'X')
        format_hex_float(&num, v, prec, verb == 'X');
    else
        go_format_float(&num, v, verb == 'F' ? 'f' : (char)verb, prec);
    if (num.failed || !num.p) {
        sb_fini(&num);
        return;
    }
    /* Normalise to an explicit sign in front. */
    char *s = malloc(num.n + 2);
    if (!s) {
        sb_fini(&num);
        return;
    }
    size_t n;
    if (num.p[0] == '-' || num.p[0] == '+') {
        memcpy(s, num.p, num.n);
        n = num.n;
    } else {
        s[0] = '+';
        memcpy(s + 1, num.p, num.n);
        n = num.n + 1;
    }
    sb_fini(&num);
    if (f->space && s[0] == '+' && !f->plus)
        s[0] = ' ';
    if (s[1] == 'I' || s[1] == 'N') {
        fflags_t g = *f;
        g.zero = false;
        if (s[1] == 'N' && !f->space && !f->plus)
            pad(b, &g, s + 1, n - 1);
        else
            pad(b, &g, s, n);
        free(s);
        return;
    }
    if (f->plus || s[0] != '+') {
        if (f->zero && f->wid_present && f->wid > (int)n && !f->minus) {
            sb_putc(b, s[0]);
            write_padding(b, f->wid - (int)n, true);
            sb_put(b, s + 1, n - 1);
        } else {
            pad(b, f, s, n);
        }
    } else {
        pad(b, f, s + 1, n - 1);
    }
    free(s);
}

static void print_value(sbuf_t *b, fflags_t *f, const val_t *v, int verb, int depth);

static void bad_verb(sbuf_t *b, fflags_t *f, const val_t *v, int verb)
{
    sb_puts(b, "%!");
    sb_utf8(b, (uint32_t)verb);
    sb_putc(b, '(');
    if (v->k == V_INVALID) {
        sb_puts(b, "<nil>");
    } else {
        sb_puts(b, val_type_name(v));
        sb_putc(b, '=');
        print_value(b, f, v, 'v', 0);
    }
    sb_putc(b, ')');
}

static void fmt_labels(sbuf_t *b, fflags_t *f, const lmap_t *m, int verb, int depth)
{
    sb_puts(b, "map[");
    for (size_t i = 0; m && i < m->n; i++) {
        if (i)
            sb_putc(b, ' ');
        val_t k = {.k = V_STRING, .u.s = {m->kv[i].name, strlen(m->kv[i].name)}};
        val_t x = {.k = V_STRING, .u.s = {m->kv[i].value, m->vlen[i]}};
        print_value(b, f, &k, verb, depth + 1);
        sb_putc(b, ':');
        print_value(b, f, &x, verb, depth + 1);
    }
    sb_putc(b, ']');
}

static void fmt_pointer(sbuf_t *b, fflags_t *f, const void *p, const val_t *v, int verb)
{
    if (verb == 'v' || verb == 'p') {
        if (!p) {
            pad(b, f, "<nil>", 5);
            return;
        }
        char tmp[32];
        /* Go prints a real address here; ours is as stable as it gets. */
        int n = snprintf(tmp, sizeof tmp, "0x%llx", (unsigned long long)(uintptr_t)p);
        pad(b, f, tmp, (size_t)n);
        return;
    }
    if (verb == 'x' || verb == 'X' || verb == 'd' || verb == 'o' || verb == 'b') {
        fflags_t g = *f;
        g.sharp = !g.sharp;
        fmt_integer(b, &g, (int64_t)(uintptr_t)p, true, verb == 'd' ? 10 : verb == 'o' ? 8 : verb == 'b' ? 2 : 16, verb);
        return;
    }
    bad_verb(b, f, v, verb);
}

static void print_value(sbuf_t *b, fflags_t *f, const val_t *v, int verb, int depth)
{
    if (verb == 'T') {
        fflags_t g = *f;
        const char *t = v->k == V_INVALID ? "<nil>" : val_type_name(v);
        fmt_string(b, &g, t, strlen(t), 's');
        return;
    }
    switch (v->k) {
    case V_INVALID:
        if (depth > 0 || verb == 'v')
            pad(b, f, "<nil>", 5);
        else
            bad_verb(b, f, v, verb);
        return;
    case V_BOOL:
        if (verb == 't' || verb == 'v')
            fmt_bool(b, f, v->u.b);
        else
            bad_verb(b, f, v, verb);
        return;
    case V_INT: {
        bool uns = v->sub == SUB_UINT8;
        switch (verb) {
        case 'v':
        case 'd': fmt_integer(b, f, v->u.i, uns, 10, verb); return;
        case 'b': fmt_integer(b, f, v->u.i, uns, 2, verb); return;
        case 'o':
        case 'O': fmt_integer(b, f, v->u.i, uns, 8, verb); return;
        case 'x':
        case 'X': fmt_integer(b, f, v->u.i, uns, 16, verb); return;
        case 'c': {
            sbuf_t t;
            sb_init(&t);
            int64_t r = v->u.i;
            sb_utf8(&t, (r < 0 || r > 0x10FFFF) ? 0xFFFD : (uint32_t)r);
            pad_sb(b, f, &t);
            return;
        }
        case 'q': {
            sbuf_t t, c;
            sb_init(&t);
            sb_init(&c);
            int64_t r = v->u.i;
            sb_utf8(&c, (r < 0 || r > 0x10FFFF) ? 0xFFFD : (uint32_t)r);
            if (c.p && strcmp(c.p, "'") == 0)
                sb_puts(&t, "'\\''");
            else
                quote_impl(&t, c.p ? c.p : "", c.n, '\'', f->plus);
            sb_fini(&c);
            pad_sb(b, f, &t);
            return;
        }
        case 'U': {
            sbuf_t t;
            sb_init(&t);
            int64_t r = v->u.i;
            sb_printf(&t, "U+%04llX", (unsigned long long)r);
            if (f->sharp && r >= 0 && r <= 0x10FFFF && go_is_print((uint32_t)r)) {
                sb_puts(&t, " '");
                sb_utf8(&t, (uint32_t)r);
                sb_putc(&t, '\'');
            }
            pad_sb(b, f, &t);
            return;
        }
        default: bad_verb(b, f, v, verb); return;
        }
    }
    case V_FLOAT:
        switch (verb) {
        case 'v': fmt_float(b, f, v->u.f, 'g', -1); return;
        case 'b':
        case 'g':
        case 'G':
        case 'x':
        case 'X': fmt_float(b, f, v->u.f, verb, -1); return;
        case 'f':
        case 'e':
        case 'E':
        case 'F': fmt_float(b, f, v->u.f, verb, 6); return;
        default: bad_verb(b, f, v, verb); return;
        }
    case V_STRING:
        if (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X')
            fmt_string(b, f, v->u.s.s, v->u.s.n, verb);
        else
            bad_verb(b, f, v, verb);
        return;
    case V_TIME: {
        if (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X') {
            sbuf_t t;
            sb_init(&t);
            go_time_string(&t, v->u.ms);
            fmt_string(b, f, t.p ? t.p : "", t.n, verb);
            sb_fini(&t);
        } else {
            bad_verb(b, f, v, verb);
        }
        return;
    }
    case V_LABELS:
        fmt_labels(b, f, v->u.m, verb, depth);
        return;
    case V_ARGS:
        sb_puts(b, "map[");
        for (size_t i = 0; v->u.a && i < v->u.a->n; i++) {
            if (i)
                sb_putc(b, ' ');
            val_t k = {.k = V_STRING, .u.s = {v->u.a->keys[i], strlen(v->u.a->keys[i])}};
            print_value(b, f, &k, verb, depth + 1);
            sb_putc(b, ':');
            print_value(b, f, &v->u.a->vals[i], verb, depth + 1);
        }
        sb_putc(b, ']');
        return;
    case V_SAMPLE:
        if (depth == 0 && v->u.smp) {
            sb_puts(b, v->sub == SUB_DEREF ? "{" : "&{");
            if (f->plus_v)
                sb_puts(b, "Labels:");
            fmt_labels(b, f, &v->u.smp->labels, verb, depth + 1);
            sb_putc(b, ' ');
            if (f->plus_v)
                sb_puts(b, "Value:");
            val_t x = {.k = V_FLOAT, .u.f = v->u.smp->value};
            print_value(b, f, &x, verb, depth + 1);
            sb_putc(b, '}');
            return;
        }
        fmt_pointer(b, f, v->u.smp, v, verb);
        return;
    case V_VECTOR:
        sb_putc(b, '[');
        for (size_t i = 0; v->u.vec && i < v->u.vec->n; i++) {
            if (i)
                sb_putc(b, ' ');
            val_t x = {.k = V_SAMPLE, .u.smp = v->u.vec->items[i]};
            print_value(b, f, &x, verb, depth + 1);
        }
        sb_putc(b, ']');
        return;
    case V_DATA: {
        const tdata_t *d = v->u.data;
        static const char *names[] = {"Labels:", "ExternalLabels:", "ExternalURL:", "Value:"};
        sb_putc(b, '{');
        for (int k = 0; k < 4; k++) {
            if (k)
                sb_putc(b, ' ');
            if (f->plus_v)
                sb_puts(b, names[k]);
            val_t x;
            memset(&x, 0, sizeof x);
            switch (k) {
            case 0: x.k = V_LABELS; x.u.m = &d->labels; break;
            case 1: x.k = V_LABELS; x.u.m = &d->ext; break;
            case 2: x.k = V_STRING; x.u.s.s = d->url; x.u.s.n = d->urllen; break;
            default: x.k = V_FLOAT; x.u.f = d->value; break;
            }
            print_value(b, f, &x, verb, depth + 1);
        }
        sb_putc(b, '}');
        return;
    }
    default:
        return;
    }
}

/* Prints one argument at depth 0 as fmt's printArg does. */
static void print_arg(sbuf_t *b, fflags_t *f, const val_t *v, int verb)
{
    if (v->k == V_INVALID) {
        if (verb == 'T' || verb == 'v')
            pad(b, f, "<nil>", 5);
        else
            bad_verb(b, f, v, verb);
        return;
    }
    print_value(b, f, v, verb, 0);
}

void go_sprint(sbuf_t *b, const val_t *args, size_t n, bool ln)
{
    fflags_t f;
    memset(&f, 0, sizeof f);
    bool prev_string = false;
    for (size_t i = 0; i < n; i++) {
        bool is_string = args[i].k == V_STRING;
        if (i > 0 && (ln || (!is_string && !prev_string)))
            sb_putc(b, ' ');
        print_arg(b, &f, &args[i], 'v');
        prev_string = is_string;
    }
    if (ln)
        sb_putc(b, '\n');
}

static bool parse_num(const char *s, size_t end, size_t *i, int *num)
{
    if (*i >= end || s[*i] < '0' || s[*i] > '9')
        return false;
    int v = 0;
    while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
        if (v > 1000000) {
            /* Go gives up on a crazy long number and skips the rest of the format. */
            *i = end;
            *num = 0;
            return false;
        }
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    *num = v;
    return true;
}

/* fmt's argNumber: an optional [n] index. Returns the new arg number. */
static size_t arg_number(const char *s, size_t end, size_t *i, size_t argnum, size_t nargs,
                         bool *ok, bool *found)
{
    *found = false;
    *ok = true;
    if (*i >= end || s[*i] != '[')
        return argnum;
    for (size_t j = *i + 1; j < end; j++) {
        if (s[j] == ']') {
            size_t k = *i + 1;
            int v = 0;
            bool good = k < j;
            for (; k < j; k++) {
                if (s[k] < '0' || s[k] > '9' || v > 1000000) {
                    good = false;
                    break;
                }
                v = v * 10 + (s[k] - '0');
            }
            *i = j + 1;
            *found = true;
            if (!good || v < 1 || (size_t)v > nargs) {
                *ok = false;
                return argnum;
            }
            return (size_t)v - 1;
        }
    }
    *ok = false;
    *i += 1;
    return argnum;
}

void go_sprintf(sbuf_t *b, const char *s, size_t end, const val_t *a, size_t n)
{
    size_t argnum = 0;
    bool reordered = false, good_argnum = true;
    size_t i = 0;
    while (i < end) {
        size_t lasti = i;
        while (i < end && s[i] != '%')
            i++;
        if (i > lasti)
            sb_put(b, s + lasti, i - lasti);
        if (i >= end)
            break;
        i++;
        fflags_t f;
        memset(&f, 0, sizeof f);
        for (; i < end; i++) {
            char c = s[i];
            if (c == '#')
                f.sharp = true;
            else if (c == '0')
                f.zero = !f.minus;
            else if (c == '+')
                f.plus = true;
            else if (c == '-') {
                f.minus = true;
                f.zero = false;
            } else if (c == ' ')
                f.space = true;
            else
                break;
        }
        bool found;
        argnum = arg_number(s, end, &i, argnum, n, &good_argnum, &found);
        bool after_index = found;
        if (found)
            reordered = true;
        if (i < end && s[i] == '*') {
            i++;
            if (argnum < n && a[argnum].k == V_INT) {
                int64_t w = a[argnum].u.i;
                f.wid_present = true;
                if (w < -1000000 || w > 1000000) {
                    f.wid_present = false;
                    sb_puts(b, "%!(BADWIDTH)");
                } else {
                    f.wid = (int)w;
                    if (w < 0) {
                        f.minus = true;
                        f.zero = false;
                        f.wid = (int)-w;
                    }
                }
            } else {
                sb_puts(b, "%!(BADWIDTH)");
            }
            argnum++;
            after_index = false;
        } else {
            f.wid_present = parse_num(s, end, &i, &f.wid);
            if (after_index && f.wid_present)
                good_argnum = false;
        }
        if (i + 1 <= end && i < end && s[i] == '.') {
            i++;
            if (after_index)
                good_argnum = false;
            argnum = arg_number(s, end, &i, argnum, n, &good_argnum, &found);
            if (found)
                reordered = true;
            if (i < end && s[i] == '*') {
                i++;
                if (argnum < n && a[argnum].k == V_INT && a[argnum].u.i >= 0 &&
                    a[argnum].u.i <= 1000000) {
                    f.prec = (int)a[argnum].u.i;
                    f.prec_present = true;
                } else {
                    if (argnum < n && a[argnum].k == V_INT && a[argnum].u.i < 0) {
                        f.prec_present = false;
                    } else {
                        sb_puts(b, "%!(BADPREC)");
                    }
                }
                argnum++;
                after_index = false;
            } else {
                f.prec_present = parse_num(s, end, &i, &f.prec);
                if (!f.prec_present) {
                    f.prec = 0;
                    f.prec_present = true;
                }
            }
        }
        if (!after_index) {
            argnum = arg_number(s, end, &i, argnum, n, &good_argnum, &found);
            if (found)
                reordered = true;
        }
        if (i >= end) {
            sb_puts(b, "%!(NOVERB)");
            break;
        }
        size_t w;
        uint32_t verb = utf8_decode(s + i, end - i, &w);
        i += w;
        if (verb == '%') {
            sb_putc(b, '%');
            continue;
        }
        if (!good_argnum) {
            sb_puts(b, "%!");
            sb_utf8(b, verb);
            sb_puts(b, "(BADINDEX)");
            continue;
        }
        if (argnum >= n) {
            sb_puts(b, "%!");
            sb_utf8(b, verb);
            sb_puts(b, "(MISSING)");
            continue;
        }
        if (verb == 'v') {
            if (f.plus) {
                f.plus = false;
                f.plus_v = true;
            }
            if (f.sharp)
                f.sharp = false; /* %#v (Go syntax) is approximated by %v */
        }
        if (verb == 'w')
            verb = 'v';
        print_arg(b, &f, &a[argnum], (int)verb);
        argnum++;
    }
    if (!reordered && argnum < n) {
        sb_puts(b, "%!(EXTRA ");
        fflags_t f;
        memset(&f, 0, sizeof f);
        for (size_t k = argnum; k < n; k++) {
            if (k > argnum)
                sb_puts(b, ", ");
            if (a[k].k == V_INVALID) {
                sb_puts(b, "<nil>");
            } else {
                sb_puts(b, val_type_name(&a[k]));
                sb_putc(b, '=');
                print_arg(b, &f, &a[k], 'v');
            }
        }
        sb_putc(b, ')');
    }
}
