/* GET /ws: the WebSocket stream (CONTRACTS.md §5). Frames are JSON
 * {"topic","seq","data"}. A client that sends nothing gets the status
 * snapshot every few seconds and every event; {"subscribe": [...]} narrows or
 * widens what it gets (raw metric updates only this way), {"resume": N}
 * replays events after N from the ring. Slow readers: at most ws_max_queued
 * frames wait per client (h2o keeps one frame in flight and wslay's queue is
 * unbounded); beyond that frames are dropped and counted, and a client that
 * keeps dropping is closed. */
#include "gateway_http.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#define MAX_DROPS_IN_A_ROW 1000

struct gw_ws {
    gateway_io_t *io;
    h2o_websocket_conn_t *conn;
    gateway_ws_filter_t filter;
    int64_t last_heard_ms;
    uint64_t drops_in_a_row;
    gw_ws_t *next, *prev;
};

static void unlink_client(gateway_io_t *io, gw_ws_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        io->ws = c->next;
    if (c->next)
        c->next->prev = c->prev;
    io->nws--;
    gateway_set_ws_clients(io->gw, io->nws);
}

static void close_client(gw_ws_t *c)
{
    gateway_io_t *io = c->io;
    unlink_client(io, c);
    h2o_websocket_close(c->conn);
    gateway_ws_filter_fini(&c->filter);
    free(c);
}

/* Queues a text frame (wslay copies it). Returns false when dropped. */
static bool queue(gw_ws_t *c, const char *data, size_t len)
{
    if (wslay_event_get_queued_msg_count(c->conn->ws_ctx) >= c->io->ws_max_queued) {
        gateway_count_ws_dropped(c->io->gw, 1);
        c->drops_in_a_row++;
        return false;
    }
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)data, len };
    if (wslay_event_queue_msg(c->conn->ws_ctx, &m) != 0) {
        gateway_count_ws_dropped(c->io->gw, 1);
        return false;
    }
    c->drops_in_a_row = 0;
    return true;
}

/* Writes what is queued. May close and free c (h2o calls on_msg with NULL on
 * a write error), so callers must not touch c afterwards. Before the 101
 * response is flushed conn->sock is NULL and h2o flushes by itself later. */
static void flush(gw_ws_t *c)
{
    if (c->drops_in_a_row > MAX_DROPS_IN_A_ROW) {
        close_client(c);
        return;
    }
    if (c->conn->sock)
        h2o_websocket_proceed(c->conn);
}

typedef struct {
    gw_ws_t *c;
} replay_ctx_t;

static void replay_one(void *data, const gateway_event_t *ev)
{
    gw_ws_t *c = ((replay_ctx_t *)data)->c;
    if (gateway_ws_filter_match(&c->filter, ev->topic))
        queue(c, ev->frame, ev->len);
}

static void send_status(gw_ws_t *c)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_status_frame(c->io->gw, &b);
    if (!gateway_buf_failed(&b) && b.len)
        queue(c, b.data, b.len);
    gateway_buf_fini(&b);
}

static void on_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    gw_ws_t *c = conn->data;
    if (!arg) {
        close_client(c);
        return;
    }
    c->last_heard_ms = mm_clock_now_ms(c->io->clock);
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;     /* ping, pong and close are wslay's business */
    gateway_buf_t reply;
    gateway_buf_init(&reply);
    int64_t resume = -1;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        static const char err[] = "{\"topic\":\"error\",\"seq\":0,\"data\":{\"code\":\"bad_message\","
                                  "\"message\":\"send JSON text frames\"}}";
        gateway_buf_append(&reply, err, sizeof(err) - 1);
    } else {
        gateway_ws_client_message(c->io->gw, &c->filter, (const char *)arg->msg, arg->msg_length,
                                  &resume, &reply);
    }
    if (reply.len)
        queue(c, reply.data, reply.len);
    gateway_buf_fini(&reply);
    if (resume >= 0) {
        replay_ctx_t rc = { c };
        uint64_t missed = gateway_events_since(c->io->gw, (uint64_t)resume, replay_one, &rc);
        if (missed || (uint64_t)resume > gateway_event_seq(c->io->gw)) {
            /* Part of what the client missed is gone (or it comes from
             * another gateway process): say so, and send a fresh snapshot. */
            gateway_buf_t d, f;
            gateway_buf_init(&d);
            gateway_buf_init(&f);
            gateway_buf_printf(&d, "{\"from\":%lld,\"missed\":%llu,\"complete\":false}",
                               (long long)resume, (unsigned long long)missed);
            gateway_render_frame(c->io->gw, &f, "resume", d.data ? d.data : "{}", d.data ? d.len : 2);
            if (!gateway_buf_failed(&f))
                queue(c, f.data, f.len);
            gateway_buf_fini(&d);
            gateway_buf_fini(&f);
            send_status(c);
        }
    }
    /* h2o flushes after this callback returns (on_read → proceed). */
}

