/* Tests for the gateway's view in fake time: series updates from envelopes,
 * the exposition (families, histograms, escaping, stale markers, conflicts),
 * the JSON renderers, heartbeats and service events, health changes, the
 * event ring, pending commands and the WebSocket client protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "mm_labels.h"

#define T0 1700000000000LL

/* ---- envelope builders (static storage, enough for one batch) ---- */

typedef struct {
    Mm__Series s;
    Mm__Label l[8];
    Mm__Label *lp[8];
    double v;
    int64_t t;
} tseries_t;

static tseries_t pool[64];
static Mm__Series *pool_ptrs[64];
static size_t npool;

static void batch_reset(void) { npool = 0; }

/* labels: "k=v,k2=v2" already sorted. */
static void add(const char *name, const char *labels, Mm__MetricType type, const char *family,
                const char *help, double v)
{
    tseries_t *t = &pool[npool];
    static char lbuf[64][256];
    mm__series__init(&t->s);
    t->s.name = (char *)name;
    t->s.type = type;
    t->s.family_name = (char *)(family ? family : "");
    t->s.help = (char *)(help ? help : "");
    t->v = v;
    t->t = T0;
    t->s.values = &t->v;
    t->s.n_values = 1;
    t->s.times_ms = &t->t;
    t->s.n_times_ms = 1;
    t->s.labels = t->lp;
    t->s.n_labels = 0;
    if (labels && *labels) {
        char *buf = lbuf[npool];
        strncpy(buf, labels, 255);
        buf[255] = '\0';
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            Mm__Label *l = &t->l[t->s.n_labels];
            mm__label__init(l);
            l->name = tok;
            l->value = eq + 1;
            t->lp[t->s.n_labels++] = l;
        }
    }
    mm_label_t tmp[8];
    for (size_t i = 0; i < t->s.n_labels; i++) {
        tmp[i].name = t->lp[i]->name;
        tmp[i].value = t->lp[i]->value;
    }
    t->s.fingerprint = mm_labels_fingerprint(name, tmp, t->s.n_labels);
    pool_ptrs[npool++] = &t->s;
}

static void send_batch(gateway_t *gw)
{
    Mm__MetricBatch b = MM__METRIC_BATCH__INIT;
    b.n_series = npool;
    b.series = pool_ptrs;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = (char *)"collector";
    env.instance = (char *)"host-collector";
    env.family = (char *)"metric";
    env.time_ms = T0;
    env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = &b;
    gateway_on_envelope(gw, "metric.batch", &env);
    batch_reset();
}

/* The pooled series as chunk `index` of `total` of snapshot `snap`. */
static void send_state_chunk(gateway_t *gw, const char *inst, uint64_t snap, uint32_t index,
                             uint32_t total, int64_t time_ms)
{
    Mm__MetricBatch b = MM__METRIC_BATCH__INIT;
    b.n_series = npool;
    b.series = pool_ptrs;
    Mm__StateChunk c = MM__STATE_CHUNK__INIT;
    c.snapshot_id = snap;
    c.index = index;
    c.total = total;
    c.part_case = MM__STATE_CHUNK__PART_METRICS;
    c.metrics = &b;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = (char *)"collector";
    env.instance = (char *)inst;
    env.family = (char *)"state";
    env.time_ms = time_ms;
    env.payload_case = MM__ENVELOPE__PAYLOAD_STATE;
    env.state = &c;
    gateway_on_envelope(gw, "state.collector", &env);
    batch_reset();
}

static void send_heartbeat(gateway_t *gw, const char *svc, const char *inst, uint64_t boot,
                           Mm__ServiceState st)
{
    Mm__Heartbeat hb = MM__HEARTBEAT__INIT;
    hb.version = (char *)"0.1.0";
    hb.state = st;
    hb.pid = 42;
    hb.interval_ms = 1000;
    hb.bus_gaps = 3;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = (char *)svc;
    env.instance = (char *)inst;
    env.boot_id = boot;
    env.family = (char *)"state";
    env.payload_case = MM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    gateway_on_envelope(gw, "state.x.hb", &env);
}

static mm_clock_t clk;

