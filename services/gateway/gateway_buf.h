/* A growable byte buffer for building responses, frames and expositions.
 * Appends never fail silently: on allocation failure the buffer records it
 * (gateway_buf_failed) and later appends are ignored, so callers check once
 * at the end instead of after every call. */
#ifndef GATEWAY_BUF_H
#define GATEWAY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;     /* owned; NUL-terminated after every append (when cap > 0) */
    size_t len;
    size_t cap;
    bool failed;    /* an allocation failed; contents are incomplete */
} gateway_buf_t;

void gateway_buf_init(gateway_buf_t *b);
void gateway_buf_fini(gateway_buf_t *b);
/* Empties the buffer and clears the failure flag; keeps the memory. */
void gateway_buf_reset(gateway_buf_t *b);
/* Makes room for n more bytes. Returns 0 or -ENOMEM (and sets failed). */
int gateway_buf_reserve(gateway_buf_t *b, size_t n);
void gateway_buf_append(gateway_buf_t *b, const void *p, size_t n);
void gateway_buf_puts(gateway_buf_t *b, const char *s);
void gateway_buf_putc(gateway_buf_t *b, char c);
void gateway_buf_printf(gateway_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gateway_buf_u64(gateway_buf_t *b, uint64_t v);
void gateway_buf_i64(gateway_buf_t *b, int64_t v);
/* Takes the data out (caller frees with free()); the buffer becomes empty.
 * Returns NULL when the buffer failed or is empty-and-unallocated. */
char *gateway_buf_steal(gateway_buf_t *b, size_t *ret_len);
static inline bool gateway_buf_failed(const gateway_buf_t *b) { return b->failed; }

#endif
