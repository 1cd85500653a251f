/* Injection detection engine: judges one attacker-controlled value (or every
 * value of a request) as SQL injection, XSS, command injection, path
 * traversal or none. Decodes first, then tokenises per class; never
 * allocates beyond the caller's scratch, never logs, runs in linear time. */
#ifndef MM_DETECT_H
#define MM_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    MM_DETECT_NONE = 0,
    MM_DETECT_SQLI,
    MM_DETECT_XSS,
    MM_DETECT_CMDI,
    MM_DETECT_TRAVERSAL,
    MM_DETECT_NCLASS
} mm_detect_class_t;

/* Where a value came from; decides decoding (`+` is a space only in query
 * and form values) and the sensitivity applied to its scores. */
typedef enum {
    MM_DETECT_LOC_QUERY = 0,  /* query-string parameter value or name */
    MM_DETECT_LOC_PATH,       /* the request path */
    MM_DETECT_LOC_HEADER,     /* a request header value */
    MM_DETECT_LOC_COOKIE,     /* a cookie value or name */
    MM_DETECT_LOC_FORM,       /* an application/x-www-form-urlencoded field */
    MM_DETECT_LOC_BODY,       /* a body judged whole (text, XML, unknown type) */
    MM_DETECT_LOC_JSON,       /* a string leaf or key of a JSON body */
    MM_DETECT_LOC_COUNT
} mm_detect_loc_t;

/* Decodings, as bits of mm_detect_verdict_t.decodings. */
enum {
    MM_DETECT_DEC_URL       = 1u << 0,  /* %XX */
    MM_DETECT_DEC_URL_MULTI = 1u << 1,  /* %XX needed more than one pass */
    MM_DETECT_DEC_PLUS      = 1u << 2,  /* '+' read as a space */
    MM_DETECT_DEC_PCT_U     = 1u << 3,  /* %uXXXX */
    MM_DETECT_DEC_HTML      = 1u << 4,  /* &lt; &#60; &#x3c; (with or without ';') */
    MM_DETECT_DEC_ESCAPE    = 1u << 5,  /* \xNN \uXXXX \u{X} \NNN */
    MM_DETECT_DEC_OVERLONG  = 1u << 6,  /* overlong UTF-8 folded to ASCII */
    MM_DETECT_DEC_FULLWIDTH = 1u << 7,  /* fullwidth / lookalike punctuation folded */
    MM_DETECT_DEC_BADUTF8   = 1u << 8,  /* invalid UTF-8 left in place */
    MM_DETECT_DEC_NUL       = 1u << 9,  /* NUL bytes removed */
    MM_DETECT_DEC_SQLCOMMENT= 1u << 10, /* inline SQL comments read as space */
    MM_DETECT_DEC_SHELLQUOTE= 1u << 11, /* shell quotes, backslashes, $IFS removed */
    MM_DETECT_DEC_JSON      = 1u << 12, /* JSON string escapes (request splitter) */
    MM_DETECT_DEC_INVISIBLE = 1u << 13, /* zero-width, bidi and other invisible characters removed */
};

/* Thresholds and per-location sensitivity. Start from mm_detect_config_init(). */
typedef struct {
    int threshold;                          /* flag at score >= threshold (default 50) */
    int sensitivity[MM_DETECT_LOC_COUNT];   /* percent applied to scores; 0 = skip (default 100) */
    bool enabled[MM_DETECT_NCLASS];         /* per class; index 0 is unused */
    size_t max_len;                         /* bytes inspected per value (default 4 MiB) */
    unsigned max_passes;                    /* decoding passes, 1..8 (default 4) */
} mm_detect_config_t;

#define MM_DETECT_EVIDENCE_LEN 192

/* The judgement of one value. Plain data, owned by the caller. */
typedef struct {
    mm_detect_class_t cls;                  /* NONE when no score reached the threshold */
    int score;                              /* score of cls (or best score when NONE), 0..100 */
    int scores[MM_DETECT_NCLASS];           /* per class after sensitivity */
    unsigned decodings;                     /* MM_DETECT_DEC_* applied */
    size_t inspected;                       /* bytes of input judged */
    bool truncated;                         /* input longer than what was judged */
    /* "sqli rule=union ctx=none tok=nUEnf" ... ; empty when nothing scored */
    char evidence[MM_DETECT_EVIDENCE_LEN];
    char fragment[MM_DETECT_EVIDENCE_LEN];  /* decoded text around the decision, escaped */
} mm_detect_verdict_t;

/* Caller-owned working memory, reused across calls (one per thread). */
typedef struct {
    uint8_t *buf;
    size_t cap;
} mm_detect_scratch_t;

/* Fills *cfg with defaults: threshold 50, every location 100 %, every class on. */
void mm_detect_config_init(mm_detect_config_t *cfg);

/* Bytes of scratch needed to judge values of up to max_len bytes in full. */
size_t mm_detect_scratch_size(size_t max_len);

/* Judges one value. data need not be NUL-terminated. content_type may be NULL.
 * Inspects min(len, cfg->max_len, what scratch allows) bytes and says so in
 * out->truncated. Never blocks, allocates or logs; time is linear in len.
 * Returns 0 (out filled, out->cls NONE when clean), -EINVAL on NULL
 * arguments, -ENOBUFS when scratch cannot hold even 64 bytes. */
int mm_detect_value(const mm_detect_config_t *cfg, const void *data, size_t len,
                    mm_detect_loc_t loc, const char *content_type,
                    mm_detect_scratch_t *scratch, mm_detect_verdict_t *out);

const char *mm_detect_class_name(mm_detect_class_t cls);
const char *mm_detect_loc_name(mm_detect_loc_t loc);
/* Writes the names of the decoding bits, comma-separated, into buf ("none"
 * when 0). Returns buf. */
char *mm_detect_decodings_str(unsigned decodings, char *buf, size_t cap);

/* ---- request level ---- */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} mm_detect_header_t;

/* A request as the gateway received it. Every pointer is borrowed. */
typedef struct {
    const char *target;                     /* raw "path?query" (no fragment) */
    size_t target_len;
    const mm_detect_header_t *headers;
    size_t n_headers;
    const char *body;                       /* may be NULL */
    size_t body_len;
    const char *content_type;               /* may be NULL; Content-Type header wins if NULL */
} mm_detect_request_t;

/* One flagged value of a request. name points into the request (or is NULL
 * for the path and whole bodies); valid while the request is. */
typedef struct {
    mm_detect_loc_t loc;
    const char *name;
    size_t name_len;
    mm_detect_verdict_t verdict;
} mm_detect_finding_t;

/* Splits the request into every value an attacker controls (the path, each
 * query and form parameter name and value, each cookie, inspected headers,
 * every string key and leaf of a JSON body, or a body whole) and judges each
 * in its location. Writes up to max findings (flagged values, in request
 * order) and sets *n_found to the number of flagged values (which may exceed
 * max) and *n_values to the number judged. worst (may be NULL) gets the
 * highest-scoring verdict. A third of scratch unescapes JSON strings, the
 * rest judges values: size it mm_detect_scratch_size(longest value) * 3 / 2
 * to judge every value in full (longer ones are judged on their prefix and
 * marked truncated). Never blocks, allocates or logs. Returns 0, -EINVAL on
 * NULL arguments or -ENOBUFS when scratch is under 256 bytes. Linear in the
 * request size. */
int mm_detect_request(const mm_detect_config_t *cfg, const mm_detect_request_t *req,
                      mm_detect_scratch_t *scratch, mm_detect_finding_t *findings,
                      size_t max, size_t *n_found, size_t *n_values,
                      mm_detect_verdict_t *worst);

#endif
