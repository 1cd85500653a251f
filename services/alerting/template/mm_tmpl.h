/* The template engine for alert labels and annotations: Go's text/template
 * language with Prometheus 2.42's function set, rendering byte for byte what
 * Prometheus renders. Parse once into an mm_tmpl_t, execute many times. No
 * sockets, no clock, no logging: `query` goes through a caller's callback. */
#ifndef MM_TMPL_H
#define MM_TMPL_H

#include <stddef.h>
#include <stdint.h>

#include "mm_labels.h"

typedef struct mm_tmpl mm_tmpl_t;

/* Where and why parsing or executing failed. msg holds the message exactly as
 * Go's text/template words it ("template: NAME:LINE: ..." or "template:
 * NAME:LINE:COL: executing "NAME" at <...>: ..."). offset is the byte offset
 * in the caller's text (0-based; for mm_tmpl_parse_alert() relative to the
 * annotation text, not the prelude), line and col are 1-based. */
typedef enum {
    MM_TMPL_ERR_NONE = 0,
    MM_TMPL_ERR_PARSE,
    MM_TMPL_ERR_EXEC,
} mm_tmpl_phase_t;

typedef struct {
    mm_tmpl_phase_t phase;
    size_t offset;
    unsigned line;
    unsigned col;
    char msg[1024];
} mm_tmpl_err_t;

/* A growing output buffer. data is malloc'd and always NUL-terminated once
 * anything was written; the caller frees it with mm_tmpl_buf_fini(). A buffer
 * may be reused: set len = 0. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} mm_tmpl_buf_t;

void mm_tmpl_buf_init(mm_tmpl_buf_t *b);
void mm_tmpl_buf_fini(mm_tmpl_buf_t *b);

/* The result a query callback fills: samples are copied into the execution's
 * memory, so the callback keeps ownership of everything it passes. */
typedef struct mm_tmpl_result mm_tmpl_result_t;

/* Appends one sample (labels in any order; __name__ is an ordinary label).
 * Returns 0, -ENOMEM, or -MM_ELIMIT when the result exceeds the limits. */
int mm_tmpl_result_add(mm_tmpl_result_t *res, const mm_label_t *labels, size_t n, double value);

/* Runs a PromQL instant query at time_ms. Returns 0 after adding the samples
 * with mm_tmpl_result_add(), or a negative errno after writing a message into
 * errbuf (NUL-terminated, at most errcap bytes); the template then fails with
 * "error calling query: <message>" as Prometheus does. Called synchronously. */
typedef int (*mm_tmpl_query_fn)(void *user, const char *query, int64_t time_ms,
                                mm_tmpl_result_t *res, char *errbuf, size_t errcap);

/* What a template sees. Prometheus exposes .Labels, .ExternalLabels,
 * .ExternalURL and .Value; the alert prelude binds them to $labels,
 * $externalLabels, $externalURL and $value. Arrays need not be sorted and are
 * only borrowed during mm_tmpl_exec(). */
typedef struct {
    const mm_label_t *labels;
    size_t nlabels;
    const mm_label_t *external_labels;
    size_t nexternal_labels;
    const char *external_url;       /* NULL = "" */
    double value;
    int64_t time_ms;                /* evaluation time, passed to query() */
    mm_tmpl_query_fn query;         /* NULL: query fails with an error */
    void *query_user;
    size_t max_output;              /* bytes; 0 = 1 MiB */
    uint64_t max_steps;             /* nodes and iterations; 0 = 1,000,000 */
    size_t max_memory;              /* scratch bytes one execution may hold; 0 = 64 MiB */
} mm_tmpl_data_t;

/* Parses text (len bytes, need not be NUL-terminated) as template `name`.
 * On success *ret owns a new template (free with mm_tmpl_free()) and 0 is
 * returned. On error returns -MM_EPARSE (err filled when not NULL), -ENOMEM,
 * or -MM_ELIMIT when the text nests deeper than the engine allows. */
int mm_tmpl_parse(const char *name, const char *text, size_t len,
                  mm_tmpl_t **ret, mm_tmpl_err_t *err);

/* Same as Prometheus does for alert labels and annotations: names the
 * template "__alert_<alertname>" and prepends the prelude
 * {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
 * {{$externalURL := .ExternalURL}}{{$value := .Value}}. Error offsets and
 * columns in err->offset/line/col refer to `text`; err->msg stays Go's (whose
 * columns count the prelude, as Prometheus's do). */
int mm_tmpl_parse_alert(const char *alertname, const char *text, size_t len,
                        mm_tmpl_t **ret, mm_tmpl_err_t *err);

/* Frees t; NULL is a no-op. */
void mm_tmpl_free(mm_tmpl_t *t);

/* The template's name ("__alert_X" for alert templates). */
const char *mm_tmpl_name(const mm_tmpl_t *t);

/* Executes t against data, appending to out. Returns 0; on error out->len is
 * back to its value on entry and the return is -EINVAL for an execution
 * error (err filled), -MM_ELIMIT when the output, step, memory or nesting
 * limit was reached (err filled), or -ENOMEM. Never blocks except inside the
 * query callback. t is not modified: one template may be executed from
 * several threads at once. */
int mm_tmpl_exec(const mm_tmpl_t *t, const mm_tmpl_data_t *data, mm_tmpl_buf_t *out,
                 mm_tmpl_err_t *err);

/* Appends the text Prometheus puts in place of a failed expansion:
 * "<error expanding template: error parsing|executing template NAME: MSG>".
 * name is the template name ("__alert_X"). Returns 0 or -ENOMEM. */
int mm_tmpl_format_error(const char *name, const mm_tmpl_err_t *err, mm_tmpl_buf_t *out);

/* Parse + exec + error text in one call, exactly what Prometheus's rule
 * manager does for one label or annotation of an alert: out receives the
 * expansion or the error text. Returns 0 when expanded, 1 when out holds an
 * error text, -EINVAL for bad arguments, -ENOMEM. A rule engine should rather
 * parse once at load (mm_tmpl_parse_alert(), reporting parse errors with
 * file:line:col from err) and call mm_tmpl_exec() + mm_tmpl_format_error(). */
int mm_tmpl_expand_alert(const char *alertname, const char *text, size_t len,
                         const mm_tmpl_data_t *data, mm_tmpl_buf_t *out);

#endif
