/* libFuzzer harness: StatsD datagrams through the parser and the
 * aggregator (small limits and TTL, so expiry and limits run too). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "statsd.h"

static void sink_emit(collector_sink_t *s, const collector_sample_t *smp)
{
    (void)s;
    /* Touch everything a real sink reads. */
    volatile size_t n = strlen(smp->name ? smp->name : "");
    for (size_t i = 0; i < smp->n_labels; i++)
        n += strlen(smp->labels[i].name) + strlen(smp->labels[i].value);
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const double b[] = {1, 10, 100};
    statsd_buckets_t rules[] = {{"t*", b, 3}};
    statsd_opts_t o = {.max_series = 50, .max_series_per_name = 10, .ttl_ms = 2000, .buckets = rules, .n_buckets = 1};
    collector_statsd_t *st = collector_statsd_new(&o);
    collector_sink_t sink = {.emit = sink_emit};
    /* Split the input into datagrams at 0x00 bytes, advancing time. */
    int64_t t = 1000;
    const uint8_t *p = data, *end = data + size;
    while (p <= end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z)
            z = end;
        collector_statsd_ingest(st, (const char *)p, (size_t)(z - p), t);
        statsd_line_t l;
        collector_statsd_parse_line((const char *)p, (size_t)(z - p), &l);
        t += 700;
        collector_statsd_flush(st, t, &sink);
        p = z + 1;
    }
    collector_statsd_flush(st, t + 10000, &sink);
    collector_statsd_free(st);
    return 0;
}
