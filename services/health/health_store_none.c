/* health.db when the build has no SQLite helper (common/mm_db): every call
 * reports -ENOTSUP and the service runs without durable history. */
#include <errno.h>

#include "health_store.h"

int health_store_open(const char *path, int64_t keep, health_store_t **ret)
{
    (void)path, (void)keep;
    *ret = NULL;
    return -ENOTSUP;
}
void health_store_close(health_store_t *s) { (void)s; }
void health_store_set_keep(health_store_t *s, int64_t keep) { (void)s, (void)keep; }
int health_store_add_change(health_store_t *s, const health_change_t *c)
{
    (void)s, (void)c;
    return -ENOTSUP;
}
int health_store_begin(health_store_t *s) { (void)s; return -ENOTSUP; }
int health_store_save_window(health_store_t *s, const char *check, health_level_t level,
                             int64_t since_ms, const uint8_t *window, size_t n)
{
    (void)s, (void)check, (void)level, (void)since_ms, (void)window, (void)n;
    return -ENOTSUP;
}
int health_store_commit(health_store_t *s) { (void)s; return -ENOTSUP; }
int health_store_load(health_store_t *s, health_t *engine, size_t n_changes)
{
    (void)s, (void)engine, (void)n_changes;
    return -ENOTSUP;
}
