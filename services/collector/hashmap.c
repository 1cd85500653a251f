/* Open-addressing pointer table and byte hash for the collector's indexes. */
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hmap_init(hmap_t *m) { memset(m, 0, sizeof *m); }

void hmap_fini(hmap_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void *hmap_get(const hmap_t *m, uint64_t h, bool (*eq)(const void *v, const void *key), const void *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const hmap_slot_t *s = &m->slots[i];
        if (!s->v)
            return NULL;
        if (s->h == h && (!eq || eq(s->v, key)))
            return s->v;
    }
}

static void insert_slot(hmap_slot_t *slots, size_t cap, uint64_t h, void *v)
{
    size_t mask = cap - 1;
    size_t i = h & mask;
    while (slots[i].v)
        i = (i + 1) & mask;
    slots[i].h = h;
    slots[i].v = v;
}

int hmap_put(hmap_t *m, uint64_t h, void *v)
{
    /* Keep the load under 1/2 so probes stay short. */
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        hmap_slot_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].v)
                insert_slot(ns, nc, m->slots[i].h, m->slots[i].v);
        free(m->slots);
        m->slots = ns;
        m->cap = nc;
    }
    insert_slot(m->slots, m->cap, h, v);
    m->n++;
    return 0;
}

bool hmap_del(hmap_t *m, uint64_t h, const void *v)
{
    if (m->cap == 0)
        return false;
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].v)
            return false;
        if (m->slots[i].v == v)
            break;
    }
    /* Backward-shift: move later entries of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->slots[j].v; j = (j + 1) & mask) {
        size_t home = m->slots[j].h & mask;
        /* Move j into hole if home is not cyclically within (hole, j]. */
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].v = NULL;
    m->slots[hole].h = 0;
    m->n--;
    return true;
}

__extension__ typedef unsigned __int128 u128;

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t hash_bytes(const void *p, size_t len, uint64_t seed)
{
    /* wyhash-style: 8 bytes at a time through a 128-bit multiply. */
    const unsigned char *s = p;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL ^ (len * 0xa0761d6478bd642fULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h ^ w, 0xe7037ed1a0b428dbULL);
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h = mix(h ^ w ^ ((uint64_t)len << 56), 0x8ebc6af09c88c6e3ULL);
    return mix(h, 0x589965cc75374cc3ULL) ^ h;
}
