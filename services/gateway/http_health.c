/* POST /api/health/run (token): runs health checks now. The body, optional,
 * is {"checks": ["name", ...]} (none or empty: all). The gateway sends a
 * cmd.health "health.run" command and relays the health service's answer:
 * 202 with {"id", "checks", "topic"} at once; the results then arrive as an
 * ordinary health report (GET /api/health, the WebSocket). No answer by the
 * deadline → 504. */
#include "gateway_http.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "gateway_json.h"

#define MAX_CHECKS 1000

typedef struct {
    gw_handler_t *h;
    h2o_req_t *req;
    gateway_pending_t *pending;     /* NULL once answered */
} run_ctx_t;

static void on_ctx_dispose(void *p)
{
    run_ctx_t *ctx = p;
    if (ctx->pending) {
        gateway_pending_cancel(ctx->h->io->gw, ctx->pending);
        ctx->pending = NULL;
    }
}

static void on_reply(void *data, const Mm__Reply *r)
{
    run_ctx_t *ctx = data;
    gw_handler_t *h = ctx->h;
    ctx->pending = NULL;
    if (!r) {
        if (h->io->stopping)
            gw_error(h, ctx->req, 503, "shutting_down", "the gateway is stopping");
        else
            gw_error(h, ctx->req, 504, "timeout",
                     "the health service did not answer health.run within %lld ms",
                     (long long)h->io->command_timeout_ms);
        return;
    }
    if (r->status < 200 || r->status >= 300) {
        int status = r->status >= 400 && r->status < 500 ? r->status : 502;
        gw_error(h, ctx->req, status,
                 r->error_code && *r->error_code ? r->error_code : "health_error", "health: %s",
                 r->error_message && *r->error_message ? r->error_message : "error");
        return;
    }
    const char *result = r->result_json && *r->result_json ? r->result_json : "{}";
    json_error_t jerr;
    json_t *j = json_loads(result, JSON_DECODE_ANY, &jerr);
    if (!j) {
        gw_error(h, ctx->req, 502, "bad_reply", "the health service's answer is not JSON: %s",
                 jerr.text);
        return;
    }
    json_decref(j);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_buf_append(&b, result, strlen(result));
    gw_respond_json(h, ctx->req, r->status, &b);
    gateway_buf_fini(&b);
}

/* Checks the body and writes the command's args_json into args.
 * Returns false after answering 400. */
static bool build_args(gw_handler_t *h, h2o_req_t *req, gateway_buf_t *args)
{
    json_t *body = NULL;
    if (req->entity.len > 0) {
        json_error_t jerr;
        body = json_loadb(req->entity.base, req->entity.len, 0, &jerr);
        if (!body || !json_is_object(body)) {
            json_decref(body);
            gw_error(h, req, 400, "bad_json", "the body must be a JSON object like "
                     "{\"checks\": [\"database\"]}");
            return false;
        }
    }
    json_t *checks = body ? json_object_get(body, "checks") : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "checks") != 0) {
            gw_error(h, req, 400, "bad_field", "unknown field \"%s\" (expected \"checks\")", key);
            json_decref(body);
            return false;
        }
    }
    if (checks && (!json_is_array(checks) || json_array_size(checks) > MAX_CHECKS)) {
        gw_error(h, req, 400, "bad_field", "checks must be a list of at most %d names", MAX_CHECKS);
        json_decref(body);
        return false;
    }
    gateway_jw_t w;
    gateway_jw_init(&w, args);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "checks");
    gateway_jw_arr_begin(&w);
    size_t i;
    json_array_foreach(checks, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200) {
            gw_error(h, req, 400, "bad_field", "checks[%zu] must be a check name", i);
            json_decref(body);
            return false;
        }
        gateway_jw_str(&w, json_string_value(v));
    }
    gateway_jw_arr_end(&w);
    gateway_jw_obj_end(&w);
    json_decref(body);
    return true;
}

static int on_run(gw_handler_t *h, h2o_req_t *req)
{
    gateway_io_t *io = h->io;
    if (!gw_path_is(req, "/api/health/run")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_write(h, req, "with an optional JSON body {\"checks\": [...]}"))
        return 0;
    if (req->entity.len > io->max_body) {
        gw_error(h, req, 413, "too_large", "the body exceeds %zu bytes", io->max_body);
        return 0;
    }
    gateway_buf_t args;
    gateway_buf_init(&args);
    if (!build_args(h, req, &args)) {
        gateway_buf_fini(&args);
        return 0;
    }
    if (!io->publish) {
        gateway_buf_fini(&args);
        gw_error(h, req, 503, "bus_unavailable", "the gateway has no bus connection");
        return 0;
    }
    run_ctx_t *ctx = h2o_mem_alloc_shared(&req->pool, sizeof(*ctx), on_ctx_dispose);
    memset(ctx, 0, sizeof(*ctx));
    ctx->h = h;
    ctx->req = req;
    char id[33];
    gw_new_id(id);
    int64_t deadline = mm_clock_now_ms(io->clock) + io->command_timeout_ms;
    if (gateway_pending_add(io->gw, id, deadline, on_reply, ctx, &ctx->pending) < 0) {
        gateway_buf_fini(&args);
        gw_error(h, req, 503, "busy", "could not register the command");
        return 0;
    }
    Mm__Command cmd = MM__COMMAND__INIT;
    cmd.id = id;
    cmd.requester = io->instance;
    cmd.deadline_ms = deadline;
    cmd.verb = (char *)"health.run";
    cmd.args_json = args.data ? args.data : (char *)"{}";
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_COMMAND;
    env.command = &cmd;
    int r = gateway_buf_failed(&args) ? -ENOMEM : io->publish(io->publish_data, "cmd.health", &env);
    gateway_buf_fini(&args);
    if (r < 0) {
        gateway_pending_cancel(io->gw, ctx->pending);
        ctx->pending = NULL;
        gw_error(h, req, 503, "bus_unavailable", "the command could not be sent: %s", strerror(-r));
    }
    return 0;
}

void http_health_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/health/run", "health_run", on_run);
}
