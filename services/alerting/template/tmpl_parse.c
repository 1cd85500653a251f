/* Lexer and parser for Go 1.19's text/template syntax: text, {{ }} actions
 * with trim markers, comments, pipelines, variables, if/else if/with/range/
 * break/continue, and Go's parse error messages. The tree lives in the
 * template's arena. */
#include "tmpl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"

#define MAX_DEPTH 100

typedef enum {
    I_ERROR, I_BOOL, I_CHAR, I_CHARCONST, I_COMMENT, I_ASSIGN, I_DECLARE, I_EOF, I_FIELD,
    I_IDENT, I_LDELIM, I_LPAREN, I_NUMBER, I_PIPE, I_RAWSTRING, I_RDELIM, I_RPAREN, I_SPACE,
    I_STRING, I_TEXT, I_VARIABLE,
    I_KEYWORD, /* keywords after this */
    I_BLOCK, I_BREAK, I_CONTINUE, I_DOT, I_DEFINE, I_ELSE, I_END, I_IF, I_NIL, I_RANGE,
    I_TEMPLATE, I_WITH,
} itype_t;

typedef struct {
    itype_t t;
    int pos;
    int line;
    const char *val;
    size_t len;
} item_t;

typedef struct {
    arena_t *a;
    const char *in;
    size_t n;
    size_t pos, start;
    int line, start_line;
    int paren;
    item_t *items;
    size_t nitems, cap;
    bool done;
} lexer_t;

typedef struct {
    mm_tmpl_t *t;
    lexer_t lx;
    size_t ti;             /* next item */
    item_t last;           /* the furthest item read (Go's token[0]) */
    size_t far;
    const char **vars;
    size_t nvars, capvars;
    int range_depth;
    int depth;
    int action_line;
    jmp_buf jb;
    mm_tmpl_err_t *err;
    int code;
} parser_t;

/* ---------------------------------------------------------------- lexer */

static bool is_space(int r)
{
    return r == ' ' || r == '\t' || r == '\r' || r == '\n';
}

static bool is_alnum_r(uint32_t r)
{
    return r == '_' || go_is_letter(r) || go_is_digit(r);
}

static void emit_item(lexer_t *l, itype_t t, const char *val, size_t len, int pos, int line)
{
    if (l->nitems == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        item_t *it = arena_alloc(l->a, cap * sizeof *it);
        if (l->nitems)
            memcpy(it, l->items, l->nitems * sizeof *it);
        l->items = it;
        l->cap = cap;
    }
    l->items[l->nitems++] = (item_t){t, pos, line, val, len};
}

static void emit(lexer_t *l, itype_t t)
{
    emit_item(l, t, l->in + l->start, l->pos - l->start, (int)l->start, l->start_line);
    for (size_t i = l->start; i < l->pos; i++)
        if (l->in[i] == '\n')
            l->line++;
    l->start = l->pos;
    l->start_line = l->line;
}

static void ignore(lexer_t *l)
{
    for (size_t i = l->start; i < l->pos; i++)
        if (l->in[i] == '\n')
            l->line++;
    l->start = l->pos;
    l->start_line = l->line;
}

