/* The request-level entry: splits a request into every value an attacker
 * controls (path, query and form parameters, cookies, the headers worth
 * inspecting, JSON string leaves and keys, multipart fields, or a body
 * whole) and judges each in its location. JSON is read by a bounded
 * scanner of our own so the whole call stays allocation-free and linear. */
#include <errno.h>
#include <string.h>

#include "detect_int.h"

typedef struct {
    const mm_detect_config_t *cfg;
    mm_detect_scratch_t judge;   /* scratch handed to mm_detect_value */
    uint8_t *unesc;              /* buffer for unescaped JSON strings */
    size_t unesc_cap;
    mm_detect_finding_t *findings;
    size_t max, n_found, n_values;
    mm_detect_verdict_t *worst;
    bool have_worst;
} req_t;

static void judge(req_t *r, mm_detect_loc_t loc, const char *name, size_t name_len,
                  const void *v, size_t len, unsigned extra_flags)
{
    mm_detect_verdict_t vd;
    if (len == 0)
        return;
    if (mm_detect_value(r->cfg, v, len, loc, NULL, &r->judge, &vd) != 0)
        return;
    vd.decodings |= extra_flags;
    r->n_values++;
    if (r->worst && (!r->have_worst || vd.score > r->worst->score)) {
        *r->worst = vd;
        r->have_worst = true;
    }
    if (vd.cls == MM_DETECT_NONE)
        return;
    if (r->n_found < r->max) {
        mm_detect_finding_t *f = &r->findings[r->n_found];
        f->loc = loc;
        f->name = name;
        f->name_len = name_len;
        f->verdict = vd;
    }
    r->n_found++;
}

/* Parameter names are judged only when they hold more than name characters. */
static bool plain_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (!mm_detect_isalnum(c) && c != '_' && c != '-' && c != '.' && c != '[' && c != ']')
            return false;
    }
    return true;
}

/* name=value pairs separated by sep (query strings, form bodies, cookies). */
static void split_pairs(req_t *r, const char *s, size_t n, char sep, mm_detect_loc_t loc)
{
    size_t i = 0;
    while (i < n) {
        const char *e = memchr(s + i, sep, n - i);
        size_t end = e ? (size_t)(e - s) : n;
        size_t a = i;
        while (sep == ';' && a < end && s[a] == ' ')
            a++;
        const char *eq = memchr(s + a, '=', end - a);
        if (eq) {
            size_t nl = (size_t)(eq - (s + a));
            if (!plain_name(s + a, nl))
                judge(r, loc, s + a, nl, s + a, nl, 0);
            judge(r, loc, s + a, nl, eq + 1, (size_t)(s + end - eq - 1), 0);
        } else {
            judge(r, loc, s + a, end - a, s + a, end - a, 0);
        }
        i = end + 1;
    }
}

static bool ieq(const char *s, size_t n, const char *lower)
{
    return mm_detect_word_eq((const uint8_t *)s, n, lower);
}

/* Headers that carry no attacker-chosen text worth judging. */
static bool skip_header(const char *name, size_t n)
{
    static const char *const skip[] = {
        "accept", "accept-encoding", "accept-language", "authorization", "cache-control",
        "connection", "content-length", "content-type", "dnt", "host", "if-match",
        "if-modified-since", "if-none-match", "if-unmodified-since", "pragma", "priority",
        "proxy-authorization", "te", "upgrade-insecure-requests",
    };
    if (n >= 4 && ieq(name, 4, "sec-"))
        return true;
    return mm_detect_in_set((const uint8_t *)name, n, skip, sizeof skip / sizeof skip[0]);
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 32;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Unescapes the JSON string body s[0..n) into out (capacity >= n). */
static size_t json_unescape(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i];
            continue;
        }
        uint8_t e = s[++i];
        switch (e) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'u': {
            uint32_t v = 0;
            int k;
            for (k = 0; k < 4 && i + 1 + (size_t)k < n && hexv(s[i + 1 + (size_t)k]) >= 0; k++)
                v = v * 16 + (uint32_t)hexv(s[i + 1 + (size_t)k]);
            if (k < 4) {
                out[o++] = '\\';
                out[o++] = 'u';
                break;
            }
            i += 4;
            /* Six input bytes become at most three here (a lone surrogate
             * is kept as its replacement), so the text never grows. */
            if (v < 0x80) {
                if (v)
                    out[o++] = (uint8_t)v;
            } else if (v < 0x800) {
                out[o++] = (uint8_t)(0xC0 | (v >> 6));
                out[o++] = (uint8_t)(0x80 | (v & 0x3F));
            } else {
                out[o++] = (uint8_t)(0xE0 | (v >> 12));
                out[o++] = (uint8_t)(0x80 | ((v >> 6) & 0x3F));
                out[o++] = (uint8_t)(0x80 | (v & 0x3F));
            }
            break;
        }
        default: out[o++] = e; break;
        }
    }
    return o;
}

