/* PromQL lexer and recursive-descent parser (precedence climbing for binary
 * operators), with Prometheus 2.42's type checks. Errors carry the byte
 * offset of the offending token. Nesting depth and input size are bounded,
 * so hostile input is refused instead of overflowing the stack. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "promql_internal.h"

typedef struct {
    const char *src;
    size_t len, pos;
    /* current token */
    promql_tok_t tok;
    size_t ts, te;          /* token byte range */
    mm_promql_expr_t *x;
    mm_promql_error_t *err;
    bool failed;
    int depth;
    bool oom;
} parser_t;

static const struct {
    const char *word;
    promql_tok_t tok;
} keywords[] = {
    {"and", T_LAND}, {"or", T_LOR}, {"unless", T_LUNLESS}, {"atan2", T_ATAN2},
    {"offset", T_OFFSET}, {"by", T_BY}, {"without", T_WITHOUT}, {"on", T_ON},
    {"ignoring", T_IGNORING}, {"group_left", T_GROUP_LEFT}, {"group_right", T_GROUP_RIGHT},
    {"bool", T_BOOL}, {"start", T_START}, {"end", T_END},
    {"sum", T_SUM}, {"avg", T_AVG}, {"count", T_COUNT}, {"min", T_MIN}, {"max", T_MAX},
    {"group", T_GROUP}, {"stddev", T_STDDEV}, {"stdvar", T_STDVAR}, {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK}, {"count_values", T_COUNT_VALUES}, {"quantile", T_QUANTILE},
};

const char *promql_tok_name(promql_tok_t t)
{
    switch (t) {
    case T_LOR: return "or";
    case T_LAND: return "and";
    case T_LUNLESS: return "unless";
    case T_EQLC: return "==";
    case T_NEQ: return "!=";
    case T_GTE: return ">=";
    case T_GTR: return ">";
    case T_LSS: return "<";
    case T_LTE: return "<=";
    case T_ADD: return "+";
    case T_SUB: return "-";
    case T_MUL: return "*";
    case T_DIV: return "/";
    case T_MOD: return "%";
    case T_ATAN2: return "atan2";
    case T_POW: return "^";
    case T_EQL: return "=";
    case T_EQL_RE: return "=~";
    case T_NEQ_RE: return "!~";
    case T_SUM: return "sum";
    case T_AVG: return "avg";
    case T_COUNT: return "count";
    case T_MIN: return "min";
    case T_MAX: return "max";
    case T_GROUP: return "group";
    case T_STDDEV: return "stddev";
    case T_STDVAR: return "stdvar";
    case T_TOPK: return "topk";
    case T_BOTTOMK: return "bottomk";
    case T_COUNT_VALUES: return "count_values";
    case T_QUANTILE: return "quantile";
    case T_EOF: return "end of input";
    case T_NUMBER: return "number";
    case T_STRING: return "string";
    case T_DURATION: return "duration";
    case T_IDENT: return "identifier";
    case T_LPAREN: return "\"(\"";
    case T_RPAREN: return "\")\"";
    case T_LBRACE: return "\"{\"";
    case T_RBRACE: return "\"}\"";
    case T_LBRACKET: return "\"[\"";
    case T_RBRACKET: return "\"]\"";
    case T_COMMA: return "\",\"";
    case T_COLON: return "\":\"";
    case T_AT: return "\"@\"";
    case T_OFFSET: return "offset";
    case T_BY: return "by";
    case T_WITHOUT: return "without";
    case T_ON: return "on";
    case T_IGNORING: return "ignoring";
    case T_GROUP_LEFT: return "group_left";
    case T_GROUP_RIGHT: return "group_right";
    case T_BOOL: return "bool";
    case T_START: return "start";
    case T_END: return "end";
    default: return "token";
    }
}

bool promql_is_comparison(promql_tok_t t)
{
    return t == T_EQLC || t == T_NEQ || t == T_GTE || t == T_GTR || t == T_LSS || t == T_LTE;
}

bool promql_is_setop(promql_tok_t t)
{
    return t == T_LAND || t == T_LOR || t == T_LUNLESS;
}

const char *promql_type_name(mm_promql_type_t t)
{
    switch (t) {
    case MM_PROMQL_SCALAR: return "scalar";
    case MM_PROMQL_VECTOR: return "instant vector";
    case MM_PROMQL_MATRIX: return "range vector";
    case MM_PROMQL_STRING: return "string";
    default: return "none";
    }
}

static bool is_aggregator(promql_tok_t t)
{
    return t >= T_SUM && t <= T_QUANTILE;
}

static bool agg_has_param(promql_tok_t t)
{
    return t == T_TOPK || t == T_BOTTOMK || t == T_COUNT_VALUES || t == T_QUANTILE;
}

static int binop_prec(promql_tok_t t)
{
    switch (t) {
    case T_LOR: return 1;
    case T_LAND: case T_LUNLESS: return 2;
    case T_EQLC: case T_NEQ: case T_GTE: case T_GTR: case T_LSS: case T_LTE: return 3;
    case T_ADD: case T_SUB: return 4;
    case T_MUL: case T_DIV: case T_MOD: case T_ATAN2: return 5;
    case T_POW: return 6;
    default: return 0;
    }
}

static void fail_at(parser_t *p, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(parser_t *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        p->err->offset = off;
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
    }
}

static void *palloc(parser_t *p, size_t n)
{
    void *r = promql_arena_alloc(p->x->arena, n);
    if (!r && !p->failed) {
        p->oom = true;
        fail_at(p, p->ts, "out of memory");
    }
    return r;
}

/* ---------------------------------------------------------------- lexer */

