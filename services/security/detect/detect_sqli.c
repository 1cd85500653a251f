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
    W_CASE, W_WHEN, W_THEN, W_SETOP, W_TYPE,
    S_OPEN = 200,  /* a T_STR that runs to the end of the value: the application closes it */
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
    {"and", T_LOGIC, 0}, {"as", T_KEY, 0},
    {"ascii", T_FUNC, W_SQLFN}, {"benchmark", T_FUNC, W_DANGER},
    {"between", T_CMP, 0}, {"bigint", T_WORD, W_TYPE},
    {"binary", T_OP, 0}, {"bool", T_WORD, W_TYPE}, {"boolean", T_WORD, W_TYPE},
    {"by", T_KEY, W_BY}, {"case", T_KEY, W_CASE},
    {"cast", T_FUNC, W_SQLFN}, {"char", T_FUNC, W_SQLFN},
    {"charset", T_FUNC, W_SQLFN}, {"chr", T_FUNC, W_SQLFN},
    {"coalesce", T_FUNC, W_SQLFN}, {"coercibility", T_FUNC, W_SQLFN},
    {"collation", T_FUNC, W_SQLFN}, {"compress", T_FUNC, W_SQLFN},
    {"concat", T_FUNC, W_SQLFN}, {"concat_ws", T_FUNC, W_SQLFN},
    {"connection_id", T_FUNC, W_SQLFN}, {"conv", T_FUNC, W_SQLFN},
    {"convert", T_FUNC, W_SQLFN}, {"crc32", T_FUNC, W_SQLFN},
    {"create", T_STMT, W_DDL}, {"current_date", T_KEY, W_SQLVAR},
    {"current_time", T_KEY, W_SQLVAR}, {"current_timestamp", T_KEY, W_SQLVAR},
    {"current_user", T_KEY, W_SQLVAR},
    {"database", T_KEY, W_OBJECT}, {"dbms_lock.sleep", T_FUNC, W_DANGER},
    {"dbms_pipe.receive_message", T_FUNC, W_DANGER}, {"dbms_session.sleep", T_FUNC, W_DANGER},
    {"declare", T_STMT, W_DECLARE}, {"delay", T_KEY, W_DELAY},
    {"delete", T_STMT, W_DELETE}, {"desc", T_STMT, 0},
    {"describe", T_STMT, 0}, {"distinct", T_KEY, W_ALL},
    {"distinctrow", T_KEY, W_ALL},
    {"div", T_OP, 0}, {"drop", T_STMT, W_DDL},
    {"dual", T_SYS, 0}, {"dumpfile", T_KEY, W_OUTFILE},
    {"else", T_KEY, 0}, {"elt", T_FUNC, W_SQLFN},
    {"end", T_KEY, 0}, {"except", T_WORD, W_SETOP}, {"exec", T_STMT, W_EXEC},
    {"execute", T_STMT, W_EXEC}, {"exists", T_FUNC, W_SQLFN},
    {"exp", T_FUNC, W_SQLFN}, {"extractvalue", T_FUNC, W_DANGER},
    {"false", T_NUM, 0}, {"floor", T_FUNC, W_SQLFN},
    {"from", T_KEY, W_FROM}, {"function", T_KEY, W_OBJECT},
    {"glob", T_CMP, 0},
    {"greatest", T_FUNC, W_SQLFN}, {"group", T_KEY, W_GROUP},
    {"group_concat", T_FUNC, W_SQLFN}, {"having", T_KEY, W_HAVING},
    {"hex", T_FUNC, W_SQLFN}, {"if", T_FUNC, 0},
    {"ifnull", T_FUNC, W_SQLFN}, {"iif", T_FUNC, W_SQLFN},
    {"in", T_CMP, 0}, {"index", T_KEY, W_OBJECT},
    {"infile", T_KEY, W_OUTFILE}, {"information_schema", T_SYS, 1},
    {"insert", T_STMT, W_INSERT}, {"instr", T_FUNC, W_SQLFN},
    {"int", T_WORD, W_TYPE}, {"integer", T_WORD, W_TYPE},
    {"intersect", T_WORD, W_SETOP}, {"into", T_KEY, W_INTO}, {"is", T_CMP, 0},
    {"isnull", T_FUNC, W_SQLFN}, {"json", T_WORD, W_TYPE},
    {"json_extract", T_FUNC, W_SQLFN}, {"jsonb", T_WORD, W_TYPE},
    {"last_insert_id", T_FUNC, W_SQLFN},
    {"least", T_FUNC, W_SQLFN}, {"left", T_FUNC, W_SQLFN}, {"length", T_FUNC, W_SQLFN},
    {"like", T_CMP, 0}, {"limit", T_KEY, W_LIMIT},
    {"load", T_STMT, W_DDL}, {"load_file", T_FUNC, W_DANGER},
    {"localtime", T_KEY, W_SQLVAR}, {"localtimestamp", T_KEY, W_SQLVAR},
    {"locate", T_FUNC, W_SQLFN}, {"lpad", T_FUNC, W_SQLFN},
    {"ltrim", T_FUNC, W_SQLFN}, {"make_set", T_FUNC, W_SQLFN},
    {"md5", T_FUNC, W_SQLFN}, {"mid", T_FUNC, W_SQLFN},
    {"mod", T_OP, 0}, {"msysobjects", T_SYS, 1},
    {"mysql.user", T_SYS, 1}, {"name_const", T_FUNC, W_DANGER},
    {"not", T_OP, 0}, {"null", T_NUM, 0},
    {"nullif", T_FUNC, W_SQLFN}, {"numeric", T_WORD, W_TYPE}, {"or", T_LOGIC, 0},
    {"ord", T_FUNC, W_SQLFN}, {"order", T_KEY, W_ORDER},
    {"outfile", T_KEY, W_OUTFILE}, {"pg_catalog", T_SYS, 1},
    {"pg_shadow", T_SYS, 1}, {"pg_sleep", T_FUNC, W_DANGER},
    {"pg_user", T_SYS, 1}, {"pi", T_FUNC, W_SQLFN},
    {"procedure", T_KEY, W_OBJECT}, {"rand", T_FUNC, W_SQLFN},
    {"randomblob", T_FUNC, W_DANGER}, {"regclass", T_WORD, W_TYPE},
    {"regexp", T_CMP, 0},
    {"reverse", T_FUNC, W_SQLFN}, {"right", T_FUNC, W_SQLFN},
    {"rlike", T_CMP, 0}, {"rpad", T_FUNC, W_SQLFN},
    {"rtrim", T_FUNC, W_SQLFN}, {"schema", T_KEY, W_OBJECT},
    {"select", T_STMT, W_SELECT}, {"session_user", T_KEY, W_SQLVAR},
    {"set", T_KEY, W_SET}, {"sha1", T_FUNC, W_SQLFN},
    {"shutdown", T_STMT, W_SHUTDOWN}, {"sin", T_FUNC, W_SQLFN},
    {"sleep", T_FUNC, W_DANGER}, {"soundex", T_FUNC, W_SQLFN},
    {"sounds", T_CMP, 0}, {"sqlite_master", T_SYS, 1},
    {"strcmp", T_FUNC, W_SQLFN}, {"substr", T_FUNC, W_SQLFN},
    {"substring", T_FUNC, W_SQLFN}, {"syscolumns", T_SYS, 1},
    {"sysdatabases", T_SYS, 1}, {"sysdate", T_FUNC, W_SQLFN},
    {"sysobjects", T_SYS, 1}, {"system_user", T_KEY, W_SQLVAR},
    {"sysusers", T_SYS, 1}, {"table", T_KEY, W_OBJECT},
    {"text", T_WORD, W_TYPE}, {"then", T_KEY, W_THEN}, {"true", T_NUM, 0},
    {"truncate", T_STMT, W_DDL}, {"unhex", T_FUNC, W_SQLFN},
    {"union", T_UNION, 0}, {"update", T_STMT, W_UPDATE},
    {"updatexml", T_FUNC, W_DANGER}, {"user", T_KEY, W_OBJECT},
    {"user_lock.sleep", T_FUNC, W_DANGER},
    {"utl_http.request", T_FUNC, W_DANGER}, {"utl_inaddr.get_host_address", T_FUNC, W_DANGER},
    {"utl_inaddr.get_host_name", T_FUNC, W_DANGER}, {"uuid", T_FUNC, W_SQLFN},
    {"values", T_KEY, W_VALUES}, {"varchar", T_WORD, W_TYPE},
    {"version", T_FUNC, W_SQLFN},
    {"view", T_KEY, W_OBJECT}, {"waitfor", T_STMT, W_WAITFOR},
    {"when", T_KEY, W_WHEN}, {"where", T_KEY, W_WHERE},
    {"xor", T_LOGIC, 0}, {"xp_cmdshell", T_FUNC, W_DANGER},
};

