/* The collector core: a table of live series keyed by fingerprint, a pending
 * list of series with unpublished samples, protobuf batch and state
 * building, and the command handler. */
#include "collector.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_map.h"

#define REPLY_CACHE 128

typedef struct entry {
    uint64_t fp;
    char *name, *family, *help;
    mm_label_t *labels;
    size_t n_labels;
    collector_type_t type;
    double value;
    int64_t time_ms;
    size_t index;               /* in c->all */
    /* unpublished samples */
    int64_t *pt;
    double *pv;
    size_t np, cap;
    bool pending, help_sent, dead;
    const char *help_src;       /* the pointer the last HELP came in (identity only) */
    size_t est;                 /* estimated encoded size without samples */
} entry_t;

typedef struct {
    char id[48];
    int32_t status;
    char *error_code, *error_message, *result;
} reply_memo_t;

struct collector {
    collector_sink_t sink;      /* first: the sink pointer is the collector */
    collector_opts_t o;
    mm_map_t by_fp;
    entry_t **all;
    size_t n_all, cap_all;
    entry_t **pend;
    size_t n_pend, cap_pend;
    size_t pend_bytes;
    int64_t pend_since;
    bool quiet;                 /* ingesting samples others already published */
    reply_memo_t memo[REPLY_CACHE];
    size_t memo_next;
    collector_stats_t st;
};

static void entry_free(entry_t *e)
{
    if (!e)
        return;
    free(e->help);
    free(e->pt);
    free(e->pv);
    free(e);
}

static entry_t *entry_new(const collector_sample_t *s, uint64_t fp)
{
    const char *family = s->family ? s->family : s->name;
    size_t bytes = strlen(s->name) + 1 + strlen(family) + 1;
    for (size_t i = 0; i < s->n_labels; i++)
        bytes += strlen(s->labels[i].name) + strlen(s->labels[i].value) + 2;
    entry_t *e = calloc(1, sizeof *e + s->n_labels * sizeof(mm_label_t) + bytes);
    if (!e)
        return NULL;
    e->labels = (mm_label_t *)(e + 1);
    char *w = (char *)(e->labels + s->n_labels);
    e->name = w;
    w = stpcpy(w, s->name) + 1;
    e->family = w;
    w = stpcpy(w, family) + 1;
    e->est = 24 + strlen(s->name) + strlen(family);
    for (size_t i = 0; i < s->n_labels; i++) {
        e->labels[i].name = w;
        w = stpcpy(w, s->labels[i].name) + 1;
        e->labels[i].value = w;
        w = stpcpy(w, s->labels[i].value) + 1;
        e->est += 8 + strlen(s->labels[i].name) + strlen(s->labels[i].value);
    }
    e->n_labels = s->n_labels;
    e->fp = fp;
    e->type = s->type;
    return e;
}

static void remove_entry(collector_t *c, entry_t *e)
{
    mm_map_del(&c->by_fp, e->fp, e);
    c->all[e->index] = c->all[--c->n_all];
    c->all[e->index]->index = e->index;
    entry_free(e);
}

static void on_emit(collector_sink_t *sink, const collector_sample_t *s);

collector_t *collector_new(const collector_opts_t *opts)
{
    collector_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sink.emit = on_emit;
    c->o = *opts;
    if (!c->o.batch_max_bytes)
        c->o.batch_max_bytes = 64 * 1024;
    if (c->o.batch_max_age_ms <= 0)
        c->o.batch_max_age_ms = 50;
    if (!c->o.state_chunk_bytes)
        c->o.state_chunk_bytes = 256 * 1024;
    if (!c->o.max_series)
        c->o.max_series = 1000000;
    mm_map_init(&c->by_fp);
    return c;
}

void collector_free(collector_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_all; i++)
        entry_free(c->all[i]);
    free(c->all);
    free(c->pend);
    mm_map_fini(&c->by_fp);
    for (size_t i = 0; i < REPLY_CACHE; i++) {
        free(c->memo[i].error_code);
        free(c->memo[i].error_message);
        free(c->memo[i].result);
    }
    free(c);
}

