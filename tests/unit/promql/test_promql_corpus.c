/* Parses every `expr` of every rule file (and unit-test file) in
 * $MM_SHARED_DIR/rules-corpus/, real rule files written by others: each must
 * parse, and printing it back must give text that parses to the same
 * canonical form. A failure names file:line:col of the offending character. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql.h"
#include "mm_yaml.h"
#include "promql_internal.h"

static int n_exprs, n_failed, n_files;
static bool dump;   /* --dump: print expressions and their selectors (corpus difftest) */

/* A value that a regex matcher accepts, for generated series: the first
 * alternative of a plain alternation, "x" for .* / .+; NULL otherwise. */
static const char *regex_example(const char *re, char *buf, size_t cap)
{
    if (!strcmp(re, ".*") || !strcmp(re, ".+") || !strcmp(re, ".*.*"))
        return "x";
    size_t n = strcspn(re, "|");
    if (n == 0 || n >= cap)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)re[i]) || strchr("_-:/ ", re[i])))
            return NULL;
    memcpy(buf, re, n);
    buf[n] = 0;
    return buf;
}

static void dump_expr(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n, const mm_promql_expr_t *e)
{
    printf("E\t%s:%u\t", doc->file, n->line);
    for (const char *c = n->str; *c; c++)
        putchar(*c == '\n' || *c == '\t' ? ' ' : *c);
    putchar('\n');
    /* An alert's threshold usually leaves its result empty; its operands
     * are worth comparing too: print the vector operands of a top-level
     * comparison as expressions of their own. */
    const promql_node_t *r = e->root;
    while (r->kind == N_PAREN)
        r = r->paren.e;
    if (r->kind == N_BIN && promql_is_comparison(r->bin.op)) {
        const promql_node_t *side[2] = {r->bin.l, r->bin.r};
        for (int k = 0; k < 2; k++) {
            if (side[k]->type != MM_PROMQL_VECTOR)
                continue;
            mm_promql_expr_t sub = *e;
            sub.root = (promql_node_t *)side[k];
            size_t len = mm_promql_expr_print(&sub, NULL, 0);
            char *txt = malloc(len + 1);
            mm_promql_expr_print(&sub, txt, len + 1);
            printf("E\t%s:%u\t%s\n", doc->file, n->line, txt);
            free(txt);
        }
    }
    const mm_promql_selector_t *s;
    size_t ns = mm_promql_expr_selectors(e, &s);
    for (size_t i = 0; i < ns; i++) {
        if (!s[i].metric)
            continue;
        printf("S\t%s", s[i].metric);
        for (size_t k = 0; k < s[i].n_matchers; k++) {
            const mm_match_t *m = &s[i].matchers[k];
            char buf[128];
            const char *v = NULL;
            if (!strcmp(m->name, "__name__"))
                continue;
            if (m->type == MM_MATCH_EQ)
                v = m->value;
            else if (m->type == MM_MATCH_RE)
                v = regex_example(m->value, buf, sizeof buf);
            if (v && *v && !strpbrk(v, "\t\n\"'\\"))
                printf("\t%s\t%s", m->name, v);
        }
        putchar('\n');
    }
}

static void check_expr(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n)
{
    mm_promql_expr_t *e = NULL, *e2 = NULL;
    mm_promql_error_t err;
    n_exprs++;
    if (dump) {
        if (mm_promql_parse(n->str, n->len, &e, &err) == 0)
            dump_expr(doc, n, e);
        mm_promql_expr_free(e);
        return;
    }
    if (mm_promql_parse(n->str, n->len, &e, &err) < 0) {
        unsigned line, col;
        mm_yaml_scalar_locate(doc, n, err.offset, &line, &col);
        printf("FAIL %s:%u:%u: %s\n", doc->file, line, col, err.msg);
        n_failed++;
        return;
    }
    size_t len = mm_promql_expr_print(e, NULL, 0);
    char *a = malloc(len + 1), *b = NULL;
    mm_promql_expr_print(e, a, len + 1);
    if (mm_promql_parse(a, len, &e2, &err) < 0) {
        printf("FAIL %s:%u: printed form does not parse (%s): %s\n", doc->file, n->line, err.msg, a);
        n_failed++;
        goto out;
    }
    size_t len2 = mm_promql_expr_print(e2, NULL, 0);
    b = malloc(len2 + 1);
    mm_promql_expr_print(e2, b, len2 + 1);
    if (strcmp(a, b) != 0) {
        printf("FAIL %s:%u: printing is not stable:\n  %s\n  %s\n", doc->file, n->line, a, b);
        n_failed++;
    }
out:
    free(a);
    free(b);
    mm_promql_expr_free(e);
    mm_promql_expr_free(e2);
}

static void walk(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n)
{
    if (!n)
        return;
    if (n->kind == MM_YAML_MAP) {
        for (size_t i = 0; i + 1 < n->n; i += 2) { /* n counts keys and values */
            const mm_yaml_node_t *k = n->items[i], *v = n->items[i + 1];
            if (k->kind == MM_YAML_SCALAR && strcmp(k->str, "expr") == 0 && v->kind == MM_YAML_SCALAR)
                check_expr(doc, v);
            else
                walk(doc, v);
        }
    } else if (n->kind == MM_YAML_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            walk(doc, n->items[i]);
    }
}

static int on_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t l = strlen(path);
    if (type != FTW_F || !((l > 4 && !strcmp(path + l - 4, ".yml")) || (l > 5 && !strcmp(path + l - 5, ".yaml"))))
        return 0;
    mm_yaml_doc_t *doc = NULL;
    mm_diag_t d;
    if (mm_yaml_load_file(path, &doc, &d) < 0) {
        printf("FAIL %s: YAML: %s\n", path, d.msg);
        n_failed++;
        return 0;
    }
    n_files++;
    walk(doc, doc->root);
    mm_yaml_free(doc);
    return 0;
}

int main(int argc, char **argv)
{
    const char *shared = getenv("MM_SHARED_DIR");
    char dir[1024];
    if (argc == 3 && !strcmp(argv[1], "--dump")) {
        dump = true;
        return nftw(argv[2], on_file, 16, FTW_PHYS) == 0 ? 0 : 2;
    }
    if (!shared) {
        printf("SKIP promql_corpus: MM_SHARED_DIR is not set\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/rules-corpus", shared);
    if (nftw(dir, on_file, 16, FTW_PHYS) != 0) {
        printf("SKIP promql_corpus: %s is absent\n", dir);
        return 77;
    }
    printf("promql corpus: %d files, %d expressions, %d failed\n", n_files, n_exprs, n_failed);
    return n_failed == 0 && n_exprs > 0 ? 0 : 1;
}
