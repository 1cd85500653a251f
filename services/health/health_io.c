/* The health scheduler and bus adapter (see health_io.h): a uv timer per
 * check, a deadline timer per run, bounded concurrency with a FIFO of due
 * checks, batched publishing, commands, state republish and health.db. */
#include "health_io.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "health_metric.h"
#include "health_probe.h"
#include "health_store.h"
#include "mm_err.h"
#include "mm_labels.h"
#include "mm_log.h"

#define MAX_REQUESTS 64
#define RECENT_IDS 64
#define CHUNK_CHECKS 200

typedef struct sched sched_t;
struct sched {
    health_io_t *io;
    size_t idx;
    const health_check_conf_t *conf;
    uv_timer_t timer;
    bool running, queued, gone, timer_inited, timer_closed;
    sched_t *next_queued;
    health_probe_memo_t memo;
    uint64_t overruns;
};

typedef struct {
    bool used;
    char id[40];
    char *want;                 /* check names wanted, by index into a names array */
    char **names;
    size_t n_names, remaining;
    bool *done;
} request_t;

typedef struct {
    char id[40];
    int32_t status;
    char *result_json;
} recent_t;

struct health_io {
    uv_loop_t *loop;
    const mm_clock_t *clock;
    health_publish_cb publish;
    void *publish_data;
    health_config_t *cfg;
    health_t *engine;
    health_metric_store_t *metrics;
    health_store_t *store;
    sched_t **sched;
    size_t n_sched;
    sched_t *q_head, *q_tail;
    health_run_t *runs;         /* in flight */
    size_t in_flight;
    uv_timer_t flush_timer, state_timer;
    uv_signal_t sigchld;
    int64_t flush_ms, state_ms;
    bool *ran;                  /* per index: ran since the last flush */
    size_t ran_cap;
    size_t changes_pending;
    bool dirty, started, stopping;
    request_t req[MAX_REQUESTS];
    recent_t recent[RECENT_IDS];
    size_t recent_pos;
    void *curl;
    void (*curl_close)(void *);
    health_io_stats_t stats;
    health_report_t rep;
};

static const health_probe_ops_t *const probes[HEALTH_KIND_COUNT] = {
    [HEALTH_KIND_SQLITE] = &health_probe_sqlite,
    [HEALTH_KIND_HTTP] = &health_probe_http,
    [HEALTH_KIND_TCP] = &health_probe_tcp,
    [HEALTH_KIND_PROCESS] = &health_probe_process,
    [HEALTH_KIND_SYSTEM] = &health_probe_system,
    [HEALTH_KIND_COMMAND] = &health_probe_command,
    [HEALTH_KIND_METRIC] = &health_probe_metric,
};

struct health_metric_store *health_io_metrics(health_io_t *io) { return io->metrics; }
void *health_io_curl(health_io_t *io) { return io->curl; }
void health_io_set_curl(health_io_t *io, void *curl, void (*close_fn)(void *))
{
    io->curl = curl;
    io->curl_close = close_fn;
}

void health_io_stats(const health_io_t *io, health_io_stats_t *ret)
{
    *ret = io->stats;
    ret->in_flight = io->in_flight;
}

/* ---- runs ---- */

int64_t health_run_mono_ns(const health_run_t *run) { return mm_clock_mono_ns(run->io->clock); }
int64_t health_run_now_ms(const health_run_t *run) { return mm_clock_now_ms(run->io->clock); }

void health_run_ref(health_run_t *run) { run->refs++; }

void health_run_unref(health_run_t *run)
{
    if (--run->refs > 0)
        return;
    health_config_unref(run->cfg_ref);
    free(run);
}

static void sched_maybe_free(sched_t *s);
static void start_run(sched_t *s);
static void request_note(health_io_t *io, size_t idx);

static void on_run_timer_close(uv_handle_t *h)
{
    health_run_t *run = h->data;
    health_run_unref(run);
}

