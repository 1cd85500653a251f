/* The one logger. Only daemons (main.c, *_io.c) log; library code returns
 * error codes instead. Levels follow syslog; the level is checked before
 * formatting. Message ids (MM-RULE-LOAD-FAIL) are stable for operators to grep. */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdbool.h>

typedef enum {
    MM_LOG_ERR = 3,
    MM_LOG_WARNING = 4,
    MM_LOG_NOTICE = 5,
    MM_LOG_INFO = 6,
    MM_LOG_DEBUG = 7,
} mm_log_level_t;

/* Sets the process's service name, threshold and format (JSON lines or text). */
void mm_log_setup(const char *service, mm_log_level_t level, bool json);
/* Parses "error", "warning", "notice", "info", "debug"; returns -EINVAL otherwise. */
int mm_log_level_parse(const char *s, mm_log_level_t *ret_level);
void mm_log_set_level(mm_log_level_t level);
bool mm_log_enabled(mm_log_level_t level);

void mm_log_write(mm_log_level_t level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mm_log(level, id, ...) \
    do { if (mm_log_enabled(level)) mm_log_write(level, id, __VA_ARGS__); } while (0)
#define mm_log_err(id, ...)    mm_log(MM_LOG_ERR, id, __VA_ARGS__)
#define mm_log_warn(id, ...)   mm_log(MM_LOG_WARNING, id, __VA_ARGS__)
#define mm_log_notice(id, ...) mm_log(MM_LOG_NOTICE, id, __VA_ARGS__)
#define mm_log_info(id, ...)   mm_log(MM_LOG_INFO, id, __VA_ARGS__)
#define mm_log_debug(id, ...)  mm_log(MM_LOG_DEBUG, id, __VA_ARGS__)

#endif
