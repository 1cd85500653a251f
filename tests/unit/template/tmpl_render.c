/* Renders alert templates the way Prometheus's rule manager does, for the
 * differential test against promtool. Reads one JSON job from a file: alert
 * name, value, labels, external labels and URL, canned query results, and a
 * map of name -> template text; prints a JSON map of name -> hex of the
 * expansion (any bytes survive). An array of jobs gives an array of maps. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_tmpl.h"

static mm_label_t *labels_of(json_t *obj, size_t *n)
{
    *n = obj ? json_object_size(obj) : 0;
    mm_label_t *l = calloc(*n ? *n : 1, sizeof *l);
    const char *k;
    json_t *v;
    size_t i = 0;
    if (obj)
        json_object_foreach(obj, k, v) {
            l[i].name = k;
            l[i].value = json_string_value(v);
            i++;
        }
    return l;
}

static double num_of(json_t *v)
{
    if (json_is_string(v))
        return strtod(json_string_value(v), NULL);
    return json_number_value(v);
}

static int on_query(void *user, const char *q, int64_t t, mm_tmpl_result_t *res, char *err,
                    size_t cap)
{
    (void)t;
    json_t *queries = user;
    json_t *r = queries ? json_object_get(queries, q) : NULL;
    if (!r) {
        snprintf(err, cap, "no canned result for %s", q);
        return -22;
    }
    size_t i;
    json_t *s;
    json_array_foreach(r, i, s) {
        size_t n;
        mm_label_t *l = labels_of(json_object_get(s, "labels"), &n);
        int rc = mm_tmpl_result_add(res, l, n, num_of(json_object_get(s, "value")));
        free(l);
        if (rc)
            return rc;
    }
    return 0;
}

/* Renders one job object into a JSON map of name -> hex. */
static json_t *render_job(json_t *job)
{
    mm_tmpl_data_t d;
    memset(&d, 0, sizeof d);
    mm_label_t *l = labels_of(json_object_get(job, "labels"), &d.nlabels);
    mm_label_t *e = labels_of(json_object_get(job, "external_labels"), &d.nexternal_labels);
    d.labels = l;
    d.external_labels = e;
    d.external_url = json_string_value(json_object_get(job, "external_url"));
    d.value = num_of(json_object_get(job, "value"));
    d.time_ms = (int64_t)json_integer_value(json_object_get(job, "time_ms"));
    d.query = on_query;
    d.query_user = json_object_get(job, "queries");
    const char *alert = json_string_value(json_object_get(job, "alert"));
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(job, "templates"), k, v) {
        mm_tmpl_buf_t b;
        mm_tmpl_buf_init(&b);
        const char *text = json_string_value(v);
        int r = mm_tmpl_expand_alert(alert ? alert : "A", text, strlen(text), &d, &b);
        if (r < 0) {
            fprintf(stderr, "%s: error %d\n", k, r);
            exit(1);
        }
        /* Hex keeps any bytes (invalid UTF-8 included) intact through JSON. */
        char *hex = malloc(b.len * 2 + 1);
        for (size_t i = 0; i < b.len; i++)
            snprintf(hex + 2 * i, 3, "%02x", (unsigned char)b.data[i]);
        hex[b.len * 2] = 0;
        json_object_set_new(out, k, json_string(hex));
        free(hex);
        mm_tmpl_buf_fini(&b);
    }
    free(l);
    free(e);
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tmpl_render JOB.json\n");
        return 2;
    }
    json_error_t je;
    json_t *job = json_load_file(argv[1], 0, &je);
    if (!job) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], je.line, je.text);
        return 2;
    }
    json_t *out;
    if (json_is_array(job)) {
        out = json_array();
        size_t i;
        json_t *j;
        json_array_foreach(job, i, j) json_array_append_new(out, render_job(j));
    } else {
        out = render_job(job);
    }
    char *s = json_dumps(out, JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    puts(s);
    free(s);
    json_decref(out);
    json_decref(job);
    return 0;
}
