/* Normalisation before judgement: URL (%XX, %uXXXX, '+'), HTML character
 * references, backslash escapes, overlong and fullwidth UTF-8 folding and NUL
 * removal, in one pass that is repeated while the text changes. Decoding
 * never makes the text longer, so two buffers of the input's size suffice. */
#include <string.h>

#include "detect_int.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 32;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads up to max hex digits at s[0..n); returns the count read (0 if none). */
static size_t read_hex(const uint8_t *s, size_t n, size_t max, uint32_t *v)
{
    size_t i = 0;
    uint32_t x = 0;
    while (i < n && i < max && hexval(s[i]) >= 0) {
        x = x * 16 + (uint32_t)hexval(s[i]);
        i++;
    }
    *v = x;
    return i;
}

/* Folds a code point to the ASCII character an attacker means by it, or
 * returns -1. Fullwidth forms and the slash/backslash lookalikes that
 * servers have been known to normalise. */
static int fold_cp(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return (int)(cp - 0xFEE0);
    switch (cp) {
    case 0x2215: case 0x2044: case 0x29F8: return '/';
    case 0x2216: case 0xFE68: case 0x29F9: return '\\';
    case 0x2024: return '.';
    default: return -1;
    }
}

/* Invisible format characters: zero-width spaces and joiners, bidi marks
 * and overrides, word joiners, the BOM and the soft hyphen. They render as
 * nothing, so inside a keyword (`un<U+200B>ion`, `<U+202E>script`) they
 * only hide it from a matcher; decoding removes them. */
static bool invisible_cp(uint32_t cp)
{
    return cp == 0xAD || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF;
}

/* Writes cp as UTF-8 (or its ASCII fold) at out; returns bytes written, at
 * most need (the bytes the escape occupied), so the text never grows. */
static size_t put_cp(uint32_t cp, uint8_t *out, size_t need, unsigned *flags)
{
    int f = fold_cp(cp);
    if (f >= 0) {
        *flags |= MM_DETECT_DEC_FULLWIDTH;
        out[0] = (uint8_t)f;
        return 1;
    }
    if (cp == 0) {
        *flags |= MM_DETECT_DEC_NUL;
        return 0;
    }
    if (invisible_cp(cp)) {
        *flags |= MM_DETECT_DEC_INVISIBLE;
        return 0;
    }
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800 && need >= 2) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000 && need >= 3) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp < 0x110000 && need >= 4) {
        out[0] = (uint8_t)(0xF0 | (cp >> 18));
        out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
        return 4;
    }
    out[0] = '?';
    return 1;
}

/* Named references worth knowing: the ones that spell markup, quotes and
 * script punctuation. Sorted for bsearch; `legacy` ones may omit ';'. */
typedef struct {
    const char *name;
    uint16_t cp;
    bool legacy;
} entity_t;

static const entity_t entities[] = {
    {"amp", '&', true},     {"apos", '\'', false},  {"bsol", '\\', false},
    {"colon", ':', false},  {"comma", ',', false},  {"dollar", '$', false},
    {"equals", '=', false}, {"excl", '!', false},   {"grave", '`', false},
    {"gt", '>', true},      {"lbrace", '{', false}, {"lcub", '{', false},
    {"lowbar", '_', false}, {"lpar", '(', false},   {"lsqb", '[', false},
    {"lt", '<', true},      {"nbsp", 0xA0, true},   {"newline", '\n', false},
    {"num", '#', false},    {"percnt", '%', false}, {"period", '.', false},
    {"plus", '+', false},   {"quest", '?', false},  {"quot", '"', true},
    {"rbrace", '}', false}, {"rcub", '}', false},   {"rpar", ')', false},
    {"rsqb", ']', false},   {"semi", ';', false},   {"shy", 0xAD, false},
    {"sol", '/', false},    {"tab", '\t', false},   {"verbar", '|', false},
    {"vert", '|', false},
};

/* Compares s[0..n) lowercased with a lowercase NUL-terminated name. */
static int name_cmp(const uint8_t *s, size_t n, const char *name)
{
    size_t j = 0;
    for (; j < n && name[j]; j++) {
        int c = mm_detect_lower(s[j]) - (uint8_t)name[j];
        if (c)
            return c;
    }
    if (j < n)
        return 1;
    return name[j] ? -1 : 0;
}

/* Decodes an HTML reference at s[0] == '&'. Returns bytes consumed (0 if
 * none) and the code point in *cp. */
