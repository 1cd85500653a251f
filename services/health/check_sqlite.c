/* The `sqlite` probe, run in the libuv threadpool: file size, a read-only
 * open, PRAGMA quick_check on its own schedule, a query timed against the
 * latency thresholds, and for MemMimic the `memories` row count and the age
 * of the newest created_at. A progress handler and sqlite3_interrupt() stop
 * a query at the deadline, so a hung or locked file ends as a result. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "health_probe.h"

typedef struct {
    uv_work_t work;
    health_run_t *run;
    const health_check_conf_t *conf;
    bool do_quick;
    int64_t deadline_ns;
    int64_t now_ms;             /* wall time at start, for created_at ages */
    health_level_t prev[4];
    atomic_int cancel;
    pthread_mutex_t lock;
    sqlite3 *db;                /* under lock, for sqlite3_interrupt */
    health_result_t res;        /* written by the worker only */
    health_level_t levels[4];   /* latency, size, rows, age: for hysteresis */
    bool quick_done;
} sq_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int on_progress(void *data)
{
    sq_t *q = data;
    return atomic_load(&q->cancel) || mono_ns() > q->deadline_ns;
}

/* "2024-05-01T12:00:00.123456" (Python isoformat, local time, maybe with a
 * zone suffix we ignore) to ms since the epoch; NAN when unparsable. */
static double iso_local_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h = 0, mi = 0;
    double sec = 0;
    if (!s || sscanf(s, "%d-%d-%d%*[T ]%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) < 3)
        return NAN;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = (int)sec;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return NAN;
    return (double)t * 1000.0 + (sec - floor(sec)) * 1000.0;
}

static void sql_fail(sq_t *q, const char *what, int rc)
{
    const char *msg = q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc);
    if (rc == SQLITE_INTERRUPT)
        msg = atomic_load(&q->cancel) ? "cancelled" : "interrupted at the deadline";
    health_result_raise(&q->res, HEALTH_CRITICAL, "%s %s: %s", what, q->conf->path, msg);
}

static void work(uv_work_t *w)
{
    sq_t *q = w->data;
    const health_check_conf_t *k = q->conf;
    health_result_t *r = &q->res;
    struct stat stt;
    if (stat(k->path, &stt) < 0) {
        health_result_raise(r, HEALTH_CRITICAL, "cannot stat %s: %s", k->path, strerror(errno));
        return;
    }
    health_result_detail(r, "size_bytes", "%lld", (long long)stt.st_size);
    health_level_t l = health_thresholds_eval(&k->size_bytes, (double)stt.st_size, q->prev[1]);
    q->levels[1] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(r, l, "%s is %.1f MiB (over the %s bound)", k->path,
                            (double)stt.st_size / 1048576.0, health_level_name(l));

    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(k->path, &db, SQLITE_OPEN_READONLY, NULL);
    pthread_mutex_lock(&q->lock);
    q->db = db;
    pthread_mutex_unlock(&q->lock);
    if (rc != SQLITE_OK) {
        sql_fail(q, "cannot open", rc);
        goto out;
    }
    int64_t left_ms = (q->deadline_ns - mono_ns()) / 1000000;
    /* A lock wait ends a little before the deadline, so the result names
     * the lock instead of a bare timeout. */
    sqlite3_busy_timeout(db, left_ms > 10 ? (int)(left_ms * 8 / 10) : 1);
    sqlite3_progress_handler(db, 1000, on_progress, q);

    sqlite3_stmt *st = NULL;
    if (q->do_quick) {
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, NULL);
        if (rc != SQLITE_OK) {
            sql_fail(q, "quick_check on", rc);
            goto out;
        }
        char first[200] = "";
        int rows = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (rows++ == 0)
                snprintf(first, sizeof(first), "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE) {
            sql_fail(q, "quick_check on", rc);
            goto out;
        }
        q->quick_done = true;
        if (rows != 1 || strcmp(first, "ok") != 0) {
            health_result_raise(r, HEALTH_CRITICAL, "quick_check on %s: %s", k->path, first);
            goto out;
        }
        health_result_detail(r, "quick_check", "ok");
    }

    const char *sql = k->query ? k->query : "SELECT COUNT(*) FROM sqlite_master";
    int64_t t0 = mono_ns();
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sql_fail(q, "query on", rc);
        goto out;
    }
    char val[80] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!val[0] && sqlite3_column_count(st) > 0 && sqlite3_column_text(st, 0))
            snprintf(val, sizeof(val), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        sql_fail(q, "query on", rc);
        goto out;
    }
    double ms = (double)(mono_ns() - t0) / 1e6;
    health_result_detail(r, "latency_ms", "%.3f", ms);
    if (val[0])
        health_result_detail(r, "query_result", "%s", val);
    snprintf(r->message, sizeof(r->message), "%s answered in %.2f ms", k->path, ms);
    l = health_thresholds_eval(&k->latency_ms, ms, q->prev[0]);
    q->levels[0] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(r, l, "query on %s took %.1f ms (over the %s bound)", k->path, ms,
                            health_level_name(l));

    if (k->memmimic) {
        rc = sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(created_at) FROM memories", -1, &st,
                                NULL);
        if (rc != SQLITE_OK) {
            sql_fail(q, "reading memories in", rc);
            goto out;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_finalize(st);
            st = NULL;
            sql_fail(q, "reading memories in", rc);
            goto out;
        }
        double rows = (double)sqlite3_column_int64(st, 0);
        double newest = iso_local_ms((const char *)sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        st = NULL;
        health_result_detail(r, "memories", "%.0f", rows);
        l = health_thresholds_eval(&k->rows, rows, q->prev[2]);
        q->levels[2] = l;
        if (l > HEALTH_HEALTHY)
            health_result_raise(r, l, "%.0f memories (past the %s bound)", rows,
                                health_level_name(l));
        if (!isnan(newest)) {
            double age_ms = (double)q->now_ms - newest;
            health_result_detail(r, "newest_age_s", "%.1f", age_ms / 1000.0);
            l = health_thresholds_eval(&k->newest_age_ms, age_ms, q->prev[3]);
            q->levels[3] = l;
            if (l > HEALTH_HEALTHY)
                health_result_raise(r, l, "newest memory is %.0f s old (over the %s bound)",
                                    age_ms / 1000.0, health_level_name(l));
        }
        if (r->level == HEALTH_HEALTHY)
            snprintf(r->message, sizeof(r->message), "%s answered in %.2f ms; %.0f memories",
                     k->path, ms, rows);
    }
