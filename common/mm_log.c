/* Writes log lines to stderr, as text or JSON lines. The supervisor (tools/run,
 * systemd, docker) decides where stderr goes. */
#include "mm_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char log_service[32] = "memmon";
static mm_log_level_t log_level = MM_LOG_INFO;
static bool log_json;

static const char *level_names[] = {
    [MM_LOG_ERR] = "error", [MM_LOG_WARNING] = "warning", [MM_LOG_NOTICE] = "notice",
    [MM_LOG_INFO] = "info", [MM_LOG_DEBUG] = "debug",
};

void mm_log_setup(const char *service, mm_log_level_t level, bool json)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    log_level = level;
    log_json = json;
}

void mm_log_set_level(mm_log_level_t level) { log_level = level; }

bool mm_log_enabled(mm_log_level_t level) { return level <= log_level; }

int mm_log_level_parse(const char *s, mm_log_level_t *ret_level)
{
    for (int l = MM_LOG_ERR; l <= MM_LOG_DEBUG; l++) {
        if (strcasecmp(s, level_names[l]) == 0) {
            *ret_level = (mm_log_level_t)l;
            return 0;
        }
    }
    if (strcasecmp(s, "warn") == 0) {
        *ret_level = MM_LOG_WARNING;
        return 0;
    }
    return -EINVAL;
}

/* Writes s as a JSON string body (without quotes). */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void mm_log_write(mm_log_level_t level, const char *id, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    flockfile(stderr);
    if (log_json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"service\":\"%s\",\"level\":\"%s\",\"id\":\"", when,
                log_service, level_names[level]);
        json_escape(stderr, id ? id : "");
        fputs("\",\"msg\":\"", stderr);
        json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %s %s %s %s\n", when, log_service, level_names[level], id ? id : "-", msg);
    }
    funlockfile(stderr);
}