static gateway_t *make(void)
{
    mm_clock_fake_init(&clk, T0);
    gateway_opts_t o = { .instance = "gw-test", .event_ring = 4 };
    gateway_t *gw;
    assert_int_equal(gateway_new(&o, &clk, &gw), 0);
    return gw;
}

static char *expo(gateway_t *gw)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_exposition(gw, &b);
    assert_false(gateway_buf_failed(&b));
    return b.data ? b.data : strdup("");
}

/* ---- tests ---- */

static void test_exposition(void **state)
{
    (void)state;
    gateway_t *gw = make();
    add("zeta", "", MM__METRIC_TYPE__GAUGE, NULL, "Last family.", 1);
    add("req_total", "code=200,path=/a", MM__METRIC_TYPE__COUNTER, NULL, "Requests.", 5);
    add("req_total", "code=500,path=/a\"b\\c\nd", MM__METRIC_TYPE__COUNTER, NULL, "", 1e6);
    add("lat_seconds_bucket", "job=x,le=+Inf", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", "Latency.", 10);
    add("lat_seconds_bucket", "job=x,le=0.5", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 7);
    add("lat_seconds_sum", "job=x", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 3.25);
    add("lat_seconds_bucket", "job=x,le=0.05", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 2);
    add("lat_seconds_count", "job=x", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 10);
    add("odd", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, NAN);
    send_batch(gw);
    assert_true(gateway_ready(gw));
    assert_int_equal(gateway_series_count(gw), 9);
    char *text = expo(gw);
    assert_string_equal(text,
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{job=\"x\",le=\"0.05\"} 2\n"
        "lat_seconds_bucket{job=\"x\",le=\"0.5\"} 7\n"
        "lat_seconds_bucket{job=\"x\",le=\"+Inf\"} 10\n"
        "lat_seconds_sum{job=\"x\"} 3.25\n"
        "lat_seconds_count{job=\"x\"} 10\n"
        "# HELP odd gauge odd (no HELP text was published for it)\n"
        "# TYPE odd gauge\n"
        "odd NaN\n"
        "# HELP req_total Requests.\n"
        "# TYPE req_total counter\n"
        "req_total{code=\"200\",path=\"/a\"} 5\n"
        "req_total{code=\"500\",path=\"/a\\\"b\\\\c\\nd\"} 1e+06\n"
        "# HELP zeta Last family.\n"
        "# TYPE zeta gauge\n"
        "zeta 1\n");
    free(text);

    /* An update changes the value; a stale marker removes the series and an
     * emptied family disappears. */
    uint64_t g = gateway_generation(gw);
    add("zeta", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 2.5);
    add("odd", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, mm_stale_nan());
    send_batch(gw);
    assert_true(gateway_generation(gw) > g);
    text = expo(gw);
    assert_non_null(strstr(text, "zeta 2.5\n"));
    assert_null(strstr(text, "odd"));
    free(text);
    assert_int_equal(gateway_series_count(gw), 8);
    gateway_free(gw);
}

static void test_histogram_without_inf(void **state)
{
    (void)state;
    gateway_t *gw = make();
    add("h_bucket", "le=1", MM__METRIC_TYPE__HISTOGRAM, "h", "H.", 1);
    add("h_count", "", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 4);
    add("h_sum", "", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 9);
    send_batch(gw);
    char *text = expo(gw);
    assert_string_equal(text,
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n");
    free(text);
    gateway_free(gw);
}

static void test_conflicts(void **state)
{
    (void)state;
    gateway_t *gw = make();
    add("a", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    add("a", "x=1", MM__METRIC_TYPE__COUNTER, NULL, NULL, 1);         /* type conflict */
    add("h_bucket", "le=1", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 1);
    add("h_sum", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);           /* collides with h */
    add("bad-name", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);        /* invalid */
    add("h2_bucket", "", MM__METRIC_TYPE__HISTOGRAM, "h2", NULL, 1);   /* bucket without le */
    add("memmon_gateway_series", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1); /* reserved */
    send_batch(gw);
    assert_int_equal(gateway_series_count(gw), 2);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_own_exposition(gw, &b);
    assert_non_null(strstr(b.data, "memmon_gateway_series_dropped_total{reason=\"conflict\"} 3\n"));
    assert_non_null(strstr(b.data, "memmon_gateway_series_dropped_total{reason=\"invalid\"} 2\n"));
    gateway_buf_fini(&b);
    gateway_free(gw);
}

/* A complete full-state snapshot removes its sender's series it no longer
 * holds; an incomplete one, other senders' series and series updated after
 * the snapshot was taken stay. */
static void test_state_sweep(void **state)
{
    (void)state;
    gateway_t *gw = make();
    add("a", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    add("b", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    add("h_bucket", "le=1", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 1);
    add("h_bucket", "le=+Inf", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 1);
    add("h_count", "", MM__METRIC_TYPE__HISTOGRAM, "h", NULL, 1);
    send_batch(gw);                                 /* host-collector, at T0 */
    add("other", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    send_state_chunk(gw, "host2-collector", 9, 0, 1, T0);
    assert_int_equal(gateway_series_count(gw), 6);

    /* Snapshot 5 in two chunks, holding only a; the second chunk is lost. */
    add("a", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 2);
    send_state_chunk(gw, "host-collector", 5, 0, 2, T0 + 1000);
    assert_int_equal(gateway_series_count(gw), 6);
    /* Snapshot 6 complete in two chunks: a, then nothing. */
    add("a", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 3);
    send_state_chunk(gw, "host-collector", 6, 0, 2, T0 + 2000);
    add("c", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    send_batch(gw);   /* a live update sent at T0, before the snapshot: still swept */
    assert_int_equal(gateway_series_count(gw), 7);
    send_state_chunk(gw, "host-collector", 6, 1, 2, T0 + 2000);
    assert_int_equal(gateway_series_count(gw), 2);  /* a and other */
    char *e = expo(gw);
    assert_non_null(strstr(e, "\na 3\n"));
    assert_non_null(strstr(e, "\nother 1\n"));
    assert_null(strstr(e, "h_bucket"));
    assert_null(strstr(e, "\nb "));
    free(e);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_own_exposition(gw, &b);
    assert_non_null(strstr(b.data, "memmon_gateway_series_swept_total 5\n"));
    gateway_buf_fini(&b);
    gateway_free(gw);
}

static void test_metrics_json(void **state)
{
    (void)state;
    gateway_t *gw = make();
    add("memmimic_cache_hits_total", "", MM__METRIC_TYPE__COUNTER, NULL, "Hits.", 12);
    add("memmimic_cache_size_bytes", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 2048);
    add("memmimic_cache_size_bytes", "shard=1", MM__METRIC_TYPE__GAUGE, NULL, NULL, 10);
    add("d_seconds_bucket", "le=0.005", MM__METRIC_TYPE__HISTOGRAM, "d_seconds", NULL, 1);
    add("d_seconds_bucket", "le=+Inf", MM__METRIC_TYPE__HISTOGRAM, "d_seconds", NULL, 2);
    add("d_seconds_count", "", MM__METRIC_TYPE__HISTOGRAM, "d_seconds", NULL, 2);
    add("d_seconds_sum", "", MM__METRIC_TYPE__HISTOGRAM, "d_seconds", NULL, 0.5);
    send_batch(gw);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_metrics_query_t q = { NULL, true, true };
    gateway_render_metrics_json(gw, &b, &q);
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    assert_non_null(j);
    json_t *m = json_object_get(json_object_get(j, "metrics"), "metrics");
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "counters"),
                                                        "memmimic_cache_hits_total")), 12);
    json_t *gauges = json_object_get(m, "gauges");
    assert_int_equal(json_integer_value(json_object_get(gauges, "memmimic_cache_size_bytes")), 2048);
    assert_int_equal(json_integer_value(json_object_get(gauges, "memmimic_cache_size_bytes{shard=\"1\"}")), 10);
    json_t *h = json_object_get(json_object_get(m, "histograms"), "d_seconds");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "buckets"), "Infinity")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "buckets"), "0.005")), 1);
    assert_true(json_real_value(json_object_get(h, "sum")) == 0.5);
    json_t *series = json_object_get(j, "series");
    assert_int_equal(json_array_size(series), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "metadata"),
                        "memmimic_cache_hits_total"), "help")), "Hits.");
    json_decref(j);

    /* A name filter and the labelled form only. */
    gateway_buf_reset(&b);
    gateway_metrics_query_t q2 = { "d_", false, true };
    gateway_render_metrics_json(gw, &b, &q2);
    j = json_loadb(b.data, b.len, 0, &e);
    assert_non_null(j);
    assert_null(json_object_get(j, "metrics"));
    assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
    json_decref(j);
    gateway_buf_fini(&b);
    gateway_free(gw);
}

