/* Tests for the SQLite helper: pragmas, migrations, statement cache, errors,
 * and durability of committed rows across a reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_db.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mm-db-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const char *const steps[] = {
    "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE INDEX t_v ON t (v)",
};

static void test_open_migrate(void **state)
{
    (void)state;
    mm_db_t *db;
    assert_int_equal(mm_db_new(path, 0, &db), 0);
    assert_int_equal(mm_db_user_version(db), 0);
    assert_int_equal(mm_db_migrate(db, steps, 1), 0);
    assert_int_equal(mm_db_user_version(db), 1);
    assert_int_equal(mm_db_migrate(db, steps, 2), 0);
    assert_int_equal(mm_db_user_version(db), 2);
    /* Idempotent. */
    assert_int_equal(mm_db_migrate(db, steps, 2), 0);
    /* A database from the future. */
    assert_int_equal(mm_db_migrate(db, steps, 1), -EPROTO);

    sqlite3_stmt *st, *st2;
    assert_int_equal(mm_db_prepare(db, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");

    assert_int_equal(mm_db_begin(db), 0);
    assert_int_equal(mm_db_prepare(db, "INSERT INTO t (k, v) VALUES (?, ?)", &st), 0);
    sqlite3_bind_int(st, 1, 1);
    sqlite3_bind_text(st, 2, "one", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    char sql[] = "INSERT INTO t (k, v) VALUES (?, ?)";   /* same text, other pointer */
    assert_int_equal(mm_db_prepare(db, sql, &st2), 0);
    assert_ptr_equal(st, st2);
    sqlite3_bind_int(st2, 1, 1);
    sqlite3_bind_text(st2, 2, "dup", -1, SQLITE_STATIC);
    assert_int_equal(mm_db_errno(sqlite3_step(st2)), -EEXIST);
    assert_int_equal(mm_db_commit(db), 0);

    assert_int_equal(mm_db_prepare(db, "SELEC nonsense", &st), -EINVAL);
    assert_non_null(strstr(mm_db_errmsg(db), "syntax"));
    /* Migration failure rolls back its step. */
    const char *bad[] = {steps[0], steps[1], "CREATE TABLE u (x); SELECT * FROM missing"};
    assert_int_equal(mm_db_migrate(db, bad, 3), -EINVAL);
    assert_int_equal(mm_db_user_version(db), 2);
    assert_int_equal(mm_db_exec(db, "SELECT * FROM u"), -EINVAL);
    mm_db_free(db);

    /* Committed rows are there after reopening. */
    assert_int_equal(mm_db_new(path, 100, &db), 0);
    assert_int_equal(mm_db_prepare(db, "SELECT v FROM t WHERE k = 1", &st), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "one");
    mm_db_free(db);
    mm_db_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    mm_db_t *db;
    assert_int_equal(mm_db_new("/nonexistent-dir/x.db", 0, &db), -ENOENT);
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database file at all\n", f);
    fclose(f);
    assert_int_equal(mm_db_new(junk, 0, &db), -EBADMSG);
    assert_int_equal(mm_db_errno(SQLITE_BUSY), -EBUSY);
    assert_int_equal(mm_db_errno(SQLITE_FULL), -ENOSPC);
    assert_int_equal(mm_db_errno(SQLITE_IOERR_WRITE), -EIO);
    assert_int_equal(mm_db_errno(SQLITE_DONE), 0);
    /* SQLite was initialised above, so the log hook is refused now. */
    assert_int_equal(mm_db_set_log(NULL, NULL), -EBUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrate),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
