/* health.db through common/mm_db (WAL, migrations by user_version, cached
 * statements): the `changes` history and the `windows` of each check. */
#include "health_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_db.h"

struct health_store {
    mm_db_t *db;
    int64_t keep;
    unsigned since_trim;
    bool in_tx;
};

static const char *const migrations[] = {
    "CREATE TABLE changes ("
    "  id INTEGER PRIMARY KEY,"
    "  check_name TEXT NOT NULL,"
    "  from_level INTEGER NOT NULL,"
    "  to_level INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE TABLE windows ("
    "  check_name TEXT PRIMARY KEY,"
    "  level INTEGER NOT NULL,"
    "  since_ms INTEGER NOT NULL,"
    "  window BLOB NOT NULL);",
};

int health_store_open(const char *path, int64_t keep, health_store_t **ret)
{
    health_store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->keep = keep > 0 ? keep : 10000;
    int r = mm_db_new(path, 2000, &s->db);
    if (r >= 0)
        r = mm_db_migrate(s->db, migrations, sizeof(migrations) / sizeof(migrations[0]));
    if (r < 0) {
        health_store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void health_store_close(health_store_t *s)
{
    if (!s)
        return;
    if (s->in_tx)
        mm_db_commit(s->db);
    mm_db_free(s->db);
    free(s);
}

void health_store_set_keep(health_store_t *s, int64_t keep)
{
    if (s && keep > 0)
        s->keep = keep;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : mm_db_errno(rc);
}

int health_store_add_change(health_store_t *s, const health_change_t *c)
{
    if (!s)
        return -EINVAL;
    sqlite3_stmt *st;
    int r = mm_db_prepare(s->db,
                          "INSERT INTO changes(check_name, from_level, to_level, time_ms, message)"
                          " VALUES (?, ?, ?, ?, ?)", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, c->check, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, (int)c->from);
    sqlite3_bind_int(st, 3, (int)c->to);
    sqlite3_bind_int64(st, 4, c->time_ms);
    sqlite3_bind_text(st, 5, c->message, -1, SQLITE_TRANSIENT);
    if ((r = step_done(st)) < 0)
        return r;
    if (++s->since_trim >= 100) {
        s->since_trim = 0;
        if (mm_db_prepare(s->db, "DELETE FROM changes WHERE id <= (SELECT MAX(id) FROM changes) - ?",
                          &st) == 0) {
            sqlite3_bind_int64(st, 1, s->keep);
            step_done(st);
        }
    }
    return 0;
}

int health_store_begin(health_store_t *s)
{
    if (!s || s->in_tx)
        return -EINVAL;
    int r = mm_db_begin(s->db);
    s->in_tx = r == 0;
    return r;
}

int health_store_commit(health_store_t *s)
{
    if (!s || !s->in_tx)
        return -EINVAL;
    s->in_tx = false;
    return mm_db_commit(s->db);
}

int health_store_save_window(health_store_t *s, const char *check, health_level_t level,
                             int64_t since_ms, const uint8_t *window, size_t n)
{
    if (!s)
        return -EINVAL;
    sqlite3_stmt *st;
    int r = mm_db_prepare(s->db,
                          "INSERT INTO windows(check_name, level, since_ms, window) VALUES (?,?,?,?)"
                          " ON CONFLICT(check_name) DO UPDATE SET level = excluded.level,"
                          " since_ms = excluded.since_ms, window = excluded.window", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, check, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, (int)level);
    sqlite3_bind_int64(st, 3, since_ms);
    sqlite3_bind_blob(st, 4, window, (int)n, SQLITE_TRANSIENT);
    return step_done(st);
}

int health_store_load(health_store_t *s, health_t *engine, size_t n_changes)
{
    if (!s)
        return -EINVAL;
    sqlite3_stmt *st;
    int r = mm_db_prepare(s->db, "SELECT check_name, level, since_ms, window FROM windows", &st);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const uint8_t *w = sqlite3_column_blob(st, 3);
        size_t n = (size_t)sqlite3_column_bytes(st, 3);
        if (name)
            health_restore(engine, name, (health_level_t)sqlite3_column_int(st, 1),
                           sqlite3_column_int64(st, 2), w, w ? n : 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return mm_db_errno(rc);
    r = mm_db_prepare(s->db,
                      "SELECT check_name, from_level, to_level, time_ms, message FROM"
                      " (SELECT * FROM changes ORDER BY id DESC LIMIT ?) ORDER BY id", &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)n_changes);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        health_change_t c;
        memset(&c, 0, sizeof(c));
        snprintf(c.check, sizeof(c.check), "%s", (const char *)sqlite3_column_text(st, 0));
        c.from = (health_level_t)sqlite3_column_int(st, 1);
        c.to = (health_level_t)sqlite3_column_int(st, 2);
        c.time_ms = sqlite3_column_int64(st, 3);
        snprintf(c.message, sizeof(c.message), "%s", (const char *)sqlite3_column_text(st, 4));
        health_history_push(engine, &c);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : mm_db_errno(rc);
}
