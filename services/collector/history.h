/* Metric history in SQLite (<data_dir>/collector.db), stored in per-series
 * chunks (CONTRACTS.md §3): tier 0 keeps raw samples, one row per series per
 * chunk window (default a minute) with delta-encoded times and XOR-encoded
 * values; each further tier keeps min/max/sum/count per step. Every tier has
 * a retention, enforced by history_tick(). A sample is "acknowledged" once
 * history_commit() has committed it: from then on a crash (kill -9) cannot
 * lose it. No sockets; the caller passes the time. */
#ifndef COLLECTOR_HISTORY_H
#define COLLECTOR_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm_db.h"
#include "sample.h"

#define HISTORY_MAX_TIERS 8

typedef struct {
    int64_t step_ms;            /* tier 0: nominal resolution (raw); others: rollup step */
    int64_t retention_ms;
} history_tier_t;

typedef struct {
    history_tier_t tiers[HISTORY_MAX_TIERS];
    size_t n_tiers;             /* >= 1; steps ascending */
    int64_t chunk_ms;           /* raw chunk window; 0 = 60 s */
    int64_t commit_ms;          /* history_tick commits this often; 0 = 5 s */
    int64_t cleanup_ms;         /* and applies retention this often; 0 = 60 s */
    size_t max_series;          /* kept in memory; 0 = 200000 */
} history_opts_t;

typedef struct {
    uint64_t appended, out_of_order, dropped_limit;
    uint64_t commits, commit_errors, rows_written, rows_deleted;
    int last_error;             /* negative errno of the last failed commit, or 0 */
    int64_t last_commit_ms;     /* time of the last successful commit */
    size_t series;
} history_stats_t;

typedef struct history history_t;

/* Creates the schema in db when needed (migrations) and returns a history
 * writing to it. db is borrowed and must outlive h. Blocks on disk I/O.
 * Returns 0 or a negative errno (-EPROTO: the file comes from a newer memmon). */
int collector_history_new(mm_db_t *db, const history_opts_t *opts, history_t **ret);

/* Drops what is not committed. Call history_commit() first to keep it. NULL ok. */
void collector_history_free(history_t *h);

/* Records a sample in memory (no I/O). s->fp must be set; the name and
 * labels are read only for a series seen the first time. Samples older than
 * the series' last one are dropped (counted). */
void collector_history_append(history_t *h, const collector_sample_t *s);

/* Writes every open chunk, finished chunk and completed rollup step in one
 * transaction. Blocks on disk I/O (a commit of 100k series takes about a
 * second: a daemon uses the job functions below instead). Returns 0 or a
 * negative errno; on error nothing is lost from memory and the next commit
 * retries. */
int collector_history_commit(history_t *h, int64_t now_ms);

/* The same commit in three steps, so the writing can run on a worker
 * thread while the loop goes on appending:
 *  - prepare (loop thread) takes what is to be written into a job (NULL
 *    when out of memory), plus a retention pass when cleanup is set;
 *  - run (any thread, one job at a time) writes it under the history's
 *    database lock;
 *  - finish (loop thread) learns new series ids, or puts everything back
 *    on failure, frees the job and returns run's result.
 * Between prepare and finish the loop may append but must not free h.
 * discard frees a job that will never be finished (its data is lost). */
typedef struct history_job history_job_t;
history_job_t *collector_history_job_prepare(history_t *h, int64_t now_ms, bool cleanup);
void collector_history_job_run(history_t *h, history_job_t *j);
int collector_history_job_finish(history_t *h, history_job_t *j);
void collector_history_job_discard(history_t *h, history_job_t *j);

/* True (once) when commit_ms has passed since the last due commit; sets
 * *ret_cleanup when cleanup_ms has passed too. */
bool collector_history_due(history_t *h, int64_t now_ms, bool *ret_cleanup);

/* Commits when commit_ms has passed and applies retention when cleanup_ms
 * has; returns the first error. */
int collector_history_tick(history_t *h, int64_t now_ms);

/* Deletes what is older than each tier's retention. Returns 0 or a negative errno. */
int collector_history_cleanup(history_t *h, int64_t now_ms);

/* A series selector, time range and step. */
typedef struct {
    const char *name;           /* exact name, or a glob with '*' / '?' */
    const char *const *names;   /* several of them instead, when n_names > 0 */
    size_t n_names;
    const mm_label_t *match;    /* label equality matchers (value "" = label absent) */
    size_t n_match;
    int64_t from_ms, to_ms;
    int64_t step_ms;            /* 0 = the chosen tier's own step */
    size_t max_series;          /* 0 = 500 */
    size_t max_points;          /* per series; 0 = 11000 (step is raised to fit) */
} history_query_t;

/* Answers a query as JSON (caller frees *ret_json with free()):
 * {"tier":k,"step_ms":S,"from_ms":F,"to_ms":T,"series":[{"name":"...","labels":{...},
 *  "type":"gauge","points":[[t_ms,avg,min,max,count],...]}],"truncated":false}
 * The tier is the finest whose retention still covers from_ms. Commits first
 * so the answer includes everything appended. Returns 0, -EINVAL for a bad
 * query, or a negative errno from SQLite. */
int collector_history_query(history_t *h, const history_query_t *q, int64_t now_ms, char **ret_json);

/* The same, with the query given as the JSON arguments of a history.query
 * command: {"name":"..." or [...],"match":{"k":"v"},"from_ms":..,"to_ms":..,"step_ms":..}
 * or {"hours":N,...} for the last N hours (what /api/performance?hours=N asks).
 * Without "name": the overview (memmimic_*, memmon_system_*, node_load*);
 * without "step_ms": about 720 points per series.
 * Returns -EINVAL with a reason in err for bad arguments. */
int collector_history_query_json(history_t *h, const char *args_json, int64_t now_ms, char **ret_json,
                                 char *err, size_t errcap);

void collector_history_stats(const history_t *h, history_stats_t *ret);

/* Emits the history's own series (memmon_collector_history_*) into sink. */
void collector_history_emit_self(const history_t *h, int64_t now_ms, collector_sink_t *sink);

/* Chunk codec, exposed for tests and fuzzing. Appends one sample to buf. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n;
    int64_t t0, last_t, last_delta;
    uint64_t last_bits;
} history_chunk_t;
int collector_history_chunk_add(history_chunk_t *c, int64_t t, double v);
/* Decodes n samples from data; calls cb for each. Returns 0 or -EBADMSG. */
int collector_history_chunk_decode(const uint8_t *data, size_t len, uint32_t n, int64_t t0,
                                   void (*cb)(void *ctx, int64_t t, double v), void *ctx);

#endif
