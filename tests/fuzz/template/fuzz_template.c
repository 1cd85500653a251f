/* libFuzzer harness for the alert template engine: every input is parsed as
 * an alert annotation and, when it parses, executed against fixed alert data
 * with a query callback, under step and output limits. Any crash, sanitizer
 * report, leak or slow input is a failure. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mm_tmpl.h"

static int on_query(void *user, const char *q, int64_t time_ms, mm_tmpl_result_t *res,
                    char *errbuf, size_t errcap)
{
    (void)user;
    (void)time_ms;
    if (q[0] == 0) {
        snprintf(errbuf, errcap, "empty query");
        return -22;
    }
    size_t n = strlen(q) % 4;
    for (size_t i = 0; i < n; i++) {
        char v[8];
        snprintf(v, sizeof v, "v%zu", n - i);
        mm_label_t l[] = {{"__name__", "m"}, {"k", v}, {"__value__", q}};
        if (mm_tmpl_result_add(res, l, 3, (double)i * 1.5 - 1) != 0)
            return -12;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mm_label_t labels[] = {{"__name__", "up"}, {"job", "api"}, {"instance", "h:9"}};
    static const mm_label_t ext[] = {{"cluster", "c1"}};
    mm_tmpl_data_t d;
    memset(&d, 0, sizeof d);
    d.labels = labels;
    d.nlabels = 3;
    d.external_labels = ext;
    d.nexternal_labels = 1;
    d.external_url = "http://x:9090/p";
    d.value = size % 2 ? 1234.5 : -0.001;
    d.time_ms = 1700000000000;
    d.query = on_query;
    d.max_steps = 100000;
    d.max_output = 65536;
    d.max_memory = 4 << 20;

    mm_tmpl_buf_t out;
    mm_tmpl_buf_init(&out);
    mm_tmpl_expand_alert("F", (const char *)data, size, &d, &out);
    mm_tmpl_buf_fini(&out);

    /* The plain entry point too (no prelude), and execution reuse. */
    mm_tmpl_t *t = NULL;
    mm_tmpl_err_t err;
    if (mm_tmpl_parse("f", (const char *)data, size, &t, &err) == 0) {
        mm_tmpl_exec(t, &d, &out, &err);
        mm_tmpl_exec(t, &d, &out, &err);
        mm_tmpl_free(t);
    }
    mm_tmpl_buf_fini(&out);
    return 0;
}
