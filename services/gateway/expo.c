/* Prometheus text format 0.0.4 writer primitives: value spelling, escaping,
 * HELP/TYPE lines and sample prefixes. */
#include "expo.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest digits that read
 * back as v, in %e form when the decimal exponent is < -4 or >= 6 (Go decides
 * with precision 6 for the shortest form), else plain decimal. */
size_t gateway_expo_value(char *out, double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    /* Fast path: small integers, the common case for counters. */
    if (v == (double)(int64_t)v && fabs(v) < 1e6) {
        int64_t i = (int64_t)v;
        if (i == 0 && signbit(v)) {
            memcpy(out, "-0", 3);
            return 2;
        }
        return (size_t)snprintf(out, GATEWAY_EXPO_VALUE_MAX, "%lld", (long long)i);
    }
    char e[40];
    int prec;
    for (prec = 14; prec <= 16; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    if (prec > 16)
        prec = 16;
    /* e is "[-]d.ddddde[+-]XX": split digits and exponent. */
    char digits[24];
    size_t nd = 0;
    const char *p = e;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp < -4 || exp >= 6) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, nd - 1);
            o += nd - 1;
        }
        o += sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exp; i--)
            *o++ = '0';
        memcpy(o, digits, nd);
        o += nd;
    } else {
        /* exp in 0..5: integer part is digits[0..exp]. */
        for (int i = 0; i <= exp; i++)
            *o++ = (size_t)i < nd ? digits[i] : '0';
        if (nd > (size_t)exp + 1) {
            *o++ = '.';
            memcpy(o, digits + exp + 1, nd - (size_t)exp - 1);
            o += nd - (size_t)exp - 1;
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t gateway_expo_bound(char *out, double v)
{
    return gateway_expo_value(out, v);
}

void gateway_expo_escape_help(gateway_buf_t *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        if (*s == '\\' || *s == '\n') {
            gateway_buf_append(b, run, (size_t)(s - run));
            gateway_buf_puts(b, *s == '\\' ? "\\\\" : "\\n");
            run = s + 1;
        }
    }
    gateway_buf_append(b, run, (size_t)(s - run));
}

void gateway_expo_escape_label_value(gateway_buf_t *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        if (*s == '\\' || *s == '\n' || *s == '"') {
            gateway_buf_append(b, run, (size_t)(s - run));
            gateway_buf_puts(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n");
            run = s + 1;
        }
    }
    gateway_buf_append(b, run, (size_t)(s - run));
}

void gateway_expo_family(gateway_buf_t *b, const char *name, const char *type, const char *help)
{
    gateway_buf_puts(b, "# HELP ");
    gateway_buf_puts(b, name);
    gateway_buf_putc(b, ' ');
    gateway_expo_escape_help(b, help ? help : "");
    gateway_buf_puts(b, "\n# TYPE ");
    gateway_buf_puts(b, name);
    gateway_buf_putc(b, ' ');
    gateway_buf_puts(b, type);
    gateway_buf_putc(b, '\n');
}

void gateway_expo_series_prefix(gateway_buf_t *b, const char *name, const char *suffix,
                                const mm_label_t *labels, size_t n, const char *extra_name,
                                const char *extra_value)
{
    gateway_buf_puts(b, name);
    if (suffix)
        gateway_buf_puts(b, suffix);
    if (n || extra_name) {
        gateway_buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                gateway_buf_putc(b, ',');
            gateway_buf_puts(b, labels[i].name);
            gateway_buf_append(b, "=\"", 2);
            gateway_expo_escape_label_value(b, labels[i].value);
            gateway_buf_putc(b, '"');
        }
        if (extra_name) {
            if (n)
                gateway_buf_putc(b, ',');
            gateway_buf_puts(b, extra_name);
            gateway_buf_append(b, "=\"", 2);
            gateway_expo_escape_label_value(b, extra_value);
            gateway_buf_putc(b, '"');
        }
        gateway_buf_putc(b, '}');
    }
    gateway_buf_putc(b, ' ');
}