collector_sink_t *collector_sink(collector_t *c) { return &c->sink; }

static int push(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 256;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -ENOMEM;
    *arr = na;
    *cap = nc;
    return 0;
}

static void on_emit(collector_sink_t *sink, const collector_sample_t *s)
{
    collector_t *c = (collector_t *)sink;
    uint64_t fp = s->fp;
    if (!fp) {
        if (!s->name)
            return;
        fp = mm_labels_fingerprint(s->name, s->labels, s->n_labels);
    }
    entry_t *e = mm_map_get(&c->by_fp, fp, NULL, NULL);
    bool stale = mm_is_stale_nan(s->value);
    if (!e) {
        if (stale || !s->name)
            return;     /* nothing to end */
        if (c->n_all >= c->o.max_series) {
            c->st.dropped_limit++;
            return;
        }
        e = entry_new(s, fp);
        if (!e || push((void **)&c->all, &c->cap_all, c->n_all, sizeof *c->all) < 0 ||
            mm_map_put(&c->by_fp, fp, e) < 0) {
            entry_free(e);
            return;
        }
        e->index = c->n_all;
        c->all[c->n_all++] = e;
    }
    if (s->help && *s->help && s->help != e->help_src && (!e->help || strcmp(e->help, s->help) != 0)) {
        free(e->help);
        e->help = strdup(s->help);
        e->help_sent = false;
    }
    /* Sources pass the same HELP pointer every time: remember it so the
     * next sample skips the comparison. */
    e->help_src = s->help;
    /* Keep every message under batch_max_bytes: publish what is pending
     * before this sample would push the estimate over (the estimate is an
     * upper bound of the encoded size; 512 bytes cover the envelope). */
    size_t add = 18 + (e->pending ? 0 : e->est + (e->help_sent || !e->help ? 0 : strlen(e->help) + 3));
    if (c->n_pend && c->pend_bytes + add + 512 > c->o.batch_max_bytes) {
        collector_flush(c, s->time_ms);
        /* e may have been removed if it was dead; look it up again. */
        e = mm_map_get(&c->by_fp, fp, NULL, NULL);
        if (!e)
            return;
        add = 18 + e->est + (e->help_sent || !e->help ? 0 : strlen(e->help) + 3);
    }
    e->value = s->value;
    e->time_ms = s->time_ms;
    e->dead = stale;
    if (e->np == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 2;
        int64_t *nt = realloc(e->pt, nc * sizeof *nt);
        if (nt)
            e->pt = nt;
        double *nv = realloc(e->pv, nc * sizeof *nv);
        if (nv)
            e->pv = nv;
        if (!nt || !nv)
            return;
        e->cap = nc;
    }
    e->pt[e->np] = s->time_ms;
    e->pv[e->np++] = s->value;
    c->st.samples++;
    if (c->o.history) {
        collector_sample_t hs = *s;
        hs.fp = fp;
        collector_history_append(c->o.history, &hs);
    }
    if (c->quiet) {
        /* Not for the bus (it came from there); the latest value and the
         * history are all we keep. A stale marker ends it now. */
        e->np = 0;
        if (e->dead && !e->pending)
            remove_entry(c, e);
        return;
    }
    if (!e->pending) {
        if (push((void **)&c->pend, &c->cap_pend, c->n_pend, sizeof *c->pend) < 0)
            return;
        if (c->n_pend == 0)
            c->pend_since = s->time_ms;
        c->pend[c->n_pend++] = e;
        e->pending = true;
    }
    c->pend_bytes += add;
}

