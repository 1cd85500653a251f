/* memmon-gateway: the HTTP, Prometheus and WebSocket face of memmon.
 * Wiring only: the view (gateway.c) and h2o (gateway_io.c) on the service
 * lifecycle's loop, fed by the bus subscriptions below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"
#include "gateway_io.h"
#include "mm_build.h"
#include "mm_err.h"
#include "mm_log.h"
#include "mm_service.h"

static gateway_t *gw;
static gateway_io_t *io;
static char reply_topic[160];

static int publish(void *data, const char *topic, Mm__Envelope *env)
{
    return mm_service_publish(data, topic, env);
}

/* $MEMMON_DASHBOARD_DIR, else the source tree's dashboard/ (tools/run), else
 * the installed copy. */
static const char *dashboard_dir(void)
{
    const char *env = getenv("MEMMON_DASHBOARD_DIR");
    if (env && *env)
        return env;
    struct stat st;
    if (stat(MM_SOURCE_ROOT "/dashboard", &st) == 0 && S_ISDIR(st.st_mode))
        return MM_SOURCE_ROOT "/dashboard";
    return "/usr/share/memmon/dashboard";
}

static int gw_start(mm_service_t *svc, void *own)
{
    (void)own;
    const mm_config_t *cfg = mm_service_config(svc);
    gateway_opts_t go = { .instance = cfg->instance, .default_hb_ms = cfg->heartbeat_ms };
    int r = gateway_new(&go, mm_service_clock(svc), &gw);
    if (r < 0)
        return r;
    gateway_io_opts_t o = {
        .loop = mm_service_loop(svc),
        .host = cfg->gateway_host,
        .port = (int)cfg->gateway_port,
        .api_token = cfg->api_token,
        .instance = cfg->instance,
        .dashboard_dir = dashboard_dir(),
        .publish = publish,
        .publish_data = svc,
        .clock = mm_service_clock(svc),
        .gw = gw,
    };
    if ((r = gateway_io_new(&o, &io)) < 0) {
        mm_log_err("MM-GATEWAY-LISTEN-FAIL", "cannot listen on %s:%lld: %s", cfg->gateway_host,
                   (long long)cfg->gateway_port, mm_strerror(r));
        gateway_free(gw);
        gw = NULL;
        return r;
    }
    /* Answers to our commands: reply.<our instance>. */
    snprintf(reply_topic, sizeof(reply_topic), "reply.%s", cfg->instance);
    mm_bus_subscribe(mm_service_bus(svc), reply_topic);
    if (!cfg->api_token || !*cfg->api_token)
        mm_log_warn("MM-GATEWAY-NO-TOKEN", "no api_token configured: every write is refused");
    mm_log_notice("MM-GATEWAY-LISTEN", "listening on http://%s:%d/ (dashboard from %s)",
                  cfg->gateway_host, gateway_io_port(io), o.dashboard_dir);
    return 0;
}

static void gw_stop(mm_service_t *svc)
{
    (void)svc;
    gateway_io_stop(io);
}

static int gw_reload(mm_service_t *svc, void *own, mm_diag_t *d)
{
    (void)own;
    (void)d;
    gateway_io_set_token(io, mm_service_config(svc)->api_token);
    return 0;
}

static void gw_on_message(mm_service_t *svc, const char *topic, const Mm__Envelope *env)
{
    (void)svc;
    if (io)
        gateway_io_on_message(io, topic, env);
}

int main(int argc, char **argv)
{
    static const char *const subs[] = {
        "metric.", "state.", "health.", "sec.", "alert.", "incident.", NULL,
    };
    static const mm_service_def_t def = {
        .name = "gateway",
        .summary = "Serves memmon over HTTP: JSON API, Prometheus text, WebSocket, dashboard.",
        .start = gw_start,
        .stop = gw_stop,
        .reload = gw_reload,
        .on_message = gw_on_message,
        .subscriptions = subs,
    };
    int code = mm_service_main(&def, argc, argv);
    gateway_io_free(io);
    gateway_free(gw);
    return code;
}