/* The scheduler's side of the end of a run, once a result is recorded. */
static void run_finished(health_run_t *run)
{
    health_io_t *io = run->io;
    sched_t *s = run->sched;
    if (run->prev)
        run->prev->next = run->next;
    else
        io->runs = run->next;
    if (run->next)
        run->next->prev = run->prev;
    run->next = run->prev = NULL;
    uv_timer_stop(&run->timer);
    uv_close((uv_handle_t *)&run->timer, on_run_timer_close);
    io->in_flight--;
    s->running = false;
    if (!s->gone && !io->stopping) {
        health_result_t *r = &run->result;
        if (health_record(io->engine, s->idx, r) < 0)
            mm_log_warn("MM-HEALTH-RECORD", "cannot record %s", s->conf->name);
        if (s->idx < io->ran_cap)
            io->ran[s->idx] = true;
        io->dirty = true;
        io->stats.runs++;
        request_note(io, s->idx);
    }
    sched_maybe_free(s);
    /* Let a queued check take the freed slot. */
    while (io->q_head && io->in_flight < (size_t)io->cfg->max_concurrent) {
        sched_t *q = io->q_head;
        io->q_head = q->next_queued;
        if (!io->q_head)
            io->q_tail = NULL;
        q->queued = false;
        q->next_queued = NULL;
        if (!q->gone && !q->running)
            start_run(q);
        else
            sched_maybe_free(q);
    }
}

void health_run_done(health_run_t *run)
{
    if (run->done)
        return;
    run->done = true;
    int64_t now = health_run_mono_ns(run);
    run->result.duration_s = (double)(now - run->start_ns) / 1e9;
    run->result.time_ms = health_run_now_ms(run);
    run_finished(run);
}

static void on_deadline(uv_timer_t *t)
{
    health_run_t *run = t->data;
    if (run->done)
        return;
    health_io_t *io = run->io;
    io->stats.timeouts++;
    /* The probe's partial findings stay as details; the level and reason
     * are the timeout's. */
    run->result.level = HEALTH_CRITICAL;
    snprintf(run->result.message, sizeof(run->result.message), "timed out after %.3gs",
             (double)run->conf->timeout_ms / 1000.0);
    run->cancelled = true;
    if (run->ops && run->ops->cancel)
        run->ops->cancel(run);
    health_run_done(run);
}

static void start_run(sched_t *s)
{
    health_io_t *io = s->io;
    health_run_t *run = calloc(1, sizeof(*run));
    if (!run) {
        mm_log_err("MM-HEALTH-OOM", "cannot start %s: out of memory", s->conf->name);
        return;
    }
    run->io = io;
    run->sched = s;
    run->loop = io->loop;
    run->conf = s->conf;
    run->cfg_ref = health_config_ref(io->cfg);
    run->next = io->runs;
    if (io->runs)
        io->runs->prev = run;
    io->runs = run;
    run->memo = &s->memo;
    run->index = s->idx;
    run->refs = 1;          /* the deadline timer's; dropped in its close callback */
    run->ops = probes[s->conf->kind];
    run->start_ns = mm_clock_mono_ns(io->clock);
    run->deadline_ns = run->start_ns + s->conf->timeout_ms * 1000000;
    health_result_init(&run->result);
    uv_timer_init(io->loop, &run->timer);
    run->timer.data = run;
    uv_timer_start(&run->timer, on_deadline, (uint64_t)s->conf->timeout_ms, 0);
    s->running = true;
    io->in_flight++;
    int r = run->ops && run->ops->start ? run->ops->start(run) : -ENOSYS;
    if (r < 0 && !run->done) {
        health_result_raise(&run->result, HEALTH_CRITICAL, "cannot start the probe: %s",
                            mm_strerror(r));
        health_run_done(run);
    }
}

/* Starts s now, or queues it when the concurrency bound is reached. */
static void due(sched_t *s, bool force)
{
    health_io_t *io = s->io;
    if (s->gone || io->stopping)
        return;
    if (s->running) {
        s->overruns++;
        io->stats.overruns++;
        return;
    }
    if (!force && io->in_flight >= (size_t)io->cfg->max_concurrent) {
        if (!s->queued) {
            s->queued = true;
            if (io->q_tail)
                io->q_tail->next_queued = s;
            else
                io->q_head = s;
            io->q_tail = s;
        }
        return;
    }
    start_run(s);
}

