/* Label matchers (=, !=, =~, !~) shared by every component that selects
 * series (CONTRACTS.md §3). Regexes follow RE2 syntax and are anchored at
 * both ends as Prometheus anchors them; they run on PCRE2 with match limits.
 * A user of this file links pcre2 (libpcre2-8). */
#ifndef MM_MATCH_H
#define MM_MATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    MM_MATCH_EQ,     /* =  */
    MM_MATCH_NE,     /* != */
    MM_MATCH_RE,     /* =~ */
    MM_MATCH_NRE,    /* !~ */
} mm_match_type_t;

typedef struct {
    mm_match_type_t type;
    char *name;          /* owned */
    char *value;         /* owned; the regex source for RE/NRE */
    void *re;            /* pcre2_code_8 *, RE/NRE only */
} mm_match_t;

/* Compiles a matcher. Copies name and value. On a bad regex returns -EINVAL
 * and, when errbuf is not NULL, writes the reason there; m is then left
 * zeroed. -ENOMEM on allocation failure. */
int mm_match_init(mm_match_t *m, mm_match_type_t type, const char *name, const char *value,
                  char *errbuf, size_t errcap);

/* Releases what mm_match_init() allocated; accepts a zeroed struct. */
void mm_match_fini(mm_match_t *m);

/* True when value (NULL means the label is absent, i.e. "") satisfies m. */
bool mm_match_value(const mm_match_t *m, const char *value);

/* Anchored RE2-style regex, for label_replace and similar users.
 * mm_regex_new returns NULL and fills errbuf on a bad pattern. */
typedef struct mm_regex mm_regex_t;
mm_regex_t *mm_regex_new(const char *pattern, char *errbuf, size_t errcap);
void mm_regex_free(mm_regex_t *re);

/* Full (anchored) match of s[0..len). On a match fills ovec with up to n
 * (start,end) pairs, unset groups as (-1,-1), and returns the pattern's
 * number of groups incl. group 0 (at most 64); 0 when it does not match
 * (invalid UTF-8 or a match limit count as no match); -ENOMEM. Uses
 * per-thread match data: safe from several threads, not re-entrant. */
int mm_regex_match(const mm_regex_t *re, const char *s, size_t len, long *ovec, size_t n);

/* Group number of a named group, or -1. */
int mm_regex_group_index(const mm_regex_t *re, const char *name);

#endif
