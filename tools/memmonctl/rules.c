/* memmonctl rules: `check FILE...` validates rule files as `promtool check
 * rules` does, `test FILE...` runs promtool unit-test files with memmon's
 * rule engine; both print promtool's way and exit 1 on any failure. */
#include <stdio.h>
#include <string.h>

#include "memmonctl.h"
#include "mm_rules.h"

int memmonctl_rules(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[0], "check") != 0 && strcmp(argv[0], "test") != 0)) {
        fprintf(stderr, "usage: memmonctl rules check FILE...\n"
                        "       memmonctl rules test FILE...\n");
        return 2;
    }
    if (strcmp(argv[0], "check") == 0)
        return mm_rules_check_files(argv + 1, (size_t)argc - 1, stdout, stderr);
    return mm_rules_test_files(argv + 1, (size_t)argc - 1, stdout, stderr);
}
