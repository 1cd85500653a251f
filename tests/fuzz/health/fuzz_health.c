/* libFuzzer harnesses for health: FUZZ_TARGET 1 loads the input as health.yml
 * (every error must come back as a diagnostic, never a crash or a leak);
 * 2 parses it as Nagios plugin output with perfdata. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "health_config.h"
#include "health_nagios.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if FUZZ_TARGET == 1
    health_config_t *cfg = NULL;
    mm_diag_t d;
    memset(&d, 0, sizeof(d));
    if (health_config_load_buf("health.yml", (const char *)data, size, "/tmp/x.db", &cfg, &d) == 0)
        health_config_free(cfg);
#else
    char msg[256];
    health_perf_t perf[8];
    size_t bad;
    health_nagios_parse((const char *)data, size, msg, sizeof(msg), perf, 8, &bad);
#endif
    return 0;
}
