/* Executes a parsed template as Go 1.19's text/template does (option
 * missingkey=zero, as Prometheus sets it): variables, field access on the
 * alert data, pipelines, typed function calls with Go's argument checks and
 * error texts, if/with/range/break/continue, and the function table. */
#include "tmpl_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"

/* ---------------------------------------------------------------- functions */

typedef enum { T_STR, T_IFACE, T_RV, T_SAMPLE, T_VEC } ptype_t;

enum {
    F_AND, F_OR, F_NOT, F_LEN, F_INDEX, F_SLICE, F_PRINT, F_PRINTF, F_PRINTLN, F_HTML, F_JS,
    F_URLQUERY, F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE, F_CALL,
    F_QUERY, F_FIRST, F_LABEL, F_VALUE, F_STRVALUE, F_ARGS, F_REREPLACEALL, F_SAFEHTML,
    F_MATCH, F_TITLE, F_TOUPPER, F_TOLOWER, F_GRAPHLINK, F_TABLELINK, F_SORTBYLABEL,
    F_STRIPPORT, F_STRIPDOMAIN, F_HUMANIZE, F_HUMANIZE1024, F_HUMANIZEDURATION,
    F_HUMANIZEPERCENTAGE, F_HUMANIZETIMESTAMP, F_TOTIME, F_PATHPREFIX, F_EXTERNALURL,
    F_PARSEDURATION,
    F_COUNT
};

typedef struct {
    const char *name;
    int nin;            /* parameters, the variadic one included */
    bool variadic;
    ptype_t in[3];
} fdef_t;

static const fdef_t funcs[F_COUNT] = {
    [F_AND] = {"and", 2, true, {T_RV, T_RV}},
    [F_OR] = {"or", 2, true, {T_RV, T_RV}},
    [F_NOT] = {"not", 1, false, {T_RV}},
    [F_LEN] = {"len", 1, false, {T_RV}},
    [F_INDEX] = {"index", 2, true, {T_RV, T_RV}},
    [F_SLICE] = {"slice", 2, true, {T_RV, T_RV}},
    [F_PRINT] = {"print", 1, true, {T_IFACE}},
    [F_PRINTF] = {"printf", 2, true, {T_STR, T_IFACE}},
    [F_PRINTLN] = {"println", 1, true, {T_IFACE}},
    [F_HTML] = {"html", 1, true, {T_IFACE}},
    [F_JS] = {"js", 1, true, {T_IFACE}},
    [F_URLQUERY] = {"urlquery", 1, true, {T_IFACE}},
    [F_EQ] = {"eq", 2, true, {T_RV, T_RV}},
    [F_NE] = {"ne", 2, false, {T_RV, T_RV}},
    [F_LT] = {"lt", 2, false, {T_RV, T_RV}},
    [F_LE] = {"le", 2, false, {T_RV, T_RV}},
    [F_GT] = {"gt", 2, false, {T_RV, T_RV}},
    [F_GE] = {"ge", 2, false, {T_RV, T_RV}},
    [F_CALL] = {"call", 2, true, {T_RV, T_RV}},
    [F_QUERY] = {"query", 1, false, {T_STR}},
    [F_FIRST] = {"first", 1, false, {T_VEC}},
    [F_LABEL] = {"label", 2, false, {T_STR, T_SAMPLE}},
    [F_VALUE] = {"value", 1, false, {T_SAMPLE}},
    [F_STRVALUE] = {"strvalue", 1, false, {T_SAMPLE}},
    [F_ARGS] = {"args", 1, true, {T_IFACE}},
    [F_REREPLACEALL] = {"reReplaceAll", 3, false, {T_STR, T_STR, T_STR}},
    [F_SAFEHTML] = {"safeHtml", 1, false, {T_STR}},
    [F_MATCH] = {"match", 2, false, {T_STR, T_STR}},
    [F_TITLE] = {"title", 1, false, {T_STR}},
    [F_TOUPPER] = {"toUpper", 1, false, {T_STR}},
    [F_TOLOWER] = {"toLower", 1, false, {T_STR}},
    [F_GRAPHLINK] = {"graphLink", 1, false, {T_STR}},
    [F_TABLELINK] = {"tableLink", 1, false, {T_STR}},
    [F_SORTBYLABEL] = {"sortByLabel", 2, false, {T_STR, T_VEC}},
    [F_STRIPPORT] = {"stripPort", 1, false, {T_STR}},
    [F_STRIPDOMAIN] = {"stripDomain", 1, false, {T_STR}},
    [F_HUMANIZE] = {"humanize", 1, false, {T_IFACE}},
    [F_HUMANIZE1024] = {"humanize1024", 1, false, {T_IFACE}},
    [F_HUMANIZEDURATION] = {"humanizeDuration", 1, false, {T_IFACE}},
    [F_HUMANIZEPERCENTAGE] = {"humanizePercentage", 1, false, {T_IFACE}},
    [F_HUMANIZETIMESTAMP] = {"humanizeTimestamp", 1, false, {T_IFACE}},
    [F_TOTIME] = {"toTime", 1, false, {T_IFACE}},
    [F_PATHPREFIX] = {"pathPrefix", 0, false, {T_STR}},
    [F_EXTERNALURL] = {"externalURL", 0, false, {T_STR}},
    [F_PARSEDURATION] = {"parseDuration", 1, false, {T_STR}},
};

int tmpl_func_lookup(const char *name, size_t n)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0)
            return i;
    return -1;
}

static const char *ptype_name(ptype_t t)
{
    switch (t) {
    case T_STR: return "string";
    case T_SAMPLE: return "*template.sample";
    case T_VEC: return "template.queryResult";
    case T_RV: return "reflect.Value";
    default: return "interface {}";
    }
}

const char *val_type_name(const val_t *v)
{
    switch (v->k) {
    case V_BOOL: return "bool";
    case V_INT: return v->sub == SUB_UINT8 ? "uint8" : v->sub == SUB_INT64 ? "int64" : "int";
    case V_FLOAT: return "float64";
    case V_STRING: return v->sub == SUB_HTML ? "template.HTML" : "string";
    case V_LABELS: return "map[string]string";
    case V_ARGS: return "map[string]interface {}";
    case V_SAMPLE: return "*template.sample";
    case V_VECTOR: return "template.queryResult";
    case V_TIME: return "*time.Time";
    case V_DATA:
        return "struct { Labels map[string]string; ExternalLabels map[string]string; "
               "ExternalURL string; Value float64 }";
    default: return "<nil>";
    }
}

/* ---------------------------------------------------------------- state */

typedef struct {
    const char *name;
    val_t v;
} var_t;

struct mm_tmpl_result {
    exec_t *ex;
    vec_t *vec;
    size_t cap;
};

struct exec {
    const mm_tmpl_t *t;
    const mm_tmpl_data_t *d;
    arena_t arena;
    jmp_buf jb;
    sbuf_t out;
    const node_t *node;
    var_t *vars;
    size_t nvars, capvars;
    uint64_t steps, max_steps;
    tdata_t data;
    mm_tmpl_err_t *err;
    int code;
    const char *cur_name;   /* the template executing now ({{define}}d ones too) */
    int tdepth;
    int depth;
    char *pending;          /* a heap string being copied into the arena */
};

typedef enum { W_NORMAL, W_BREAK, W_CONTINUE } wres_t;

static void at(exec_t *ex, const node_t *n)
{
    ex->node = n;
}

