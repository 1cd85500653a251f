/* libFuzzer harness: scrape bodies through the text-format parser and the
 * scrape handling (labels, staleness across two scrapes). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "promtext.h"
#include "scrape.h"

static void sink_emit(collector_sink_t *s, const collector_sample_t *smp)
{
    (void)s;
    volatile size_t n = strlen(smp->name ? smp->name : "");
    for (size_t i = 0; i < smp->n_labels; i++)
        n += strlen(smp->labels[i].name) + strlen(smp->labels[i].value);
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    promtext_result_t r;
    unsigned line;
    char err[128];
    promtext_limits_t lim = {.max_samples = 2000};
    if (collector_promtext_parse((const char *)data, size, &lim, &r, &line, err, sizeof err) == 0)
        collector_promtext_fini(&r);
    scrape_target_t t;
    collector_scrape_target_init(&t, "job", "inst:1", 2000);
    collector_sink_t sink = {.emit = sink_emit};
    size_t half = size / 2;
    collector_scrape_apply(&t, (const char *)data, size, NULL, 0.1, 1000, &sink);
    collector_scrape_apply(&t, (const char *)data, half, NULL, 0.1, 2000, &sink);
    collector_scrape_target_end(&t, 3000, &sink);
    collector_scrape_target_fini(&t);
    return 0;
}