static void on_check_timer(uv_timer_t *t)
{
    due(t->data, false);
}

static void on_sched_timer_close(uv_handle_t *h)
{
    sched_t *s = h->data;
    s->timer_closed = true;
    sched_maybe_free(s);
}

static void sched_maybe_free(sched_t *s)
{
    if (s->gone && s->timer_closed && !s->running && !s->queued) {
        if (s->memo.free_fn)
            s->memo.free_fn(s->memo.data);
        free(s);
    }
}

static void sched_retire(sched_t *s)
{
    s->gone = true;
    if (!s->timer_inited) {
        s->timer_closed = true;
        sched_maybe_free(s);
        return;
    }
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_sched_timer_close);
}

/* A stable spread of first runs over the first interval (at most 1 s), so
 * a thousand checks do not all start in the same millisecond. */
static uint64_t jitter_ms(const health_check_conf_t *c)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = c->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    uint64_t span = (uint64_t)(c->interval_ms < 1000 ? c->interval_ms : 1000);
    return span ? h % span : 0;
}

static void sched_arm(health_io_t *io, sched_t *s)
{
    if (!io->started || s->gone || !s->conf->enabled)
        return;
    if (!s->timer_inited) {
        uv_timer_init(io->loop, &s->timer);
        s->timer.data = s;
        s->timer_inited = true;
    }
    uv_timer_start(&s->timer, on_check_timer, jitter_ms(s->conf), (uint64_t)s->conf->interval_ms);
}

static int build_sched(health_io_t *io, health_config_t *cfg)
{
    sched_t **ns = calloc(cfg->n_checks + 1, sizeof(*ns));
    bool *ran = calloc(cfg->n_checks + 1, sizeof(*ran));
    if (!ns || !ran) {
        free(ns);
        free(ran);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_checks; i++) {
        const health_check_conf_t *c = &cfg->checks[i];
        sched_t *s = NULL;
        for (size_t j = 0; j < io->n_sched; j++)
            if (io->sched[j] && strcmp(io->sched[j]->conf->name, c->name) == 0 &&
                io->sched[j]->conf->kind == c->kind) {
                s = io->sched[j];
                io->sched[j] = NULL;
                break;
            }
        if (!s) {
            if (!(s = calloc(1, sizeof(*s)))) {
                /* The old entries taken so far go back where they were. */
                for (size_t k = 0; k < i; k++)
                    for (size_t j = 0; j < io->n_sched; j++)
                        if (!io->sched[j] && ns[k] && ns[k]->conf) {
                            io->sched[j] = ns[k];
                            ns[k] = NULL;
                        }
                for (size_t k = 0; k < i; k++)
                    free(ns[k]);
                free(ns);
                free(ran);
                return -ENOMEM;
            }
            s->io = io;
        } else if (s->memo.free_fn) {
            /* Settings may have changed: compiled state is rebuilt. */
            s->memo.free_fn(s->memo.data);
            s->memo.data = NULL;
            s->memo.free_fn = NULL;
        }
        s->idx = i;
        s->conf = c;
        ns[i] = s;
    }
    for (size_t j = 0; j < io->n_sched; j++)
        if (io->sched[j])
            sched_retire(io->sched[j]);
    free(io->sched);
    free(io->ran);
    io->sched = ns;
    io->n_sched = cfg->n_checks;
    io->ran = ran;
    io->ran_cap = cfg->n_checks;
    return 0;
}

/* ---- publishing ---- */

static int publish(health_io_t *io, const char *topic, Mm__Envelope *env)
{
    return io->publish ? io->publish(io->publish_data, topic, env) : 0;
}

typedef struct {
    Mm__Series *series;
    Mm__Series **ptrs;
    Mm__Label *labels;
    Mm__Label **lptrs;
    int64_t *times;
    double *values;
    size_t n, cap, nl;
} batch_t;