static void xerr(exec_t *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void xerr(exec_t *ex, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mm_tmpl_err_t *e = ex->err;
    if (e) {
        memset(e, 0, sizeof *e);
        e->phase = MM_TMPL_ERR_EXEC;
        const mm_tmpl_t *t = ex->t;
        if (!ex->node) {
            snprintf(e->msg, sizeof e->msg, "template: %s: %s", t->name, msg);
        } else {
            size_t pos = (size_t)ex->node->pos;
            unsigned line = 1;
            size_t last_nl = (size_t)-1;
            for (size_t i = 0; i < pos && i < t->len; i++)
                if (t->text[i] == '\n') {
                    line++;
                    last_nl = i;
                }
            size_t byte = last_nl == (size_t)-1 ? pos : pos - (last_nl + 1);
            sbuf_t c;
            sb_init(&c);
            node_string(&c, ex->node);
            snprintf(e->msg, sizeof e->msg, "template: %s:%u:%zu: executing \"%s\" at <%s>: %s",
                     t->name, line, byte, ex->cur_name, c.p ? c.p : "", msg);
            sb_fini(&c);
            e->offset = pos >= t->prelude ? pos - t->prelude : 0;
            unsigned ul = 1, uc = 1;
            for (size_t i = t->prelude; i < pos && i < t->len; i++) {
                if (t->text[i] == '\n') {
                    ul++;
                    uc = 1;
                } else {
                    uc++;
                }
            }
            e->line = ul;
            e->col = uc;
        }
    }
    if (!ex->code)
        ex->code = -EINVAL;
    longjmp(ex->jb, 1);
}

static void step(exec_t *ex)
{
    if (++ex->steps > ex->max_steps) {
        ex->code = -MM_ELIMIT;
        xerr(ex, "template execution exceeded %llu steps", (unsigned long long)ex->max_steps);
    }
}

/* Bounds the C stack: nested actions, parenthesised pipelines and template
 * calls together. Go's own limit (100000 template calls) needs a larger stack. */
#define MAX_EXEC_DEPTH 300

static void enter(exec_t *ex)
{
    if (++ex->depth > MAX_EXEC_DEPTH) {
        ex->code = -MM_ELIMIT;
        xerr(ex, "exceeded maximum template depth (%d)", MAX_EXEC_DEPTH);
    }
}

static void check_out(exec_t *ex)
{
    if (ex->out.failed) {
        ex->code = ex->out.over_limit ? -MM_ELIMIT : -ENOMEM;
        if (ex->out.over_limit)
            xerr(ex, "template output exceeds %zu bytes", ex->out.limit);
        xerr(ex, "out of memory");
    }
}

static void push_var(exec_t *ex, const char *name, val_t v)
{
    if (ex->nvars == ex->capvars) {
        size_t c = ex->capvars ? ex->capvars * 2 : 16;
        var_t *nv = arena_alloc(&ex->arena, c * sizeof *nv);
        if (ex->nvars)
            memcpy(nv, ex->vars, ex->nvars * sizeof *nv);
        ex->vars = nv;
        ex->capvars = c;
    }
    ex->vars[ex->nvars++] = (var_t){name, v};
}

static void set_var(exec_t *ex, const char *name, val_t v)
{
    for (size_t i = ex->nvars; i > 0; i--)
        if (strcmp(ex->vars[i - 1].name, name) == 0) {
            ex->vars[i - 1].v = v;
            return;
        }
    xerr(ex, "undefined variable: %s", name);
}

static val_t var_value(exec_t *ex, const char *name)
{
    for (size_t i = ex->nvars; i > 0; i--)
        if (strcmp(ex->vars[i - 1].name, name) == 0)
            return ex->vars[i - 1].v;
    xerr(ex, "undefined variable: %s", name);
}

/* ---------------------------------------------------------------- values */

static val_t v_invalid(void)
{
    val_t v;
    memset(&v, 0, sizeof v);
    return v;
}

static val_t v_str(exec_t *ex, const char *s, size_t n, bool copy)
{
    val_t v = v_invalid();
    v.k = V_STRING;
    v.u.s.s = copy ? arena_strndup(&ex->arena, s, n) : s;
    v.u.s.n = n;
    return v;
}

static val_t v_sb(exec_t *ex, sbuf_t *b)
{
    if (b->failed) {
        bool limit = b->over_limit;
        sb_fini(b);
        ex->code = limit ? -MM_ELIMIT : -ENOMEM;
        if (limit)
            xerr(ex, "execution exceeded its memory limit of %zu bytes", ex->arena.limit);
        xerr(ex, "out of memory");
    }
    /* Charge big strings to the step budget so work stays bounded. */
    ex->steps += b->n / 64;
    /* The copy may hit the memory limit and jump out: free b there too. */
    ex->pending = b->p;
    val_t v = v_str(ex, b->p ? b->p : "", b->n, true);
    ex->pending = NULL;
    sb_fini(b);
    step(ex);
    return v;
}

static val_t v_bool(bool b)
{
    val_t v = v_invalid();
    v.k = V_BOOL;
    v.u.b = b;
    return v;
}

static val_t v_int(int64_t i, int sub)
{
    val_t v = v_invalid();
    v.k = V_INT;
    v.sub = (uint8_t)sub;
    v.u.i = i;
    return v;
}

static val_t v_float(double f)
{
    val_t v = v_invalid();
    v.k = V_FLOAT;
    v.u.f = f;
    return v;
}

static bool is_true(const val_t *v, bool *ok)
{
    *ok = true;
    switch (v->k) {
    case V_INVALID: return false;
    case V_BOOL: return v->u.b;
    case V_INT: return v->u.i != 0;
    case V_FLOAT: return v->u.f != 0;
    case V_STRING: return v->u.s.n > 0;
    case V_LABELS: return v->u.m && v->u.m->n > 0;
    case V_ARGS: return v->u.a && v->u.a->n > 0;
    case V_VECTOR: return v->u.vec && v->u.vec->n > 0;
    case V_SAMPLE: return v->u.smp != NULL;
    case V_TIME: return true;
    case V_DATA: return true;
    default: *ok = false; return false;
    }
}

static void make_lmap(exec_t *ex, lmap_t *m, const mm_label_t *l, size_t n)
{
    m->n = 0;
    m->kv = arena_alloc(&ex->arena, (n ? n : 1) * sizeof *m->kv);
    m->vlen = arena_alloc(&ex->arena, (n ? n : 1) * sizeof *m->vlen);
    for (size_t i = 0; i < n; i++) {
        if (!l[i].name)
            continue;
        m->kv[m->n].name = arena_strndup(&ex->arena, l[i].name, strlen(l[i].name));
        const char *val = l[i].value ? l[i].value : "";
        m->kv[m->n].value = arena_strndup(&ex->arena, val, strlen(val));
        m->n++;
    }
    mm_labels_sort(m->kv, m->n);
    /* A Go map keeps one entry per key: the last one given wins. */
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (k > 0 && strcmp(m->kv[k - 1].name, m->kv[i].name) == 0)
            m->kv[k - 1] = m->kv[i];
        else
            m->kv[k++] = m->kv[i];
    }
    m->n = k;
    for (size_t i = 0; i < m->n; i++)
        m->vlen[i] = strlen(m->kv[i].value);
}

