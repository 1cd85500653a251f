/* The per-value verdict: decode, run each enabled class tokeniser on the
 * decoded text, apply the location's sensitivity, pick the class with the
 * highest score at or above the threshold, and write readable evidence. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

bool mm_detect_word_eq(const uint8_t *s, size_t n, const char *lower)
{
    size_t i = 0;
    for (; i < n; i++) {
        if (!lower[i] || mm_detect_lower(s[i]) != (uint8_t)lower[i])
            return false;
    }
    return lower[i] == 0;
}

bool mm_detect_in_set(const uint8_t *s, size_t n, const char *const *set, size_t count)
{
    size_t lo = 0, hi = count;
    if (n == 0 || n > 40)
        return false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *w = set[mid];
        size_t j = 0;
        int c = 0;
        for (; j < n && w[j]; j++) {
            c = mm_detect_lower(s[j]) - (uint8_t)w[j];
            if (c)
                break;
        }
        if (c == 0)
            c = (j < n) ? 1 : (w[j] ? -1 : 0);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

void mm_detect_tok_push(char *buf, size_t cap, char c)
{
    size_t l = strlen(buf);
    if (l + 1 >= cap) {
        memmove(buf, buf + 1, l - 1);
        l--;
    }
    buf[l] = c;
    buf[l + 1] = 0;
}

void mm_detect_config_init(mm_detect_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->threshold = 50;
    for (int i = 0; i < MM_DETECT_LOC_COUNT; i++)
        cfg->sensitivity[i] = 100;
    for (int i = 1; i < MM_DETECT_NCLASS; i++)
        cfg->enabled[i] = true;
    cfg->max_len = 4u << 20;
    cfg->max_passes = 4;
}

size_t mm_detect_scratch_size(size_t max_len)
{
    return 2 * max_len + 64;
}

const char *mm_detect_class_name(mm_detect_class_t cls)
{
    switch (cls) {
    case MM_DETECT_SQLI: return "sqli";
    case MM_DETECT_XSS: return "xss";
    case MM_DETECT_CMDI: return "cmdi";
    case MM_DETECT_TRAVERSAL: return "traversal";
    default: return "none";
    }
}

const char *mm_detect_loc_name(mm_detect_loc_t loc)
{
    static const char *const names[MM_DETECT_LOC_COUNT] = {
        "query", "path", "header", "cookie", "form", "body", "json",
    };
    return (unsigned)loc < MM_DETECT_LOC_COUNT ? names[loc] : "unknown";
}

char *mm_detect_decodings_str(unsigned d, char *buf, size_t cap)
{
    static const char *const names[] = {
        "url", "url-multi", "plus", "%u", "html", "escape", "overlong-utf8", "fullwidth",
        "bad-utf8", "nul", "sql-comment", "shell-quote", "json", "invisible",
    };
    size_t o = 0;
    if (cap == 0)
        return buf;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(d & (1u << i)))
            continue;
        int w = snprintf(buf + o, cap - o, "%s%s", o ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
    if (o == 0)
        snprintf(buf, cap, "none");
    return buf;
}

/* Copies text around pos into out, escaping what is not printable ASCII. */
static void fragment(const uint8_t *s, size_t n, size_t pos, char *out, size_t cap)
{
    size_t from = pos > 16 ? pos - 16 : 0;
    size_t o = 0;
    if (from > n)
        from = n;
    for (size_t i = from; i < n && o + 5 < cap; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            int w = snprintf(out + o, cap - o, "\\x%02x", c);
            if (w < 0 || (size_t)w >= cap - o)
                break;
            o += (size_t)w;
        }
    }
    out[o] = 0;
}

/* A class score after the location's sensitivity. */
static int scaled(int score, int sens)
{
    int sc = score * sens / 100;
    return sc > 100 ? 100 : sc;
}

int mm_detect_value(const mm_detect_config_t *cfg, const void *data, size_t len,
                    mm_detect_loc_t loc, const char *content_type,
                    mm_detect_scratch_t *scratch, mm_detect_verdict_t *out)
{
    (void)content_type;
    if (!cfg || (!data && len) || !scratch || !out || (unsigned)loc >= MM_DETECT_LOC_COUNT)
        return -EINVAL;
    if (!scratch->buf || scratch->cap < 64)
        return -ENOBUFS;
    memset(out, 0, sizeof *out);
    int sens = cfg->sensitivity[loc];
    size_t lim = cfg->max_len;
    if (lim > (scratch->cap - 64) / 2)
        lim = (scratch->cap - 64) / 2;
    size_t n = len < lim ? len : lim;
    out->inspected = n;
    out->truncated = n < len;
    if (sens <= 0 || n == 0)
        return 0;

    const uint8_t *dec;
    unsigned flags = 0;
    bool plus = loc == MM_DETECT_LOC_QUERY || loc == MM_DETECT_LOC_FORM;
    size_t dn = mm_detect_decode(data, n, scratch->buf, scratch->buf + lim, plus,
                                 cfg->max_passes, &flags, &dec);

    mm_detect_hit_t hits[MM_DETECT_NCLASS];
    memset(hits, 0, sizeof hits);
    unsigned cflags[MM_DETECT_NCLASS] = {0};
    /* Classes are judged in verdict order (ties go to the earlier class).
     * Once a judged class scores at least the most a later class can
     * score, that class cannot change the verdict and is not judged: its
     * entry in out->scores stays 0. Dense attacks stay cheap this way. */
    static const int max_score[MM_DETECT_NCLASS] = {
        0, MM_DETECT_SQLI_MAX, MM_DETECT_XSS_MAX, MM_DETECT_CMDI_MAX, MM_DETECT_TRAVERSAL_MAX,
    };
    int decided = 0; /* highest scaled score so far */
    for (int c = 1; c < MM_DETECT_NCLASS; c++) {
        if (!cfg->enabled[c] || (decided > 0 && scaled(max_score[c], sens) <= decided))
            continue;
        switch (c) {
        case MM_DETECT_SQLI: mm_detect_sqli(dec, dn, &hits[c], &cflags[c]); break;
        case MM_DETECT_XSS: mm_detect_xss(dec, dn, &hits[c]); break;
        case MM_DETECT_CMDI: mm_detect_cmdi(dec, dn, &hits[c], &cflags[c]); break;
        default: mm_detect_traversal(dec, dn, &hits[c]); break;
        }
        if (scaled(hits[c].score, sens) > decided)
            decided = scaled(hits[c].score, sens);
    }

    int best = 0;
    for (int c = 1; c < MM_DETECT_NCLASS; c++) {
        int sc = scaled(hits[c].score, sens);
        out->scores[c] = sc;
        if (sc > out->scores[best] || best == 0)
            best = sc > 0 ? c : best;
    }
    out->score = best ? out->scores[best] : 0;
    out->cls = (best && out->score >= cfg->threshold) ? (mm_detect_class_t)best : MM_DETECT_NONE;
    if (best) {
        flags |= cflags[best];
        out->decodings = flags;
        const mm_detect_hit_t *h = &hits[best];
        char dbuf[128];
        snprintf(out->evidence, sizeof out->evidence, "%s rule=%s %s decoded=%s",
                 mm_detect_class_name((mm_detect_class_t)best), h->rule ? h->rule : "-", h->tokens,
                 mm_detect_decodings_str(flags, dbuf, sizeof dbuf));
        fragment(dec, dn, h->pos, out->fragment, 80);
    } else {
        out->decodings = flags;
    }
    return 0;
}