static void lex_error(lexer_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lex_error(lexer_t *l, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *m = arena_strndup(l->a, buf, strlen(buf));
    emit_item(l, I_ERROR, m, strlen(m), (int)l->start, l->start_line);
    l->done = true;
}

/* Moves past a quoted string or character constant whose opening quote
 * was read: a backslash escapes the next byte and a newline ends it early.
 * Returns false, with the error item emitted, when it is unterminated. */
static bool scan_quoted(lexer_t *l, char quote, const char *unterminated)
{
    for (;;) {
        if (l->pos >= l->n || l->in[l->pos] == '\n') {
            lex_error(l, "%s", unterminated);
            return false;
        }
        char c = l->in[l->pos++];
        if (c == '\\') {
            if (l->pos >= l->n || l->in[l->pos] == '\n') {
                lex_error(l, "%s", unterminated);
                return false;
            }
            l->pos++;
        } else if (c == quote) {
            return true;
        }
    }
}

static uint32_t peek_r(lexer_t *l, size_t *w)
{
    if (l->pos >= l->n) {
        *w = 0;
        return (uint32_t)-1;
    }
    return utf8_decode(l->in + l->pos, l->n - l->pos, w);
}

static bool has_prefix(lexer_t *l, size_t at, const char *p)
{
    size_t k = strlen(p);
    return at <= l->n && l->n - at >= k && memcmp(l->in + at, p, k) == 0;
}

static bool has_left_trim(lexer_t *l, size_t at)
{
    return at + 2 <= l->n && l->in[at] == '-' && is_space(l->in[at + 1]);
}

static bool has_right_trim(lexer_t *l, size_t at)
{
    return at + 2 <= l->n && is_space(l->in[at]) && l->in[at + 1] == '-';
}

static bool at_right_delim(lexer_t *l, bool *trim)
{
    *trim = false;
    if (has_right_trim(l, l->pos) && has_prefix(l, l->pos + 2, "}}")) {
        *trim = true;
        return true;
    }
    return has_prefix(l, l->pos, "}}");
}

static void skip_left_trim(lexer_t *l)
{
    while (l->pos < l->n && is_space(l->in[l->pos]))
        l->pos++;
}

static void fmt_rune(char *buf, size_t cap, uint32_t r)
{
    /* Go's %#U: U+0040 '@' (the quoted form only when printable). */
    if (go_is_print(r)) {
        sbuf_t b;
        sb_init(&b);
        sb_utf8(&b, r);
        snprintf(buf, cap, "U+%04X '%s'", (unsigned)r, b.p ? b.p : "");
        sb_fini(&b);
    } else {
        snprintf(buf, cap, "U+%04X", (unsigned)r);
    }
}

static bool at_terminator(lexer_t *l)
{
    size_t w;
    uint32_t r = peek_r(l, &w);
    if (r == (uint32_t)-1 || is_space((int)r))
        return true;
    switch (r) {
    case '.': case ',': case '|': case ':': case ')': case '(': case '}':
        return true;
    default:
        return false;
    }
}

static void accept_run(lexer_t *l, const char *valid)
{
    while (l->pos < l->n && l->in[l->pos] && strchr(valid, l->in[l->pos]))
        l->pos++;
}

static bool accept(lexer_t *l, const char *valid)
{
    if (l->pos < l->n && l->in[l->pos] && strchr(valid, l->in[l->pos])) {
        l->pos++;
        return true;
    }
    return false;
}

static bool scan_number(lexer_t *l)
{
    accept(l, "+-");
    const char *digits = "0123456789_";
    if (accept(l, "0")) {
        if (accept(l, "xX"))
            digits = "0123456789abcdefABCDEF_";
        else if (accept(l, "oO"))
            digits = "01234567_";
        else if (accept(l, "bB"))
            digits = "01_";
    }
    accept_run(l, digits);
    if (accept(l, "."))
        accept_run(l, digits);
    if (strlen(digits) == 11 && accept(l, "eE")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    if (strlen(digits) == 23 && accept(l, "pP")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    accept(l, "i");
    size_t w;
    uint32_t r = peek_r(l, &w);
    if (r != (uint32_t)-1 && is_alnum_r(r)) {
        l->pos += w;
        return false;
    }
    return true;
}

static itype_t keyword(const char *s, size_t n)
{
    static const struct { const char *k; itype_t t; } kw[] = {
        {"block", I_BLOCK}, {"break", I_BREAK}, {"continue", I_CONTINUE}, {"define", I_DEFINE},
        {"else", I_ELSE}, {"end", I_END}, {"if", I_IF}, {"range", I_RANGE}, {"nil", I_NIL},
        {"template", I_TEMPLATE}, {"with", I_WITH},
    };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strlen(kw[i].k) == n && memcmp(kw[i].k, s, n) == 0)
            return kw[i].t;
    return I_ERROR;
}

static void lex_all(lexer_t *l)
{
    enum { TEXT, INSIDE } state = TEXT;
    while (!l->done) {
        if (state == TEXT) {
            const char *x = NULL;
            for (size_t i = l->pos; i + 1 < l->n; i++)
                if (l->in[i] == '{' && l->in[i + 1] == '{') {
                    x = l->in + i;
                    break;
                }
            if (!x) {
                l->pos = l->n;
                if (l->pos > l->start)
                    emit(l, I_TEXT);
                emit(l, I_EOF);
                return;
            }
            size_t at = (size_t)(x - l->in);
            size_t trim = 0;
            if (has_left_trim(l, at + 2)) {
                size_t k = at;
                while (k > l->start && is_space(l->in[k - 1]))
                    k--;
                trim = at - k;
            }
            l->pos = at - trim;
            if (l->pos > l->start)
                emit(l, I_TEXT);
            l->pos += trim;
            ignore(l);
            /* Left delimiter. */
            l->pos += 2;
            bool trim_space = has_left_trim(l, l->pos);
            size_t after = trim_space ? 2 : 0;
            if (has_prefix(l, l->pos + after, "/*")) {
                l->pos += after;
                ignore(l);
                l->pos += 2;
                const char *e = NULL;
                for (size_t i = l->pos; i + 1 < l->n; i++)
                    if (l->in[i] == '*' && l->in[i + 1] == '/') {
                        e = l->in + i;
                        break;
                    }
                if (!e) {
                    lex_error(l, "unclosed comment");
                    return;
                }
                l->pos = (size_t)(e - l->in) + 2;
                bool rtrim;
                if (!at_right_delim(l, &rtrim)) {
                    lex_error(l, "comment ends before closing delimiter");
                    return;
                }
                emit(l, I_COMMENT);
                if (rtrim)
                    l->pos += 2;
                l->pos += 2;
                if (rtrim)
                    skip_left_trim(l);
                ignore(l);
                continue;
            }
            emit(l, I_LDELIM);
            l->pos += after;
            ignore(l);
            l->paren = 0;
            state = INSIDE;
            continue;
        }
        /* Inside an action. */
        bool rtrim;
        if (at_right_delim(l, &rtrim)) {
            if (l->paren != 0) {
                lex_error(l, "unclosed left paren");
                return;
            }
            if (rtrim) {
                l->pos += 2;
                ignore(l);
            }
            l->pos += 2;
            emit(l, I_RDELIM);
            if (rtrim) {
                skip_left_trim(l);
                ignore(l);
            }
            state = TEXT;
            continue;
        }
        size_t w;
        uint32_t r = peek_r(l, &w);
        if (r == (uint32_t)-1) {
            lex_error(l, "unclosed action");
            return;
        }
        if (is_space((int)r)) {
            int nsp = 0;
            while (l->pos < l->n && is_space(l->in[l->pos])) {
                l->pos++;
                nsp++;
            }
            if (has_right_trim(l, l->pos - 1) && has_prefix(l, l->pos + 1, "}}")) {
                l->pos--;
                if (nsp == 1)
                    continue; /* on the trim-marked delimiter */
            }
            emit(l, I_SPACE);
            continue;
        }
        l->pos += w;
        switch (r) {
        case '=':
            emit(l, I_ASSIGN);
            continue;
        case ':':
            if (l->pos >= l->n || l->in[l->pos] != '=') {
                lex_error(l, "expected :=");
                return;
            }
            l->pos++;
            emit(l, I_DECLARE);
            continue;
        case '|':
            emit(l, I_PIPE);
            continue;
        case '"':
            if (!scan_quoted(l, '"', "unterminated quoted string"))
                return;
            emit(l, I_STRING);
            continue;
        case '`': {
            const char *e = memchr(l->in + l->pos, '`', l->n - l->pos);
            if (!e) {
                lex_error(l, "unterminated raw quoted string");
                return;
            }
            l->pos = (size_t)(e - l->in) + 1;
            emit(l, I_RAWSTRING);
            continue;
        }
        case '$':
        case '.': {
            /* A '.' before a digit or at the very end starts a number, as in Go. */
            if (r == '.' && (l->pos >= l->n || (l->in[l->pos] >= '0' && l->in[l->pos] <= '9'))) {
                l->pos--;
                goto number;
            }
            if (at_terminator(l)) {
                emit(l, r == '$' ? I_VARIABLE : I_DOT);
                continue;
            }
            uint32_t c;
            for (;;) {
                c = peek_r(l, &w);
                if (c == (uint32_t)-1 || !is_alnum_r(c))
                    break;
                l->pos += w;
            }
            if (!at_terminator(l)) {
                char rb[32];
                fmt_rune(rb, sizeof rb, c);
                lex_error(l, "bad character %s", rb);
                return;
            }
            emit(l, r == '$' ? I_VARIABLE : I_FIELD);
            continue;
        }
        case '\'':
            if (!scan_quoted(l, '\'', "unterminated character constant"))
                return;
            emit(l, I_CHARCONST);
            continue;
        case '(':
            emit(l, I_LPAREN);
            l->paren++;
            continue;
        case ')':
            emit(l, I_RPAREN);
            l->paren--;
            if (l->paren < 0) {
                lex_error(l, "unexpected right paren U+0029 ')'");
                return;
            }
            continue;
        default:
            break;
        }
        if (r == '+' || r == '-' || (r >= '0' && r <= '9')) {
            l->pos -= w;
        number:
            if (!scan_number(l)) {
                lex_error(l, "bad number syntax: \"%.*s\"", (int)(l->pos - l->start),
                          l->in + l->start);
                return;
            }
            if (l->pos < l->n && (l->in[l->pos] == '+' || l->in[l->pos] == '-')) {
                if (!scan_number(l) || l->in[l->pos - 1] != 'i') {
                    lex_error(l, "bad number syntax: \"%.*s\"", (int)(l->pos - l->start),
                              l->in + l->start);
                    return;
                }
                lex_error(l, "complex numbers are not supported");
                return;
            }
            emit(l, I_NUMBER);
            continue;
        }
        if (is_alnum_r(r)) {
            uint32_t c;
            for (;;) {
                c = peek_r(l, &w);
                if (c == (uint32_t)-1 || !is_alnum_r(c))
                    break;
                l->pos += w;
            }
            if (!at_terminator(l)) {
                char rb[32];
                fmt_rune(rb, sizeof rb, c);
                lex_error(l, "bad character %s", rb);
                return;
            }
            const char *word = l->in + l->start;
            size_t wn = l->pos - l->start;
            itype_t k = keyword(word, wn);
            if (k != I_ERROR)
                emit(l, k);
            else if ((wn == 4 && memcmp(word, "true", 4) == 0) ||
                     (wn == 5 && memcmp(word, "false", 5) == 0))
                emit(l, I_BOOL);
            else
                emit(l, I_IDENT);
            continue;
        }
        if (r < 0x80 && r >= 0x20 && r != 0x7F) {
            emit(l, I_CHAR);
            continue;
        }
        char rb[32];
        fmt_rune(rb, sizeof rb, r);
        lex_error(l, "unrecognized character in action: %s", rb);
        return;
    }
}

/* ---------------------------------------------------------------- errors */

static void perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void perr(parser_t *p, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->err) {
        p->err->phase = MM_TMPL_ERR_PARSE;
        snprintf(p->err->msg, sizeof p->err->msg, "template: %s:%d: %s", p->t->name, p->last.line,
                 msg);
        size_t pos = (size_t)p->last.pos;
        p->err->offset = pos >= p->t->prelude ? pos - p->t->prelude : 0;
        unsigned line = 1, col = 1;
        for (size_t i = p->t->prelude; i < pos && i < p->t->len; i++) {
            if (p->t->text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        p->err->line = line;
        p->err->col = col;
    }
    if (!p->code)
        p->code = -MM_EPARSE;
    longjmp(p->jb, 1);
}

/* Go's item.String(). */
static void item_string(char *buf, size_t cap, const item_t *it)
{
    if (it->t == I_EOF) {
        snprintf(buf, cap, "EOF");
    } else if (it->t == I_ERROR) {
        snprintf(buf, cap, "%.*s", (int)it->len, it->val);
    } else if (it->t > I_KEYWORD) {
        snprintf(buf, cap, "<%.*s>", (int)it->len, it->val);
    } else {
        sbuf_t b;
        sb_init(&b);
        size_t n = it->len;
        bool trunc = false;
        size_t runes = 0, w, i = 0;
        for (; i < n; i += w, runes++) {
            if (runes == 10)
                break;
            utf8_decode(it->val + i, n - i, &w);
        }
        if (it->len > 10 && i < n) {
            n = i;
            trunc = true;
        }
        go_quote(&b, it->val, n);
        snprintf(buf, cap, "%s%s", b.p ? b.p : "", trunc ? "..." : "");
        sb_fini(&b);
    }
}

/* ---------------------------------------------------------------- tokens */

static item_t item_at(parser_t *p, size_t i)
{
    return p->lx.items[i < p->lx.nitems ? i : p->lx.nitems - 1];
}

static item_t next(parser_t *p)
{
    item_t it = item_at(p, p->ti);
    /* Go's errors name the line of the furthest item read, look-ahead included. */
    if (p->ti >= p->far) {
        p->last = it;
        p->far = p->ti + 1;
    }
    p->ti++;
    return it;
}

static void backup(parser_t *p)
{
    p->ti--;
}

static item_t peek(parser_t *p)
{
    return item_at(p, p->ti);
}

static item_t next_non_space(parser_t *p)
{
    item_t it;
    do {
        it = next(p);
    } while (it.t == I_SPACE);
    return it;
}

static item_t peek_non_space(parser_t *p)
{
    item_t it = next_non_space(p);
    backup(p);
    return it;
}

static void unexpected(parser_t *p, const item_t *it, const char *context) __attribute__((noreturn));
static void unexpected(parser_t *p, const item_t *it, const char *context)
{
    char s[128];
    item_string(s, sizeof s, it);
    if (it->t == I_ERROR) {
        char extra[200] = "";
        if (p->action_line != 0 && p->action_line != it->line) {
            snprintf(extra, sizeof extra, " in action started at %s:%d", p->t->name,
                     p->action_line);
            if (it->len >= 7 && memcmp(it->val + it->len - 7, " action", 7) == 0)
                memmove(extra, extra + 10, strlen(extra + 10) + 1);
        }
        perr(p, "%s%s", s, extra);
    }
    perr(p, "unexpected %s in %s", s, context);
}

static item_t expect(parser_t *p, itype_t t, const char *context)
{
    item_t it = next_non_space(p);
    if (it.t != t)
        unexpected(p, &it, context);
    return it;
}

/* ---------------------------------------------------------------- nodes */

static node_t *new_node(parser_t *p, ntype_t t, int pos, int line)
{
    node_t *n = arena_alloc(&p->t->arena, sizeof *n);
    n->t = t;
    n->pos = pos;
    n->line = line;
    return n;
}

static void push_ptr(parser_t *p, node_t ***v, size_t *n, size_t *cap, node_t *x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        node_t **nv = arena_alloc(&p->t->arena, c * sizeof *nv);
        if (*n)
            memcpy(nv, *v, *n * sizeof *nv);
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
}

static void list_append(parser_t *p, node_t *l, node_t *x)
{
    push_ptr(p, &l->u.list.v, &l->u.list.n, &l->u.list.cap, x);
}

static const char *adup(parser_t *p, const char *s, size_t n)
{
    return arena_strndup(&p->t->arena, s, n);
}

/* Splits ".a.b" or "$x.a" into identifiers. */
static void split_idents(parser_t *p, const char *s, size_t n, bool field, const char ***out,
                         size_t *cnt)
{
    size_t parts = 1;
    for (size_t i = 1; i < n; i++)
        if (s[i] == '.')
            parts++;
    const char **v = arena_alloc(&p->t->arena, parts * sizeof *v);
    size_t k = 0, st = field ? 1 : 0;
    for (size_t i = st; i <= n; i++) {
        if (i == n || (s[i] == '.' && i > 0)) {
            v[k++] = adup(p, s + st, i - st);
            st = i + 1;
        }
    }
    *out = v;
    *cnt = k;
}

static void push_var(parser_t *p, const char *name)
{
    if (p->nvars == p->capvars) {
        size_t c = p->capvars ? p->capvars * 2 : 8;
        const char **v = arena_alloc(&p->t->arena, c * sizeof *v);
        if (p->nvars)
            memcpy(v, p->vars, p->nvars * sizeof *v);
        p->vars = v;
        p->capvars = c;
    }
    p->vars[p->nvars++] = name;
}

static node_t *new_variable(parser_t *p, int pos, int line, const char *s, size_t n)
{
    node_t *v = new_node(p, N_VAR, pos, line);
    split_idents(p, s, n, false, &v->u.field.ident, &v->u.field.n);
    return v;
}

static node_t *use_var(parser_t *p, const item_t *it)
{
    node_t *v = new_variable(p, it->pos, it->line, it->val, it->len);
    for (size_t i = 0; i < p->nvars; i++)
        if (strcmp(p->vars[i], v->u.field.ident[0]) == 0)
            return v;
    perr(p, "undefined variable \"%s\"", v->u.field.ident[0]);
}

/* ---- numbers and strings (strconv rules) ---- */

static bool parse_int_text(const char *s, size_t n, bool is_signed, uint64_t *mag, bool *neg)
{
    size_t i = 0;
    *neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (!is_signed)
            return false;
        *neg = s[i] == '-';
        i++;
    }
    int base = 10;
    bool prefix = false;
    if (i < n && s[i] == '0') {
        if (i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
            base = 16;
            i += 2;
            prefix = true;
        } else if (i + 1 < n && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
            base = 8;
            i += 2;
            prefix = true;
        } else if (i + 1 < n && (s[i + 1] == 'b' || s[i + 1] == 'B')) {
            base = 2;
            i += 2;
            prefix = true;
        } else if (i + 1 < n) {
            base = 8;
            i += 1;
            prefix = true;
        }
    }
    if (i >= n && !(base == 8 && prefix && s[n - 1] == '0' && !(n >= 2 && (s[n - 1] | 32) == 'o')))
        return false;
    uint64_t v = 0;
    /* Underscores may only separate digits (a base prefix counts as one). */
    char last = prefix ? '0' : 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (last == '_' || last == 0)
                return false;
            last = '_';
            continue;
        }
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 32) >= 'a' && (c | 32) <= 'f')
            d = (c | 32) - 'a' + 10;
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
        last = c;
    }
    if (last == '_')
        return false;
    *mag = v;
    return true;
}