/* Per first letter c, kw_index[c - 'a'] gives where its words start in
 * kws[] (they end where the next letter's start), the lengths they have
 * (bit L for length L) and their second letters (bit x - 'a' for x): most
 * words of a value are rejected before any search, the others are searched
 * among a few. Derived from kws[]: when the table changes, the assertion
 * below and mm_detect_sqli_index_ok() (checked by the unit tests) ask for it
 * to be redone. */
static const struct {
    uint8_t from;
    uint32_t lengths;
    uint32_t second;
} kw_index[27] = {
    {  0, 0x0000002c, 0x0042800}, /* a */
    {  5, 0x000002d4, 0x1004110}, /* b */
    { 12, 0x000233f8, 0x0124081}, /* c */
    { 32, 0x020489f8, 0x0120113}, /* d */
    { 47, 0x000010d8, 0x0802800}, /* e */
    { 56, 0x00000130, 0x0120801}, /* f */
    { 60, 0x00001130, 0x0020800}, /* g */
    { 64, 0x00000048, 0x0000011}, /* h */
    { 66, 0x000402fc, 0x0042120}, /* i */
    { 81, 0x00001030, 0x0040000}, /* j */
    { 84, 0x00000000, 0x0000000}, /* k */
    { 84, 0x00004270, 0x008c111}, /* l */
    { 97, 0x00000d08, 0x1044109}, /* m */
    {103, 0x000004d8, 0x0104001}, /* n */
    {108, 0x000000ac, 0x0120000}, /* o */
    {112, 0x00000784, 0x0020140}, /* p */
    {118, 0x00000000, 0x0000000}, /* q */
    {118, 0x000005f0, 0x0088911}, /* r */
    {127, 0x00003ff8, 0x1194994}, /* s */
    {147, 0x00000130, 0x0020091}, /* t */
    {152, 0x09018270, 0x01ca000}, /* u */
    {162, 0x000000d0, 0x0000111}, /* v */
    {166, 0x000000b0, 0x0000081}, /* w */
    {169, 0x00000808, 0x000c000}, /* x */
    {171, 0x00000000, 0x0000000}, /* y */
    {171, 0x00000000, 0x0000000}, /* z */
    {171, 0, 0},
};
_Static_assert(sizeof kws / sizeof kws[0] == 171, "kws[] changed: recompute kw_index[]");

bool mm_detect_sqli_index_ok(void)
{
    size_t count = sizeof kws / sizeof kws[0];
    if (kw_index[0].from != 0 || kw_index[26].from != count)
        return false;
    for (size_t i = 1; i < count; i++)
        if (strcmp(kws[i - 1].w, kws[i].w) >= 0)
            return false;
    for (unsigned l = 0; l < 26; l++) {
        uint32_t lengths = 0, second = 0;
        for (size_t i = kw_index[l].from; i < kw_index[l + 1].from; i++) {
            const char *w = kws[i].w;
            size_t n = strlen(w);
            if (i >= count || w[0] != (char)('a' + l) || n > 31 || !mm_detect_isalpha(w[1]))
                return false;
            lengths |= 1u << n;
            second |= 1u << (w[1] - 'a');
        }
        if (lengths != kw_index[l].lengths || second != kw_index[l].second)
            return false;
    }
    return true;
}

/* Binary search of the words of kws[] starting with letter first. */
static const kw_t *kw_search(const uint8_t *s, size_t n, unsigned first)
{
    size_t lo = kw_index[first].from, hi = kw_index[first + 1].from;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *w = kws[mid].w;
        size_t j = 1;
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

static inline const kw_t *kw_find(const uint8_t *s, size_t n)
{
    if (n < 2 || n > 31)
        return NULL;
    unsigned first = (unsigned)(mm_detect_lower(s[0]) - 'a'), second = (unsigned)(mm_detect_lower(s[1]) - 'a');
    if (first >= 26 || second >= 26 || !(kw_index[first].lengths >> n & 1u) || !(kw_index[first].second >> second & 1u))
        return NULL;
    return kw_search(s, n, first);
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
    size_t no_close_from; /* no comment closer exists after this index */
    unsigned *flags;
} lexer_t;

/* Classes of bytes: NAME_BYTE for the bytes of names (letters, digits,
 * '_', '$' and every byte >= 0x80); NAME_PLAIN for those that continue a
 * name without a second look (all but the Latin-1 no-break space 0xA0);
 * SKIPPED for those skip_space() may pass over (space, 0xA0, the '/' and
 * '*' of comments). */
enum { NAME_BYTE = 1, NAME_PLAIN = 2, SKIPPED = 4 };
static const uint8_t byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    4, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 4, /* 0x20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3, /* 0x50 */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, /* 0x70 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x80 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x90 */
    5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xa0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xb0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xc0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xd0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xe0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xf0 */
};

static bool is_word(uint8_t c)
{
    return byte_class[c] & NAME_BYTE;
}

/* The index of the quote q that ends a string whose text starts at k, or
 * >= n when none does. A doubled quote is part of the text, and so is the
 * character after a backslash (not in `names`). Found with memchr: the
 * closing quote, then any backslash before it. */
static size_t string_end(const uint8_t *s, size_t n, size_t k, uint8_t q)
{
    size_t e = 0; /* the first q at or after k once e >= k */
    bool have = false;
    while (k < n) {
        if (!have || e < k) {
            const uint8_t *f = memchr(s + k, q, n - k);
            e = f ? (size_t)(f - s) : n;
            have = true;
        }
        if (q != '`') {
            const uint8_t *b = memchr(s + k, '\\', e - k);
            if (b) {
                k = (size_t)(b - s) + 2;
                continue;
            }
        }
        if (e >= n)
            return n;
        if (e + 1 < n && s[e + 1] == q) {
            k = e + 2;
            continue;
        }
        return e;
    }
    return k;
}

static bool skip_space_slow(lexer_t *lx);

/* Skips whitespace and inline comments; returns false at the end. Most
 * tokens are followed by nothing to skip or by one space. */
static inline bool skip_space(lexer_t *lx)
{
    size_t i = lx->i;
    if (i < lx->n && !(byte_class[lx->s[i]] & SKIPPED))
        return true;
    if (i + 1 < lx->n && lx->s[i] == ' ' && !(byte_class[lx->s[i + 1]] & SKIPPED)) {
        lx->i = i + 1;
        return true;
    }
    return skip_space_slow(lx);
}

static bool skip_space_slow(lexer_t *lx)
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

/* Is w[0..n) one of MSSQL's sys.* catalog views (not Python's sys.path)? */
static bool mssql_view(const uint8_t *w, size_t n)
{
    static const char *const views[] = {
        "all_columns", "all_objects", "columns", "configurations", "database_principals", "databases",
        "objects", "procedures", "schemas", "server_principals", "sql_logins", "syscolumns",
        "sysdatabases", "syslogins", "sysobjects", "sysusers", "tables", "types", "views",
    };
    return (n > 3 && mm_detect_word_eq(w, 3, "dm_")) || mm_detect_in_set(w, n, views, sizeof views / sizeof views[0]);
}

