/* An open-addressing hash map from 64-bit keys (series fingerprints, hashed
 * names) to pointers, with backward-shift deletion. Key 0 is remapped
 * internally, so every key is allowed. Values are not owned. */
#ifndef GATEWAY_MAP_H
#define GATEWAY_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys;
    void **vals;
    size_t cap;     /* power of two, or 0 */
    size_t n;
} gateway_map_t;

void gateway_map_init(gateway_map_t *m);
void gateway_map_fini(gateway_map_t *m);
void *gateway_map_get(const gateway_map_t *m, uint64_t key);
/* Inserts or replaces. Returns 0 or -ENOMEM. */
int gateway_map_put(gateway_map_t *m, uint64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *gateway_map_del(gateway_map_t *m, uint64_t key);
/* 64-bit FNV-1a of a string, for name keys. */
uint64_t gateway_hash_str(const char *s);

#endif
