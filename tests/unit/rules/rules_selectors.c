/* Test helper for the agreement test (agreement.py): reads PromQL
 * expressions, one JSON string per line on stdin, and prints for each one a
 * JSON line with the selectors it reads ([{"metric": ..., "matchers":
 * [[name, op, value], ...], "range_ms": ...}]) or {"error": ...}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_promql.h"

int main(void)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *in = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &jerr);
        json_t *out = json_object();
        if (!in || !json_is_string(in)) {
            json_object_set_new(out, "error", json_string("bad input line"));
        } else {
            const char *text = json_string_value(in);
            mm_promql_expr_t *e = NULL;
            mm_promql_error_t pe;
            memset(&pe, 0, sizeof pe);
            if (mm_promql_parse(text, strlen(text), &e, &pe) < 0) {
                json_object_set_new(out, "error", json_string(pe.msg));
            } else {
                const mm_promql_selector_t *sel;
                size_t ns = mm_promql_expr_selectors(e, &sel);
                json_t *arr = json_array();
                for (size_t i = 0; i < ns; i++) {
                    json_t *s = json_object();
                    json_object_set_new(s, "metric", sel[i].metric ? json_string(sel[i].metric)
                                                                   : json_null());
                    json_object_set_new(s, "range_ms", json_integer(sel[i].range_ms));
                    json_t *ms = json_array();
                    for (size_t k = 0; k < sel[i].n_matchers; k++) {
                        const mm_match_t *m = &sel[i].matchers[k];
                        json_array_append_new(ms, json_pack("[sss]", m->name, ops[m->type],
                                                            m->value));
                    }
                    json_object_set_new(s, "matchers", ms);
                    json_array_append_new(arr, s);
                }
                json_object_set_new(out, "selectors", arr);
                mm_promql_expr_free(e);
            }
        }
        char *txt = json_dumps(out, JSON_COMPACT);
        if (txt) {
            puts(txt);
            free(txt);
        }
        fflush(stdout);
        json_decref(out);
        json_decref(in);
    }
    free(line);
    return 0;
}