static int batch_add(batch_t *b, const char *name, const char *help, const char *l1n,
                     const char *l1v, const char *l2n, const char *l2v, int64_t t, double v)
{
    if (b->n >= b->cap)
        return -ENOSPC;
    Mm__Series *s = &b->series[b->n];
    mm__series__init(s);
    s->name = (char *)name;
    s->family_name = (char *)name;
    s->help = (char *)help;
    s->type = MM__METRIC_TYPE__GAUGE;
    mm_label_t lab[2];
    size_t nl = 0;
    if (l1n) {
        lab[nl].name = l1n;
        lab[nl++].value = l1v;
    }
    if (l2n) {
        lab[nl].name = l2n;
        lab[nl++].value = l2v;
    }
    mm_labels_sort(lab, nl);
    s->labels = &b->lptrs[b->nl];
    s->n_labels = nl;
    for (size_t i = 0; i < nl; i++) {
        Mm__Label *L = &b->labels[b->nl];
        mm__label__init(L);
        L->name = (char *)lab[i].name;
        L->value = (char *)lab[i].value;
        b->lptrs[b->nl++] = L;
    }
    s->fingerprint = mm_labels_fingerprint(name, lab, nl);
    b->times[b->n] = t;
    b->values[b->n] = v;
    s->times_ms = &b->times[b->n];
    s->n_times_ms = 1;
    s->values = &b->values[b->n];
    s->n_values = 1;
    b->ptrs[b->n++] = s;
    return 0;
}

/* Publishes memmon_health_* series for the checks marked in `ran`. */
static void publish_series(health_io_t *io, const bool *ran, int64_t now)
{
    size_t n = io->n_sched;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        if (ran[i]) {
            health_state_t st;
            health_state(io->engine, i, &st);
            cap += 2 + st.last->n_details;
        }
    batch_t b = { 0 };
    b.cap = cap;
    b.series = calloc(cap, sizeof(*b.series));
    b.ptrs = calloc(cap, sizeof(*b.ptrs));
    b.labels = calloc(cap * 2, sizeof(*b.labels));
    b.lptrs = calloc(cap * 2, sizeof(*b.lptrs));
    b.times = calloc(cap, sizeof(*b.times));
    b.values = calloc(cap, sizeof(*b.values));
    if (!b.series || !b.ptrs || !b.labels || !b.lptrs || !b.times || !b.values)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!ran[i])
            continue;
        health_state_t st;
        health_state(io->engine, i, &st);
        const char *name = io->sched[i]->conf->name;
        batch_add(&b, "memmon_health_status",
                  "Health check level: 0 healthy, 1 degraded, 2 unhealthy, 3 critical",
                  "check", name, NULL, NULL, now, (double)st.level);
        batch_add(&b, "memmon_health_check_duration_seconds", "Duration of the last run",
                  "check", name, NULL, NULL, now, st.last->duration_s);
        /* Nagios perfdata becomes memmon_health_perfdata{check,label}. */
        for (size_t k = 0; k < st.last->n_details; k++) {
            const health_detail_t *d = &st.last->details[k];
            if (strncmp(d->name, "perf.", 5) != 0)
                continue;
            char *end;
            double v = strtod(d->value, &end);
            if (end != d->value)
                batch_add(&b, "memmon_health_perfdata", "Perfdata reported by a command check",
                          "check", name, "label", d->name + 5, now, v);
        }
    }
    batch_add(&b, "memmon_health_score", "Weighted health score 0..1 (CONTRACTS.md 7)", NULL,
              NULL, NULL, NULL, now, health_score(io->engine));
    Mm__MetricBatch mb = MM__METRIC_BATCH__INIT;
    mb.series = b.ptrs;
    mb.n_series = b.n;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = &mb;
    env.time_ms = now;
    publish(io, "metric.health", &env);
out:
    free(b.series);
    free(b.ptrs);
    free(b.labels);
    free(b.lptrs);
    free(b.times);
    free(b.values);
}

