/* GET /api/status (the reference's shape plus heartbeats), GET /api/health
 * (the latest health report), and the Prometheus-style probes /-/healthy and
 * /-/ready (ready once a metric batch or another service's state arrived). */
#include "gateway_http.h"

#include <string.h>

#define STATUS_CACHE_MS 250

static int on_status(gw_handler_t *h, h2o_req_t *req)
{
    gateway_io_t *io = h->io;
    if (!gw_path_is(req, "/api/status")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    int64_t now = mm_clock_now_ms(io->clock);
    if (io->status_gen != gateway_generation(io->gw) || now - io->status_at_ms >= STATUS_CACHE_MS ||
        now < io->status_at_ms || io->status_cache.len == 0) {
        gateway_buf_reset(&io->status_cache);
        gateway_render_status(io->gw, &io->status_cache);
        io->status_gen = gateway_generation(io->gw);
        io->status_at_ms = now;
    }
    gw_respond_json(h, req, 200, &io->status_cache);
    if (gateway_buf_failed(&io->status_cache))
        gateway_buf_reset(&io->status_cache);
    return 0;
}

static int on_health(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_path_is(req, "/api/health")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_health(h->io->gw, &b);
    gw_respond_json(h, req, 200, &b);
    gateway_buf_fini(&b);
    return 0;
}

static int on_healthy(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_path_is(req, "/-/healthy")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    gw_respond(h, req, 200, "text/plain; charset=utf-8", H2O_STRLIT("memmon gateway is Healthy.\n"));
    return 0;
}

static int on_ready(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_path_is(req, "/-/ready")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    if (gateway_ready(h->io->gw))
        gw_respond(h, req, 200, "text/plain; charset=utf-8", H2O_STRLIT("memmon gateway is Ready.\n"));
    else
        gw_respond(h, req, 503, "text/plain; charset=utf-8",
                   H2O_STRLIT("memmon gateway is not ready: no metrics or state from the bus yet.\n"));
    return 0;
}

void http_status_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/status", "status", on_status);
    gw_register(io, host, "/api/health", "health", on_health);
    gw_register(io, host, "/-/healthy", "healthy", on_healthy);
    gw_register(io, host, "/-/ready", "ready", on_ready);
}
