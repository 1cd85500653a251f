/* h2o on the service's libuv loop: the listener, accepted connections (kept
 * in a list so stop can close them), the periodic tick (stale services,
 * command deadlines) and the WebSocket status timer. Endpoints live in the
 * http_*.c files. */
#include "gateway_http.h"
#include "mm_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TICK_MS 250
#define STOP_GRACE_MS 3000

struct gw_conn {
    uv_tcp_t tcp;               /* first: h2o's close callback gets this pointer */
    gateway_io_t *io;
    gw_conn_t *next, *prev;
};

static void maybe_dispose(gateway_io_t *io)
{
    if (!io->stopping || io->ctx_disposed || io->nconns || io->nws)
        return;
    io->ctx_disposed = true;
    if (io->watchdog_on) {
        uv_timer_stop(&io->watchdog);
        uv_close((uv_handle_t *)&io->watchdog, NULL);
        io->watchdog_on = false;
    }
    h2o_context_dispose(&io->ctx);
}

/* A stop that has not finished after STOP_GRACE_MS: say what is left, and
 * end the loop rather than hang (the process is exiting anyway). */
static void on_watchdog(uv_timer_t *t)
{
    gateway_io_t *io = t->data;
    mm_log_warn("MM-GATEWAY-STOP-SLOW", "%zu connections (%zu WebSocket) still open %d ms after stop; "
                "leaving them", io->nconns, io->nws, STOP_GRACE_MS);
    uv_stop(io->loop);
}

static void on_conn_close(uv_handle_t *h)
{
    gw_conn_t *c = (gw_conn_t *)h;
    gateway_io_t *io = c->io;
    if (c->prev)
        c->prev->next = c->next;
    else
        io->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    io->nconns--;
    free(c);
    maybe_dispose(io);
}

static void on_accept(uv_stream_t *listener, int status)
{
    gateway_io_t *io = listener->data;
    if (status != 0 || io->stopping)
        return;
    gw_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->io = io;
    uv_tcp_init(io->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = io->conns;
    if (io->conns)
        io->conns->prev = c;
    io->conns = c;
    io->nconns++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_close);
    h2o_accept(&io->accept_ctx, sock);
}

static void on_tick(uv_timer_t *t)
{
    gateway_io_t *io = t->data;
    gateway_tick(io->gw);
}

static void on_ws_status(uv_timer_t *t)
{
    gateway_io_t *io = t->data;
    http_ws_broadcast_status(io);
    /* Pings ride on the same timer, every ws_ping_ms. */
    int64_t now = mm_clock_now_ms(io->clock);
    if (now - io->last_ping_ms >= io->ws_ping_ms) {
        io->last_ping_ms = now;
        http_ws_ping(io);
    }
}