static node_t *new_number(parser_t *p, const item_t *it)
{
    node_t *nn = new_node(p, N_NUMBER, it->pos, it->line);
    const char *s = it->val;
    size_t n = it->len;
    nn->u.num.text = adup(p, s, n);
    if (it->t == I_CHARCONST) {
        /* 'x', '\n', '\x41', '\u00e9' ... */
        size_t w;
        uint32_t r;
        size_t i = 1;
        if (n >= 3 && s[1] == '\\') {
            char c = s[2];
            i = 3;
            switch (c) {
            case 'a': r = 7; break;
            case 'b': r = 8; break;
            case 'f': r = 12; break;
            case 'n': r = 10; break;
            case 'r': r = 13; break;
            case 't': r = 9; break;
            case 'v': r = 11; break;
            case '\\': r = '\\'; break;
            case '\'': r = '\''; break;
            case 'x':
            case 'u':
            case 'U': {
                size_t k = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                r = 0;
                for (size_t q = 0; q < k; q++) {
                    if (i >= n || !isxdigit((unsigned char)s[i]))
                        perr(p, "invalid syntax");
                    char h = s[i++];
                    r = r * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                break;
            }
            default:
                if (c >= '0' && c <= '7') {
                    r = 0;
                    i = 2;
                    for (int q = 0; q < 3; q++) {
                        if (i >= n || s[i] < '0' || s[i] > '7')
                            perr(p, "invalid syntax");
                        r = r * 8 + (uint32_t)(s[i++] - '0');
                    }
                } else {
                    perr(p, "invalid syntax");
                }
            }
        } else {
            r = utf8_decode(s + 1, n - 1, &w);
            i = 1 + w;
            if (r == '\'' )
                perr(p, "invalid syntax");
        }
        if (i != n - 1 || s[n - 1] != '\'')
            perr(p, "malformed character constant: %.*s", (int)n, s);
        nn->u.num.i = r;
        nn->u.num.u = r;
        nn->u.num.f = r;
        nn->u.num.isint = nn->u.num.isuint = nn->u.num.isfloat = true;
        return nn;
    }
    if (n && s[n - 1] == 'i')
        perr(p, "complex numbers are not supported");
    uint64_t mag;
    bool neg;
    if (parse_int_text(s, n, false, &mag, &neg)) {
        nn->u.num.isuint = true;
        nn->u.num.u = mag;
    }
    if (parse_int_text(s, n, true, &mag, &neg)) {
        if (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX) {
            nn->u.num.isint = true;
            nn->u.num.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
            if (nn->u.num.i == 0) {
                nn->u.num.isuint = true;
                nn->u.num.u = 0;
            }
        }
    }
    if (nn->u.num.isint) {
        nn->u.num.isfloat = true;
        nn->u.num.f = (double)nn->u.num.i;
    } else if (nn->u.num.isuint) {
        nn->u.num.isfloat = true;
        nn->u.num.f = (double)nn->u.num.u;
    } else {
        /* strconv.ParseFloat: decimal or hex floats, underscores only after a prefix. */
        char buf[128];
        size_t k = 0;
        bool ok = n < sizeof buf;
        for (size_t i = 0; ok && i < n; i++) {
            if (s[i] == '_')
                continue;
            buf[k++] = s[i];
        }
        if (ok) {
            buf[k] = 0;
            char *end;
            double f = strtod(buf, &end);
            bool hexp = strpbrk(buf, "xX") != NULL;
            if (*end != 0 || k == 0 || (hexp && !strpbrk(buf, "pP")) ||
                strpbrk(buf, "nN") || strpbrk(buf, "iI"))
                ok = false;
            if (ok && !isinf(f)) {
                if (!strpbrk(s, ".eEpP"))
                    perr(p, "integer overflow: \"%.*s\"", (int)n, s);
                nn->u.num.isfloat = true;
                nn->u.num.f = f;
                if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 &&
                    (double)(int64_t)f == f) {
                    nn->u.num.isint = true;
                    nn->u.num.i = (int64_t)f;
                }
                if (f >= 0 && f < 18446744073709551616.0 && (double)(uint64_t)f == f) {
                    nn->u.num.isuint = true;
                    nn->u.num.u = (uint64_t)f;
                }
            }
        }
    }
    if (!nn->u.num.isint && !nn->u.num.isuint && !nn->u.num.isfloat)
        perr(p, "illegal number syntax: \"%.*s\"", (int)n, s);
    return nn;
}