static bool lmap_get(const lmap_t *m, const char *key, size_t klen, val_t *out)
{
    if (!m)
        return false;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *k = m->kv[mid].name;
        size_t kl = strlen(k);
        int c = memcmp(k, key, kl < klen ? kl : klen);
        if (c == 0)
            c = kl < klen ? -1 : kl > klen ? 1 : 0;
        if (c == 0) {
            out->k = V_STRING;
            out->sub = 0;
            out->u.s.s = m->kv[mid].value;
            out->u.s.n = m->vlen[mid];
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool amap_get(const amap_t *m, const char *key, size_t klen, val_t *out)
{
    for (size_t i = 0; m && i < m->n; i++)
        if (strlen(m->keys[i]) == klen && memcmp(m->keys[i], key, klen) == 0) {
            *out = m->vals[i];
            out->iface = 1;
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------- eval */

static wres_t walk(exec_t *ex, val_t dot, const node_t *n);
static void walk_template(exec_t *ex, val_t dot, const node_t *n);
static val_t eval_pipeline(exec_t *ex, val_t dot, const node_t *pipe);

typedef struct {
    bool present;
    val_t v;
} final_t;

static void not_a_function(exec_t *ex, const node_t *const *args, size_t nargs, const final_t *fin)
{
    if (nargs > 1 || fin->present) {
        sbuf_t b;
        sb_init(&b);
        node_string(&b, args[0]);
        char s[300];
        snprintf(s, sizeof s, "%s", b.p ? b.p : "");
        sb_fini(&b);
        xerr(ex, "can't give argument to non-function %s", s);
    }
}

static val_t ideal_constant(exec_t *ex, const node_t *c)
{
    at(ex, c);
    const char *t = c->u.num.text;
    bool hexint = strlen(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && !strpbrk(t, "pP");
    if (c->u.num.isfloat && !hexint && t[0] != '\'' && strpbrk(t, ".eEpP"))
        return v_float(c->u.num.f);
    if (c->u.num.isint)
        return v_int(c->u.num.i, SUB_NONE);
    if (c->u.num.isuint)
        xerr(ex, "%s overflows int", t);
    return v_invalid();
}

static val_t eval_call(exec_t *ex, val_t dot, int fn, const node_t *node, const char *name,
                       const node_t *const *args, size_t nargs, const final_t *fin);

static val_t eval_function(exec_t *ex, val_t dot, const node_t *id, const node_t *cmd,
                           const node_t *const *args, size_t nargs, const final_t *fin)
{
    at(ex, id);
    return eval_call(ex, dot, id->u.ident.fn, cmd, id->u.ident.name, args, nargs, fin);
}

static const char *node_str(exec_t *ex, const node_t *n)
{
    sbuf_t b;
    sb_init(&b);
    node_string(&b, n);
    val_t v = v_sb(ex, &b);
    return v.u.s.s;
}

static val_t eval_arg(exec_t *ex, val_t dot, ptype_t typ, const node_t *n);
static val_t validate_type(exec_t *ex, val_t v, ptype_t typ);

/* The methods of *time.Time that make sense in an annotation. */
static val_t time_method(exec_t *ex, val_t dot, val_t recv, const char *name, const node_t *node,
                         const node_t *const *args, size_t nargs, const final_t *fin,
                         bool *found)
{
    *found = true;
    static const char *names[] = {"Unix", "UnixMilli", "UnixNano", "String", "UTC", "Local",
                                  "Format", "Year", "Day", "Hour", "Minute", "Second",
                                  "YearDay", "Nanosecond"};
    int which = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], name) == 0)
            which = i;
    if (which < 0) {
        *found = false;
        return v_invalid();
    }
    int want = which == 6 ? 1 : 0;
    size_t got = (nargs > 0 ? nargs - 1 : 0) + (fin->present ? 1 : 0);
    if (got != (size_t)want) {
        at(ex, node);
        xerr(ex, "wrong number of args for %s: want %d got %zu", name, want, got);
    }
    int64_t ms = recv.u.ms;
    switch (which) {
    case 0: {
        int64_t s = ms / 1000;
        if (ms % 1000 < 0)
            s--;
        return v_int(s, SUB_INT64);
    }
    case 1: return v_int(ms, SUB_INT64);
    case 2: return v_int(ms * 1000000, SUB_INT64);
    case 3: {
        sbuf_t b;
        sb_init(&b);
        go_time_string(&b, ms);
        return v_sb(ex, &b);
    }
    case 6: {
        val_t layout = nargs > 1 ? eval_arg(ex, dot, T_STR, args[1])
                                 : validate_type(ex, fin->v, T_STR);
        sbuf_t b;
        sb_init(&b);
        go_time_format(&b, ms, layout.u.s.s, layout.u.s.n);
        return v_sb(ex, &b);
    }
    case 7: case 8: case 9: case 10: case 11: case 12: case 13: {
        static const int field[] = {0, 2, 3, 4, 5, 6, 7};
        return v_int(go_time_field(ms, field[which - 7]), SUB_NONE);
    }
    default:
        /* UTC and Local return a time.Time (not a pointer): print the same way. */
        return recv;
    }
}

static val_t eval_field(exec_t *ex, val_t dot, const char *name, const node_t *node,
                        const node_t *const *args, size_t nargs, const final_t *fin, val_t recv)
{
    bool has_args = nargs > 1 || fin->present;
    /* Elements of an args map have the static type interface {}. */
    const char *typ = recv.iface ? "interface {}" : val_type_name(&recv);
    if (recv.k == V_INVALID) {
        if (recv.iface)
            xerr(ex, "nil pointer evaluating interface {}.%s", name);
        return v_invalid();
    }
    size_t nl = strlen(name);
    val_t out = v_invalid();
    switch (recv.k) {
    case V_TIME: {
        bool found;
        val_t r = time_method(ex, dot, recv, name, node, args, nargs, fin, &found);
        if (found)
            return r;
        break;
    }
    case V_DATA: {
        const tdata_t *d = recv.u.data;
        int f = -1;
        if (strcmp(name, "Labels") == 0)
            f = 0;
        else if (strcmp(name, "ExternalLabels") == 0)
            f = 1;
        else if (strcmp(name, "ExternalURL") == 0)
            f = 2;
        else if (strcmp(name, "Value") == 0)
            f = 3;
        if (f < 0)
            break;
        if (has_args)
            xerr(ex, "%s has arguments but cannot be invoked as function", name);
        switch (f) {
        case 0: out.k = V_LABELS; out.u.m = &d->labels; break;
        case 1: out.k = V_LABELS; out.u.m = &d->ext; break;
        case 2: out = v_str(ex, d->url, d->urllen, false); break;
        default: out = v_float(d->value); break;
        }
        return out;
    }
    case V_SAMPLE: {
        bool is_field = strcmp(name, "Labels") == 0 || strcmp(name, "Value") == 0;
        if (!is_field)
            break;
        if (!recv.u.smp)
            xerr(ex, "nil pointer evaluating %s.%s", typ, name);
        if (has_args)
            xerr(ex, "%s has arguments but cannot be invoked as function", name);
        if (name[0] == 'L') {
            out.k = V_LABELS;
            out.u.m = &recv.u.smp->labels;
        } else {
            out = v_float(recv.u.smp->value);
        }
        return out;
    }
    case V_LABELS:
        if (has_args)
            xerr(ex, "%s is not a method but has arguments", name);
        if (!lmap_get(recv.u.m, name, nl, &out))
            out = v_str(ex, "", 0, false);
        return out;
    case V_ARGS:
        if (has_args)
            xerr(ex, "%s is not a method but has arguments", name);
        if (!amap_get(recv.u.a, name, nl, &out)) {
            out = v_invalid();
            out.iface = 1;
        }
        return out;
    default:
        break;
    }
    xerr(ex, "can't evaluate field %s in type %s", name, typ);
}

static val_t eval_field_chain(exec_t *ex, val_t dot, val_t recv, const node_t *node,
                              const char *const *ident, size_t n, const node_t *const *args,
                              size_t nargs, const final_t *fin)
{
    final_t none = {false, v_invalid()};
    for (size_t i = 0; i + 1 < n; i++)
        recv = eval_field(ex, dot, ident[i], node, NULL, 0, &none, recv);
    return eval_field(ex, dot, ident[n - 1], node, args, nargs, fin, recv);
}

static val_t eval_field_node(exec_t *ex, val_t dot, const node_t *f, const node_t *const *args,
                             size_t nargs,
                             const final_t *fin)
{
    at(ex, f);
    return eval_field_chain(ex, dot, dot, f, f->u.field.ident, f->u.field.n, args, nargs, fin);
}

static val_t eval_chain_node(exec_t *ex, val_t dot, const node_t *ch, const node_t *const *args,
                             size_t nargs,
                             const final_t *fin)
{
    at(ex, ch);
    if (ch->u.chain.node->t == N_NIL)
        xerr(ex, "indirection through explicit nil in %s", node_str(ex, ch));
    val_t pipe = eval_arg(ex, dot, T_IFACE, ch->u.chain.node);
    return eval_field_chain(ex, dot, pipe, ch, ch->u.chain.field, ch->u.chain.n, args, nargs,
                            fin);
}

static val_t eval_variable_node(exec_t *ex, val_t dot, const node_t *v, const node_t *const *args,
                                size_t nargs, const final_t *fin)
{
    at(ex, v);
    val_t value = var_value(ex, v->u.field.ident[0]);
    if (v->u.field.n == 1) {
        if (args)
            not_a_function(ex, args, nargs, fin);
        return value;
    }
    return eval_field_chain(ex, dot, value, v, v->u.field.ident + 1, v->u.field.n - 1, args,
                            nargs, fin);
}

static val_t eval_empty_interface(exec_t *ex, val_t dot, const node_t *n)
{
    at(ex, n);
    final_t none = {false, v_invalid()};
    switch (n->t) {
    case N_BOOL: return v_bool(n->u.b);
    case N_DOT: return dot;
    case N_FIELD: return eval_field_node(ex, dot, n, NULL, 0, &none);
    case N_IDENT: return eval_function(ex, dot, n, n, NULL, 0, &none);
    case N_NIL: xerr(ex, "evalEmptyInterface: nil (can't happen)");
    case N_NUMBER: return ideal_constant(ex, n);
    case N_STRING: return v_str(ex, n->u.str.s, n->u.str.n, false);
    case N_VAR: return eval_variable_node(ex, dot, n, NULL, 0, &none);
    case N_PIPE: return eval_pipeline(ex, dot, n);
    default: break;
    }
    xerr(ex, "can't handle assignment of %s to empty interface argument", node_str(ex, n));
}

static val_t validate_type(exec_t *ex, val_t v, ptype_t typ)
{
    if (v.k == V_INVALID && v.iface && typ != T_IFACE && typ != T_RV)
        xerr(ex, "wrong type for value; expected %s; got interface {}", ptype_name(typ));
    if (v.k == V_INVALID) {
        switch (typ) {
        case T_IFACE:
        case T_RV: return v;
        case T_SAMPLE: v.k = V_SAMPLE; v.u.smp = NULL; return v;
        case T_VEC: v.k = V_VECTOR; v.u.vec = NULL; return v;
        default: xerr(ex, "invalid value; expected %s", ptype_name(typ));
        }
    }
    bool ok;
    switch (typ) {
    case T_IFACE:
    case T_RV: ok = true; break;
    case T_STR: ok = v.k == V_STRING && v.sub != SUB_HTML; break;
    case T_SAMPLE: ok = v.k == V_SAMPLE; break;
    case T_VEC: ok = v.k == V_VECTOR; break;
    default: ok = false; break;
    }
    if (!ok)
        xerr(ex, "wrong type for value; expected %s; got %s", ptype_name(typ), val_type_name(&v));
    return v;
}

static val_t eval_arg(exec_t *ex, val_t dot, ptype_t typ, const node_t *n)
{
    at(ex, n);
    final_t none = {false, v_invalid()};
    switch (n->t) {
    case N_DOT: return validate_type(ex, dot, typ);
    case N_NIL:
        if (typ == T_IFACE || typ == T_RV || typ == T_SAMPLE || typ == T_VEC)
            return validate_type(ex, v_invalid(), typ);
        xerr(ex, "cannot assign nil to %s", ptype_name(typ));
    case N_FIELD: {
        const node_t *self[1] = {n};
        return validate_type(ex, eval_field_node(ex, dot, n, self, 1, &none), typ);
    }
    case N_VAR: return validate_type(ex, eval_variable_node(ex, dot, n, NULL, 0, &none), typ);
    case N_PIPE: return validate_type(ex, eval_pipeline(ex, dot, n), typ);
    case N_IDENT: return validate_type(ex, eval_function(ex, dot, n, n, NULL, 0, &none), typ);
    case N_CHAIN: return validate_type(ex, eval_chain_node(ex, dot, n, NULL, 0, &none), typ);
    default: break;
    }
    switch (typ) {
    case T_IFACE:
    case T_RV: return eval_empty_interface(ex, dot, n);
    case T_STR:
        if (n->t == N_STRING)
            return v_str(ex, n->u.str.s, n->u.str.n, false);
        xerr(ex, "expected string; found %s", node_str(ex, n));
    default: break;
    }
    xerr(ex, "can't handle %s for arg of type %s", node_str(ex, n), ptype_name(typ));
}

/* ---- comparisons (Go's funcs.go) ---- */

typedef enum { K_INVALID, K_BOOL, K_INT, K_UINT, K_FLOAT, K_STRING } bkind_t;

static bkind_t basic_kind(const val_t *v)
{
    switch (v->k) {
    case V_BOOL: return K_BOOL;
    case V_INT: return v->sub == SUB_UINT8 ? K_UINT : K_INT;
    case V_FLOAT: return K_FLOAT;
    case V_STRING: return K_STRING;
    default: return K_INVALID;
    }
}

static int str_cmp(const val_t *a, const val_t *b)
{
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = n ? memcmp(a->u.s.s, b->u.s.s, n) : 0;
    if (c)
        return c;
    return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n ? 1 : 0;
}

/* Go's reflect.Kind of the non-basic types, as eq compares kinds first. */
static int go_kind(int k)
{
    switch (k) {
    case V_LABELS:
    case V_ARGS: return 1;      /* map */
    case V_VECTOR: return 2;    /* slice */
    case V_SAMPLE:
    case V_TIME: return 3;      /* pointer */
    case V_DATA: return 4;      /* struct */
    default: return 0;
    }
}

static bool is_nil(const val_t *v)
{
    switch (v->k) {
    case V_LABELS: return v->u.m == NULL;
    case V_ARGS: return v->u.a == NULL;
    case V_VECTOR: return v->u.vec == NULL;
    case V_SAMPLE: return v->u.smp == NULL;
    default: return false;
    }
}

static bool comparable_type(const val_t *v)
{
    return !(v->k == V_LABELS || v->k == V_ARGS || v->k == V_VECTOR || v->k == V_DATA);
}

static void uncomparable(exec_t *ex, const val_t *v, char *err, size_t ecap)
{
    sbuf_t b;
    sb_init(&b);
    go_sprintf(&b, "%s", 2, v, 1);
    snprintf(err, ecap, "non-comparable type %s: %s", b.p ? b.p : "", val_type_name(v));
    sb_fini(&b);
    (void)ex;
}

static int fn_eq(exec_t *ex, const val_t *a1, const val_t *args, size_t n, bool *ret, char *err,
                 size_t ecap)
{
    (void)ex;
    if (n == 0) {
        snprintf(err, ecap, "missing argument for comparison");
        return -1;
    }
    bkind_t k1 = basic_kind(a1);
    for (size_t i = 0; i < n; i++) {
        const val_t *a = &args[i];
        bkind_t k2 = basic_kind(a);
        bool truth = false;
        if (k1 != k2) {
            if (k1 == K_INT && k2 == K_UINT)
                truth = a1->u.i >= 0 && a1->u.i == a->u.i;
            else if (k1 == K_UINT && k2 == K_INT)
                truth = a->u.i >= 0 && a1->u.i == a->u.i;
            else if (a1->k != V_INVALID && a->k != V_INVALID) {
                snprintf(err, ecap, "incompatible types for comparison");
                return -1;
            }
        } else {
            switch (k1) {
            case K_BOOL: truth = a1->u.b == a->u.b; break;
            case K_FLOAT: truth = a1->u.f == a->u.f; break;
            case K_INT:
            case K_UINT: truth = a1->u.i == a->u.i; break;
            case K_STRING: truth = str_cmp(a1, a) == 0; break;
            default:
                if (a->k == V_INVALID || a1->k == V_INVALID) {
                    truth = a->k == a1->k;
                } else if (go_kind(a->k) != go_kind(a1->k)) {
                    sbuf_t x, y;
                    sb_init(&x);
                    sb_init(&y);
                    go_sprintf(&x, "%s", 2, a1, 1);
                    go_sprint(&y, a, 1, false);
                    snprintf(err, ecap, "non-comparable types %s: %s, %s: %s", x.p ? x.p : "",
                             val_type_name(a1), val_type_name(a), y.p ? y.p : "");
                    sb_fini(&x);
                    sb_fini(&y);
                    return -1;
                } else if (is_nil(a) || is_nil(a1)) {
                    truth = is_nil(a) == is_nil(a1);
                } else if (!comparable_type(a)) {
                    uncomparable(ex, a, err, ecap);
                    return -1;
                } else if (a->k == V_SAMPLE && a1->k == V_SAMPLE) {
                    truth = a->u.smp == a1->u.smp;
                } else {
                    truth = a->k == V_TIME && a1->k == V_TIME && a->u.ms == a1->u.ms;
                }
            }
        }
        if (truth) {
            *ret = true;
            return 0;
        }
    }
    *ret = false;
    return 0;
}

static int fn_lt(const val_t *a1, const val_t *a2, bool *ret, char *err, size_t ecap)
{
    bkind_t k1 = basic_kind(a1), k2 = basic_kind(a2);
    if (k1 == K_INVALID || k2 == K_INVALID) {
        snprintf(err, ecap, "invalid type for comparison");
        return -1;
    }
    bool truth = false;
    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT)
            truth = a1->u.i < 0 || a1->u.i < a2->u.i;
        else if (k1 == K_UINT && k2 == K_INT)
            truth = a2->u.i >= 0 && a1->u.i < a2->u.i;
        else {
            snprintf(err, ecap, "incompatible types for comparison");
            return -1;
        }
    } else {
        switch (k1) {
        case K_BOOL:
            snprintf(err, ecap, "invalid type for comparison");
            return -1;
        case K_FLOAT: truth = a1->u.f < a2->u.f; break;
        case K_INT:
        case K_UINT: truth = a1->u.i < a2->u.i; break;
        case K_STRING: truth = str_cmp(a1, a2) < 0; break;
        default: break;
        }
    }
    *ret = truth;
    return 0;
}

