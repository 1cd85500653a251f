/* A libyaml event parser that builds a node tree with positions. */
#include "mm_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mm_err.h"

#define MAX_DEPTH 256

typedef struct {
    char *name;
    mm_yaml_node_t *node;
} anchor_t;

typedef struct {
    mm_yaml_doc_t *doc;
    yaml_parser_t parser;
    anchor_t *anchors;
    size_t n_anchors, cap_anchors;
    mm_diag_t *diag;
    int depth;
} builder_t;

static mm_yaml_node_t *node_new(builder_t *b, mm_yaml_kind_t kind, const yaml_mark_t *m)
{
    mm_yaml_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    n->start = m->index;
    n->next_alloc = b->doc->all;
    b->doc->all = n;
    return n;
}

static int push_item(mm_yaml_node_t *parent, mm_yaml_node_t *child, size_t *cap)
{
    if (parent->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        mm_yaml_node_t **items = realloc(parent->items, nc * sizeof *items);
        if (!items)
            return -ENOMEM;
        parent->items = items;
        *cap = nc;
    }
    parent->items[parent->n++] = child;
    return 0;
}

static int add_anchor(builder_t *b, const yaml_char_t *name, mm_yaml_node_t *n)
{
    if (!name)
        return 0;
    if (b->n_anchors == b->cap_anchors) {
        size_t nc = b->cap_anchors ? b->cap_anchors * 2 : 8;
        anchor_t *a = realloc(b->anchors, nc * sizeof *a);
        if (!a)
            return -ENOMEM;
        b->anchors = a;
        b->cap_anchors = nc;
    }
    b->anchors[b->n_anchors].name = strdup((const char *)name);
    if (!b->anchors[b->n_anchors].name)
        return -ENOMEM;
    b->anchors[b->n_anchors++].node = n;
    return 0;
}

static int set_tag(mm_yaml_node_t *n, const yaml_char_t *tag)
{
    if (!tag)
        return 0;
    n->tag = strdup((const char *)tag);
    return n->tag ? 0 : -ENOMEM;
}

static int parse_error(builder_t *b)
{
    const yaml_parser_t *p = &b->parser;
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    return mm_diag_set(b->diag, MM_EPARSE, b->doc->file, (unsigned)m->line + 1,
                       (unsigned)m->column + 1, "YAML syntax: %s%s%s",
                       p->problem ? p->problem : "invalid document",
                       p->context ? " " : "", p->context ? p->context : "");
}

/* Reads the next node from the event stream into *ret. */
static int build_node(builder_t *b, yaml_event_t *ev, mm_yaml_node_t **ret);

static int next_event(builder_t *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parse_error(b);
    return 0;
}

static int build_children(builder_t *b, mm_yaml_node_t *n, yaml_event_type_t end_type)
{
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        int r = next_event(b, &ev);
        if (r < 0)
            return r;
        if (ev.type == end_type) {
            n->end = ev.end_mark.index;
            yaml_event_delete(&ev);
            break;
        }
        mm_yaml_node_t *child = NULL;
        r = build_node(b, &ev, &child);
        yaml_event_delete(&ev);
        if (r < 0)
            return r;
        r = push_item(n, child, &cap);
        if (r < 0)
            return r;
    }
    if (n->kind == MM_YAML_MAP) {
        /* Duplicate keys are an error, as in Prometheus's loader. */
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            const mm_yaml_node_t *k = n->items[i];
            if (k->kind != MM_YAML_SCALAR)
                continue;
            for (size_t j = i + 2; j + 1 < n->n; j += 2) {
                const mm_yaml_node_t *k2 = n->items[j];
                if (k2->kind == MM_YAML_SCALAR && strcmp(k->str, k2->str) == 0 &&
                    strcmp(k->str, "<<") != 0)
                    return mm_diag_set(b->diag, MM_EPARSE, b->doc->file, k2->line, k2->col,
                                       "key \"%s\" already defined at line %u", k2->str,
                                       k->line);
            }
        }
    }
    return 0;
}