/* Judges every string of a JSON text: keys that are not plain names, and all
 * string leaves. Returns false when the text is not JSON-shaped (the caller
 * then judges it whole). One pass, no recursion, no allocation. */
static bool scan_json(req_t *r, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n && mm_detect_isspace(s[i]))
        i++;
    if (i >= n || (s[i] != '{' && s[i] != '['))
        return false;
    while (i < n) {
        uint8_t c = s[i];
        if (c != '"') {
            if (!(mm_detect_isspace(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' ||
                  c == ':' || c == '-' || c == '+' || c == '.' || mm_detect_isalnum(c)))
                return false;
            i++;
            continue;
        }
        size_t st = ++i;
        bool esc = false;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                esc = true;
                i++;
            }
            i++;
        }
        if (i >= n)
            return false;
        size_t len = i - st;
        i++;
        size_t j = i;
        while (j < n && mm_detect_isspace(s[j]))
            j++;
        bool key = j < n && s[j] == ':';
        const uint8_t *v = s + st;
        if (esc && len <= r->unesc_cap) {
            len = json_unescape(s + st, len, r->unesc);
            v = r->unesc;
        }
        if (key && plain_name((const char *)v, len))
            continue;
        judge(r, MM_DETECT_LOC_JSON, key ? (const char *)s + st : NULL, key ? i - 1 - st : 0, v,
              len, esc ? MM_DETECT_DEC_JSON : 0);
    }
    return true;
}

/* multipart/form-data: judges each part's content under its field name. */
static bool scan_multipart(req_t *r, const char *ct, const char *b, size_t n)
{
    const char *bp = strstr(ct, "boundary=");
    if (!bp)
        return false;
    bp += 9;
    size_t bl = 0;
    bool quoted = *bp == '"';
    if (quoted)
        bp++;
    while (bp[bl] && bp[bl] != ';' && bp[bl] != '"' && bp[bl] != ' ' && bl < 70)
        bl++;
    if (bl == 0)
        return false;
    char delim[80] = "--";
    memcpy(delim + 2, bp, bl);
    size_t dl = bl + 2;
    const char *p = memmem(b, n, delim, dl);
    if (!p)
        return false;
    while (p) {
        const char *hs = p + dl;
        size_t rest = (size_t)(b + n - hs);
        if (rest >= 2 && hs[0] == '-' && hs[1] == '-')
            break;
        const char *he = memmem(hs, rest, "\r\n\r\n", 4);
        size_t hsep = 4;
        if (!he) {
            he = memmem(hs, rest, "\n\n", 2);
            hsep = 2;
        }
        if (!he)
            break;
        const char *body = he + hsep;
        const char *next = memmem(body, (size_t)(b + n - body), delim, dl);
        const char *be = next ? next : b + n;
        if (be - body >= 2 && be[-2] == '\r' && be[-1] == '\n')
            be -= 2;
        else if (be > body && be[-1] == '\n')
            be -= 1;
        const char *name = memmem(hs, (size_t)(he - hs), "name=\"", 6);
        size_t name_len = 0;
        if (name) {
            name += 6;
            const char *q = memchr(name, '"', (size_t)(he - name));
            name_len = q ? (size_t)(q - name) : 0;
        }
        judge(r, MM_DETECT_LOC_FORM, name, name_len, body, (size_t)(be - body), 0);
        p = next;
    }
    return true;
}

