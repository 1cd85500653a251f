/* Alert state across restarts and reloads: a compact line-based export of
 * every alert (so the service can keep it in SQLite), its import, and the
 * carry-over of state from an old rule set to a reloaded one, matching
 * rules by group (name + file) and rule text hash. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_err.h"
#include "rules_internal.h"

/* Format, one alert per line, fields separated by tabs, strings escaped
 * (\\, \t, \n):
 *   A group file hash(hex) nth state value active fired resolved keep
 *     nlabels name value ... nann name value ...
 * nth tells identical rules of one group apart (0 for the first). */

static void put_str(mm_tmpl_buf_t *b, const char *s)
{
    rules_buf_add(b, "\t", 1);
    for (; *s; s++) {
        if (*s == '\\')
            rules_buf_add(b, "\\\\", 2);
        else if (*s == '\t')
            rules_buf_add(b, "\\t", 2);
        else if (*s == '\n')
            rules_buf_add(b, "\\n", 2);
        else
            rules_buf_add(b, s, 1);
    }
}

static size_t nth_of(const mm_rules_group_t *g, size_t idx)
{
    size_t k = 0;
    for (size_t i = 0; i < idx; i++)
        if (g->rules[i]->hash == g->rules[idx]->hash)
            k++;
    return k;
}

int mm_rules_state_export(const mm_rules_t *rs, char **ret_buf, size_t *ret_len)
{
    mm_tmpl_buf_t b;
    mm_tmpl_buf_init(&b);
    int rc = rules_buf_add(&b, "", 0);
    for (size_t gi = 0; gi < rs->n_groups && rc == 0; gi++) {
        const mm_rules_group_t *g = rs->groups[gi];
        for (size_t ri = 0; ri < g->n_rules; ri++) {
            const mm_rules_rule_t *r = g->rules[ri];
            for (size_t ai = 0; ai < r->n_alerts; ai++) {
                const mm_rules_alert_t *a = &r->alerts[ai];
                rules_buf_add(&b, "A", 1);
                put_str(&b, g->name);
                put_str(&b, g->file);
                rules_buf_printf(&b, "\t%016" PRIx64 "\t%zu\t%d\t%.17g\t%" PRId64 "\t%" PRId64
                                     "\t%" PRId64 "\t%" PRId64 "\t%zu",
                                 r->hash, nth_of(g, ri), (int)a->state, a->value, a->active_at,
                                 a->fired_at, a->resolved_at, a->keep_firing_since,
                                 a->n_labels);
                for (size_t i = 0; i < a->n_labels; i++) {
                    put_str(&b, a->labels[i].name);
                    put_str(&b, a->labels[i].value);
                }
                rules_buf_printf(&b, "\t%zu", a->n_annotations);
                for (size_t i = 0; i < a->n_annotations; i++) {
                    put_str(&b, a->annotations[i].name);
                    put_str(&b, a->annotations[i].value);
                }
                rc = rules_buf_add(&b, "\n", 1);
            }
        }
    }
    if (rc < 0) {
        mm_tmpl_buf_fini(&b);
        return -ENOMEM;
    }
    *ret_buf = b.data;
    *ret_len = b.len;
    return 0;
}

