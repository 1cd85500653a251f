/* Open-addressing pointer table and the byte hash every service shares. */
#include "mm_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MM_MAP_MIN_CAP 64

void mm_map_init(mm_map_t *m) { memset(m, 0, sizeof *m); }

void mm_map_fini(mm_map_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* Fibonacci hashing: the top bits of h times 2^64/phi. */
static inline size_t home_of(uint64_t h, unsigned shift)
{
    return (size_t)((h * 0x9e3779b97f4a7c15ULL) >> shift);
}

void *mm_map_get(const mm_map_t *m, uint64_t h, mm_map_eq_fn eq, const void *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = home_of(h, m->shift);; i = (i + 1) & mask) {
        const mm_map_slot_t *s = &m->slots[i];
        if (!s->v)
            return NULL;
        if (s->h == h && (!eq || eq(s->v, key)))
            return s->v;
    }
}

static void insert_slot(mm_map_slot_t *slots, size_t mask, unsigned shift, uint64_t h, void *v)
{
    size_t i = home_of(h, shift);
    while (slots[i].v)
        i = (i + 1) & mask;
    slots[i].h = h;
    slots[i].v = v;
}

int mm_map_put(mm_map_t *m, uint64_t h, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : MM_MAP_MIN_CAP;
        unsigned ns_shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)nc);
        mm_map_slot_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].v)
                insert_slot(ns, nc - 1, ns_shift, m->slots[i].h, m->slots[i].v);
        free(m->slots);
        m->slots = ns;
        m->cap = nc;
        m->shift = ns_shift;
    }
    insert_slot(m->slots, m->cap - 1, m->shift, h, v);
    m->n++;
    return 0;
}

bool mm_map_del(mm_map_t *m, uint64_t h, const void *v)
{
    if (m->cap == 0)
        return false;
    size_t mask = m->cap - 1;
    size_t i = home_of(h, m->shift);
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].v)
            return false;
        if (m->slots[i].v == v)
            break;
    }
    /* Backward shift: an entry later in the probe run moves into the hole
     * unless its home lies cyclically within (hole, j]. */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->slots[j].v; j = (j + 1) & mask) {
        size_t home = home_of(m->slots[j].h, m->shift);
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].v = NULL;
    m->slots[hole].h = 0;
    m->n--;
    return true;
}

__extension__ typedef unsigned __int128 mm_u128;

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    mm_u128 r = (mm_u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t mm_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    /* 8 bytes at a time through a 128-bit multiply. */
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
    if (len)
        memcpy(&w, s, len);
    h = mix(h ^ w ^ ((uint64_t)len << 56), 0x8ebc6af09c88c6e3ULL);
    return mix(h, 0x589965cc75374cc3ULL) ^ h;
}
