/* libFuzzer harness for the rule-file loader: every input is loaded as a
 * rule file; when it loads, its groups are evaluated a few times over a small
 * store, the state is exported and imported into a reloaded copy, and state
 * is carried over. Any crash, sanitizer report, leak or slow input fails. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "mm_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mm_rules_opts_t o = {.max_samples = 100000};
    mm_rules_t *rs = mm_rules_new(&o);
    mm_rules_diags_t d = {0};
    if (!rs)
        return 0;
    int n = mm_rules_load_buf(rs, "fuzz.yml", (const char *)data, size, &d);
    mm_rules_diags_fini(&d);
    if (n >= 0 && n <= 50) {
        mm_promql_store_t *s = mm_promql_store_new();
        mm_label_t l[] = {{"__name__", "up"}, {"job", "a"}, {"instance", "i"}};
        for (int t = 0; t < 4 && s; t++) {
            mm_promql_store_append(s, l, 3, t * 60000, (double)(t % 2));
            for (size_t g = 0; g < mm_rules_group_count(rs); g++) {
                mm_rules_group_t *grp = mm_rules_group_at(rs, g);
                mm_rules_group_eval(grp, s, t * 60000);
                for (size_t r = 0; r < mm_rules_group_rule_count(grp); r++) {
                    mm_rules_rule_t *rule = mm_rules_group_rule_at(grp, r);
                    if (mm_rules_rule_reads(rule, l, 3))
                        mm_rules_rule_eval_extra(rule, s, t * 60000 + 1000);
                }
            }
        }
        char *buf = NULL;
        size_t len = 0;
        mm_rules_t *rs2 = mm_rules_new(&o);
        if (rs2 && mm_rules_load_buf(rs2, "fuzz.yml", (const char *)data, size, NULL) >= 0 &&
            mm_rules_state_export(rs, &buf, &len) == 0) {
            mm_rules_state_import(rs2, buf, len);
            mm_rules_carry_state(rs2, rs);
        }
        free(buf);
        mm_rules_free(rs2);
        mm_promql_store_free(s);
    }
    mm_rules_free(rs);
    return 0;
}
