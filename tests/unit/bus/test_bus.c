/* Tests for the bus client (framing, stamping, gap counting) and the
 * forwarder, over real NNG sockets on unique inproc:// addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "mm_bus.h"
#include "mm_config.h"

static void test_codec(void **state)
{
    (void)state;
    Mm__Heartbeat hb = MM__HEARTBEAT__INIT;
    hb.version = "1.2.3";
    hb.pid = 42;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = "health";
    env.instance = "h1-health";
    env.family = "state";
    env.seq = 7;
    env.payload_case = MM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    uint8_t *buf;
    size_t len;
    assert_int_equal(mm_bus_encode("state.health.hb", &env, &buf, &len), 0);
    const char *topic;
    Mm__Envelope *out;
    assert_int_equal(mm_bus_decode(buf, len, &topic, &out), 0);
    assert_string_equal(topic, "state.health.hb");
    assert_int_equal(out->seq, 7);
    assert_int_equal(out->payload_case, MM__ENVELOPE__PAYLOAD_HEARTBEAT);
    assert_string_equal(out->heartbeat->version, "1.2.3");
    mm__envelope__free_unpacked(out, NULL);
    assert_true(bus_frame_valid(buf, len));

    /* Malformed: no NUL, bad topic bytes, empty topic, garbage body. */
    assert_int_equal(mm_bus_decode((const uint8_t *)"metric.batch", 12, &topic, &out), -EBADMSG);
    assert_int_equal(mm_bus_decode((const uint8_t *)"Metric\0", 7, &topic, &out), -EBADMSG);
    assert_int_equal(mm_bus_decode((const uint8_t *)"\0abc", 4, &topic, &out), -EBADMSG);
    const uint8_t garbage[] = "metric.x\0\xff\xff\xff\xff\xff\xff\xff";
    assert_int_equal(mm_bus_decode(garbage, sizeof garbage - 1, &topic, &out), -EBADMSG);
    assert_false(bus_frame_valid((const uint8_t *)"UPPER\0", 6));
    assert_int_equal(mm_bus_encode("Bad Topic", &env, &buf, &len), -EINVAL);
    free(buf);
}

static void test_seqtrack(void **state)
{
    (void)state;
    mm_seqtrack_t *t = mm_seqtrack_new();
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "metric", 1), 0);
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "metric", 2), 0);
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "metric", 5), 2);
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "metric", 5), 0);   /* duplicate */
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "metric", 3), 0);   /* late */
    assert_int_equal(mm_seqtrack_note(t, "a", 1, "health", 9), 0);   /* another family */
    assert_int_equal(mm_seqtrack_note(t, "a", 2, "metric", 1), 0);   /* restart: new boot */
    assert_int_equal(mm_seqtrack_note(t, "a", 2, "metric", 3), 1);
    assert_int_equal(mm_config_bus_url_check("tcp://10.0.0.1:5555"), -EPERM);
    assert_int_equal(mm_config_bus_url_check("tcp://127.0.0.1:5555"), 0);
    assert_int_equal(mm_config_bus_url_check("tls+tcp://10.0.0.1:5555"), 0);
    assert_int_equal(mm_config_bus_url_check("ipc:///tmp/x"), 0);
    /* Many streams grow the table. */
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "inst-%d", i);
        mm_seqtrack_note(t, name, 1, "metric", 1);
    }
    assert_int_equal(mm_seqtrack_streams(t), 1002);
    mm_seqtrack_free(t);
}

typedef struct {
    uv_loop_t *loop;
    int metric_msgs;
    int other_msgs;
    uint64_t last_seq;
    bool order_ok;
    bool stamps_ok;
    int want;
} recv_state_t;

static void on_msg(mm_bus_t *bus, const char *topic, const Mm__Envelope *env, void *data)
{
    recv_state_t *st = data;
    (void)bus;
    if (strncmp(topic, "metric.", 7) != 0) {
        st->other_msgs++;
        return;
    }
    if (strcmp(topic, "metric.probe") == 0)
        return;
    st->metric_msgs++;
    if (env->seq <= st->last_seq)
        st->order_ok = false;
    st->last_seq = env->seq;
    if (strcmp(env->sender, "collector") != 0 || strcmp(env->family, "metric") != 0 ||
        env->time_ms <= 0 || env->payload_case != MM__ENVELOPE__PAYLOAD_METRICS)
        st->stamps_ok = false;
    if (st->metric_msgs >= st->want)
        uv_stop(st->loop);
}

static void on_deadline(uv_timer_t *t) { uv_stop(t->loop); }

static mm_bus_t *probe_pub;
static void on_probe(uv_timer_t *t)
{
    (void)t;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    mm_bus_publish(probe_pub, "metric.probe", &env);
}