typedef struct {
    char topics[16][64];
    size_t n;
} events_t;

static void on_event(void *data, const gateway_event_t *ev)
{
    events_t *e = data;
    if (e->n < 16)
        strncpy(e->topics[e->n++], ev->topic, 63);
    json_error_t err;
    json_t *j = json_loadb(ev->frame, ev->len, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), ev->seq);
    json_decref(j);
}

static void test_services(void **state)
{
    (void)state;
    gateway_t *gw = make();
    events_t ev = { 0 };
    gateway_set_hooks(gw, on_event, NULL, &ev);
    send_heartbeat(gw, "gateway", "gw-test", 1, MM__SERVICE_STATE__READY);
    assert_false(gateway_ready(gw));            /* our own heartbeat does not count */
    send_heartbeat(gw, "collector", "c1", 7, MM__SERVICE_STATE__READY);
    assert_true(gateway_ready(gw));
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.topics[1], "service.up");

    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_status(gw, &b);
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "system_status")), "operational");
    json_t *comp = json_object_get(j, "components");
    assert_string_equal(json_string_value(json_object_get(comp, "metrics_collector")), "operational");
    assert_string_equal(json_string_value(json_object_get(comp, "health_monitor")), "not_configured");
    assert_int_equal(json_array_size(json_object_get(j, "services")), 2);
    json_decref(j);

    /* Three missed periods: down, with an event; a heartbeat brings it back;
     * a new boot id is a restart. */
    mm_clock_fake_advance(&clk, 3500);
    gateway_tick(gw);
    assert_string_equal(ev.topics[ev.n - 1], "service.down");
    gateway_buf_reset(&b);
    gateway_render_status(gw, &b);
    assert_non_null(strstr(b.data, "\"system_status\":\"degraded\""));
    assert_non_null(strstr(b.data, "\"metrics_collector\":\"down\""));
    send_heartbeat(gw, "collector", "c1", 7, MM__SERVICE_STATE__READY);
    assert_string_equal(ev.topics[ev.n - 1], "service.up");
    send_heartbeat(gw, "collector", "c1", 8, MM__SERVICE_STATE__READY);
    assert_string_equal(ev.topics[ev.n - 1], "service.restart");

    gateway_buf_reset(&b);
    gateway_render_own_exposition(gw, &b);
    assert_non_null(strstr(b.data, "memmon_gateway_service_up{instance=\"c1\",service=\"collector\"} 1\n"));
    assert_non_null(strstr(b.data, "memmon_gateway_service_bus_gaps_total{instance=\"c1\",service=\"collector\"} 3\n"));
    gateway_buf_fini(&b);
    gateway_free(gw);
}

