/* GET /api/performance?hours=N[&name=GLOB][&step=S][&max_series=K]: history
 * for charts, asked of the collector as a cmd.collector "history.query"
 * command with a correlation id; the answer comes on reply.<instance>. No
 * answer by the deadline → 504. The response keeps the reference's shape:
 * timestamp, historical_metrics (the collector's result), current_metrics,
 * health_history. */
#include "gateway_http.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_json.h"

#define MAX_HOURS (24 * 366)

static void on_ok(gw_handler_t *h, h2o_req_t *req, int status, const char *result, void *data)
{
    (void)status;
    int64_t hours = *(const int64_t *)data;
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_jw_t w;
    gateway_jw_init(&w, &b);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "timestamp");
    gateway_jw_time(&w, mm_clock_now_ms(h->io->clock));
    gateway_jw_key(&w, "hours");
    gateway_jw_i64(&w, hours);
    gateway_jw_key(&w, "historical_metrics");
    gateway_jw_raw(&w, result, strlen(result));
    gateway_jw_key(&w, "current_metrics");
    gateway_buf_t cur;
    gateway_buf_init(&cur);
    gateway_render_metrics_current(h->io->gw, &cur);
    gateway_jw_raw(&w, cur.data ? cur.data : "{}", cur.data ? cur.len : 2);
    gateway_buf_fini(&cur);
    gateway_jw_key(&w, "health_history");
    gateway_jw_arr_begin(&w);
    gateway_jw_arr_end(&w);
    gateway_jw_obj_end(&w);
    gw_respond_json(h, req, 200, &b);
    gateway_buf_fini(&b);
}

/* A decimal integer in [min, max], digits only. */
static bool parse_int(const char *v, size_t len, int64_t min, int64_t max, int64_t *ret)
{
    if (len == 0 || len > 12)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        n = n * 10 + (v[i] - '0');
    }
    if (n < min || n > max)
        return false;
    *ret = n;
    return true;
}

static int on_performance(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_path_is(req, "/api/performance")) {
        gw_error(h, req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!gw_want_get(h, req))
        return 0;
    int64_t hours = 1;
    size_t len;
    const char *v = gw_query(req, "hours", &len);
    if (v && !parse_int(v, len, 1, MAX_HOURS, &hours)) {
        gw_error(h, req, 400, "bad_parameter", "hours must be an integer from 1 to %d", MAX_HOURS);
        return 0;
    }
    /* name: a metric name or a glob of one (the collector's history.query
     * takes either); everything by default, as the reference returned. */
    const char *name = "*";
    char namebuf[256];
    if ((v = gw_query(req, "name", &len))) {
        bool ok = len > 0 && len < sizeof(namebuf);
        for (size_t i = 0; ok && i < len; i++) {
            char c = v[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == ':' || c == '*' || c == '?';
        }
        if (!ok) {
            gw_error(h, req, 400, "bad_parameter", "name must be a metric name, * and ? allowed");
            return 0;
        }
        memcpy(namebuf, v, len);
        namebuf[len] = '\0';
        name = namebuf;
    }
    int64_t step_s = 0, max_series = 0;
    if ((v = gw_query(req, "step", &len)) && !parse_int(v, len, 1, 86400, &step_s)) {
        gw_error(h, req, 400, "bad_parameter", "step must be a number of seconds from 1 to 86400");
        return 0;
    }
    if ((v = gw_query(req, "max_series", &len)) && !parse_int(v, len, 1, 10000, &max_series)) {
        gw_error(h, req, 400, "bad_parameter", "max_series must be an integer from 1 to 10000");
        return 0;
    }
    int64_t *hours_p = h2o_mem_alloc_pool(&req->pool, sizeof(*hours_p));
    *hours_p = hours;
    gateway_buf_t args;
    gateway_buf_init(&args);
    gateway_jw_t w;
    gateway_jw_init(&w, &args);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "hours");
    gateway_jw_i64(&w, hours);
    gateway_jw_key(&w, "name");
    gateway_jw_str(&w, name);
    if (step_s) {
        gateway_jw_key(&w, "step_ms");
        gateway_jw_i64(&w, step_s * 1000);
    }
    if (max_series) {
        gateway_jw_key(&w, "max_series");
        gateway_jw_i64(&w, max_series);
    }
    gateway_jw_obj_end(&w);
    if (gateway_buf_failed(&args))
        gw_error(h, req, 503, "out_of_memory", "the command could not be built");
    else
        gw_command_send(h, req, "collector", "history.query", args.data, on_ok, hours_p);
    gateway_buf_fini(&args);
    return 0;
}

void http_history_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/api/performance", "performance", on_performance);
}