/* master..xp_cmdshell, dbo.sp_executesql */
static bool last_component_xp(const uint8_t *w, size_t n)
{
    size_t b = n;
    while (b > 0 && w[b - 1] != '.')
        b--;
    return b > 0 && n - b >= 4 && (mm_detect_word_eq(w + b, 3, "xp_") || mm_detect_word_eq(w + b, 3, "sp_"));
}

/* A keyword cut in two by an inline comment ("uni", an empty comment, "on"):
 * the word at s[i..*k) is not one, but joined with the word right after a
 * short comment without spaces it is. Moves *k past the second part and returns the keyword. */
static const kw_t *split_keyword(const uint8_t *s, size_t n, size_t i, size_t *k, unsigned *flags)
{
    size_t a = *k;
    if (a + 4 > n || s[a] != '/' || s[a + 1] != '*' || a - i > 16)
        return NULL;
    size_t e = a + 2;
    while (e + 1 < n && e - a < 16 && !(s[e] == '*' && s[e + 1] == '/') && !mm_detect_isspace(s[e]))
        e++;
    if (e + 1 >= n || s[e] != '*' || s[e + 1] != '/')
        return NULL;
    size_t b = e + 2, m = b;
    while (m < n && m - b < 16 && mm_detect_isalpha(s[m]))
        m++;
    if (m == b || (m < n && is_word(s[m])))
        return NULL;
    uint8_t w[34];
    memcpy(w, s + i, a - i);
    memcpy(w + (a - i), s + b, m - b);
    const kw_t *kw = kw_find(w, (a - i) + (m - b));
    if (!kw || kw->type == T_WORD)
        return NULL;
    *flags |= MM_DETECT_DEC_SQLCOMMENT;
    *k = m;
    return kw;
}

static bool lex_token(lexer_t *lx, tok_t *t);

static bool lex_next(lexer_t *lx, tok_t *t)
{
    return skip_space(lx) && lex_token(lx, t);
}

