/* A diagnostic for a user's input: file, 1-based line and column, message.
 * Printed as "file:line:col: message", the form every config error takes. */
#ifndef MM_DIAG_H
#define MM_DIAG_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char file[512];
    unsigned line;      /* 0 when the error has no position (e.g. file missing) */
    unsigned col;
    char msg[512];
} mm_diag_t;

/* Fills d (when not NULL) and returns -code (code is positive, e.g. MM_ECONFIG). */
int mm_diag_set(mm_diag_t *d, int code, const char *file, unsigned line, unsigned col,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Writes "file:line:col: msg" (or "file: msg" without a position) into buf. */
size_t mm_diag_format(const mm_diag_t *d, char *buf, size_t cap);

#endif