static void send_health(gateway_t *gw, Mm__HealthLevel db_level)
{
    Mm__CheckResult c1 = MM__CHECK_RESULT__INIT, c2 = MM__CHECK_RESULT__INIT;
    c1.name = (char *)"database";
    c1.kind = (char *)"sqlite";
    c1.level = db_level;
    c1.message = (char *)"<b>ok</b>";
    c1.duration_s = 0.002;
    c1.weight = 2;
    c2.name = (char *)"cache";
    c2.kind = (char *)"metric";
    Mm__CheckResult *cs[2] = { &c1, &c2 };
    Mm__HealthReport r = MM__HEALTH_REPORT__INIT;
    r.overall = db_level;
    r.score = db_level ? 0.5 : 1;
    r.n_checks = 2;
    r.checks = cs;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = (char *)"health";
    env.instance = (char *)"h1";
    env.time_ms = T0;
    env.payload_case = MM__ENVELOPE__PAYLOAD_HEALTH;
    env.health = &r;
    gateway_on_envelope(gw, "health.report", &env);
}

static void collect(void *data, const gateway_event_t *ev)
{
    uint64_t *seqs = data;
    seqs[seqs[0] + 1] = ev->seq;
    seqs[0]++;
}

static void test_health_and_ring(void **state)
{
    (void)state;
    gateway_t *gw = make();
    events_t ev = { 0 };
    gateway_set_hooks(gw, on_event, NULL, &ev);
    gateway_buf_t b;
    gateway_buf_init(&b);
    assert_false(gateway_render_health(gw, &b));
    send_health(gw, MM__HEALTH_LEVEL__HEALTHY);
    send_health(gw, MM__HEALTH_LEVEL__HEALTHY);      /* no change, no event */
    assert_int_equal(ev.n, 1);
    send_health(gw, MM__HEALTH_LEVEL__CRITICAL);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.topics[1], "health.change");
    gateway_buf_reset(&b);
    assert_true(gateway_render_health(gw, &b));
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "critical");
    assert_int_equal(json_integer_value(json_object_get(j, "healthy_checks")), 1);
    json_t *c0 = json_array_get(json_object_get(j, "checks"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "message")), "<b>ok</b>");
    assert_null(strstr(b.data, "<b>"));             /* escaped on the wire */
    json_decref(j);
    gateway_buf_reset(&b);
    gateway_render_status(gw, &b);
    assert_non_null(strstr(b.data, "\"system_status\":\"critical\""));

    /* The ring holds 4 events: after 6, resume from 0 misses 2. */
    for (int i = 0; i < 4; i++)
        send_health(gw, i % 2 ? MM__HEALTH_LEVEL__CRITICAL : MM__HEALTH_LEVEL__DEGRADED);
    assert_int_equal(gateway_event_seq(gw), 6);
    uint64_t seqs[16] = { 0 };
    assert_int_equal(gateway_events_since(gw, 0, collect, seqs), 2);
    assert_int_equal(seqs[0], 4);
    assert_int_equal(seqs[1], 3);
    assert_int_equal(seqs[4], 6);
    memset(seqs, 0, sizeof(seqs));
    assert_int_equal(gateway_events_since(gw, 5, collect, seqs), 0);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 6);
    gateway_buf_fini(&b);
    gateway_free(gw);
}