static void publish_report(health_io_t *io, const char *topic, const bool *only,
                           size_t changes)
{
    if (health_report_fill(io->engine, &io->rep, only, changes) < 0)
        return;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_HEALTH;
    env.health = &io->rep.report;
    env.time_ms = mm_clock_now_ms(io->clock);
    if (publish(io, topic, &env) == 0)
        io->stats.reports++;
}

static void flush(health_io_t *io)
{
    if (!io->dirty)
        return;
    io->dirty = false;
    size_t ch = io->changes_pending < 256 ? io->changes_pending : 256;
    io->changes_pending = 0;
    publish_report(io, "health.report", io->ran, ch);
    publish_series(io, io->ran, mm_clock_now_ms(io->clock));
    /* The windows of the checks that ran, in one transaction. */
    if (io->store && health_store_begin(io->store) == 0) {
        for (size_t i = 0; i < io->n_sched; i++) {
            if (!io->ran[i])
                continue;
            uint8_t win[HEALTH_WINDOW_MAX];
            size_t n = health_window(io->engine, i, win, sizeof(win));
            health_state_t st;
            health_state(io->engine, i, &st);
            health_store_save_window(io->store, io->sched[i]->conf->name, st.level, st.since_ms,
                                     win, n);
        }
        if (health_store_commit(io->store) < 0)
            mm_log_warn("MM-HEALTH-DB", "cannot save check windows to health.db");
    }
    memset(io->ran, 0, io->ran_cap * sizeof(*io->ran));
}

static void on_flush_timer(uv_timer_t *t) { flush(t->data); }

/* Full state on state.health, in chunks of at most CHUNK_CHECKS checks
 * (1,000 checks would pass the 256 KiB chunk bound in one message). */
static void publish_state(health_io_t *io)
{
    size_t n = io->n_sched;
    uint32_t total = (uint32_t)(n ? (n + CHUNK_CHECKS - 1) / CHUNK_CHECKS : 1);
    bool *only = calloc(n + 1, sizeof(*only));
    if (!only)
        return;
    uint64_t snap = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ (uint64_t)mm_clock_now_ms(io->clock);
    for (uint32_t c = 0; c < total; c++) {
        memset(only, 0, (n + 1) * sizeof(*only));
        for (size_t i = c * CHUNK_CHECKS; i < n && i < (c + 1) * CHUNK_CHECKS; i++)
            only[i] = true;
        if (health_report_fill(io->engine, &io->rep, only,
                               c == 0 ? (size_t)io->cfg->report_changes : 0) < 0)
            break;
        Mm__StateChunk sc = MM__STATE_CHUNK__INIT;
        sc.snapshot_id = snap;
        sc.index = c;
        sc.total = total;
        sc.part_case = MM__STATE_CHUNK__PART_HEALTH;
        sc.health = &io->rep.report;
        Mm__Envelope env = MM__ENVELOPE__INIT;
        env.payload_case = MM__ENVELOPE__PAYLOAD_STATE;
        env.state = &sc;
        env.time_ms = mm_clock_now_ms(io->clock);
        publish(io, "state.health", &env);
    }
    free(only);
}

static void on_state_timer(uv_timer_t *t) { publish_state(t->data); }

static void on_sigchld(uv_signal_t *s, int sig)
{
    (void)s, (void)sig;
    health_command_reap();
}

static void on_change(health_t *h, const health_change_t *c, void *data)
{
    health_io_t *io = data;
    (void)h;
    io->changes_pending++;
    io->stats.changes++;
    mm_log(c->to > c->from ? MM_LOG_WARNING : MM_LOG_NOTICE, "MM-HEALTH-LEVEL",
           "%s: %s -> %s: %s", c->check, health_level_name(c->from), health_level_name(c->to),
           c->message);
    if (io->store)
        health_store_add_change(io->store, c);
}

/* ---- commands ---- */

static void reply(health_io_t *io, const Mm__Command *cmd, int32_t status, const char *code,
                  const char *msg, const char *result_json)
{
    Mm__Reply rp = MM__REPLY__INIT;
    rp.id = cmd->id;
    rp.status = status;
    rp.error_code = (char *)(code ? code : "");
    rp.error_message = (char *)(msg ? msg : "");
    rp.result_json = (char *)(result_json ? result_json : "");
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_REPLY;
    env.reply = &rp;
    char topic[128];
    snprintf(topic, sizeof(topic), "reply.%.100s", cmd->requester ? cmd->requester : "");
    publish(io, topic, &env);
}

