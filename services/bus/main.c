/* memmon-bus: the stateless forwarder every service publishes to and
 * subscribes from. Wiring only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "mm_err.h"
#include "mm_log.h"
#include "mm_service.h"

static bus_forwarder_t *forwarder;

static int bus_start(mm_service_t *svc, void *own)
{
    (void)own;
    const mm_config_t *cfg = mm_service_config(svc);
    mm_bus_tls_t tls = {cfg->bus_tls_cert, cfg->bus_tls_key, cfg->bus_tls_ca};
    /* A stale ipc socket file from a killed bus would make listening fail. */
    if (strncmp(cfg->bus_in, "ipc://", 6) == 0)
        unlink(cfg->bus_in + 6);
    if (strncmp(cfg->bus_out, "ipc://", 6) == 0)
        unlink(cfg->bus_out + 6);
    int r = bus_forwarder_new(mm_service_loop(svc), cfg->bus_in, cfg->bus_out, &tls, &forwarder);
    if (r < 0) {
        mm_log_err("MM-BUS-LISTEN-FAIL", "cannot listen on %s / %s: %s%s", cfg->bus_in,
                   cfg->bus_out, mm_strerror(r),
                   r == -EPERM ? " (a non-loopback bus must use tls+tcp://)" : "");
        return r;
    }
    mm_log_info("MM-BUS-LISTEN", "forwarding %s -> %s", cfg->bus_in, cfg->bus_out);
    return 0;
}

static void bus_stop(mm_service_t *svc)
{
    (void)svc;
    bus_forwarder_free(forwarder);
    forwarder = NULL;
}

static int bus_reload(mm_service_t *svc, void *own, mm_diag_t *d)
{
    (void)svc; (void)own; (void)d;
    return 0;
}

int main(int argc, char **argv)
{
    static const mm_service_def_t def = {
        .name = "bus",
        .summary = "Forwards every message from the bus input to the bus output.",
        .start = bus_start,
        .stop = bus_stop,
        .reload = bus_reload,
    };
    return mm_service_main(&def, argc, argv);
}