static int replies, timeouts;
static void on_reply(void *data, const Mm__Reply *r)
{
    (void)data;
    if (r)
        replies++;
    else
        timeouts++;
}

static void test_pending(void **state)
{
    (void)state;
    gateway_t *gw = make();
    gateway_pending_t *p;
    assert_int_equal(gateway_pending_add(gw, "aa", T0 + 5000, on_reply, NULL, &p), 0);
    assert_int_equal(gateway_pending_add(gw, "aa", T0 + 5000, on_reply, NULL, NULL), -EEXIST);
    assert_int_equal(gateway_pending_add(gw, "bb", T0 + 1000, on_reply, NULL, NULL), 0);
    assert_int_equal(gateway_pending_add(gw, "cc", T0 + 1000, on_reply, NULL, &p), 0);
    gateway_pending_cancel(gw, p);
    assert_int_equal(gateway_tick(gw), 1000);
    Mm__Reply r = MM__REPLY__INIT;
    r.id = (char *)"aa";
    r.status = 200;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_REPLY;
    env.reply = &r;
    gateway_on_envelope(gw, "reply.gw-test", &env);
    assert_int_equal(replies, 1);
    gateway_on_envelope(gw, "reply.gw-test", &env);   /* a repeat matches nothing */
    assert_int_equal(replies, 1);
    mm_clock_fake_advance(&clk, 1000);
    assert_int_equal(gateway_tick(gw), -1);
    assert_int_equal(timeouts, 1);
    assert_int_equal(gateway_pending_count(gw), 0);
    gateway_free(gw);
}

static int ws(gateway_t *gw, gateway_ws_filter_t *f, const char *msg, int64_t *resume, char **reply)
{
    gateway_buf_t b;
    gateway_buf_init(&b);
    int r = gateway_ws_client_message(gw, f, msg, strlen(msg), resume, &b);
    *reply = b.data ? b.data : strdup("");
    return r;
}