static int build_node(builder_t *b, yaml_event_t *ev, mm_yaml_node_t **ret)
{
    mm_yaml_node_t *n = NULL;
    int r;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        for (size_t i = b->n_anchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, (const char *)ev->data.alias.anchor) == 0) {
                *ret = b->anchors[i].node;
                return 0;
            }
        }
        return mm_diag_set(b->diag, MM_EPARSE, b->doc->file, (unsigned)ev->start_mark.line + 1,
                           (unsigned)ev->start_mark.column + 1, "unknown alias *%s",
                           ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        n = node_new(b, MM_YAML_SCALAR, &ev->start_mark);
        if (!n)
            return -ENOMEM;
        n->end = ev->end_mark.index;
        n->len = ev->data.scalar.length;
        n->str = malloc(n->len + 1);
        if (!n->str)
            return -ENOMEM;
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = MM_YAML_SINGLE_QUOTED; break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = MM_YAML_DOUBLE_QUOTED; break;
        case YAML_LITERAL_SCALAR_STYLE: n->style = MM_YAML_LITERAL; break;
        case YAML_FOLDED_SCALAR_STYLE: n->style = MM_YAML_FOLDED; break;
        default: n->style = MM_YAML_PLAIN; break;
        }
        if ((r = set_tag(n, ev->data.scalar.tag)) < 0)
            return r;
        if ((r = add_anchor(b, ev->data.scalar.anchor, n)) < 0)
            return r;
        *ret = n;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (++b->depth > MAX_DEPTH)
            return mm_diag_set(b->diag, MM_EPARSE, b->doc->file,
                               (unsigned)ev->start_mark.line + 1,
                               (unsigned)ev->start_mark.column + 1,
                               "nesting deeper than %d levels", MAX_DEPTH);
        n = node_new(b, seq ? MM_YAML_SEQ : MM_YAML_MAP, &ev->start_mark);
        if (!n)
            return -ENOMEM;
        const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor
                                        : ev->data.mapping_start.anchor;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        if ((r = set_tag(n, tag)) < 0 || (r = add_anchor(b, anchor, n)) < 0)
            return r;
        r = build_children(b, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT);
        b->depth--;
        if (r < 0)
            return r;
        *ret = n;
        return 0;
    }
    default:
        return mm_diag_set(b->diag, MM_EPARSE, b->doc->file, (unsigned)ev->start_mark.line + 1,
                           (unsigned)ev->start_mark.column + 1, "unexpected YAML event");
    }
}

static int build_doc(builder_t *b)
{
    yaml_event_t ev;
    int r;
    /* STREAM-START, then DOCUMENT-START or STREAM-END for an empty file. */
    for (;;) {
        if ((r = next_event(b, &ev)) < 0)
            return r;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            return 0;
        if (t == YAML_DOCUMENT_START_EVENT)
            break;
    }
    if ((r = next_event(b, &ev)) < 0)
        return r;
    r = build_node(b, &ev, &b->doc->root);
    yaml_event_delete(&ev);
    if (r < 0)
        return r;
    /* The document end; a second document in a config file is an error. */
    if ((r = next_event(b, &ev)) < 0)
        return r;
    yaml_event_delete(&ev);
    if ((r = next_event(b, &ev)) < 0)
        return r;
    bool second = ev.type == YAML_DOCUMENT_START_EVENT;
    yaml_mark_t m = ev.start_mark;
    yaml_event_delete(&ev);
    if (second)
        return mm_diag_set(b->diag, MM_EPARSE, b->doc->file, (unsigned)m.line + 1,
                           (unsigned)m.column + 1, "more than one YAML document in the file");
    return 0;
}

int mm_yaml_load_buf(const char *name, const char *buf, size_t len, mm_yaml_doc_t **ret_doc,
                     mm_diag_t *diag)
{
    builder_t b = {0};
    b.diag = diag;
    b.doc = calloc(1, sizeof *b.doc);
    if (!b.doc)
        return -ENOMEM;
    b.doc->file = strdup(name);
    b.doc->src = malloc(len + 1);
    if (!b.doc->file || !b.doc->src) {
        mm_yaml_free(b.doc);
        return -ENOMEM;
    }
    memcpy(b.doc->src, buf, len);
    b.doc->src[len] = '\0';
    b.doc->src_len = len;

    if (!yaml_parser_initialize(&b.parser)) {
        mm_yaml_free(b.doc);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)b.doc->src, len);
    int r = build_doc(&b);
    yaml_parser_delete(&b.parser);
    for (size_t i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    if (r < 0) {
        mm_yaml_free(b.doc);
        return r;
    }
    *ret_doc = b.doc;
    return 0;
}

int mm_yaml_load_file(const char *path, mm_yaml_doc_t **ret_doc, mm_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return mm_diag_set(diag, e, path, 0, 0, "cannot open: %s", strerror(e));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return mm_diag_set(diag, EFBIG, path, 0, 0, "file larger than 64 MiB");
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return mm_diag_set(diag, EIO, path, 0, 0, "read error");
    }
    int r = mm_yaml_load_buf(path, buf ? buf : "", len, ret_doc, diag);
    free(buf);
    return r;
}

