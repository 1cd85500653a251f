/* Host metrics with node_exporter's names and labels (CONTRACTS.md §3) read
 * through mm_procfs, plus every memmon process's own CPU and RSS as
 * memmon_process_*{service}. Series that disappear (an unmounted filesystem,
 * a stopped service) end with stale markers. Blocks on procfs reads and
 * statvfs (network filesystems are skipped so it cannot hang). */
#ifndef COLLECTOR_SYSMETRICS_H
#define COLLECTOR_SYSMETRICS_H

#include <stdint.h>

#include "mm_procfs.h"
#include "sample.h"

typedef struct collector_sysmetrics collector_sysmetrics_t;

/* procfs is copied; pattern (fnmatch, e.g. "memmon-*") picks the processes
 * reported per service. Returns NULL when out of memory. */
collector_sysmetrics_t *collector_sysmetrics_new(const mm_procfs_t *procfs, const char *pattern);
void collector_sysmetrics_free(collector_sysmetrics_t *sm);

/* Reads everything once and emits it stamped now_ms. Returns 0, or the
 * first reader's negative errno (what could be read is still emitted). */
int collector_sysmetrics_collect(collector_sysmetrics_t *sm, int64_t now_ms, collector_sink_t *sink);

#endif
