/* Scores the injection detector on a labelled corpus directory (sqli.txt,
 * xss.txt, cmdi.txt, traversal.txt, benign.txt; one value per line) and
 * measures its speed on the corpus mix, on realistic request values and on
 * 1 KiB..1 MiB random and adversarial inputs. Used by tools/bench/detect-score.
 * --large K times only the 1 MiB input of kind K (0 random .. 9 JSON-ish), for
 * a profiler; --misses CLASS prints the lines judged wrongly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_detect.h"

typedef struct {
    char **lines;
    size_t *lens;
    size_t n;
} lines_t;

static int load(const char *dir, const char *name, lines_t *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    memset(out, 0, sizeof *out);
    if (!f)
        return -errno;
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = 0;
        if (len == 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 1024;
            out->lines = realloc(out->lines, cap * sizeof *out->lines);
            out->lens = realloc(out->lens, cap * sizeof *out->lens);
        }
        out->lines[out->n] = malloc((size_t)len + 1);
        memcpy(out->lines[out->n], line, (size_t)len + 1);
        out->lens[out->n] = (size_t)len;
        out->n++;
    }
    free(line);
    fclose(f);
    return 0;
}

/* CPU time of this thread: the figures are per core, and on a shared
 * machine wall time would also count the time other processes ran. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static mm_detect_config_t cfg;
static mm_detect_scratch_t scratch;

/* Times mm_detect_value on count inputs of n bytes each, laid end to end
 * at in, taken in turn: median and p99 over reps runs, in ms. */
static void time_inputs(const char *label, const uint8_t *in, size_t n, size_t count, int reps,
                        double *median)
{
    double *t = malloc(sizeof(double) * (size_t)reps);
    mm_detect_verdict_t v;
    for (int r = 0; r < reps; r++) {
        const uint8_t *x = in + (size_t)r % count * n;
        double a = now_s();
        mm_detect_value(&cfg, x, n, MM_DETECT_LOC_QUERY, NULL, &scratch, &v);
        t[r] = (now_s() - a) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = t[reps / 2], p99 = t[(size_t)((reps - 1) * 0.99)];
    if (label)
        printf("  %-34s %9zu B  median %8.4f ms  p99 %8.4f ms  -> %s\n", label, n, med, p99,
               mm_detect_class_name(v.cls));
    if (median)
        *median = med;
    free(t);
}

static void time_input(const char *label, const uint8_t *in, size_t n, int reps, double *median)
{
    time_inputs(label, in, n, 1, reps, median);
}

static uint64_t rng = 88172645463325252ull;
static uint8_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

/* Benign text that is costly to tokenise and must come out clean: prose
 * full of quotes, apostrophes, ampersands, '<' and dots, and a JSON-ish body
 * of nested objects with such strings. Words are drawn at random so the text
 * does not repeat. */
static void fill_prose(uint8_t *buf, size_t n)
{
    static const char *const w[] = {
        "It's", "O'Brien's", "don't", "the", "\"best\"", "caf\xc3\xa9", "&", "a<b", "well..", "Tom",
        "&&", "Jerry", "cats", "|", "dogs", "you're", "5'11\"", "a/b", "(really)", "-", "rock'n'roll",
        "Q&A", "x<y", "and", "or", "selected", "the", "from", "a", "list", "of", "items", "we'd",
        "said:", "'yes'", "e.g.", "wait...", "AT&T", "R&D", "50%", "heart", "so,", "see",
        "notes/a.txt", "it", "was", "John's", "\"quoted\"", "I'm", "->", "p.s.", "1,000s",
    };
    size_t o = 0;
    while (o < n) {
        const char *x = w[rnd() % (sizeof w / sizeof w[0])];
        for (size_t k = 0; x[k] && o < n; k++)
            buf[o++] = (uint8_t)x[k];
        if (o < n)
            buf[o++] = rnd() % 17 == 0 ? '\n' : ' ';
    }
}

static void fill_json(uint8_t *buf, size_t n)
{
    static const char *const v[] = {
        "\"O'Brien & Sons\"", "\"<b>bold</b>\"", "\"a < b && c > d\"", "12", "true", "null",
        "\"up/down.txt\"", "\"it's \\\"fine\\\"\"", "\"R&D; Q&A\"", "3.14", "\"x|y\"", "\"(a,b)\"",
    };
    static const char *const k[] = {"\"name\"", "\"id\"", "\"tags\"", "\"note\"", "\"path\"", "\"qty\""};
    size_t o = 0;
    int depth = 0;
    while (o < n) {
        int r = rnd() % 10, l;
        char t[128];
        if (r == 0 && depth < 8) {
            l = snprintf(t, sizeof t, "{%s:", k[rnd() % 6]);
            depth++;
        } else if (r == 1 && depth > 0) {
            l = snprintf(t, sizeof t, "},");
            depth--;
        } else if (r == 2) {
            l = snprintf(t, sizeof t, "[%s,%s],", v[rnd() % 12], v[rnd() % 12]);
        } else {
            l = snprintf(t, sizeof t, "%s:%s,", k[rnd() % 6], v[rnd() % 12]);
        }
        /* The last piece is cut at n: the whole input is JSON-ish text. */
        size_t take = (size_t)l < n - o ? (size_t)l : n - o;
        memcpy(buf + o, t, take);
        o += take;
    }
}

/* Fills buf with n bytes of the given kind of input. */
static void fill(uint8_t *buf, size_t n, int kind)
{
    static const char *const pats[] = {
        NULL,
        "%25%32%35%25%32%35%32%35",            /* nested percent-encodings */
        "' or '1'='1' union select /*!50000*/",  /* dense SQL */
        "<a onmouseover=\"x\" href='javascript:", /* dense markup */
        ";${IFS}'w'h\"o\"ami|`id`&&$(cat</etc/", /* dense shell */
        "..%c0%af..\\..%252f0x2e0x2e/....//;/.", /* dense traversal */
        "&#x3c;&#0000060&lt\\u003c\\x3c%u003c&amp", /* dense entities */
        "/*/*/*/*/*/*/*/*--#--#'\"'\"'\"((((((((", /* unterminated openers */
    };
    if (kind == 0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = rnd();
        return;
    }
    if (kind == 8 || kind == 9) {
        (kind == 8 ? fill_prose : fill_json)(buf, n);
        return;
    }
    const char *p = pats[kind];
    size_t pl = strlen(p);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)p[i % pl];
}

