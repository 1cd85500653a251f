/* An open-addressing hash table of pointers keyed by a 64-bit hash: linear
 * probing, load kept under 1/2, backward-shift deletion (no tombstones).
 * Several values may share a hash; callers that key by something longer
 * than 64 bits resolve collisions through an eq callback, callers keyed by
 * a fingerprint pass eq = NULL and the hash is the identity. The slot is
 * chosen from a multiplicative mix of the hash, so poorly mixed keys (small
 * integers, FNV of short names) still spread. Values are not owned. */
#ifndef MM_MAP_H
#define MM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h;
    void *v;            /* NULL = empty slot */
} mm_map_slot_t;

typedef struct {
    mm_map_slot_t *slots;
    size_t cap;         /* power of two, or 0 */
    size_t n;
    unsigned shift;     /* 64 - log2(cap) */
} mm_map_t;

typedef bool (*mm_map_eq_fn)(const void *v, const void *key);

void mm_map_init(mm_map_t *m);
void mm_map_fini(mm_map_t *m);

/* The first value stored under h for which eq(v, key) holds (any value
 * under h when eq is NULL), or NULL. */
void *mm_map_get(const mm_map_t *m, uint64_t h, mm_map_eq_fn eq, const void *key);

/* Adds v (not NULL) under h; duplicates are the caller's concern.
 * Returns 0 or -ENOMEM (the map is unchanged then). */
int mm_map_put(mm_map_t *m, uint64_t h, void *v);

/* Removes the entry holding exactly v under h. Returns true when found. */
bool mm_map_del(mm_map_t *m, uint64_t h, const void *v);

/* 64-bit hash of bytes (wyhash-style; fast and well mixed, not keyed against
 * deliberate collisions). Different seeds give independent hashes. */
uint64_t mm_hash_bytes(const void *p, size_t len, uint64_t seed);

#endif