void mm_yaml_free(mm_yaml_doc_t *doc)
{
    if (!doc)
        return;
    for (mm_yaml_node_t *n = doc->all, *next; n; n = next) {
        next = n->next_alloc;
        free(n->str);
        free(n->tag);
        free(n->items);
        free(n);
    }
    free(doc->file);
    free(doc->src);
    free(doc);
}

static mm_yaml_node_t *map_get(const mm_yaml_node_t *map, const char *key, int depth)
{
    if (!map || map->kind != MM_YAML_MAP || depth > 16)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const mm_yaml_node_t *k = map->items[i];
        if (k->kind == MM_YAML_SCALAR && strcmp(k->str, key) == 0)
            return map->items[i + 1];
    }
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const mm_yaml_node_t *k = map->items[i], *v = map->items[i + 1];
        if (k->kind != MM_YAML_SCALAR || strcmp(k->str, "<<") != 0)
            continue;
        if (v->kind == MM_YAML_MAP) {
            mm_yaml_node_t *r = map_get(v, key, depth + 1);
            if (r)
                return r;
        } else if (v->kind == MM_YAML_SEQ) {
            for (size_t j = 0; j < v->n; j++) {
                mm_yaml_node_t *r = map_get(v->items[j], key, depth + 1);
                if (r)
                    return r;
            }
        }
    }
    return NULL;
}

mm_yaml_node_t *mm_yaml_map_get(const mm_yaml_node_t *map, const char *key)
{
    return map_get(map, key, 0);
}

bool mm_yaml_is_null(const mm_yaml_node_t *n)
{
    if (!n)
        return true;
    if (n->kind != MM_YAML_SCALAR || n->style != MM_YAML_PLAIN)
        return false;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* Line and column of byte offset pos in src (both 1-based). */
static void pos_of(const char *src, size_t pos, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < pos && src[i]; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

void mm_yaml_scalar_locate(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, size_t offset,
                           unsigned *ret_line, unsigned *ret_col)
{
    const char *s = doc->src;
    size_t p = n->start, end = n->end <= doc->src_len ? n->end : doc->src_len;
    *ret_line = n->line;
    *ret_col = n->col;
    if (n->kind != MM_YAML_SCALAR)
        return;

    if (n->style == MM_YAML_LITERAL || n->style == MM_YAML_FOLDED) {
        /* Skip the header line ("|", "|-", ">2"...), then walk the content lines
         * dropping each line's indentation; a value byte is a source byte. */
        while (p < end && s[p] != '\n')
            p++;
        if (p < end)
            p++;
        size_t indent = 0;
        while (p + indent < end && s[p + indent] == ' ')
            indent++;
        size_t v = 0;
        while (p < end) {
            size_t skip = 0;
            while (skip < indent && p < end && s[p] == ' ') {
                p++;
                skip++;
            }
            while (p < end && s[p] != '\n') {
                if (v == offset) {
                    pos_of(s, p, ret_line, ret_col);
                    return;
                }
                p++;
                v++;
            }
            if (v == offset) {
                pos_of(s, p, ret_line, ret_col);
                return;
            }
            p++;
            v++;
        }
        pos_of(s, p < end ? p : end, ret_line, ret_col);
        return;
    }

    /* Plain and quoted scalars: step over the opening quote, then count value
     * bytes; an escape or a doubled quote is two source bytes for one value
     * byte, a line break with its indentation folds into one space. */
    bool quoted = n->style == MM_YAML_SINGLE_QUOTED || n->style == MM_YAML_DOUBLE_QUOTED;
    if (quoted)
        p++;
    size_t v = 0;
    while (p < end && v < offset) {
        char c = s[p];
        if (n->style == MM_YAML_DOUBLE_QUOTED && c == '\\') {
            p += 2;
        } else if (n->style == MM_YAML_SINGLE_QUOTED && c == '\'' && p + 1 < end &&
                   s[p + 1] == '\'') {
            p += 2;
        } else if (c == '\n') {
            p++;
            while (p < end && (s[p] == ' ' || s[p] == '\t'))
                p++;
        } else {
            p++;
        }
        v++;
    }
    pos_of(s, p, ret_line, ret_col);
}

int mm_yaml_error(mm_diag_t *diag, const mm_yaml_doc_t *doc, const mm_yaml_node_t *n,
                  const char *fmt, ...)
{
    if (diag) {
        snprintf(diag->file, sizeof diag->file, "%s", doc ? doc->file : "");
        diag->line = n ? n->line : 0;
        diag->col = n ? n->col : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
        va_end(ap);
    }
    return -MM_ECONFIG;
}
