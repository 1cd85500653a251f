/* POST /api/health/run (token): runs health checks now. The body, optional,
 * is {"checks": ["name", ...]} (none or empty: all). The gateway sends a
 * cmd.health "health.run" command and relays the health service's answer:
 * 202 with {"id", "checks", "topic"} at once; the results then arrive as an
 * ordinary health report (GET /api/health, the WebSocket). No answer by the
 * deadline → 504. */
#include "gateway_http.h"

#include <jansson.h>
#include <string.h>

#include "gateway_json.h"

#define MAX_CHECKS 1000

static void on_ok(gw_handler_t *h, h2o_req_t *req, int status, const char *result, void *data)
{
    (void)data;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_buf_append(&b, result, strlen(result));
    gw_respond_json(h, req, status, &b);
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
    if (gateway_buf_failed(&args))
        gw_error(h, req, 503, "out_of_memory", "the command could not be built");
    else
        gw_command_send(h, req, "health", "health.run", args.data, on_ok, NULL);
    gateway_buf_fini(&args);
    return 0;
}

void http_health_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/health/run", "health_run", on_run);
}
