/* memmon-health: runs the checks of health.yml and publishes their levels,
 * the weighted score and level changes on the bus. Wiring only: the
 * scheduler is health_io.c, the logic health.c. */
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>

#include "health_config.h"
#include "health_io.h"
#include "mm_err.h"
#include "mm_log.h"
#include "mm_service.h"

static health_io_t *io;

static int load(const mm_config_t *cfg, void **ret_own, mm_diag_t *d)
{
    health_config_t *hc;
    int r = health_config_load(cfg->dir, cfg->memmimic_db, &hc, d);
    if (r < 0)
        return r;
    *ret_own = hc;
    return 0;
}

static void release(void *own) { health_config_unref(own); }

static int publish(void *data, const char *topic, Mm__Envelope *env)
{
    return mm_service_publish(data, topic, env);
}

static int start(mm_service_t *svc, void *own)
{
    health_config_t *hc = own;
    const mm_config_t *cfg = mm_service_config(svc);
    char db[4096];
    snprintf(db, sizeof(db), "%s/health.db", cfg->data_dir);
    health_io_opts_t o = {
        .loop = mm_service_loop(svc),
        .clock = mm_service_clock(svc),
        .publish = publish,
        .publish_data = svc,
        .db_path = db,
        .state_ms = cfg->state_ms,
    };
    int r = health_io_new(&o, hc, &io);
    if (r < 0)
        return r;
    /* Metric checks read the collector's stream; without them, skip its cost. */
    for (size_t i = 0; i < hc->n_checks; i++)
        if (hc->checks[i].kind == HEALTH_KIND_METRIC) {
            mm_bus_subscribe(mm_service_bus(svc), "metric.");
            break;
        }
    mm_log_info("MM-HEALTH-START", "%zu checks from %s; history in %s", hc->n_checks,
                hc->file ? hc->file : "(none)", db);
    return health_io_start(io);
}

static int reload(mm_service_t *svc, void *new_own, mm_diag_t *d)
{
    health_config_t *hc = new_own;
    (void)d;
    for (size_t i = 0; i < hc->n_checks; i++)
        if (hc->checks[i].kind == HEALTH_KIND_METRIC) {
            mm_bus_subscribe(mm_service_bus(svc), "metric.");
            break;
        }
    return health_io_reload(io, hc);
}

static void stop(mm_service_t *svc)
{
    (void)svc;
    health_io_stop(io);
}

static void on_message(mm_service_t *svc, const char *topic, const Mm__Envelope *env)
{
    (void)svc;
    health_io_on_message(io, topic, env);
}

int main(int argc, char **argv)
{
    static const char *const subs[] = { "cmd.health", NULL };
    static const mm_service_def_t def = {
        .name = "health",
        .summary = "Runs the health checks of health.yml and publishes levels and the score.",
        .config_load = load,
        .config_free = release,
        .start = start,
        .reload = reload,
        .stop = stop,
        .on_message = on_message,
        .subscriptions = subs,
    };
    /* SQLite probes and name lookups share libuv's pool; a few hung
     * databases must not starve the rest. */
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    /* Orphans of command plugins come to us, not to an init that may never
     * reap them (PID 1 here is not one); health_io reaps them on SIGCHLD. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int rc = mm_service_main(&def, argc, argv);
    health_io_free(io);
    return rc;
}
