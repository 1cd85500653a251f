/* The growable byte buffer behind every renderer of the gateway. */
#include "gateway_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gateway_buf_init(gateway_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void gateway_buf_fini(gateway_buf_t *b)
{
    free(b->data);
    gateway_buf_init(b);
}

void gateway_buf_reset(gateway_buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

int gateway_buf_reserve(gateway_buf_t *b, size_t n)
{
    if (b->failed)
        return -ENOMEM;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return -ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return -ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

void gateway_buf_append(gateway_buf_t *b, const void *p, size_t n)
{
    if (gateway_buf_reserve(b, n) < 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void gateway_buf_puts(gateway_buf_t *b, const char *s)
{
    gateway_buf_append(b, s, strlen(s));
}

void gateway_buf_putc(gateway_buf_t *b, char c)
{
    if (gateway_buf_reserve(b, 1) < 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void gateway_buf_printf(gateway_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    if (gateway_buf_reserve(b, 64) < 0)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (gateway_buf_reserve(b, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void gateway_buf_u64(gateway_buf_t *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    gateway_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void gateway_buf_i64(gateway_buf_t *b, int64_t v)
{
    if (v < 0) {
        gateway_buf_putc(b, '-');
        gateway_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        gateway_buf_u64(b, (uint64_t)v);
    }
}

char *gateway_buf_steal(gateway_buf_t *b, size_t *ret_len)
{
    if (b->failed) {
        gateway_buf_fini(b);
        return NULL;
    }
    char *p = b->data;
    if (ret_len)
        *ret_len = b->len;
    gateway_buf_init(b);
    return p;
}
