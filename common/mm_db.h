/* SQLite helper every stateful service uses for its <data_dir>/<service>.db:
 * open with WAL, synchronous=NORMAL and a busy timeout; schema migrations by
 * PRAGMA user_version; a small prepared-statement cache; SQLite result codes
 * mapped to negative errno. Library code: it never logs (see mm_db_set_log). */
#ifndef MM_DB_H
#define MM_DB_H

#include <stddef.h>
#include <sqlite3.h>

typedef struct mm_db mm_db_t;

/* Opens (creating when missing) the database at path, sets journal_mode=WAL,
 * synchronous=NORMAL, foreign_keys=ON and busy_timeout (0 = 5000 ms).
 * Blocks on file I/O. Returns 0 with *ret_db set, or a negative errno
 * (-ENOENT when the directory does not exist, -EACCES, -EBADMSG for a file
 * that is not a database, -EIO). Free with mm_db_free(). */
int mm_db_new(const char *path, int busy_timeout_ms, mm_db_t **ret_db);

/* Finalizes cached statements and closes the connection. NULL is a no-op. */
void mm_db_free(mm_db_t *db);

/* The raw handle, for what this helper does not cover. Owned by db. */
sqlite3 *mm_db_handle(mm_db_t *db);

/* Brings the schema to version n: step i (0-based) runs in its own
 * transaction and sets user_version to i + 1; steps already applied are
 * skipped. Returns 0, -EPROTO when the file's version is newer than n (a
 * newer memmon wrote it), or the mapped error of the failing step (the
 * transaction is rolled back, earlier steps stay). */
int mm_db_migrate(mm_db_t *db, const char *const *steps, size_t n);

/* Current PRAGMA user_version, or a negative errno. */
int mm_db_user_version(mm_db_t *db);

/* Runs one or more statements without results. */
int mm_db_exec(mm_db_t *db, const char *sql);

/* Returns a prepared statement for sql from the cache (preparing it on first
 * use), reset and with its bindings cleared. The statement stays owned by db:
 * never finalize it; it stays valid until 64 other SQL texts have been
 * prepared after it. sql is compared by content. Returns 0 or a negative errno
 * (-EINVAL for a syntax error; mm_db_errmsg() says more). */
int mm_db_prepare(mm_db_t *db, const char *sql, sqlite3_stmt **ret_stmt);

/* Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK. Commit first resets
 * every cached statement (their results are gone after it), and returns the
 * mapped error when the commit fails (the transaction is then rolled back). */
int mm_db_begin(mm_db_t *db);
int mm_db_commit(mm_db_t *db);
int mm_db_rollback(mm_db_t *db);

/* The connection's last error message (owned by SQLite, valid until the next call). */
const char *mm_db_errmsg(mm_db_t *db);

/* Maps an SQLite result code (primary or extended) to 0 or a negative errno:
 * BUSY/LOCKED -EBUSY, NOMEM -ENOMEM, READONLY/PERM/AUTH -EACCES, FULL -ENOSPC,
 * CANTOPEN -ENOENT, CORRUPT/NOTADB -EBADMSG, CONSTRAINT -EEXIST, TOOBIG -E2BIG,
 * MISMATCH/RANGE/ERROR -EINVAL, INTERRUPT -EINTR, others -EIO. */
int mm_db_errno(int sqlite_rc);

/* Routes SQLite's own error log (SQLITE_CONFIG_LOG) to cb, which a daemon
 * points at mm_log. Must be called before the first mm_db_new() of the
 * process; returns 0, or -EBUSY when SQLite is already initialised. */
int mm_db_set_log(void (*cb)(void *data, int code, const char *msg), void *data);

#endif
