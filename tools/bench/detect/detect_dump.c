/* Prints everything the detector decides about many inputs, one line each,
 * so that two builds can be compared byte for byte after a change meant to
 * keep every decision (a speed-up, a clean-up):
 *   detect_dump [--synth N] FILE...  > out.txt
 * Each line of each FILE is an input; then N inputs spliced from random
 * pieces of those lines (deterministic), then the 1 KiB..1 MiB inputs of
 * detect_bench. For each input: the verdict as a query value and as a JSON
 * value, then each class tokeniser run on its own over the decoded text
 * (score, rule, position, tokens, flags), so no class hides behind another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

static mm_detect_config_t cfg;
static mm_detect_scratch_t scratch;
static unsigned long long seq;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void hit_line(const char *name, const mm_detect_hit_t *h, unsigned f)
{
    if (h->score == 0 && !h->rule) {
        printf(" %s=0", name);
        return;
    }
    printf(" %s=%d/%s/%zu/%s/%x", name, h->score, h->rule ? h->rule : "-", h->pos, h->tokens, f);
}

static void dump(const uint8_t *in, size_t n)
{
    static const mm_detect_loc_t locs[] = {MM_DETECT_LOC_QUERY, MM_DETECT_LOC_JSON};
    printf("%llu", seq++);
    for (size_t l = 0; l < 2; l++) {
        mm_detect_verdict_t v;
        mm_detect_value(&cfg, in, n, locs[l], NULL, &scratch, &v);
        printf(" | %s %d %d,%d,%d,%d %x [%s] [%s]", mm_detect_class_name(v.cls), v.score, v.scores[1],
               v.scores[2], v.scores[3], v.scores[4], v.decodings, v.evidence, v.fragment);
    }
    size_t half = (scratch.cap - 64) / 2;
    if (n > half)
        n = half;
    const uint8_t *dec;
    unsigned flags = 0;
    size_t dn = mm_detect_decode(in, n, scratch.buf, scratch.buf + half, true, cfg.max_passes, &flags, &dec);
    printf(" | dec %zu %x", dn, flags);
    static const char *const names[] = {"sqli", "xss", "cmdi", "trav"};
    for (int c = 0; c < 4; c++) {
        mm_detect_hit_t h;
        unsigned f = 0;
        memset(&h, 0, sizeof h);
        switch (c) {
        case 0: mm_detect_sqli(dec, dn, &h, &f); break;
        case 1: mm_detect_xss(dec, dn, &h); break;
        case 2: mm_detect_cmdi(dec, dn, &h, &f); break;
        default: mm_detect_traversal(dec, dn, &h); break;
        }
        hit_line(names[c], &h, f);
    }
    putchar('\n');
}

typedef struct {
    char **s;
    size_t *n;
    size_t count, cap;
} lines_t;

static void load(const char *path, lines_t *L)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (L->count == L->cap) {
            L->cap = L->cap ? 2 * L->cap : 4096;
            L->s = realloc(L->s, L->cap * sizeof *L->s);
            L->n = realloc(L->n, L->cap * sizeof *L->n);
        }
        L->s[L->count] = malloc((size_t)len + 1);
        memcpy(L->s[L->count], line, (size_t)len);
        L->n[L->count++] = (size_t)len;
    }
    free(line);
    fclose(f);
}

/* The detect_bench large-input kinds, in a simplified form: patterns repeated. */
static void large(void)
{
    static const char *const pats[] = {
        "%25%32%35%25%32%35%32%35", "' or '1'='1' union select /*!50000*/",
        "<a onmouseover=\"x\" href='javascript:", ";${IFS}'w'h\"o\"ami|`id`&&$(cat</etc/",
        "..%c0%af..\\..%252f0x2e0x2e/....//;/.", "&#x3c;&#0000060&lt\\u003c\\x3c%u003c&amp",
        "/*/*/*/*/*/*/*/*--#--#'\"'\"'\"((((((((",
        "It's O'Brien's \"best\" a<b well.. Tom && Jerry cats | dogs 5'11\" rock'n'roll Q&A ",
        "{\"name\":\"O'Brien & Sons\",\"tags\":[\"a < b && c > d\",\"x|y\"],\"path\":\"up/down.txt\"},",
    };
    static const size_t sizes[] = {1024, 10240, 102400, 1u << 20};
    uint8_t *buf = malloc(1u << 20);
    for (size_t s = 0; s < 4; s++) {
        for (size_t i = 0; i < sizes[s]; i++)
            buf[i] = (uint8_t)(next() >> 24);
        dump(buf, sizes[s]);
        for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
            size_t pl = strlen(pats[p]);
            for (size_t i = 0; i < sizes[s]; i++)
                buf[i] = (uint8_t)pats[p][i % pl];
            dump(buf, sizes[s]);
        }
    }
    free(buf);
}

int main(int argc, char **argv)
{
    lines_t L = {0};
    size_t synth = 200000;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--synth") == 0 && a + 1 < argc)
            synth = strtoul(argv[++a], NULL, 10);
        else
            load(argv[a], &L);
    }
    mm_detect_config_init(&cfg);
    scratch.cap = mm_detect_scratch_size(2u << 20);
    scratch.buf = malloc(scratch.cap);
    for (size_t i = 0; i < L.count; i++)
        dump((const uint8_t *)L.s[i], L.n[i]);
    /* Splices: two to four pieces of random lines, cut at random points. */
    uint8_t *buf = malloc(1u << 16);
    for (size_t k = 0; L.count && k < synth; k++) {
        size_t o = 0, pieces = 2 + next() % 3;
        for (size_t p = 0; p < pieces; p++) {
            size_t li = next() % L.count, ln = L.n[li];
            size_t from = ln ? next() % ln : 0, len = ln - from;
            if (len > 1 && next() % 2)
                len = 1 + next() % len;
            if (o + len > (1u << 16))
                break;
            memcpy(buf + o, L.s[li] + from, len);
            o += len;
        }
        dump(buf, o);
    }
    large();
    free(buf);
    return 0;
}
