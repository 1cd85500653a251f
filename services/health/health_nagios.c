/* Nagios plugin output and exit status (see health_nagios.h). Written to take
 * garbage: any byte sequence gives a bounded message and only well-formed
 * perfdata items. */
#include "health_nagios.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies [s, s+n) into dst, trimmed, with control bytes and NULs as '?'. */
static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return;
    while (n > 0 && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    dst[o] = '\0';
}

/* Parses a number at the start of [*p, end); NAN and no advance when none. */
static double parse_num(const char **p, const char *end)
{
    char buf[64];
    size_t n = 0;
    const char *s = *p;
    while (s + n < end && n + 1 < sizeof(buf) &&
           (strchr("0123456789+-.eE", s[n]) != NULL) && s[n] != '\0')
        n++;
    if (n == 0)
        return NAN;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *e;
    double v = strtod(buf, &e);
    if (e == buf)
        return NAN;
    *p = s + (e - buf);
    return v;
}

/* A threshold field "10", "10:", "~:10", "@10:20"; we keep a plain number and
 * leave ranges as NAN. Returns false for garbage. */
static bool parse_field(const char *s, const char *end, double *ret)
{
    *ret = NAN;
    if (s == end)
        return true;
    const char *p = s;
    double v = parse_num(&p, end);
    if (p == end && !isnan(v)) {
        *ret = v;
        return true;
    }
    for (p = s; p < end; p++)
        if (!strchr("0123456789+-.eE:~@", *p) || *p == '\0')
            return false;
    return true;
}

static bool parse_item(const char *s, const char *end, health_perf_t *pf)
{
    memset(pf, 0, sizeof(*pf));
    pf->warn = pf->crit = pf->min = pf->max = NAN;
    const char *p = s;
    char label[64];
    size_t ln = 0;
    if (p < end && *p == '\'') {
        p++;
        for (;;) {
            if (p >= end)
                return false;
            if (*p == '\'') {
                if (p + 1 < end && p[1] == '\'') {
                    if (ln + 1 < sizeof(label))
                        label[ln++] = '\'';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (ln + 1 < sizeof(label))
                label[ln++] = *p;
            p++;
        }
    } else {
        while (p < end && *p != '=') {
            if (ln + 1 < sizeof(label))
                label[ln++] = *p;
            p++;
        }
    }
    if (ln == 0 || p >= end || *p != '=')
        return false;
    p++;
    label[ln] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < ln && o + 1 < sizeof(pf->label); i++) {
        unsigned char ch = (unsigned char)label[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        pf->label[o++] = ok ? (char)ch : '_';
    }
    pf->label[o] = '\0';

    /* Value and unit up to the first ';'. */
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *vend = semi ? semi : end;
    if (vend - p == 1 && *p == 'U') {
        pf->value = NAN;
    } else {
        const char *q = p;
        pf->value = parse_num(&q, vend);
        if (isnan(pf->value) || q == p)
            return false;
        size_t un = (size_t)(vend - q);
        if (un >= sizeof(pf->uom))
            return false;
        for (size_t i = 0; i < un; i++)
            if (!strchr("%sumBKMGTbc", q[i]) || q[i] == '\0')
                return false;
        memcpy(pf->uom, q, un);
        pf->uom[un] = '\0';
    }
    double *fields[4] = { &pf->warn, &pf->crit, &pf->min, &pf->max };
    p = semi;
    for (int f = 0; f < 4 && p && p < end; f++) {
        p++;
        const char *fe = memchr(p, ';', (size_t)(end - p));
        if (!fe)
            fe = end;
        if (!parse_field(p, fe, fields[f]))
            return false;
        p = fe < end ? fe : NULL;
    }
    return true;
}

/* Parses the space-separated perfdata in [s, end). */
static size_t parse_perf(const char *s, const char *end, health_perf_t *perf, size_t cap,
                         size_t n, size_t *bad)
{
    const char *p = s;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= end)
            break;
        const char *q = p;
        /* A quoted label may hold spaces. */
        if (*q == '\'') {
            const char *r = q + 1;
            bool closed = false;
            while (r < end) {
                if (*r == '\'' && r + 1 < end && r[1] == '\'') {
                    r += 2;
                    continue;
                }
                if (*r++ == '\'') {
                    closed = true;
                    break;
                }
            }
            /* An unterminated quote spoils only its own word. */
            if (closed)
                q = r;
        }
        while (q < end && *q != ' ' && *q != '\t' && *q != '\r')
            q++;
        health_perf_t item;
        if (parse_item(p, q, &item)) {
            if (n < cap)
                perf[n++] = item;
        } else {
            (*bad)++;
        }
        p = q;
    }
    return n;
}

size_t health_nagios_parse(const char *out, size_t len, char *msg, size_t msg_cap,
                           health_perf_t *perf, size_t perf_cap, size_t *ret_bad)
{
    size_t bad = 0, n = 0;
    if (msg_cap)
        msg[0] = '\0';
    if (!out)
        len = 0;
    const char *end = out + len;
    const char *nl = len ? memchr(out, '\n', len) : NULL;
    const char *l1end = nl ? nl : end;
    const char *bar = len ? memchr(out, '|', (size_t)(l1end - out)) : NULL;
    copy_text(msg, msg_cap, out, (size_t)((bar ? bar : l1end) - out));
    if (bar)
        n = parse_perf(bar + 1, l1end, perf, perf_cap, n, &bad);
    /* Long text follows on later lines; perfdata may continue after a '|'
     * there (the plugin API's multi-line form). Only the first '|' counts. */
    if (nl) {
        const char *rest = nl + 1;
        const char *bar2 = memchr(rest, '|', (size_t)(end - rest));
        if (bar2) {
            const char *p = bar2 + 1;
            while (p < end) {
                const char *e = memchr(p, '\n', (size_t)(end - p));
                if (!e)
                    e = end;
                n = parse_perf(p, e, perf, perf_cap, n, &bad);
                p = e + 1;
            }
        }
    }
    if (ret_bad)
        *ret_bad = bad;
    return n;
}

health_level_t health_nagios_level(long status, int sig, bool timed_out, char *why, size_t cap)
{
    if (timed_out) {
        snprintf(why, cap, "timed out");
        return HEALTH_CRITICAL;
    }
    if (sig != 0) {
        snprintf(why, cap, "killed by signal %d (%s)", sig, strsignal(sig));
        return HEALTH_CRITICAL;
    }
    switch (status) {
    case 0:
        snprintf(why, cap, "OK");
        return HEALTH_HEALTHY;
    case 1:
        snprintf(why, cap, "WARNING");
        return HEALTH_DEGRADED;
    case 2:
        snprintf(why, cap, "CRITICAL");
        return HEALTH_CRITICAL;
    case 3:
        snprintf(why, cap, "unknown");
        return HEALTH_UNHEALTHY;
    default:
        snprintf(why, cap, "exit status %ld is not a plugin status", status);
        return HEALTH_CRITICAL;
    }
}
