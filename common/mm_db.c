/* SQLite connection helper: pragmas, migrations by user_version, statement
 * cache and error mapping. */
#include "mm_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE_MAX 64

struct mm_db {
    sqlite3 *handle;
    struct {
        char *sql;
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE_MAX];
    size_t n_cache;
};

int mm_db_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return -EACCES;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_CANTOPEN: return -ENOENT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return -EBADMSG;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_TOOBIG: return -E2BIG;
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_ERROR: return -EINVAL;
    case SQLITE_INTERRUPT: return -EINTR;
    default: return -EIO;
    }
}

int mm_db_set_log(void (*cb)(void *data, int code, const char *msg), void *data)
{
    int rc = sqlite3_config(SQLITE_CONFIG_LOG, cb, data);
    return rc == SQLITE_MISUSE ? -EBUSY : mm_db_errno(rc);
}

int mm_db_exec(mm_db_t *db, const char *sql)
{
    return mm_db_errno(sqlite3_exec(db->handle, sql, NULL, NULL, NULL));
}

int mm_db_new(const char *path, int busy_timeout_ms, mm_db_t **ret_db)
{
    mm_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return -ENOMEM;
    int rc = sqlite3_open_v2(path, &db->handle,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    int r = mm_db_errno(rc);
    if (r < 0)
        goto fail;
    sqlite3_extended_result_codes(db->handle, 1);
    sqlite3_busy_timeout(db->handle, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
    /* journal_mode returns a row; sqlite3_exec ignores it. Reading the schema
     * here also detects a file that is not a database. */
    r = mm_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "PRAGMA foreign_keys=ON; SELECT count(*) FROM sqlite_master;");
    if (r < 0)
        goto fail;
    *ret_db = db;
    return 0;
fail:
    mm_db_free(db);
    return r;
}

void mm_db_free(mm_db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n_cache; i++) {
        sqlite3_finalize(db->cache[i].stmt);
        free(db->cache[i].sql);
    }
    sqlite3_close_v2(db->handle);
    free(db);
}

sqlite3 *mm_db_handle(mm_db_t *db) { return db->handle; }

const char *mm_db_errmsg(mm_db_t *db) { return sqlite3_errmsg(db->handle); }

int mm_db_user_version(mm_db_t *db)
{
    sqlite3_stmt *st;
    int r = mm_db_prepare(db, "PRAGMA user_version", &st);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : mm_db_errno(rc);
    sqlite3_reset(st);
    return v;
}

int mm_db_migrate(mm_db_t *db, const char *const *steps, size_t n)
{
    int v = mm_db_user_version(db);
    if (v < 0)
        return v;
    if ((size_t)v > n)
        return -EPROTO;
    for (size_t i = (size_t)v; i < n; i++) {
        int r = mm_db_begin(db);
        if (r < 0)
            return r;
        r = mm_db_exec(db, steps[i]);
        if (r == 0) {
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA user_version=%zu", i + 1);
            r = mm_db_exec(db, sql);
        }
        if (r < 0) {
            mm_db_rollback(db);
            return r;
        }
        r = mm_db_commit(db);
        if (r < 0)
            return r;
    }
    return 0;
}

int mm_db_prepare(mm_db_t *db, const char *sql, sqlite3_stmt **ret_stmt)
{
    for (size_t i = 0; i < db->n_cache; i++) {
        if (db->cache[i].sql == sql || strcmp(db->cache[i].sql, sql) == 0) {
            sqlite3_stmt *st = db->cache[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            *ret_stmt = st;
            return 0;
        }
    }
    sqlite3_stmt *st;
    int r = mm_db_errno(sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL));
    if (r < 0)
        return r;
    if (db->n_cache == STMT_CACHE_MAX) {
        /* Full: evict the oldest entry; callers hold a statement only until
         * their next prepare, so this is safe. */
        sqlite3_finalize(db->cache[0].stmt);
        free(db->cache[0].sql);
        memmove(&db->cache[0], &db->cache[1], (STMT_CACHE_MAX - 1) * sizeof db->cache[0]);
        db->n_cache--;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return -ENOMEM;
    }
    db->cache[db->n_cache].sql = copy;
    db->cache[db->n_cache].stmt = st;
    db->n_cache++;
    *ret_stmt = st;
    return 0;
}

int mm_db_begin(mm_db_t *db) { return mm_db_exec(db, "BEGIN IMMEDIATE"); }

int mm_db_commit(mm_db_t *db)
{
    /* A cached statement left mid-step (or failed) would make COMMIT busy. */
    for (size_t i = 0; i < db->n_cache; i++)
        sqlite3_reset(db->cache[i].stmt);
    int r = mm_db_exec(db, "COMMIT");
    if (r < 0 && !sqlite3_get_autocommit(db->handle))
        mm_db_exec(db, "ROLLBACK");
    return r;
}

int mm_db_rollback(mm_db_t *db)
{
    if (sqlite3_get_autocommit(db->handle))
        return 0;
    return mm_db_exec(db, "ROLLBACK");
}