/* Fills ser (and its labels from lab) for e. */
static void fill_series(Mm__Series *ser, Mm__Label *lab, Mm__Label **lptr, entry_t *e, bool with_help)
{
    mm__series__init(ser);
    ser->name = e->name;
    ser->family_name = e->family;
    ser->type = (Mm__MetricType)e->type;
    ser->fingerprint = e->fp;
    ser->help = (char *)(with_help && e->help ? e->help : "");
    for (size_t i = 0; i < e->n_labels; i++) {
        mm__label__init(&lab[i]);
        lab[i].name = (char *)e->labels[i].name;
        lab[i].value = (char *)e->labels[i].value;
        lptr[i] = &lab[i];
    }
    ser->n_labels = e->n_labels;
    ser->labels = lptr;
}

/* Builds a MetricBatch from entries [0, n) (state: their latest value;
 * otherwise: their unpublished samples) and runs fn on it. */
static int with_batch(collector_t *c, entry_t **ents, size_t n, bool state,
                      void (*fn)(collector_t *c, Mm__MetricBatch *b, void *ctx), void *ctx)
{
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        nl += ents[i]->n_labels;
    Mm__Series *ser = calloc(n ? n : 1, sizeof *ser);
    Mm__Series **sp = calloc(n ? n : 1, sizeof *sp);
    Mm__Label *lab = calloc(nl ? nl : 1, sizeof *lab);
    Mm__Label **lp = calloc(nl ? nl : 1, sizeof *lp);
    int r = -ENOMEM;
    if (!ser || !sp || !lab || !lp)
        goto out;
    size_t li = 0;
    for (size_t i = 0; i < n; i++) {
        entry_t *e = ents[i];
        fill_series(&ser[i], &lab[li], &lp[li], e, state || !e->help_sent);
        li += e->n_labels;
        if (state) {
            ser[i].n_times_ms = 1;
            ser[i].times_ms = &e->time_ms;
            ser[i].n_values = 1;
            ser[i].values = &e->value;
        } else {
            ser[i].n_times_ms = e->np;
            ser[i].times_ms = e->pt;
            ser[i].n_values = e->np;
            ser[i].values = e->pv;
        }
        sp[i] = &ser[i];
    }
    Mm__MetricBatch b = MM__METRIC_BATCH__INIT;
    b.n_series = n;
    b.series = sp;
    fn(c, &b, ctx);
    r = 0;
out:
    free(ser);
    free(sp);
    free(lab);
    free(lp);
    return r;
}

static void publish_batch(collector_t *c, Mm__MetricBatch *b, void *ctx)
{
    int64_t now_ms = *(int64_t *)ctx;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.time_ms = now_ms;
    env.payload_case = MM__ENVELOPE__PAYLOAD_METRICS;
    env.metrics = b;
    int r = c->o.publish ? c->o.publish(c->o.data, "metric.batch", &env) : 0;
    if (r < 0)
        c->st.publish_errors++;
    else
        c->st.batches++;
}

void collector_flush(collector_t *c, int64_t now_ms)
{
    if (c->n_pend == 0)
        return;
    with_batch(c, c->pend, c->n_pend, false, publish_batch, &now_ms);
    for (size_t i = 0; i < c->n_pend; i++) {
        entry_t *e = c->pend[i];
        e->pending = false;
        e->np = 0;
        if (e->help)
            e->help_sent = true;
        if (e->dead)
            remove_entry(c, e);
    }
    c->n_pend = 0;
    c->pend_bytes = 0;
}

void collector_tick(collector_t *c, int64_t now_ms)
{
    if (c->n_pend && now_ms - c->pend_since >= c->o.batch_max_age_ms)
        collector_flush(c, now_ms);
}

typedef struct {
    int64_t now_ms;
    uint64_t snapshot_id;
    uint32_t index, total;
} state_ctx_t;

