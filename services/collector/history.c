/* Chunked history in SQLite: in-memory open chunks and rollup accumulators
 * per series, written in one transaction per commit; retention per tier;
 * queries that pick a tier and re-aggregate to the requested step. */
#include "history.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "mm_map.h"

typedef struct {
    int64_t t;                  /* step start; count == 0 means empty */
    double min, max, sum;
    uint64_t count;
} acc_t;

typedef struct hseries {
    uint64_t fp;
    int64_t id;                 /* row id in series; 0 until first commit */
    char *name;
    char *labels_json;
    collector_type_t type;
    int64_t last_ms;
    history_chunk_t chunk;      /* the open raw chunk (n == 0: none) */
    bool chunk_dirty;           /* changed since the last commit */
    acc_t acc[HISTORY_MAX_TIERS];
} hseries_t;

typedef struct {
    hseries_t *s;
    int64_t t0, t1;
    uint32_t n;
    uint8_t *data;
    size_t len;
} done_chunk_t;

typedef struct {
    hseries_t *s;
    int tier;
    acc_t a;
} done_roll_t;

struct history {
    mm_db_t *db;
    history_opts_t o;
    mm_map_t by_fp;
    hseries_t **all;
    size_t n_all, cap_all;
    done_chunk_t *dc;
    size_t n_dc, cap_dc;
    done_roll_t *dr;
    size_t n_dr, cap_dr;
    int64_t next_commit, next_cleanup;
    history_stats_t st;
    /* Held by whoever uses the database: a job running on a worker thread,
     * or a query on the loop. */
    pthread_mutex_t lock;
    int jobs;                   /* prepared and not finished */
};

static const char *const schema[] = {
    "CREATE TABLE series ("
    "  id INTEGER PRIMARY KEY,"
    "  fp INTEGER NOT NULL UNIQUE,"
    "  name TEXT NOT NULL,"
    "  labels TEXT NOT NULL,"
    "  type INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL);"
    "CREATE INDEX series_name ON series (name);"
    /* Tier 0: one row per series per chunk window. */
    "CREATE TABLE chunks ("
    "  series_id INTEGER NOT NULL,"
    "  t0 INTEGER NOT NULL,"
    "  t1 INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (series_id, t0)) WITHOUT ROWID;"
    "CREATE INDEX chunks_t1 ON chunks (t1);"
    /* Tiers 1..: min/max/sum/count per step. */
    "CREATE TABLE rollups ("
    "  tier INTEGER NOT NULL,"
    "  series_id INTEGER NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  min REAL, max REAL, sum REAL,"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (tier, series_id, t)) WITHOUT ROWID;"
    "CREATE INDEX rollups_t ON rollups (tier, t);",
};

/* ---- chunk codec ---- */

static int put_byte(history_chunk_t *c, uint8_t b)
{
    if (c->len == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        uint8_t *nb = realloc(c->buf, nc);
        if (!nb)
            return -ENOMEM;
        c->buf = nb;
        c->cap = nc;
    }
    c->buf[c->len++] = b;
    return 0;
}

static int put_varint(history_chunk_t *c, uint64_t v)
{
    while (v >= 0x80) {
        if (put_byte(c, (uint8_t)(v | 0x80)) < 0)
            return -ENOMEM;
        v >>= 7;
    }
    return put_byte(c, (uint8_t)v);
}

int collector_history_chunk_add(history_chunk_t *c, int64_t t, double v)
{
    if (c->n == 0) {
        c->t0 = t;
        c->last_t = t;
        c->last_delta = 0;
        c->last_bits = 0;
    }
    /* Time: zigzag varint of the delta-of-delta, so a steady interval costs
     * one byte. */
    int64_t delta = t - c->last_t;
    int64_t d = delta - c->last_delta;
    uint64_t zz = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
    /* Value: XOR with the previous value's bits; a byte with the number of
     * trailing zero bits (64 = unchanged), then the rest as a varint. */
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t x = bits ^ c->last_bits;
    int tz = x ? __builtin_ctzll(x) : 64;
    size_t save = c->len;
    if (put_varint(c, zz) < 0 || put_byte(c, (uint8_t)tz) < 0 || (x && put_varint(c, x >> tz) < 0)) {
        c->len = save;
        return -ENOMEM;
    }
    c->last_t = t;
    c->last_delta = delta;
    c->last_bits = bits;
    c->n++;
    return 0;
}

static int get_varint(const uint8_t *d, size_t len, size_t *pos, uint64_t *ret)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -EBADMSG;
        uint8_t b = d[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EBADMSG;
}

