/* A test sink that records every sample as text: name{k="v",...} and value. */
#ifndef TEST_CAPTURE_H
#define TEST_CAPTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

typedef struct {
    char key[256];
    double value;
    collector_type_t type;
    char help[160];
    char family[128];
    uint64_t fp;
    int64_t t;
} cap_sample_t;

typedef struct {
    collector_sink_t sink;
    cap_sample_t *s;
    size_t n, cap;
} capture_t;

static void cap_emit(collector_sink_t *sink, const collector_sample_t *smp)
{
    capture_t *c = (capture_t *)sink;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->s = realloc(c->s, c->cap * sizeof *c->s);
    }
    cap_sample_t *o = &c->s[c->n++];
    memset(o, 0, sizeof *o);
    size_t w = (size_t)snprintf(o->key, sizeof o->key, "%s", smp->name);
    if (smp->n_labels) {
        w += (size_t)snprintf(o->key + w, sizeof o->key - w, "{");
        for (size_t i = 0; i < smp->n_labels; i++)
            w += (size_t)snprintf(o->key + w, sizeof o->key - w, "%s%s=\"%s\"", i ? "," : "",
                                  smp->labels[i].name, smp->labels[i].value);
        snprintf(o->key + w, sizeof o->key - w, "}");
    }
    o->value = smp->value;
    o->type = smp->type;
    o->fp = smp->fp;
    o->t = smp->time_ms;
    snprintf(o->help, sizeof o->help, "%s", smp->help ? smp->help : "");
    snprintf(o->family, sizeof o->family, "%s", smp->family ? smp->family : smp->name);
}

static inline void cap_init(capture_t *c)
{
    memset(c, 0, sizeof *c);
    c->sink.emit = cap_emit;
}

static inline void cap_reset(capture_t *c) { c->n = 0; }
static inline void cap_fini(capture_t *c) { free(c->s); memset(c, 0, sizeof *c); }

/* The last sample recorded for key, or NULL. */
static inline const cap_sample_t *cap_find(const capture_t *c, const char *key)
{
    for (size_t i = c->n; i-- > 0;)
        if (strcmp(c->s[i].key, key) == 0)
            return &c->s[i];
    return NULL;
}

static inline double cap_value(const capture_t *c, const char *key)
{
    const cap_sample_t *s = cap_find(c, key);
    return s ? s->value : -12345.0;
}

#endif