static void remember(health_io_t *io, const char *id, int32_t status, const char *json)
{
    recent_t *r = &io->recent[io->recent_pos];
    io->recent_pos = (io->recent_pos + 1) % RECENT_IDS;
    free(r->result_json);
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->status = status;
    r->result_json = json ? strdup(json) : NULL;
}

static void request_free(request_t *q)
{
    for (size_t i = 0; i < q->n_names; i++)
        free(q->names[i]);
    free(q->names);
    free(q->done);
    memset(q, 0, sizeof(*q));
}

static void request_complete(health_io_t *io, request_t *q)
{
    bool *only = calloc(io->n_sched + 1, sizeof(*only));
    if (only) {
        for (size_t i = 0; i < q->n_names; i++) {
            int idx = health_index(io->engine, q->names[i]);
            if (idx >= 0)
                only[idx] = true;
        }
        char topic[80];
        snprintf(topic, sizeof(topic), "health.run.%.40s", q->id);
        publish_report(io, topic, only, 0);
        free(only);
    }
    request_free(q);
}

static void request_note(health_io_t *io, size_t idx)
{
    const char *name = io->sched[idx]->conf->name;
    for (size_t k = 0; k < MAX_REQUESTS; k++) {
        request_t *q = &io->req[k];
        if (!q->used)
            continue;
        for (size_t i = 0; i < q->n_names; i++)
            if (!q->done[i] && strcmp(q->names[i], name) == 0) {
                q->done[i] = true;
                q->remaining--;
            }
        if (q->remaining == 0)
            request_complete(io, q);
    }
}

static void cmd_run(health_io_t *io, const Mm__Command *cmd)
{
    json_error_t jerr;
    json_t *args = NULL;
    if (cmd->args_json && cmd->args_json[0] &&
        !(args = json_loads(cmd->args_json, 0, &jerr))) {
        reply(io, cmd, 400, "bad_args", jerr.text, NULL);
        return;
    }
    json_t *list = args && json_is_object(args) ? json_object_get(args, "checks") : args;
    request_t *q = NULL;
    for (size_t k = 0; k < MAX_REQUESTS && !q; k++)
        if (!io->req[k].used)
            q = &io->req[k];
    if (!q) {
        json_decref(args);
        reply(io, cmd, 503, "busy", "too many on-demand runs in flight", NULL);
        return;
    }
    size_t want = list && json_is_array(list) && json_array_size(list) ? json_array_size(list)
                                                                       : io->n_sched;
    q->names = calloc(want + 1, sizeof(char *));
    q->done = calloc(want + 1, sizeof(bool));
    if (!q->names || !q->done) {
        request_free(q);
        json_decref(args);
        reply(io, cmd, 500, "oom", "out of memory", NULL);
        return;
    }
    json_t *names = json_array();
    for (size_t i = 0; i < want; i++) {
        const char *nm;
        if (list && json_is_array(list) && json_array_size(list)) {
            json_t *it = json_array_get(list, i);
            nm = json_is_string(it) ? json_string_value(it) : NULL;
            if (!nm || health_index(io->engine, nm) < 0) {
                char m[200];
                snprintf(m, sizeof(m), "no check named \"%.120s\"", nm ? nm : "(not a string)");
                request_free(q);
                json_decref(names);
                json_decref(args);
                reply(io, cmd, 404, "unknown_check", m, NULL);
                remember(io, cmd->id, 404, NULL);
                return;
            }
        } else {
            nm = io->sched[i]->conf->name;
        }
        q->names[q->n_names++] = strdup(nm);
        json_array_append_new(names, json_string(nm));
    }
    json_decref(args);
    q->used = true;
    q->remaining = q->n_names;
    snprintf(q->id, sizeof(q->id), "%.32s", cmd->id ? cmd->id : "");
    json_t *res = json_pack("{s:s, s:o, s:s}", "id", q->id, "checks", names, "topic", "");
    char topic[80];
    snprintf(topic, sizeof(topic), "health.run.%.40s", q->id);
    json_object_set_new(res, "topic", json_string(topic));
    char *js = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    reply(io, cmd, 202, NULL, NULL, js);
    remember(io, cmd->id, 202, js);
    free(js);
    /* Start now; a check already running counts when that run ends. */
    size_t nn = q->n_names;
    char **snap = calloc(nn + 1, sizeof(char *));
    for (size_t i = 0; snap && i < nn; i++)
        snap[i] = strdup(q->names[i]);
    for (size_t i = 0; snap && i < nn; i++) {
        int idx = health_index(io->engine, snap[i]);
        if (idx >= 0 && !io->sched[idx]->running)
            due(io->sched[idx], true);
        free(snap[i]);
    }
    free(snap);
}