int collector_history_chunk_decode(const uint8_t *data, size_t len, uint32_t n, int64_t t0,
                                   void (*cb)(void *ctx, int64_t t, double v), void *ctx)
{
    size_t pos = 0;
    int64_t t = t0, delta = 0;
    uint64_t bits = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t zz, x = 0;
        if (get_varint(data, len, &pos, &zz) < 0 || pos >= len)
            return -EBADMSG;
        uint8_t tz = data[pos++];
        if (tz > 64)
            return -EBADMSG;
        if (tz < 64 && get_varint(data, len, &pos, &x) < 0)
            return -EBADMSG;
        int64_t d = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
        delta = (int64_t)((uint64_t)delta + (uint64_t)d);
        t = (int64_t)((uint64_t)t + (uint64_t)delta);
        if (tz < 64)
            bits ^= x << tz;
        double v;
        memcpy(&v, &bits, sizeof v);
        if (cb)
            cb(ctx, t, v);
    }
    return pos == len ? 0 : -EBADMSG;
}

/* ---- lifecycle ---- */

int collector_history_new(mm_db_t *db, const history_opts_t *opts, history_t **ret)
{
    if (opts->n_tiers < 1 || opts->n_tiers > HISTORY_MAX_TIERS)
        return -EINVAL;
    int r = mm_db_migrate(db, schema, sizeof schema / sizeof schema[0]);
    if (r < 0)
        return r;
    history_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->db = db;
    h->o = *opts;
    if (h->o.chunk_ms <= 0)
        h->o.chunk_ms = 60000;
    if (h->o.commit_ms <= 0)
        h->o.commit_ms = 5000;
    if (h->o.cleanup_ms <= 0)
        h->o.cleanup_ms = 60000;
    if (!h->o.max_series)
        h->o.max_series = 200000;
    for (size_t i = 1; i < h->o.n_tiers; i++)
        if (h->o.tiers[i].step_ms <= 0)
            h->o.tiers[i].step_ms = 60000;
    mm_map_init(&h->by_fp);
    pthread_mutex_init(&h->lock, NULL);
    *ret = h;
    return 0;
}

static void hseries_free(hseries_t *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->labels_json);
    free(s->chunk.buf);
    free(s);
}

void collector_history_free(history_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_dc; i++)
        free(h->dc[i].data);
    for (size_t i = 0; i < h->n_all; i++)
        hseries_free(h->all[i]);
    free(h->dc);
    free(h->dr);
    free(h->all);
    mm_map_fini(&h->by_fp);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- appending ---- */

static char *labels_to_json(const mm_label_t *l, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, l[i].name, json_string(l[i].value));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static hseries_t *get_series(history_t *h, const collector_sample_t *s)
{
    hseries_t *hs = mm_map_get(&h->by_fp, s->fp, NULL, NULL);
    if (hs || !s->name)
        return hs;
    if (h->n_all >= h->o.max_series) {
        h->st.dropped_limit++;
        return NULL;
    }
    hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->fp = s->fp;
    hs->name = strdup(s->name);
    hs->labels_json = labels_to_json(s->labels, s->n_labels);
    hs->type = s->type;
    if (!hs->name || !hs->labels_json)
        goto fail;
    if (h->n_all == h->cap_all) {
        size_t nc = h->cap_all ? h->cap_all * 2 : 256;
        hseries_t **na = realloc(h->all, nc * sizeof *na);
        if (!na)
            goto fail;
        h->all = na;
        h->cap_all = nc;
    }
    if (mm_map_put(&h->by_fp, hs->fp, hs) < 0)
        goto fail;
    h->all[h->n_all++] = hs;
    return hs;
fail:
    hseries_free(hs);
    return NULL;
}