/* strconv.Unquote for "..." and `...`. */
static node_t *new_string(parser_t *p, const item_t *it)
{
    node_t *nn = new_node(p, N_STRING, it->pos, it->line);
    nn->u.str.quoted = adup(p, it->val, it->len);
    const char *s = it->val + 1;
    size_t n = it->len - 2;
    sbuf_t b;
    sb_init(&b);
    if (it->t == I_RAWSTRING) {
        for (size_t i = 0; i < n; i++)
            if (s[i] != '\r')
                sb_putc(&b, s[i]);
    } else {
        for (size_t i = 0; i < n;) {
            char c = s[i];
            if (c != '\\') {
                sb_putc(&b, c);
                i++;
                continue;
            }
            if (i + 1 >= n)
                goto bad;
            char d = s[i + 1];
            i += 2;
            switch (d) {
            case 'a': sb_putc(&b, 7); break;
            case 'b': sb_putc(&b, 8); break;
            case 'f': sb_putc(&b, 12); break;
            case 'n': sb_putc(&b, 10); break;
            case 'r': sb_putc(&b, 13); break;
            case 't': sb_putc(&b, 9); break;
            case 'v': sb_putc(&b, 11); break;
            case '\\': sb_putc(&b, '\\'); break;
            case '"': sb_putc(&b, '"'); break;
            case 'x':
            case 'u':
            case 'U': {
                size_t k = d == 'x' ? 2 : d == 'u' ? 4 : 8;
                uint32_t r = 0;
                for (size_t q = 0; q < k; q++) {
                    if (i >= n || !isxdigit((unsigned char)s[i]))
                        goto bad;
                    char h = s[i++];
                    r = r * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                if (d == 'x') {
                    sb_putc(&b, (char)r);
                } else {
                    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
                        goto bad;
                    sb_utf8(&b, r);
                }
                break;
            }
            default:
                if (d >= '0' && d <= '7') {
                    uint32_t r = (uint32_t)(d - '0');
                    for (int q = 0; q < 2; q++) {
                        if (i >= n || s[i] < '0' || s[i] > '7')
                            goto bad;
                        r = r * 8 + (uint32_t)(s[i++] - '0');
                    }
                    if (r > 255)
                        goto bad;
                    sb_putc(&b, (char)r);
                    break;
                }
                goto bad;
            }
        }
    }
    if (b.failed) {
        sb_fini(&b);
        p->code = -ENOMEM;
        perr(p, "out of memory");
    }
    nn->u.str.s = adup(p, b.p ? b.p : "", b.n);
    nn->u.str.n = b.n;
    sb_fini(&b);
    return nn;
bad:
    sb_fini(&b);
    perr(p, "invalid syntax");
}

/* ---------------------------------------------------------------- parser */

static node_t *pipeline(parser_t *p, const char *context, itype_t end);
static node_t *item_list(parser_t *p, node_t **next_out);
static node_t *text_or_action(parser_t *p);

/* The function table is in tmpl_exec.c. */
int tmpl_func_lookup(const char *name, size_t n);

static void enter(parser_t *p)
{
    if (++p->depth > MAX_DEPTH) {
        p->code = -MM_ELIMIT;
        perr(p, "max expression depth exceeded");
    }
}

static node_t *term(parser_t *p)
{
    item_t it = next_non_space(p);
    switch (it.t) {
    case I_IDENT: {
        int fn = tmpl_func_lookup(it.val, it.len);
        if (fn < 0)
            perr(p, "function \"%.*s\" not defined", (int)it.len, it.val);
        node_t *n = new_node(p, N_IDENT, it.pos, it.line);
        n->u.ident.name = adup(p, it.val, it.len);
        n->u.ident.fn = fn;
        return n;
    }
    case I_DOT:
        return new_node(p, N_DOT, it.pos, it.line);
    case I_NIL:
        return new_node(p, N_NIL, it.pos, it.line);
    case I_VARIABLE:
        return use_var(p, &it);
    case I_FIELD: {
        node_t *n = new_node(p, N_FIELD, it.pos, it.line);
        split_idents(p, it.val, it.len, true, &n->u.field.ident, &n->u.field.n);
        return n;
    }
    case I_BOOL: {
        node_t *n = new_node(p, N_BOOL, it.pos, it.line);
        n->u.b = it.val[0] == 't';
        return n;
    }
    case I_CHARCONST:
    case I_NUMBER:
        return new_number(p, &it);
    case I_LPAREN: {
        enter(p);
        node_t *n = pipeline(p, "parenthesized pipeline", I_RPAREN);
        p->depth--;
        return n;
    }
    case I_STRING:
    case I_RAWSTRING:
        return new_string(p, &it);
    default:
        break;
    }
    backup(p);
    return NULL;
}

static node_t *operand(parser_t *p)
{
    node_t *n = term(p);
    if (!n)
        return NULL;
    if (peek(p).t == I_FIELD) {
        node_t *ch = new_node(p, N_CHAIN, peek(p).pos, peek(p).line);
        ch->u.chain.node = n;
        size_t cap = 0;
        while (peek(p).t == I_FIELD) {
            item_t f = next(p);
            if (ch->u.chain.n == cap) {
                size_t c = cap ? cap * 2 : 4;
                const char **v = arena_alloc(&p->t->arena, c * sizeof *v);
                if (ch->u.chain.n)
                    memcpy(v, ch->u.chain.field, ch->u.chain.n * sizeof *v);
                ch->u.chain.field = v;
                cap = c;
            }
            ch->u.chain.field[ch->u.chain.n++] = adup(p, f.val + 1, f.len - 1);
        }
        switch (n->t) {
        case N_FIELD:
        case N_VAR: {
            /* Fold .X.Y or $x.Y into one node, as Go does. */
            size_t total = n->u.field.n + ch->u.chain.n;
            const char **v = arena_alloc(&p->t->arena, total * sizeof *v);
            memcpy(v, n->u.field.ident, n->u.field.n * sizeof *v);
            memcpy(v + n->u.field.n, ch->u.chain.field, ch->u.chain.n * sizeof *v);
            node_t *m = new_node(p, n->t, ch->pos, ch->line);
            m->u.field.ident = v;
            m->u.field.n = total;
            return m;
        }
        case N_BOOL:
        case N_STRING:
        case N_NUMBER:
        case N_NIL:
        case N_DOT: {
            sbuf_t b;
            sb_init(&b);
            node_string(&b, n);
            char msg[300];
            sbuf_t q;
            sb_init(&q);
            go_quote(&q, b.p ? b.p : "", b.n);
            snprintf(msg, sizeof msg, "%s", q.p ? q.p : "");
            sb_fini(&b);
            sb_fini(&q);
            perr(p, "unexpected . after term %s", msg);
        }
        default:
            return ch;
        }
    }
    return n;
}

static node_t *command(parser_t *p)
{
    node_t *cmd = new_node(p, N_CMD, peek_non_space(p).pos, peek_non_space(p).line);
    for (;;) {
        peek_non_space(p);
        node_t *op = operand(p);
        if (op)
            push_ptr(p, &cmd->u.cmd.args, &cmd->u.cmd.nargs, &cmd->u.cmd.cap, op);
        item_t it = next(p);
        switch (it.t) {
        case I_SPACE:
            continue;
        case I_RDELIM:
        case I_RPAREN:
            backup(p);
            break;
        case I_PIPE:
            break;
        default:
            unexpected(p, &it, "operand");
        }
        break;
    }
    if (cmd->u.cmd.nargs == 0)
        perr(p, "empty command");
    return cmd;
}

static void check_pipeline(parser_t *p, node_t *pipe, const char *context)
{
    if (pipe->u.pipe.ncmds == 0)
        perr(p, "missing value for %s", context);
    for (size_t i = 1; i < pipe->u.pipe.ncmds; i++) {
        switch (pipe->u.pipe.cmds[i]->u.cmd.args[0]->t) {
        case N_BOOL:
        case N_DOT:
        case N_NIL:
        case N_NUMBER:
        case N_STRING:
            perr(p, "non executable command in pipeline stage %zu", i + 1);
        default:
            break;
        }
    }
}

static void add_decl(parser_t *p, node_t *pipe, const item_t *v)
{
    node_t *var = new_variable(p, v->pos, v->line, v->val, v->len);
    node_t **d = arena_alloc(&p->t->arena, (pipe->u.pipe.ndecl + 1) * sizeof *d);
    if (pipe->u.pipe.ndecl)
        memcpy(d, pipe->u.pipe.decl, pipe->u.pipe.ndecl * sizeof *d);
    d[pipe->u.pipe.ndecl++] = var;
    pipe->u.pipe.decl = d;
    push_var(p, adup(p, v->val, v->len));
}

static node_t *pipeline(parser_t *p, const char *context, itype_t end)
{
    item_t tok = peek_non_space(p);
    node_t *pipe = new_node(p, N_PIPE, tok.pos, tok.line);
decls:;
    item_t v = peek_non_space(p);
    if (v.t == I_VARIABLE) {
        next_non_space(p);
        item_t after = peek(p);
        item_t nx = peek_non_space(p);
        if (nx.t == I_ASSIGN || nx.t == I_DECLARE) {
            pipe->u.pipe.assign = nx.t == I_ASSIGN;
            next_non_space(p);
            add_decl(p, pipe, &v);
        } else if (nx.t == I_CHAR && nx.len == 1 && nx.val[0] == ',') {
            next_non_space(p);
            add_decl(p, pipe, &v);
            if (strcmp(context, "range") == 0 && pipe->u.pipe.ndecl < 2) {
                item_t q = peek_non_space(p);
                if (q.t == I_VARIABLE || q.t == I_RDELIM || q.t == I_RPAREN)
                    goto decls;
                perr(p, "range can only initialize variables");
            }
            perr(p, "too many declarations in %s", context);
        } else if (after.t == I_SPACE) {
            /* Back up over the space and the variable (Go's backup3). */
            while (p->ti > 0 && item_at(p, p->ti).pos != v.pos)
                p->ti--;
        } else {
            while (p->ti > 0 && item_at(p, p->ti).pos != v.pos)
                p->ti--;
        }
    }
    for (;;) {
        item_t it = next_non_space(p);
        if (it.t == end) {
            check_pipeline(p, pipe, context);
            return pipe;
        }
        switch (it.t) {
        case I_BOOL:
        case I_CHARCONST:
        case I_DOT:
        case I_FIELD:
        case I_IDENT:
        case I_NUMBER:
        case I_NIL:
        case I_RAWSTRING:
        case I_STRING:
        case I_VARIABLE:
        case I_LPAREN:
            backup(p);
            push_ptr(p, &pipe->u.pipe.cmds, &pipe->u.pipe.ncmds, &pipe->u.pipe.capcmds,
                     command(p));
            break;
        default:
            unexpected(p, &it, context);
        }
    }
}

static node_t *if_control(parser_t *p);
static node_t *template_control(parser_t *p);
static node_t *block_control(parser_t *p);

static node_t *parse_control(parser_t *p, bool allow_else_if, const char *context, ntype_t t)
{
    enter(p);
    size_t mark = p->nvars;
    node_t *pipe = pipeline(p, context, I_RDELIM);
    if (t == N_RANGE)
        p->range_depth++;
    node_t *nx;
    node_t *list = item_list(p, &nx);
    if (t == N_RANGE)
        p->range_depth--;
    node_t *else_list = NULL;
    if (nx->t == N_ELSE) {
        if (allow_else_if && peek(p).t == I_IF) {
            /* {{else if x}} is {{else}}{{if x}}...{{end}}{{end}} with one {{end}}. */
            next(p);
            else_list = new_node(p, N_LIST, nx->pos, nx->line);
            list_append(p, else_list, if_control(p));
        } else {
            else_list = item_list(p, &nx);
            if (nx->t != N_END)
                perr(p, "expected end; found %s", nx->t == N_ELSE ? "{{else}}" : "{{end}}");
        }
    }
    p->nvars = mark;
    node_t *n = new_node(p, t, pipe->pos, pipe->line);
    n->u.ctl.pipe = pipe;
    n->u.ctl.list = list;
    n->u.ctl.elselist = else_list;
    p->depth--;
    return n;
}

static node_t *if_control(parser_t *p)
{
    return parse_control(p, true, "if", N_IF);
}

/* The name of {{template "name"}}, {{define "name"}} or {{block "name"}}. */
static const char *template_name(parser_t *p, const item_t *tok, const char *context, size_t *len)
{
    if (tok->t != I_STRING && tok->t != I_RAWSTRING)
        unexpected(p, tok, context);
    node_t *s = new_string(p, tok);
    *len = s->u.str.n;
    return s->u.str.s;
}

static node_t *template_control(parser_t *p)
{
    item_t tok = next_non_space(p);
    node_t *n = new_node(p, N_TEMPLATE, tok.pos, tok.line);
    n->u.tmpl.name = template_name(p, &tok, "template clause", &n->u.tmpl.n);
    if (next_non_space(p).t != I_RDELIM) {
        backup(p);
        n->u.tmpl.pipe = pipeline(p, "template clause", I_RDELIM);
    }
    return n;
}

static void add_def(parser_t *p, const char *name, size_t n, node_t *root)
{
    mm_tmpl_t *t = p->t;
    for (size_t i = 0; i < t->ndefs; i++) {
        if (t->defs[i].n == n && memcmp(t->defs[i].name, name, n) == 0) {
            if (t->defs[i].root->u.list.n != 0 && root->u.list.n != 0)
                perr(p, "template: multiple definition of template \"%.*s\"", (int)n, name);
            if (root->u.list.n != 0)
                t->defs[i].root = root;
            return;
        }
    }
    struct tmpl_def *d = arena_alloc(&t->arena, (t->ndefs + 1) * sizeof *d);
    if (t->ndefs)
        memcpy(d, t->defs, t->ndefs * sizeof *d);
    d[t->ndefs++] = (struct tmpl_def){name, n, root};
    t->defs = d;
}

/* Parses a definition's body with a fresh variable scope, as Go does. */
static node_t *definition_body(parser_t *p, const char *context)
{
    size_t nvars = p->nvars;
    const char **vars = p->vars;
    size_t capvars = p->capvars;
    int rd = p->range_depth;
    p->vars = NULL;
    p->nvars = p->capvars = 0;
    p->range_depth = 0;
    push_var(p, "$");
    enter(p);
    node_t *end;
    node_t *root = item_list(p, &end);
    if (end->t != N_END)
        perr(p, "unexpected {{else}} in %s", context);
    p->depth--;
    p->vars = vars;
    p->nvars = nvars;
    p->capvars = capvars;
    p->range_depth = rd;
    return root;
}

static node_t *block_control(parser_t *p)
{
    item_t tok = next_non_space(p);
    node_t *n = new_node(p, N_TEMPLATE, tok.pos, tok.line);
    n->u.tmpl.name = template_name(p, &tok, "block clause", &n->u.tmpl.n);
    n->u.tmpl.pipe = pipeline(p, "block clause", I_RDELIM);
    node_t *root = definition_body(p, "block clause");
    add_def(p, n->u.tmpl.name, n->u.tmpl.n, root);
    return n;
}

static void parse_definition(parser_t *p)
{
    item_t tok = next_non_space(p);
    if (tok.t != I_STRING && tok.t != I_RAWSTRING)
        unexpected(p, &tok, "define clause");
    size_t n;
    const char *name = template_name(p, &tok, "define clause", &n);
    expect(p, I_RDELIM, "define clause");
    node_t *root = definition_body(p, "define clause");
    add_def(p, name, n, root);
}

static node_t *action(parser_t *p)
{
    item_t it = next_non_space(p);
    switch (it.t) {
    case I_BLOCK:
        return block_control(p);
    case I_TEMPLATE:
        return template_control(p);
    case I_BREAK:
    case I_CONTINUE: {
        item_t q = next_non_space(p);
        if (q.t != I_RDELIM)
            unexpected(p, &q, it.t == I_BREAK ? "{{break}}" : "{{continue}}");
        if (p->range_depth == 0)
            perr(p, "%s outside {{range}}", it.t == I_BREAK ? "{{break}}" : "{{continue}}");
        return new_node(p, it.t == I_BREAK ? N_BREAK : N_CONTINUE, it.pos, it.line);
    }
    case I_ELSE: {
        item_t q = peek_non_space(p);
        if (q.t == I_IF)
            return new_node(p, N_ELSE, q.pos, q.line);
        item_t r = expect(p, I_RDELIM, "else");
        return new_node(p, N_ELSE, r.pos, r.line);
    }
    case I_END: {
        item_t r = expect(p, I_RDELIM, "end");
        return new_node(p, N_END, r.pos, r.line);
    }
    case I_IF:
        return if_control(p);
    case I_RANGE:
        return parse_control(p, false, "range", N_RANGE);
    case I_WITH:
        return parse_control(p, false, "with", N_WITH);
    default:
        break;
    }
    backup(p);
    item_t tok = peek(p);
    node_t *a = new_node(p, N_ACTION, tok.pos, tok.line);
    a->u.action.pipe = pipeline(p, "command", I_RDELIM);
    return a;
}

static node_t *text_or_action(parser_t *p)
{
    item_t it = next_non_space(p);
    switch (it.t) {
    case I_TEXT: {
        node_t *n = new_node(p, N_TEXT, it.pos, it.line);
        n->u.text.s = it.val;
        n->u.text.n = it.len;
        return n;
    }
    case I_LDELIM: {
        p->action_line = it.line;
        node_t *n = action(p);
        p->action_line = 0;
        return n;
    }
    case I_COMMENT:
        return NULL;
    default:
        unexpected(p, &it, "input");
    }
}

static node_t *item_list(parser_t *p, node_t **next_out)
{
    node_t *list = new_node(p, N_LIST, peek_non_space(p).pos, peek_non_space(p).line);
    while (peek_non_space(p).t != I_EOF) {
        node_t *n = text_or_action(p);
        if (!n)
            continue;
        if (n->t == N_END || n->t == N_ELSE) {
            *next_out = n;
            return list;
        }
        list_append(p, list, n);
    }
    perr(p, "unexpected EOF");
}

/* ---------------------------------------------------------------- String() */

void node_string(sbuf_t *b, const node_t *n)
{
    switch (n->t) {
    case N_TEXT:
        sb_put(b, n->u.text.s, n->u.text.n);
        break;
    case N_LIST:
        for (size_t i = 0; i < n->u.list.n; i++)
            node_string(b, n->u.list.v[i]);
        break;
    case N_ACTION:
        sb_puts(b, "{{");
        node_string(b, n->u.action.pipe);
        sb_puts(b, "}}");
        break;
    case N_IF:
    case N_RANGE:
    case N_WITH:
        sb_puts(b, n->t == N_IF ? "{{if " : n->t == N_RANGE ? "{{range " : "{{with ");
        node_string(b, n->u.ctl.pipe);
        sb_puts(b, "}}");
        node_string(b, n->u.ctl.list);
        if (n->u.ctl.elselist) {
            sb_puts(b, "{{else}}");
            node_string(b, n->u.ctl.elselist);
        }
        sb_puts(b, "{{end}}");
        break;
    case N_PIPE:
        for (size_t i = 0; i < n->u.pipe.ndecl; i++) {
            if (i)
                sb_puts(b, ", ");
            node_string(b, n->u.pipe.decl[i]);
        }
        if (n->u.pipe.ndecl)
            sb_puts(b, n->u.pipe.assign ? " = " : " := ");
        for (size_t i = 0; i < n->u.pipe.ncmds; i++) {
            if (i)
                sb_puts(b, " | ");
            node_string(b, n->u.pipe.cmds[i]);
        }
        break;
    case N_CMD:
        for (size_t i = 0; i < n->u.cmd.nargs; i++) {
            if (i)
                sb_putc(b, ' ');
            const node_t *a = n->u.cmd.args[i];
            if (a->t == N_PIPE) {
                sb_putc(b, '(');
                node_string(b, a);
                sb_putc(b, ')');
            } else {
                node_string(b, a);
            }
        }
        break;
    case N_FIELD:
        for (size_t i = 0; i < n->u.field.n; i++) {
            sb_putc(b, '.');
            sb_puts(b, n->u.field.ident[i]);
        }
        break;
    case N_VAR:
        for (size_t i = 0; i < n->u.field.n; i++) {
            if (i)
                sb_putc(b, '.');
            sb_puts(b, n->u.field.ident[i]);
        }
        break;
    case N_IDENT:
        sb_puts(b, n->u.ident.name);
        break;
    case N_DOT:
        sb_putc(b, '.');
        break;
    case N_NIL:
        sb_puts(b, "nil");
        break;
    case N_BOOL:
        sb_puts(b, n->u.b ? "true" : "false");
        break;
    case N_NUMBER:
        sb_puts(b, n->u.num.text);
        break;
    case N_STRING:
        sb_puts(b, n->u.str.quoted);
        break;
    case N_CHAIN:
        if (n->u.chain.node->t == N_PIPE) {
            sb_putc(b, '(');
            node_string(b, n->u.chain.node);
            sb_putc(b, ')');
        } else {
            node_string(b, n->u.chain.node);
        }
        for (size_t i = 0; i < n->u.chain.n; i++) {
            sb_putc(b, '.');
            sb_puts(b, n->u.chain.field[i]);
        }
        break;
    case N_BREAK:
        sb_puts(b, "{{break}}");
        break;
    case N_CONTINUE:
        sb_puts(b, "{{continue}}");
        break;
    case N_ELSE:
        sb_puts(b, "{{else}}");
        break;
    case N_END:
        sb_puts(b, "{{end}}");
        break;
    case N_TEMPLATE:
        sb_puts(b, "{{template ");
        go_quote(b, n->u.tmpl.name, n->u.tmpl.n);
        if (n->u.tmpl.pipe) {
            sb_putc(b, ' ');
            node_string(b, n->u.tmpl.pipe);
        }
        sb_puts(b, "}}");
        break;
    }
}

/* ---------------------------------------------------------------- API */

static const char prelude[] = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
                              "{{$externalURL := .ExternalURL}}{{$value := .Value}}";

static int parse_impl(const char *name, size_t namelen, const char *pre, size_t prelen,
                      const char *text, size_t len, mm_tmpl_t **ret, mm_tmpl_err_t *err)
{
    *ret = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (len > (size_t)INT32_MAX / 2)
        return -MM_ELIMIT;
    mm_tmpl_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    arena_init(&t->arena);
    parser_t *p = calloc(1, sizeof *p);
    if (!p) {
        free(t);
        return -ENOMEM;
    }
    t->arena.oom = &p->jb;
    p->t = t;
    p->err = err;
    if (setjmp(p->jb)) {
        int code = p->code ? p->code : -ENOMEM;
        t->arena.oom = NULL;
        free(p);
        mm_tmpl_free(t);
        return code;
    }
    t->name = arena_strndup(&t->arena, name, namelen);
    t->text = arena_alloc(&t->arena, prelen + len + 1);
    memcpy(t->text, pre, prelen);
    if (len)
        memcpy(t->text + prelen, text, len);
    t->len = prelen + len;
    t->prelude = prelen;
    lexer_t *l = &p->lx;
    l->a = &t->arena;
    l->in = t->text;
    l->n = t->len;
    l->line = l->start_line = 1;
    lex_all(l);
    p->last = l->items[0];
    push_var(p, "$");
    node_t *root = new_node(p, N_LIST, 0, 1);
    while (peek(p).t != I_EOF) {
        if (peek(p).t == I_LDELIM) {
            size_t save = p->ti;
            next(p);
            if (next_non_space(p).t == I_DEFINE) {
                parse_definition(p);
                continue;
            }
            p->ti = save;
        }
        node_t *n = text_or_action(p);
        if (!n)
            continue;
        if (n->t == N_END || n->t == N_ELSE)
            perr(p, "unexpected %s", n->t == N_END ? "{{end}}" : "{{else}}");
        list_append(p, root, n);
    }
    t->root = root;
    t->arena.oom = NULL;
    free(p);
    *ret = t;
    return 0;
}

int mm_tmpl_parse(const char *name, const char *text, size_t len, mm_tmpl_t **ret,
                  mm_tmpl_err_t *err)
{
    if (!name || !ret || (!text && len))
        return -EINVAL;
    return parse_impl(name, strlen(name), "", 0, text ? text : "", len, ret, err);
}

int mm_tmpl_parse_alert(const char *alertname, const char *text, size_t len, mm_tmpl_t **ret,
                        mm_tmpl_err_t *err)
{
    if (!alertname || !ret || (!text && len))
        return -EINVAL;
    size_t an = strlen(alertname);
    char *name = malloc(an + 9);
    if (!name)
        return -ENOMEM;
    memcpy(name, "__alert_", 8);
    memcpy(name + 8, alertname, an + 1);
    int r = parse_impl(name, an + 8, prelude, sizeof prelude - 1, text ? text : "", len, ret, err);
    free(name);
    return r;
}

void mm_tmpl_free(mm_tmpl_t *t)
{
    if (!t)
        return;
    arena_fini(&t->arena);
    free(t);
}

const char *mm_tmpl_name(const mm_tmpl_t *t)
{
    return t->name;
}
