/* Diagnostics with file:line:col. */
#include "mm_diag.h"

#include <stdio.h>

int mm_diag_set(mm_diag_t *d, int code, const char *file, unsigned line, unsigned col,
                const char *fmt, ...)
{
    if (d) {
        snprintf(d->file, sizeof d->file, "%s", file ? file : "");
        d->line = line;
        d->col = col;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return -code;
}

size_t mm_diag_format(const mm_diag_t *d, char *buf, size_t cap)
{
    int n;
    if (d->line > 0)
        n = snprintf(buf, cap, "%s:%u:%u: %s", d->file, d->line, d->col, d->msg);
    else
        n = snprintf(buf, cap, "%s: %s", d->file, d->msg);
    return n < 0 ? 0 : (size_t)n;
}