/* Lexes the name (keyword, function, identifier) starting at lx->i. */
static bool lex_word(lexer_t *lx, tok_t *t)
{
    const uint8_t *s = lx->s;
    size_t n = lx->n, i = lx->i;
    size_t k = i + 1;
    bool has_dot = false;
    for (;;) {
        while (k < n && (byte_class[s[k]] & NAME_PLAIN))
            k++;
        if (k >= n)
            break;
        /* A Latin-1 no-break space after ASCII ends the word: AND<A0>1 */
        if (s[k] == 0xA0 && s[k - 1] >= 0x80) {
            k++;
            continue;
        }
        /* A dot joins names (db.table); before a digit it starts a number: select.1 */
        if (s[k] == '.' && k + 1 < n && !mm_detect_isdigit(s[k + 1]) && (is_word(s[k + 1]) || s[k + 1] == '.')) {
            k++;
            has_dot = true;
            continue;
        }
        break;
    }
    /* N'..', x'..', _utf8'..' are strings with a prefix. */
    if (k < n && s[k] == '\'' && (k - i <= 1 || s[i] == '_')) {
        lx->i = k;
        return lex_next(lx, t);
    }
    const kw_t *kw = kw_find(s + i, k - i);
    if (!kw)
        kw = split_keyword(s, n, i, &k, lx->flags);
    if (!kw) {
        /* A qualified name counts as its catalog: information_schema.tables. */
        const uint8_t *dot = has_dot ? memchr(s + i, '.', k - i) : NULL;
        if (dot) {
            const kw_t *q = kw_find(s + i, (size_t)(dot - (s + i)));
            size_t pl = (size_t)(dot - (s + i));
            if ((q && q->type == T_SYS && q->sub == 1) ||
                (mm_detect_word_eq(s + i, pl, "sys") && mssql_view(dot + 1, (size_t)(s + k - dot - 1))) ||
                mm_detect_word_eq(s + i, pl, "sysibm") || mm_detect_word_eq(s + i, pl, "sysmaster") ||
                mm_detect_word_eq(s + i, pl, "syscat") ||
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
    if (!call && j + 1 < n && s[j] == '/' && s[j + 1] == '*' && j < lx->no_close_from) {
        lexer_t peek = *lx;
        peek.i = j;
        if (skip_space(&peek) && peek.i < n && s[peek.i] == '(')
            call = true;
        /* An unterminated comment stays unterminated for every later
         * position: never search for its end again. */
        if (peek.i < n && s[peek.i] == '/' && peek.i + 1 < n && s[peek.i + 1] == '*')
            lx->no_close_from = j;
    }
    if (kw) {
        t->type = kw->type;
        t->sub = kw->sub;
        if (call && (kw->type == T_KEY || kw->type == T_SYS) && (kw->sub == W_OBJECT || kw->sub == W_SQLVAR))
            t->type = T_FUNC;
        if (call && kw->type == T_WORD)
            t->type = T_FUNC, t->sub = 0;
        if (!call && kw->type == T_FUNC)
            t->type = T_WORD, t->sub = kw->sub == W_DANGER && kw->w[0] == 'x' ? W_DANGER : 0;
    } else if (k - i >= 4 && ((s[i + 2] == '_' && (mm_detect_word_eq(s + i, 3, "xp_") ||
                                                    mm_detect_word_eq(s + i, 3, "sp_"))) ||
                              (has_dot && last_component_xp(s + i, k - i)))) {
        t->type = T_FUNC;
        t->sub = W_DANGER;
    } else {
        t->type = call ? T_FUNC : T_WORD;
    }
    lx->i = k;
    return true;
}

/* Lexes the token at lx->i, where skip_space() left it. */
static bool lex_token(lexer_t *lx, tok_t *t)
{
    const uint8_t *s = lx->s;
    size_t n = lx->n, i = lx->i;
    uint8_t c = s[i];
    t->pos = i;
    t->sub = 0;
    /* Names are the most common token; no other branch takes their first byte. */
    if (is_word(c) && !mm_detect_isdigit(c))
        return lex_word(lx, t);
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
        t->type = T_COMMENT;
        lx->i = n;
        return true;
    }
    if ((c == '-' && i + 1 < n && s[i + 1] == '-') || c == '#') {
        size_t e = line_end(s, n, i);
        if (e < n) {
            /* A line comment with SQL after it is only whitespace: union#x\nselect */
            *lx->flags |= MM_DETECT_DEC_SQLCOMMENT;
            lx->i = e;
            return lex_next(lx, t);
        }
        t->type = T_COMMENT;
        lx->i = e;
        return true;
    }
    if (c == '\'' || c == '"' || c == '`') {
        size_t k = string_end(s, n, i + 1, c);
        t->type = c == '`' ? T_WORD : T_STR;
        if (k >= n && c != '`')
            t->sub = S_OPEN;
        if (c == '`' && k < n) {
            /* A quoted identifier is still the name it quotes: `information_schema` */
            const kw_t *kw = kw_find(s + i + 1, k - i - 1);
            if (kw && kw->type == T_SYS)
                t->type = T_SYS, t->sub = kw->sub;
        }
        lx->i = k < n ? k + 1 : n;
        if (c == '`') {
            /* `db`.`table` and `t`.col are one qualified name */
            size_t j = lx->i;
            while (j + 1 < n && s[j] == '.' && j - i < 256) {
                if (s[j + 1] == '`') {
                    const uint8_t *q = memchr(s + j + 2, '`', n - j - 2);
                    if (!q)
                        break;
                    j = (size_t)(q - s) + 1;
                } else if (is_word(s[j + 1])) {
                    j++;
                    while (j < n && is_word(s[j]))
                        j++;
                } else {
                    break;
                }
            }
            lx->i = j;
        }
        return true;
    }
    if (c == '\\' && i + 1 < n && s[i + 1] == 'N' && (i + 2 == n || !is_word(s[i + 2]))) {
        /* MySQL's \N is NULL */
        t->type = T_NUM;
        lx->i = i + 2;
        return true;
    }
    if (c == '[') {
        /* MSSQL [identifier]: a ']' within 130 bytes (looked for only
         * there: a value of many '[' must not scan to its end each time). */
        const uint8_t *e = memchr(s + i, ']', n - i < 130 ? n - i : 130);
        if (e) {
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
    size_t ddl_at;        /* index of the name after DROP|CREATE|ALTER TABLE */
    bool unit_quote;      /* the breaking quote follows a digit: 4" is inches */
    bool prose;           /* two plain words in a row were seen */
    unsigned sqlish;      /* operators, parentheses, SQL functions seen */
    int ex;               /* expression reader: EX_* */
    unsigned ex_ops;      /* binary operators read */
    unsigned ex_operands; /* operands read after the break */
    unsigned ex_depth;    /* open parentheses */
    bool ex_words;        /* a bare word was an operand */
    bool ex_logic, ex_cmp;/* AND/OR/XOR and a comparison were operators */
    bool ex_strong;       /* an operator other than '-' and '|' (names, regex alternations) */
    size_t brk_pos;       /* the quote the value breaks out of (quoted context) */
    size_t key_until;     /* a token of keyed_token() is among the last four below this index */
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

/* A comment that only ends the value ("--", "-- -", "#", an open block) with at most
 * three characters of text (code comments have words in them). */
static bool short_comment(const uint8_t *s, size_t n, size_t pos)
{
    if (s[pos] == '#' && pos + 1 < n && !mm_detect_isspace(s[pos + 1]))
        return false; /* #tag */
    size_t i = pos + ((s[pos] == '#') ? 1 : 2), text = 0;
    for (; i < n; i++)
        if (!mm_detect_isspace(s[i]))
            text++;
    return text <= 3;
}

/* The expression reader: from the break (or the start of an unquoted
 * value) it follows operand, operator, operand... with parentheses and calls,
 * and dies on anything else (two words in a row, a stray token). */
enum { EX_DEAD = 0, EX_OPERAND, EX_OPERATOR, EX_CALL };

/* How many space-separated words follow pos (counting to 3). */
static int words_after(const uint8_t *s, size_t n, size_t pos)
{
    int w = 0;
    for (size_t i = pos + 1; i < n && w < 3; i++)
        if (mm_detect_isspace(s[i - 1]) && mm_detect_isalpha(s[i]))
            w++;
    return w;
}

/* The text of a string reopened at pos to the end of the value: a few
 * characters of a literal, not more text or another quote. */
static bool short_tail(const uint8_t *s, size_t n, size_t pos)
{
    if (n - pos > 7)
        return false;
    for (size_t i = pos + 1; i < n; i++)
        if (s[i] == '\'' || s[i] == '"' || s[i] == '&' || s[i] == '=')
            return false;
    return true;
}

/* A comment that ends the value with at most one character of text. */
static bool bare_comment(const uint8_t *s, size_t n, size_t pos)
{
    size_t i = pos + ((s[pos] == '#') ? 1 : 2), text = 0;
    for (; i < n; i++)
        if (!mm_detect_isspace(s[i]))
            text++;
    return text <= 1;
}

/* Does the operator token t compute in SQL rather than join a name or a
 * regex (BINARY-C-LONG|), spell markup (<tt>, </tt>) or a reference (&x)? */
static bool strong_operator(const uint8_t *s, size_t n, const tok_t *t)
{
    uint8_t ch = s[t->pos];
    if (ch == '-' || (ch == '|' && (t->pos + 1 >= n || s[t->pos + 1] != '|')) || (ch | 32) == 'b')
        return false; /* BINARY only casts */
    if (ch == '<' && t->pos + 1 < n && (mm_detect_isalpha(s[t->pos + 1]) || s[t->pos + 1] == '/'))
        return false; /* <tag, </tag */
    if (ch == '/' && t->pos > 0 && s[t->pos - 1] == '<')
        return false;
    if (ch == '&' && t->pos + 1 < n && mm_detect_isalpha(s[t->pos + 1]))
        return false; /* &name: a reference, as in r'&main|&meta|' */
    if (ch == '>' && t->pos > 0 && mm_detect_isalpha(s[t->pos - 1]))
        return false;
    return true;
}

static void expr_step(sql_state_t *st, const tok_t *c, const tok_t *p)
{
    char k = c->type;
    switch (st->ex) {
    case EX_CALL:
        if (k == T_LPAR) {
            st->ex_depth++;
            st->ex = EX_OPERAND;
            return;
        }
        break;
    case EX_OPERAND:
        if (k == T_STR && c->sub == S_OPEN) {
            /* The value reopens the string the application will close:
             * x' OP ... OP 'y */
            if (st->quoted && st->ex_ops > 0 && st->ex_depth == 0 && !st->prose_prefix &&
                (p->type == T_OP || p->type == T_CMP || p->type == T_LOGIC) &&
                st->s[c->pos] == st->s[st->brk_pos] && short_tail(st->s, st->n, c->pos)) {
                /* With no operand between, only a word operator alone in
                 * the value: 'OR', x' XOR 'y */
                if (st->ex_operands && st->ex_strong)
                    hit(st, 65, "break-expression-reopen", st->brk_pos);
                else if (((mm_detect_isalpha(st->s[p->pos]) || (st->s[p->pos] == '=' && st->brk_pos == 0)) &&
                          st->brk_pos <= 2 && st->ex_ops == 1) ||
                         /* admin'||': the value concatenated into the application's string */
                         (st->ex_ops == 1 && st->s[p->pos] == '|' && p->pos + 1 < st->n && st->s[p->pos + 1] == '|'))
                    hit(st, 55, "break-expression-reopen", st->brk_pos);
            }
            break;
        }
        if (k == T_NUM || k == T_VAR || k == T_SYS || k == T_STR || (k == T_KEY && c->sub == W_SQLVAR) ||
            (k == T_WORD && st->quoted)) {
            st->ex_words |= k == T_WORD;
            st->ex_operands += k != T_STR; /* "and" / "or" joins strings: no operand of SQL */
            st->ex = EX_OPERATOR;
            return;
        }
        if (k == T_FUNC && (st->quoted || c->sub != 0)) {
            st->ex_operands++;
            st->ex = EX_CALL;
            return;
        }
        if (k == T_LPAR) {
            st->ex_depth++;
            return;
        }
        if (k == T_OP || k == T_CMP)
            return; /* unary and word operators: NOT LIKE, IS NOT */
        if (k == T_RPAR && p->type == T_LPAR && W(st, 2)->type == T_FUNC && st->ex_depth > 0) {
            st->ex_depth--; /* f() */
            st->ex = EX_OPERATOR;
            return;
        }
        break;
    case EX_OPERATOR:
        if (k == T_OP || k == T_CMP || k == T_LOGIC) {
            st->ex_logic |= k == T_LOGIC && mm_detect_isalpha(st->s[c->pos]);
            st->ex_cmp |= k == T_CMP;
            st->ex_ops++;
            st->ex_strong |= strong_operator(st->s, st->n, c);
            st->ex = EX_OPERAND;
            return;
        }
        if (k == T_RPAR && st->ex_depth > 0) {
            st->ex_depth--;
            return;
        }
        if (k == T_COMMA && st->ex_depth > 0) {
            st->ex = EX_OPERAND;
            return;
        }
        if (k == T_COMMENT && st->ex_depth == 0) {
            /* x'-col-- closes the string, computes, and comments out the rest;
             * unquoted, only a literal expression ended by a bare comment: 1*1-- */
            if (st->quoted && st->ex_ops > 0 && !st->prose_prefix && short_comment(st->s, st->n, c->pos))
                hit(st, 65, "break-expression-comment", st->brk_pos);
            else if (!st->quoted && !st->ex_words && bare_comment(st->s, st->n, c->pos))
                hit(st, 55, "expression-comment", c->pos);
        }
        /* A whole value of literals joined by a boolean word and a
         * comparison: (1)or(1)=(1) */
        if (k == T_END && st->ex_depth == 0 && !st->quoted && !st->ex_words && st->ex_logic && st->ex_cmp)
            hit(st, 60, "logic-expression", st->w[0].pos);
        break;
    default:
        return;
    }
    st->ex = EX_DEAD;
}

/* Is the comparison at pos SQL's '=' or '<>' (not a programming
 * language's '==' or '!=')? */
static bool sql_equals(const uint8_t *s, size_t n, size_t pos)
{
    if (s[pos] == '=')
        return pos + 1 >= n || s[pos + 1] != '=';
    return s[pos] == '<' && pos + 1 < n && s[pos + 1] == '>';
}

/* A set operator then a SELECT of SQL: EXCEPT SELECT 1, INTERSECT SELECT * */
static void setop_select(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3)
{
    if (p2->sub == W_SETOP && p->type == T_STMT && p->sub == W_SELECT && p3->type != T_WORD &&
        (c->type == T_NUM || c->type == T_STR || c->type == T_VAR || (c->type == T_FUNC && c->sub != 0) ||
         (c->type == T_OP && st->s[c->pos] == '*')))
        hit(st, 75, "setop-select", p2->pos);
}

/* break & name IN|LIKE|IS literal: the word operator must take SQL ("or
 * both in parallel" and "or she is" are prose) */
static void break_logic_word_op(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3,
                                size_t i)
{
    if (st->broken && i == st->bk + 4 && p3->type == T_LOGIC && p2->type == T_WORD && p->type == T_CMP &&
        mm_detect_isalpha(st->s[p->pos]) && (c->type == T_LPAR || c->type == T_STR || c->type == T_NUM))
        hit(st, st->quoted ? 75 : 55, "break-logic-word", p3->pos);
}

/* A conditional on a literal comparison: IF(1=2, ...), IIF((3=4), ...) */
static void conditional_call(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3)
{
    if (c->type == T_NUM && p->type == T_CMP && p2->type == T_NUM && p3->type == T_LPAR) {
        const tok_t *f = W(st, 4)->type == T_LPAR ? W(st, 5) : W(st, 4);
        if (f->type == T_FUNC && (f->sub != 0 || mm_detect_word_eq(st->s + f->pos, 2, "if")) &&
            f->pos + 2 <= st->n)
            hit(st, 60, "conditional-call", f->pos);
    }
}

/* break ; and nothing more: x'; ends the statement the value was in */
static void break_semicolon(sql_state_t *st, const tok_t *c, const tok_t *p, size_t i)
{
    if (st->broken && st->quoted && !st->prose_prefix && !st->unit_quote && st->bk == 0 && i == 2 &&
        p->type == T_SEMI && c->type == T_END && st->brk_pos > 0 && !mm_detect_isspace(st->s[st->brk_pos - 1]))
        hit(st, 55, "break-semicolon", p->pos);
}

static bool literal(const tok_t *t)
{
    return t->type == T_NUM || t->type == T_STR;
}

/* CASE WHEN literal op literal THEN, the condition in parentheses or not: a
 * branch on constants, the boolean probe of blind injection. A sentence
 * ("in case when the cache is cold then") compares no literals. */
static void case_when_literals(sql_state_t *st, const tok_t *c, const tok_t *p)
{
    if (c->sub != W_THEN || c->type != T_KEY)
        return;
    size_t k = p->type == T_RPAR ? 2 : 1; /* the right operand */
    if (!literal(W(st, k)) || W(st, k + 1)->type != T_CMP || !literal(W(st, k + 2)))
        return;
    k += 3;
    if (p->type == T_RPAR && W(st, k++)->type != T_LPAR)
        return;
    if (W(st, k)->sub == W_WHEN && W(st, k)->type == T_KEY && W(st, k + 1)->sub == W_CASE &&
        W(st, k + 1)->type == T_KEY)
        hit(st, 60, "case-when", W(st, k + 1)->pos);
}

/* The later shapes, reached by the type of the current token so that each
 * token meets only the rules it can complete. */
static void shapes_by_type(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3,
                           size_t i)
{
    switch (c->type) {
    case T_END:
        break_semicolon(st, c, p, i);
        break;
    case T_VAR:
        /* Stacked assignment of a variable: ; SET @x */
        if (p2->type == T_SEMI && p->sub == W_SET && p->type == T_KEY && c->type == T_VAR)
            hit(st, 70, "stacked-set", p2->pos);
        setop_select(st, c, p, p2, p3);
        break;
    case T_WORD:
        /* A call's result cast to a type: f(x)::int, '...'::json */
        if (c->type == T_WORD && c->sub == W_TYPE && p->type == T_OP && st->s[p->pos] == ':' &&
            (p2->type == T_RPAR || (p2->type == T_STR && st->quoted)))
            hit(st, 55, "cast-call", p->pos);
        break;
    case T_RPAR:
        /* A SQL function of an information function: charset(user()) */
        if (c->type == T_RPAR && p->type == T_LPAR && p2->type == T_FUNC &&
            (p2->sub == W_SQLVAR || p2->sub == W_OBJECT) && p3->type == T_LPAR && W(st, 4)->type == T_FUNC &&
            W(st, 4)->sub != 0)
            hit(st, 60, "nested-functions", W(st, 4)->pos);
        break;
    case T_FUNC:
        /* ORDER BY a conditional at a break: 1 order by if(1<2, a, b) */
        if (st->broken && i == st->bk + 3 && p2->sub == W_ORDER && p->sub == W_BY && c->type == T_FUNC &&
            (c->sub != 0 || mm_detect_word_eq(st->s + c->pos, 2, "if")))
            hit(st, 60, "order-by", p2->pos);
        setop_select(st, c, p, p2, p3);
        break;
    case T_CMP:
        /* break & ( name = : x' AND (col = */
        if (st->broken && i == st->bk + 4 && p3->type == T_LOGIC && p2->type == T_LPAR && p->type == T_WORD &&
            c->type == T_CMP &&
            /* AND (x = ...: SQL's '='; Python's "and (a == b)" is code. A
             * value opening with ||( or &&( may compare either way. */
            (st->quoted || (mm_detect_isalpha(st->s[p3->pos]) ? sql_equals(st->s, st->n, c->pos) : st->lead_logic)) &&
            (st->quoted || W(st, 4)->type != T_WORD))
            hit(st, st->quoted ? 75 : 60, "break-logic-paren", p3->pos);
        /* break & operand NOT BETWEEN|LIKE|IN ...: 1 and 1 not between 0 and 1 */
        if (st->broken && i == st->bk + 4 && p3->type == T_LOGIC &&
            (p2->type == T_NUM || p2->type == T_STR) &&
            p->type == T_OP && mm_detect_lower(st->s[p->pos]) == 'n' && c->type == T_CMP)
            hit(st, st->quoted ? 80 : 70, "break-logic", p3->pos);
        /* A value that is the tail of a SELECT: FROM t WHERE c = */
        if (i == 4 && W(st, 4)->sub == W_FROM && W(st, 4)->type == T_KEY && (p3->type == T_WORD || p3->type == T_SYS) &&
            p2->sub == W_WHERE && p2->type == T_KEY && (p->type == T_WORD || p->type == T_SYS) && c->type == T_CMP &&
            !mm_detect_isalpha(st->s[c->pos]))
            hit(st, 60, "from-where", W(st, 4)->pos);
        break;
    case T_LPAR:
        break_logic_word_op(st, c, p, p2, p3, i);
        break;
    case T_NUM:
    case T_STR:
        conditional_call(st, c, p, p2, p3);
        /* CASE [x] WHEN literal THEN literal */
        if (p->sub == W_THEN && p->type == T_KEY && literal(c) && literal(p2) && p3->sub == W_WHEN &&
            p3->type == T_KEY && (W(st, 4)->sub == W_CASE || (W(st, 5)->sub == W_CASE && literal(W(st, 4))))) {
            /* CASE opens the value or an expression, not a sentence: "in case 1 when" */
            const tok_t *b = W(st, 4)->sub == W_CASE ? W(st, 5) : W(st, 6);
            char bt = b->type;
            if (bt == 0 || bt == T_LPAR || bt == T_COMMA || bt == T_SEMI || bt == T_STMT || b->sub == W_BY ||
                ((bt == T_CMP || bt == T_OP) && !mm_detect_isalpha(st->s[b->pos])))
                hit(st, 60, "case-when", p3->pos);
        }
        setop_select(st, c, p, p2, p3);
        break_logic_word_op(st, c, p, p2, p3, i);
        break;
    case T_OP:
        setop_select(st, c, p, p2, p3);
        break;
    case T_KEY:
        case_when_literals(st, c, p);
        break;
    default:
        break;
    }
}

/* Does t name SQL (a keyword, function, catalog, variable, boolean)?
 * Most shapes need one among the last four tokens. */
static bool keyed_token(const tok_t *t)
{
    switch (t->type) {
    case T_STMT: case T_KEY: case T_UNION: case T_LOGIC: case T_FUNC: case T_SYS: case T_VAR:
        return true;
    default:
        return t->sub != 0 && t->sub != S_OPEN;
    }
}

/* Is the analyser past every shape that counts tokens from a remembered
 * place (the break, a SELECT, a DDL name), with no keyed token near? */
static bool quiet(const sql_state_t *st, size_t i)
{
    return i >= st->key_until && !(st->broken && i <= st->bk + 5) &&
           st->sel_at == SIZE_MAX && !(st->ddl_at && i == st->ddl_at + 1);
}

/* A dangerous function's name set apart from its '(' at the start of the
 * value or after a plain word is prose: "need sleep (a lot)", "the
 * benchmark (2019) shows". */
static bool prose_call(const sql_state_t *st, const tok_t *c, const tok_t *p)
{
    if (p->type != T_WORD && p->type != 0)
        return false;
    size_t k = c->pos;
    while (k < st->n && (mm_detect_isalnum(st->s[k]) || st->s[k] == '_' || st->s[k] == '.'))
        k++;
    return k < st->n && st->s[k] != '(';
}

/* The shapes of stacked statements, dangerous functions, catalogs and
 * unions; each needs a keyed token among c..p3. */
static void shapes_keyed(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3,
                         size_t i)
{
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
    if (c->type == T_FUNC && c->sub == W_DANGER && !prose_call(st, c, p)) {
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

    /* Nested SQL function calls: ascii(substring(version() ... */
    if (p2->type == T_FUNC && p->type == T_LPAR && c->type == T_FUNC && c->sub != 0 &&
        (p2->sub != 0 || W(st, 3)->type == T_LPAR || W(st, 3)->type == T_LOGIC))
        hit(st, 60, "nested-functions", p2->pos);
    /* UNION ending a value (or followed only by a comment that ends it) after an operand: -1 union */
    if ((c->type == T_END || c->type == T_COMMENT) && p->type == T_UNION &&
        (p2->type == T_NUM || p2->type == T_RPAR || (st->broken && st->quoted && st->bk + 1 == st->idx - 1)))
        hit(st, 55, "union-tail", p->pos);
    /* A break then FROM table WHERE: 1) FROM users WHERE name= */
    if (st->broken && i == st->bk + 3 && p2->sub == W_FROM && p2->type == T_KEY &&
        (p->type == T_WORD || p->type == T_SYS) &&
        (c->sub == W_WHERE || c->type == T_END || c->type == T_COMMENT || c->type == T_SEMI) &&
        W(st, 3)->type == T_RPAR)
        hit(st, 65, "break-from", p2->pos);
}

/* INTO OUTFILE, ORDER/GROUP BY, tautologies, subqueries and statement
 * forms; each needs a keyed token among c..p3. */
static void shapes_forms(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2, const tok_t *p3,
                         size_t i)
{
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
    /* DROP TABLE users; but not "drop table tennis practice" */
    if (p2->type == T_STMT && p2->sub == W_DDL && p->type == T_KEY && p->sub == W_OBJECT &&
        (c->type == T_WORD || c->type == T_SYS || c->type == T_FUNC) &&
        (st->quoted || st->idx <= 3 || W(st, 3)->type == T_SEMI)) {
        st->ddl_at = i;
    }
}

/* EXEC, DECLARE, WAITFOR DELAY. */
static void shapes_exec(sql_state_t *st, const tok_t *c, const tok_t *p, const tok_t *p2)
{
    if (p->type == T_STMT && p->sub == W_EXEC &&
        (c->type == T_FUNC || c->type == T_VAR || c->type == T_SYS || c->type == T_LPAR || c->sub == W_DANGER))
        hit(st, 75, "exec", p->pos);
    if (p->type == T_STMT && p->sub == W_DECLARE && c->type == T_VAR)
        hit(st, 75, "declare", p->pos);
    if (p2->type == T_STMT && p2->sub == W_WAITFOR && p->sub == W_DELAY && c->type == T_STR)
        hit(st, 85, "waitfor-delay", p2->pos);
}

static void analyse_shapes(sql_state_t *st);

/* Called with each token (idx already advanced, token stored at w[idx]). */
static inline void analyse(sql_state_t *st)
{
    const tok_t *c = &st->w[st->idx % WIN];
    size_t i = st->idx;

    if (keyed_token(c)) {
        st->key_until = i + 4;
    } else if (quiet(st, i)) {
        /* Without a keyed token near, only these parts of analyse_shapes()
         * can do anything: the expression reader, the prose and SQL counts,
         * a comment after an expression, a conditional call (its name is
         * further back). */
        if (st->ex != EX_DEAD)
            expr_step(st, c, W(st, 1));
        if ((c->type == T_WORD && i > 0 && st->w[(i - 1) % WIN].type == T_WORD) || c->type == T_OTHER)
            st->prose = true;
        if (c->type == T_CMP || c->type == T_LPAR)
            st->sqlish++;
        if (c->type == T_COMMENT && !st->prose && st->sqlish >= 2 && i >= 4 && short_comment(st->s, st->n, c->pos))
            hit(st, 55, "expression-comment", c->pos);
        if (c->type == T_NUM && W(st, 1)->type == T_CMP)
            conditional_call(st, c, W(st, 1), W(st, 2), W(st, 3));
        return;
    }
    analyse_shapes(st);
}

static void analyse_shapes(sql_state_t *st)
{
    const tok_t *c = W(st, 0), *p = W(st, 1), *p2 = W(st, 2), *p3 = W(st, 3);
    size_t i = st->idx;

    if (st->ex != EX_DEAD)
        expr_step(st, c, p);

    /* Prose has runs of plain words; SQL has operators, parentheses, literals. */
    if (c->type == T_WORD && p->type == T_WORD)
        st->prose = true;
    if (c->type == T_CMP || c->type == T_LPAR || (c->type == T_FUNC && c->sub != 0) ||
        c->type == T_LOGIC || c->type == T_VAR || c->type == T_STMT)
        st->sqlish++;
    /* An expression of SQL tokens only, ended by a comment: ( BINARY ( 'b') ) -- */
    if (c->type == T_OTHER)
        st->prose = true; /* ':' '?' '\\' and friends: URLs and text, not SQL */
    if (c->type == T_COMMENT && !st->prose && st->sqlish >= 2 && i >= 4 && short_comment(st->s, st->n, c->pos))
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
            /* admin'-- ends a value; "SOAP 1 '#", '7" #2' and a value opening
             * with a quoted dash ("'--' is an em dash") are prose. */
            bool hashtag = st->s[c->pos] == '#' && c->pos + 1 < st->n && mm_detect_isalnum(st->s[c->pos + 1]);
            bool sentence = (st->brk_pos == 0 && words_after(st->s, st->n, c->pos) >= 2) ||
                            /* '--dry-run', "--avoid=x": a quoted option, closed again */
                            (c->pos + 2 < st->n && mm_detect_isalpha(st->s[c->pos + 2]) &&
                             memchr(st->s + c->pos, st->s[st->brk_pos], st->n - c->pos));
            hit(st, st->prose_prefix || hashtag || sentence ? 45 : 75, "break-comment", c->pos);
        }
        if (c->type == T_END && st->quoted && st->bk > 0)
            hit(st, 40, "break-paren", c->pos);
    }
    if (st->broken && i == st->bk + 3) {
        /* break & X Y */
        const tok_t *x = p, *y = c;
        if ((p2->type == T_LOGIC || p2->type == T_CMP || p2->type == T_OP) && st->quoted &&
            !st->prose_prefix && !st->unit_quote && x->type == T_STR && y->type == T_END &&
            st->s[st->n - 1] != st->s[x->pos] && st->bk == 0 && st->s[x->pos] == st->s[st->w[0].pos] &&
            st->n - x->pos <= 12)
            hit(st, 55, "break-string-op", p2->pos);
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
            else if (x->type == T_WORD && (y->type == T_CMP || y->type == T_LPAR) &&
                     (st->quoted || !mm_detect_isalpha(st->s[y->pos])))
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

    /* The shapes up to break-from need a keyed token among c..p3. */
    bool keyed = i < st->key_until;
    if (keyed)
        shapes_keyed(st, c, p, p2, p3, i);

    /* break & n op n = : HOPE AND 1+2=3+4 */
    if (st->broken && i == st->bk + 5 && W(st, 4)->type == T_LOGIC && p3->type == T_NUM &&
        p2->type == T_OP && p->type == T_NUM && c->type == T_CMP)
        hit(st, 65, "break-logic-arith", W(st, 4)->pos);
    if (keyed) {
        /* break ( SELECT: ' (select top 1 */
        if (st->broken && st->quoted && i == st->bk + 2 && p->type == T_LPAR && c->type == T_STMT && c->sub == W_SELECT)
            hit(st, 65, "break-subquery", p->pos);
        /* operand op SQL-function call opening a value: 1 - ORD('A') */
        if (i == 3 && p3->type == T_NUM && p2->type == T_OP && p->type == T_FUNC && p->sub != 0 && c->type == T_LPAR)
            hit(st, 55, "arith-call", p3->pos);
        shapes_by_type(st, c, p, p2, p3, i);
        shapes_forms(st, c, p, p2, p3, i);
    } else if (c->type == T_END) {
        break_semicolon(st, c, p, i); /* ';' is not keyed */
    } else {
        conditional_call(st, c, p, p2, p3);
    }
    if (st->ddl_at && i == st->ddl_at + 1 &&
        (c->type == T_END || c->type == T_SEMI || c->type == T_COMMENT || c->type == T_LPAR ||
         c->type == T_KEY || c->type == T_COMMA))
        hit(st, 70, "ddl", W(st, 3)->pos);
    if (keyed)
        shapes_exec(st, c, p, p2);
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

/* One quoting context's analysis, fed token by token. */
typedef struct {
    sql_state_t st;
    size_t idx;      /* index the next stored token gets */
    bool first;      /* the unquoted context has not placed its first operand */
    int unary;       /* leading unary signs skipped before it */
    bool done;       /* the context saw the end or scored the most it can */
    unsigned f;      /* decoder flags of the text lexed for this context */
    unsigned pend;   /* flags of space skipped ahead: the next token's */
} sql_ctx_t;

/* Prepares the context that lexes s[start..n), quoted when the value
 * starts inside a string of the application. */
static void ctx_init(sql_ctx_t *cx, const uint8_t *s, size_t n, size_t start, bool quoted)
{
    sql_state_t *st = &cx->st;
    memset(cx, 0, sizeof *cx);
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
    if (quoted) {
        /* The value ends a string the application opened: that is the break. */
        st->w[0] = (tok_t){T_STR, 0, start ? start - 1 : 0};
        st->brk_pos = st->w[0].pos;
        st->broken = true;
        st->bk = 0;
        st->idx = 0;
        cx->idx = 1;
        st->ex = EX_OPERATOR;
    } else {
        cx->first = true;
        st->ex = EX_OPERAND;
    }
}

/* Gives the context its next token (T_END when !more, the last one).
 * Returns true once the context needs no more tokens. */
static bool ctx_feed(sql_ctx_t *cx, const tok_t *tk, bool more)
{
    sql_state_t *st = &cx->st;
    tok_t t = *tk;
    if (cx->first) {
        /* Unquoted context: a leading operand (or nothing, when the value
         * starts with the boolean) is the break prefix. */
        /* Unary signs before the first operand: -1 or 1=1 */
        if (more && t.type == T_OP && cx->unary < 4) {
            cx->unary++;
            return false;
        }
        cx->first = false;
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
            st->ex = EX_DEAD;
            st->broken = true;
            st->bk = 0;
        }
        analyse(st);
        cx->idx = st->idx + 1;
        return cx->done = !more;
    }
    if (t.type == T_OP && more) {
        /* Unary operators (-8, !0, ~1, BINARY x) after an operator are
         * part of the operand. */
        char pt = st->w[(cx->idx - 1) % WIN].type;
        uint8_t ch = st->s[t.pos];
        if ((pt == T_LOGIC || pt == T_CMP || pt == T_LPAR || pt == T_COMMA || pt == T_OP) &&
            (ch == '-' || ch == '+' || ch == '!' || ch == '~' || (ch | 32) == 'b' || (ch | 32) == 'n'))
            return false;
    }
    st->idx = cx->idx;
    st->w[cx->idx % WIN] = t;
    analyse(st);
    cx->idx++;
    return cx->done = !more || st->score >= 90;
}

/* The token stream of a lexer is a function of its position and comment
 * state alone, so contexts whose lexers meet share one from there on: the
 * quoting contexts differ only until a quote puts them back in step. */
typedef struct {
    lexer_t lx;
    unsigned ctxs; /* bit k: context k reads this stream */
    unsigned pend; /* lx.flags: decoded since the last token was fed */
} sql_stream_t;

static bool same_lexer(const lexer_t *a, const lexer_t *b)
{
    return a->i == b->i && a->in_versioned == b->in_versioned && a->no_close_from == b->no_close_from;
}

/* Hands the stream's pending flags to its contexts: what space skipped
 * ahead decoded belongs to each one's next token. */
static void stream_flush(sql_stream_t *sm, sql_ctx_t *cx)
{
    for (int k = 0; k < 3; k++)
        if (sm->ctxs & (1u << k))
            cx[k].pend |= sm->pend;
    sm->pend = 0;
}

/* Feeds token t to context k of stream sm; false once it needs no more. */
static inline bool stream_feed(sql_stream_t *sm, sql_ctx_t *cx, int k, const tok_t *t, bool more)
{
    cx[k].f |= cx[k].pend | sm->pend;
    cx[k].pend = 0;
    return !ctx_feed(&cx[k], t, more);
}

/* A context at the top score ends: later contexts cannot beat it. */
static void ctx_ended(sql_ctx_t *cx, int k, sql_stream_t *all)
{
    if (cx[k].st.score >= 90)
        for (int m = 0; m < 3; m++)
            all[m].ctxs &= (1u << (k + 1)) - 1;
}

/* Lexes the stream up to position limit (at least one token), feeding each
 * token to the contexts reading it and skipping the space after it. */
static void stream_run(sql_stream_t *sm, sql_ctx_t *cx, sql_stream_t *all, size_t limit)
{
    const size_t n = sm->lx.n;
    sm->lx.flags = &sm->pend;
    do {
        tok_t t;
        bool more = sm->lx.i < n && lex_token(&sm->lx, &t);
        if (!more)
            t = (tok_t){T_END, 0, n};
        for (int k = 0; k < 3; k++) {
            if ((sm->ctxs & (1u << k)) && !stream_feed(sm, cx, k, &t, more)) {
                sm->ctxs &= ~(1u << k);
                ctx_ended(cx, k, all);
            }
        }
        sm->pend = 0;
        if (sm->ctxs)
            skip_space(&sm->lx);
    } while (sm->ctxs && sm->lx.i < limit);
    sm->lx.flags = NULL;
}

/* The same for a stream read by context k alone (the common case). */
static void stream_run1(sql_stream_t *sm, sql_ctx_t *cx, int k, sql_stream_t *all, size_t limit)
{
    const size_t n = sm->lx.n;
    sm->lx.flags = &sm->pend;
    do {
        tok_t t;
        bool more = sm->lx.i < n && lex_token(&sm->lx, &t);
        if (!more)
            t = (tok_t){T_END, 0, n};
        if (!stream_feed(sm, cx, k, &t, more)) {
            sm->ctxs = 0;
            ctx_ended(cx, k, all);
            break;
        }
        sm->pend = 0;
        skip_space(&sm->lx);
    } while (sm->ctxs && sm->lx.i < limit);
    sm->lx.flags = NULL;
}

/* Starts the stream of context k at start (past the space there). */
static void stream_start(sql_stream_t *sm, const uint8_t *s, size_t n, size_t start, int k)
{
    *sm = (sql_stream_t){{s, n, start, false, SIZE_MAX, NULL}, 1u << k, 0};
    sm->lx.flags = &sm->pend;
    skip_space(&sm->lx);
    sm->lx.flags = NULL;
}

/* Runs the streams in sm[] (those read by a context), the least advanced
 * first, merging streams that meet. */
static void run_streams(sql_stream_t sm[3], sql_ctx_t cx[3])
{
    for (;;) {
        int j = -1;
        size_t limit = SIZE_MAX;
        for (int k = 0; k < 3; k++) {
            if (!sm[k].ctxs)
                continue;
            if (j < 0 || sm[k].lx.i < sm[j].lx.i) {
                if (j >= 0)
                    limit = sm[j].lx.i;
                j = k;
            } else if (sm[k].lx.i < limit) {
                limit = sm[k].lx.i;
            }
        }
        if (j < 0)
            return;
        /* Until it reaches the next stream, this one is the least advanced. */
        sql_stream_t *cur = &sm[j];
        if ((cur->ctxs & (cur->ctxs - 1)) == 0)
            stream_run1(cur, cx, __builtin_ctz(cur->ctxs), sm, limit);
        else
            stream_run(cur, cx, sm, limit);
        for (int k = 0; k < 3; k++) {
            if (k != j && sm[k].ctxs && cur->ctxs && same_lexer(&sm[k].lx, &cur->lx)) {
                stream_flush(cur, cx);
                stream_flush(&sm[k], cx);
                cur->ctxs |= sm[k].ctxs;
                sm[k].ctxs = 0;
            }
        }
    }
}

/* Other query languages reached the same way: LDAP filters that open a new
 * clause (*)(|(uid=*), (&(...)) and NoSQL operators in JSON or form keys
 * ({"$ne": 1}, user[$gt]=, $where). */
static bool query_operator_at(const uint8_t *s, size_t n, size_t i)
{
    static const char *const ops[] = {"$ne", "$eq", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$not", "$nor",
                                      "$or", "$and", "$regex", "$where", "$exists", "$expr"};
    if (s[i] == '(' && (s[i + 1] == '|' || s[i + 1] == '&' || s[i + 1] == '!') && s[i + 2] == '(')
        return memchr(s + i, '=', n - i < 64 ? n - i : 64) != NULL;
    if (s[i] == '*' && s[i + 1] == ')' && s[i + 2] == '(')
        return true;
    if (s[i] == '$' && (i == 0 || s[i - 1] == '"' || s[i - 1] == '[' || s[i - 1] == '\'' || s[i - 1] == '{' ||
                        s[i - 1] == ' ')) {
        size_t e = i + 1;
        while (e < n && e - i < 8 && mm_detect_isalpha(s[e]))
            e++;
        bool known = false;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0] && !known; k++)
            known = strlen(ops[k]) == e - i && mm_detect_word_eq(s + i, e - i, ops[k]);
        /* The operator must be a key: "$ne": or [$ne] */
        return known && e < n && (s[e] == '"' || s[e] == ']' || s[e] == '\'');
    }
    return false;
}

/* Does any of the 8 bytes at p open a shape of query_operator_at() ('(',
 * '*' or '$')? Tested a word at a time: a byte equal to c is a zero byte
 * of the word xor c. */
static bool query_start_in8(const uint8_t *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x, a, b, c;
    memcpy(&x, p, sizeof x);
    a = x ^ (ones * '(');
    b = x ^ (ones * '*');
    c = x ^ (ones * '$');
    return (((a - ones) & ~a) | ((b - ones) & ~b) | ((c - ones) & ~c)) & highs;
}

static int query_language(const uint8_t *s, size_t n, size_t *pos)
{
    size_t i = 0;
    while (i + 2 < n) {
        if (i + 8 <= n && !query_start_in8(s + i)) {
            i += 8;
            continue;
        }
        size_t end = i + 8 < n - 2 ? i + 8 : n - 2;
        for (; i < end; i++) {
            if (query_operator_at(s, n, i)) {
                *pos = i;
                return 60;
            }
        }
    }
    return 0;
}

/* The index after "name=" opening s (a parameter name of up to 32 name
 * characters, then '=' and something more), or 0. */
static size_t assignment_end(const uint8_t *s, size_t n)
{
    size_t k = 0;
    while (k < n && k < 33 && (mm_detect_isalnum(s[k]) || s[k] == '_' || s[k] == '-' || s[k] == '.' ||
                               s[k] == '[' || s[k] == ']'))
        k++;
    if (k == 0 || k > 32 || k + 1 >= n || s[k] != '=' || !mm_detect_isalpha(s[0]) || s[k + 1] == '=')
        return 0;
    return k + 1;
}

int mm_detect_sqli(const uint8_t *s, size_t n, mm_detect_hit_t *out, unsigned *flags)
{
    sql_ctx_t cx[3];
    sql_stream_t sm[3] = {0};
    static const char *const ctx_name[3] = {"none", "'", "\""};
    unsigned live = 1;
    memset(out, 0, sizeof *out);
    /* Unquoted, a query-style value inside the value (pay=||(x==1)) is
     * judged from what follows the name and '='. */
    size_t start = assignment_end(s, n);
    ctx_init(&cx[0], s, n, start, false);
    stream_start(&sm[0], s, n, start, 0);
    /* Dense attacks reach the top score in the first tokens, before the
     * quoting contexts need looking for. */
    stream_run1(&sm[0], cx, 0, sm, 512);
    for (int ctx = 1; ctx < 3 && cx[0].st.score < 90; ctx++) {
        const uint8_t *q = memchr(s, ctx == 1 ? '\'' : '"', n);
        if (!q)
            continue;
        start = (size_t)(q - s) + 1;
        ctx_init(&cx[ctx], s, n, start, true);
        stream_start(&sm[ctx], s, n, start, ctx);
        live |= 1u << ctx;
    }
    run_streams(sm, cx);
    for (int ctx = 0; ctx < 3; ctx++) {
        const sql_state_t *st = &cx[ctx].st;
        if (!(live & (1u << ctx)))
            continue;
        if (st->score > out->score) {
            out->score = st->score;
            out->pos = st->pos;
            out->rule = st->rule;
            snprintf(out->tokens, sizeof out->tokens, "ctx=%s tok=%s", ctx_name[ctx], st->toks);
            *flags |= cx[ctx].f;
        }
        if (out->score >= 90)
            break;
    }
    if (out->score < 60) {
        size_t pos = 0;
        int q = query_language(s, n, &pos);
        if (q > out->score) {
            out->score = q;
            out->pos = pos;
            out->rule = "query-operator";
            snprintf(out->tokens, sizeof out->tokens, "ldap/nosql");
        }
    }
    return out->score;
}