static bool is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(int c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static int peekc(parser_t *p, size_t at)
{
    return at < p->len ? (unsigned char)p->src[at] : -1;
}

/* Scans a duration starting at i; returns its end or 0 when there is none. */
static size_t scan_duration(parser_t *p, size_t i)
{
    bool any = false;
    while (i < p->len && isdigit((unsigned char)p->src[i])) {
        while (i < p->len && isdigit((unsigned char)p->src[i]))
            i++;
        if (i >= p->len || !strchr("smhdwy", p->src[i]))
            return 0;
        i++;
        if (i < p->len && p->src[i] == 's' && p->src[i - 1] == 'm')
            i++;
        any = true;
    }
    if (!any || (i < p->len && is_alnum((unsigned char)p->src[i])))
        return 0;
    return i;
}

/* Scans a number; returns its end or 0. */
static size_t scan_number(parser_t *p, size_t i)
{
    const char *digits = "0123456789";
    size_t s = i;
    if (p->src[i] == '0' && i + 1 < p->len && (p->src[i + 1] == 'x' || p->src[i + 1] == 'X')) {
        digits = "0123456789abcdefABCDEF";
        i += 2;
    }
    while (i < p->len && strchr(digits, p->src[i]) && p->src[i])
        i++;
    if (i < p->len && p->src[i] == '.') {
        i++;
        while (i < p->len && strchr(digits, p->src[i]) && p->src[i])
            i++;
    }
    if (i < p->len && (p->src[i] == 'e' || p->src[i] == 'E') && digits[10] == 0) {
        i++;
        if (i < p->len && (p->src[i] == '+' || p->src[i] == '-'))
            i++;
        while (i < p->len && isdigit((unsigned char)p->src[i]))
            i++;
    }
    if (i == s || (i < p->len && is_alnum((unsigned char)p->src[i])))
        return 0;
    return i;
}

static size_t scan_string(parser_t *p, size_t i)
{
    char q = p->src[i++];
    while (i < p->len) {
        char c = p->src[i];
        if (c == '\\' && q != '`') {
            i += 2;
            continue;
        }
        if (c == '\n' && q != '`')
            return 0;
        if (c == q)
            return i + 1;
        i++;
    }
    return 0;
}

static void next(parser_t *p)
{
    size_t i = p->pos;
    for (;;) {
        while (i < p->len && isspace((unsigned char)p->src[i]))
            i++;
        if (i < p->len && p->src[i] == '#') {
            while (i < p->len && p->src[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    p->ts = i;
    if (i >= p->len) {
        p->tok = T_EOF;
        p->te = p->pos = i;
        return;
    }
    int c = (unsigned char)p->src[i];
    int d = peekc(p, i + 1);
    size_t e = i + 1;
    promql_tok_t t = T_ERROR;
    switch (c) {
    case '(': t = T_LPAREN; break;
    case ')': t = T_RPAREN; break;
    case '{': t = T_LBRACE; break;
    case '}': t = T_RBRACE; break;
    case '[': t = T_LBRACKET; break;
    case ']': t = T_RBRACKET; break;
    case ',': t = T_COMMA; break;
    case '@': t = T_AT; break;
    case '+': t = T_ADD; break;
    case '-': t = T_SUB; break;
    case '*': t = T_MUL; break;
    case '/': t = T_DIV; break;
    case '%': t = T_MOD; break;
    case '^': t = T_POW; break;
    case '=':
        if (d == '=') { t = T_EQLC; e++; }
        else if (d == '~') { t = T_EQL_RE; e++; }
        else t = T_EQL;
        break;
    case '!':
        if (d == '=') { t = T_NEQ; e++; }
        else if (d == '~') { t = T_NEQ_RE; e++; }
        break;
    case '<':
        if (d == '=') { t = T_LTE; e++; } else t = T_LSS;
        break;
    case '>':
        if (d == '=') { t = T_GTE; e++; } else t = T_GTR;
        break;
    case '"': case '\'': case '`':
        e = scan_string(p, i);
        if (e) {
            t = T_STRING;
        } else {
            p->tok = T_ERROR;
            p->te = p->len;
            fail_at(p, i, "unterminated quoted string");
            return;
        }
        break;
    default:
        if (isdigit(c) || (c == '.' && d >= 0 && isdigit(d))) {
            size_t n = scan_number(p, i);
            if (n) {
                t = T_NUMBER;
                e = n;
            } else if ((n = scan_duration(p, i))) {
                t = T_DURATION;
                e = n;
            } else {
                p->tok = T_ERROR;
                fail_at(p, i, "bad number or duration syntax: \"%.*s\"", 1, p->src + i);
                return;
            }
        } else if (is_alpha(c) || c == ':') {
            e = i;
            while (e < p->len && (is_alnum((unsigned char)p->src[e]) || p->src[e] == ':'))
                e++;
            t = T_IDENT;
            size_t n = e - i;
            if ((n == 3 && (strncasecmp(p->src + i, "inf", 3) == 0 ||
                            strncasecmp(p->src + i, "nan", 3) == 0))) {
                t = T_NUMBER;
            } else {
                for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
                    if (strlen(keywords[k].word) == n &&
                        strncasecmp(keywords[k].word, p->src + i, n) == 0) {
                        t = keywords[k].tok;
                        break;
                    }
            }
        }
        break;
    }
    if (t == T_ERROR) {
        p->tok = T_ERROR;
        fail_at(p, i, "unexpected character: '%c'", isprint(c) ? c : '?');
        return;
    }
    p->tok = t;
    p->te = e;
    p->pos = e;
}

static char *tok_text(parser_t *p)
{
    return promql_arena_strndup(p->x->arena, p->src + p->ts, p->te - p->ts);
}

/* --------------------------------------------------------------- values */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *d, unsigned long cp)
{
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

long promql_unquote(const char *s, size_t len, char *dst)
{
    if (len < 2 || s[0] != s[len - 1])
        return -1;
    char q = s[0];
    size_t o = 0;
    if (q == '`') {
        memcpy(dst, s + 1, len - 2);
        return (long)(len - 2);
    }
    for (size_t i = 1; i < len - 1; i++) {
        char c = s[i];
        if (c != '\\') {
            if (c == q)
                return -1;
            dst[o++] = c;
            continue;
        }
        if (++i >= len - 1)
            return -1;
        c = s[i];
        switch (c) {
        case 'a': dst[o++] = '\a'; break;
        case 'b': dst[o++] = '\b'; break;
        case 'f': dst[o++] = '\f'; break;
        case 'n': dst[o++] = '\n'; break;
        case 'r': dst[o++] = '\r'; break;
        case 't': dst[o++] = '\t'; break;
        case 'v': dst[o++] = '\v'; break;
        case '\\': dst[o++] = '\\'; break;
        case '\'': case '"':
            if (c != q)
                return -1;
            dst[o++] = c;
            break;
        case 'x': {
            if (i + 2 >= len - 1 + 1 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return -1;
            dst[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
            break;
        }
        case 'u': case 'U': {
            int nd = c == 'u' ? 4 : 8;
            unsigned long cp = 0;
            if (i + (size_t)nd >= len - 1 + 1)
                return -1;
            for (int k = 1; k <= nd; k++) {
                int h = hexval(s[i + (size_t)k]);
                if (h < 0)
                    return -1;
                cp = cp * 16 + (unsigned long)h;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
                return -1;
            /* Each escape is at least as long as its UTF-8 encoding. */
            o += put_utf8(dst + o, cp);
            i += (size_t)nd;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 >= len - 1 + 1)
                    return -1;
                int v = 0;
                for (int k = 0; k < 3; k++) {
                    char h = s[i + (size_t)k];
                    if (h < '0' || h > '7')
                        return -1;
                    v = v * 8 + (h - '0');
                }
                if (v > 255)
                    return -1;
                dst[o++] = (char)v;
                i += 2;
                break;
            }
            return -1;
        }
    }
    return (long)o;
}

int promql_parse_duration(const char *s, size_t len, int64_t *ret_ms)
{
    static const struct { const char *u; int64_t ms; } units[] = {
        {"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
        {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    size_t i = 0;
    int last = -1;
    int64_t total = 0;
    if (len == 0)
        return -1;
    while (i < len) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        int64_t n = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (n > INT64_MAX / 10 - 10)
                return -1;
            n = n * 10 + (s[i] - '0');
            i++;
        }
        size_t us = i;
        while (i < len && isalpha((unsigned char)s[i]))
            i++;
        int u = -1;
        for (int k = 0; k < 7; k++)
            if (strlen(units[k].u) == i - us && strncmp(units[k].u, s + us, i - us) == 0)
                u = k;
        if (u < 0 || u <= last)
            return -1;
        last = u;
        if (n > INT64_MAX / units[u].ms || total > INT64_MAX - n * units[u].ms)
            return -1;
        total += n * units[u].ms;
    }
    *ret_ms = total;
    return 0;
}

void promql_format_duration(int64_t ms, char *buf, size_t cap)
{
    static const struct { const char *u; int64_t ms; } units[] = {
        {"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000}, {"h", 3600000},
        {"m", 60000}, {"s", 1000}, {"ms", 1},
    };
    size_t o = 0;
    buf[0] = 0;
    if (ms == 0) {
        snprintf(buf, cap, "0s");
        return;
    }
    if (ms < 0) {
        o += (size_t)snprintf(buf, cap, "-");
        ms = -ms;
    }
    for (int k = 0; k < 7 && o < cap; k++) {
        if (ms >= units[k].ms) {
            o += (size_t)snprintf(buf + o, cap - o, "%lld%s", (long long)(ms / units[k].ms), units[k].u);
            ms %= units[k].ms;
        }
    }
}

/* A number literal as Go's ParseInt(s, 0, 64), then ParseFloat, read it.
 * Returns 0, or -1 when neither accepts it (bad syntax, out of range). */
static int parse_number_text(const char *s, size_t n, double *ret)
{
    char stackbuf[128];
    char *buf = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
    int rc = 0;
    if (!buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    if (strcasecmp(buf, "inf") == 0) {
        *ret = INFINITY;
    } else if (strcasecmp(buf, "nan") == 0) {
        *ret = NAN;
    } else if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
        /* Hex integers only: a hex float needs a 'p' exponent, which the
         * lexer never lets through. */
        unsigned long long v = strtoull(buf + 2, &end, 16);
        if (n == 2 || *end || errno == ERANGE || v > INT64_MAX)
            rc = -1;
        *ret = (double)v;
    } else if (buf[0] == '0' && n > 1 && strspn(buf, "01234567") == n &&
               (errno = 0, strtoull(buf, NULL, 8) <= INT64_MAX) && errno != ERANGE) {
        *ret = (double)strtoull(buf, NULL, 8);
    } else {
        errno = 0;
        *ret = strtod(buf, &end);
        if (*end || (errno == ERANGE && isinf(*ret)))
            rc = -1;
    }
    if (buf != stackbuf)
        free(buf);
    return rc;
}

/* --------------------------------------------------------------- AST */

static promql_node_t *new_node(parser_t *p, promql_kind_t k, size_t pos)
{
    promql_node_t *n = palloc(p, sizeof *n);
    if (n) {
        n->kind = k;
        n->pos = pos;
        n->end = p->te;
    }
    return n;
}

static bool expect(parser_t *p, promql_tok_t t, const char *ctx)
{
    if (p->tok == t) {
        next(p);
        return true;
    }
    if (p->tok == T_EOF)
        fail_at(p, p->ts, "unexpected end of input %s, expected %s", ctx, promql_tok_name(t));
    else
        fail_at(p, p->ts, "unexpected %s %s, expected %s", promql_tok_name(p->tok), ctx,
                promql_tok_name(t));
    return false;
}

static promql_node_t *parse_expr(parser_t *p, int min_prec);

static bool tok_is_word(parser_t *p)
{
    /* Identifiers and keywords may serve as label names. */
    return p->tok == T_IDENT || (p->tok >= T_LOR && p->tok <= T_QUANTILE &&
                                 is_alpha((unsigned char)p->src[p->ts]));
}

static int add_label(parser_t *p, promql_labels_list_t *l, char *s)
{
    char **nl = palloc(p, (l->n + 1) * sizeof *nl);
    if (!nl)
        return -1;
    if (l->n)
        memcpy(nl, l->labels, l->n * sizeof *nl);
    nl[l->n++] = s;
    l->labels = nl;
    return 0;
}

/* ( label, label, ... ) with an optional trailing comma. */
static bool parse_label_list(parser_t *p, promql_labels_list_t *out, const char *ctx)
{
    if (!expect(p, T_LPAREN, ctx))
        return false;
    while (p->tok != T_RPAREN) {
        if (!tok_is_word(p)) {
            fail_at(p, p->ts, "unexpected %s in grouping opts, expected label", promql_tok_name(p->tok));
            return false;
        }
        if (!mm_label_name_valid(p->src + p->ts, p->te - p->ts)) {
            fail_at(p, p->ts, "\"%.*s\" is not valid label in grouping opts",
                    (int)(p->te - p->ts), p->src + p->ts);
            return false;
        }
        char *s = tok_text(p);
        if (!s || add_label(p, out, s) < 0)
            return false;
        next(p);
        if (p->tok == T_COMMA) {
            next(p);
            continue;
        }
        if (p->tok != T_RPAREN) {
            fail_at(p, p->ts, "unexpected %s in grouping opts, expected \",\" or \")\"",
                    promql_tok_name(p->tok));
            return false;
        }
    }
    next(p);
    return true;
}

static int register_selector(parser_t *p, promql_node_t *vs)
{
    mm_promql_expr_t *x = p->x;
    if (x->n_sels == x->cap_sels) {
        size_t nc = x->cap_sels ? x->cap_sels * 2 : 8;
        mm_promql_selector_t *ns = realloc(x->sels, nc * sizeof *ns);
        if (!ns)
            return -1;
        x->sels = ns;
        x->cap_sels = nc;
    }
    vs->sel.sel_index = x->n_sels;
    mm_promql_selector_t *s = &x->sels[x->n_sels++];
    memset(s, 0, sizeof *s);
    s->matchers = vs->sel.m;
    s->n_matchers = vs->sel.n;
    for (size_t i = 0; i < vs->sel.n; i++)
        if (vs->sel.m[i].type == MM_MATCH_EQ && strcmp(vs->sel.m[i].name, "__name__") == 0)
            s->metric = vs->sel.m[i].value;
    return 0;
}

static int track_matchers(parser_t *p, mm_match_t *m, size_t n)
{
    mm_promql_expr_t *x = p->x;
    if (x->n_matchers == x->cap_matchers) {
        size_t nc = x->cap_matchers ? x->cap_matchers * 2 : 8;
        mm_match_t **nm = realloc(x->matchers, nc * sizeof *nm);
        if (!nm)
            return -1;
        x->matchers = nm;
        size_t *cnt = realloc(x->matcher_counts, nc * sizeof *cnt);
        if (!cnt)
            return -1;
        x->matcher_counts = cnt;
        x->cap_matchers = nc;
    }
    x->matchers[x->n_matchers] = m;
    x->matcher_counts[x->n_matchers++] = n;
    return 0;
}

/* name? { matchers } — p->tok is at '{' or just after the name. */
static promql_node_t *parse_selector(parser_t *p, size_t pos, char *name)
{
    enum { MAXM = 64 };
    struct { char *name; char *value; mm_match_type_t type; size_t pos; } ms[MAXM];
    size_t n = 0;
    if (p->tok == T_LBRACE) {
        /* Label names inside braces are lexed as words, keywords included. */
        next(p);
        while (p->tok != T_RBRACE) {
            /* Inside braces "NaN" and "Inf" are label names, not numbers. */
            if (!tok_is_word(p) && !(p->tok == T_NUMBER && is_alpha((unsigned char)p->src[p->ts]))) {
                if (p->tok == T_EOF)
                    fail_at(p, p->ts, "unexpected end of input inside braces");
                else
                    fail_at(p, p->ts, "unexpected %s in label matching, expected label",
                            promql_tok_name(p->tok));
                return NULL;
            }
            if (!mm_label_name_valid(p->src + p->ts, p->te - p->ts)) {
                fail_at(p, p->ts, "invalid label name \"%.*s\"", (int)(p->te - p->ts), p->src + p->ts);
                return NULL;
            }
            if (n == MAXM) {
                fail_at(p, p->ts, "too many label matchers (more than %d)", MAXM);
                return NULL;
            }
            ms[n].pos = p->ts;
            ms[n].name = tok_text(p);
            next(p);
            switch (p->tok) {
            case T_EQL: ms[n].type = MM_MATCH_EQ; break;
            case T_NEQ: ms[n].type = MM_MATCH_NE; break;
            case T_EQL_RE: ms[n].type = MM_MATCH_RE; break;
            case T_NEQ_RE: ms[n].type = MM_MATCH_NRE; break;
            default:
                if (p->tok == T_EOF)
                    goto eof;
                fail_at(p, p->ts, "unexpected %s in label matching, expected label matching operator",
                        promql_tok_name(p->tok));
                return NULL;
            }
            next(p);
            if (p->tok != T_STRING) {
                if (p->tok == T_EOF)
                    goto eof;
                fail_at(p, p->ts, "unexpected %s in label matching, expected string",
                        promql_tok_name(p->tok));
                return NULL;
            }
            char *buf = palloc(p, p->te - p->ts + 1);
            if (!buf)
                return NULL;
            long l = promql_unquote(p->src + p->ts, p->te - p->ts, buf);
            if (l < 0) {
                fail_at(p, p->ts, "invalid escape sequence in string");
                return NULL;
            }
            buf[l] = 0;
            ms[n].value = buf;
            n++;
            next(p);
            if (p->tok == T_COMMA) {
                next(p);
                continue;
            }
            if (p->tok != T_RBRACE) {
                if (p->tok == T_EOF)
                    goto eof;
                fail_at(p, p->ts, "unexpected %s in label matching, expected \",\" or \"}\"",
                        promql_tok_name(p->tok));
                return NULL;
            }
        }
        next(p);
    }
    if (false) {
eof:
        fail_at(p, p->ts, "unexpected end of input inside braces");
        return NULL;
    }
    if (name) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(ms[i].name, "__name__") == 0) {
                fail_at(p, pos, "metric name must not be set twice: \"%s\" or \"%s\"", name,
                        ms[i].value);
                return NULL;
            }
        if (n == MAXM) {
            fail_at(p, pos, "too many label matchers (more than %d)", MAXM);
            return NULL;
        }
        ms[n].name = "__name__";
        ms[n].value = name;
        ms[n].type = MM_MATCH_EQ;
        ms[n].pos = pos;
        n++;
    }
    promql_node_t *vs = new_node(p, N_SEL, pos);
    if (!vs)
        return NULL;
    vs->type = MM_PROMQL_VECTOR;
    vs->sel.name = name;
    mm_match_t *m = calloc(n ? n : 1, sizeof *m);
    if (!m || track_matchers(p, m, 0) < 0) {
        free(m);
        fail_at(p, pos, "out of memory");
        p->oom = true;
        return NULL;
    }
    bool nonempty = false;
    for (size_t i = 0; i < n; i++) {
        char why[200] = "";
        int rc = mm_match_init(&m[i], ms[i].type, ms[i].name, ms[i].value, why, sizeof why);
        if (rc < 0) {
            fail_at(p, ms[i].pos, "%s", rc == -ENOMEM ? "out of memory" : why);
            return NULL;
        }
        p->x->matcher_counts[p->x->n_matchers - 1] = i + 1;
        if (!mm_match_value(&m[i], ""))
            nonempty = true;
    }
    vs->sel.m = m;
    vs->sel.n = n;
    if (!nonempty) {
        fail_at(p, pos, "vector selector must contain at least one non-empty matcher");
        return NULL;
    }
    if (register_selector(p, vs) < 0) {
        p->oom = true;
        fail_at(p, pos, "out of memory");
        return NULL;
    }
    return vs;
}

/* Parses arguments up to the closing ')' (the '(' is read). The first cap
 * go to args; past cap it fails with too_many, or only counts them when
 * too_many is NULL (an aggregation reports its own count error). where
 * names the construct in the error for a stray token. */
static bool parse_args(parser_t *p, promql_node_t **args, size_t cap, const char *too_many,
                       const char *where, size_t *ret_n)
{
    size_t na = 0;
    while (p->tok != T_RPAREN) {
        if (na == cap && too_many) {
            fail_at(p, p->ts, "%s", too_many);
            return false;
        }
        promql_node_t *a = parse_expr(p, 1);
        if (!a)
            return false;
        if (na < cap)
            args[na] = a;
        na++;
        if (p->tok == T_COMMA) {
            next(p);
            if (p->tok == T_RPAREN) {
                fail_at(p, p->ts, "trailing commas not allowed in function call args");
                return false;
            }
            continue;
        }
        if (p->tok != T_RPAREN) {
            fail_at(p, p->ts, "unexpected %s in %s, expected \",\" or \")\"", promql_tok_name(p->tok),
                    where);
            return false;
        }
    }
    *ret_n = na;
    return true;
}

static promql_node_t *parse_call(parser_t *p, size_t pos, const promql_func_t *f)
{
    promql_node_t *n = new_node(p, N_CALL, pos);
    if (!n)
        return NULL;
    n->call.f = f;
    n->type = f->ret;
    next(p); /* ( */
    promql_node_t *args[64];
    size_t na;
    if (!parse_args(p, args, 64, "too many function arguments", "function call args", &na))
        return NULL;
    n->end = p->te;
    next(p);
    n->call.args = palloc(p, (na ? na : 1) * sizeof *args);
    if (!n->call.args)
        return NULL;
    memcpy(n->call.args, args, na * sizeof *args);
    n->call.n = na;
    int nargs = f->n_args;
    if (f->variadic == 0) {
        if ((size_t)nargs != na) {
            fail_at(p, pos, "expected %d argument(s) in call to \"%s\", got %zu", nargs, f->name, na);
            return NULL;
        }
    } else {
        size_t min = (size_t)(nargs - 1);
        if (min > na) {
            fail_at(p, pos, "expected at least %zu argument(s) in call to \"%s\", got %zu", min,
                    f->name, na);
            return NULL;
        }
        if (f->variadic > 0 && min + (size_t)f->variadic < na) {
            fail_at(p, pos, "expected at most %zu argument(s) in call to \"%s\", got %zu",
                    min + (size_t)f->variadic, f->name, na);
            return NULL;
        }
    }
    for (size_t i = 0; i < na; i++) {
        size_t k = i;
        if (k >= (size_t)nargs) {
            if (f->variadic == 0)
                break;
            k = (size_t)nargs - 1;
        }
        if (args[i]->type != f->args[k]) {
            fail_at(p, args[i]->pos, "expected type %s in call to function \"%s\", got %s",
                    promql_type_name(f->args[k]), f->name, promql_type_name(args[i]->type));
            return NULL;
        }
    }
    return n;
}

static promql_node_t *parse_aggregation(parser_t *p)
{
    size_t pos = p->ts;
    promql_node_t *n = new_node(p, N_AGG, pos);
    if (!n)
        return NULL;
    n->agg.op = p->tok;
    n->type = MM_PROMQL_VECTOR;
    next(p);
    if (p->tok == T_BY || p->tok == T_WITHOUT) {
        n->agg.without = p->tok == T_WITHOUT;
        n->agg.grouped = true;
        next(p);
        if (!parse_label_list(p, &n->agg.grouping, "in grouping opts"))
            return NULL;
    }
    if (p->tok != T_LPAREN) {
        fail_at(p, p->ts, "unexpected %s in aggregation, expected \"(\"", promql_tok_name(p->tok));
        return NULL;
    }
    next(p);
    promql_node_t *args[2];
    size_t na;
    if (!parse_args(p, args, 2, NULL, "aggregation", &na))
        return NULL;
    n->end = p->te;
    next(p);
    if (p->tok == T_BY || p->tok == T_WITHOUT) {
        if (n->agg.grouped) {
            fail_at(p, p->ts, "unexpected %s in aggregation", promql_tok_name(p->tok));
            return NULL;
        }
        n->agg.without = p->tok == T_WITHOUT;
        n->agg.grouped = true;
        next(p);
        if (!parse_label_list(p, &n->agg.grouping, "in grouping opts"))
            return NULL;
        n->end = p->ts;
    }
    size_t want = agg_has_param(n->agg.op) ? 2 : 1;
    if (na != want) {
        fail_at(p, pos, "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
                want, na);
        return NULL;
    }
    if (want == 2) {
        n->agg.param = args[0];
        n->agg.e = args[1];
        mm_promql_type_t pt = n->agg.op == T_COUNT_VALUES ? MM_PROMQL_STRING : MM_PROMQL_SCALAR;
        if (n->agg.param->type != pt) {
            fail_at(p, n->agg.param->pos, "expected type %s in aggregation parameter, got %s",
                    promql_type_name(pt), promql_type_name(n->agg.param->type));
            return NULL;
        }
    } else {
        n->agg.e = args[0];
    }
    if (n->agg.e->type != MM_PROMQL_VECTOR) {
        fail_at(p, n->agg.e->pos, "expected type instant vector in aggregation expression, got %s",
                promql_type_name(n->agg.e->type));
        return NULL;
    }
    return n;
}

/* Parses a bracket after an expression: [range] or [range:step]. */
static promql_node_t *parse_bracket(parser_t *p, promql_node_t *e)
{
    size_t lb = p->ts;
    size_t i = p->te;
    int64_t range = 0, step = 0;
    bool subq = false;
    while (i < p->len && isspace((unsigned char)p->src[i]))
        i++;
    size_t de = scan_duration(p, i);
    if (!de) {
        fail_at(p, i, "bad duration syntax: \"%.*s\"", (int)(i < p->len ? 1 : 0), p->src + i);
        return NULL;
    }
    if (promql_parse_duration(p->src + i, de - i, &range) < 0) {
        fail_at(p, i, "not a valid duration string: \"%.*s\"", (int)(de - i), p->src + i);
        return NULL;
    }
    if (range == 0) {
        fail_at(p, i, "duration must be greater than 0");
        return NULL;
    }
    i = de;
    while (i < p->len && isspace((unsigned char)p->src[i]))
        i++;
    if (i < p->len && p->src[i] == ':') {
        subq = true;
        i++;
        while (i < p->len && isspace((unsigned char)p->src[i]))
            i++;
        if (i < p->len && p->src[i] != ']') {
            de = scan_duration(p, i);
            if (!de || promql_parse_duration(p->src + i, de - i, &step) < 0) {
                fail_at(p, i, "bad duration syntax in subquery step");
                return NULL;
            }
            if (step == 0) {
                fail_at(p, i, "duration must be greater than 0");
                return NULL;
            }
            i = de;
            while (i < p->len && isspace((unsigned char)p->src[i]))
                i++;
        }
    }
    if (i >= p->len || p->src[i] != ']') {
        fail_at(p, i, "unexpected character in brackets, expected \"]\"");
        return NULL;
    }
    p->pos = i + 1;
    size_t end = i + 1;
    next(p);
    if (!subq) {
        if (e->kind != N_SEL) {
            fail_at(p, lb, "ranges only allowed for vector selectors");
            return NULL;
        }
        if (e->sel.offset != 0) {
            fail_at(p, lb, "no offset modifiers allowed before range");
            return NULL;
        }
        if (e->sel.at != AT_NONE) {
            fail_at(p, lb, "no @ modifiers allowed before range");
            return NULL;
        }
        promql_node_t *m = new_node(p, N_MATRIX, e->pos);
        if (!m)
            return NULL;
        m->matrix.vs = e;
        m->matrix.range = range;
        m->type = MM_PROMQL_MATRIX;
        m->end = end;
        p->x->sels[e->sel.sel_index].range_ms = range;
        return m;
    }
    if (e->type != MM_PROMQL_VECTOR) {
        fail_at(p, e->pos, "subquery is only allowed on instant vector, got %s instead",
                promql_type_name(e->type));
        return NULL;
    }
    promql_node_t *s = new_node(p, N_SUBQ, e->pos);
    if (!s)
        return NULL;
    s->subq.e = e;
    s->subq.range = range;
    s->subq.step = step;
    s->type = MM_PROMQL_MATRIX;
    s->end = end;
    return s;
}

static bool parse_offset(parser_t *p, promql_node_t *e)
{
    size_t at = p->ts;
    next(p);
    bool neg = false;
    if (p->tok == T_SUB) {
        neg = true;
        next(p);
    }
    int64_t d;
    if (p->tok != T_DURATION || promql_parse_duration(p->src + p->ts, p->te - p->ts, &d) < 0) {
        fail_at(p, p->ts, "unexpected %s in offset, expected duration", promql_tok_name(p->tok));
        return false;
    }
    e->end = p->te;
    next(p);
    if (neg)
        d = -d;
    int64_t *slot;
    switch (e->kind) {
    case N_SEL: slot = &e->sel.offset; break;
    case N_MATRIX: slot = &e->matrix.vs->sel.offset; break;
    case N_SUBQ: slot = &e->subq.offset; break;
    default:
        fail_at(p, at, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return false;
    }
    if (*slot != 0) {
        fail_at(p, at, "offset may not be set multiple times");
        return false;
    }
    *slot = d;
    if (e->kind != N_SUBQ) {
        promql_node_t *vs = e->kind == N_SEL ? e : e->matrix.vs;
        p->x->sels[vs->sel.sel_index].offset_ms = d;
    }
    return true;
}

static bool parse_at(parser_t *p, promql_node_t *e)
{
    size_t at = p->ts;
    next(p);
    promql_at_t kind;
    int64_t ms = 0;
    if (p->tok == T_START || p->tok == T_END) {
        kind = p->tok == T_START ? AT_START : AT_END;
        next(p);
        if (!expect(p, T_LPAREN, "in @") )
            return false;
        e->end = p->te;
        if (!expect(p, T_RPAREN, "in @"))
            return false;
    } else {
        double sign = 1;
        if (p->tok == T_SUB || p->tok == T_ADD) {
            sign = p->tok == T_SUB ? -1 : 1;
            next(p);
        }
        if (p->tok != T_NUMBER) {
            fail_at(p, p->ts, "unexpected %s in @, expected timestamp", promql_tok_name(p->tok));
            return false;
        }
        double v;
        if (parse_number_text(p->src + p->ts, p->te - p->ts, &v) < 0) {
            fail_at(p, p->ts, "error parsing number in @");
            return false;
        }
        v *= sign;
        if (!isfinite(v) || v >= 9.2e15 || v <= -9.2e15) {
            fail_at(p, p->ts, "timestamp out of bounds for @ modifier: %f", v);
            return false;
        }
        ms = (int64_t)llround(v * 1000.0);
        kind = AT_TS;
        e->end = p->te;
        next(p);
    }
    promql_at_t *slot;
    int64_t *mslot;
    switch (e->kind) {
    case N_SEL: slot = &e->sel.at; mslot = &e->sel.at_ms; break;
    case N_MATRIX: slot = &e->matrix.vs->sel.at; mslot = &e->matrix.vs->sel.at_ms; break;
    case N_SUBQ: slot = &e->subq.at; mslot = &e->subq.at_ms; break;
    default:
        fail_at(p, at, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return false;
    }
    if (*slot != AT_NONE) {
        fail_at(p, at, "@ <timestamp> may not be set multiple times");
        return false;
    }
    *slot = kind;
    *mslot = ms;
    if (e->kind != N_SUBQ) {
        promql_node_t *vs = e->kind == N_SEL ? e : e->matrix.vs;
        p->x->sels[vs->sel.sel_index].has_at = true;
    }
    return true;
}

static promql_node_t *parse_primary(parser_t *p)
{
    size_t pos = p->ts;
    promql_node_t *n = NULL;
    switch (p->tok) {
    case T_NUMBER:
        n = new_node(p, N_NUM, pos);
        if (!n)
            return NULL;
        if (parse_number_text(p->src + p->ts, p->te - p->ts, &n->num) < 0) {
            fail_at(p, p->ts, "error parsing number: \"%.*s\" is out of range or malformed",
                    (int)(p->te - p->ts > 40 ? 40 : p->te - p->ts), p->src + p->ts);
            return NULL;
        }
        n->type = MM_PROMQL_SCALAR;
        next(p);
        break;
    case T_STRING: {
        n = new_node(p, N_STR, pos);
        if (!n)
            return NULL;
        char *buf = palloc(p, p->te - p->ts + 1);
        if (!buf)
            return NULL;
        long l = promql_unquote(p->src + p->ts, p->te - p->ts, buf);
        if (l < 0) {
            fail_at(p, p->ts, "invalid escape sequence in string");
            return NULL;
        }
        buf[l] = 0;
        n->str = buf;
        n->type = MM_PROMQL_STRING;
        next(p);
        break;
    }
    case T_LPAREN: {
        next(p);
        promql_node_t *in = parse_expr(p, 1);
        if (!in)
            return NULL;
        n = new_node(p, N_PAREN, pos);
        if (!n)
            return NULL;
        n->paren.e = in;
        n->type = in->type;
        n->end = p->te;
        if (!expect(p, T_RPAREN, "in paren expression"))
            return NULL;
        break;
    }
    case T_LBRACE:
        n = parse_selector(p, pos, NULL);
        break;
    case T_IDENT: {
        char *name = tok_text(p);
        if (!name)
            return NULL;
        size_t tl = p->te - p->ts;
        next(p);
        if (p->tok == T_LPAREN) {
            const promql_func_t *f = promql_func_lookup(name, tl);
            if (!f) {
                fail_at(p, pos, "unknown function with name \"%s\"", name);
                return NULL;
            }
            n = parse_call(p, pos, f);
        } else {
            n = parse_selector(p, pos, name);
        }
        break;
    }
    default:
        if (is_aggregator(p->tok)) {
            /* An aggregator keyword not followed by "(" or by/without names
             * a metric, as Prometheus's grammar allows. */
            parser_t look = *p;
            next(&look);
            if (look.tok == T_LPAREN || look.tok == T_BY || look.tok == T_WITHOUT || look.failed) {
                n = parse_aggregation(p);
                break;
            }
        }
        if (is_aggregator(p->tok) || p->tok == T_LAND || p->tok == T_LOR || p->tok == T_LUNLESS ||
            p->tok == T_BY || p->tok == T_WITHOUT || p->tok == T_OFFSET || p->tok == T_START ||
            p->tok == T_END) {
            char *name = tok_text(p);
            if (!name)
                return NULL;
            next(p);
            n = parse_selector(p, pos, name);
            break;
        }
        if (p->tok == T_EOF)
            fail_at(p, p->ts, "unexpected end of input");
        else if (!p->failed)
            fail_at(p, p->ts, "unexpected %s", promql_tok_name(p->tok));
        return NULL;
    }
    if (!n)
        return NULL;
    /* Postfix: ranges, subqueries, offset and @, in any order. */
    for (;;) {
        if (p->tok == T_LBRACKET) {
            n = parse_bracket(p, n);
        } else if (p->tok == T_OFFSET) {
            if (!parse_offset(p, n))
                return NULL;
        } else if (p->tok == T_AT) {
            if (!parse_at(p, n))
                return NULL;
        } else {
            break;
        }
        if (!n)
            return NULL;
    }
    return n;
}

static promql_node_t *parse_unary(parser_t *p)
{
    if (++p->depth > MM_PROMQL_MAX_DEPTH) {
        fail_at(p, p->ts, "expression nested too deeply (more than %d levels)", MM_PROMQL_MAX_DEPTH);
        return NULL;
    }
    promql_node_t *r;
    if (p->tok == T_ADD || p->tok == T_SUB) {
        promql_tok_t op = p->tok;
        size_t pos = p->ts;
        next(p);
        /* Unary operators bind like '*': only '^' binds tighter. */
        promql_node_t *e = parse_expr(p, binop_prec(T_POW));
        if (!e) {
            r = NULL;
            goto out;
        }
        if (e->type != MM_PROMQL_SCALAR && e->type != MM_PROMQL_VECTOR) {
            fail_at(p, pos, "unary expression only allowed on expressions of type scalar or instant vector, got %s",
                    promql_type_name(e->type));
            r = NULL;
            goto out;
        }
        if (e->kind == N_NUM) {
            if (op == T_SUB)
                e->num = -e->num;
            e->pos = pos;
            r = e;
            goto out;
        }
        r = new_node(p, N_UNARY, pos);
        if (r) {
            r->unary.op = op;
            r->unary.e = e;
            r->type = e->type;
            r->end = e->end;
        }
        goto out;
    }
    r = parse_primary(p);
out:
    p->depth--;
    return r;
}

static bool label_in(const promql_labels_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->labels[i], s) == 0)
            return true;
    return false;
}

static promql_node_t *parse_expr(parser_t *p, int min_prec)
{
    if (++p->depth > MM_PROMQL_MAX_DEPTH) {
        fail_at(p, p->ts, "expression nested too deeply (more than %d levels)", MM_PROMQL_MAX_DEPTH);
        p->depth--;
        return NULL;
    }
    promql_node_t *lhs = parse_unary(p);
    while (lhs) {
        promql_tok_t op = p->tok;
        int prec = binop_prec(op);
        if (prec == 0 || prec < min_prec)
            break;
        size_t oppos = p->ts;
        next(p);
        promql_node_t *n = new_node(p, N_BIN, lhs->pos);
        if (!n) {
            lhs = NULL;
            break;
        }
        n->bin.op = op;
        n->bin.l = lhs;
        if (p->tok == T_BOOL) {
            n->bin.ret_bool = true;
            next(p);
        }
        if (p->tok == T_ON || p->tok == T_IGNORING) {
            n->bin.has_matching = true;
            n->bin.on = p->tok == T_ON;
            next(p);
            if (!parse_label_list(p, &n->bin.match, "in grouping opts")) {
                lhs = NULL;
                break;
            }
            if (p->tok == T_GROUP_LEFT || p->tok == T_GROUP_RIGHT) {
                n->bin.card = p->tok == T_GROUP_LEFT ? 1 : 2;
                n->bin.group_written = true;
                next(p);
                if (p->tok == T_LPAREN && !parse_label_list(p, &n->bin.include, "in grouping opts")) {
                    lhs = NULL;
                    break;
                }
            }
        }
        /* '^' is right-associative, everything else left-associative. */
        promql_node_t *rhs = parse_expr(p, op == T_POW ? prec : prec + 1);
        if (!rhs) {
            lhs = NULL;
            break;
        }
        n->bin.r = rhs;
        n->end = rhs->end;
        mm_promql_type_t lt = lhs->type, rt = rhs->type;
        /* The checks, in the order Prometheus 2.42 makes them. */
        if (n->bin.ret_bool && !promql_is_comparison(op)) {
            fail_at(p, oppos, "bool modifier can only be used on comparison operators");
            lhs = NULL;
            break;
        }
        if (promql_is_comparison(op) && !n->bin.ret_bool && lt == MM_PROMQL_SCALAR &&
            rt == MM_PROMQL_SCALAR) {
            fail_at(p, oppos, "comparisons between scalars must use BOOL modifier");
            lhs = NULL;
            break;
        }
        for (size_t i = 0; n->bin.on && i < n->bin.match.n; i++)
            if (label_in(&n->bin.include, n->bin.match.labels[i])) {
                fail_at(p, oppos, "label \"%s\" must not occur in ON and GROUP clause at once",
                        n->bin.match.labels[i]);
                lhs = NULL;
                goto done;
            }
        if ((lt != MM_PROMQL_SCALAR && lt != MM_PROMQL_VECTOR) ||
            (rt != MM_PROMQL_SCALAR && rt != MM_PROMQL_VECTOR)) {
            fail_at(p, (lt != MM_PROMQL_SCALAR && lt != MM_PROMQL_VECTOR) ? lhs->pos : rhs->pos,
                    "binary expression must contain only scalar and instant vector types");
            lhs = NULL;
            break;
        }
        if (lt == MM_PROMQL_VECTOR && rt == MM_PROMQL_VECTOR) {
            if (promql_is_setop(op)) {
                if (n->bin.card == 1 || n->bin.card == 2) {
                    fail_at(p, n->pos, "no grouping allowed for \"%s\" operation", promql_tok_name(op));
                    lhs = NULL;
                    break;
                }
                n->bin.card = 3;
            }
        } else {
            /* Matching written against a scalar: an error only when it names
             * labels; otherwise it is dropped. */
            if (n->bin.has_matching && n->bin.match.n > 0) {
                fail_at(p, n->pos, "vector matching only allowed between instant vectors");
                lhs = NULL;
                break;
            }
            n->bin.has_matching = false;
            n->bin.on = false;
            n->bin.card = 0;
            n->bin.group_written = false;
            n->bin.include.n = 0;
            n->bin.match.n = 0;
            if (promql_is_setop(op)) {
                fail_at(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression",
                        promql_tok_name(op));
                lhs = NULL;
                break;
            }
        }
        n->type = (lt == MM_PROMQL_VECTOR || rt == MM_PROMQL_VECTOR) ? MM_PROMQL_VECTOR
                                                                      : MM_PROMQL_SCALAR;
        lhs = n;
    }
done:
    p->depth--;
    return lhs;
}

int mm_promql_parse(const char *text, size_t len, mm_promql_expr_t **ret_expr,
                    mm_promql_error_t *err)
{
    mm_promql_error_t dummy;
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    *ret_expr = NULL;
    if (len > MM_PROMQL_MAX_LEN) {
        snprintf(err->msg, sizeof err->msg, "expression too long (%zu bytes, at most %u)", len,
                 MM_PROMQL_MAX_LEN);
        return -MM_EPARSE;
    }
    mm_promql_expr_t *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->arena = promql_arena_new();
    if (!x->arena) {
        free(x);
        return -ENOMEM;
    }
    parser_t p = {.src = text, .len = len, .x = x, .err = err};
    next(&p);
    if (p.tok == T_EOF && !p.failed)
        fail_at(&p, 0, "no expression found in input");
    promql_node_t *root = p.failed ? NULL : parse_expr(&p, 1);
    if (root && p.tok != T_EOF)
        fail_at(&p, p.ts, "unexpected %s", promql_tok_name(p.tok));
    if (p.failed || !root) {
        if (!p.failed)
            fail_at(&p, p.ts, "syntax error");
        mm_promql_expr_free(x);
        return p.oom ? -ENOMEM : -MM_EPARSE;
    }
    x->root = root;
    *ret_expr = x;
    return 0;
}

void mm_promql_expr_free(mm_promql_expr_t *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n_matchers; i++) {
        for (size_t k = 0; k < x->matcher_counts[i]; k++)
            mm_match_fini(&x->matchers[i][k]);
        free(x->matchers[i]);
    }
    free(x->matchers);
    free(x->matcher_counts);
    for (size_t i = 0; x->selcache && i < x->n_sels; i++)
        mm_promql_selcache_fini(&x->selcache[i]);
    free(x->selcache);
    free(x->sels);
    promql_arena_free(x->arena);
    free(x);
}

mm_promql_type_t mm_promql_expr_type(const mm_promql_expr_t *e)
{
    return e->root->type;
}

size_t mm_promql_expr_selectors(const mm_promql_expr_t *e, const mm_promql_selector_t **ret)
{
    *ret = e->sels;
    return e->n_sels;
}

bool mm_promql_expr_reads(const mm_promql_expr_t *e, const mm_label_t *labels, size_t n)
{
    for (size_t i = 0; i < e->n_sels; i++) {
        const mm_promql_selector_t *s = &e->sels[i];
        bool all = true;
        for (size_t k = 0; k < s->n_matchers && all; k++) {
            const char *v = NULL;
            for (size_t j = 0; j < n; j++)
                if (strcmp(labels[j].name, s->matchers[k].name) == 0)
                    v = labels[j].value;
            all = mm_match_value(&s->matchers[k], v);
        }
        if (all)
            return true;
    }
    return false;
}

static int64_t lookback_of(const promql_node_t *n, int64_t lb)
{
    if (!n)
        return 0;
    switch (n->kind) {
    case N_SEL:
        return (n->sel.offset > 0 ? n->sel.offset : 0) + lb;
    case N_MATRIX: {
        int64_t off = n->matrix.vs->sel.offset;
        return (off > 0 ? off : 0) + n->matrix.range;
    }
    case N_SUBQ: {
        int64_t in = lookback_of(n->subq.e, lb);
        return (n->subq.offset > 0 ? n->subq.offset : 0) + n->subq.range + in;
    }
    case N_PAREN:
        return lookback_of(n->paren.e, lb);
    case N_UNARY:
        return lookback_of(n->unary.e, lb);
    case N_BIN: {
        int64_t a = lookback_of(n->bin.l, lb), b = lookback_of(n->bin.r, lb);
        return a > b ? a : b;
    }
    case N_CALL: {
        int64_t m = 0;
        for (size_t i = 0; i < n->call.n; i++) {
            int64_t a = lookback_of(n->call.args[i], lb);
            if (a > m)
                m = a;
        }
        return m;
    }
    case N_AGG: {
        int64_t a = lookback_of(n->agg.e, lb), b = lookback_of(n->agg.param, lb);
        return a > b ? a : b;
    }
    default:
        return 0;
    }
}

int64_t mm_promql_expr_lookback(const mm_promql_expr_t *e, int64_t lookback_ms)
{
    if (lookback_ms <= 0)
        lookback_ms = 300000;
    return lookback_of(e->root, lookback_ms);
}
