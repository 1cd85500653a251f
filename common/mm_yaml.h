/* YAML documents as trees whose every node keeps its file:line:col, so that
 * config loaders can name the exact place of an error. Built on libyaml's
 * event parser; anchors and aliases are resolved, `<<` merge keys are honoured
 * by mm_yaml_map_get(). */
#ifndef MM_YAML_H
#define MM_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "mm_diag.h"

typedef enum {
    MM_YAML_SCALAR,
    MM_YAML_SEQ,
    MM_YAML_MAP,
} mm_yaml_kind_t;

typedef enum {
    MM_YAML_PLAIN,
    MM_YAML_SINGLE_QUOTED,
    MM_YAML_DOUBLE_QUOTED,
    MM_YAML_LITERAL,
    MM_YAML_FOLDED,
} mm_yaml_style_t;

typedef struct mm_yaml_node mm_yaml_node_t;
struct mm_yaml_node {
    mm_yaml_kind_t kind;
    mm_yaml_style_t style;      /* scalars only */
    unsigned line, col;         /* 1-based position of the node's first character */
    size_t start, end;          /* byte offsets of the node in the source */
    char *str;                  /* scalars: the value, NUL-terminated */
    size_t len;
    char *tag;                  /* explicit tag or NULL */
    mm_yaml_node_t **items;     /* seq: n items; map: n/2 pairs, key items[2i], value items[2i+1] */
    size_t n;
    mm_yaml_node_t *next_alloc; /* internal: every node of a document, for freeing */
};

typedef struct {
    char *file;                 /* the name diagnostics use */
    char *src;                  /* the source text (NUL-terminated) */
    size_t src_len;
    mm_yaml_node_t *root;       /* NULL for an empty document */
    mm_yaml_node_t *all;
} mm_yaml_doc_t;

/* Parses the first document of a file. On error returns a negative code
 * (-ENOENT etc. for I/O, -MM_EPARSE for syntax) and fills diag; *ret_doc is set
 * only on success and is freed with mm_yaml_free(). */
int mm_yaml_load_file(const char *path, mm_yaml_doc_t **ret_doc, mm_diag_t *diag);

/* Same for a buffer; `name` is what diagnostics call it. The buffer is copied. */
int mm_yaml_load_buf(const char *name, const char *buf, size_t len, mm_yaml_doc_t **ret_doc,
                     mm_diag_t *diag);

void mm_yaml_free(mm_yaml_doc_t *doc);

/* Value of `key` in a map (following `<<` merges), or NULL. */
mm_yaml_node_t *mm_yaml_map_get(const mm_yaml_node_t *map, const char *key);

/* True for a plain null scalar: "", "~", "null", "Null", "NULL". */
bool mm_yaml_is_null(const mm_yaml_node_t *n);

/* Maps a byte offset inside a scalar's value to the file line and column where
 * that character is written (for plain, quoted and block scalars; escapes
 * and folded line breaks are followed approximately). */
void mm_yaml_scalar_locate(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, size_t offset,
                           unsigned *ret_line, unsigned *ret_col);

/* Error helper: fills diag with the node's position in doc. Returns -MM_ECONFIG. */
int mm_yaml_error(mm_diag_t *diag, const mm_yaml_doc_t *doc, const mm_yaml_node_t *n,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