/* ---- index/slice/len ---- */

static int index_arg(const val_t *idx, int64_t cap, int64_t *x, char *err, size_t ecap)
{
    if (idx->k == V_INVALID) {
        snprintf(err, ecap, "cannot index slice/array with nil");
        return -1;
    }
    if (idx->k != V_INT) {
        snprintf(err, ecap, "cannot index slice/array with type %s", val_type_name(idx));
        return -1;
    }
    if (idx->u.i < 0 || idx->u.i > cap) {
        snprintf(err, ecap, "index out of range: %lld", (long long)idx->u.i);
        return -1;
    }
    *x = idx->u.i;
    return 0;
}

static int fn_index(exec_t *ex, val_t item, const val_t *idx, size_t n, val_t *ret, char *err,
                    size_t ecap)
{
    if (item.k == V_INVALID) {
        snprintf(err, ecap, "index of untyped nil");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (item.k == V_SAMPLE && !item.u.smp) {
            snprintf(err, ecap, "index of nil pointer");
            return -1;
        }
        int64_t x;
        switch (item.k) {
        case V_STRING:
            if (index_arg(&idx[i], (int64_t)item.u.s.n, &x, err, ecap))
                return -1;
            if (x == (int64_t)item.u.s.n) {
                snprintf(err, ecap, "reflect: string index out of range");
                return -1;
            }
            item = v_int((unsigned char)item.u.s.s[x], SUB_UINT8);
            break;
        case V_VECTOR: {
            size_t len = item.u.vec ? item.u.vec->n : 0;
            if (index_arg(&idx[i], (int64_t)len, &x, err, ecap))
                return -1;
            if (x == (int64_t)len) {
                snprintf(err, ecap, "reflect: slice index out of range");
                return -1;
            }
            val_t s = v_invalid();
            s.k = V_SAMPLE;
            s.u.smp = item.u.vec->items[x];
            item = s;
            break;
        }
        case V_LABELS:
        case V_ARGS: {
            const val_t *k = &idx[i];
            if (k->k == V_INVALID) {
                snprintf(err, ecap, "value is nil; should be of type string");
                return -1;
            }
            if (k->k != V_STRING || k->sub == SUB_HTML) {
                snprintf(err, ecap, "value has type %s; should be string", val_type_name(k));
                return -1;
            }
            val_t out = v_invalid();
            if (item.k == V_LABELS) {
                if (!lmap_get(item.u.m, k->u.s.s, k->u.s.n, &out))
                    out = v_str(ex, "", 0, false);
            } else {
                if (!amap_get(item.u.a, k->u.s.s, k->u.s.n, &out))
                    out = v_invalid();
            }
            item = out;
            if (item.k == V_INVALID && i + 1 < n) {
                snprintf(err, ecap, "index of nil pointer");
                return -1;
            }
            break;
        }
        default: {
            const char *t = item.k == V_SAMPLE ? "template.sample"
                            : item.k == V_TIME ? "time.Time"
                                               : val_type_name(&item);
            snprintf(err, ecap, "can't index item of type %s", t);
            return -1;
        }
        }
    }
    *ret = item;
    return 0;
}

