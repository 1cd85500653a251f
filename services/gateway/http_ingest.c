/* POST /api/ingest: pushed JSON samples become a MetricBatch on
 * metric.ingest (the collector stores them; the gateway sees them come back
 * like any other batch). Needs the bearer token: 401 without one, 403 with a
 * wrong one. */
#include "gateway_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gateway_ingest.h"

#define INGEST_CHUNK_BYTES (200 * 1024)

static int on_ingest(gw_handler_t *h, h2o_req_t *req)
{
    gateway_io_t *io = h->io;
    if (!gw_path_is(req, "/api/ingest")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_write(h, req, "with a JSON body"))
        return 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i >= 0) {
        h2o_iovec_t ct = req->headers.entries[i].value;
        size_t n = strlen("application/json");
        if (ct.len < n || !h2o_lcstris(ct.base, n, "application/json", n) ||
            (ct.len > n && ct.base[n] != ';' && ct.base[n] != ' ')) {
            gw_error(h, req, 415, "unsupported_media_type", "send Content-Type: application/json");
            return 0;
        }
    }
    if (!req->entity.base || req->entity.len == 0) {
        gw_error(h, req, 400, "bad_request", "the body is empty; send {\"samples\": [...]}");
        return 0;
    }
    if (req->entity.len > io->max_body) {
        gw_error(h, req, 413, "too_large", "the body exceeds %zu bytes", io->max_body);
        return 0;
    }
    gateway_ingest_t *in;
    gateway_error_t err;
    int r = gateway_ingest_parse(req->entity.base, req->entity.len, mm_clock_now_ms(io->clock), &in, &err);
    if (r == -EINVAL) {
        gw_error(h, req, err.status, err.code, "%s", err.message);
        return 0;
    }
    if (r < 0) {
        gw_error(h, req, 503, "out_of_memory", "the samples could not be parsed");
        return 0;
    }
    size_t n = gateway_ingest_batch(in)->n_series;
    if (!io->publish) {
        gateway_ingest_free(in);
        gw_error(h, req, 503, "bus_unavailable", "the gateway has no bus connection");
        return 0;
    }
    /* CONTRACTS.md §1: no bus message above 256 KiB; a big push goes out
     * as several batches. */
    Mm__MetricBatch *all = gateway_ingest_batch_mut(in);
    size_t start = 0;
    r = 0;
    while (start < all->n_series && r == 0) {
        size_t end = start, bytes = 0;
        while (end < all->n_series) {
            size_t sz = mm__series__get_packed_size(all->series[end]) + 8;
            if (end > start && bytes + sz > INGEST_CHUNK_BYTES)
                break;
            bytes += sz;
            end++;
        }
        Mm__MetricBatch chunk = MM__METRIC_BATCH__INIT;
        chunk.n_series = end - start;
        chunk.series = all->series + start;
        Mm__Envelope env = MM__ENVELOPE__INIT;
        env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
        env.metrics = &chunk;
        r = io->publish(io->publish_data, "metric.ingest", &env);
        start = end;
    }
    gateway_ingest_free(in);
    if (r < 0) {
        gw_error(h, req, r == -EMSGSIZE ? 413 : 503, r == -EMSGSIZE ? "too_large" : "bus_unavailable",
                 "the samples could not be sent on the bus: %s", strerror(-r));
        return 0;
    }
    char body[64];
    int len = snprintf(body, sizeof(body), "{\"accepted\":%zu}", n);
    gw_respond(h, req, 202, "application/json", body, (size_t)len);
    return 0;
}

void http_ingest_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/ingest", "ingest", on_ingest);
}
