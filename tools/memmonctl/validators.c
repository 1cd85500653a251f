/* The services whose config files `memmonctl check` validates. Each entry
 * calls the same loader the daemon uses, so the two never disagree. */
#include "memmonctl.h"

#include "collector_config.h"
#include "health_config.h"

static int check_health(const mm_config_t *cfg, mm_diag_t *d)
{
    health_config_t *h = NULL;
    int r = health_config_load(cfg->dir, cfg->memmimic_db, &h, d);
    health_config_free(h);
    return r;
}

const memmonctl_validator_t memmonctl_validators[] = {
    {"collector", "collector.yml", collector_config_check},
    {"health", "health.yml", check_health},
    {0},
};