static int fn_slice(exec_t *ex, val_t item, const val_t *idx, size_t n, val_t *ret, char *err,
                    size_t ecap)
{
    if (item.k == V_INVALID) {
        snprintf(err, ecap, "slice of untyped nil");
        return -1;
    }
    if (n > 3) {
        snprintf(err, ecap, "too many slice indexes: %zu", n);
        return -1;
    }
    int64_t len;
    if (item.k == V_STRING) {
        if (n == 3) {
            snprintf(err, ecap, "cannot 3-index slice a string");
            return -1;
        }
        len = (int64_t)item.u.s.n;
    } else if (item.k == V_VECTOR) {
        len = item.u.vec ? (int64_t)item.u.vec->n : 0;
    } else {
        snprintf(err, ecap, "can't slice item of type %s", val_type_name(&item));
        return -1;
    }
    int64_t ix[3] = {0, len, len};
    for (size_t i = 0; i < n; i++)
        if (index_arg(&idx[i], len, &ix[i], err, ecap))
            return -1;
    if (ix[0] > ix[1]) {
        snprintf(err, ecap, "invalid slice index: %lld > %lld", (long long)ix[0], (long long)ix[1]);
        return -1;
    }
    if (n == 3 && ix[1] > ix[2]) {
        snprintf(err, ecap, "invalid slice index: %lld > %lld", (long long)ix[1], (long long)ix[2]);
        return -1;
    }
    if (item.k == V_STRING) {
        *ret = v_str(ex, item.u.s.s + ix[0], (size_t)(ix[1] - ix[0]), false);
        ret->sub = item.sub;
        return 0;
    }
    vec_t *v = arena_alloc(&ex->arena, sizeof *v);
    v->n = (size_t)(ix[1] - ix[0]);
    v->items = item.u.vec ? item.u.vec->items + ix[0] : NULL;
    *ret = item;
    ret->u.vec = v;
    return 0;
}

/* html, js and urlquery format their arguments like this first. */
static void eval_args_string(val_t *args, size_t n, sbuf_t *b)
{
    if (n == 1 && args[0].k == V_STRING && args[0].sub != SUB_HTML) {
        sb_put(b, args[0].u.s.s, args[0].u.s.n);
        return;
    }
    /* Go passes each argument through printableValue first: no value becomes
     * "<no value>" and a pointer the value it points to. */
    for (size_t i = 0; i < n; i++) {
        if (args[i].k == V_INVALID) {
            args[i].k = V_STRING;
            args[i].sub = SUB_NONE;
            args[i].u.s.s = "<no value>";
            args[i].u.s.n = 10;
        } else if (args[i].k == V_SAMPLE && args[i].u.smp) {
            args[i].sub = SUB_DEREF;
        }
    }
    go_sprint(b, args, n, false);
}

/* ---- query ---- */

int mm_tmpl_result_add(mm_tmpl_result_t *res, const mm_label_t *labels, size_t n, double value)
{
    if (!res || (!labels && n))
        return -EINVAL;
    exec_t *ex = res->ex;
    vec_t *v = res->vec;
    if (v->n >= 100000)
        return -MM_ELIMIT;
    jmp_buf *saved = ex->arena.oom;
    jmp_buf local;
    ex->arena.oom = &local;
    if (setjmp(local)) {
        ex->arena.oom = saved;
        return -ENOMEM;
    }
    if (v->n == res->cap) {
        size_t c = res->cap ? res->cap * 2 : 16;
        sample_t **items = arena_alloc(&ex->arena, c * sizeof *items);
        if (v->n)
            memcpy(items, v->items, v->n * sizeof *items);
        v->items = items;
        res->cap = c;
    }
    sample_t *s = arena_alloc(&ex->arena, sizeof *s);
    make_lmap(ex, &s->labels, labels, n);
    s->value = value;
    v->items[v->n++] = s;
    ex->arena.oom = saved;
    return 0;
}

static int fn_query(exec_t *ex, const val_t *q, val_t *ret, char *err, size_t ecap)
{
    if (!ex->d->query) {
        snprintf(err, ecap, "query is not available here");
        return -1;
    }
    char *qs = arena_strndup(&ex->arena, q->u.s.s, q->u.s.n);
    vec_t *v = arena_alloc(&ex->arena, sizeof *v);
    mm_tmpl_result_t res = {ex, v, 0};
    char ebuf[512];
    ebuf[0] = 0;
    int r = ex->d->query(ex->d->query_user, qs, ex->d->time_ms, &res, ebuf, sizeof ebuf);
    if (r < 0) {
        ebuf[sizeof ebuf - 1] = 0;
        snprintf(err, ecap, "%s", ebuf[0] ? ebuf : mm_strerror(r));
        return -1;
    }
    *ret = v_invalid();
    ret->k = V_VECTOR;
    ret->u.vec = v;
    return 0;
}

/* ---- the call ---- */

