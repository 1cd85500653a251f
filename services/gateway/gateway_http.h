/* Shared by the gateway's h2o files (gateway_io.c and http_*.c): the I/O
 * state, handler registration and response helpers. Not an interface for
 * other components. */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include <stdbool.h>

/* h2o's headers are clean under -Wpedantic with -D_GNU_SOURCE (PLATFORM.md §1). */
#include <h2o.h>
#include <h2o/websocket.h>

#include "gateway.h"
#include "gateway_buf.h"
#include "gateway_io.h"

typedef struct gw_conn gw_conn_t;
typedef struct gw_ws gw_ws_t;

struct gateway_io {
    uv_loop_t *loop;
    gateway_t *gw;
    const mm_clock_t *clock;
    char *host;
    int port;
    char *api_token;
    char *instance;
    char *dashboard_dir;
    size_t max_body;
    int64_t command_timeout_ms;
    int64_t ws_status_ms, ws_ping_ms;
    int64_t last_ping_ms;
    size_t ws_max_queued, ws_max_clients;
    gateway_publish_fn publish;
    void *publish_data;

    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    uv_timer_t tick;
    uv_timer_t ws_status;
    uv_timer_t watchdog;        /* bounds the stop; see gateway_io.c */
    bool watchdog_on;
    bool listening, stopping, ctx_disposed;
    int open_handles;           /* our uv handles still to close */

    gw_conn_t *conns;           /* accepted TCP connections */
    size_t nconns;
    gw_ws_t *ws;                /* WebSocket clients */
    size_t nws;

    /* /api/status is cheap but hot: cache it per generation for 250 ms. */
    gateway_buf_t status_cache;
    uint64_t status_gen;
    int64_t status_at_ms;
    /* The exposition body, a refcounted h2o shared buffer, per generation. */
    char *expo;
    size_t expo_len, expo_cap;
    gateway_buf_t expo_scratch;
    uint64_t expo_gen;
    bool expo_valid;
};

typedef struct {
    h2o_handler_t super;
    gateway_io_t *io;
    const char *name;           /* for memmon_gateway_http_requests_total */
} gw_handler_t;

typedef int (*gw_on_req)(gw_handler_t *h, h2o_req_t *req);

/* Registers handler `name` at path (a prefix on a '/' boundary; handlers
 * check the exact path themselves). */
void gw_register(gateway_io_t *io, h2o_hostconf_t *host, const char *path, const char *name,
                 gw_on_req on_req);

/* ---- responses (all set Content-Length and count the request) ---- */

void gw_respond(gw_handler_t *h, h2o_req_t *req, int status, const char *content_type,
                const char *body, size_t len);
void gw_respond_json(gw_handler_t *h, h2o_req_t *req, int status, const gateway_buf_t *b);
/* {"error":{"code":code,"message":message}} */
void gw_error(gw_handler_t *h, h2o_req_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* True when the path is exactly `path` (a trailing '/' is tolerated). */
bool gw_path_is(h2o_req_t *req, const char *path);
/* True for GET or HEAD; otherwise answers 405 with Allow: GET, HEAD. */
bool gw_want_get(gw_handler_t *h, h2o_req_t *req);
/* Finds query parameter `name`; returns its raw value or NULL. */
const char *gw_query(h2o_req_t *req, const char *name, size_t *ret_len);
/* Adds a header that h2o has no token for (name in lower case). */
#define gw_add_header(req, name, value)                                                       \
    h2o_add_header_by_str(&(req)->pool, &(req)->res.headers, H2O_STRLIT(name), 0, NULL,      \
                          H2O_STRLIT(value))
/* Adds the headers every response carries (nosniff, no-store for the API). */
void gw_common_headers(h2o_req_t *req, bool cacheable);

/* Turns h2o's own text/plain errors (413 and the like) into JSON errors. */
void gw_register_error_filter(h2o_hostconf_t *host);

/* ---- the endpoint groups ---- */
/* A write request: POST with a valid bearer token. Otherwise answers 405,
 * 401 or 403 (JSON) and returns false. `what` completes "use POST ...". */
bool gw_want_write(gw_handler_t *h, h2o_req_t *req, const char *what);

/* A new 128-bit correlation id as 32 hex characters. */
void gw_new_id(char out[33]);

/* Answers req through another service: sends cmd.<service> `verb` with
 * args_json (read during the call only) and a correlation id. On a 2xx reply whose result is
 * JSON, on_ok writes the response; time-outs, refusals and bad replies are
 * answered here with JSON errors. Strings service and verb must be static. */
typedef struct gw_command gw_command_t;
typedef void (*gw_command_ok_cb)(gw_handler_t *h, h2o_req_t *req, int status,
                                 const char *result_json, void *data);
void gw_command_send(gw_handler_t *h, h2o_req_t *req, const char *service, const char *verb,
                     const char *args_json, gw_command_ok_cb on_ok, void *data);

void http_health_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_status_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_metrics_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_history_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_ingest_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_ws_register(gateway_io_t *io, h2o_hostconf_t *host);
void http_static_register(gateway_io_t *io, h2o_hostconf_t *host);     /* last: catch-all */

/* http_ws.c hooks, called by gateway_io.c. */
void http_ws_on_event(void *data, const gateway_event_t *ev);
void http_ws_on_metrics(void *data, const Mm__Envelope *env, const Mm__MetricBatch *batch);
void http_ws_broadcast_status(gateway_io_t *io);
void http_ws_ping(gateway_io_t *io);
void http_ws_close_all(gateway_io_t *io);

#endif