int main(int argc, char **argv)
{
    static const char *const classes[] = {"sqli", "xss", "cmdi", "traversal", "benign"};
    const char *dir = "../shared/security-corpus";
    int misses = -1, only_kind = -1;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--large") == 0 && a + 1 < argc) {
            only_kind = atoi(argv[++a]);
        } else if (strcmp(argv[a], "--misses") == 0 && a + 1 < argc) {
            a++;
            for (int c = 0; c < 5; c++)
                if (strcmp(argv[a], classes[c]) == 0)
                    misses = c;
            if (misses < 0) {
                fprintf(stderr, "detect_bench: --misses takes sqli, xss, cmdi, traversal or benign\n");
                return 2;
            }
        } else {
            dir = argv[a];
        }
    }
    static const mm_detect_class_t ids[] = {MM_DETECT_SQLI, MM_DETECT_XSS, MM_DETECT_CMDI, MM_DETECT_TRAVERSAL};
    bool verbose = getenv("MM_DETECT_VERBOSE") != NULL;
    mm_detect_config_init(&cfg);
    scratch.cap = mm_detect_scratch_size(8u << 20);
    scratch.buf = malloc(scratch.cap);
    if (only_kind >= 0) {
        /* --large K: only the 1 MiB input of kind K, many times (for a profiler). */
        size_t big = 1u << 20;
        uint8_t *buf = malloc(big);
        fill(buf, big, only_kind);
        time_input("1 MiB", buf, big, 201, NULL);
        free(buf);
        return 0;
    }
    lines_t sets[5];
    size_t detected[5] = {0}, right[5] = {0};
    for (int c = 0; c < 5; c++) {
        char name[64];
        snprintf(name, sizeof name, "%s.txt", classes[c]);
        int rc = load(dir, name, &sets[c]);
        if (rc < 0) {
            fprintf(stderr, "detect-score: %s/%s: %s\n", dir, name, strerror(-rc));
            return 1;
        }
    }
    mm_detect_verdict_t v;
    for (int c = 0; c < 5; c++) {
        for (size_t i = 0; i < sets[c].n; i++) {
            mm_detect_value(&cfg, sets[c].lines[i], sets[c].lens[i], MM_DETECT_LOC_QUERY, NULL, &scratch, &v);
            if (v.cls != MM_DETECT_NONE) {
                detected[c]++;
                if (c < 4 && v.cls == ids[c])
                    right[c]++;
            }
            bool wrong = (c < 4 && v.cls == MM_DETECT_NONE) || (c == 4 && v.cls != MM_DETECT_NONE);
            if (wrong && misses == c)
                printf("%d %s | %s\n", v.score, v.evidence[0] ? v.evidence : "-", sets[c].lines[i]);
            else if (wrong && verbose)
                printf("%s %s %d %s | %s\n", c < 4 ? "MISS" : "FP", classes[c], v.score,
                       v.evidence, sets[c].lines[i]);
        }
    }
    if (misses >= 0)
        return 0;
    printf("detector: memmon mm_detect (threshold %d), corpus %s\n", cfg.threshold, dir);
    printf("%-10s %8s %9s %8s\n", "class", "samples", "detected", "percent");
    for (int c = 0; c < 4; c++)
        printf("%-10s %8zu %9zu %7.1f %%\n", classes[c], sets[c].n, detected[c],
               sets[c].n ? 100.0 * (double)detected[c] / (double)sets[c].n : 0.0);
    printf("false positives: %zu of %zu benign = %.2f %%\n", detected[4], sets[4].n,
           sets[4].n ? 100.0 * (double)detected[4] / (double)sets[4].n : 0.0);

    /* Throughput over the corpus mix, single thread, at least one second. */
    size_t total = 0, bytes = 0;
    double t0 = now_s(), el;
    do {
        for (int c = 0; c < 5; c++)
            for (size_t i = 0; i < sets[c].n; i++) {
                mm_detect_value(&cfg, sets[c].lines[i], sets[c].lens[i], MM_DETECT_LOC_QUERY, NULL, &scratch, &v);
                total++;
                bytes += sets[c].lens[i];
            }
        el = now_s() - t0;
    } while (el < 1.0);
    printf("inspections/s/core: %.0f (%.1f MB/s, corpus mix, %zu inspections in %.2f s)\n",
           (double)total / el, (double)bytes / el / 1e6, total, el);
    printf("class found = labelled class, of detected:");
    for (int c = 0; c < 4; c++)
        printf(" %s %.1f %%%s", classes[c], detected[c] ? 100.0 * (double)right[c] / (double)detected[c] : 0.0,
               c < 3 ? "," : "\n");

    /* Realistic request values. */
    printf("speed on realistic values:\n");
    {
        char q[600];
        size_t o = 0;
        while (o < 480) {
            int w = snprintf(q + o, sizeof q - o, "utm_source=newsletter&page=%zu&sort=price_desc&q=red+shoes+size%%2042&", o);
            o += (size_t)w;
        }
        q[500] = 0;
        time_input("500-byte query string (whole)", (const uint8_t *)q, 500, 20001, NULL);
        char j[2100];
        o = 0;
        o += (size_t)snprintf(j + o, sizeof j - o, "{\"items\":[");
        while (o < 1960)
            o += (size_t)snprintf(j + o, sizeof j - o,
                                  "{\"id\":%zu,\"name\":\"O'Brien & Sons, \\\"deluxe\\\" <b>box</b>\",\"qty\":2},", o);
        o += (size_t)snprintf(j + o, sizeof j - o, "{}]}");
        time_input("2 KB JSON body (whole)", (const uint8_t *)j, o, 20001, NULL);
        mm_detect_request_t rq = {0};
        mm_detect_header_t hd[] = {{"Content-Type", 12, "application/json", 16},
                                   {"User-Agent", 10, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", 70},
                                   {"Cookie", 6, "sid=abc123; theme=dark; lang=en", 31}};
        rq.target = "/api/v1/orders?page=2&sort=desc";
        rq.target_len = strlen(rq.target);
        rq.headers = hd;
        rq.n_headers = 3;
        rq.body = j;
        rq.body_len = o;
        mm_detect_finding_t fnd[8];
        size_t nf, nv;
        int reps = 20001;
        double *t = malloc(sizeof(double) * (size_t)reps);
        for (int r = 0; r < reps; r++) {
            double a = now_s();
            mm_detect_request(&cfg, &rq, &scratch, fnd, 8, &nf, &nv, NULL);
            t[r] = (now_s() - a) * 1e3;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        printf("  %-34s %9zu B  median %8.4f ms  p99 %8.4f ms  (%zu values, %zu flagged)\n",
               "request: path+query+3 headers+JSON", o + rq.target_len, t[reps / 2],
               t[(size_t)((reps - 1) * 0.99)], nv, nf);
        free(t);
    }

    /* Large inputs: 1 KiB .. 1 MiB, random and adversarial. */
    printf("speed on large inputs (median/p99 of repeated runs; growth per 10x of size):\n");
    static const char *const kinds[] = {"random bytes", "nested %-encoding", "dense SQL", "dense markup",
                                        "dense shell", "dense traversal", "dense entities/escapes",
                                        "unterminated openers", "benign prose (quotes, &, <, ..)",
                                        "benign JSON-ish text"};
    size_t big = 1u << 20;
    uint8_t *buf = malloc(big);
    bool ok = true;
    for (int k = 0; k < 10; k++) {
        /* Each size is timed over 1 MiB of distinct inputs taken in turn
         * (1,024 of 1 KiB, 102 of 10 KiB, ...): timing one small input over
         * and over lets the branch predictor learn it, which no real
         * traffic allows, and flatters the small sizes. */
        static const size_t sizes[] = {1024, 10240, 102400, 1u << 20};
        static const int reps[] = {2001, 501, 101, 51};
        double med[4];
        for (int z = 0; z < 4; z++) {
            size_t count = big / sizes[z];
            for (size_t i = 0; i < count; i++)
                fill(buf + i * sizes[z], sizes[z], k);
            char label[64];
            snprintf(label, sizeof label, "1 MiB %s", kinds[k]);
            time_inputs(z == 3 ? label : NULL, buf, sizes[z], count, reps[z], &med[z]);
        }
        double m1k = med[0], m10k = med[1], m100k = med[2], m1m = med[3];
        double g1 = m10k / m1k, g2 = m100k / m10k, g3 = m1m / m100k;
        printf("  %-34s growth 1K->10K %.1fx, 10K->100K %.1fx, 100K->1M %.1fx\n", "", g1, g2, g3);
        if (g1 > 12 || g2 > 12 || g3 > 12)
            ok = false;
    }
    printf("growth within 12x per 10x: %s\n", ok ? "yes" : "NO");
    free(buf);
    return 0;
}