static int push_done_chunk(history_t *h, hseries_t *s)
{
    if (h->n_dc == h->cap_dc) {
        size_t nc = h->cap_dc ? h->cap_dc * 2 : 256;
        done_chunk_t *nd = realloc(h->dc, nc * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        h->dc = nd;
        h->cap_dc = nc;
    }
    /* The buffer moves to the done list; the series starts a fresh chunk. */
    h->dc[h->n_dc++] = (done_chunk_t){s, s->chunk.t0, s->chunk.last_t, s->chunk.n, s->chunk.buf, s->chunk.len};
    memset(&s->chunk, 0, sizeof s->chunk);
    s->chunk_dirty = false;
    return 0;
}

static int push_done_chunk_raw(history_t *h, hseries_t *s, int64_t t0, int64_t t1, uint32_t n, uint8_t *data,
                               size_t len)
{
    if (h->n_dc == h->cap_dc) {
        size_t nc = h->cap_dc ? h->cap_dc * 2 : 256;
        done_chunk_t *nd = realloc(h->dc, nc * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        h->dc = nd;
        h->cap_dc = nc;
    }
    h->dc[h->n_dc++] = (done_chunk_t){s, t0, t1, n, data, len};
    return 0;
}

static int push_done_roll(history_t *h, hseries_t *s, int tier)
{
    if (h->n_dr == h->cap_dr) {
        size_t nc = h->cap_dr ? h->cap_dr * 2 : 256;
        done_roll_t *nd = realloc(h->dr, nc * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        h->dr = nd;
        h->cap_dr = nc;
    }
    h->dr[h->n_dr++] = (done_roll_t){s, tier, s->acc[tier]};
    s->acc[tier].count = 0;
    return 0;
}

static int64_t floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step < 0)
        q--;
    return q * step;
}

void collector_history_append(history_t *h, const collector_sample_t *s)
{
    hseries_t *hs = get_series(h, s);
    if (!hs)
        return;
    if (hs->chunk.n && s->time_ms < hs->chunk.last_t) {
        h->st.out_of_order++;
        return;
    }
    h->st.appended++;
    hs->last_ms = s->time_ms;
    if (hs->chunk.n && floor_to(s->time_ms, h->o.chunk_ms) != floor_to(hs->chunk.t0, h->o.chunk_ms)) {
        if (!hs->chunk_dirty) {
            /* Already committed as it is: start over in place. */
            hs->chunk.n = 0;
            hs->chunk.len = 0;
        } else if (push_done_chunk(h, hs) < 0) {
            return;
        }
    }
    if (collector_history_chunk_add(&hs->chunk, s->time_ms, s->value) < 0)
        return;
    hs->chunk_dirty = true;
    /* NaN (and the stale marker) end nothing in rollups: they are skipped. */
    if (isnan(s->value))
        return;
    for (size_t k = 1; k < h->o.n_tiers; k++) {
        acc_t *a = &hs->acc[k];
        int64_t t = floor_to(s->time_ms, h->o.tiers[k].step_ms);
        if (a->count && a->t != t && push_done_roll(h, hs, (int)k) < 0)
            continue;
        if (!a->count) {
            a->t = t;
            a->min = a->max = s->value;
            a->sum = 0;
        }
        if (s->value < a->min)
            a->min = s->value;
        if (s->value > a->max)
            a->max = s->value;
        a->sum += s->value;
        a->count++;
    }
}

/* ---- committing ---- */

/* ---- committing: prepare (loop) → run (any thread) → finish (loop) ---- */

typedef struct {
    hseries_t *s;               /* valid until finish: nothing is forgotten meanwhile */
    int64_t t0, t1;
    uint32_t n;
    uint8_t *data;              /* owned by the job */
    size_t len;
    bool open;                  /* a copy of an open chunk (mark dirty again on failure) */
} job_chunk_t;

struct history_job {
    int64_t now_ms;
    bool cleanup;
    job_chunk_t *c;
    size_t n_c;
    done_roll_t *r;
    size_t n_r;
    /* Filled by run. */
    int result;
    int cleanup_result;
    mm_map_t ids;                 /* fp → id_t for series inserted by this job */
    uint64_t rows_written, rows_deleted;
    bool series_deleted;
    int64_t longest;
};

typedef struct {
    uint64_t fp;
    int64_t id;
} id_t_;

static int job_id(history_t *h, history_job_t *j, hseries_t *s, int64_t *ret)
{
    if (s->id) {
        *ret = s->id;
        return 0;
    }
    id_t_ *known = mm_map_get(&j->ids, s->fp, NULL, NULL);
    if (known) {
        *ret = known->id;
        return 0;
    }
    sqlite3_stmt *st;
    int r = mm_db_prepare(h->db,
                          "INSERT INTO series (fp, name, labels, type, last_ms) VALUES (?, ?, ?, ?, ?) "
                          "ON CONFLICT (fp) DO UPDATE SET last_ms = excluded.last_ms RETURNING id",
                          &st);
    if (r < 0)
        return r;
    /* name, labels_json and type never change after creation, so reading
     * them from another thread is safe; last_ms does: use the job's time. */
    sqlite3_bind_int64(st, 1, (int64_t)s->fp);
    sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->labels_json, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)s->type);
    sqlite3_bind_int64(st, 5, j->now_ms);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = mm_db_errno(rc);
        return r < 0 ? r : -EIO;
    }
    id_t_ *e = malloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    e->fp = s->fp;
    e->id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (mm_map_put(&j->ids, e->fp, e) < 0) {
        free(e);
        return -ENOMEM;
    }
    *ret = e->id;
    return 0;
}

