/* Internals shared by the PromQL parser, printer and evaluator: the arena,
 * the AST and the function table. Not installed; not part of the API. */
#ifndef PROMQL_INTERNAL_H
#define PROMQL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_promql.h"

/* ---- arena: many small allocations, one free ---- */
typedef struct promql_arena promql_arena_t;
promql_arena_t *promql_arena_new(void);
void promql_arena_free(promql_arena_t *a);
void *promql_arena_alloc(promql_arena_t *a, size_t size);      /* zeroed; NULL on ENOMEM */
char *promql_arena_strndup(promql_arena_t *a, const char *s, size_t n);
size_t promql_arena_used(const promql_arena_t *a);

/* ---- AST ---- */
typedef enum {
    T_EOF = 0, T_ERROR,
    T_NUMBER, T_STRING, T_DURATION, T_IDENT,
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_COMMA, T_COLON, T_AT,
    /* matchers */
    T_EQL, T_NEQ, T_EQL_RE, T_NEQ_RE, T_ASSIGN,
    /* binary operators, low to high precedence */
    T_LOR, T_LAND, T_LUNLESS,
    T_EQLC, T_GTE, T_GTR, T_LSS, T_LTE,
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_ATAN2, T_POW,
    /* keywords */
    T_OFFSET, T_BY, T_WITHOUT, T_ON, T_IGNORING, T_GROUP_LEFT, T_GROUP_RIGHT, T_BOOL,
    T_START, T_END,
    /* aggregators */
    T_SUM, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_STDDEV, T_STDVAR, T_TOPK, T_BOTTOMK,
    T_COUNT_VALUES, T_QUANTILE,
} promql_tok_t;

typedef enum {
    N_NUM, N_STR, N_SEL, N_MATRIX, N_SUBQ, N_PAREN, N_UNARY, N_BIN, N_CALL, N_AGG,
} promql_kind_t;

typedef enum { AT_NONE, AT_TS, AT_START, AT_END } promql_at_t;

typedef struct promql_func promql_func_t;
typedef struct promql_node promql_node_t;

typedef struct {
    char **labels;
    size_t n;
} promql_labels_list_t;

struct promql_node {
    promql_kind_t kind;
    mm_promql_type_t type;
    size_t pos, end;             /* byte range in the source */
    union {
        double num;
        char *str;
        struct {
            char *name;          /* metric name as written before '{', or NULL */
            mm_match_t *m;       /* matchers (name as __name__ = included) */
            size_t n;
            int64_t offset;
            promql_at_t at;
            int64_t at_ms;
            size_t sel_index;    /* index into the expression's selector list */
        } sel;
        struct {
            promql_node_t *vs;   /* N_SEL; offset/@ live there */
            int64_t range;
        } matrix;
        struct {
            promql_node_t *e;
            int64_t range, step, offset;
            promql_at_t at;
            int64_t at_ms;
        } subq;
        struct {
            promql_node_t *e;
        } paren;
        struct {
            promql_tok_t op;
            promql_node_t *e;
        } unary;
        struct {
            promql_tok_t op;
            promql_node_t *l, *r;
            bool ret_bool;
            bool has_matching;   /* on/ignoring written, or needed (vector-vector) */
            bool on;
            promql_labels_list_t match;   /* on/ignoring labels */
            int card;            /* 0 one-to-one, 1 many-to-one (group_left), 2 one-to-many, 3 many-to-many */
            bool group_written;
            promql_labels_list_t include; /* group_x labels */
        } bin;
        struct {
            const promql_func_t *f;
            promql_node_t **args;
            size_t n;
        } call;
        struct {
            promql_tok_t op;
            promql_node_t *e, *param;
            bool without, grouped;
            promql_labels_list_t grouping;
        } agg;
    };
};

struct mm_promql_expr {
    promql_arena_t *arena;
    promql_node_t *root;
    mm_promql_selector_t *sels;
    size_t n_sels, cap_sels;
    mm_promql_selcache_t *selcache;  /* n_sels, made by the first evaluation */
    mm_match_t **matchers;       /* every matcher array to fini */
    size_t n_matchers, cap_matchers;
    size_t *matcher_counts;
};

/* ---- functions ---- */
struct promql_func {
    const char *name;
    mm_promql_type_t args[5];
    int n_args;
    int variadic;                /* 0 fixed; >0 up to that many optional; -1 unlimited */
    mm_promql_type_t ret;
};
const promql_func_t *promql_func_lookup(const char *name, size_t len);

const char *promql_tok_name(promql_tok_t t);
bool promql_is_comparison(promql_tok_t t);
bool promql_is_setop(promql_tok_t t);
const char *promql_type_name(mm_promql_type_t t);
void promql_format_duration(int64_t ms, char *buf, size_t cap);

/* Unquotes a PromQL string literal s[0..len) (quotes included) into dst (cap
 * >= len). Returns the length or -1 on a bad escape. */
long promql_unquote(const char *s, size_t len, char *dst);

/* Parses a duration (1h30m, 5m, 100ms). Returns 0 and ms, or -1. */
int promql_parse_duration(const char *s, size_t len, int64_t *ret_ms);

#endif