static val_t call_builtin(exec_t *ex, int fn, val_t *a, size_t n, char *err, size_t ecap,
                          bool *failed)
{
    *failed = false;
    sbuf_t b;
    sb_init(&b);
    /* A string bigger than the scratch limit is refused as it grows. */
    b.limit = ex->arena.limit;
    val_t r = v_invalid();
    bool t = false;
    int rc = 0;
    switch (fn) {
    case F_NOT: {
        bool ok;
        return v_bool(!is_true(&a[0], &ok));
    }
    case F_LEN:
        switch (a[0].k) {
        case V_STRING: return v_int((int64_t)a[0].u.s.n, SUB_NONE);
        case V_LABELS: return v_int(a[0].u.m ? (int64_t)a[0].u.m->n : 0, SUB_NONE);
        case V_ARGS: return v_int(a[0].u.a ? (int64_t)a[0].u.a->n : 0, SUB_NONE);
        case V_VECTOR: return v_int(a[0].u.vec ? (int64_t)a[0].u.vec->n : 0, SUB_NONE);
        case V_INVALID:
            snprintf(err, ecap, a[0].iface ? "len of nil pointer"
                                           : "reflect: call of reflect.Value.Type on zero Value");
            break;
        case V_SAMPLE:
            snprintf(err, ecap, a[0].u.smp ? "len of type template.sample" : "len of nil pointer");
            break;
        case V_TIME:
            snprintf(err, ecap, "len of type time.Time");
            break;
        default:
            snprintf(err, ecap, "len of type %s", val_type_name(&a[0]));
        }
        *failed = true;
        return r;
    case F_INDEX:
        rc = fn_index(ex, a[0], a + 1, n - 1, &r, err, ecap);
        break;
    case F_SLICE:
        rc = fn_slice(ex, a[0], a + 1, n - 1, &r, err, ecap);
        break;
    case F_PRINT:
    case F_PRINTLN:
        go_sprint(&b, a, n, fn == F_PRINTLN);
        return v_sb(ex, &b);
    case F_PRINTF:
        go_sprintf(&b, a[0].u.s.s, a[0].u.s.n, a + 1, n - 1);
        return v_sb(ex, &b);
    case F_HTML:
    case F_JS:
    case F_URLQUERY: {
        sbuf_t s;
        sb_init(&s);
        eval_args_string(a, n, &s);
        const char *p = s.p ? s.p : "";
        if (fn == F_HTML)
            fn_html_escape(&b, p, s.n);
        else if (fn == F_JS)
            fn_js_escape(&b, p, s.n);
        else
            fn_query_escape(&b, p, s.n);
        sb_fini(&s);
        return v_sb(ex, &b);
    }
    case F_EQ:
        rc = fn_eq(ex, &a[0], a + 1, n - 1, &t, err, ecap);
        r = v_bool(t);
        break;
    case F_NE:
        rc = fn_eq(ex, &a[0], a + 1, 1, &t, err, ecap);
        r = v_bool(!t);
        break;
    case F_LT:
    case F_GE:
        rc = fn_lt(&a[0], &a[1], &t, err, ecap);
        r = v_bool(fn == F_LT ? t : !t);
        break;
    case F_LE:
    case F_GT: {
        rc = fn_lt(&a[0], &a[1], &t, err, ecap);
        if (rc == 0 && !t) {
            rc = fn_eq(ex, &a[0], a + 1, 1, &t, err, ecap);
        }
        r = v_bool(fn == F_LE ? t : !t);
        break;
    }
    case F_CALL:
        if (a[0].k == V_INVALID)
            snprintf(err, ecap, "call of nil");
        else
            snprintf(err, ecap, "non-function of type %s", val_type_name(&a[0]));
        rc = -1;
        break;
    case F_QUERY:
        rc = fn_query(ex, &a[0], &r, err, ecap);
        break;
    case F_FIRST:
        if (a[0].u.vec && a[0].u.vec->n > 0) {
            r.k = V_SAMPLE;
            r.u.smp = a[0].u.vec->items[0];
        } else {
            snprintf(err, ecap, "first() called on vector with no elements");
            rc = -1;
        }
        break;
    case F_LABEL:
    case F_VALUE:
    case F_STRVALUE: {
        const sample_t *s = fn == F_LABEL ? a[1].u.smp : a[0].u.smp;
        if (!s) {
            snprintf(err, ecap, "runtime error: invalid memory address or nil pointer dereference");
            rc = -1;
            break;
        }
        if (fn == F_VALUE)
            return v_float(s->value);
        const char *key = fn == F_LABEL ? a[0].u.s.s : "__value__";
        size_t kl = fn == F_LABEL ? a[0].u.s.n : 9;
        if (!lmap_get(&s->labels, key, kl, &r))
            r = v_str(ex, "", 0, false);
        break;
    }
    case F_ARGS: {
        amap_t *m = arena_alloc(&ex->arena, sizeof *m);
        m->n = n;
        m->keys = arena_alloc(&ex->arena, (n ? n : 1) * sizeof *m->keys);
        m->vals = arena_alloc(&ex->arena, (n ? n : 1) * sizeof *m->vals);
        for (size_t i = 0; i < n; i++) {
            char k[32];
            int kl = snprintf(k, sizeof k, "arg%zu", i);
            m->keys[i] = arena_strndup(&ex->arena, k, (size_t)kl);
            m->vals[i] = a[i];
        }
        /* Map keys print sorted: arg0, arg1, arg10, arg2 ... */
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0 && strcmp(m->keys[j - 1], m->keys[j]) > 0; j--) {
                const char *tk = m->keys[j];
                m->keys[j] = m->keys[j - 1];
                m->keys[j - 1] = tk;
                val_t tv = m->vals[j];
                m->vals[j] = m->vals[j - 1];
                m->vals[j - 1] = tv;
            }
        }
        r.k = V_ARGS;
        r.u.a = m;
        break;
    }
    case F_REREPLACEALL:
        rc = fn_replace_all(a[0].u.s.s, a[0].u.s.n, a[1].u.s.s, a[1].u.s.n, a[2].u.s.s,
                            a[2].u.s.n, &b, err, ecap);
        if (rc == 0)
            return v_sb(ex, &b);
        break;
    case F_SAFEHTML:
        r = a[0];
        r.sub = SUB_HTML;
        break;
    case F_MATCH:
        rc = fn_match(a[0].u.s.s, a[0].u.s.n, a[1].u.s.s, a[1].u.s.n, &t, err, ecap);
        r = v_bool(t);
        break;
    case F_TITLE:
    case F_TOUPPER:
    case F_TOLOWER:
        fn_case(&b, a[0].u.s.s, a[0].u.s.n, fn == F_TOUPPER ? 0 : fn == F_TOLOWER ? 1 : 2);
        return v_sb(ex, &b);
    case F_GRAPHLINK:
    case F_TABLELINK:
        sb_puts(&b, "/graph?g0.expr=");
        fn_query_escape(&b, a[0].u.s.s, a[0].u.s.n);
        sb_puts(&b, fn == F_GRAPHLINK ? "&g0.tab=0" : "&g0.tab=1");
        return v_sb(ex, &b);
    case F_SORTBYLABEL: {
        vec_t *v = (vec_t *)a[1].u.vec;
        size_t kl = a[0].u.s.n;
        for (size_t i = 1; v && i < v->n; i++) {
            for (size_t j = i; j > 0; j--) {
                val_t x = v_invalid(), y = v_invalid();
                if (!lmap_get(&v->items[j - 1]->labels, a[0].u.s.s, kl, &x))
                    x = v_str(ex, "", 0, false);
                if (!lmap_get(&v->items[j]->labels, a[0].u.s.s, kl, &y))
                    y = v_str(ex, "", 0, false);
                if (str_cmp(&y, &x) >= 0)
                    break;
                sample_t *tmp = v->items[j];
                v->items[j] = v->items[j - 1];
                v->items[j - 1] = tmp;
            }
        }
        r = a[1];
        break;
    }
    case F_STRIPPORT:
        fn_strip_port(&b, a[0].u.s.s, a[0].u.s.n);
        return v_sb(ex, &b);
    case F_STRIPDOMAIN:
        fn_strip_domain(&b, a[0].u.s.s, a[0].u.s.n);
        return v_sb(ex, &b);
    case F_HUMANIZE:
    case F_HUMANIZE1024:
    case F_HUMANIZEDURATION:
    case F_HUMANIZEPERCENTAGE:
    case F_HUMANIZETIMESTAMP: {
        int (*f)(const val_t *, sbuf_t *, char *, size_t) =
            fn == F_HUMANIZE             ? fn_humanize
            : fn == F_HUMANIZE1024       ? fn_humanize1024
            : fn == F_HUMANIZEDURATION   ? fn_humanize_duration
            : fn == F_HUMANIZEPERCENTAGE ? fn_humanize_percentage
                                         : fn_humanize_timestamp;
        rc = f(&a[0], &b, err, ecap);
        if (rc == 0)
            return v_sb(ex, &b);
        break;
    }
    case F_TOTIME: {
        int64_t ms;
        bool ni;
        rc = fn_to_time(&a[0], &ms, &ni, err, ecap);
        if (rc == 0 && ni) {
            snprintf(err, ecap, "value is NaN or Inf");
            rc = -1;
        }
        if (rc == 0) {
            r.k = V_TIME;
            r.u.ms = ms;
        }
        break;
    }
    case F_PATHPREFIX:
        fn_path_prefix(&b, ex->d->external_url ? ex->d->external_url : "");
        return v_sb(ex, &b);
    case F_EXTERNALURL:
        return v_str(ex, ex->data.url, ex->data.urllen, false);
    case F_PARSEDURATION: {
        double d;
        rc = fn_parse_duration(a[0].u.s.s, a[0].u.s.n, &d, err, ecap);
        r = v_float(d);
        break;
    }
    default:
        snprintf(err, ecap, "unknown function");
        rc = -1;
    }
    sb_fini(&b);
    if (rc)
        *failed = true;
    return r;
}

