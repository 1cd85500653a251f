/* Turning a scrape body into samples, with target labels, the synthetic
 * series Prometheus adds per target, and staleness across scrapes. */
#include "scrape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"

int collector_scrape_target_init(scrape_target_t *t, const char *job, const char *instance,
                                 size_t max_samples)
{
    memset(t, 0, sizeof *t);
    t->job = strdup(job);
    t->instance = strdup(instance);
    t->max_samples = max_samples;
    if (!t->job || !t->instance) {
        collector_scrape_target_fini(t);
        return -ENOMEM;
    }
    return 0;
}

void collector_scrape_target_fini(scrape_target_t *t)
{
    if (!t)
        return;
    free(t->job);
    free(t->instance);
    free(t->fps);
    memset(t, 0, sizeof *t);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void emit_stale_missing(scrape_target_t *t, const uint64_t *now_fps, size_t n_now, int64_t now_ms,
                               collector_sink_t *sink)
{
    size_t j = 0;
    for (size_t i = 0; i < t->n_fps; i++) {
        while (j < n_now && now_fps[j] < t->fps[i])
            j++;
        if (j < n_now && now_fps[j] == t->fps[i])
            continue;
        collector_sample_t s = {.fp = t->fps[i], .time_ms = now_ms, .value = mm_stale_nan()};
        collector_emit(sink, &s);
    }
}

static void emit_meta(scrape_target_t *t, const char *name, const char *help, double v, int64_t now_ms,
                      collector_sink_t *sink)
{
    mm_label_t l[2] = {{"instance", t->instance}, {"job", t->job}};
    collector_sample_t s = {.name = name, .labels = l, .n_labels = 2, .type = COLLECTOR_GAUGE,
                            .help = help, .time_ms = now_ms, .value = v};
    collector_emit(sink, &s);
}

int collector_scrape_apply(scrape_target_t *t, const char *body, size_t len, const char *error,
                           double duration_s, int64_t now_ms, collector_sink_t *sink)
{
    promtext_result_t res;
    memset(&res, 0, sizeof res);
    int up = 0;
    uint64_t *fps = NULL;
    size_t n = 0;
    if (error) {
        snprintf(t->last_error, sizeof t->last_error, "%s", error);
    } else {
        promtext_limits_t lim = {.max_samples = t->max_samples};
        unsigned line;
        char err[160];
        int r = collector_promtext_parse(body, len, &lim, &res, &line, err, sizeof err);
        if (r < 0) {
            snprintf(t->last_error, sizeof t->last_error, "line %u: %s", line, err);
        } else {
            fps = malloc((res.n ? res.n : 1) * sizeof *fps);
            if (!fps) {
                snprintf(t->last_error, sizeof t->last_error, "out of memory");
            } else {
                up = 1;
                t->last_error[0] = '\0';
            }
        }
    }
    if (up) {
        mm_label_t lb[66];
        for (size_t i = 0; i < res.n; i++) {
            promtext_sample_t *s = &res.samples[i];
            /* Target labels win; the exposed ones are kept as exported_*,
             * as Prometheus does with honor_labels: false. */
            size_t k = 0;
            char exported[2][64];
            int ne = 0;
            for (size_t j = 0; j < s->n_labels && k < 64; j++) {
                if (strcmp(s->labels[j].name, "job") == 0 || strcmp(s->labels[j].name, "instance") == 0) {
                    snprintf(exported[ne], sizeof exported[ne], "exported_%s", s->labels[j].name);
                    lb[k].name = exported[ne++];
                    lb[k++].value = s->labels[j].value;
                } else {
                    lb[k++] = s->labels[j];
                }
            }
            lb[k].name = "instance";
            lb[k++].value = t->instance;
            lb[k].name = "job";
            lb[k++].value = t->job;
            mm_labels_sort(lb, k);
            collector_sample_t smp = {
                .name = s->name, .family = s->family, .labels = lb, .n_labels = k, .type = s->type,
                .help = s->help, .time_ms = now_ms, .value = s->value,
            };
            smp.fp = mm_labels_fingerprint(s->name, lb, k);
            fps[n++] = smp.fp;
            collector_emit(sink, &smp);
        }
        qsort(fps, n, sizeof *fps, cmp_u64);
    }
    emit_stale_missing(t, fps, n, now_ms, sink);
    free(t->fps);
    t->fps = fps;
    t->n_fps = n;
    emit_meta(t, "up", "1 if the target was scraped and parsed, else 0", up, now_ms, sink);
    emit_meta(t, "scrape_duration_seconds", "How long the scrape took", duration_s, now_ms, sink);
    emit_meta(t, "scrape_samples_scraped", "Samples the target exposed", (double)res.n, now_ms, sink);
    collector_promtext_fini(&res);
    return up;
}

void collector_scrape_target_end(scrape_target_t *t, int64_t now_ms, collector_sink_t *sink)
{
    emit_stale_missing(t, NULL, 0, now_ms, sink);
    free(t->fps);
    t->fps = NULL;
    t->n_fps = 0;
    static const char *const meta[] = {"up", "scrape_duration_seconds", "scrape_samples_scraped"};
    mm_label_t l[2] = {{"instance", t->instance}, {"job", t->job}};
    for (size_t i = 0; i < 3; i++) {
        collector_sample_t s = {.name = meta[i], .labels = l, .n_labels = 2, .type = COLLECTOR_GAUGE,
                                .time_ms = now_ms, .value = mm_stale_nan()};
        collector_emit(sink, &s);
    }
}