static int on_ws(gw_handler_t *h, h2o_req_t *req)
{
    gateway_io_t *io = h->io;
    if (!gw_path_is(req, "/ws")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    const char *key = NULL;
    /* h2o_upgrade_to_websocket asserts HTTP/1: an h2c request must not reach it. */
    if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || key == NULL) {
        gw_error(h, req, 400, "websocket_required",
                 "this endpoint speaks WebSocket (HTTP/1.1 Upgrade: websocket)");
        return 0;
    }
    if (io->stopping || io->nws >= io->ws_max_clients) {
        gw_error(h, req, 503, "too_many_clients", "the gateway has %zu WebSocket clients", io->nws);
        return 0;
    }
    gw_ws_t *c = calloc(1, sizeof(*c));
    if (!c) {
        gw_error(h, req, 503, "out_of_memory", "no memory for another client");
        return 0;
    }
    c->io = io;
    gateway_ws_filter_init(&c->filter);
    c->last_heard_ms = mm_clock_now_ms(io->clock);
    gateway_count_request(io->gw, h->name, 101);
    c->conn = h2o_upgrade_to_websocket(req, key, c, on_msg);
    c->next = io->ws;
    if (io->ws)
        io->ws->prev = c;
    io->ws = c;
    io->nws++;
    gateway_set_ws_clients(io->gw, io->nws);
    /* The first snapshot goes out with the 101 response's flush. */
    send_status(c);
    return 0;
}

void http_ws_on_event(void *data, const gateway_event_t *ev)
{
    gateway_io_t *io = data;
    for (gw_ws_t *c = io->ws, *next; c; c = next) {
        next = c->next;
        if (gateway_ws_filter_match(&c->filter, ev->topic)) {
            queue(c, ev->frame, ev->len);
            flush(c);
        }
    }
}

void http_ws_on_metrics(void *data, const Mm__Envelope *env, const Mm__MetricBatch *batch)
{
    gateway_io_t *io = data;
    if (!io->nws)
        return;
    gateway_buf_t b;
    gateway_buf_init(&b);
    for (gw_ws_t *c = io->ws, *next; c; c = next) {
        next = c->next;
        if (!gateway_ws_filter_wants_metrics(&c->filter))
            continue;
        gateway_buf_reset(&b);
        if (gateway_render_metric_frame(io->gw, &c->filter, env, batch, &b) > 0) {
            queue(c, b.data, b.len);
            flush(c);
        }
    }
    gateway_buf_fini(&b);
}

void http_ws_broadcast_status(gateway_io_t *io)
{
    if (!io->nws)
        return;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_status_frame(io->gw, &b);
    if (!gateway_buf_failed(&b) && b.len) {
        for (gw_ws_t *c = io->ws, *next; c; c = next) {
            next = c->next;
            if (gateway_ws_filter_match(&c->filter, "status")) {
                queue(c, b.data, b.len);
                flush(c);
            }
        }
    }
    gateway_buf_fini(&b);
}

void http_ws_ping(gateway_io_t *io)
{
    int64_t now = mm_clock_now_ms(io->clock);
    for (gw_ws_t *c = io->ws, *next; c; c = next) {
        next = c->next;
        if (!c->conn->sock)
            continue;
        /* Nothing heard for two ping periods (not even a pong): gone. */
        if (now - c->last_heard_ms > 2 * io->ws_ping_ms + 1000) {
            close_client(c);
            continue;
        }
        struct wslay_event_msg m = { WSLAY_PING, (const uint8_t *)"", 0 };
        wslay_event_queue_msg(c->conn->ws_ctx, &m);
        flush(c);
    }
}

void http_ws_close_all(gateway_io_t *io)
{
    while (io->ws)
        close_client(io->ws);
}

void http_ws_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/ws", "ws", on_ws);
}
