/* SQL injection: a SQL lexer folds the decoded value into token classes under
 * each quoting context an injection can start in (none, inside '...', inside
 * "..."), and a small analyser recognises the shapes attacks take on that
 * token stream: a string closed then a boolean, UNION SELECT, a stacked
 * statement, a comment tail, dangerous functions, statement forms. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

/* Token classes (one character each, shown in evidence). */
enum {
    T_STR = 's', T_NUM = 'n', T_VAR = 'v', T_WORD = 'b', T_FUNC = 'f', T_KEY = 'k',
    T_UNION = 'U', T_STMT = 'E', T_LOGIC = '&', T_OP = 'o', T_CMP = '=', T_LPAR = '(',
    T_RPAR = ')', T_COMMA = ',', T_SEMI = ';', T_COMMENT = 'c', T_SYS = 't', T_OTHER = 'x',
    T_END = 'Z',
};

/* Words with a meaning to the rules. */
enum {
    W_NONE = 0, W_SELECT, W_INSERT, W_UPDATE, W_DELETE, W_DDL, W_EXEC, W_DECLARE,
    W_WAITFOR, W_SHUTDOWN, W_FROM, W_INTO, W_VALUES, W_SET, W_OBJECT, W_ORDER, W_GROUP,
    W_BY, W_HAVING, W_LIMIT, W_OUTFILE, W_DELAY, W_WHERE, W_ALL, W_DANGER, W_SQLFN, W_SQLVAR,
};

typedef struct {
    const char *w;
    char type;
    uint8_t sub;
} kw_t;

/* Sorted by word. Functions are listed so that a call to them counts even
 * where an unknown word followed by '(' would not. */
static const kw_t kws[] = {
    {"all", T_KEY, W_ALL}, {"alter", T_STMT, W_DDL},
    {"and", T_LOGIC, 0}, {"ascii", T_FUNC, W_SQLFN},
    {"benchmark", T_FUNC, W_DANGER}, {"between", T_CMP, 0},
    {"binary", T_OP, 0}, {"by", T_KEY, W_BY},
    {"case", T_KEY, 0}, {"cast", T_FUNC, W_SQLFN},
    {"char", T_FUNC, W_SQLFN}, {"chr", T_FUNC, W_SQLFN},
    {"coalesce", T_FUNC, W_SQLFN}, {"concat", T_FUNC, W_SQLFN},
    {"concat_ws", T_FUNC, W_SQLFN}, {"convert", T_FUNC, W_SQLFN},
    {"create", T_STMT, W_DDL}, {"current_user", T_KEY, W_SQLVAR},
    {"database", T_KEY, W_OBJECT}, {"dbms_pipe.receive_message", T_FUNC, W_DANGER},
    {"declare", T_STMT, W_DECLARE}, {"delay", T_KEY, W_DELAY},
    {"delete", T_STMT, W_DELETE}, {"distinct", T_KEY, W_ALL},
    {"div", T_OP, 0}, {"drop", T_STMT, W_DDL},
    {"dual", T_SYS, 0}, {"dumpfile", T_KEY, W_OUTFILE},
    {"else", T_KEY, 0}, {"end", T_KEY, 0},
    {"exec", T_STMT, W_EXEC}, {"execute", T_STMT, W_EXEC},
    {"exists", T_FUNC, W_SQLFN}, {"extractvalue", T_FUNC, W_DANGER},
    {"false", T_NUM, 0}, {"from", T_KEY, W_FROM},
    {"function", T_KEY, W_OBJECT}, {"glob", T_CMP, 0},
    {"group", T_KEY, W_GROUP}, {"group_concat", T_FUNC, W_SQLFN},
    {"having", T_KEY, W_HAVING}, {"hex", T_FUNC, W_SQLFN},
    {"if", T_FUNC, 0}, {"ifnull", T_FUNC, W_SQLFN},
    {"in", T_CMP, 0}, {"index", T_KEY, W_OBJECT},
    {"information_schema", T_SYS, 1}, {"insert", T_STMT, W_INSERT},
    {"into", T_KEY, W_INTO}, {"is", T_CMP, 0},
    {"isnull", T_FUNC, W_SQLFN}, {"like", T_CMP, 0},
    {"limit", T_KEY, W_LIMIT}, {"load_file", T_FUNC, W_DANGER},
    {"make_set", T_FUNC, W_SQLFN}, {"mid", T_FUNC, W_SQLFN},
    {"mod", T_OP, 0}, {"msysobjects", T_SYS, 1},
    {"mysql.user", T_SYS, 1}, {"name_const", T_FUNC, W_DANGER},
    {"not", T_OP, 0}, {"null", T_NUM, 0},
    {"nullif", T_FUNC, W_SQLFN}, {"or", T_LOGIC, 0},
    {"ord", T_FUNC, W_SQLFN}, {"order", T_KEY, W_ORDER},
    {"outfile", T_KEY, W_OUTFILE}, {"pg_catalog", T_SYS, 1},
    {"pg_shadow", T_SYS, 1}, {"pg_sleep", T_FUNC, W_DANGER},
    {"pg_user", T_SYS, 1}, {"procedure", T_KEY, W_OBJECT},
    {"randomblob", T_FUNC, W_DANGER}, {"regexp", T_CMP, 0},
    {"rlike", T_CMP, 0}, {"schema", T_KEY, W_OBJECT},
    {"select", T_STMT, W_SELECT}, {"session_user", T_KEY, W_SQLVAR},
    {"set", T_KEY, W_SET}, {"shutdown", T_STMT, W_SHUTDOWN},
    {"sleep", T_FUNC, W_DANGER}, {"sounds", T_CMP, 0},
    {"sqlite_master", T_SYS, 1}, {"substr", T_FUNC, W_SQLFN},
    {"substring", T_FUNC, W_SQLFN}, {"syscolumns", T_SYS, 1},
    {"sysdatabases", T_SYS, 1}, {"sysobjects", T_SYS, 1},
    {"system_user", T_KEY, W_SQLVAR}, {"sysusers", T_SYS, 1},
    {"table", T_KEY, W_OBJECT}, {"then", T_KEY, 0},
    {"true", T_NUM, 0}, {"truncate", T_STMT, W_DDL},
    {"unhex", T_FUNC, W_SQLFN}, {"union", T_UNION, 0},
    {"update", T_STMT, W_UPDATE}, {"updatexml", T_FUNC, W_DANGER},
    {"user", T_KEY, W_OBJECT}, {"utl_http.request", T_FUNC, W_DANGER},
    {"utl_inaddr.get_host_address", T_FUNC, W_DANGER}, {"utl_inaddr.get_host_name", T_FUNC, W_DANGER},
    {"values", T_KEY, W_VALUES}, {"version", T_FUNC, W_SQLFN},
    {"view", T_KEY, W_OBJECT}, {"waitfor", T_STMT, W_WAITFOR},
    {"when", T_KEY, 0}, {"where", T_KEY, W_WHERE},
    {"xor", T_LOGIC, 0}, {"xp_cmdshell", T_FUNC, W_DANGER},
};