/* Runs the loop until `st->want` messages arrived or `ms` passed. */
static void run_until(uv_loop_t *loop, int ms)
{
    uv_timer_t deadline;
    uv_timer_init(loop, &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_timer_stop(&deadline);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void on_probe_seen(mm_bus_t *bus, const char *topic, const Mm__Envelope *env, void *data)
{
    recv_state_t *st = data;
    if (strcmp(topic, "metric.probe") == 0) {
        st->want = 0;
        uv_stop(st->loop);
        return;
    }
    on_msg(bus, topic, env, data);
}

/* Sends one metric envelope as instance "raw", boot 99, through a raw socket. */
static void send_raw(nng_socket raw, Mm__MetricBatch *mb, uint64_t seq)
{
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.sender = "collector";
    env.instance = "raw";
    env.family = "metric";
    env.boot_id = 99;
    env.seq = seq;
    env.time_ms = 1;
    env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = mb;
    uint8_t *buf;
    size_t len;
    assert_int_equal(mm_bus_encode("metric.batch", &env, &buf, &len), 0);
    nng_send(raw, buf, len, 0);
    free(buf);
}

static void test_forward_and_gaps(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char in[64], out[64];
    snprintf(in, sizeof in, "inproc://bus-in-%d", getpid());
    snprintf(out, sizeof out, "inproc://bus-out-%d", getpid());
    bus_forwarder_t *fw;
    assert_int_equal(bus_forwarder_new(&loop, in, out, NULL, &fw), 0);

    recv_state_t st = {.loop = &loop, .order_ok = true, .stamps_ok = true, .want = 1};
    mm_bus_opts_t so = {.pub_url = in, .sub_url = out, .service = "gateway", .instance = "t-gw"};
    mm_bus_t *sub;
    assert_int_equal(mm_bus_new(&loop, &so, on_probe_seen, &st, &sub), 0);
    assert_int_equal(mm_bus_subscribe(sub, "metric."), 0);
    mm_bus_opts_t po = {.pub_url = in, .service = "collector", .instance = "t-col"};
    mm_bus_t *pub;
    assert_int_equal(mm_bus_new(&loop, &po, NULL, NULL, &pub), 0);

    /* Pub/sub joins asynchronously: probe until the subscriber hears one. */
    probe_pub = pub;
    uv_timer_t probe;
    uv_timer_init(&loop, &probe);
    uv_timer_start(&probe, on_probe, 0, 10);
    run_until(&loop, 5000);
    uv_timer_stop(&probe);
    uv_close((uv_handle_t *)&probe, NULL);
    assert_int_equal(st.want, 0);

    /* 2000 metric batches and 50 health messages the subscriber did not ask for. */
    st.want = 2000;
    Mm__Series s = MM__SERIES__INIT;
    s.name = "x";
    double v = 1;
    int64_t t = 1000;
    s.n_values = s.n_times_ms = 1;
    s.values = &v;
    s.times_ms = &t;
    Mm__Series *sp = &s;
    Mm__MetricBatch mb = MM__METRIC_BATCH__INIT;
    mb.n_series = 1;
    mb.series = &sp;
    for (int i = 0; i < 2000; i++) {
        Mm__Envelope env = MM__ENVELOPE__INIT;
        env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
        env.metrics = &mb;
        assert_int_equal(mm_bus_publish(pub, "metric.batch", &env), 0);
        if (i % 40 == 0) {
            Mm__Envelope h = MM__ENVELOPE__INIT;
            mm_bus_publish(pub, "health.report", &h);
        }
    }
    run_until(&loop, 10000);
    assert_int_equal(st.metric_msgs, 2000);
    assert_int_equal(st.other_msgs, 0);
    assert_true(st.order_ok);
    assert_true(st.stamps_ok);
    mm_bus_stats_t bs;
    mm_bus_stats(sub, &bs);
    assert_int_equal(bs.gaps, 0);

    /* An induced loss: seq 1, 2, then 6 from a raw sender. */
    nng_socket raw;
    assert_int_equal(nng_pub0_open(&raw), 0);
    assert_int_equal(nng_dial(raw, in, NULL, 0), 0);
    st.want = 1;
    st.metric_msgs = 0;
    st.last_seq = 0;
    uint64_t seqs[] = {1, 2, 6};
    /* Give the new pipe a moment to attach by probing through it. */
    for (int round = 0; round < 200 && st.metric_msgs == 0; round++) {
        send_raw(raw, &mb, 1);
        run_until(&loop, 20);
    }
    assert_true(st.metric_msgs > 0);
    mm_bus_stats(sub, &bs);
    uint64_t gaps_before = bs.gaps;
    st.want = 2;
    st.metric_msgs = 0;
    for (int i = 1; i < 3; i++)
        send_raw(raw, &mb, seqs[i]);
    /* And one malformed message, which is counted and skipped by the forwarder. */
    nng_send(raw, "garbage", 7, 0);
    run_until(&loop, 5000);
    mm_bus_stats(sub, &bs);
    assert_int_equal(bs.gaps - gaps_before, 3);
    bus_forwarder_stats_t fs;
    bus_forwarder_stats(fw, &fs);
    assert_int_equal(fs.dropped_malformed, 1);
    nng_close(raw);

    mm_bus_free(pub);
    mm_bus_free(sub);
    bus_forwarder_free(fw);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Sockets closed within the deadline: none left, and each is really closed. */
static void test_close_sockets(void **state)
{
    (void)state;
    nng_socket socks[3];
    assert_int_equal(nng_pub0_open(&socks[0]), 0);
    assert_int_equal(nng_sub0_open(&socks[1]), 0);
    assert_int_equal(nng_pub0_open(&socks[2]), 0);
    /* One of them mid-dial to nothing, as a service whose bus is down. */
    assert_int_equal(mm_bus_attach(&socks[1], "tcp://127.0.0.1:1", NULL, false), 0);
    assert_int_equal(mm_bus_close_sockets(socks, 3, 5000, "test"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(nng_socket_set_int(socks[i], NNG_OPT_RECVBUF, 1), NNG_ECLOSED);
    assert_int_equal(mm_bus_close_sockets(socks, 0, 5000, "test"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_seqtrack),
        cmocka_unit_test(test_forward_and_gaps),
        cmocka_unit_test(test_close_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