/* Splits one line into tab-separated fields, unescaping in place. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *w = p;
        while (*p && *p != '\t') {
            if (*p == '\\' && p[1]) {
                p++;
                *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
                p++;
            } else {
                *w++ = *p++;
            }
        }
        bool more = *p == '\t';
        *w = '\0';
        if (!more)
            break;
        p++;
    }
    return n;
}

static mm_rules_rule_t *find_rule(mm_rules_t *rs, const char *group, const char *file,
                                  uint64_t hash, size_t nth)
{
    for (size_t gi = 0; gi < rs->n_groups; gi++) {
        mm_rules_group_t *g = rs->groups[gi];
        if (strcmp(g->name, group) != 0 || strcmp(g->file, file) != 0)
            continue;
        size_t k = 0;
        for (size_t ri = 0; ri < g->n_rules; ri++)
            if (g->rules[ri]->hash == hash && k++ == nth)
                return g->rules[ri];
    }
    return NULL;
}

static int cmp_alert(const void *a, const void *b)
{
    const mm_rules_alert_t *x = a, *y = b;
    return rules_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

int mm_rules_state_import(mm_rules_t *rs, const char *buf, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    enum { MAXF = 4096 };
    char **f = malloc(MAXF * sizeof *f);
    int restored = 0, rc = 0;
    if (!f) {
        free(copy);
        return -ENOMEM;
    }
    /* Two passes: validate everything first so a bad buffer restores nothing. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 1) {
            memcpy(copy, buf, len);
            copy[len] = '\0';
        }
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            size_t n = split(line, f, MAXF);
            if (n < 12 || strcmp(f[0], "A") != 0) {
                rc = -EBADMSG;
                break;
            }
            char *end;
            uint64_t hash = strtoull(f[3], &end, 16);
            size_t nth = strtoul(f[4], NULL, 10);
            size_t nl = strtoul(f[11], NULL, 10);
            if (*end || 12 + 2 * nl >= n) {
                rc = -EBADMSG;
                break;
            }
            size_t na = strtoul(f[12 + 2 * nl], NULL, 10);
            if (13 + 2 * nl + 2 * na != n) {
                rc = -EBADMSG;
                break;
            }
            if (pass == 0)
                continue;
            mm_rules_rule_t *r = find_rule(rs, f[1], f[2], hash, nth);
            if (!r || r->kind != MM_RULES_ALERTING)
                continue;
            mm_rules_alert_t a;
            memset(&a, 0, sizeof a);
            a.state = (mm_rules_state_t)atoi(f[5]);
            a.value = strtod(f[6], NULL);
            a.active_at = strtoll(f[7], NULL, 10);
            a.fired_at = strtoll(f[8], NULL, 10);
            a.resolved_at = strtoll(f[9], NULL, 10);
            a.keep_firing_since = strtoll(f[10], NULL, 10);
            mm_label_t *tmp = calloc(nl + na + 1, sizeof *tmp);
            if (!tmp) {
                rc = -ENOMEM;
                break;
            }
            for (size_t i = 0; i < nl; i++) {
                tmp[i].name = f[12 + 2 * i];
                tmp[i].value = f[13 + 2 * i];
            }
            for (size_t i = 0; i < na; i++) {
                tmp[nl + i].name = f[13 + 2 * nl + 2 * i];
                tmp[nl + i].value = f[14 + 2 * nl + 2 * i];
            }
            if (rules_labels_dup(tmp, nl, &a.labels) < 0 ||
                rules_labels_dup(tmp + nl, na, &a.annotations) < 0) {
                free(tmp);
                rules_labels_free(a.labels, nl);
                rc = -ENOMEM;
                break;
            }
            free(tmp);
            a.n_labels = nl;
            a.n_annotations = na;
            mm_labels_sort(a.labels, a.n_labels);
            a.fp = mm_labels_fingerprint(NULL, a.labels, a.n_labels);
            mm_rules_alert_t *cur = r->n_alerts
                ? bsearch(&a, r->alerts, r->n_alerts, sizeof a, cmp_alert) : NULL;
            if (cur) {
                rules_labels_free(cur->labels, cur->n_labels);
                rules_labels_free(cur->annotations, cur->n_annotations);
                *cur = a;
            } else {
                if (r->n_alerts == r->cap_alerts) {
                    size_t cap = r->cap_alerts ? r->cap_alerts * 2 : 8;
                    mm_rules_alert_t *na2 = realloc(r->alerts, cap * sizeof *na2);
                    if (!na2) {
                        rules_labels_free(a.labels, a.n_labels);
                        rules_labels_free(a.annotations, a.n_annotations);
                        rc = -ENOMEM;
                        break;
                    }
                    r->alerts = na2;
                    r->cap_alerts = cap;
                }
                r->alerts[r->n_alerts++] = a;
                qsort(r->alerts, r->n_alerts, sizeof a, cmp_alert);
            }
            restored++;
        }
    }
    free(f);
    free(copy);
    return rc < 0 ? rc : restored;
}

int mm_rules_carry_state(mm_rules_t *to, mm_rules_t *from)
{
    int carried = 0;
    for (size_t gi = 0; gi < to->n_groups; gi++) {
        mm_rules_group_t *g = to->groups[gi];
        mm_rules_group_t *old = NULL;
        for (size_t k = 0; k < from->n_groups && !old; k++)
            if (strcmp(from->groups[k]->name, g->name) == 0 &&
                strcmp(from->groups[k]->file, g->file) == 0)
                old = from->groups[k];
        if (!old)
            continue;
        for (size_t ri = 0; ri < g->n_rules; ri++) {
            mm_rules_rule_t *r = g->rules[ri];
            size_t nth = nth_of(g, ri), k = 0;
            for (size_t oi = 0; oi < old->n_rules; oi++) {
                mm_rules_rule_t *o = old->rules[oi];
                if (o->hash != r->hash || k++ != nth)
                    continue;
                rules_alerts_clear(r);
                rules_prev_clear(r);
                r->alerts = o->alerts;
                r->n_alerts = o->n_alerts;
                r->cap_alerts = o->cap_alerts;
                r->prev = o->prev;
                r->n_prev = o->n_prev;
                o->alerts = NULL;
                o->n_alerts = o->cap_alerts = 0;
                o->prev = NULL;
                o->n_prev = 0;
                carried++;
                break;
            }
        }
    }
    return carried;
}