static const kw_t *kw_find(const uint8_t *s, size_t n)
{
    size_t lo = 0, hi = sizeof kws / sizeof kws[0];
    if (n > 32)
        return NULL;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *w = kws[mid].w;
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
            return &kws[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

typedef struct {
    char type;
    uint8_t sub;
    size_t pos;
} tok_t;

typedef struct {
    const uint8_t *s;
    size_t n, i;
    bool in_versioned;   /* inside a MySQL executable comment */
    unsigned *flags;
} lexer_t;

static bool is_word(int c)
{
    return mm_detect_isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skips whitespace and inline comments; returns false at the end. */
static bool skip_space(lexer_t *lx)
{
    while (lx->i < lx->n) {
        uint8_t c = lx->s[lx->i];
        if (mm_detect_isspace(c) || c == 0xA0) {
            lx->i++;
            continue;
        }
        if (c == '/' && lx->i + 1 < lx->n && lx->s[lx->i + 1] == '*') {
            if (lx->i + 2 < lx->n && lx->s[lx->i + 2] == '!') {
                /* MySQL runs the inside of slash-star-bang comments. */
                lx->i += 3;
                while (lx->i < lx->n && mm_detect_isdigit(lx->s[lx->i]))
                    lx->i++;
                lx->in_versioned = true;
                *lx->flags |= MM_DETECT_DEC_SQLCOMMENT;
                continue;
            }
            const uint8_t *e = NULL;
            for (size_t k = lx->i + 2; k + 1 < lx->n; k++) {
                if (lx->s[k] == '*' && lx->s[k + 1] == '/') {
                    e = lx->s + k;
                    break;
                }
            }
            if (!e)
                return true; /* unterminated: a comment token */
            *lx->flags |= MM_DETECT_DEC_SQLCOMMENT;
            lx->i = (size_t)(e - lx->s) + 2;
            continue;
        }
        if (c == '*' && lx->in_versioned && lx->i + 1 < lx->n && lx->s[lx->i + 1] == '/') {
            lx->in_versioned = false;
            lx->i += 2;
            continue;
        }
        return true;
    }
    return false;
}

/* Returns the index just past the end of the line starting at i. */
static size_t line_end(const uint8_t *s, size_t n, size_t i)
{
    const uint8_t *nl = memchr(s + i, '\n', n - i);
    return nl ? (size_t)(nl - s) + 1 : n;
}

/* master..xp_cmdshell, dbo.sp_executesql */
static bool last_component_xp(const uint8_t *w, size_t n)
{
    size_t b = n;
    while (b > 0 && w[b - 1] != '.')
        b--;
    return b > 0 && n - b >= 4 && (mm_detect_word_eq(w + b, 3, "xp_") || mm_detect_word_eq(w + b, 3, "sp_"));
}

static bool lex_next(lexer_t *lx, tok_t *t)
{
    if (!skip_space(lx))
        return false;
    const uint8_t *s = lx->s;
    size_t n = lx->n, i = lx->i;
    uint8_t c = s[i];
    t->pos = i;
    t->sub = 0;
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
        t->type = T_COMMENT;
        lx->i = n;
        return true;
    }
    if ((c == '-' && i + 1 < n && s[i + 1] == '-') || c == '#') {
        t->type = T_COMMENT;
        lx->i = line_end(s, n, i);
        return true;
    }
    if (c == '\'' || c == '"' || c == '`') {
        size_t k = i + 1;
        while (k < n) {
            if (s[k] == '\\' && c != '`') {
                k += 2;
                continue;
            }
            if (s[k] == c) {
                if (k + 1 < n && s[k + 1] == c) {
                    k += 2;
                    continue;
                }
                break;
            }
            k++;
        }
        t->type = c == '`' ? T_WORD : T_STR;
        lx->i = k < n ? k + 1 : n;
        return true;
    }
    if (c == '[') {
        /* MSSQL [identifier] */
        const uint8_t *e = memchr(s + i, ']', n - i);
        if (e && (size_t)(e - (s + i)) < 130) {
            t->type = T_WORD;
            lx->i = (size_t)(e - s) + 1;
            return true;
        }
        t->type = T_OTHER;
        lx->i = i + 1;
        return true;
    }
    if (mm_detect_isdigit(c) || (c == '.' && i + 1 < n && mm_detect_isdigit(s[i + 1]))) {
        size_t k = i + 1;
        if (c == '0' && k < n && (s[k] | 32) == 'x') {
            k++;
            while (k < n && mm_detect_isalnum(s[k]))
                k++;
        } else {
            while (k < n && (mm_detect_isdigit(s[k]) || s[k] == '.'))
                k++;
            if (k < n && (s[k] | 32) == 'e' && k + 1 < n &&
                (mm_detect_isdigit(s[k + 1]) || s[k + 1] == '-' || s[k + 1] == '+')) {
                k += 2;
                while (k < n && mm_detect_isdigit(s[k]))
                    k++;
            }
        }
        /* "1union" is a number then a word to MySQL; leave letters for the next token. */
        t->type = T_NUM;
        lx->i = k;
        return true;
    }
    if (c == '@') {
        size_t k = i + 1;
        if (k < n && s[k] == '@')
            k++;
        size_t st = k;
        while (k < n && (is_word(s[k]) || s[k] == '.'))
            k++;
        t->type = k > st ? T_VAR : T_OP;
        t->sub = (k > st && st == i + 2) ? 1 : 0; /* @@system variable */
        lx->i = k;
        return true;
    }
    if (is_word(c)) {
        size_t k = i + 1;
        while (k < n && (is_word(s[k]) || (s[k] == '.' && k + 1 < n && (is_word(s[k + 1]) || s[k + 1] == '.'))))
            k++;
        /* N'..', x'..', _utf8'..' are strings with a prefix. */
        if (k < n && s[k] == '\'' && (k - i <= 1 || s[i] == '_')) {
            lx->i = k;
            return lex_next(lx, t);
        }
        const kw_t *kw = kw_find(s + i, k - i);
        if (!kw) {
            /* A qualified name counts as its catalog: information_schema.tables. */
            const uint8_t *dot = memchr(s + i, '.', k - i);
            if (dot) {
                const kw_t *q = kw_find(s + i, (size_t)(dot - (s + i)));
                size_t pl = (size_t)(dot - (s + i));
                if ((q && q->type == T_SYS && q->sub == 1) || mm_detect_word_eq(s + i, pl, "sys") ||
                    mm_detect_word_eq(s + i, pl, "sysibm") || mm_detect_word_eq(s + i, pl, "sysmaster") ||
                    mm_detect_word_eq(s + i, pl, "all_tables"))
                    kw = q && q->type == T_SYS ? q : &kws[0];
            }
            if (kw == &kws[0]) {
                t->type = T_SYS;
                t->sub = 1;
                lx->i = k;
                return true;
            }
        }
        size_t j = k;
        while (j < n && (mm_detect_isspace(s[j]) || s[j] == 0xA0))
            j++;
        bool call = j < n && s[j] == '(';
        /* An inline comment between a name and its parenthesis still makes a call. */
        if (!call && j + 1 < n && s[j] == '/' && s[j + 1] == '*') {
            lexer_t peek = *lx;
            peek.i = j;
            if (skip_space(&peek) && peek.i < n && s[peek.i] == '(')
                call = true;
        }
        if (kw) {
            t->type = kw->type;
            t->sub = kw->sub;
            if (call && (kw->type == T_KEY || kw->type == T_SYS) && kw->sub == W_OBJECT)
                t->type = T_FUNC;
            if (!call && kw->type == T_FUNC)
                t->type = T_WORD, t->sub = 0;
        } else if (k - i >= 4 && (mm_detect_word_eq(s + i, 3, "xp_") || mm_detect_word_eq(s + i, 3, "sp_") ||
                                  last_component_xp(s + i, k - i))) {
            t->type = T_FUNC;
            t->sub = W_DANGER;
        } else {
            t->type = call ? T_FUNC : T_WORD;
        }
        lx->i = k;
        return true;
    }
    lx->i = i + 1;
    switch (c) {
    case '(': t->type = T_LPAR; return true;
    case ')': t->type = T_RPAR; return true;
    case ',': t->type = T_COMMA; return true;
    case ';': t->type = T_SEMI; return true;
    case '=': t->type = T_CMP; return true;
    case '<': case '>': case '!':
        while (lx->i < n && (s[lx->i] == '=' || s[lx->i] == '>' || s[lx->i] == '<'))
            lx->i++;
        t->type = (c == '!' && lx->i == i + 1) ? T_OP : T_CMP;
        return true;
    case '|': case '&':
        if (i + 1 < n && s[i + 1] == c) {
            lx->i = i + 2;
            t->type = T_LOGIC;
            return true;
        }
        t->type = T_OP;
        return true;
    case ':':
        if (i + 1 < n && s[i + 1] == '=') {
            lx->i = i + 2;
            t->type = T_CMP;
            return true;
        }
        if (i + 1 < n && s[i + 1] == ':') {
            lx->i = i + 2;
            t->type = T_OP;
            return true;
        }
        t->type = T_OTHER;
        return true;
    case '+': case '-': case '*': case '/': case '%': case '^': case '~':
        t->type = T_OP;
        return true;
    case '.':
        t->type = T_OP;
        return true;
    default:
        t->type = T_OTHER;
        return true;
    }
}

#define WIN 8

/* The analyser's state for one quoting context. */
typedef struct {
    tok_t w[WIN];         /* w[idx % WIN] */
    size_t idx;           /* tokens seen */
    size_t bk;            /* index of the last token of the break prefix */
    bool quoted;          /* context started inside a string */
    bool broken;          /* a break prefix exists (a closed string, or a leading operand) */
    size_t sel_at;        /* index of a pending SELECT, or SIZE_MAX */
    size_t from_at;       /* index of FROM following that SELECT, or SIZE_MAX */
    bool sel_items_ok;
    bool sel_sql;         /* the SELECT list or its context is SQL, not prose */
    bool prose_prefix;    /* text before the breaking quote has words and spaces */
    bool lead_logic;      /* the value starts with AND/OR */
    bool unit_quote;      /* the breaking quote follows a digit: 4" is inches */
    bool prose;           /* two plain words in a row were seen */
    unsigned sqlish;      /* operators, parentheses, SQL functions seen */
    const uint8_t *s;
    size_t n;
    int score;
    const char *rule;
    size_t pos;
    char toks[WIN + 1];
} sql_state_t;

static const tok_t *W(const sql_state_t *st, size_t back)
{
    static const tok_t none = {0, 0, 0};
    if (back >= WIN || back > st->idx)
        return &none;
    return &st->w[(st->idx - back) % WIN];
}

static void hit(sql_state_t *st, int score, const char *rule, size_t pos)
{
    if (score <= st->score)
        return;
    st->score = score;
    st->rule = rule;
    st->pos = pos;
    size_t k = 0;
    size_t first = st->idx + 1 > WIN ? st->idx + 1 - WIN : 0;
    for (size_t j = first; j <= st->idx && k < WIN; j++)
        st->toks[k++] = st->w[j % WIN].type;
    st->toks[k < WIN ? k : WIN] = 0;
}

static bool is_operand(const tok_t *t)
{
    char k = t->type;
    return k == T_NUM || k == T_STR || k == T_VAR || (k == T_FUNC && t->sub != 0) || k == T_LPAR ||
           k == T_STMT || k == T_SYS || t->sub == W_SQLVAR;
}

/* Called with each token (idx already advanced, token stored at w[idx]). */
static void analyse(sql_state_t *st)
{
    const tok_t *c = W(st, 0), *p = W(st, 1), *p2 = W(st, 2), *p3 = W(st, 3);
    size_t i = st->idx;

    /* Prose has runs of plain words; SQL has operators, parentheses, literals. */
    if (c->type == T_WORD && p->type == T_WORD)
        st->prose = true;
    if (c->type == T_OP || c->type == T_CMP || c->type == T_LPAR || c->type == T_RPAR ||
        (c->type == T_FUNC && c->sub != 0) || c->type == T_LOGIC || c->type == T_VAR)
        st->sqlish++;
    /* An expression of SQL tokens only, ended by a comment: ( BINARY ( 'b') ) -- */
    if (c->type == T_OTHER)
        st->prose = true; /* ':' '?' '\\' and friends: URLs and text, not SQL */
    if (c->type == T_COMMENT && !st->prose && st->sqlish >= 3 && i >= 4 &&
        !(st->s[c->pos] == '#' && c->pos + 1 < st->n && !mm_detect_isspace(st->s[c->pos + 1])))
        hit(st, 55, "expression-comment", c->pos);

    /* Break prefix: closing parentheses right after the break extend it. */
    if (st->broken && i == st->bk + 1 && c->type == T_RPAR) {
        st->bk = i;
        return;
    }

    /* UNION [ALL|DISTINCT] [(] SELECT */
    if (c->type == T_STMT && c->sub == W_SELECT) {
        if (p->type == T_UNION || (p->type == T_LPAR && p2->type == T_UNION) ||
            (p->sub == W_ALL && p2->type == T_UNION) ||
            (p->type == T_LPAR && p2->sub == W_ALL && p3->type == T_UNION))
            hit(st, 90, "union-select", c->pos);
    }

    /* Right after the break. */
    if (st->broken && i == st->bk + 1) {
        if (c->type == T_COMMENT && st->quoted) {
            /* admin'-- ends a value; "SOAP 1 '#" and '7" #2' are prose. */
            bool hashtag = st->s[c->pos] == '#' && c->pos + 1 < st->n && mm_detect_isalnum(st->s[c->pos + 1]);
            hit(st, st->prose_prefix || hashtag ? 45 : 75, "break-comment", c->pos);
        }
        if (c->type == T_END && st->quoted && st->bk > 0)
            hit(st, 40, "break-paren", c->pos);
    }
    if (st->broken && i == st->bk + 3) {
        /* break & X Y */
        const tok_t *x = p, *y = c;
        if (p2->type == T_LOGIC) {
            bool xop = is_operand(x);
            /* The operand must be used: compared, computed, commented out
             * or ended with a statement; "600 or 601" and "'a' and 'b'" are prose. */
            bool ytail = y->type == T_CMP || y->type == T_OP || y->type == T_COMMENT ||
                         y->type == T_SEMI || (y->type == T_RPAR && x->type == T_LPAR) ||
                         (y->type == T_LPAR && x->type == T_FUNC);
            if (x->type == T_STMT || x->type == T_LPAR)
                ytail = y->type != T_WORD && y->type != T_END;
            if (!st->quoted && y->type == T_OP && x->type != T_LPAR && st->s[y->pos] != ':')
                ytail = false; /* "OR-9-9..." part numbers, "1 or 2+3"; '::' casts stay */
            if (st->quoted && y->type == T_LOGIC && (st->s[y->pos] == '|' || st->s[y->pos] == '&') &&
                (st->s[p2->pos] == '|' || st->s[p2->pos] == '&'))
                ytail = true; /* '||'x'||' concatenation */
            if (x->type == T_FUNC && x->sub != 0)
                hit(st, st->quoted ? 85 : 75, "break-logic-call", p2->pos);
            else if (xop && ytail)
                hit(st, st->quoted ? 80 : 70, "break-logic", p2->pos);
            else if (x->type == T_WORD && (y->type == T_CMP || y->type == T_LPAR))
                hit(st, st->quoted ? 75 : 55, "break-logic-word", p2->pos);
        }
        /* break o X Y: '=' ... , '||' ..., '-0-' */
        if (st->quoted && (p2->type == T_OP || p2->type == T_CMP)) {
            if (x->type == T_FUNC && x->sub != 0)
                hit(st, 80, "break-op-call", p2->pos);
            else if ((x->type == T_STR || x->type == T_NUM || x->type == T_VAR) &&
                     (y->type == T_OP || y->type == T_CMP || y->type == T_LOGIC || y->type == T_COMMENT))
                hit(st, st->prose_prefix || st->unit_quote ? 45 : 60, "break-op", p2->pos);
        }
    }
    if (st->broken && i == st->bk + 2 && p->type == T_LOGIC && c->type == T_FUNC && c->sub != 0)
        hit(st, st->quoted ? 85 : 75, "break-logic-call", p->pos);
    /* A value that is only a boolean and a literal: "or true", "AND 1" */
    if (st->lead_logic && i == 3 && p2->type == T_LOGIC && p->type == T_NUM && c->type == T_END)
        hit(st, 55, "logic-literal", p2->pos);
    /* break ; comment */
    if (st->broken && st->quoted && i == st->bk + 2 && p->type == T_SEMI && c->type == T_COMMENT)
        hit(st, 70, "break-comment", p->pos);
    /* GROUP BY n at a break */
    if (st->broken && p2->sub == W_GROUP && p->sub == W_BY && c->type == T_NUM && i == st->bk + 3)
        hit(st, 65, "group-by", p2->pos);

    /* Stacked statement: ; STMT X */
    if (p2->type == T_SEMI && p->type == T_STMT) {
        char x = c->type;
        bool ok = x == T_KEY || x == T_SYS || x == T_FUNC || x == T_VAR || x == T_NUM ||
                  x == T_STR || x == T_LPAR || x == T_STMT || (x == T_OP && p->sub == W_SELECT);
        if (p->sub == W_SHUTDOWN && (x == T_END || x == T_COMMENT || x == T_SEMI))
            ok = true;
        if (ok)
            hit(st, 85, "stacked-query", p2->pos);
    }
    if (p3->type == T_SEMI && p2->type == T_STMT && p->type == T_WORD &&
        (c->type == T_KEY || c->type == T_COMMA || c->type == T_LPAR || c->type == T_CMP ||
         c->type == T_SEMI || c->type == T_COMMENT || c->type == T_END || c->type == T_STR))
        hit(st, 80, "stacked-query", p3->pos);

    /* Dangerous function called after an operator or at a break. */
    if (c->type == T_FUNC && c->sub == W_DANGER) {
        char b = p->type;
        int sc = (b == T_LOGIC || b == T_OP || b == T_CMP || b == T_LPAR || b == T_COMMA ||
                  b == T_SEMI || b == T_STMT || i == 0 || (st->broken && i == st->bk + 1)) ? 75 : 55;
        hit(st, sc, "dangerous-function", c->pos);
    }
    if (c->type == T_VAR && c->sub == 1 &&
        (p->type == T_LOGIC || p->type == T_CMP || p->type == T_LPAR || p->type == T_COMMA ||
         p->type == T_STMT || p->type == T_OP))
        hit(st, 60, "system-variable", c->pos);
    if (c->type == T_SYS && c->sub == 1)
        hit(st, 55, "system-catalog", c->pos);

    /* INTO OUTFILE / DUMPFILE */
    if (c->sub == W_OUTFILE && p->sub == W_INTO)
        hit(st, 85, "into-outfile", p->pos);

    /* ORDER BY n / GROUP BY x HAVING */
    if (p2->sub == W_ORDER && p->sub == W_BY && p->type == T_KEY && c->type == T_NUM)
        hit(st, st->broken ? 70 : 45, "order-by", p2->pos);
    if (p->sub == W_ORDER && c->sub == W_BY && st->broken && st->quoted && i == st->bk + 2)
        hit(st, 55, "break-order-by", p->pos);
    /* ORDER BY n ending the value (column-count probing). */
    if (p3->sub == W_ORDER && p2->sub == W_BY && p->type == T_NUM &&
        (c->type == T_COMMENT || c->type == T_END || c->type == T_COMMA))
        hit(st, 60, "order-by", p3->pos);
    /* A literal tautology joined by a boolean: AND 1=1, OR 'a'='a' */
    if (p3->type == T_LOGIC && (p2->type == T_NUM || p2->type == T_STR) && p->type == T_CMP &&
        (c->type == T_NUM || c->type == T_STR))
        hit(st, 60, "tautology", p3->pos);
    /* A subquery: (SELECT literal|function|variable|* */
    if (p2->type == T_LPAR && p->type == T_STMT && p->sub == W_SELECT &&
        (c->type == T_NUM || c->type == T_STR || c->type == T_VAR || (c->type == T_FUNC) ||
         c->type == T_LPAR || (c->type == T_OP)))
        hit(st, 60, "subquery", p2->pos);
    /* A value that is a SELECT of a function or variable: select version() */
    if (i == 1 && p->type == T_STMT && p->sub == W_SELECT &&
        (c->type == T_VAR || c->type == T_FUNC || c->sub == W_SQLVAR))
        hit(st, 60, "select-expression", p->pos);
    if (p3->sub == W_HAVING && p2->type == T_NUM && p->type == T_CMP && c->type == T_NUM)
        hit(st, 70, "having-tautology", p3->pos);

    /* Statement forms. */
    if (p3->sub == W_INSERT && p3->type == T_STMT && p2->sub == W_INTO &&
        (p->type == T_WORD || p->type == T_SYS) &&
        (c->type == T_LPAR || c->sub == W_VALUES || c->sub == W_SELECT || c->sub == W_SET))
        hit(st, 70, "insert-into", p3->pos);
    if (p3->sub == W_UPDATE && p3->type == T_STMT && (p2->type == T_WORD || p2->type == T_SYS) &&
        p->sub == W_SET && (c->type == T_WORD || c->type == T_VAR))
        hit(st, 70, "update-set", p3->pos);
    if (p3->sub == W_DELETE && p3->type == T_STMT && p2->sub == W_FROM &&
        (p->type == T_WORD || p->type == T_SYS) &&
        (c->type == T_END || c->sub == W_WHERE || c->type == T_SEMI || c->type == T_COMMENT))
        hit(st, 70, "delete-from", p3->pos);
    if (p->type == T_STMT && p->sub == W_DDL && c->type == T_KEY && c->sub == W_OBJECT)
        hit(st, 70, "ddl", p->pos);
    if (p->type == T_STMT && p->sub == W_EXEC && (c->type == T_FUNC || c->type == T_VAR || c->type == T_SYS || c->type == T_LPAR))
        hit(st, 75, "exec", p->pos);
    if (p->type == T_STMT && p->sub == W_DECLARE && c->type == T_VAR)
        hit(st, 75, "declare", p->pos);
    if (p2->type == T_STMT && p2->sub == W_WAITFOR && p->sub == W_DELAY && c->type == T_STR)
        hit(st, 85, "waitfor-delay", p2->pos);

    /* SELECT items FROM table: items must look like SQL, not prose. */
    if (c->type == T_STMT && c->sub == W_SELECT) {
        st->sel_at = i;
        st->from_at = SIZE_MAX;
        st->sel_items_ok = true;
        st->sel_sql = p->type == T_UNION || p->type == T_LPAR || p->type == T_SEMI || p->sub == W_ALL ||
                      (st->broken && st->quoted);
    } else if (st->sel_at != SIZE_MAX && st->from_at == SIZE_MAX) {
        if (i - st->sel_at > 24) {
            st->sel_at = SIZE_MAX;
        } else if (c->type == T_KEY && c->sub == W_FROM) {
            if (i == st->sel_at + 1)
                st->sel_at = SIZE_MAX;
            else
                st->from_at = i;
        } else if (c->type == T_WORD && p->type == T_WORD && !(W(st, 2)->sub == W_SELECT)) {
            st->sel_items_ok = false;
        } else if (c->type == T_NUM || c->type == T_STR || c->type == T_VAR || c->type == T_FUNC ||
                   c->type == T_COMMA || c->type == T_OP || c->sub == W_SQLVAR) {
            st->sel_sql = true;
        } else if (c->type == T_END || c->type == T_SEMI) {
            st->sel_at = SIZE_MAX;
        }
    } else if (st->from_at != SIZE_MAX && st->sel_at != SIZE_MAX) {
        if (i == st->from_at + 1) {
            if (c->type == T_SYS)
                hit(st, 85, "select-from-catalog", W(st, i - st->sel_at)->pos);
            if (c->type == T_SYS || c->type == T_LPAR)
                st->sel_sql = true;
            if (c->type != T_WORD && c->type != T_LPAR)
                st->sel_at = SIZE_MAX;
        } else if (i == st->from_at + 2) {
            char x = c->type;
            bool tail = x == T_END || x == T_KEY || x == T_RPAR || x == T_COMMA || x == T_SEMI ||
                        x == T_COMMENT || x == T_OP || x == T_UNION || x == T_STMT || x == T_LOGIC;
            if (p->type == T_LPAR)
                tail = true;
            if (tail && st->sel_items_ok && st->sel_sql)
                hit(st, 65, "select-from", W(st, i - st->sel_at)->pos);
            st->sel_at = SIZE_MAX;
        }
    }
}

/* Runs the lexer and analyser over s[start..n) in one quoting context. */
static void run_context(const uint8_t *s, size_t n, size_t start, bool quoted,
                        unsigned *flags, sql_state_t *st)
{
    lexer_t lx = {s, n, start, false, flags};
    memset(st, 0, sizeof *st);
    st->sel_at = SIZE_MAX;
    st->from_at = SIZE_MAX;
    st->quoted = quoted;
    st->s = s;
    st->n = n;
    if (quoted && start > 1) {
        size_t b = 0, e = start - 1;
        while (b < e && mm_detect_isspace(s[b]))
            b++;
        while (e > b && mm_detect_isspace(s[e - 1]))
            e--;
        st->prose_prefix = memchr(s + b, ' ', e - b) != NULL;
    }
    st->unit_quote = quoted && start >= 2 && mm_detect_isdigit(s[start - 2]);
    tok_t t;
    size_t idx = 0;
    bool first = true;
    if (quoted) {
        /* The value ends a string the application opened: that is the break. */
        st->w[0] = (tok_t){T_STR, 0, start ? start - 1 : 0};
        st->broken = true;
        st->bk = 0;
        st->idx = 0;
        first = false;
        idx = 1;
    }
    for (;;) {
        bool more = lex_next(&lx, &t);
        if (!more)
            t = (tok_t){T_END, 0, n};
        if (first) {
            first = false;
            /* Unquoted context: a leading operand (or nothing, when the value
             * starts with the boolean) is the break prefix. */
            if (t.type == T_OP && more) {
                /* unary minus or similar: skip it */
                bool m2 = lex_next(&lx, &t);
                if (!m2)
                    t = (tok_t){T_END, 0, n};
            }
            st->w[0] = t;
            st->idx = 0;
            if (t.type == T_NUM || t.type == T_VAR || t.type == T_STR || t.type == T_WORD || t.type == T_RPAR) {
                st->broken = true;
                st->bk = 0;
            } else if (t.type == T_LOGIC) {
                /* The value starts with the boolean: pretend an operand came before. */
                st->w[0] = (tok_t){T_NUM, 0, t.pos};
                st->w[1] = t;
                st->idx = 1;
                st->lead_logic = true;
                st->broken = true;
                st->bk = 0;
            }
            analyse(st);
            idx = st->idx + 1;
            if (!more)
                break;
            continue;
        }
        if (t.type == T_OP && more) {
            /* Unary operators (-8, !0, ~1, BINARY x) after an operator are
             * part of the operand. */
            char pt = st->w[(idx - 1) % WIN].type;
            uint8_t ch = s[t.pos];
            if ((pt == T_LOGIC || pt == T_CMP || pt == T_LPAR || pt == T_COMMA || pt == T_OP) &&
                (ch == '-' || ch == '+' || ch == '!' || ch == '~' || (ch | 32) == 'b' || (ch | 32) == 'n'))
                continue;
        }
        st->idx = idx;
        st->w[idx % WIN] = t;
        analyse(st);
        idx++;
        if (!more || st->score >= 90)
            break;
    }
}

int mm_detect_sqli(const uint8_t *s, size_t n, mm_detect_hit_t *out, unsigned *flags)
{
    sql_state_t st;
    static const char *const ctx_name[3] = {"none", "'", "\""};
    memset(out, 0, sizeof *out);
    for (int ctx = 0; ctx < 3; ctx++) {
        size_t start = 0;
        if (ctx > 0) {
            const uint8_t *q = memchr(s, ctx == 1 ? '\'' : '"', n);
            if (!q)
                continue;
            start = (size_t)(q - s) + 1;
        }
        unsigned f = 0;
        run_context(s, n, start, ctx > 0, &f, &st);
        if (st.score > out->score) {
            out->score = st.score;
            out->pos = st.pos;
            out->rule = st.rule;
            snprintf(out->tokens, sizeof out->tokens, "ctx=%s tok=%s", ctx_name[ctx], st.toks);
            *flags |= f;
        }
        if (out->score >= 90)
            break;
    }
    return out->score;
}
