/* Internals shared by the template engine's files: the arena, the parse tree
 * (Go's text/template/parse node kinds), the dynamic values that stand in for
 * Go's reflect.Value, Go-style formatting, and Prometheus's functions. */
#ifndef MM_TMPL_INTERNAL_H
#define MM_TMPL_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_tmpl.h"

/* ---- arena: bump allocation, released at once ---- */
typedef struct arena_block arena_block_t;
typedef struct {
    arena_block_t *head;
    jmp_buf *oom;           /* longjmp target on allocation failure, or NULL */
    size_t total, limit;    /* bytes held; limit 0 = none */
    bool over_limit;        /* the last failure was the limit, not malloc */
} arena_t;

void arena_init(arena_t *a);
void arena_fini(arena_t *a);
void *arena_alloc(arena_t *a, size_t n);          /* zeroed; NULL or longjmp on OOM */
char *arena_strndup(arena_t *a, const char *s, size_t n);

/* ---- a growing string in an arena-free heap buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
    size_t limit;       /* 0 = none */
    bool failed;        /* allocation failed or limit reached */
    bool over_limit;
} sbuf_t;

void sb_init(sbuf_t *b);
void sb_fini(sbuf_t *b);
void sb_put(sbuf_t *b, const char *s, size_t n);
void sb_puts(sbuf_t *b, const char *s);
void sb_putc(sbuf_t *b, char c);
void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_utf8(sbuf_t *b, uint32_t r);

/* ---- parse tree ---- */
typedef enum {
    N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_LIST, N_PIPE, N_CMD, N_FIELD, N_VAR,
    N_IDENT, N_DOT, N_NIL, N_BOOL, N_NUMBER, N_STRING, N_CHAIN, N_BREAK, N_CONTINUE,
    N_ELSE, N_END, N_TEMPLATE,
} ntype_t;

typedef struct node node_t;
struct node {
    ntype_t t;
    int pos;            /* byte offset in the whole text */
    int line;
    union {
        struct { const char *s; size_t n; } text;
        struct { node_t **v; size_t n, cap; } list;
        struct { node_t *pipe; } action;
        struct { node_t *pipe, *list, *elselist; } ctl;     /* if, range, with */
        struct {
            bool assign;
            node_t **decl; size_t ndecl;
            node_t **cmds; size_t ncmds, capcmds;
        } pipe;
        struct { node_t **args; size_t nargs, cap; } cmd;
        struct { const char **ident; size_t n; } field;     /* field: "A","B"; var: "$x","A" */
        struct { const char *name; int fn; } ident;
        bool b;
        struct {
            const char *text;
            bool isint, isuint, isfloat;
            int64_t i;
            uint64_t u;
            double f;
        } num;
        struct { const char *quoted; const char *s; size_t n; } str;
        struct { node_t *node; const char **field; size_t n; } chain;
        struct { const char *name; size_t n; node_t *pipe; } tmpl;     /* {{template}} */
    } u;
};

/* Writes Go's String() of a node (used for error contexts). */
void node_string(sbuf_t *b, const node_t *n);

struct mm_tmpl {
    arena_t arena;
    char *name;
    char *text;         /* the whole parsed text (prelude included) */
    size_t len;
    size_t prelude;     /* bytes of prelude before the caller's text */
    node_t *root;
    struct tmpl_def { const char *name; size_t n; node_t *root; } *defs;   /* {{define}}, {{block}} */
    size_t ndefs;
};

/* ---- values (Go types a Prometheus template can meet) ---- */
typedef enum {
    V_INVALID,      /* no value: nil interface, missing key of map[string]interface{} */
    V_BOOL,
    V_INT,          /* int, int64 or uint8 (see sub) */
    V_FLOAT,        /* float64 */
    V_STRING,       /* string, or template.HTML when sub == SUB_HTML */
    V_LABELS,       /* map[string]string */
    V_ARGS,         /* map[string]interface {} */
    V_SAMPLE,       /* *template.sample (may be nil) */
    V_VECTOR,       /* template.queryResult */
    V_TIME,         /* *time.Time */
    V_DATA,         /* the alert data struct */
} vkind_t;

enum { SUB_NONE = 0, SUB_INT64, SUB_UINT8, SUB_HTML, SUB_DEREF /* a *sample printed as its struct */ };

typedef struct lmap lmap_t;
typedef struct amap amap_t;
typedef struct sample sample_t;
typedef struct vec vec_t;
typedef struct tdata tdata_t;

