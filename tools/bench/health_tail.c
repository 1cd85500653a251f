/* memmon-health-tail: prints what the health service publishes (health.*,
 * state.health) as JSON lines, and with --run sends cmd.health health.run
 * and prints the reply and the result. Used by the health e2e tests and the
 * benchmark; also a reference for the JSON the gateway serves.
 *   memmon-health-tail -c DIR [--run a,b] [--count N] [--timeout S] [--topic P] */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "mm_bus.h"
#include "mm_config.h"

static const char *const levels[] = { "healthy", "degraded", "unhealthy", "critical" };
static long want = -1, seen;
static const char *run_checks;
static char run_id[40];
static uv_timer_t tmo, kick;
static mm_bus_t *bus;
static bool stop_after_run;

static const char *lvl(int l) { return l >= 0 && l < 4 ? levels[l] : "unknown"; }

static json_t *report_json(const Mm__HealthReport *r)
{
    json_t *checks = json_array();
    for (size_t i = 0; i < r->n_checks; i++) {
        const Mm__CheckResult *c = r->checks[i];
        json_t *det = json_object();
        for (size_t k = 0; k < c->n_details; k++)
            json_object_set_new(det, c->details[k]->name, json_string(c->details[k]->value));
        json_t *deps = json_array();
        for (size_t k = 0; k < c->n_depends_on; k++)
            json_array_append_new(deps, json_string(c->depends_on[k]));
        json_array_append_new(checks, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:s?, s:f, s:I, s:I, s:o}",
            "name", c->name, "kind", c->kind, "status", lvl(c->level), "raw_status",
            lvl(c->raw_level), "message", c->message, "response_time_ms", c->duration_s * 1000.0,
            "weight", c->weight, "depends_on", deps, "blocked_by",
            c->blocked_by && c->blocked_by[0] ? c->blocked_by : NULL, "score_penalty",
            c->score_penalty, "timestamp_ms", (json_int_t)c->time_ms, "since_ms",
            (json_int_t)c->since_ms, "metadata", det));
    }
    json_t *changes = json_array();
    for (size_t i = 0; i < r->n_changes; i++) {
        const Mm__LevelChange *c = r->changes[i];
        json_array_append_new(changes, json_pack("{s:s, s:s, s:s, s:I, s:s}", "check", c->check,
                                                 "from", lvl(c->from), "to", lvl(c->to),
                                                 "time_ms", (json_int_t)c->time_ms, "message",
                                                 c->message));
    }
    return json_pack("{s:s, s:f, s:o, s:o}", "status", lvl(r->overall), "score", r->score,
                     "checks", checks, "changes", changes);
}

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

static void on_close(uv_handle_t *h) { (void)h; }

static void finish(void)
{
    uv_timer_stop(&tmo);
    uv_close((uv_handle_t *)&tmo, on_close);
    if (!uv_is_closing((uv_handle_t *)&kick))
        uv_close((uv_handle_t *)&kick, on_close);
    mm_bus_free(bus);
    bus = NULL;
}

static void on_msg(mm_bus_t *b, const char *topic, const Mm__Envelope *env, void *data)
{
    (void)b, (void)data;
    json_t *o = NULL;
    if (env->payload_case == MM__ENVELOPE__PAYLOAD_HEALTH) {
        o = report_json(env->health);
    } else if (env->payload_case == MM__ENVELOPE__PAYLOAD_STATE &&
               env->state->part_case == MM__STATE_CHUNK__PART_HEALTH) {
        o = report_json(env->state->health);
        json_object_set_new(o, "chunk", json_pack("{s:i, s:i}", "index", (int)env->state->index,
                                                  "total", (int)env->state->total));
    } else if (env->payload_case == MM__ENVELOPE__PAYLOAD_REPLY) {
        const Mm__Reply *r = env->reply;
        if (strcmp(r->id, run_id) != 0)
            return;
        json_error_t e;
        json_t *res = r->result_json && r->result_json[0] ? json_loads(r->result_json, 0, &e) : NULL;
        o = json_pack("{s:s, s:i, s:s, s:s, s:o?}", "id", r->id, "status", (int)r->status,
                      "error_code", r->error_code, "error_message", r->error_message, "result",
                      res);
        if (r->status >= 400 && stop_after_run) {
            json_object_set_new(o, "topic", json_string(topic));
            emit(o);
            finish();
            return;
        }
    } else {
        return;
    }
    json_object_set_new(o, "topic", json_string(topic));
    emit(o);
    if ((want > 0 && ++seen >= want) ||
        (stop_after_run && strncmp(topic, "health.run.", 11) == 0))
        finish();
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "memmon-health-tail: timed out\n");
    finish();
}

