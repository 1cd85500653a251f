/* libFuzzer harness: collector.yml loading (YAML tree + mm_cfg tables +
 * custom list parsers), and the history chunk decoder on the same bytes. */
#include <stddef.h>
#include <stdint.h>

#include "collector_config.h"
#include "history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    collector_config_t *c;
    mm_diag_t d;
    if (collector_config_load_buf("collector.yml", (const char *)data, size, &c, &d) == 0)
        collector_config_free(c);
    collector_history_chunk_decode(data, size, (uint32_t)(size % 97), 1000, NULL, NULL);
    return 0;
}
