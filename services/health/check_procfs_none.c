/* The `system` and `process` probes when the build has no procfs readers
 * (common/mm_procfs not merged yet): each run says so as a critical result. */
#include <errno.h>

#include "health_probe.h"

static int none_start(health_run_t *run)
{
    health_result_raise(&run->result, HEALTH_CRITICAL,
                        "%s checks need common/mm_procfs, which this build lacks",
                        health_kind_name(run->conf->kind));
    health_run_done(run);
    return 0;
}

const health_probe_ops_t health_probe_system = { none_start, NULL };
const health_probe_ops_t health_probe_process = { none_start, NULL };