static void on_command(health_io_t *io, const Mm__Command *cmd)
{
    if (!cmd->id || !cmd->verb)
        return;
    for (size_t i = 0; i < RECENT_IDS; i++)
        if (io->recent[i].id[0] && strcmp(io->recent[i].id, cmd->id) == 0) {
            /* A repeat: the same answer, nothing run twice. */
            reply(io, cmd, io->recent[i].status, NULL, NULL, io->recent[i].result_json);
            return;
        }
    if (cmd->deadline_ms > 0 && cmd->deadline_ms < mm_clock_now_ms(io->clock))
        return;     /* nobody waits for the answer any more */
    if (strcmp(cmd->verb, "health.run") == 0) {
        cmd_run(io, cmd);
    } else if (strcmp(cmd->verb, "health.state") == 0) {
        publish_state(io);
        reply(io, cmd, 200, NULL, NULL, "{\"topic\":\"state.health\"}");
    } else {
        reply(io, cmd, 400, "unknown_verb", "verbs: health.run, health.state", NULL);
    }
}

void health_io_on_message(health_io_t *io, const char *topic, const Mm__Envelope *env)
{
    if (io->stopping)
        return;
    if (env->payload_case == MM__ENVELOPE__PAYLOAD_METRICS && strncmp(topic, "metric.", 7) == 0) {
        /* Our own series come back through the bus; they are never selected
         * unless a check asks for them, which is allowed. */
        health_metric_store_feed(io->metrics, env->metrics);
    } else if (env->payload_case == MM__ENVELOPE__PAYLOAD_COMMAND &&
               strncmp(topic, "cmd.health", 10) == 0) {
        on_command(io, env->command);
    }
}

/* ---- lifecycle ---- */

static void restore(health_io_t *io)
{
    if (!io->store)
        return;
    health_store_load(io->store, io->engine, (size_t)io->cfg->report_changes);
}

int health_io_new(const health_io_opts_t *o, health_config_t *cfg, health_io_t **ret_io)
{
    health_io_t *io = calloc(1, sizeof(*io));
    if (!io)
        return -ENOMEM;
    io->loop = o->loop;
    io->clock = o->clock ? o->clock : &mm_clock_system;
    io->publish = o->publish;
    io->publish_data = o->publish_data;
    io->flush_ms = o->flush_ms > 0 ? o->flush_ms : 200;
    io->state_ms = o->state_ms > 0 ? o->state_ms : 30000;
    io->cfg = health_config_ref(cfg);
    health_report_init(&io->rep);
    int r;
    if ((r = health_new(cfg, io->clock, &io->engine)) < 0 ||
        (r = health_metric_store_new(&io->metrics)) < 0 ||
        (r = health_metric_store_watch(io->metrics, cfg)) < 0 || (r = build_sched(io, cfg)) < 0)
        goto fail;
    health_set_on_change(io->engine, on_change, io);
    if (o->db_path) {
        r = health_store_open(o->db_path, cfg->history_keep, &io->store);
        if (r < 0)
            mm_log_warn("MM-HEALTH-DB", "cannot open %s (%s); history will not survive a "
                        "restart", o->db_path, mm_strerror(r));
        else
            restore(io);
    }
    *ret_io = io;
    return 0;
fail:
    health_io_free(io);
    return r;
}