out:
    pthread_mutex_lock(&q->lock);
    q->db = NULL;
    pthread_mutex_unlock(&q->lock);
    sqlite3_close_v2(db);
}

static void after_work(uv_work_t *w, int status)
{
    sq_t *q = w->data;
    health_run_t *run = q->run;
    if (!run->done) {
        if (status < 0) {
            health_result_raise(&run->result, HEALTH_CRITICAL, "probe cancelled: %s",
                                uv_strerror(status));
        } else {
            run->result = q->res;
            for (int i = 0; i < 4; i++)
                run->memo->last_level[i] = q->levels[i];
            if (q->quick_done)
                run->memo->last_quick_check_ms = q->now_ms;
        }
        health_run_done(run);
    }
    run->probe = NULL;
    pthread_mutex_destroy(&q->lock);
    free(q);
    health_run_unref(run);
}

static int sqlite_start(health_run_t *run)
{
    sq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    const health_check_conf_t *k = run->conf;
    q->run = run;
    q->conf = k;
    q->deadline_ns = mono_ns() + k->timeout_ms * 1000000;
    q->now_ms = health_run_now_ms(run);
    int64_t last = run->memo->last_quick_check_ms;
    q->do_quick = k->quick_check_ms > 0 && (last == 0 || q->now_ms - last >= k->quick_check_ms);
    for (int i = 0; i < 4; i++)
        q->prev[i] = q->levels[i] = run->memo->last_level[i];
    health_result_init(&q->res);
    pthread_mutex_init(&q->lock, NULL);
    q->work.data = q;
    int r = uv_queue_work(run->loop, &q->work, work, after_work);
    if (r < 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return r;
    }
    health_run_ref(run);
    run->probe = q;
    return 0;
}

static void sqlite_cancel(health_run_t *run)
{
    sq_t *q = run->probe;
    if (!q)
        return;
    atomic_store(&q->cancel, 1);
    /* Not yet started in the pool: drop it; else interrupt the statement. */
    uv_cancel((uv_req_t *)&q->work);
    pthread_mutex_lock(&q->lock);
    if (q->db)
        sqlite3_interrupt(q->db);
    pthread_mutex_unlock(&q->lock);
}

const health_probe_ops_t health_probe_sqlite = { sqlite_start, sqlite_cancel };