static val_t eval_call(exec_t *ex, val_t dot, int fn, const node_t *node, const char *name,
                       const node_t *const *args, size_t nargs, const final_t *fin)
{
    step(ex);
    const fdef_t *fd = &funcs[fn];
    if (args) {
        args++;
        nargs--;
    } else {
        nargs = 0;
    }
    size_t num_in = nargs + (fin->present ? 1 : 0);
    size_t num_fixed = nargs;
    if (fd->variadic) {
        num_fixed = (size_t)fd->nin - 1;
        if (num_in < num_fixed)
            xerr(ex, "wrong number of args for %s: want at least %d got %zu", name, fd->nin - 1,
                 nargs);
    } else if (num_in != (size_t)fd->nin) {
        xerr(ex, "wrong number of args for %s: want %d got %zu", name, fd->nin, num_in);
    }
    if (fn == F_AND || fn == F_OR) {
        /* Short-circuit: evaluate left to right, stop at the deciding value. */
        val_t v = v_invalid();
        for (size_t i = 0; i < nargs; i++) {
            v = eval_arg(ex, dot, T_RV, args[i]);
            bool ok;
            if (is_true(&v, &ok) == (fn == F_OR))
                return v;
        }
        if (fin->present)
            v = validate_type(ex, fin->v, T_RV);
        return v;
    }
    val_t *argv = arena_alloc(&ex->arena, (num_in ? num_in : 1) * sizeof *argv);
    size_t i = 0;
    for (; i < num_fixed && i < nargs; i++)
        argv[i] = eval_arg(ex, dot, fd->in[i], args[i]);
    if (fd->variadic)
        for (; i < nargs; i++)
            argv[i] = eval_arg(ex, dot, fd->in[fd->nin - 1], args[i]);
    if (fin->present) {
        ptype_t t = fd->in[fd->nin - 1];
        if (fd->variadic && num_in - 1 < num_fixed)
            t = fd->in[num_in - 1];
        argv[i] = validate_type(ex, fin->v, t);
    }
    char err[700];
    err[0] = 0;
    bool failed;
    val_t r = call_builtin(ex, fn, argv, num_in, err, sizeof err, &failed);
    if (failed) {
        at(ex, node);
        xerr(ex, "error calling %s: %s", name, err);
    }
    return r;
}

static val_t eval_command(exec_t *ex, val_t dot, const node_t *cmd, const final_t *fin)
{
    const node_t *first = cmd->u.cmd.args[0];
    const node_t *const *args = (const node_t *const *)cmd->u.cmd.args;
    size_t nargs = cmd->u.cmd.nargs;
    switch (first->t) {
    case N_FIELD:
        at(ex, first);
        if (nargs > 1) {
            /* Fields of our types are never methods that take arguments. */
        }
        return eval_field_node(ex, dot, first, args, nargs, fin);
    case N_CHAIN:
        return eval_chain_node(ex, dot, first, args, nargs, fin);
    case N_IDENT:
        return eval_function(ex, dot, first, cmd, args, nargs, fin);
    case N_PIPE:
        not_a_function(ex, args, nargs, fin);
        return eval_pipeline(ex, dot, first);
    case N_VAR:
        return eval_variable_node(ex, dot, first, args, nargs, fin);
    default:
        break;
    }
    at(ex, first);
    not_a_function(ex, args, nargs, fin);
    switch (first->t) {
    case N_BOOL: return v_bool(first->u.b);
    case N_DOT: return dot;
    case N_NIL: xerr(ex, "nil is not a command");
    case N_NUMBER: return ideal_constant(ex, first);
    case N_STRING: return v_str(ex, first->u.str.s, first->u.str.n, false);
    default: break;
    }
    xerr(ex, "can't evaluate command %s", node_str(ex, first));
}

static val_t eval_pipeline(exec_t *ex, val_t dot, const node_t *pipe)
{
    if (!pipe)
        return v_invalid();
    enter(ex);
    at(ex, pipe);
    final_t fin = {false, v_invalid()};
    for (size_t i = 0; i < pipe->u.pipe.ncmds; i++) {
        val_t v = eval_command(ex, dot, pipe->u.pipe.cmds[i], &fin);
        /* Go digs a value of type interface {} down to what it holds. */
        v.iface = 0;
        fin.present = true;
        fin.v = v;
    }
    for (size_t i = 0; i < pipe->u.pipe.ndecl; i++) {
        const char *name = pipe->u.pipe.decl[i]->u.field.ident[0];
        if (pipe->u.pipe.assign)
            set_var(ex, name, fin.v);
        else
            push_var(ex, name, fin.v);
    }
    ex->depth--;
    return fin.v;
}

/* Writes what fmt.Fprint writes for the printable form of v. */
static void print_value(exec_t *ex, const node_t *n, val_t v)
{
    at(ex, n);
    if (v.k == V_INVALID && v.iface) {
        sb_puts(&ex->out, "<nil>");
    } else if (v.k == V_INVALID) {
        sb_puts(&ex->out, "<no value>");
    } else if (v.k == V_SAMPLE && v.u.smp) {
        /* Templates print the struct a pointer refers to, not "&{...}". */
        v.sub = SUB_DEREF;
        go_sprint(&ex->out, &v, 1, false);
    } else {
        go_sprint(&ex->out, &v, 1, false);
    }
    check_out(ex);
}

static wres_t walk_if_with(exec_t *ex, ntype_t t, val_t dot, const node_t *n)
{
    size_t mark = ex->nvars;
    val_t v = eval_pipeline(ex, dot, n->u.ctl.pipe);
    bool ok;
    bool truth = is_true(&v, &ok);
    wres_t r = W_NORMAL;
    if (truth)
        r = walk(ex, t == N_WITH ? v : dot, n->u.ctl.list);
    else if (n->u.ctl.elselist)
        r = walk(ex, dot, n->u.ctl.elselist);
    ex->nvars = mark;
    return r;
}

static wres_t walk_range(exec_t *ex, val_t dot, const node_t *r)
{
    at(ex, r);
    size_t mark0 = ex->nvars;
    val_t v = eval_pipeline(ex, dot, r->u.ctl.pipe);
    size_t mark = ex->nvars;
    size_t ndecl = r->u.ctl.pipe->u.pipe.ndecl;
    size_t len = 0;
    switch (v.k) {
    case V_VECTOR: len = v.u.vec ? v.u.vec->n : 0; break;
    case V_LABELS: len = v.u.m ? v.u.m->n : 0; break;
    case V_ARGS: len = v.u.a ? v.u.a->n : 0; break;
    case V_INVALID: break;
    case V_SAMPLE:
        if (!v.u.smp)
            break;
        /* fallthrough */
    default: {
        sbuf_t b;
        sb_init(&b);
        if (v.k == V_SAMPLE) {
            sb_putc(&b, '{');
            val_t m = v_invalid();
            m.k = V_LABELS;
            m.u.m = &v.u.smp->labels;
            go_sprint(&b, &m, 1, false);
            sb_putc(&b, ' ');
            val_t f = v_float(v.u.smp->value);
            go_sprint(&b, &f, 1, false);
            sb_putc(&b, '}');
        } else {
            go_sprint(&b, &v, 1, false);
        }
        val_t s = v_sb(ex, &b);
        xerr(ex, "range can't iterate over %s", s.u.s.s);
    }
    }
    for (size_t i = 0; i < len; i++) {
        step(ex);
        val_t idx, elem = v_invalid();
        if (v.k == V_VECTOR) {
            idx = v_int((int64_t)i, SUB_NONE);
            elem.k = V_SAMPLE;
            elem.u.smp = v.u.vec->items[i];
        } else if (v.k == V_LABELS) {
            idx = v_str(ex, v.u.m->kv[i].name, strlen(v.u.m->kv[i].name), false);
            elem = v_str(ex, v.u.m->kv[i].value, v.u.m->vlen[i], false);
        } else {
            idx = v_str(ex, v.u.a->keys[i], strlen(v.u.a->keys[i]), false);
            elem = v.u.a->vals[i];
            elem.iface = 1;
        }
        if (ndecl > 0)
            ex->vars[ex->nvars - 1].v = elem;
        if (ndecl > 1)
            ex->vars[ex->nvars - 2].v = idx;
        wres_t w = walk(ex, elem, r->u.ctl.list);
        ex->nvars = mark;
        if (w == W_BREAK)
            break;
    }
    if (len == 0 && r->u.ctl.elselist)
        walk(ex, dot, r->u.ctl.elselist);
    ex->nvars = mark0;
    return W_NORMAL;
}

