/* GET /api/metrics (JSON: the reference's doubly nested shape plus a labelled
 * form; ?form=reference|labelled|both, ?name=prefix) and the text exposition
 * at /api/metrics/prometheus and /metrics. The exposition of the view is
 * rendered once per change of the view into a refcounted buffer that every
 * response shares without copying; the gateway's own series follow it. */
#include "gateway_http.h"
#include "mm_labels.h"

#include <stdlib.h>
#include <string.h>

#define EXPO_TYPE "text/plain; version=0.0.4; charset=utf-8"

static h2o_generator_t static_gen = { NULL, NULL };

/* Makes io->expo the exposition of the current generation. */
static int refresh_exposition(gateway_io_t *io)
{
    uint64_t gen = gateway_generation(io->gw);
    if (io->expo_valid && io->expo_gen == gen)
        return 0;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_exposition(io->gw, &b);
    if (gateway_buf_failed(&b)) {
        gateway_buf_fini(&b);
        return -1;
    }
    size_t len = b.len;
    char *shared = h2o_mem_alloc_shared(NULL, len + 1, NULL);
    if (len)
        memcpy(shared, b.data, len);
    gateway_buf_fini(&b);
    if (io->expo_valid)
        h2o_mem_release_shared(io->expo);
    io->expo = shared;
    io->expo_len = len;
    io->expo_gen = gen;
    io->expo_valid = true;
    return 0;
}

static int on_prometheus(gw_handler_t *h, h2o_req_t *req)
{
    gateway_io_t *io = h->io;
    if (!gw_path_is(req, "/metrics") && !gw_path_is(req, "/api/metrics/prometheus")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    if (refresh_exposition(io) < 0) {
        gw_error(h, req, 500, "out_of_memory", "the exposition could not be rendered");
        return 0;
    }
    /* Count first, so this very request shows in the own series. */
    gateway_count_request(io->gw, h->name, 200);
    gateway_buf_t own;
    gateway_buf_init(&own);
    gateway_render_own_exposition(io->gw, &own);
    size_t own_len = gateway_buf_failed(&own) ? 0 : own.len;
    char *own_copy = h2o_mem_alloc_pool(&req->pool, own_len + 1);
    if (own_len)
        memcpy(own_copy, own.data, own_len);
    gateway_buf_fini(&own);

    h2o_mem_link_shared(&req->pool, io->expo);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = io->expo_len + own_len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT(EXPO_TYPE));
    gw_common_headers(req, false);
    h2o_iovec_t iov[2] = { h2o_iovec_init(io->expo, io->expo_len), h2o_iovec_init(own_copy, own_len) };
    h2o_start_response(req, &static_gen);
    h2o_send(req, iov, 2, H2O_SEND_STATE_FINAL);
    return 0;
}

static int on_metrics(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_path_is(req, "/api/metrics")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    gateway_metrics_query_t q = { NULL, true, true };
    size_t len;
    const char *form = gw_query(req, "form", &len);
    if (form) {
        if (h2o_memis(form, len, H2O_STRLIT("reference")))
            q.labelled = false;
        else if (h2o_memis(form, len, H2O_STRLIT("labelled")) || h2o_memis(form, len, H2O_STRLIT("labeled")))
            q.reference = false;
        else if (!h2o_memis(form, len, H2O_STRLIT("both"))) {
            gw_error(h, req, 400, "bad_parameter", "form must be reference, labelled or both");
            return 0;
        }
    }
    char prefix[256];
    const char *name = gw_query(req, "name", &len);
    if (name) {
        /* Metric names need no percent-decoding; anything else is refused. */
        if (len >= sizeof(prefix) || (len && !mm_metric_name_valid(name, len))) {
            gw_error(h, req, 400, "bad_parameter", "name must be a metric name prefix [a-zA-Z_:][a-zA-Z0-9_:]*");
            return 0;
        }
        memcpy(prefix, name, len);
        prefix[len] = '\0';
        q.name_prefix = prefix;
    }
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_metrics_json(h->io->gw, &b, &q);
    gw_respond_json(h, req, 200, &b);
    gateway_buf_fini(&b);
    return 0;
}

void http_metrics_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/metrics/prometheus", "prometheus", on_prometheus);
    gw_register(io, host, "/api/metrics", "metrics", on_metrics);
    gw_register(io, host, "/metrics", "prometheus", on_prometheus);
}
