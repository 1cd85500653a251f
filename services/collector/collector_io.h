/* The collector's adapter to the outside: the StatsD UDP socket (recvmmsg on
 * a uv_poll), scrapes (libcurl multi on libuv), timers for StatsD flushes,
 * system metrics, bus batches, history commits and state republishing, the
 * SQLite file, and the bus (through mm_service). main.c plugs these into
 * mm_service_def_t; the state lives in a collector_io_t given as def.data. */
#ifndef COLLECTOR_IO_H
#define COLLECTOR_IO_H

#include "memmon.pb-c.h"
#include "mm_config.h"
#include "mm_diag.h"
#include "mm_service.h"

typedef struct collector_io collector_io_t;

/* A zeroed collector_io_t for def.data (static storage). */
collector_io_t *collector_io_instance(void);

int collector_io_config_load(const mm_config_t *cfg, void **ret_own, mm_diag_t *d);
void collector_io_config_free(void *own);
int collector_io_start(mm_service_t *svc, void *own);
int collector_io_reload(mm_service_t *svc, void *new_own, mm_diag_t *d);
void collector_io_stop(mm_service_t *svc);
void collector_io_on_message(mm_service_t *svc, const char *topic, const Mm__Envelope *env);

#endif