static int job_write_chunk(history_t *h, history_job_t *j, const job_chunk_t *c)
{
    int64_t id;
    int r = job_id(h, j, c->s, &id);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    if ((r = mm_db_prepare(h->db, "INSERT INTO chunks (series_id, t0, t1, n, data) VALUES (?, ?, ?, ?, ?) "
                                  "ON CONFLICT (series_id, t0) DO UPDATE SET t1 = excluded.t1, n = excluded.n, "
                                  "data = excluded.data", &st)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, c->t0);
    sqlite3_bind_int64(st, 3, c->t1);
    sqlite3_bind_int64(st, 4, c->n);
    sqlite3_bind_blob(st, 5, c->data, (int)c->len, SQLITE_STATIC);
    r = mm_db_errno(sqlite3_step(st));
    sqlite3_reset(st);
    if (r == 0)
        j->rows_written++;
    return r;
}

static int job_write_roll(history_t *h, history_job_t *j, const done_roll_t *d)
{
    int64_t id;
    int r = job_id(h, j, d->s, &id);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    if ((r = mm_db_prepare(h->db, "INSERT OR REPLACE INTO rollups (tier, series_id, t, min, max, sum, count) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)", &st)) < 0)
        return r;
    sqlite3_bind_int(st, 1, d->tier);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, d->a.t);
    sqlite3_bind_double(st, 4, d->a.min);
    sqlite3_bind_double(st, 5, d->a.max);
    sqlite3_bind_double(st, 6, d->a.sum);
    sqlite3_bind_int64(st, 7, (int64_t)d->a.count);
    r = mm_db_errno(sqlite3_step(st));
    sqlite3_reset(st);
    if (r == 0)
        j->rows_written++;
    return r;
}

history_job_t *collector_history_job_prepare(history_t *h, int64_t now_ms, bool cleanup)
{
    history_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->now_ms = now_ms;
    j->cleanup = cleanup;
    mm_map_init(&j->ids);
    h->jobs++;
    /* Close rollup steps that have ended even when no sample came after them. */
    for (size_t i = 0; i < h->n_all; i++) {
        hseries_t *s = h->all[i];
        for (size_t k = 1; k < h->o.n_tiers; k++)
            if (s->acc[k].count && now_ms >= s->acc[k].t + h->o.tiers[k].step_ms)
                push_done_roll(h, s, (int)k);
    }
    size_t n_open = 0;
    for (size_t i = 0; i < h->n_all; i++)
        n_open += h->all[i]->chunk_dirty && h->all[i]->chunk.n;
    j->c = calloc(h->n_dc + n_open + 1, sizeof *j->c);
    if (!j->c) {
        h->jobs--;
        free(j);
        return NULL;
    }
    /* Closed chunks move to the job; open ones are copied (they keep growing). */
    for (size_t i = 0; i < h->n_dc; i++) {
        done_chunk_t *d = &h->dc[i];
        j->c[j->n_c++] = (job_chunk_t){d->s, d->t0, d->t1, d->n, d->data, d->len, false};
    }
    h->n_dc = 0;
    for (size_t i = 0; i < h->n_all; i++) {
        hseries_t *s = h->all[i];
        if (!s->chunk_dirty || !s->chunk.n)
            continue;
        uint8_t *copy = malloc(s->chunk.len ? s->chunk.len : 1);
        if (!copy)
            continue;   /* stays dirty: the next commit takes it */
        memcpy(copy, s->chunk.buf, s->chunk.len);
        j->c[j->n_c++] = (job_chunk_t){s, s->chunk.t0, s->chunk.last_t, s->chunk.n, copy, s->chunk.len, true};
        s->chunk_dirty = false;
    }
    j->r = h->dr;
    j->n_r = h->n_dr;
    h->dr = NULL;
    h->n_dr = h->cap_dr = 0;
    return j;
}

static int run_cleanup(history_t *h, history_job_t *j)
{
    int64_t now_ms = j->now_ms;
    int r = mm_db_begin(h->db);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    if ((r = mm_db_prepare(h->db, "DELETE FROM chunks WHERE t1 < ?", &st)) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, now_ms - h->o.tiers[0].retention_ms);
    if ((r = mm_db_errno(sqlite3_step(st))) < 0)
        goto fail;
    j->rows_deleted += (uint64_t)sqlite3_changes(mm_db_handle(h->db));
    int64_t longest = h->o.tiers[0].retention_ms;
    for (size_t k = 1; k < h->o.n_tiers; k++) {
        if ((r = mm_db_prepare(h->db, "DELETE FROM rollups WHERE tier = ? AND t < ?", &st)) < 0)
            goto fail;
        sqlite3_bind_int(st, 1, (int)k);
        sqlite3_bind_int64(st, 2, now_ms - h->o.tiers[k].retention_ms - h->o.tiers[k].step_ms);
        if ((r = mm_db_errno(sqlite3_step(st))) < 0)
            goto fail;
        j->rows_deleted += (uint64_t)sqlite3_changes(mm_db_handle(h->db));
        if (h->o.tiers[k].retention_ms > longest)
            longest = h->o.tiers[k].retention_ms;
    }
    /* Series with no data left in any tier. */
    if ((r = mm_db_prepare(h->db, "DELETE FROM series WHERE last_ms < ? AND id NOT IN (SELECT series_id FROM chunks) "
                                  "AND id NOT IN (SELECT series_id FROM rollups)", &st)) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, now_ms - longest);
    if ((r = mm_db_errno(sqlite3_step(st))) < 0)
        goto fail;
    j->series_deleted = sqlite3_changes(mm_db_handle(h->db)) > 0;
    j->longest = longest;
    return mm_db_commit(h->db);
fail:
    mm_db_rollback(h->db);
    return r;
}

