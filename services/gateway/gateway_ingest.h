/* POST /api/ingest: JSON samples in, a MetricBatch for metric.ingest out, and
 * the bearer-token check every write goes through. Socket-free.
 *
 * Body: {"samples": [{"name": "x", "value": 1.5, "labels": {"k": "v"},
 *        "type": "gauge"|"counter"|"untyped", "help": "...", "timestamp_ms": N}]}
 * or the bare array. value may be a number or "NaN", "+Inf", "-Inf". Unknown
 * keys are errors, so typos do not pass silently. */
#ifndef GATEWAY_INGEST_H
#define GATEWAY_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "memmon.pb-c.h"

#define GATEWAY_INGEST_MAX_SAMPLES 10000
#define GATEWAY_INGEST_MAX_LABELS 32
#define GATEWAY_INGEST_MAX_VALUE 1024

typedef struct {
    int status;                 /* HTTP status to answer with */
    const char *code;           /* static: "bad_json", "invalid_sample", ... */
    char message[256];
} gateway_error_t;

typedef struct gateway_ingest gateway_ingest_t;

/* Parses body into a batch; now_ms stamps samples without a time. On success
 * *ret owns the batch (see gateway_ingest_batch) and must be freed with
 * gateway_ingest_free. Returns 0, -EINVAL with err filled (status 400), or
 * -ENOMEM. */
int gateway_ingest_parse(const char *body, size_t len, int64_t now_ms, gateway_ingest_t **ret,
                         gateway_error_t *err);
const Mm__MetricBatch *gateway_ingest_batch(const gateway_ingest_t *in);
Mm__MetricBatch *gateway_ingest_batch_mut(gateway_ingest_t *in);
void gateway_ingest_free(gateway_ingest_t *in);

/* Checks an Authorization header value (may be NULL) against the configured
 * token in constant time. Returns 0 when it matches, -EACCES when the header
 * is missing or not "Bearer <token>" (answer 401), -EPERM when the token is
 * wrong or no token is configured (answer 403). */
int gateway_auth_check(const char *header, size_t len, const char *token);

#endif