static void publish_state_chunk(collector_t *c, Mm__MetricBatch *b, void *ctx)
{
    state_ctx_t *sc = ctx;
    Mm__StateChunk chunk = MM__STATE_CHUNK__INIT;
    chunk.snapshot_id = sc->snapshot_id;
    chunk.index = sc->index;
    chunk.total = sc->total;
    chunk.part_case = MM__STATE_CHUNK__PART_METRICS;
    chunk.metrics = b;
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.time_ms = sc->now_ms;
    env.payload_case = MM__ENVELOPE__PAYLOAD_STATE;
    env.state = &chunk;
    int r = c->o.publish ? c->o.publish(c->o.data, "state.collector", &env) : 0;
    if (r < 0)
        c->st.publish_errors++;
    else
        c->st.state_chunks++;
}

void collector_publish_state(collector_t *c, int64_t now_ms, uint64_t snapshot_id)
{
    /* First pass: chunk boundaries, so every chunk knows the total. */
    size_t budget = c->o.state_chunk_bytes - 1024;
    uint32_t total = 0;
    size_t bytes = 0, live = 0;
    for (size_t i = 0; i < c->n_all; i++) {
        entry_t *e = c->all[i];
        if (e->dead)
            continue;
        size_t sz = e->est + 20 + (e->help ? strlen(e->help) : 0);
        if (live == 0 || bytes + sz > budget) {
            total++;
            bytes = 0;
        }
        bytes += sz;
        live++;
    }
    if (total == 0)
        total = 1;
    entry_t **buf = malloc((live ? live : 1) * sizeof *buf);
    if (!buf)
        return;
    state_ctx_t sc = {now_ms, snapshot_id, 0, total};
    size_t n = 0;
    bytes = 0;
    for (size_t i = 0; i < c->n_all; i++) {
        entry_t *e = c->all[i];
        if (e->dead)
            continue;
        size_t sz = e->est + 20 + (e->help ? strlen(e->help) : 0);
        if (n > 0 && bytes + sz > budget) {
            with_batch(c, buf, n, true, publish_state_chunk, &sc);
            sc.index++;
            n = 0;
            bytes = 0;
        }
        buf[n++] = e;
        bytes += sz;
    }
    /* The last chunk (possibly empty: an empty state is still a state). */
    with_batch(c, buf, n, true, publish_state_chunk, &sc);
    free(buf);
}

/* ---- commands ---- */

static void send_reply(collector_t *c, const Mm__Command *cmd, const reply_memo_t *m, int64_t now_ms)
{
    Mm__Reply rep = MM__REPLY__INIT;
    rep.id = cmd->id;
    rep.status = m->status;
    rep.error_code = m->error_code ? m->error_code : "";
    rep.error_message = m->error_message ? m->error_message : "";
    rep.result_json = m->result ? m->result : "";
    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.time_ms = now_ms;
    env.payload_case = MM__ENVELOPE__PAYLOAD_REPLY;
    env.reply = &rep;
    char topic[80];
    snprintf(topic, sizeof topic, "reply.%s", cmd->requester);
    if (c->o.publish && c->o.publish(c->o.data, topic, &env) < 0)
        c->st.publish_errors++;
    else
        c->st.replies++;
}