void collector_history_job_run(history_t *h, history_job_t *j)
{
    pthread_mutex_lock(&h->lock);
    int r = mm_db_begin(h->db);
    for (size_t i = 0; i < j->n_c && r == 0; i++)
        r = job_write_chunk(h, j, &j->c[i]);
    for (size_t i = 0; i < j->n_r && r == 0; i++)
        r = job_write_roll(h, j, &j->r[i]);
    if (r < 0)
        mm_db_rollback(h->db);
    else
        r = mm_db_commit(h->db);
    j->result = r;
    if (j->cleanup)
        j->cleanup_result = run_cleanup(h, j);
    pthread_mutex_unlock(&h->lock);
}

static void job_free(history_job_t *j)
{
    for (size_t i = 0; i < j->n_c; i++)
        free(j->c[i].data);
    free(j->c);
    free(j->r);
    for (size_t i = 0; i < j->ids.cap; i++)
        free(j->ids.slots[i].v);
    mm_map_fini(&j->ids);
    free(j);
}

void collector_history_job_discard(history_t *h, history_job_t *j)
{
    if (!j)
        return;
    h->jobs--;
    job_free(j);
}

int collector_history_job_finish(history_t *h, history_job_t *j)
{
    int r = j->result;
    h->jobs--;
    if (r == 0) {
        /* Committed: learn the new ids; what was written can go. */
        for (size_t i = 0; i < j->ids.cap; i++) {
            id_t_ *e = j->ids.slots[i].v;
            if (!e)
                continue;
            hseries_t *s = mm_map_get(&h->by_fp, e->fp, NULL, NULL);
            if (s)
                s->id = e->id;
        }
        h->st.commits++;
        h->st.rows_written += j->rows_written;
        h->st.last_error = 0;
        h->st.last_commit_ms = j->now_ms;
        /* A series quiet for two chunk windows has nothing in memory worth
         * keeping (it comes back from the database by fp). Skipped while
         * closed chunks or steps wait to be written: they point at series. */
        for (size_t i = 0; i < h->n_all && h->n_dc == 0 && h->n_dr == 0 && h->jobs == 0;) {
            hseries_t *s = h->all[i];
            bool idle = !s->chunk_dirty;
            for (size_t k = 1; k < h->o.n_tiers; k++)
                idle = idle && s->acc[k].count == 0;
            if (idle && j->now_ms - s->last_ms > 2 * h->o.chunk_ms) {
                mm_map_del(&h->by_fp, s->fp, s);
                h->all[i] = h->all[--h->n_all];
                hseries_free(s);
                continue;
            }
            i++;
        }
    } else {
        /* Nothing was written: closed chunks and steps go back, open chunks
         * are dirty again, and the next commit retries. */
        for (size_t i = 0; i < j->n_c; i++) {
            job_chunk_t *c = &j->c[i];
            if (c->open) {
                c->s->chunk_dirty = true;
            } else if (push_done_chunk_raw(h, c->s, c->t0, c->t1, c->n, c->data, c->len) == 0) {
                c->data = NULL;
            }
        }
        for (size_t i = 0; i < j->n_r; i++) {
            if (h->n_dr == h->cap_dr) {
                size_t nc = h->cap_dr ? h->cap_dr * 2 : 256;
                done_roll_t *nd = realloc(h->dr, nc * sizeof *nd);
                if (!nd)
                    break;
                h->dr = nd;
                h->cap_dr = nc;
            }
            h->dr[h->n_dr++] = j->r[i];
        }
        h->st.commit_errors++;
        h->st.last_error = r;
    }
    if (j->cleanup) {
        h->st.rows_deleted += j->rows_deleted;
        if (j->cleanup_result == 0 && j->series_deleted) {
            /* Forget cached ids: a deleted series gets a new row when it returns. */
            for (size_t i = 0; i < h->n_all; i++)
                if (j->now_ms - h->all[i]->last_ms > j->longest)
                    h->all[i]->id = 0;
        }
        if (r == 0)
            r = j->cleanup_result;
    }
    job_free(j);
    return r;
}

int collector_history_commit(history_t *h, int64_t now_ms)
{
    history_job_t *j = collector_history_job_prepare(h, now_ms, false);
    if (!j)
        return -ENOMEM;
    collector_history_job_run(h, j);
    return collector_history_job_finish(h, j);
}