static size_t html_ref(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n < 3)
        return 0;
    if (s[1] == '#') {
        size_t i = 2, d;
        uint32_t v = 0;
        if (i < n && (s[i] | 32) == 'x') {
            i++;
            /* Leading zeros are an evasion; skip them so they cannot
             * exhaust the digit budget. */
            while (i < n && s[i] == '0' && i < 64)
                i++;
            d = read_hex(s + i, n - i, 6, &v);
            if (d == 0 && s[i - 1] != '0')
                return 0;
        } else {
            while (i < n && s[i] == '0' && i < 64)
                i++;
            d = 0;
            while (i + d < n && d < 7 && mm_detect_isdigit(s[i + d])) {
                v = v * 10 + (uint32_t)(s[i + d] - '0');
                d++;
            }
            if (d == 0 && s[i - 1] != '0')
                return 0;
        }
        i += d;
        if (i < n && s[i] == ';')
            i++;
        *cp = v > 0x10FFFF ? 0xFFFD : v;
        return i;
    }
    size_t len = 0;
    while (1 + len < n && len < 8 && mm_detect_isalpha(s[1 + len]))
        len++;
    if (len < 2)
        return 0;
    if (1 + len < n && s[1 + len] == ';') {
        size_t lo = 0, hi = sizeof entities / sizeof entities[0];
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = name_cmp(s + 1, len, entities[mid].name);
            if (c == 0) {
                *cp = entities[mid].cp;
                return len + 2;
            }
            if (c < 0)
                hi = mid;
            else
                lo = mid + 1;
        }
    }
    /* Without ';' only the legacy names count, as their longest prefix
     * ("&ltscript" is "<script"). */
    static const entity_t legacy[] = {{"nbsp", 0xA0, true}, {"quot", '"', true},
                                      {"amp", '&', true}, {"lt", '<', true}, {"gt", '>', true}};
    for (size_t k = 0; k < sizeof legacy / sizeof legacy[0]; k++) {
        size_t ln = strlen(legacy[k].name);
        if (ln <= len && name_cmp(s + 1, ln, legacy[k].name) == 0) {
            *cp = legacy[k].cp;
            return 1 + ln;
        }
    }
    return 0;
}

/* Decodes a backslash escape at s[0] == '\\'; returns bytes consumed. */
static size_t backslash(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n < 2)
        return 0;
    uint32_t v;
    int c = s[1];
    if ((c == 'x' || c == 'X') && n >= 4 && read_hex(s + 2, 2, 2, &v) == 2) {
        *cp = v;
        return 4;
    }
    if (c == 'u' || c == 'U') {
        if (n >= 4 && s[2] == '{') {
            size_t d = read_hex(s + 3, n - 3, 6, &v);
            if (d > 0 && 3 + d < n && s[3 + d] == '}') {
                *cp = v > 0x10FFFF ? 0xFFFD : v;
                return 4 + d;
            }
            return 0;
        }
        if (n >= 6 && read_hex(s + 2, 4, 4, &v) == 4) {
            *cp = v;
            return 6;
        }
        return 0;
    }
    /* Octal \NNN (three digits, as in shell $'..' and C strings). */
    if (c >= '0' && c <= '3' && n >= 4 && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
        *cp = (uint32_t)((c - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
        return 4;
    }
    return 0;
}

/* Length of a UTF-8 sequence led by b, in the loose sense attackers use
 * (5- and 6-byte forms included); 0 for a stray continuation byte. */
static size_t utf8_len(uint8_t b)
{
    if (b < 0xC0)
        return 0;
    if (b < 0xE0)
        return 2;
    if (b < 0xF0)
        return 3;
    if (b < 0xF8)
        return 4;
    if (b < 0xFC)
        return 5;
    if (b < 0xFE)
        return 6;
    return 0;
}

/* Which decoder each byte can start (MM_DETECT_PASS_* bits); a byte whose
 * bits are not selected is copied as it is, whatever follows it. */
#define U MM_DETECT_PASS_UTF8
#define U16 U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U
static const uint8_t trigger[256] = {
    [0] = U,
    ['%'] = MM_DETECT_PASS_URL,
    ['+'] = MM_DETECT_PASS_PLUS,
    ['&'] = MM_DETECT_PASS_HTML,
    ['\\'] = MM_DETECT_PASS_ESCAPE,
    [0x80] = U16, U16, U16, U16, U16, U16, U16, U16,
};
#undef U16
#undef U

/* Bytes a decoding step may read past its start: the longest is an HTML
 * reference with 64 leading zeros ("&#x000...0041;"). */
#define LOOKAHEAD 80
/* Output regions written by decodings, kept per pass. */
#define DIRTY_MAX 256

typedef struct {
    size_t n;
    bool overflow;          /* too many regions: the next pass reads everything */
    size_t start[DIRTY_MAX];
    size_t end[DIRTY_MAX];
} dirty_t;

/* Records out[o0..o1) as written by a decoding (at least one byte, so that
 * a removal marks the bytes it joined). Regions closer than LOOKAHEAD merge. */
static void dirty_add(dirty_t *d, size_t o0, size_t o1)
{
    if (!d)
        return;
    if (o1 <= o0)
        o1 = o0 + 1;
    if (d->n > 0 && o0 < d->end[d->n - 1] + LOOKAHEAD) {
        if (o1 > d->end[d->n - 1])
            d->end[d->n - 1] = o1;
        return;
    }
    if (d->n == DIRTY_MAX) {
        d->overflow = true;
        return;
    }
    d->start[d->n] = o0;
    d->end[d->n] = o1;
    d->n++;
}

/* For the UTF-8 pass, decoders that start on each byte when every byte of
 * 0x80..0xFF is plain (copied as bad UTF-8) unless it leads a sequence:
 * C0/C1 always start a step (overlong forms), and lead_byte marks C2..FD,
 * which start one only when a continuation byte follows. */
#define U MM_DETECT_PASS_UTF8
static const uint8_t trigger_utf8[256] = {
    [0] = U,
    ['%'] = MM_DETECT_PASS_URL,
    ['+'] = MM_DETECT_PASS_PLUS,
    ['&'] = MM_DETECT_PASS_HTML,
    ['\\'] = MM_DETECT_PASS_ESCAPE,
    [0xC0] = U, U,
};
#undef U
#define L16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const uint8_t lead_byte[256] = {
    [0xC2] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0xD0] = L16, L16,
    [0xF0] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