typedef struct {
    uint8_t k;
    uint8_t sub;
    uint8_t iface;      /* static type interface {} (an element of an args map) */
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t n; } s;
        const lmap_t *m;
        const amap_t *a;
        const sample_t *smp;
        const vec_t *vec;
        int64_t ms;         /* V_TIME: milliseconds since the epoch */
        const tdata_t *data;
    } u;
} val_t;

struct lmap { size_t n; mm_label_t *kv; size_t *vlen; };   /* sorted by name */
struct amap { size_t n; const char **keys; val_t *vals; };  /* sorted by key */
struct sample { lmap_t labels; double value; };
struct vec { size_t n; sample_t **items; };
struct tdata { lmap_t labels, ext; const char *url; size_t urllen; double value; };

/* Go's name for a value's dynamic type ("float64", "map[string]string", ...). */
const char *val_type_name(const val_t *v);

/* ---- Go fmt ---- */
/* fmt.Sprint / Sprintln / Sprintf over values. */
void go_sprint(sbuf_t *b, const val_t *args, size_t n, bool ln);
void go_sprintf(sbuf_t *b, const char *fmt, size_t fmtlen, const val_t *args, size_t n);
/* strconv.FormatFloat(v, fmt, prec, 64) for fmt in e, E, f, g, G (prec -1 = shortest). */
void go_format_float(sbuf_t *b, double v, char fmt, int prec);
/* strconv.Quote. */
void go_quote(sbuf_t *b, const char *s, size_t n);
/* time.Time.String() of a UTC time given in milliseconds. */
void go_time_string(sbuf_t *b, int64_t ms);
/* time.Time.Format(layout) of that time; and Year, Month, Day, Hour, Minute,
 * Second, YearDay, Nanosecond (which = 0..7). */
void go_time_format(sbuf_t *b, int64_t ms, const char *layout, size_t n);
int64_t go_time_field(int64_t ms, int which);
/* Decodes one UTF-8 rune like Go (invalid byte -> U+FFFD, width 1). */
uint32_t utf8_decode(const char *s, size_t n, size_t *w);
bool go_is_print(uint32_t r);
/* unicode.IsLetter, unicode.IsDigit, and the simple case mappings. */
bool go_is_letter(uint32_t r);
bool go_is_digit(uint32_t r);
uint32_t go_to_upper(uint32_t r);
uint32_t go_to_lower(uint32_t r);
uint32_t go_to_title(uint32_t r);

/* ---- Prometheus / builtin string helpers (tmpl_funcs.c) ---- */
typedef struct exec exec_t;
/* Each returns 0, or -1 with a message in err (NUL-terminated). */
int fn_humanize(const val_t *v, sbuf_t *out, char *err, size_t ecap);
int fn_humanize1024(const val_t *v, sbuf_t *out, char *err, size_t ecap);
int fn_humanize_duration(const val_t *v, sbuf_t *out, char *err, size_t ecap);
int fn_humanize_percentage(const val_t *v, sbuf_t *out, char *err, size_t ecap);
int fn_humanize_timestamp(const val_t *v, sbuf_t *out, char *err, size_t ecap);
int fn_to_time(const val_t *v, int64_t *ms, bool *nan_inf, char *err, size_t ecap);
int fn_parse_duration(const char *s, size_t n, double *ret, char *err, size_t ecap);
void fn_case(sbuf_t *out, const char *s, size_t n, int mode);   /* 0 upper, 1 lower, 2 title */
void fn_strip_port(sbuf_t *out, const char *s, size_t n);
void fn_strip_domain(sbuf_t *out, const char *s, size_t n);
void fn_query_escape(sbuf_t *out, const char *s, size_t n);
void fn_html_escape(sbuf_t *out, const char *s, size_t n);
void fn_js_escape(sbuf_t *out, const char *s, size_t n);
void fn_path_prefix(sbuf_t *out, const char *url);
int fn_match(const char *re, size_t relen, const char *s, size_t n, bool *ret,
             char *err, size_t ecap);
int fn_replace_all(const char *re, size_t relen, const char *repl, size_t repllen,
                   const char *s, size_t n, sbuf_t *out, char *err, size_t ecap);
/* Go's convertToFloat from Prometheus's template.go. */
int to_float(const val_t *v, double *ret, char *err, size_t ecap);

#endif