void collector_command(collector_t *c, const Mm__Command *cmd, int64_t now_ms)
{
    if (!cmd->id || !*cmd->id || !cmd->requester || !*cmd->requester || strlen(cmd->requester) > 64)
        return;     /* nobody to answer */
    if (cmd->deadline_ms && now_ms > cmd->deadline_ms)
        return;
    for (size_t i = 0; i < REPLY_CACHE; i++) {
        if (c->memo[i].id[0] && strcmp(c->memo[i].id, cmd->id) == 0) {
            send_reply(c, cmd, &c->memo[i], now_ms);
            return;
        }
    }
    reply_memo_t *m = &c->memo[c->memo_next];
    c->memo_next = (c->memo_next + 1) % REPLY_CACHE;
    free(m->error_code);
    free(m->error_message);
    free(m->result);
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", cmd->id);
    char err[256] = "";
    if (cmd->verb && strcmp(cmd->verb, "state.publish") == 0) {
        collector_publish_state(c, now_ms, (uint64_t)now_ms);
        m->status = 202;
        m->result = strdup("{\"published\":true}");
    } else if (!cmd->verb || strcmp(cmd->verb, "history.query") != 0) {
        m->status = 404;
        m->error_code = strdup("unknown_verb");
        snprintf(err, sizeof err, "the collector has no verb \"%s\" (it knows history.query, state.publish)",
                 cmd->verb ? cmd->verb : "");
    } else if (!c->o.history) {
        m->status = 503;
        m->error_code = strdup("history_disabled");
        snprintf(err, sizeof err, "history is not enabled on this collector");
    } else {
        char *json = NULL;
        int r = collector_history_query_json(c->o.history, cmd->args_json, now_ms, &json, err, sizeof err);
        if (r == 0) {
            m->status = 200;
            m->result = json;
        } else if (r == -EINVAL) {
            m->status = 400;
            m->error_code = strdup("bad_request");
        } else {
            m->status = 500;
            m->error_code = strdup("history_error");
        }
    }
    if (err[0])
        m->error_message = strdup(err);
    send_reply(c, cmd, m, now_ms);
}

void collector_ingest(collector_t *c, const Mm__MetricBatch *b, int64_t now_ms)
{
    c->quiet = true;
    for (size_t i = 0; i < b->n_series; i++) {
        const Mm__Series *ser = b->series[i];
        if (!ser->name || !mm_metric_name_valid(ser->name, strlen(ser->name)) || ser->n_labels > 64)
            continue;
        mm_label_t labels[64];
        bool ok = true;
        for (size_t k = 0; k < ser->n_labels && ok; k++) {
            labels[k].name = ser->labels[k]->name;
            labels[k].value = ser->labels[k]->value;
            ok = labels[k].name && labels[k].value && mm_label_name_valid(labels[k].name, strlen(labels[k].name));
        }
        if (!ok)
            continue;
        mm_labels_sort(labels, ser->n_labels);
        collector_sample_t s = {
            .name = ser->name,
            .family = ser->family_name && *ser->family_name ? ser->family_name : NULL,
            .labels = labels,
            .n_labels = ser->n_labels,
            .type = ser->type <= MM__METRIC_TYPE__SUMMARY ? (collector_type_t)ser->type : COLLECTOR_UNTYPED,
            .help = ser->help,
        };
        s.fp = mm_labels_fingerprint(s.name, labels, ser->n_labels);
        size_t n = ser->n_values < ser->n_times_ms ? ser->n_values : ser->n_times_ms;
        for (size_t k = 0; k < n; k++) {
            s.time_ms = ser->times_ms[k] > 0 ? ser->times_ms[k] : now_ms;
            s.value = ser->values[k];
            on_emit(&c->sink, &s);
        }
        if (n == 0 && ser->n_values) {
            s.time_ms = now_ms;
            s.value = ser->values[0];
            on_emit(&c->sink, &s);
        }
    }
    c->quiet = false;
}

void collector_stats(const collector_t *c, collector_stats_t *ret)
{
    *ret = c->st;
    ret->series = c->n_all;
}

void collector_emit_self(collector_t *c, int64_t now_ms)
{
    const collector_self_t rows[] = {
        {COLLECTOR_GAUGE, "memmon_collector_series", "Series the collector currently holds",
         (double)c->n_all},
        {COLLECTOR_COUNTER, "memmon_collector_samples_total",
         "Samples the collector has taken from all sources", (double)c->st.samples},
        {COLLECTOR_COUNTER, "memmon_collector_batches_published_total",
         "metric.batch messages published on the bus", (double)c->st.batches},
        {COLLECTOR_COUNTER, "memmon_collector_publish_errors_total", "Bus publishes that failed",
         (double)c->st.publish_errors},
    };
    collector_emit_rows(&c->sink, now_ms, rows, sizeof rows / sizeof rows[0]);
    collector_emit_dropped(&c->sink, now_ms, "limit_collector", c->st.dropped_limit);
}
