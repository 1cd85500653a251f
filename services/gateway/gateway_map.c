/* The gateway's hash map: linear probing on 64-bit keys. */
#include "gateway_map.h"

#include <errno.h>
#include <stdlib.h>

#define EMPTY 0

static uint64_t fix(uint64_t k) { return k == EMPTY ? 1 : k; }

static size_t slot(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

void gateway_map_init(gateway_map_t *m)
{
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}

void gateway_map_fini(gateway_map_t *m)
{
    free(m->keys);
    free(m->vals);
    gateway_map_init(m);
}

void *gateway_map_get(const gateway_map_t *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    key = fix(key);
    for (size_t i = slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == EMPTY)
            return NULL;
        if (m->keys[i] == key)
            return m->vals[i];
    }
}

static int grow(gateway_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == EMPTY)
            continue;
        size_t i = slot(m->keys[j], cap);
        while (keys[i] != EMPTY)
            i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int gateway_map_put(gateway_map_t *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        int r = grow(m);
        if (r < 0)
            return r;
    }
    key = fix(key);
    size_t i = slot(key, m->cap);
    while (m->keys[i] != EMPTY && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == EMPTY)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void *gateway_map_del(gateway_map_t *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    key = fix(key);
    size_t mask = m->cap - 1;
    size_t i = slot(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == EMPTY)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward-shift: move later entries of the cluster into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->keys[j] != EMPTY; j = (j + 1) & mask) {
        size_t home = slot(m->keys[j], m->cap);
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = EMPTY;
    m->vals[hole] = NULL;
    m->n--;
    return val;
}

uint64_t gateway_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}
