/* Prometheus text format 0.0.4 writer primitives: value spelling, escaping,
 * HELP/TYPE lines and sample prefixes. */
#include "expo.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes sign, digits (no leading or trailing zeros) and the decimal
 * exponent of the first digit the way Go's 'g' shortest form lays them out:
 * %e style when the exponent is < -4 or >= 6 (Go decides with precision 6
 * for the shortest form), plain decimal otherwise. */
static size_t layout(char *out, bool neg, const char *digits, size_t nd, int exp)
{
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
        int e = exp < 0 ? -exp : exp;
        *o++ = 'e';
        *o++ = exp < 0 ? '-' : '+';
        if (e >= 100)
            *o++ = (char)('0' + e / 100);
        *o++ = (char)('0' + e / 10 % 10);
        *o++ = (char)('0' + e % 10);
    } else if (exp < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > exp; i--)
            *o++ = '0';
        memcpy(o, digits, nd);
        o += nd;
    } else {
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

/* Decimal digits of m (> 0) into d; returns how many, trailing zeros kept. */
static size_t u64_digits(uint64_t m, char *d)
{
    char tmp[24];
    size_t n = 0;
    while (m) {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    return n;
}

/* 25 significant digits of a (> 0, finite), exactly as glibc prints them. */
static void exact_digits(double a, char d[25], int *ret_exp)
{
    char e[48];
    snprintf(e, sizeof(e), "%.24e", a);
    size_t n = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            d[n++] = *p;
    *ret_exp = atoi(p + 1);
}

static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };

/* Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest digits that read
 * back as v. Integers and short decimals (most counters, gauges, bucket
 * counts) take exact fast paths; other values try 15, 16 then 17 digits. */
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
    bool neg = signbit(v);
    double a = fabs(v);
    char digits[32];
    size_t nd;
    if (a == 0) {
        memcpy(out, neg ? "-0" : "0", neg ? 3 : 2);
        return neg ? 2 : 1;
    }
    if (a < 1e15 && a == (double)(uint64_t)a) {
        nd = u64_digits((uint64_t)a, digits);
        int exp = (int)nd - 1;
        while (nd > 1 && digits[nd - 1] == '0')
            nd--;
        return layout(out, neg, digits, nd, exp);
    }
    if (a >= 1e-4 && a < 1e6) {
        /* v is the double nearest to m / 10^k exactly when the correctly
         * rounded quotient equals it; the smallest such k gives the
         * shortest digits (10^-k is wider than an ulp here, so m is unique). */
        for (int k = 1; k <= 9; k++) {
            double m = nearbyint(a * p10[k]);
            if (m / p10[k] == a) {
                nd = u64_digits((uint64_t)m, digits);
                return layout(out, neg, digits, nd, (int)nd - 1 - k);
            }
        }
    }
    /* Other values: glibc's exact conversion to 25 digits, rounded to 15,
     * 16 and 17 digits (half to even on an exact tie, as Go); the first that
     * reads back as v is the shortest, since the nearest candidate of a
     * length is the only one of that length that can. (A long double
     * estimate instead of snprintf was tried: slower, because of powl, and
     * it picks a different 17-digit neighbour now and then.) */
    char d25[25];
    int exp;
    exact_digits(a, d25, &exp);
    /* Subnormals carry fewer than 15 digits of precision, so their shortest
     * form can be shorter than the 15-digit rounding shows. */
    size_t first = a < DBL_MIN ? 1 : 15;
    for (size_t want = first; want <= 17; want++) {
        char d[18];
        int dexp = exp;
        memcpy(d, d25, want);
        bool up = d25[want] > '5';
        if (d25[want] == '5') {
            bool tie = true;
            for (size_t i = want + 1; i < sizeof(d25); i++)
                if (d25[i] != '0')
                    tie = false;
            up = !tie || ((d25[want - 1] - '0') & 1);
        }
        if (up) {
            size_t i = want;
            while (i > 0 && d[i - 1] == '9')
                d[--i] = '0';
            if (i == 0) {
                memmove(d + 1, d, want - 1);
                d[0] = '1';
                dexp++;
            } else {
                d[i - 1]++;
            }
        }
        size_t len = want;
        while (len > 1 && d[len - 1] == '0')
            len--;
        char buf[48];
        layout(buf, false, d, len, dexp);
        /* 17 correctly rounded digits always read back. */
        if (want == 17 || strtod(buf, NULL) == a) {
            nd = len;
            memcpy(digits, d, nd);
            exp = dexp;
            break;
        }
    }
    return layout(out, neg, digits, nd, exp);
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