int collector_history_cleanup(history_t *h, int64_t now_ms)
{
    history_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    mm_map_init(&j->ids);
    j->now_ms = now_ms;
    j->cleanup = true;
    h->jobs++;
    collector_history_job_run(h, j);
    return collector_history_job_finish(h, j);
}

bool collector_history_due(history_t *h, int64_t now_ms, bool *ret_cleanup)
{
    *ret_cleanup = false;
    if (now_ms < h->next_commit)
        return false;
    h->next_commit = now_ms + h->o.commit_ms;
    if (now_ms >= h->next_cleanup) {
        h->next_cleanup = now_ms + h->o.cleanup_ms;
        *ret_cleanup = true;
    }
    return true;
}

int collector_history_tick(history_t *h, int64_t now_ms)
{
    bool cleanup;
    if (!collector_history_due(h, now_ms, &cleanup))
        return 0;
    history_job_t *j = collector_history_job_prepare(h, now_ms, cleanup);
    if (!j)
        return -ENOMEM;
    collector_history_job_run(h, j);
    return collector_history_job_finish(h, j);
}

void collector_history_stats(const history_t *h, history_stats_t *ret)
{
    *ret = h->st;
    ret->series = h->n_all;
}

void collector_history_emit_self(const history_t *h, int64_t now_ms, collector_sink_t *sink)
{
    const collector_self_t rows[] = {
        {COLLECTOR_COUNTER, "memmon_collector_history_commits_total",
         "History transactions committed to SQLite", (double)h->st.commits},
        {COLLECTOR_COUNTER, "memmon_collector_history_commit_errors_total",
         "History commits that failed (retried at the next commit)", (double)h->st.commit_errors},
        {COLLECTOR_COUNTER, "memmon_collector_history_rows_written_total",
         "Chunk and rollup rows written", (double)h->st.rows_written},
        {COLLECTOR_COUNTER, "memmon_collector_history_samples_total",
         "Samples appended to the history", (double)h->st.appended},
        {COLLECTOR_GAUGE, "memmon_collector_history_series", "Series with history held in memory",
         (double)h->n_all},
        {COLLECTOR_GAUGE, "memmon_collector_history_last_commit_timestamp_seconds",
         "When history was last committed (acknowledged)", (double)h->st.last_commit_ms / 1000.0},
    };
    collector_emit_rows(sink, now_ms, rows, sizeof rows / sizeof rows[0]);
}

/* ---- queries ---- */

typedef struct {
    int64_t from, step;
    size_t n;
    acc_t *b;
} grid_t;

static void grid_add(grid_t *g, int64_t t, double mn, double mx, double sum, uint64_t count)
{
    if (t < g->from || count == 0)
        return;
    size_t i = (size_t)((t - g->from) / g->step);
    if (i >= g->n)
        return;
    acc_t *a = &g->b[i];
    if (!a->count) {
        a->min = mn;
        a->max = mx;
    }
    if (mn < a->min)
        a->min = mn;
    if (mx > a->max)
        a->max = mx;
    a->sum += sum;
    a->count += count;
}

static void on_raw(void *ctx, int64_t t, double v)
{
    if (!isnan(v))
        grid_add(ctx, t, v, v, v, 1);
}

static const char *type_word(int t)
{
    static const char *const w[] = {"untyped", "counter", "gauge", "histogram", "summary"};
    return t >= 0 && t <= 4 ? w[t] : "untyped";
}

static bool labels_match(const char *labels_json, const history_query_t *q)
{
    if (!q->n_match)
        return true;
    json_t *o = json_loads(labels_json, 0, NULL);
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < q->n_match; i++) {
        const char *v = json_string_value(json_object_get(o, q->match[i].name));
        ok = strcmp(v ? v : "", q->match[i].value) == 0;
    }
    json_decref(o);
    return ok;
}

static int query_locked(history_t *h, const history_query_t *q, int64_t now_ms, char **ret_json);

int collector_history_query(history_t *h, const history_query_t *q, int64_t now_ms, char **ret_json)
{
    /* Commit first so the answer includes everything appended (this waits
     * for a commit running on a worker thread). */
    int r = collector_history_commit(h, now_ms);
    if (r < 0)
        return r;
    pthread_mutex_lock(&h->lock);
    r = query_locked(h, q, now_ms, ret_json);
    pthread_mutex_unlock(&h->lock);
    return r;
}

