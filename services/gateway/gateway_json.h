/* A careful JSON writer: every string is escaped (quotes, backslash, control
 * characters, '<', '>', '&', U+2028/U+2029) and invalid UTF-8 is replaced by
 * U+FFFD, so attacker-supplied text can be embedded safely; non-finite
 * numbers are written as null. Commas are placed by the writer. Nesting is
 * limited to GATEWAY_JW_MAX_DEPTH; deeper output marks the buffer failed. */
#ifndef GATEWAY_JSON_H
#define GATEWAY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway_buf.h"

#define GATEWAY_JW_MAX_DEPTH 32

typedef struct {
    gateway_buf_t *buf;         /* not owned */
    int depth;
    bool after_key;
    bool need_comma[GATEWAY_JW_MAX_DEPTH + 1];
} gateway_jw_t;

void gateway_jw_init(gateway_jw_t *w, gateway_buf_t *buf);
void gateway_jw_obj_begin(gateway_jw_t *w);
void gateway_jw_obj_end(gateway_jw_t *w);
void gateway_jw_arr_begin(gateway_jw_t *w);
void gateway_jw_arr_end(gateway_jw_t *w);
void gateway_jw_key(gateway_jw_t *w, const char *k);
void gateway_jw_str(gateway_jw_t *w, const char *s);          /* NULL writes null */
void gateway_jw_strn(gateway_jw_t *w, const char *s, size_t n);
void gateway_jw_num(gateway_jw_t *w, double v);               /* NaN/Inf → null */
void gateway_jw_i64(gateway_jw_t *w, int64_t v);
void gateway_jw_u64(gateway_jw_t *w, uint64_t v);
void gateway_jw_bool(gateway_jw_t *w, bool v);
void gateway_jw_null(gateway_jw_t *w);
/* Inserts already valid JSON text as one value (the caller vouches for it). */
void gateway_jw_raw(gateway_jw_t *w, const char *json, size_t n);
/* Writes t (ms since the epoch) as an ISO 8601 UTC string with milliseconds. */
void gateway_jw_time(gateway_jw_t *w, int64_t t_ms);

/* Escapes s into b as the inside of a JSON string (no quotes). */
void gateway_json_escape(gateway_buf_t *b, const char *s, size_t n);
/* Formats t_ms as "2026-11-26T16:47:39.123Z" into out (≥ 32 bytes). */
size_t gateway_iso_time(char *out, size_t cap, int64_t t_ms);

/* True when s[0..n) is valid UTF-8 (what Prometheus requires of label values). */
bool gateway_utf8_valid(const char *s, size_t n);

#endif
