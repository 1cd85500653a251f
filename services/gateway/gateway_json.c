/* The gateway's JSON writer: escaping, UTF-8 repair and comma placement.
 * Parsing goes through jansson; this file only writes. */
#include "gateway_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void gateway_jw_init(gateway_jw_t *w, gateway_buf_t *buf)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
}

/* Writes the separator a new value needs at the current position. */
static void value_prefix(gateway_jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth])
        gateway_buf_putc(w->buf, ',');
    w->need_comma[w->depth] = true;
}

static void jw_open(gateway_jw_t *w, char c)
{
    value_prefix(w);
    if (w->depth >= GATEWAY_JW_MAX_DEPTH) {
        w->buf->failed = true;
        return;
    }
    gateway_buf_putc(w->buf, c);
    w->need_comma[++w->depth] = false;
}

static void jw_close(gateway_jw_t *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    w->after_key = false;
    gateway_buf_putc(w->buf, c);
}

void gateway_jw_obj_begin(gateway_jw_t *w) { jw_open(w, '{'); }
void gateway_jw_obj_end(gateway_jw_t *w) { jw_close(w, '}'); }
void gateway_jw_arr_begin(gateway_jw_t *w) { jw_open(w, '['); }
void gateway_jw_arr_end(gateway_jw_t *w) { jw_close(w, ']'); }

void gateway_jw_key(gateway_jw_t *w, const char *k)
{
    if (w->need_comma[w->depth])
        gateway_buf_putc(w->buf, ',');
    w->need_comma[w->depth] = true;
    gateway_buf_putc(w->buf, '"');
    gateway_json_escape(w->buf, k, strlen(k));
    gateway_buf_append(w->buf, "\":", 2);
    w->after_key = true;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void gateway_json_escape(gateway_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0;     /* start of the pending run of bytes copied as is */
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        const char *esc = NULL;
        char u[7];
        size_t l = 1;
        if (c >= 0x80) {
            l = utf8_len(p + i, n - i);
            if (l == 0) {
                esc = "\\ufffd";
                l = 1;
            } else if (l == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
                esc = p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            }
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\n') {
            esc = "\\n";
        } else if (c == '\r') {
            esc = "\\r";
        } else if (c == '\t') {
            esc = "\\t";
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
            u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
            u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
            esc = u;
        }
        if (esc) {
            gateway_buf_append(b, s + run, i - run);
            gateway_buf_puts(b, esc);
            i += l;
            run = i;
        } else {
            i += l;
        }
    }
    gateway_buf_append(b, s + run, n - run);
}

void gateway_jw_strn(gateway_jw_t *w, const char *s, size_t n)
{
    value_prefix(w);
    gateway_buf_putc(w->buf, '"');
    gateway_json_escape(w->buf, s, n);
    gateway_buf_putc(w->buf, '"');
}

void gateway_jw_str(gateway_jw_t *w, const char *s)
{
    if (!s) {
        gateway_jw_null(w);
        return;
    }
    gateway_jw_strn(w, s, strlen(s));
}

void gateway_jw_num(gateway_jw_t *w, double v)
{
    value_prefix(w);
    if (!isfinite(v)) {
        gateway_buf_append(w->buf, "null", 4);
        return;
    }
    if (v == (double)(int64_t)v && fabs(v) < 9e15) {
        gateway_buf_i64(w->buf, (int64_t)v);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    /* Prefer the shortest text that reads back as the same double. */
    for (int p = 15; p <= 16; p++) {
        char t2[40];
        int m = snprintf(t2, sizeof(t2), "%.*g", p, v);
        if (strtod(t2, NULL) == v) {
            memcpy(tmp, t2, (size_t)m + 1);
            n = m;
            break;
        }
    }
    gateway_buf_append(w->buf, tmp, (size_t)n);
}

void gateway_jw_i64(gateway_jw_t *w, int64_t v)
{
    value_prefix(w);
    gateway_buf_i64(w->buf, v);
}

void gateway_jw_u64(gateway_jw_t *w, uint64_t v)
{
    value_prefix(w);
    gateway_buf_u64(w->buf, v);
}

void gateway_jw_bool(gateway_jw_t *w, bool v)
{
    value_prefix(w);
    gateway_buf_puts(w->buf, v ? "true" : "false");
}

void gateway_jw_null(gateway_jw_t *w)
{
    value_prefix(w);
    gateway_buf_append(w->buf, "null", 4);
}

void gateway_jw_raw(gateway_jw_t *w, const char *json, size_t n)
{
    value_prefix(w);
    gateway_buf_append(w->buf, json, n);
}

size_t gateway_iso_time(char *out, size_t cap, int64_t t_ms)
{
    time_t secs = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
    int ms = (int)(t_ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return n < 0 ? 0 : (size_t)n;
}

void gateway_jw_time(gateway_jw_t *w, int64_t t_ms)
{
    char tmp[40];
    size_t n = gateway_iso_time(tmp, sizeof(tmp), t_ms);
    value_prefix(w);
    gateway_buf_putc(w->buf, '"');
    gateway_buf_append(w->buf, tmp, n);
    gateway_buf_putc(w->buf, '"');
}

bool gateway_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_len(p + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}