int health_io_start(health_io_t *io)
{
    io->started = true;
    uv_timer_init(io->loop, &io->flush_timer);
    io->flush_timer.data = io;
    uv_timer_start(&io->flush_timer, on_flush_timer, (uint64_t)io->flush_ms, (uint64_t)io->flush_ms);
    uv_timer_init(io->loop, &io->state_timer);
    io->state_timer.data = io;
    uv_timer_start(&io->state_timer, on_state_timer, 1000, (uint64_t)io->state_ms);
    uv_signal_init(io->loop, &io->sigchld);
    uv_signal_start(&io->sigchld, on_sigchld, SIGCHLD);
    for (size_t i = 0; i < io->n_sched; i++)
        sched_arm(io, io->sched[i]);
    return 0;
}

int health_io_reload(health_io_t *io, health_config_t *cfg)
{
    int r = health_set_config(io->engine, cfg);
    if (r < 0)
        return r;
    if ((r = build_sched(io, cfg)) < 0 || (r = health_metric_store_watch(io->metrics, cfg)) < 0) {
        health_set_config(io->engine, io->cfg);
        return r;
    }
    health_config_unref(io->cfg);
    io->cfg = health_config_ref(cfg);
    if (io->store)
        health_store_set_keep(io->store, cfg->history_keep);
    for (size_t i = 0; i < io->n_sched; i++) {
        if (io->sched[i]->timer_inited)
            uv_timer_stop(&io->sched[i]->timer);
        sched_arm(io, io->sched[i]);
    }
    io->dirty = true;
    return 0;
}

static void noop_close(uv_handle_t *h) { (void)h; }

void health_io_stop(health_io_t *io)
{
    if (io->stopping)
        return;
    flush(io);
    io->stopping = true;
    if (io->started) {
        uv_timer_stop(&io->flush_timer);
        uv_close((uv_handle_t *)&io->flush_timer, noop_close);
        uv_timer_stop(&io->state_timer);
        uv_close((uv_handle_t *)&io->state_timer, noop_close);
        uv_signal_stop(&io->sigchld);
        uv_close((uv_handle_t *)&io->sigchld, noop_close);
    }
    /* Runs in flight are cancelled without a result; their probes close
     * their handles on this loop and drop their references. */
    while (io->runs) {
        health_run_t *run = io->runs;
        io->runs = run->next;
        run->next = run->prev = NULL;
        run->sched->running = false;
        io->in_flight--;
        if (!run->done) {
            run->done = run->cancelled = true;
            if (run->ops && run->ops->cancel)
                run->ops->cancel(run);
        }
        uv_timer_stop(&run->timer);
        uv_close((uv_handle_t *)&run->timer, on_run_timer_close);
    }
    if (io->curl_close)
        io->curl_close(io->curl);
    io->curl = NULL;
    io->curl_close = NULL;
    io->q_head = io->q_tail = NULL;
    for (size_t i = 0; i < io->n_sched; i++) {
        io->sched[i]->queued = false;
        sched_retire(io->sched[i]);
        io->sched[i] = NULL;
    }
    io->n_sched = 0;
}

void health_io_free(health_io_t *io)
{
    if (!io)
        return;
    for (size_t k = 0; k < MAX_REQUESTS; k++)
        if (io->req[k].used)
            request_free(&io->req[k]);
    for (size_t i = 0; i < RECENT_IDS; i++)
        free(io->recent[i].result_json);
    /* Without health_io_stop() (a failed start) no timer was armed. */
    for (size_t i = 0; i < io->n_sched; i++)
        if (io->sched[i] && !io->sched[i]->timer_inited)
            free(io->sched[i]);
    free(io->sched);
    free(io->ran);
    health_store_close(io->store);
    health_metric_store_free(io->metrics);
    health_free(io->engine);
    health_report_fini(&io->rep);
    health_config_unref(io->cfg);
    free(io);
}
