/* Prometheus text exposition format 0.0.4: the primitives the gateway's
 * renderer is built from. Values are spelled as Go's strconv 'g' shortest
 * form, as Prometheus's client libraries do (NaN, +Inf, -Inf, 1e+06); HELP
 * escapes backslash and newline; label values escape backslash, double quote
 * and newline. Nothing here allocates except through the buffer. */
#ifndef GATEWAY_EXPO_H
#define GATEWAY_EXPO_H

#include <stddef.h>

#include "gateway_buf.h"
#include "mm_labels.h"

#define GATEWAY_EXPO_VALUE_MAX 32

/* Writes v into out (at least GATEWAY_EXPO_VALUE_MAX bytes, NUL-terminated);
 * returns the length. */
size_t gateway_expo_value(char *out, double v);

/* "# HELP name text\n# TYPE name type\n". An empty help is written as is
 * (promtool requires HELP, so callers pass generated text when none came). */
void gateway_expo_family(gateway_buf_t *b, const char *name, const char *type, const char *help);

/* "name{l1="v1",...,extra="ev"} " with the trailing space. `extra_name` may
 * be NULL; it is written after the sorted labels (le and quantile go last,
 * which Prometheus also does). No braces when there are no labels at all. */
void gateway_expo_series_prefix(gateway_buf_t *b, const char *name, const char *suffix,
                                const mm_label_t *labels, size_t n, const char *extra_name,
                                const char *extra_value);

void gateway_expo_escape_help(gateway_buf_t *b, const char *s);
void gateway_expo_escape_label_value(gateway_buf_t *b, const char *s);

/* The text of an le or quantile bound as Prometheus writes it ("0.005", "+Inf"). */
size_t gateway_expo_bound(char *out, double v);

#endif
