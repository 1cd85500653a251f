/* libFuzzer harnesses for what the gateway parses from outside, one binary
 * per FUZZ_TARGET:
 *   1 ingest: the input is a POST /api/ingest body; a batch that parses is
 *     applied to a fresh view, which is then rendered in every format;
 *   2 bus: the input is a sequence of bus frames (topic, NUL, protobuf
 *     envelope), each prefixed by a 2-byte little-endian length; each frame
 *     that decodes is applied, then the view is rendered;
 *   3 ws: the input is WebSocket client messages, one per line, handled by
 *     one client's filter; metric frames are then rendered through it.
 * Any crash, sanitizer report or leak fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "gateway_buf.h"
#include "gateway_ingest.h"
#include "mm_bus.h"
#include "mm_clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000000LL

static gateway_t *view(mm_clock_t *clk)
{
    mm_clock_fake_init(clk, T0);
    gateway_opts_t o = {.instance = "fuzz-gateway", .event_ring = 8, .max_series = 2000};
    gateway_t *gw = NULL;
    if (gateway_new(&o, clk, &gw) != 0)
        abort();
    return gw;
}

static void render_all(gateway_t *gw)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_exposition(gw, &b);
    gateway_render_own_exposition(gw, &b);
    gateway_render_status(gw, &b);
    gateway_render_health(gw, &b);
    gateway_render_metrics_current(gw, &b);
    gateway_metrics_query_t q = {.name_prefix = NULL, .reference = true, .labelled = true};
    gateway_render_metrics_json(gw, &b, &q);
    gateway_buf_fini(&b);
}

static void apply_batch(gateway_t *gw, Mm__MetricBatch *batch)
{
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = (char *)"gateway";
    env.instance = (char *)"fuzz-gateway";
    env.family = (char *)"metric";
    env.time_ms = T0;
    env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = batch;
    gateway_on_envelope(gw, "metric.ingest", &env);
}

static void fuzz_ingest(const uint8_t *data, size_t size)
{
    gateway_ingest_t *in = NULL;
    gateway_error_t err;
    if (gateway_ingest_parse((const char *)data, size, T0, &in, &err) != 0)
        return;
    mm_clock_t clk;
    gateway_t *gw = view(&clk);
    apply_batch(gw, gateway_ingest_batch_mut(in));
    render_all(gw);
    gateway_free(gw);
    gateway_ingest_free(in);
}

static void fuzz_bus(const uint8_t *data, size_t size)
{
    mm_clock_t clk;
    gateway_t *gw = view(&clk);
    while (size >= 2) {
        size_t n = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        /* An exact-size copy, so reading past the frame is caught. */
        uint8_t *frame = malloc(n ? n : 1);
        memcpy(frame, data, n);
        const char *topic;
        Mm__Envelope *env;
        if (mm_bus_decode(frame, n, &topic, &env) == 0) {
            gateway_on_envelope(gw, topic, env);
            mm__envelope__free_unpacked(env, NULL);
        }
        free(frame);
        data += n;
        size -= n;
        mm_clock_fake_advance(&clk, 1000);
    }
    render_all(gw);
    gateway_free(gw);
}

static void fuzz_ws(const uint8_t *data, size_t size)
{
    mm_clock_t clk;
    gateway_t *gw = view(&clk);
    gateway_ws_filter_t f;
    gateway_ws_filter_init(&f);
    const uint8_t *end = data + size;
    while (data < end) {
        const uint8_t *nl = memchr(data, '\n', (size_t)(end - data));
        size_t n = (size_t)((nl ? nl : end) - data);
        char *msg = malloc(n ? n : 1);
        memcpy(msg, data, n);
        int64_t resume = -1;
        gateway_buf_t reply;
        gateway_buf_init(&reply);
        gateway_ws_client_message(gw, &f, msg, n, &resume, &reply);
        gateway_buf_fini(&reply);
        free(msg);
        data += n + (nl ? 1 : 0);
    }
    /* A batch through the client's filter. */
    Mm__Series s = MM__SERIES__INIT;
    double v = 1;
    int64_t t = T0;
    s.name = (char *)"memmimic_cache_hits_total";
    s.type = MM__METRIC_TYPE__COUNTER;
    s.values = &v;
    s.n_values = 1;
    s.times_ms = &t;
    s.n_times_ms = 1;
    Mm__Series *sp = &s;
    Mm__MetricBatch batch = MM__METRIC_BATCH__INIT;
    batch.series = &sp;
    batch.n_series = 1;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.time_ms = T0;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_metric_frame(gw, &f, &env, &batch, &b);
    gateway_render_status_frame(gw, &b);
    gateway_buf_fini(&b);
    gateway_ws_filter_fini(&f);
    gateway_free(gw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    switch (FUZZ_TARGET) {
    case 1: fuzz_ingest(data, size); break;
    case 2: fuzz_bus(data, size); break;
    default: fuzz_ws(data, size); break;
    }
    return 0;
}