int gateway_io_new(const gateway_io_opts_t *o, gateway_io_t **ret_io)
{
    if (!o || !o->loop || !o->gw || !o->clock || !ret_io)
        return -EINVAL;
    gateway_io_t *io = calloc(1, sizeof(*io));
    if (!io)
        return -ENOMEM;
    io->loop = o->loop;
    io->gw = o->gw;
    io->clock = o->clock;
    io->host = strdup(o->host ? o->host : "127.0.0.1");
    io->port = o->port;
    io->api_token = o->api_token && *o->api_token ? strdup(o->api_token) : NULL;
    io->instance = strdup(o->instance ? o->instance : "gateway");
    io->dashboard_dir = o->dashboard_dir ? strdup(o->dashboard_dir) : NULL;
    io->max_body = o->max_body ? o->max_body : 1024 * 1024;
    io->command_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms : 5000;
    io->ws_status_ms = o->ws_status_ms > 0 ? o->ws_status_ms : 5000;
    io->ws_ping_ms = o->ws_ping_ms > 0 ? o->ws_ping_ms : 30000;
    io->ws_max_queued = o->ws_max_queued ? o->ws_max_queued : 64;
    io->ws_max_clients = o->ws_max_clients ? o->ws_max_clients : 1024;
    io->publish = o->publish;
    io->publish_data = o->publish_data;
    gateway_buf_init(&io->status_cache);
    gateway_buf_init(&io->expo_scratch);
    if (!io->host || !io->instance || (o->api_token && *o->api_token && !io->api_token) ||
        (o->dashboard_dir && !io->dashboard_dir)) {
        free(io->host);
        free(io->api_token);
        free(io->instance);
        free(io->dashboard_dir);
        free(io);
        return -ENOMEM;
    }
    signal(SIGPIPE, SIG_IGN);

    h2o_config_init(&io->config);
    io->config.server_name = h2o_iovec_init(H2O_STRLIT("memmon-gateway"));
    io->config.max_request_entity_size = io->max_body;
    h2o_hostconf_t *host = h2o_config_register_host(&io->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    /* Longer prefixes first: h2o takes the first registered match. */
    http_metrics_register(io, host);
    http_health_register(io, host);     /* before /api/health, a prefix of it */
    http_status_register(io, host);
    http_history_register(io, host);
    http_ingest_register(io, host);
    http_ws_register(io, host);
    http_static_register(io, host);
    gw_register_error_filter(host);
    h2o_context_init(&io->ctx, io->loop, &io->config);
    io->accept_ctx.ctx = &io->ctx;
    io->accept_ctx.hosts = io->config.hosts;
    gateway_set_hooks(io->gw, http_ws_on_event, http_ws_on_metrics, io);

    struct sockaddr_storage addr;
    int r;
    if (strchr(io->host, ':'))
        r = uv_ip6_addr(io->host, io->port, (struct sockaddr_in6 *)&addr);
    else
        r = uv_ip4_addr(io->host, io->port, (struct sockaddr_in *)&addr);
    if (r < 0)
        goto fail_ctx;
    uv_tcp_init(io->loop, &io->listener);
    io->listener.data = io;
    io->open_handles++;
    if ((r = uv_tcp_bind(&io->listener, (struct sockaddr *)&addr, 0)) < 0 ||
        (r = uv_listen((uv_stream_t *)&io->listener, 1024, on_accept)) < 0)
        goto fail_listen;
    io->listening = true;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if (uv_tcp_getsockname(&io->listener, (struct sockaddr *)&bound, &len) == 0)
        io->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(io->loop, &io->tick);
    io->tick.data = io;
    uv_timer_start(&io->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(io->loop, &io->ws_status);
    io->ws_status.data = io;
    uv_timer_start(&io->ws_status, on_ws_status, (uint64_t)io->ws_status_ms, (uint64_t)io->ws_status_ms);
    io->open_handles += 2;
    *ret_io = io;
    return 0;

fail_listen:
    /* The listener must be closed through the loop; the caller runs it. */
    io->stopping = true;
    gateway_set_hooks(io->gw, NULL, NULL, NULL);
    uv_close((uv_handle_t *)&io->listener, NULL);
    io->ctx_disposed = true;
    h2o_context_dispose(&io->ctx);
    h2o_config_dispose(&io->config);
    uv_run(io->loop, UV_RUN_NOWAIT);
    free(io->host);
    free(io->api_token);
    free(io->instance);
    free(io->dashboard_dir);
    free(io);
    return r;
fail_ctx:
    gateway_set_hooks(io->gw, NULL, NULL, NULL);
    h2o_context_dispose(&io->ctx);
    h2o_config_dispose(&io->config);
    uv_run(io->loop, UV_RUN_NOWAIT);
    free(io->host);
    free(io->api_token);
    free(io->instance);
    free(io->dashboard_dir);
    free(io);
    return r;
}

int gateway_io_port(const gateway_io_t *io) { return io->port; }

void gateway_io_set_token(gateway_io_t *io, const char *token)
{
    if (!io)
        return;
    char *t = token && *token ? strdup(token) : NULL;
    if (token && *token && !t)
        return;     /* keep the old token rather than open or close writes by accident */
    free(io->api_token);
    io->api_token = t;
}

void gateway_io_on_message(gateway_io_t *io, const char *topic, const Mm__Envelope *env)
{
    gateway_on_envelope(io->gw, topic, env);
}

void gateway_io_stop(gateway_io_t *io)
{
    if (!io || io->stopping)
        return;
    io->stopping = true;
    gateway_set_hooks(io->gw, NULL, NULL, NULL);
    if (io->listening) {
        uv_close((uv_handle_t *)&io->listener, NULL);
        io->listening = false;
    }
    uv_timer_stop(&io->tick);
    uv_close((uv_handle_t *)&io->tick, NULL);
    uv_timer_stop(&io->ws_status);
    uv_close((uv_handle_t *)&io->ws_status, NULL);
    http_ws_close_all(io);
    /* Requests waiting for a reply are answered now (503). */
    gateway_pending_fail_all(io->gw);
    /* Not h2o_context_request_shutdown(): its HTTP/2 GOAWAY timer would
     * still be linked when the context is disposed. Half-closing each
     * socket instead makes h2o see EOF and close the connection
     * through its own path (idle keep-alive connections would otherwise
     * hold the loop until their timeout). */
    for (gw_conn_t *c = io->conns; c; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
    if (io->nconns || io->nws) {
        uv_timer_init(io->loop, &io->watchdog);
        io->watchdog.data = io;
        uv_timer_start(&io->watchdog, on_watchdog, STOP_GRACE_MS, 0);
        uv_unref((uv_handle_t *)&io->watchdog);
        io->watchdog_on = true;
    }
    maybe_dispose(io);
}

void gateway_io_free(gateway_io_t *io)
{
    if (!io)
        return;
    /* With connections left (see on_watchdog) h2o's context cannot be
     * disposed safely; the process is exiting, so leave it. */
    if (!io->ctx_disposed && !io->nconns && !io->nws)
        h2o_context_dispose(&io->ctx);
    h2o_config_dispose(&io->config);
    if (io->expo_valid)
        h2o_mem_release_shared(io->expo);
    gateway_buf_fini(&io->status_cache);
    gateway_buf_fini(&io->expo_scratch);
    free(io->host);
    free(io->api_token);
    free(io->instance);
    free(io->dashboard_dir);
    free(io);
}
