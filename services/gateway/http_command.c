/* HTTP requests answered by another service: the request becomes a
 * cmd.<service> command with a correlation id, and the HTTP answer is sent
 * when reply.<gateway instance> carries the same id (CONTRACTS §2). Time-outs
 * (504), refusals (4xx relayed), and answers that are not JSON (502) are
 * handled here once for every such endpoint. */
#include "gateway_http.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct gw_command {
    gw_handler_t *h;
    h2o_req_t *req;
    gateway_pending_t *pending;     /* NULL once answered */
    const char *service;
    const char *verb;
    gw_command_ok_cb on_ok;
    void *data;
};

/* The request went away (client closed, or the server stops): forget it. */
static void on_dispose(void *p)
{
    gw_command_t *c = p;
    if (c->pending) {
        gateway_pending_cancel(c->h->io->gw, c->pending);
        c->pending = NULL;
    }
}

static void on_reply(void *data, const Mm__Reply *r)
{
    gw_command_t *c = data;
    gw_handler_t *h = c->h;
    c->pending = NULL;
    if (!r) {
        if (h->io->stopping)
            gw_error(h, c->req, 503, "shutting_down", "the gateway is stopping");
        else
            gw_error(h, c->req, 504, "timeout", "the %s service did not answer %s within %lld ms",
                     c->service, c->verb, (long long)h->io->command_timeout_ms);
        return;
    }
    if (r->status < 200 || r->status >= 300) {
        int status = r->status >= 400 && r->status < 500 ? r->status : 502;
        gw_error(h, c->req, status,
                 r->error_code && *r->error_code ? r->error_code : "service_error", "%s: %s",
                 c->service, r->error_message && *r->error_message ? r->error_message : "error");
        return;
    }
    /* Never forward what is not JSON. */
    const char *result = r->result_json && *r->result_json ? r->result_json : "{}";
    json_error_t jerr;
    json_t *j = json_loads(result, JSON_DECODE_ANY, &jerr);
    if (!j) {
        gw_error(h, c->req, 502, "bad_reply", "the %s service's answer is not JSON: %s",
                 c->service, jerr.text);
        return;
    }
    json_decref(j);
    c->on_ok(h, c->req, (int)r->status, result, c->data);
}

void gw_command_send(gw_handler_t *h, h2o_req_t *req, const char *service, const char *verb,
                     const char *args_json, gw_command_ok_cb on_ok, void *data)
{
    gateway_io_t *io = h->io;
    if (!io->publish) {
        gw_error(h, req, 503, "bus_unavailable", "the gateway has no bus connection");
        return;
    }
    gw_command_t *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_dispose);
    *c = (gw_command_t){h, req, NULL, service, verb, on_ok, data};
    char id[33];
    gw_new_id(id);
    int64_t deadline = mm_clock_now_ms(io->clock) + io->command_timeout_ms;
    if (gateway_pending_add(io->gw, id, deadline, on_reply, c, &c->pending) < 0) {
        gw_error(h, req, 503, "busy", "could not register the command");
        return;
    }
    char topic[64];
    snprintf(topic, sizeof topic, "cmd.%s", service);
    Mm__Command cmd = MM__COMMAND__INIT;
    cmd.id = id;
    cmd.requester = io->instance;
    cmd.deadline_ms = deadline;
    cmd.verb = (char *)verb;
    cmd.args_json = (char *)(args_json ? args_json : "{}");
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_COMMAND;
    env.command = &cmd;
    int r = io->publish(io->publish_data, topic, &env);
    if (r < 0) {
        gateway_pending_cancel(io->gw, c->pending);
        c->pending = NULL;
        gw_error(h, req, 503, "bus_unavailable", "the command could not be sent: %s", strerror(-r));
    }
}
