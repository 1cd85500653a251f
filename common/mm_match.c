/* Label matchers and anchored RE2-style regexes on PCRE2. Patterns that use
 * PCRE-only constructs RE2 rejects (look-around, backreferences, atomic
 * groups, possessive quantifiers) are refused so that a rule valid here is
 * valid in Prometheus. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_match.h"

struct mm_regex {
    pcre2_code *code;
    uint32_t groups;     /* capture groups + 1 (group 0) */
};

enum { MATCH_LIMIT = 1000000, DEPTH_LIMIT = 10000 };

/* Rejects constructs RE2 does not have; returns a reason or NULL. */
static const char *re2_unsupported(const char *p)
{
    bool in_class = false;
    for (size_t i = 0; p[i]; i++) {
        char c = p[i];
        if (c == '\\') {
            char d = p[i + 1];
            if (!in_class && d >= '1' && d <= '9' && !(p[i + 2] >= '0' && p[i + 2] <= '7'))
                return "backreferences are not supported";
            if (d == 'Z' || d == 'G' || d == 'K' || d == 'g' || d == 'k' || d == 'R' || d == 'X')
                return "invalid escape sequence";
            if (d)
                i++;
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            continue;
        }
        if (c == '[') {
            in_class = true;
            if (p[i + 1] == '^')
                i++;
            if (p[i + 1] == ']')
                i++;
            continue;
        }
        if (c == '(' && p[i + 1] == '?') {
            char d = p[i + 2];
            if (d == '=' || d == '!' || d == '>' || d == '|' || d == '#' || d == '(' ||
                d == 'R' || d == '+' || (d >= '0' && d <= '9') || d == '&')
                return "invalid or unsupported Perl syntax";
            if (d == '<' && (p[i + 3] == '=' || p[i + 3] == '!'))
                return "invalid or unsupported Perl syntax";
        }
        if ((c == '+' || c == '*' || c == '?' || c == '}') && p[i + 1] == '+')
            return "invalid nested repetition operator";
    }
    return NULL;
}

mm_regex_t *mm_regex_new(const char *pattern, char *errbuf, size_t errcap)
{
    const char *why = re2_unsupported(pattern);
    if (why) {
        if (errbuf)
            snprintf(errbuf, errcap, "error parsing regexp: %s: `%s`", why, pattern);
        return NULL;
    }
    size_t plen = strlen(pattern);
    char *full = malloc(plen + 16);
    if (!full)
        return NULL;
    /* Anchor at both ends like Prometheus: ^(?:re)$ with $ at the very end only. */
    snprintf(full, plen + 16, "^(?:%s)$", pattern);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)full, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS,
                                     &ec, &eo, NULL);
    free(full);
    if (!code) {
        if (errbuf) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(errbuf, errcap, "error parsing regexp: %s: `%s`", (char *)msg, pattern);
        }
        return NULL;
    }
    mm_regex_t *re = calloc(1, sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        return NULL;
    }
    re->code = code;
    uint32_t captures = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
    re->groups = captures + 1;
    return re;
}

void mm_regex_free(mm_regex_t *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

/* Match data and limits are per thread and reused: a selector over many
 * series would otherwise allocate twice per series. */
static _Thread_local pcre2_match_data *tls_md;
static _Thread_local pcre2_match_context *tls_mc;

int mm_regex_match(const mm_regex_t *re, const char *s, size_t len, long *ovec, size_t n)
{
    if (!tls_md) {
        tls_md = pcre2_match_data_create(64, NULL);
        tls_mc = pcre2_match_context_create(NULL);
        if (!tls_md || !tls_mc) {
            pcre2_match_data_free(tls_md);
            pcre2_match_context_free(tls_mc);
            tls_md = NULL;
            tls_mc = NULL;
            return -ENOMEM;
        }
        pcre2_set_match_limit(tls_mc, MATCH_LIMIT);
        pcre2_set_depth_limit(tls_mc, DEPTH_LIMIT);
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, tls_md, tls_mc);
    if (rc < 0)
        return 0;   /* no match, invalid UTF-8 or a limit: all count as no match */
    /* rc is one more than the highest group set (0: ovector too small). */
    uint32_t set = rc == 0 ? pcre2_get_ovector_count(tls_md) : (uint32_t)rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tls_md);
    for (size_t i = 0; i < n; i++) {
        if (i < set && ov[2 * i] != PCRE2_UNSET) {
            ovec[2 * i] = (long)ov[2 * i];
            ovec[2 * i + 1] = (long)ov[2 * i + 1];
        } else {
            ovec[2 * i] = ovec[2 * i + 1] = -1;
        }
    }
    uint32_t avail = pcre2_get_ovector_count(tls_md);
    return (int)(re->groups < avail ? re->groups : avail);
}

int mm_regex_group_index(const mm_regex_t *re, const char *name)
{
    int rc = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
    return rc < 0 ? -1 : rc;
}

int mm_match_init(mm_match_t *m, mm_match_type_t type, const char *name, const char *value,
                  char *errbuf, size_t errcap)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->name = strdup(name);
    m->value = strdup(value);
    if (!m->name || !m->value) {
        mm_match_fini(m);
        return -ENOMEM;
    }
    if (type == MM_MATCH_RE || type == MM_MATCH_NRE) {
        m->re = mm_regex_new(value, errbuf, errcap);
        if (!m->re) {
            mm_match_fini(m);
            return -EINVAL;
        }
    }
    return 0;
}

void mm_match_fini(mm_match_t *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->value);
    mm_regex_free(m->re);
    memset(m, 0, sizeof *m);
}

bool mm_match_value(const mm_match_t *m, const char *value)
{
    if (!value)
        value = "";
    switch (m->type) {
    case MM_MATCH_EQ:
        return strcmp(m->value, value) == 0;
    case MM_MATCH_NE:
        return strcmp(m->value, value) != 0;
    case MM_MATCH_RE:
        return mm_regex_match(m->re, value, strlen(value), NULL, 0) > 0;
    case MM_MATCH_NRE:
        return mm_regex_match(m->re, value, strlen(value), NULL, 0) <= 0;
    }
    return false;
}
