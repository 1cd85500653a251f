/* libFuzzer harness for the unit-test-file loader and runner: the input is a
 * promtool unit-test file, optionally followed by a line "#---rules---" and
 * the rule file it tests (rule_files is ignored, so nothing is read from
 * disk). Evaluation steps and samples are bounded so every input is fast. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n#---rules---\n";
    const char *text = (const char *)data;
    const char *rules = NULL;
    size_t tlen = size, rlen = 0;
    for (size_t i = 0; i + sizeof sep - 1 <= size; i++)
        if (memcmp(text + i, sep, sizeof sep - 1) == 0) {
            tlen = i;
            rules = text + i + sizeof sep - 1;
            rlen = size - i - (sizeof sep - 1);
            break;
        }
    size_t failures;
    rules_unittest_buf(text, tlen, rules, rlen, 20000, &failures);
    return 0;
}