static size_t metric_frames;
static void on_metrics(void *data, const Mm__Envelope *env, const Mm__MetricBatch *batch)
{
    gateway_t *gw = ((void **)data)[0];
    gateway_ws_filter_t *f = ((void **)data)[1];
    gateway_buf_t b;
    gateway_buf_init(&b);
    metric_frames += gateway_render_metric_frame(gw, f, env, batch, &b);
    if (b.len) {
        json_error_t e;
        json_t *j = json_loadb(b.data, b.len, 0, &e);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "topic")), "metric.update");
        json_decref(j);
    }
    gateway_buf_fini(&b);
}

static void test_ws_protocol(void **state)
{
    (void)state;
    gateway_t *gw = make();
    gateway_ws_filter_t f;
    gateway_ws_filter_init(&f);
    assert_true(gateway_ws_filter_match(&f, "health.change"));
    assert_true(gateway_ws_filter_match(&f, "status"));
    assert_false(gateway_ws_filter_match(&f, "metric.update"));
    assert_false(gateway_ws_filter_wants_metrics(&f));

    int64_t resume;
    char *reply;
    assert_int_equal(ws(gw, &f, "{\"subscribe\": [\"metric.node_\", \"health.\"]}", &resume, &reply), 0);
    assert_non_null(strstr(reply, "\"topic\":\"subscribed\""));
    free(reply);
    assert_true(gateway_ws_filter_wants_metrics(&f));
    assert_true(gateway_ws_filter_match(&f, "metric.node_load1"));
    assert_false(gateway_ws_filter_match(&f, "metric.memmimic_x"));
    assert_false(gateway_ws_filter_match(&f, "status"));

    void *ctx[2] = { gw, &f };
    gateway_set_hooks(gw, NULL, on_metrics, ctx);
    add("node_load1", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 0.5);
    add("memmimic_x", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 1);
    add("node_load5", "", MM__METRIC_TYPE__GAUGE, NULL, NULL, 0.25);
    send_batch(gw);
    assert_int_equal(metric_frames, 2);

    assert_int_equal(ws(gw, &f, "{\"resume\": 17}", &resume, &reply), 0);
    assert_int_equal(resume, 17);
    free(reply);
    assert_int_equal(ws(gw, &f, "{\"type\":\"ping\"}", &resume, &reply), 0);
    assert_non_null(strstr(reply, "\"type\":\"pong\""));
    free(reply);
    assert_int_equal(ws(gw, &f, "{\"unsubscribe\": [\"health.\"]}", &resume, &reply), 0);
    free(reply);
    assert_false(gateway_ws_filter_match(&f, "health.change"));

    static const char *const bad[] = {
        "not json", "[1]", "{\"subscribe\": \"x\"}", "{\"subscribe\": [1]}", "{\"resume\": -1}",
        "{\"type\":\"dance\"}", "{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ws(gw, &f, bad[i], &resume, &reply), -EINVAL);
        assert_non_null(strstr(reply, "\"topic\":\"error\""));
        json_error_t e;
        json_t *j = json_loads(reply, 0, &e);
        assert_non_null(j);
        json_decref(j);
        free(reply);
    }
    gateway_ws_filter_fini(&f);
    gateway_free(gw);
}

/* promtool (Debian's prometheus package) must report nothing on the
 * exposition: histograms with several label sets, a summary, escaping,
 * special values, and the gateway's own series. Skipped without promtool. */
