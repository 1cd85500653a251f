/* health.db, the service's durable file (CONTRACTS.md §4): level-change
 * history and each check's N-of-M window with its level, so a restart shows
 * what users saw before it. Blocking SQLite I/O on the caller's thread
 * (small WAL commits, one batched transaction per report flush). */
#ifndef HEALTH_STORE_H
#define HEALTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "health.h"

typedef struct health_store health_store_t;

/* Opens or creates the file and brings its schema up to date. Returns 0 or
 * a negative errno (-ENOTSUP when built without the SQLite helper). */
int health_store_open(const char *path, int64_t keep, health_store_t **ret);
/* NULL is a no-op. */
void health_store_close(health_store_t *s);
void health_store_set_keep(health_store_t *s, int64_t keep);

/* Appends a level change; trims the history to `keep` rows now and then. */
int health_store_add_change(health_store_t *s, const health_change_t *c);

/* Saves a check's smoothed level and window (oldest first). Between begin
 * and commit, many saves share one transaction. */
int health_store_begin(health_store_t *s);
int health_store_save_window(health_store_t *s, const char *check, health_level_t level,
                             int64_t since_ms, const uint8_t *window, size_t n);
int health_store_commit(health_store_t *s);

/* Restores every check of the engine found in the file, and the newest
 * n_changes level changes into its history. */
int health_store_load(health_store_t *s, health_t *engine, size_t n_changes);

#endif
