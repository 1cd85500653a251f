/* What a scrape of one Prometheus text target turns into: its samples with
 * job/instance labels, up, scrape_duration_seconds, scrape_samples_scraped,
 * and stale markers for the series that disappeared since the last scrape
 * (all of them when the scrape failed). No I/O: collector_io fetches. */
#ifndef COLLECTOR_SCRAPE_H
#define COLLECTOR_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "promtext.h"
#include "sample.h"

typedef struct {
    char *job;
    char *instance;
    uint64_t *fps;              /* series of the last good scrape, sorted */
    size_t n_fps;
    size_t max_samples;         /* 0 = unlimited */
    char last_error[256];       /* "" after a good scrape */
} scrape_target_t;

/* job and instance are copied. Returns 0 or -ENOMEM. */
int collector_scrape_target_init(scrape_target_t *t, const char *job, const char *instance,
                                 size_t max_samples);
void collector_scrape_target_fini(scrape_target_t *t);

/* Applies one scrape's outcome. error is NULL when the HTTP fetch succeeded
 * with status 200 and body holds the response; otherwise error says why
 * (the body is ignored). A body that does not parse also gives up 0, with
 * the reason in t->last_error. Returns 1 when up, 0 when down. */
int collector_scrape_apply(scrape_target_t *t, const char *body, size_t len, const char *error,
                           double duration_s, int64_t now_ms, collector_sink_t *sink);

/* Ends every series of the target (stale markers), e.g. when it is removed
 * from the config. */
void collector_scrape_target_end(scrape_target_t *t, int64_t now_ms, collector_sink_t *sink);

#endif