#undef L16

/* Does a step of a pass with the UTF-8 decoder start at in[i] (i + 1 < n)?
 * Branch-free, as random or binary values are half non-ASCII. */
static inline bool starts_step_utf8(const uint8_t *in, size_t i, unsigned which)
{
    unsigned cont_next = (in[i + 1] & 0xC0) == 0x80;
    return (trigger_utf8[in[i]] & which) | (lead_byte[in[i]] & cont_next);
}

/* Copies the run of bytes at in[i..n) that no step of a pass with the UTF-8
 * decoder starts on: plain ASCII, stray continuation bytes and lead bytes
 * not followed by a continuation byte (both kept as bad UTF-8). Stops
 * before the last byte, which has no successor to look at. Returns the new
 * i; *o advances; *f gets MM_DETECT_DEC_BADUTF8 when a high byte was
 * copied, and *text whether the run was a long one of ASCII only. */
static inline size_t plain_run_utf8(const uint8_t *in, size_t i, size_t n, unsigned which, uint8_t *out,
                                    size_t *o, unsigned *f, bool *text)
{
    size_t oo = *o, start = i;
    unsigned high = 0;
    while (i + 1 < n && !starts_step_utf8(in, i, which)) {
        high |= in[i];
        out[oo++] = in[i++];
    }
    if (high & 0x80)
        *f |= MM_DETECT_DEC_BADUTF8;
    *text = !(high & 0x80) && i - start >= 16;
    *o = oo;
    return i;
}

/* Decodes the UTF-8 sequence led by in[0] >= 0xC0 (n bytes available) into
 * out. Returns the bytes consumed, 0 when it is no complete sequence (the
 * caller keeps the lead byte as bad UTF-8). *o_used gets the bytes written,
 * *dec whether the text changed. */
