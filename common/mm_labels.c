/* Sorting, hashing and validating label sets. */
#include "mm_labels.h"

#include <stdlib.h>
#include <string.h>

static int cmp_label(const void *a, const void *b)
{
    const mm_label_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

void mm_labels_sort(mm_label_t *labels, size_t n)
{
    /* Label sets are small: insertion sort is stable and allocation-free. */
    if (n > 32) {
        qsort(labels, n, sizeof *labels, cmp_label);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        mm_label_t t = labels[i];
        size_t j = i;
        while (j > 0 && strcmp(labels[j - 1].name, t.name) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = t;
    }
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    /* 0xff never occurs in UTF-8, so it separates strings unambiguously. */
    h ^= 0xff;
    h *= FNV_PRIME;
    return h;
}

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t mm_labels_fingerprint(const char *name, const mm_label_t *labels, size_t n)
{
    uint64_t h = FNV_OFFSET;
    bool name_done = (name == NULL);
    for (size_t i = 0; i < n; i++) {
        /* "__name__" sorts before every label that starts with a lower-case
         * letter but after upper-case ones; place the name where it sorts. */
        if (!name_done && strcmp("__name__", labels[i].name) < 0) {
            h = fnv_str(fnv_str(h, "__name__"), name);
            name_done = true;
        }
        h = fnv_str(fnv_str(h, labels[i].name), labels[i].value);
    }
    if (!name_done)
        h = fnv_str(fnv_str(h, "__name__"), name);
    return mix64(h);
}

static bool name_valid(const char *s, size_t len, bool colon)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool mm_metric_name_valid(const char *s, size_t len) { return name_valid(s, len, true); }
bool mm_label_name_valid(const char *s, size_t len) { return name_valid(s, len, false); }

static size_t sanitize(char *dst, size_t cap, const char *src, size_t len, bool colon)
{
    size_t out = 0;
    if (len > 0 && src[0] >= '0' && src[0] <= '9') {
        if (out + 1 < cap)
            dst[out] = '_';
        out++;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (c >= '0' && c <= '9');
        if (out + 1 < cap)
            dst[out] = ok ? (char)c : '_';
        out++;
    }
    if (cap > 0)
        dst[out < cap ? out : cap - 1] = '\0';
    return out;
}

size_t mm_metric_name_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
    return sanitize(dst, cap, src, len, true);
}

size_t mm_label_name_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
    return sanitize(dst, cap, src, len, false);
}

double mm_stale_nan(void)
{
    uint64_t bits = 0x7ff0000000000002ULL;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

bool mm_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == 0x7ff0000000000002ULL;
}
