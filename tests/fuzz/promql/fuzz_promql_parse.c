/* libFuzzer harness for the PromQL parser: any input must parse or be
 * refused cleanly; what parses must print to text that parses to the same
 * canonical form, and must evaluate (or fail cleanly) within a sample budget
 * against a small fixed store. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql.h"

static mm_promql_store_t *store;

static void build_store(void)
{
    static const char *jobs[] = {"api", "db", "web"};
    store = mm_promql_store_new();
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 40; i++) {
            mm_label_t a[3] = {{"__name__", "x"}, {"job", jobs[j]}, {"le", i % 2 ? "0.5" : "+Inf"}};
            mm_label_t b[2] = {{"__name__", "up"}, {"job", jobs[j]}};
            mm_promql_store_append(store, a, 3, (int64_t)i * 15000, (double)(i * (j + 1)));
            mm_promql_store_append(store, b, 2, (int64_t)i * 15000, i == 30 ? mm_stale_nan() : 1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!store)
        build_store();
    mm_promql_expr_t *e = NULL, *e2 = NULL;
    mm_promql_error_t err;
    if (mm_promql_parse((const char *)data, size, &e, &err) < 0) {
        if (err.offset > size)
            abort();
        return 0;
    }
    size_t n = mm_promql_expr_print(e, NULL, 0);
    char *a = malloc(n + 1), *b = NULL;
    mm_promql_expr_print(e, a, n + 1);
    if (mm_promql_parse(a, n, &e2, &err) < 0) {
        fprintf(stderr, "printed form does not parse: %s: %s\n", a, err.msg);
        abort();
    }
    size_t n2 = mm_promql_expr_print(e2, NULL, 0);
    b = malloc(n2 + 1);
    mm_promql_expr_print(e2, b, n2 + 1);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "printing is not stable:\n%s\n%s\n", a, b);
        abort();
    }
    const mm_promql_selector_t *sels;
    (void)mm_promql_expr_selectors(e, &sels);
    (void)mm_promql_expr_lookback(e, 0);
    mm_promql_opts_t o = {.max_samples = 20000, .subquery_step_ms = 15000};
    mm_promql_result_t *r = NULL;
    if (mm_promql_eval(e, store, 600000, &o, &r, &err) == 0)
        mm_promql_result_free(r);
    free(a);
    free(b);
    mm_promql_expr_free(e);
    mm_promql_expr_free(e2);
    return 0;
}