int mm_detect_request(const mm_detect_config_t *cfg, const mm_detect_request_t *req,
                      mm_detect_scratch_t *scratch, mm_detect_finding_t *findings,
                      size_t max, size_t *n_found, size_t *n_values,
                      mm_detect_verdict_t *worst)
{
    if (!cfg || !req || !scratch || !n_found || !n_values || (max && !findings) ||
        (!req->target && req->target_len) || (!req->headers && req->n_headers) ||
        (!req->body && req->body_len))
        return -EINVAL;
    if (!scratch->buf || scratch->cap < 256)
        return -ENOBUFS;
    req_t r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    /* A third of the scratch unescapes JSON strings; the rest judges values. */
    r.unesc_cap = scratch->cap / 3;
    r.unesc = scratch->buf;
    r.judge.buf = scratch->buf + r.unesc_cap;
    r.judge.cap = scratch->cap - r.unesc_cap;
    r.findings = findings;
    r.max = max;
    r.worst = worst;
    if (worst)
        memset(worst, 0, sizeof *worst);

    const char *t = req->target;
    size_t tl = req->target_len;
    if (t) {
        const char *hash = memchr(t, '#', tl);
        if (hash)
            tl = (size_t)(hash - t);
        const char *q = memchr(t, '?', tl);
        size_t pl = q ? (size_t)(q - t) : tl;
        judge(&r, MM_DETECT_LOC_PATH, NULL, 0, t, pl, 0);
        if (q)
            split_pairs(&r, q + 1, tl - pl - 1, '&', MM_DETECT_LOC_QUERY);
    }
    const char *ct = req->content_type;
    size_t ct_len = ct ? strlen(ct) : 0;
    for (size_t h = 0; h < req->n_headers; h++) {
        const mm_detect_header_t *hd = &req->headers[h];
        if (!hd->name || (!hd->value && hd->value_len))
            continue;
        if (ieq(hd->name, hd->name_len, "content-type") && !ct) {
            ct = hd->value;
            ct_len = hd->value_len;
        }
        if (ieq(hd->name, hd->name_len, "cookie")) {
            split_pairs(&r, hd->value, hd->value_len, ';', MM_DETECT_LOC_COOKIE);
            continue;
        }
        if (skip_header(hd->name, hd->name_len))
            continue;
        judge(&r, MM_DETECT_LOC_HEADER, hd->name, hd->name_len, hd->value, hd->value_len, 0);
    }
    if (req->body && req->body_len) {
        char ctl[128];
        size_t k = 0;
        for (; ct && k < ct_len && k + 1 < sizeof ctl; k++)
            ctl[k] = (char)mm_detect_lower((uint8_t)ct[k]);
        ctl[k] = 0;
        bool done = false;
        if (strstr(ctl, "application/x-www-form-urlencoded")) {
            split_pairs(&r, req->body, req->body_len, '&', MM_DETECT_LOC_FORM);
            done = true;
        } else if (strstr(ctl, "json")) {
            done = scan_json(&r, (const uint8_t *)req->body, req->body_len);
        } else if (strstr(ctl, "multipart/form-data")) {
            /* boundary is case-sensitive: use the original text */
            char orig[128];
            size_t m = ct_len < sizeof orig - 1 ? ct_len : sizeof orig - 1;
            memcpy(orig, ct, m);
            orig[m] = 0;
            done = scan_multipart(&r, orig, req->body, req->body_len);
        }
        if (!done)
            judge(&r, MM_DETECT_LOC_BODY, NULL, 0, req->body, req->body_len, 0);
    }
    *n_found = r.n_found;
    *n_values = r.n_values;
    return 0;
}