static int query_locked(history_t *h, const history_query_t *q, int64_t now_ms, char **ret_json)
{
    const char *one[1] = {q->name};
    const char *const *names = q->n_names ? q->names : one;
    size_t n_names = q->n_names ? q->n_names : 1;
    for (size_t i = 0; i < n_names; i++)
        if (!names[i] || !*names[i])
            return -EINVAL;
    if (q->to_ms < q->from_ms)
        return -EINVAL;
    int r = 0;
    /* The finest tier that still holds from_ms; a coarser one when the step
     * asked for is at least its step and it covers the range too. */
    size_t tier = h->o.n_tiers - 1;
    for (size_t k = 0; k < h->o.n_tiers; k++) {
        if (now_ms - h->o.tiers[k].retention_ms <= q->from_ms) {
            tier = k;
            break;
        }
    }
    for (size_t k = tier + 1; k < h->o.n_tiers; k++)
        if (q->step_ms >= h->o.tiers[k].step_ms && now_ms - h->o.tiers[k].retention_ms <= q->from_ms)
            tier = k;
    int64_t step = q->step_ms > 0 ? q->step_ms : h->o.tiers[tier].step_ms;
    if (tier > 0 && step < h->o.tiers[tier].step_ms)
        step = h->o.tiers[tier].step_ms;
    if (step <= 0)
        step = 1000;
    size_t max_points = q->max_points ? q->max_points : 11000;
    int64_t span = q->to_ms - q->from_ms + 1;
    if (span / step + 1 > (int64_t)max_points)
        step = span / (int64_t)max_points + 1;
    grid_t g = {.from = floor_to(q->from_ms, step), .step = step};
    g.n = (size_t)((q->to_ms - g.from) / step + 1);
    g.b = calloc(g.n, sizeof *g.b);
    if (!g.b)
        return -ENOMEM;

    /* Collect matching series first: the data statements below reuse the
     * connection while this one would still be open. */
    json_t *series = json_array();
    size_t max_series = q->max_series ? q->max_series : 500;
    bool truncated = false;
    int64_t *ids = NULL;
    size_t n_ids = 0;
    sqlite3_stmt *st;
    for (size_t k = 0; k < n_names && !truncated; k++) {
        bool glob = strpbrk(names[k], "*?[") != NULL;
        r = mm_db_prepare(h->db, glob ? "SELECT id, name, labels, type FROM series WHERE name GLOB ? ORDER BY name, labels"
                                      : "SELECT id, name, labels, type FROM series WHERE name = ? ORDER BY labels",
                          &st);
        if (r < 0) {
            free(g.b);
            free(ids);
            json_decref(series);
            return r;
        }
        sqlite3_bind_text(st, 1, names[k], -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *labels = (const char *)sqlite3_column_text(st, 2);
            if (!labels_match(labels, q))
                continue;
            if (n_ids == max_series) {
                truncated = true;
                break;
            }
            int64_t *ni = realloc(ids, (n_ids + 1) * sizeof *ids);
            if (!ni)
                break;
            ids = ni;
            ids[n_ids++] = sqlite3_column_int64(st, 0);
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string((const char *)sqlite3_column_text(st, 1)));
            json_t *lj = json_loads(labels, 0, NULL);
            json_object_set_new(o, "labels", lj ? lj : json_object());
            json_object_set_new(o, "type", json_string(type_word(sqlite3_column_int(st, 3))));
            json_array_append_new(series, o);
        }
        sqlite3_reset(st);
    }
    for (size_t i = 0; i < n_ids; i++) {
        memset(g.b, 0, g.n * sizeof *g.b);
        if (tier == 0) {
            r = mm_db_prepare(h->db, "SELECT t0, n, data FROM chunks WHERE series_id = ? AND t1 >= ? AND t0 <= ? "
                                     "ORDER BY t0", &st);
            if (r < 0)
                break;
            sqlite3_bind_int64(st, 1, ids[i]);
            sqlite3_bind_int64(st, 2, q->from_ms);
            sqlite3_bind_int64(st, 3, q->to_ms);
            while (sqlite3_step(st) == SQLITE_ROW)
                collector_history_chunk_decode(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                                               (uint32_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 0),
                                               on_raw, &g);
        } else {
            r = mm_db_prepare(h->db, "SELECT t, min, max, sum, count FROM rollups WHERE tier = ? AND series_id = ? "
                                     "AND t >= ? AND t <= ? ORDER BY t", &st);
            if (r < 0)
                break;
            sqlite3_bind_int(st, 1, (int)tier);
            sqlite3_bind_int64(st, 2, ids[i]);
            sqlite3_bind_int64(st, 3, floor_to(q->from_ms, h->o.tiers[tier].step_ms));
            sqlite3_bind_int64(st, 4, q->to_ms);
            while (sqlite3_step(st) == SQLITE_ROW)
                grid_add(&g, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                         sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
                         (uint64_t)sqlite3_column_int64(st, 4));
        }
        sqlite3_reset(st);
        json_t *pts = json_array();
        for (size_t k = 0; k < g.n; k++) {
            acc_t *a = &g.b[k];
            if (!a->count)
                continue;
            json_t *p = json_array();
            json_array_append_new(p, json_integer(g.from + (int64_t)k * step));
            json_array_append_new(p, json_real(a->sum / (double)a->count));
            json_array_append_new(p, json_real(a->min));
            json_array_append_new(p, json_real(a->max));
            json_array_append_new(p, json_integer((json_int_t)a->count));
            json_array_append_new(pts, p);
        }
        json_object_set_new(json_array_get(series, i), "points", pts);
    }
    free(ids);
    free(g.b);
    if (r < 0) {
        json_decref(series);
        return r;
    }
    json_t *out = json_object();
    json_object_set_new(out, "tier", json_integer((json_int_t)tier));
    json_object_set_new(out, "step_ms", json_integer(step));
    json_object_set_new(out, "from_ms", json_integer(q->from_ms));
    json_object_set_new(out, "to_ms", json_integer(q->to_ms));
    json_object_set_new(out, "series", series);
    json_object_set_new(out, "truncated", json_boolean(truncated));
    *ret_json = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return *ret_json ? 0 : -ENOMEM;
}