/* {{template "name" pipeline}}: runs a defined template with a fresh scope. */
static void walk_template(exec_t *ex, val_t dot, const node_t *n)
{
    at(ex, n);
    const struct tmpl_def *def = NULL;
    for (size_t i = 0; i < ex->t->ndefs; i++)
        if (ex->t->defs[i].n == n->u.tmpl.n &&
            memcmp(ex->t->defs[i].name, n->u.tmpl.name, n->u.tmpl.n) == 0)
            def = &ex->t->defs[i];
    if (!def) {
        sbuf_t q;
        sb_init(&q);
        go_quote(&q, n->u.tmpl.name, n->u.tmpl.n);
        val_t s = v_sb(ex, &q);
        xerr(ex, "template %s not defined", s.u.s.s);
    }
    /* Go allows 100000 nested invocations; a C stack does not. */
    if (ex->tdepth >= 100)
        xerr(ex, "exceeded maximum template depth (%d)", 100);
    if (n->u.tmpl.pipe)
        dot = eval_pipeline(ex, dot, n->u.tmpl.pipe);
    else
        dot = v_invalid();
    var_t *vars = ex->vars;
    size_t nvars = ex->nvars, capvars = ex->capvars;
    const char *name = ex->cur_name;
    ex->vars = NULL;
    ex->nvars = ex->capvars = 0;
    push_var(ex, "$", dot);
    ex->cur_name = arena_strndup(&ex->arena, def->name, def->n);
    ex->tdepth++;
    walk(ex, dot, def->root);
    ex->tdepth--;
    ex->cur_name = name;
    ex->vars = vars;
    ex->nvars = nvars;
    ex->capvars = capvars;
}

static wres_t walk_inner(exec_t *ex, val_t dot, const node_t *n);

static wres_t walk(exec_t *ex, val_t dot, const node_t *n)
{
    enter(ex);
    wres_t r = walk_inner(ex, dot, n);
    ex->depth--;
    return r;
}

static wres_t walk_inner(exec_t *ex, val_t dot, const node_t *n)
{
    step(ex);
    at(ex, n);
    switch (n->t) {
    case N_ACTION: {
        val_t v = eval_pipeline(ex, dot, n->u.action.pipe);
        if (n->u.action.pipe->u.pipe.ndecl == 0)
            print_value(ex, n, v);
        return W_NORMAL;
    }
    case N_IF:
    case N_WITH:
        return walk_if_with(ex, n->t, dot, n);
    case N_LIST:
        for (size_t i = 0; i < n->u.list.n; i++) {
            wres_t r = walk(ex, dot, n->u.list.v[i]);
            if (r != W_NORMAL)
                return r;
        }
        return W_NORMAL;
    case N_RANGE:
        return walk_range(ex, dot, n);
    case N_TEXT:
        sb_put(&ex->out, n->u.text.s, n->u.text.n);
        check_out(ex);
        return W_NORMAL;
    case N_TEMPLATE:
        walk_template(ex, dot, n);
        return W_NORMAL;
    case N_BREAK:
        return W_BREAK;
    case N_CONTINUE:
        return W_CONTINUE;
    default:
        xerr(ex, "unknown node: %s", node_str(ex, n));
    }
}

/* ---------------------------------------------------------------- API */

void mm_tmpl_buf_init(mm_tmpl_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void mm_tmpl_buf_fini(mm_tmpl_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int buf_append(mm_tmpl_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return -ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int mm_tmpl_exec(const mm_tmpl_t *t, const mm_tmpl_data_t *d, mm_tmpl_buf_t *out,
                 mm_tmpl_err_t *err)
{
    if (!t || !d || !out)
        return -EINVAL;
    if (err)
        memset(err, 0, sizeof *err);
    exec_t *ex = calloc(1, sizeof *ex);
    if (!ex)
        return -ENOMEM;
    ex->t = t;
    ex->d = d;
    ex->err = err;
    arena_init(&ex->arena);
    sb_init(&ex->out);
    ex->out.limit = d->max_output ? d->max_output : (size_t)1 << 20;
    ex->max_steps = d->max_steps ? d->max_steps : 1000000;
    int rc;
    ex->arena.oom = &ex->jb;
    ex->arena.limit = d->max_memory ? d->max_memory : (size_t)64 << 20;
    if (setjmp(ex->jb)) {
        if (!ex->code && ex->arena.over_limit) {
            ex->code = -MM_ELIMIT;
            if (err) {
                memset(err, 0, sizeof *err);
                err->phase = MM_TMPL_ERR_EXEC;
                snprintf(err->msg, sizeof err->msg,
                         "template: %s: execution exceeded its memory limit of %zu bytes", t->name,
                         ex->arena.limit);
            }
        }
        free(ex->pending);
        rc = ex->code ? ex->code : -ENOMEM;
        if (rc == -ENOMEM && err && err->phase == MM_TMPL_ERR_NONE) {
            err->phase = MM_TMPL_ERR_EXEC;
            snprintf(err->msg, sizeof err->msg, "template: %s: out of memory", t->name);
        }
        goto done;
    }
    make_lmap(ex, &ex->data.labels, d->labels, d->labels ? d->nlabels : 0);
    make_lmap(ex, &ex->data.ext, d->external_labels,
              d->external_labels ? d->nexternal_labels : 0);
    ex->data.url = d->external_url ? d->external_url : "";
    ex->data.urllen = strlen(ex->data.url);
    ex->data.value = d->value;
    val_t root = v_invalid();
    root.k = V_DATA;
    root.u.data = &ex->data;
    push_var(ex, "$", root);
    ex->cur_name = t->name;
    walk(ex, root, t->root);
    rc = buf_append(out, ex->out.p ? ex->out.p : "", ex->out.n);
done:
    sb_fini(&ex->out);
    arena_fini(&ex->arena);
    free(ex);
    return rc;
}

int mm_tmpl_format_error(const char *name, const mm_tmpl_err_t *err, mm_tmpl_buf_t *out)
{
    char head[64];
    snprintf(head, sizeof head, "<error expanding template: error %s template ",
             err->phase == MM_TMPL_ERR_PARSE ? "parsing" : "executing");
    int r = buf_append(out, head, strlen(head));
    if (!r)
        r = buf_append(out, name, strlen(name));
    if (!r)
        r = buf_append(out, ": ", 2);
    if (!r)
        r = buf_append(out, err->msg, strlen(err->msg));
    if (!r)
        r = buf_append(out, ">", 1);
    return r;
}

int mm_tmpl_expand_alert(const char *alertname, const char *text, size_t len,
                         const mm_tmpl_data_t *data, mm_tmpl_buf_t *out)
{
    mm_tmpl_t *t = NULL;
    mm_tmpl_err_t err;
    size_t start = out->len;
    int r = mm_tmpl_parse_alert(alertname, text, len, &t, &err);
    if (r == -ENOMEM || r == -EINVAL)
        return r;
    if (r == 0) {
        r = mm_tmpl_exec(t, data, out, &err);
        if (r == -ENOMEM) {
            mm_tmpl_free(t);
            return r;
        }
    }
    if (r == 0) {
        mm_tmpl_free(t);
        return 0;
    }
    out->len = start;
    if (out->data)
        out->data[start] = 0;
    mm_tmpl_free(t);
    size_t an = strlen(alertname);
    char *name = malloc(an + 9);
    if (!name)
        return -ENOMEM;
    memcpy(name, "__alert_", 8);
    memcpy(name + 8, alertname, an + 1);
    r = mm_tmpl_format_error(name, &err, out);
    free(name);
    return r ? r : 1;
}
