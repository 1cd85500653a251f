/* The service lifecycle every daemon shares: arguments, memmon.yml and the
 * service's own config, the libuv loop, the bus client, signals (SIGTERM and
 * SIGINT stop gracefully, SIGHUP reloads and keeps the old config on error),
 * a heartbeat on state.<service>.hb, and --check-config. A daemon's main.c
 * fills an mm_service_def_t and calls mm_service_main(). */
#ifndef MM_SERVICE_H
#define MM_SERVICE_H

#include <stdbool.h>
#include <uv.h>

#include "memmon.pb-c.h"
#include "mm_bus.h"
#include "mm_clock.h"
#include "mm_config.h"
#include "mm_diag.h"

typedef struct mm_service mm_service_t;

typedef struct {
    const char *name;           /* "collector" */
    const char *summary;        /* one line for --help */
    /* Loads the service's own files from cfg->dir into a new object.
     * Must not start anything. NULL when the service has no file of its own. */
    int (*config_load)(const mm_config_t *cfg, void **ret_own, mm_diag_t *d);
    void (*config_free)(void *own);
    /* Starts the service's activity on svc's loop. `own` stays owned by svc. */
    int (*start)(mm_service_t *svc, void *own);
    /* Switches to a new config (already validated); mm_service_config()
     * returns the new memmon.yml during the call. Return 0 to accept it;
     * svc then frees the old one. On error svc frees new_own and keeps the old. */
    int (*reload)(mm_service_t *svc, void *new_own, mm_diag_t *d);
    /* Stops activity and closes handles; the loop then runs until empty. */
    void (*stop)(mm_service_t *svc);
    /* Called for every bus message the service subscribed to. */
    void (*on_message)(mm_service_t *svc, const char *topic, const Mm__Envelope *env);
    /* Topic prefixes to subscribe to, NULL-terminated (may be NULL). */
    const char *const *subscriptions;
    /* Adds the service's own fields to the heartbeat, or NULL. */
    void (*heartbeat)(mm_service_t *svc, Mm__Heartbeat *hb);
    void *data;                 /* the service's state; see mm_service_data() */
} mm_service_def_t;

/* Runs the daemon; returns the process exit code. Flags: --config-dir DIR
 * (default $MEMMON_CONFIG_DIR or /etc/memmon), --check-config, --log-level L,
 * --instance NAME, --version, --help. */
int mm_service_main(const mm_service_def_t *def, int argc, char **argv);

uv_loop_t *mm_service_loop(mm_service_t *svc);
mm_bus_t *mm_service_bus(mm_service_t *svc);
const mm_config_t *mm_service_config(mm_service_t *svc);
const mm_clock_t *mm_service_clock(mm_service_t *svc);
void *mm_service_data(mm_service_t *svc);
const char *mm_service_name(mm_service_t *svc);

/* Publishes env on topic through the service's bus client. */
int mm_service_publish(mm_service_t *svc, const char *topic, Mm__Envelope *env);

/* Asks the loop to stop (as SIGTERM does). */
void mm_service_request_stop(mm_service_t *svc);

#endif