/* Sends the command once the subscriber has had time to connect (pub/sub
 * drops what is sent before the pipe is up). */
static void on_kick(uv_timer_t *t)
{
    (void)t;
    json_t *names = json_array();
    char *dup = strdup(run_checks);
    for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ","))
        json_array_append_new(names, json_string(tok));
    free(dup);
    json_t *args = json_pack("{s:o}", "checks", names);
    char *js = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    Mm__Command cmd = MM__COMMAND__INIT;
    cmd.id = run_id;
    cmd.requester = (char *)mm_bus_instance(bus);
    cmd.deadline_ms = (int64_t)time(NULL) * 1000 + 5000;
    cmd.verb = (char *)"health.run";
    cmd.args_json = js;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_COMMAND;
    env.command = &cmd;
    mm_bus_publish(bus, "cmd.health", &env);
    free(js);
    uv_close((uv_handle_t *)&kick, on_close);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'}, {"run", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},      {"timeout", required_argument, NULL, 't'},
        {"topic", required_argument, NULL, 'p'},      {0},
    };
    const char *dir = ".", *topic = "health.";
    double timeout_s = 30;
    int c;
    while ((c = getopt_long(argc, argv, "c:r:n:t:p:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': dir = optarg; break;
        case 'r': run_checks = optarg; break;
        case 'n': want = atol(optarg); break;
        case 't': timeout_s = atof(optarg); break;
        case 'p': topic = optarg; break;
        default:
            fprintf(stderr, "usage: memmon-health-tail -c DIR [--run a,b] [--count N] "
                            "[--timeout S] [--topic PREFIX]\n");
            return 2;
        }
    }
    mm_config_t cfg;
    mm_diag_t d = {0};
    if (mm_config_load(dir, "health-tail", &cfg, &d) < 0) {
        char m[1200];
        mm_diag_format(&d, m, sizeof(m));
        fprintf(stderr, "memmon-health-tail: %s\n", m);
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    char inst[96];
    snprintf(inst, sizeof(inst), "health-tail-%ld", (long)getpid());
    mm_bus_tls_t tls = {cfg.bus_tls_cert, cfg.bus_tls_key, cfg.bus_tls_ca};
    mm_bus_opts_t bo = {.pub_url = cfg.bus_in, .sub_url = cfg.bus_out, .service = "health-tail",
                        .instance = inst, .tls = &tls};
    if (mm_bus_new(&loop, &bo, on_msg, NULL, &bus) < 0) {
        fprintf(stderr, "memmon-health-tail: cannot open the bus\n");
        return 1;
    }
    /* With --run, only the reply and the run's own result. */
    if (run_checks && strcmp(topic, "health.") == 0)
        topic = "health.run.";
    mm_bus_subscribe(bus, topic);
    if (strcmp(topic, "health.") == 0)
        mm_bus_subscribe(bus, "state.health");
    uv_timer_init(&loop, &tmo);
    uv_timer_start(&tmo, on_timeout, (uint64_t)(timeout_s * 1000), 0);
    uv_timer_init(&loop, &kick);
    if (run_checks) {
        stop_after_run = true;
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        for (int i = 0; i < 32; i++)
            run_id[i] = "0123456789abcdef"[rand() % 16];
        char rt[128];
        snprintf(rt, sizeof(rt), "reply.%s", inst);
        mm_bus_subscribe(bus, rt);
        uv_timer_start(&kick, on_kick, 300, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    mm_config_fini(&cfg);
    return 0;
}