static void test_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    gateway_t *gw = make();
    add("lat_seconds_bucket", "job=a,le=0.1", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", "Latency.", 1);
    add("lat_seconds_bucket", "job=a,le=+Inf", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 3);
    add("lat_seconds_sum", "job=a", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 0.7);
    add("lat_seconds_count", "job=a", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 3);
    add("lat_seconds_bucket", "job=b,le=0.1", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 0);
    add("lat_seconds_count", "job=b", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 2);
    add("lat_seconds_sum", "job=b", MM__METRIC_TYPE__HISTOGRAM, "lat_seconds", NULL, 9);
    add("rpc_duration_seconds", "quantile=0.99", MM__METRIC_TYPE__SUMMARY, "rpc_duration_seconds", "RPC.", 0.3);
    add("rpc_duration_seconds", "quantile=0.5", MM__METRIC_TYPE__SUMMARY, "rpc_duration_seconds", NULL, 0.1);
    add("rpc_duration_seconds_sum", "", MM__METRIC_TYPE__SUMMARY, "rpc_duration_seconds", NULL, 5);
    add("rpc_duration_seconds_count", "", MM__METRIC_TYPE__SUMMARY, "rpc_duration_seconds", NULL, 20);
    add("jobs_total", "q=a\"b\\c\nd", MM__METRIC_TYPE__COUNTER, NULL, "Jobs \\ done\nhere.", 1e21);
    add("temp_celsius", "", MM__METRIC_TYPE__GAUGE, NULL, "T.", -INFINITY);
    add("ratio", "", MM__METRIC_TYPE__GAUGE, NULL, "R.", NAN);
    add("mystery", "", MM__METRIC_TYPE__UNTYPED, NULL, "U.", 0.1 + 0.2);
    send_batch(gw);
    send_heartbeat(gw, "collector", "c1", 7, MM__SERVICE_STATE__READY);
    gateway_count_request(gw, "status", 200);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_render_exposition(gw, &b);
    gateway_render_own_exposition(gw, &b);
    char path[] = "/tmp/mm-expo-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    if (rc != 0 || n != 0)
        fail_msg("promtool rc=%d output:\n%s\n--- exposition:\n%s", rc, out, b.data);
    gateway_buf_fini(&b);
    gateway_free(gw);
}

/* Mutated client messages never crash, and every answer is valid JSON. */
static void test_ws_mutations(void **state)
{
    (void)state;
    gateway_t *gw = make();
    static const char *const seeds[] = {
        "{\"subscribe\": [\"metric.node_\", \"health.\"]}", "{\"unsubscribe\": [\"status\"]}",
        "{\"resume\": 12}", "{\"type\": \"ping\"}",
    };
    static const char alphabet[] = "{}[]\":,.-0123456789 rstuyp\\\x01\xff";
    uint32_t x = 777;
    for (int i = 0; i < 20000; i++) {
        char buf[128];
        const char *seed = seeds[i % 4];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        for (int k = 0; k < 1 + i % 3; k++) {
            x = x * 1103515245 + 12345;
            buf[(x >> 8) % len] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
        }
        gateway_ws_filter_t f;
        gateway_ws_filter_init(&f);
        gateway_buf_t reply;
        gateway_buf_init(&reply);
        int64_t resume;
        int r = gateway_ws_client_message(gw, &f, buf, len, &resume, &reply);
        assert_true(r == 0 || r == -EINVAL);
        if (reply.len) {
            json_error_t e;
            json_t *j = json_loadb(reply.data, reply.len, 0, &e);
            if (!j)
                fail_msg("invalid reply %s to %.*s", reply.data, (int)len, buf);
            json_decref(j);
        }
        gateway_buf_fini(&reply);
        gateway_ws_filter_fini(&f);
    }
    gateway_free(gw);
}

static void test_many_series(void **state)
{
    (void)state;
    gateway_opts_t o = { .instance = "gw", .max_series = 1000 };
    mm_clock_fake_init(&clk, T0);
    gateway_t *gw;
    assert_int_equal(gateway_new(&o, &clk, &gw), 0);
    char names[40][32];
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < 40; i++) {
            snprintf(names[i], sizeof(names[i]), "m%d_%d", round % 7, i);
            add(names[i], "", MM__METRIC_TYPE__GAUGE, NULL, NULL, round);
        }
        send_batch(gw);
    }
    assert_int_equal(gateway_series_count(gw), 280);
    for (int round = 0; round < 7; round++) {
        for (int i = 0; i < 40; i++) {
            snprintf(names[i], sizeof(names[i]), "m%d_%d", round, i);
            add(names[i], "", MM__METRIC_TYPE__GAUGE, NULL, NULL, mm_stale_nan());
        }
        send_batch(gw);
    }
    assert_int_equal(gateway_series_count(gw), 0);
    char *text = expo(gw);
    assert_string_equal(text, "");
    free(text);
    gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_histogram_without_inf),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_state_sweep),
        cmocka_unit_test(test_metrics_json),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_health_and_ring),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_ws_protocol),
        cmocka_unit_test(test_promtool),
        cmocka_unit_test(test_ws_mutations),
        cmocka_unit_test(test_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
