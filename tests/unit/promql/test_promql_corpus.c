/* Parses every `expr` of every rule file (and unit-test file) in
 * $MM_SHARED_DIR/rules-corpus/, real rule files written by others: each must
 * parse, and printing it back must give text that parses to the same
 * canonical form. A failure names file:line:col of the offending character. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql.h"
#include "mm_yaml.h"

static int n_exprs, n_failed, n_files;

static void check_expr(const mm_yaml_doc_t *doc, const mm_yaml_node_t *n)
{
    mm_promql_expr_t *e = NULL, *e2 = NULL;
    mm_promql_error_t err;
    n_exprs++;
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

int main(void)
{
    const char *shared = getenv("MM_SHARED_DIR");
    char dir[1024];
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
