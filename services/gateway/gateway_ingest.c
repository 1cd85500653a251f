/* Parsing of pushed samples (jansson) into a protobuf MetricBatch, and the
 * constant-time bearer-token check. */
#include "gateway_ingest.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm_labels.h"

struct gateway_ingest {
    json_t *root;               /* strings of the batch point into it */
    Mm__MetricBatch batch;
    Mm__Series *series;
    Mm__Series **series_ptrs;
    Mm__Label *labels;
    Mm__Label **label_ptrs;
    int64_t *times;
    double *values;
};

static int fail(gateway_error_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(gateway_error_t *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->status = 400;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void gateway_ingest_free(gateway_ingest_t *in)
{
    if (!in)
        return;
    json_decref(in->root);
    free(in->series);
    free(in->series_ptrs);
    free(in->labels);
    free(in->label_ptrs);
    free(in->times);
    free(in->values);
    free(in);
}

const Mm__MetricBatch *gateway_ingest_batch(const gateway_ingest_t *in) { return &in->batch; }
Mm__MetricBatch *gateway_ingest_batch_mut(gateway_ingest_t *in) { return &in->batch; }

static int label_cmp(const void *a, const void *b)
{
    const Mm__Label *x = *(Mm__Label *const *)a, *y = *(Mm__Label *const *)b;
    return strcmp(x->name, y->name);
}

static bool read_value(json_t *v, double *ret)
{
    if (json_is_number(v)) {
        *ret = json_number_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (!strcmp(s, "NaN"))
        *ret = NAN;
    else if (!strcmp(s, "+Inf") || !strcmp(s, "Inf"))
        *ret = INFINITY;
    else if (!strcmp(s, "-Inf"))
        *ret = -INFINITY;
    else
        return false;
    return true;
}

int gateway_ingest_parse(const char *body, size_t len, int64_t now_ms, gateway_ingest_t **ret,
                         gateway_error_t *err)
{
    memset(err, 0, sizeof(*err));
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, "bad_json", "invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    gateway_ingest_t *in = calloc(1, sizeof(*in));
    if (!in) {
        json_decref(root);
        return -ENOMEM;
    }
    in->root = root;
    int r;
    json_t *arr = root;
    if (json_is_object(root)) {
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val) {
            if (strcmp(key, "samples")) {
                r = fail(err, "bad_request", "unknown key \"%.64s\" (expected \"samples\")", key);
                goto out;
            }
        }
        arr = json_object_get(root, "samples");
    }
    if (!json_is_array(arr)) {
        r = fail(err, "bad_request", "expected {\"samples\": [...]} or an array of samples");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        r = fail(err, "bad_request", "no samples");
        goto out;
    }
    if (n > GATEWAY_INGEST_MAX_SAMPLES) {
        r = fail(err, "too_many_samples", "%zu samples; at most %d per request", n,
                 GATEWAY_INGEST_MAX_SAMPLES);
        goto out;
    }
    size_t nlabels = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_object_get(json_array_get(arr, i), "labels");
        if (json_is_object(l))
            nlabels += json_object_size(l);
    }
    in->series = calloc(n, sizeof(*in->series));
    in->series_ptrs = calloc(n, sizeof(*in->series_ptrs));
    in->labels = calloc(nlabels ? nlabels : 1, sizeof(*in->labels));
    in->label_ptrs = calloc(nlabels ? nlabels : 1, sizeof(*in->label_ptrs));
    in->times = calloc(n, sizeof(*in->times));
    in->values = calloc(n, sizeof(*in->values));
    if (!in->series || !in->series_ptrs || !in->labels || !in->label_ptrs || !in->times || !in->values) {
        r = -ENOMEM;
        goto out;
    }
    size_t li = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        Mm__Series *s = &in->series[i];
        mm__series__init(s);
        in->series_ptrs[i] = s;
        if (!json_is_object(o)) {
            r = fail(err, "invalid_sample", "samples[%zu]: expected an object", i);
            goto out;
        }
        const char *key;
        json_t *val;
        json_object_foreach(o, key, val) {
            if (strcmp(key, "name") && strcmp(key, "value") && strcmp(key, "labels") &&
                strcmp(key, "type") && strcmp(key, "help") && strcmp(key, "timestamp_ms")) {
                r = fail(err, "invalid_sample", "samples[%zu]: unknown key \"%.64s\"", i, key);
                goto out;
            }
        }
        json_t *name = json_object_get(o, "name");
        if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 200 ||
            !mm_metric_name_valid(json_string_value(name), json_string_length(name))) {
            r = fail(err, "invalid_sample",
                     "samples[%zu]: \"name\" must be a metric name [a-zA-Z_:][a-zA-Z0-9_:]* of at most 200 bytes", i);
            goto out;
        }
        s->name = (char *)json_string_value(name);
        if (!strncmp(s->name, "memmon_", 7)) {
            r = fail(err, "invalid_sample", "samples[%zu]: names starting with memmon_ are reserved", i);
            goto out;
        }
        if (!read_value(json_object_get(o, "value"), &in->values[i])) {
            r = fail(err, "invalid_sample",
                     "samples[%zu]: \"value\" must be a number or \"NaN\", \"+Inf\", \"-Inf\"", i);
            goto out;
        }
        json_t *type = json_object_get(o, "type");
        s->type = MM__METRIC_TYPE__GAUGE;
        if (type) {
            const char *t = json_is_string(type) ? json_string_value(type) : "";
            if (!strcmp(t, "counter"))
                s->type = MM__METRIC_TYPE__COUNTER;
            else if (!strcmp(t, "gauge"))
                s->type = MM__METRIC_TYPE__GAUGE;
            else if (!strcmp(t, "untyped"))
                s->type = MM__METRIC_TYPE__UNTYPED;
            else {
                r = fail(err, "invalid_sample",
                         "samples[%zu]: \"type\" must be counter, gauge or untyped (send histograms over StatsD)", i);
                goto out;
            }
        }
        if (s->type == MM__METRIC_TYPE__COUNTER && (in->values[i] < 0 || isnan(in->values[i]))) {
            r = fail(err, "invalid_sample", "samples[%zu]: a counter cannot be negative or NaN", i);
            goto out;
        }
        json_t *help = json_object_get(o, "help");
        if (help) {
            if (!json_is_string(help) || json_string_length(help) > GATEWAY_INGEST_MAX_VALUE ||
                strlen(json_string_value(help)) != json_string_length(help)) {
                r = fail(err, "invalid_sample", "samples[%zu]: \"help\" must be a string of at most %d bytes", i,
                         GATEWAY_INGEST_MAX_VALUE);
                goto out;
            }
            s->help = (char *)json_string_value(help);
        } else {
            s->help = (char *)"Pushed through the gateway's /api/ingest.";
        }
        json_t *ts = json_object_get(o, "timestamp_ms");
        in->times[i] = now_ms;
        if (ts) {
            if (!json_is_integer(ts) || json_integer_value(ts) <= 0) {
                r = fail(err, "invalid_sample", "samples[%zu]: \"timestamp_ms\" must be a positive integer", i);
                goto out;
            }
            in->times[i] = json_integer_value(ts);
        }
        json_t *labels = json_object_get(o, "labels");
        s->labels = in->label_ptrs + li;
        if (labels) {
            if (!json_is_object(labels) || json_object_size(labels) > GATEWAY_INGEST_MAX_LABELS) {
                r = fail(err, "invalid_sample", "samples[%zu]: \"labels\" must be an object of at most %d strings", i,
                         GATEWAY_INGEST_MAX_LABELS);
                goto out;
            }
            json_object_foreach(labels, key, val) {
                size_t kl = strlen(key);
                if (!mm_label_name_valid(key, kl) || !strncmp(key, "__", 2) || kl > 200) {
                    r = fail(err, "invalid_sample", "samples[%zu]: invalid label name \"%.64s\"", i, key);
                    goto out;
                }
                if (!json_is_string(val) || json_string_length(val) > GATEWAY_INGEST_MAX_VALUE ||
                    strlen(json_string_value(val)) != json_string_length(val)) {
                    r = fail(err, "invalid_sample",
                             "samples[%zu]: label \"%.64s\" must be a string of at most %d bytes", i, key,
                             GATEWAY_INGEST_MAX_VALUE);
                    goto out;
                }
                Mm__Label *l = &in->labels[li];
                mm__label__init(l);
                l->name = (char *)key;
                l->value = (char *)json_string_value(val);
                in->label_ptrs[li++] = l;
                s->n_labels++;
            }
            qsort(s->labels, s->n_labels, sizeof(*s->labels), label_cmp);
        }
        s->n_values = s->n_times_ms = 1;
        s->values = &in->values[i];
        s->times_ms = &in->times[i];
        mm_label_t tmp[GATEWAY_INGEST_MAX_LABELS];
        for (size_t j = 0; j < s->n_labels; j++) {
            tmp[j].name = s->labels[j]->name;
            tmp[j].value = s->labels[j]->value;
        }
        s->fingerprint = mm_labels_fingerprint(s->name, tmp, s->n_labels);
    }
    mm__metric_batch__init(&in->batch);
    in->batch.n_series = n;
    in->batch.series = in->series_ptrs;
    *ret = in;
    return 0;
out:
    gateway_ingest_free(in);
    return r;
}

int gateway_auth_check(const char *header, size_t len, const char *token)
{
    static const char scheme[] = "Bearer ";
    if (!header || len < sizeof(scheme) - 1 || strncasecmp(header, scheme, sizeof(scheme) - 1))
        return -EACCES;
    const char *given = header + sizeof(scheme) - 1;
    size_t glen = len - (sizeof(scheme) - 1);
    while (glen && (*given == ' ' || *given == '\t')) {
        given++;
        glen--;
    }
    while (glen && (given[glen - 1] == ' ' || given[glen - 1] == '\t'))
        glen--;
    if (!glen)
        return -EACCES;
    if (!token || !*token)
        return -EPERM;
    /* Constant time in the token's contents: every byte of the longer of the
     * two is visited, and the lengths take part in the result. */
    size_t tlen = strlen(token);
    size_t n = glen > tlen ? glen : tlen;
    unsigned diff = (unsigned)(glen ^ tlen);
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < glen ? (unsigned char)given[i] : 0;
        unsigned char b = i < tlen ? (unsigned char)token[i] : 0;
        diff |= (unsigned)(a ^ b);
    }
    return diff == 0 ? 0 : -EPERM;
}
