/* Prints an expression back to canonical PromQL text (the form Prometheus's
 * String() produces), and formats float values the way Go's %v does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql_eval.h"

typedef struct {
    char *buf;
    size_t cap, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t k = o->cap - o->len - 1 < n ? o->cap - o->len - 1 : n;
        memcpy(o->buf + o->len, s, k);
        o->buf[o->len + k] = 0;
    }
    o->len += n;
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

char *mm_promql_format_value(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    } else {
        /* Go's %v (strconv 'g', -1): shortest round-tripping digits, in
         * exponent form when the decimal exponent is < -4 or >= 6. */
        char e[64];
        for (int prec = 0; prec <= 16; prec++) {
            snprintf(e, sizeof e, "%.*e", prec, v);
            if (strtod(e, NULL) == v)
                break;
        }
        int exp = atoi(strchr(e, 'e') + 1);
        if (exp < -4 || exp >= 6)
            snprintf(buf, cap, "%s", e);
        else
            format_float_f(v, buf, cap);
    }
    return buf;
}

static void quote(out_t *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        switch (c) {
        case '"': puts_(o, "\\\""); break;
        case '\\': puts_(o, "\\\\"); break;
        case '\n': puts_(o, "\\n"); break;
        case '\t': puts_(o, "\\t"); break;
        case '\r': puts_(o, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                puts_(o, tmp);
            } else {
                put(o, (const char *)&c, 1);
            }
        }
    }
    put(o, "\"", 1);
}

static void labels_list(out_t *o, const promql_labels_list_t *l)
{
    put(o, "(", 1);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            puts_(o, ", ");
        puts_(o, l->labels[i]);
    }
    put(o, ")", 1);
}

static void modifiers(out_t *o, int64_t offset, promql_at_t at, int64_t at_ms)
{
    char tmp[64];
    if (at == AT_TS) {
        snprintf(tmp, sizeof tmp, " @ %.3f", (double)at_ms / 1000.0);
        puts_(o, tmp);
    } else if (at == AT_START) {
        puts_(o, " @ start()");
    } else if (at == AT_END) {
        puts_(o, " @ end()");
    }
    if (offset != 0) {
        promql_format_duration(offset, tmp, sizeof tmp);
        puts_(o, " offset ");
        puts_(o, tmp);
    }
}

static void selector(out_t *o, const promql_node_t *n)
{
    bool any = false;
    if (n->sel.name)
        puts_(o, n->sel.name);
    for (size_t i = 0; i < n->sel.n; i++) {
        const mm_match_t *m = &n->sel.m[i];
        if (n->sel.name && m->type == MM_MATCH_EQ && strcmp(m->name, "__name__") == 0 &&
            strcmp(m->value, n->sel.name) == 0)
            continue;
        puts_(o, any ? "," : "{");
        any = true;
        puts_(o, m->name);
        static const char *ops[] = {"=", "!=", "=~", "!~"};
        puts_(o, ops[m->type]);
        quote(o, m->value);
    }
    if (any)
        puts_(o, "}");
}

static void node(out_t *o, const promql_node_t *n)
{
    char tmp[64];
    switch (n->kind) {
    case N_NUM:
        /* "+Inf" would read back as a unary plus applied to what follows. */
        puts_(o, isinf(n->num) && n->num > 0 ? "Inf" : mm_promql_format_value(n->num, tmp, sizeof tmp));
        break;
    case N_STR:
        quote(o, n->str);
        break;
    case N_SEL:
        selector(o, n);
        modifiers(o, n->sel.offset, n->sel.at, n->sel.at_ms);
        break;
    case N_MATRIX:
        selector(o, n->matrix.vs);
        promql_format_duration(n->matrix.range, tmp, sizeof tmp);
        puts_(o, "[");
        puts_(o, tmp);
        puts_(o, "]");
        modifiers(o, n->matrix.vs->sel.offset, n->matrix.vs->sel.at, n->matrix.vs->sel.at_ms);
        break;
    case N_SUBQ:
        node(o, n->subq.e);
        promql_format_duration(n->subq.range, tmp, sizeof tmp);
        puts_(o, "[");
        puts_(o, tmp);
        puts_(o, ":");
        if (n->subq.step) {
            promql_format_duration(n->subq.step, tmp, sizeof tmp);
            puts_(o, tmp);
        }
        puts_(o, "]");
        modifiers(o, n->subq.offset, n->subq.at, n->subq.at_ms);
        break;
    case N_PAREN:
        puts_(o, "(");
        node(o, n->paren.e);
        puts_(o, ")");
        break;
    case N_UNARY:
        puts_(o, promql_tok_name(n->unary.op));
        node(o, n->unary.e);
        break;
    case N_BIN:
        node(o, n->bin.l);
        puts_(o, " ");
        puts_(o, promql_tok_name(n->bin.op));
        if (n->bin.ret_bool)
            puts_(o, " bool");
        if (n->bin.has_matching && (n->bin.on || n->bin.match.n > 0)) {
            puts_(o, n->bin.on ? " on " : " ignoring ");
            labels_list(o, &n->bin.match);
            if (n->bin.card == 1 || n->bin.card == 2) {
                puts_(o, n->bin.card == 1 ? " group_left " : " group_right ");
                labels_list(o, &n->bin.include);
            }
        }
        puts_(o, " ");
        node(o, n->bin.r);
        break;
    case N_CALL:
        puts_(o, n->call.f->name);
        puts_(o, "(");
        for (size_t i = 0; i < n->call.n; i++) {
            if (i)
                puts_(o, ", ");
            node(o, n->call.args[i]);
        }
        puts_(o, ")");
        break;
    case N_AGG:
        puts_(o, promql_tok_name(n->agg.op));
        if (n->agg.without) {
            puts_(o, " without ");
            labels_list(o, &n->agg.grouping);
            puts_(o, " ");
        } else if (n->agg.grouping.n > 0) {
            puts_(o, " by ");
            labels_list(o, &n->agg.grouping);
            puts_(o, " ");
        }
        puts_(o, "(");
        if (n->agg.param) {
            node(o, n->agg.param);
            puts_(o, ", ");
        }
        node(o, n->agg.e);
        puts_(o, ")");
        break;
    }
}

size_t mm_promql_expr_print(const mm_promql_expr_t *e, char *buf, size_t cap)
{
    out_t o = {.buf = buf, .cap = cap, .len = 0};
    if (buf && cap)
        buf[0] = 0;
    else
        o.cap = 0;
    node(&o, e->root);
    return o.len;
}
