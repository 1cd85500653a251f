/* Internal interfaces of the detection engine: the decoders and the four
 * per-class tokenisers. Exposed to the unit tests and fuzz harnesses; the
 * rest of memmon uses mm_detect.h only. */
#ifndef MM_DETECT_INT_H
#define MM_DETECT_INT_H

#include "mm_detect.h"

/* What one class detector found: its score (0..100), the rule that decided,
 * where in the decoded text, and the token classes around it. */
typedef struct {
    int score;
    size_t pos;
    const char *rule;
    char tokens[40];
} mm_detect_hit_t;

/* Decoder selection for mm_detect_decode_pass(). */
enum {
    MM_DETECT_PASS_URL    = 1u << 0,  /* %XX and %uXXXX */
    MM_DETECT_PASS_PLUS   = 1u << 1,  /* '+' as space (first pass of query/form values) */
    MM_DETECT_PASS_HTML   = 1u << 2,  /* HTML character references */
    MM_DETECT_PASS_ESCAPE = 1u << 3,  /* backslash escapes */
    MM_DETECT_PASS_UTF8   = 1u << 4,  /* overlong/fullwidth folding, NUL removal */
    MM_DETECT_PASS_ALL    = 0x1du,    /* everything but PLUS */
};

/* One decoding pass over in[0..n) into out (capacity >= n: decoding never
 * grows the text). ORs MM_DETECT_DEC_* bits into *flags. Returns the output
 * length; *changed says whether any byte differs from the input. */
size_t mm_detect_decode_pass(const uint8_t *in, size_t n, uint8_t *out,
                             unsigned which, unsigned *flags, bool *changed);

/* Decodes repeatedly (at most max_passes) until the text stops changing,
 * ping-ponging between a and b (each of capacity >= n). *out points at the
 * result (in itself when nothing decoded). Returns its length. */
size_t mm_detect_decode(const uint8_t *in, size_t n, uint8_t *a, uint8_t *b,
                        bool plus_space, unsigned max_passes, unsigned *flags,
                        const uint8_t **out);

/* Per-class tokenisers over decoded text. Each fills *hit (score 0 when
 * nothing looks like its class) and returns hit->score. Linear, no allocation. */

/* The highest score each tokeniser can return. mm_detect_value() stops
 * judging a class once an earlier-judged class already scores at least
 * this much (the verdict cannot change), so a rule scoring higher must
 * raise its class's bound; the unit tests and fuzzers check it. */
#define MM_DETECT_SQLI_MAX      90
#define MM_DETECT_XSS_MAX       85
#define MM_DETECT_CMDI_MAX      90
#define MM_DETECT_TRAVERSAL_MAX 80
int mm_detect_sqli(const uint8_t *s, size_t n, mm_detect_hit_t *hit, unsigned *flags);
int mm_detect_xss(const uint8_t *s, size_t n, mm_detect_hit_t *hit);
int mm_detect_cmdi(const uint8_t *s, size_t n, mm_detect_hit_t *hit, unsigned *flags);
int mm_detect_traversal(const uint8_t *s, size_t n, mm_detect_hit_t *hit);
/* Whether the SQL keyword table's first-letter index matches the table
 * (it is written out by hand for speed; the unit tests check it). */
bool mm_detect_sqli_index_ok(void);
/* The same for XSS's script-name table and the traversal target tables. */
bool mm_detect_xss_tables_ok(void);
bool mm_detect_path_tables_ok(void);

/* Shared character helpers. */
static inline int mm_detect_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static inline bool mm_detect_isalpha(int c) { return (unsigned)((c | 32) - 'a') < 26u; }
static inline bool mm_detect_isdigit(int c) { return (unsigned)(c - '0') < 10u; }
static inline bool mm_detect_isalnum(int c) { return mm_detect_isalpha(c) || mm_detect_isdigit(c); }
static inline bool mm_detect_isspace(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
/* Case-insensitive compare of s[0..n) with a lowercase word. */
bool mm_detect_word_eq(const uint8_t *s, size_t n, const char *lower);
/* Binary search of a sorted table of lowercase words; s is compared lowercased. */
bool mm_detect_in_set(const uint8_t *s, size_t n, const char *const *set, size_t count);
/* Appends a token class character to hit->tokens (keeps the last ones). */
void mm_detect_tok_push(char *buf, size_t cap, char c);

#endif
