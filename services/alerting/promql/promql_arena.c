/* A bump allocator: expressions and evaluations allocate many small pieces
 * and release them all at once. */
#include <stdlib.h>
#include <string.h>

#include "promql_internal.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk_t;

struct promql_arena {
    chunk_t *head;
    size_t total;
};

promql_arena_t *promql_arena_new(void)
{
    return calloc(1, sizeof(promql_arena_t));
}

void promql_arena_free(promql_arena_t *a)
{
    if (!a)
        return;
    chunk_t *c = a->head;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *promql_arena_alloc(promql_arena_t *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    chunk_t *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t want = 64 * 1024;
        if (size > want / 4) {
            /* Big blocks get a chunk of their own behind the head, so the
             * head's free space is not wasted. */
            chunk_t *b = malloc(sizeof(chunk_t) + size);
            if (!b)
                return NULL;
            b->size = b->used = size;
            a->total += size;
            if (c) {
                b->next = c->next;
                c->next = b;
            } else {
                b->next = NULL;
                a->head = b;
            }
            memset(b->data, 0, size);
            return b->data;
        }
        chunk_t *n = malloc(sizeof(chunk_t) + want);
        if (!n)
            return NULL;
        n->size = want;
        n->used = 0;
        n->next = c;
        a->head = n;
        a->total += want;
        c = n;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *promql_arena_strndup(promql_arena_t *a, const char *s, size_t n)
{
    char *d = promql_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

size_t promql_arena_used(const promql_arena_t *a)
{
    return a->total;
}
