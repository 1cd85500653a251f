/* A small open-addressing hash table of pointers keyed by a 64-bit hash,
 * with linear probing and backward-shift deletion (no tombstones). Callers
 * resolve collisions themselves through the eq callback. Also the byte hash
 * the collector uses for raw keys. */
#ifndef COLLECTOR_HASHMAP_H
#define COLLECTOR_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h;
    void *v;            /* NULL = empty slot */
} hmap_slot_t;

typedef struct {
    hmap_slot_t *slots;
    size_t cap;         /* power of two, or 0 */
    size_t n;
} hmap_t;

void hmap_init(hmap_t *m);
void hmap_fini(hmap_t *m);

/* First value with hash h for which eq(v, key) holds, or NULL. With eq NULL
 * the hash is the identity (series fingerprints): the first value stored
 * under h, found without touching it. */
void *hmap_get(const hmap_t *m, uint64_t h, bool (*eq)(const void *v, const void *key), const void *key);

/* Adds v (not NULL) under h; duplicates are the caller's concern. Returns 0 or -ENOMEM. */
int hmap_put(hmap_t *m, uint64_t h, void *v);

/* Removes the entry holding exactly v under h. Returns true when found. */
bool hmap_del(hmap_t *m, uint64_t h, const void *v);

/* 64-bit hash of bytes (fast, well mixed; not for adversarial DoS defence). */
uint64_t hash_bytes(const void *p, size_t len, uint64_t seed);

#endif