int collector_history_query_json(history_t *h, const char *args_json, int64_t now_ms, char **ret_json,
                                 char *err, size_t errcap)
{
    json_error_t je;
    json_t *a = json_loads(args_json ? args_json : "{}", 0, &je);
    if (!a || !json_is_object(a)) {
        snprintf(err, errcap, "arguments are not a JSON object");
        json_decref(a);
        return -EINVAL;
    }
    history_query_t q = {0};
    mm_label_t match[32];
    json_t *v;
    /* "name": a name or glob, or a list of them. Without it (what
     * /api/performance asks) the overview: MemMimic's series, the derived
     * system gauges and the load averages. */
    static const char *const overview[] = {"memmimic_*", "memmon_system_*", "node_load1", "node_load5", "node_load15"};
    const char *names[32];
    json_t *nm = json_object_get(a, "name");
    bool default_step = false;
    if (json_is_string(nm)) {
        q.name = json_string_value(nm);
    } else if (json_is_array(nm) && json_array_size(nm) > 0 && json_array_size(nm) <= 32) {
        for (size_t i = 0; i < json_array_size(nm); i++) {
            names[i] = json_string_value(json_array_get(nm, i));
            if (!names[i]) {
                snprintf(err, errcap, "\"name\" must be a string or a list of at most 32 strings");
                json_decref(a);
                return -EINVAL;
            }
        }
        q.names = names;
        q.n_names = json_array_size(nm);
    } else if (!nm || json_is_null(nm)) {
        q.names = overview;
        q.n_names = sizeof overview / sizeof overview[0];
    } else {
        snprintf(err, errcap, "\"name\" must be a string or a list of at most 32 strings");
        json_decref(a);
        return -EINVAL;
    }
    if ((v = json_object_get(a, "hours")) && json_is_number(v)) {
        double hours = json_number_value(v);
        if (!(hours > 0) || hours > 24 * 3650) {
            snprintf(err, errcap, "\"hours\" must be > 0");
            json_decref(a);
            return -EINVAL;
        }
        q.to_ms = now_ms;
        q.from_ms = now_ms - (int64_t)(hours * 3600000.0);
    } else {
        q.from_ms = (v = json_object_get(a, "from_ms")) && json_is_integer(v) ? json_integer_value(v) : now_ms - 3600000;
        q.to_ms = (v = json_object_get(a, "to_ms")) && json_is_integer(v) ? json_integer_value(v) : now_ms;
    }
    if ((v = json_object_get(a, "step_ms")) && json_is_integer(v))
        q.step_ms = json_integer_value(v);
    else
        default_step = true;
    if ((v = json_object_get(a, "max_series")) && json_is_integer(v) && json_integer_value(v) > 0)
        q.max_series = (size_t)json_integer_value(v);
    json_t *m = json_object_get(a, "match");
    if (m && json_is_object(m)) {
        const char *k;
        json_t *mv;
        json_object_foreach(m, k, mv) {
            if (q.n_match == 32 || !json_is_string(mv)) {
                snprintf(err, errcap, "\"match\" takes at most 32 string values");
                json_decref(a);
                return -EINVAL;
            }
            match[q.n_match].name = k;
            match[q.n_match++].value = json_string_value(mv);
        }
        q.match = match;
    }
    /* Without a step, about 720 points per series: enough for a chart. */
    if (default_step && q.to_ms > q.from_ms)
        q.step_ms = (q.to_ms - q.from_ms) / 720;
    if (q.to_ms < q.from_ms || q.step_ms < 0) {
        snprintf(err, errcap, "empty time range or negative step");
        json_decref(a);
        return -EINVAL;
    }
    int r = collector_history_query(h, &q, now_ms, ret_json);
    if (r < 0)
        snprintf(err, errcap, "%s", mm_strerror(r));
    json_decref(a);
    return r;
}