static size_t utf8_seq(const uint8_t *in, size_t n, uint8_t *out, size_t *o_used, unsigned *f, bool *dec)
{
    uint8_t c = in[0];
    size_t len = utf8_len(c);
    *dec = false;
    if (len == 2 && n > 1 && (c == 0xC0 || c == 0xC1)) {
        /* Overlong two-byte form. With a continuation byte it is the ASCII
         * character it spells; before an ASCII byte the lead byte is noise
         * that lenient decoders drop. */
        *f |= MM_DETECT_DEC_OVERLONG;
        *dec = true;
        *o_used = 0;
        uint8_t b1 = in[1];
        if ((b1 & 0xC0) == 0x80) {
            uint8_t v = (uint8_t)(((c & 1) << 6) | (b1 & 0x3F));
            if (v)
                out[(*o_used)++] = v;
            return 2;
        }
        if ((b1 & 0x3F) == '.' || (b1 & 0x3F) == '/') {
            /* Some decoders kept only the low six bits: %c0%6e is '.' */
            out[(*o_used)++] = (uint8_t)(b1 & 0x3F);
            return 2;
        }
        return 1;
    }
    if (len < 2 || len > n)
        return 0;
    uint32_t v = c & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((in[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (in[k] & 0x3F);
    }
    static const uint32_t min_cp[7] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    if (v < min_cp[len] || len > 4) {
        *f |= MM_DETECT_DEC_OVERLONG;
        *dec = true;
        *o_used = 0;
        if (v < 0x80) {
            if (v)
                out[(*o_used)++] = (uint8_t)v;
        } else {
            out[(*o_used)++] = '?';
        }
        return len;
    }
    if (invisible_cp(v)) {
        *f |= MM_DETECT_DEC_INVISIBLE;
        *dec = true;
        *o_used = 0;
        return len;
    }
    /* Only three-byte forms led by E2 or EF fold (fold_cp's code points). */
    int fc = (c == 0xE2 || c == 0xEF) ? fold_cp(v) : -1;
    if (fc >= 0) {
        *f |= MM_DETECT_DEC_FULLWIDTH;
        *dec = true;
        out[0] = (uint8_t)fc;
        *o_used = 1;
        return len;
    }
    memcpy(out, in, len);
    *o_used = len;
    return len;
}

/* One pass. When prev describes the pass that produced in (its decodings'
 * output regions), stretches whose every step would read only bytes that
 * pass copied unchanged are copied without decoding: the earlier pass
 * already found nothing to decode there, and decoding reads no byte behind
 * its position. A step starting at an ASCII byte of such a stretch starts
 * where the earlier pass started one (only UTF-8 sequences span bytes, and
 * they hold no ASCII), so both passes stay in step. */
static size_t decode_pass(const uint8_t *in, size_t n, uint8_t *out, unsigned which,
                          unsigned *flags, bool *changed, const dirty_t *prev, dirty_t *next)
{
    size_t i = 0, o = 0, di = 0, next_check = 0;
    unsigned f = 0;
    uint32_t cp;
    bool any = false;
    bool skip = prev && !prev->overflow;
    bool utf8 = which & MM_DETECT_PASS_UTF8;
    /* ASCII text is copied fastest by the plain loop below, which stops at
     * every non-ASCII byte; binary values by plain_run_utf8(), which does
     * not. Once a run of the latter held a non-ASCII byte or was short, it
     * takes the plain bytes too, until it finds a long run of ASCII. */
    bool text = true;
    while (i < n) {
        uint8_t c = in[i];
        if (skip && c < 0x80 && i >= next_check) {
            while (di < prev->n && prev->end[di] <= i)
                di++;
            size_t ds = di < prev->n && prev->start[di] < n ? prev->start[di] : n;
            next_check = di < prev->n ? prev->end[di] : n;
            if (i < ds && ds >= LOOKAHEAD && ds - LOOKAHEAD + 1 > i) {
                /* Steps before y read only bytes before ds. End on an
                 * ASCII byte, where a step of both passes starts. */
                size_t y = ds - LOOKAHEAD + 1;
                while (y > i && in[y] >= 0x80)
                    y--;
                if (y > i) {
                    memcpy(out + o, in + i, y - i);
                    o += y - i;
                    i = y;
                    continue;
                }
            }
        }
        if (!(trigger[c] & which) && (text || !utf8)) {
            /* A run of bytes no selected decoder starts on. */
            size_t j = i + 1;
            while (j < n && !(trigger[in[j]] & which))
                j++;
            memcpy(out + o, in + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        /* ASCII triggers (most steps of dense escapes) skip the look. */
        bool may_run = (c >> 7) | !(trigger[c] & which);
        if (utf8 && may_run && i + 1 < n && !starts_step_utf8(in, i, which)) {
            /* Binary or non-ASCII text: no branch per byte on its class. */
            i = plain_run_utf8(in, i, n, which, out, &o, &f, &text);
            continue;
        }
        size_t o0 = o;
        if (c == '%' && (which & MM_DETECT_PASS_URL)) {
            uint32_t v;
            if (i + 2 < n && read_hex(in + i + 1, 2, 2, &v) == 2) {
                f |= MM_DETECT_DEC_URL;
                i += 3;
                if (v == 0) {
                    f |= MM_DETECT_DEC_NUL;
                } else {
                    out[o++] = (uint8_t)v;
                }
                dirty_add(next, o0, o);
                any = true;
                continue;
            }
            if (i + 5 < n && (in[i + 1] | 32) == 'u' && read_hex(in + i + 2, 4, 4, &v) == 4) {
                f |= MM_DETECT_DEC_PCT_U;
                o += put_cp(v, out + o, 6, &f);
                i += 6;
                dirty_add(next, o0, o);
                any = true;
                continue;
            }
            out[o++] = c;
            i++;
            continue;
        }
        if (c == '+' && (which & MM_DETECT_PASS_PLUS)) {
            f |= MM_DETECT_DEC_PLUS;
            out[o++] = ' ';
            i++;
            dirty_add(next, o0, o);
            any = true;
            continue;
        }
        if (c == '&' && (which & MM_DETECT_PASS_HTML)) {
            size_t used = html_ref(in + i, n - i, &cp);
            if (used) {
                f |= MM_DETECT_DEC_HTML;
                o += put_cp(cp, out + o, used, &f);
                i += used;
                dirty_add(next, o0, o);
                any = true;
                continue;
            }
        }
        if (c == '\\' && (which & MM_DETECT_PASS_ESCAPE)) {
            size_t used = backslash(in + i, n - i, &cp);
            if (used) {
                f |= MM_DETECT_DEC_ESCAPE;
                o += put_cp(cp, out + o, used, &f);
                i += used;
                dirty_add(next, o0, o);
                any = true;
                continue;
            }
        }
        if (which & MM_DETECT_PASS_UTF8) {
            if (c == 0) {
                f |= MM_DETECT_DEC_NUL;
                i++;
                dirty_add(next, o0, o);
                any = true;
                continue;
            }
            if (c >= 0xC0) {
                size_t w;
                bool dec;
                size_t used = utf8_seq(in + i, n - i, out + o, &w, &f, &dec);
                if (used) {
                    i += used;
                    o += w;
                    if (dec) {
                        dirty_add(next, o0, o);
                        any = true;
                    }
                    continue;
                }
            }
            if (c >= 0x80)
                f |= MM_DETECT_DEC_BADUTF8;
        }
        out[o++] = c;
        i++;
    }
    *flags |= f;
    *changed = any;
    return o;
}

size_t mm_detect_decode_pass(const uint8_t *in, size_t n, uint8_t *out,
                             unsigned which, unsigned *flags, bool *changed)
{
    return decode_pass(in, n, out, which, flags, changed, NULL, NULL);
}

/* Bytes that can start a decoding: when none is present, the text is
 * already in normal form and no copy is made. */
static bool needs_decoding(const uint8_t *s, size_t n, bool plus)
{
    unsigned which = MM_DETECT_PASS_ALL | (plus ? MM_DETECT_PASS_PLUS : 0);
    for (size_t i = 0; i < n; i++)
        if (trigger[s[i]] & which)
            return true;
    return false;
}

size_t mm_detect_decode(const uint8_t *in, size_t n, uint8_t *a, uint8_t *b,
                        bool plus_space, unsigned max_passes, unsigned *flags,
                        const uint8_t **out)
{
    const uint8_t *cur = in;
    size_t len = n;
    unsigned url_passes = 0;
    if (max_passes == 0)
        max_passes = 1;
    if (!needs_decoding(in, n, plus_space)) {
        *out = in;
        return n;
    }
    /* Each pass after the first rereads only what the previous one decoded
     * (and LOOKAHEAD bytes before it): nested encodings in a large value
     * cost one full pass, not max_passes. */
    dirty_t dirty[2];
    for (unsigned p = 0; p < max_passes; p++) {
        uint8_t *dst = (p % 2 == 0) ? a : b;
        unsigned which = MM_DETECT_PASS_ALL | (p == 0 && plus_space ? MM_DETECT_PASS_PLUS : 0);
        unsigned f = 0;
        bool changed = false;
        dirty_t *next = &dirty[p % 2];
        next->n = 0;
        next->overflow = false;
        len = decode_pass(cur, len, dst, which, &f, &changed, p ? &dirty[(p + 1) % 2] : NULL,
                          p + 1 < max_passes ? next : NULL);
        cur = dst;
        if (f & (MM_DETECT_DEC_URL | MM_DETECT_DEC_PCT_U))
            url_passes++;
        *flags |= f;
        if (!changed)
            break;
    }
    if (url_passes > 1)
        *flags |= MM_DETECT_DEC_URL_MULTI;
    *out = cur;
    return len;
}
