/* The Nagios plugin convention (CONTRACTS.md §7): exit status to level, the
 * first output line as the message, and perfdata ('label'=value[UOM];warn;
 * crit;min;max) parsed into values. Pure functions over bytes; no I/O. */
#ifndef HEALTH_NAGIOS_H
#define HEALTH_NAGIOS_H

#include <stdbool.h>
#include <stddef.h>

#include "health_config.h"

typedef struct {
    char label[64];             /* sanitised to [a-zA-Z0-9_] */
    double value;               /* NAN for "U" */
    char uom[8];                /* "", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c" */
    double warn, crit, min, max;    /* NAN when absent or a range we do not evaluate */
} health_perf_t;

/* Splits plugin output. `out` need not be NUL-terminated and may hold any
 * bytes (NULs and invalid UTF-8 become '?'). Writes the first line's text part
 * (before '|', trimmed, at most msg_cap-1 bytes) to msg, and up to perf_cap
 * perfdata items, from the first line and from any later line after a '|',
 * into perf. Malformed items are skipped and counted in *ret_bad (may be NULL).
 * Returns the number of perfdata items stored. Never fails. */
size_t health_nagios_parse(const char *out, size_t len, char *msg, size_t msg_cap,
                           health_perf_t *perf, size_t perf_cap, size_t *ret_bad);

/* Maps how a plugin ended to a level and writes the reason into why:
 * exited with code 0..3 → healthy/degraded/critical/unhealthy ("unknown"),
 * any other code, a signal or a timeout → critical. `status` is the exit code
 * when signal == 0 and !timed_out. */
health_level_t health_nagios_level(long status, int signal, bool timed_out, char *why,
                                   size_t cap);

#endif
