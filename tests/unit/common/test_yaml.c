/* Tests for the YAML tree loader: positions, anchors, merges, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mm_err.h"
#include "mm_yaml.h"

static mm_yaml_doc_t *load(const char *text)
{
    mm_yaml_doc_t *doc = NULL;
    mm_diag_t d;
    assert_int_equal(mm_yaml_load_buf("t.yml", text, strlen(text), &doc, &d), 0);
    return doc;
}

static void test_positions(void **state)
{
    (void)state;
    mm_yaml_doc_t *doc = load("groups:\n  - name: g\n    rules:\n      - expr: up == 0\n");
    mm_yaml_node_t *groups = mm_yaml_map_get(doc->root, "groups");
    assert_non_null(groups);
    assert_int_equal(groups->kind, MM_YAML_SEQ);
    mm_yaml_node_t *g = groups->items[0];
    mm_yaml_node_t *name = mm_yaml_map_get(g, "name");
    assert_string_equal(name->str, "g");
    assert_int_equal(name->line, 2);
    assert_int_equal(name->col, 11);
    mm_yaml_node_t *expr = mm_yaml_map_get(mm_yaml_map_get(g, "rules")->items[0], "expr");
    unsigned l, c;
    mm_yaml_scalar_locate(doc, expr, 3, &l, &c); /* the '=' */
    assert_int_equal(l, 4);
    assert_int_equal(c, 18);
    mm_yaml_free(doc);
}

static void test_block_and_quoted_locate(void **state)
{
    (void)state;
    mm_yaml_doc_t *doc = load("a: |\n  sum(x)\n    by (job)\nb: \"x\\ty\"\n");
    mm_yaml_node_t *a = mm_yaml_map_get(doc->root, "a");
    assert_string_equal(a->str, "sum(x)\n  by (job)\n");
    unsigned l, c;
    mm_yaml_scalar_locate(doc, a, 9, &l, &c); /* 'b' of by */
    assert_int_equal(l, 3);
    assert_int_equal(c, 5);
    mm_yaml_node_t *b = mm_yaml_map_get(doc->root, "b");
    mm_yaml_scalar_locate(doc, b, 2, &l, &c); /* 'y' after the escape */
    assert_int_equal(l, 4);
    assert_int_equal(c, 8);
    mm_yaml_free(doc);
}

static void test_anchor_merge(void **state)
{
    (void)state;
    mm_yaml_doc_t *doc = load("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\nz: *b\n");
    mm_yaml_node_t *d = mm_yaml_map_get(doc->root, "d");
    assert_string_equal(mm_yaml_map_get(d, "x")->str, "1");
    assert_string_equal(mm_yaml_map_get(d, "y")->str, "3");
    assert_ptr_equal(mm_yaml_map_get(doc->root, "z"), mm_yaml_map_get(doc->root, "base"));
    assert_true(mm_yaml_is_null(mm_yaml_map_get(doc->root, "missing")));
    mm_yaml_free(doc);
}

static void test_errors(void **state)
{
    (void)state;
    mm_yaml_doc_t *doc = NULL;
    mm_diag_t d;
    const char *bad = "a: 1\nb: [1, 2\n";
    assert_int_equal(mm_yaml_load_buf("bad.yml", bad, strlen(bad), &doc, &d), -MM_EPARSE);
    assert_null(doc);
    assert_string_equal(d.file, "bad.yml");
    assert_true(d.line >= 2);
    const char *dup = "a: 1\nb: 2\na: 3\n";
    assert_int_equal(mm_yaml_load_buf("dup.yml", dup, strlen(dup), &doc, &d), -MM_EPARSE);
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 1);
    char buf[600];
    mm_diag_format(&d, buf, sizeof buf);
    assert_non_null(strstr(buf, "dup.yml:3:1: "));
    assert_true(mm_yaml_load_file("/nonexistent/x.yml", &doc, &d) < 0);
    assert_int_equal(d.line, 0);
    /* An empty document has no root. */
    assert_int_equal(mm_yaml_load_buf("e.yml", "", 0, &doc, &d), 0);
    assert_null(doc->root);
    mm_yaml_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_block_and_quoted_locate),
        cmocka_unit_test(test_anchor_merge),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
