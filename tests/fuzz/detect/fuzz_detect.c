/* libFuzzer harnesses for the detector, one binary per entry point chosen by
 * FUZZ_TARGET at compile time: each decoder, each tokeniser, the whole
 * verdict and the request splitter. Inputs are copied to exact-size heap
 * buffers so ASan sees any read past their end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    T_DEC_URL = 1, T_DEC_HTML, T_DEC_ESCAPE, T_DEC_UTF8, T_DECODE, T_SQLI, T_XSS, T_CMDI,
    T_TRAVERSAL, T_VALUE, T_REQUEST,
};

static void check_pass(const uint8_t *in, size_t n, unsigned which)
{
    uint8_t *out = malloc(n ? n : 1);
    unsigned f = 0;
    bool ch;
    size_t o = mm_detect_decode_pass(in, n, out, which, &f, &ch);
    if (o > n)
        abort();
    free(out);
}

static void fuzz_request(const uint8_t *data, size_t size)
{
    /* target \n (name: value \n)* \n body */
    mm_detect_header_t hd[16];
    mm_detect_request_t rq;
    memset(&rq, 0, sizeof rq);
    const char *s = (const char *)data;
    const char *end = s + size;
    const char *nl = memchr(s, '\n', size);
    rq.target = s;
    rq.target_len = nl ? (size_t)(nl - s) : size;
    const char *p = nl ? nl + 1 : end;
    size_t nh = 0;
    while (p < end && nh < 16) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        if (e == p) {
            p++;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon) {
            hd[nh].name = p;
            hd[nh].name_len = (size_t)(colon - p);
            hd[nh].value = colon + 1;
            hd[nh].value_len = (size_t)(e - colon - 1);
            nh++;
        }
        p = e < end ? e + 1 : end;
    }
    rq.headers = hd;
    rq.n_headers = nh;
    rq.body = p < end ? p : NULL;
    rq.body_len = p < end ? (size_t)(end - p) : 0;
    mm_detect_config_t cfg;
    mm_detect_config_init(&cfg);
    size_t cap = mm_detect_scratch_size(size) + size + 256;
    mm_detect_scratch_t sc = {malloc(cap), cap};
    mm_detect_finding_t f[4];
    size_t nf, nv;
    mm_detect_verdict_t worst;
    if (mm_detect_request(&cfg, &rq, &sc, f, 4, &nf, &nv, &worst) != 0)
        abort();
    free(sc.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    mm_detect_hit_t h;
    unsigned f = 0;
    switch (FUZZ_TARGET) {
    case T_DEC_URL: check_pass(in, size, MM_DETECT_PASS_URL | MM_DETECT_PASS_PLUS); break;
    case T_DEC_HTML: check_pass(in, size, MM_DETECT_PASS_HTML); break;
    case T_DEC_ESCAPE: check_pass(in, size, MM_DETECT_PASS_ESCAPE); break;
    case T_DEC_UTF8: check_pass(in, size, MM_DETECT_PASS_UTF8); break;
    case T_DECODE: {
        uint8_t *a = malloc(size ? size : 1), *b = malloc(size ? size : 1);
        const uint8_t *out;
        size_t n = mm_detect_decode(in, size, a, b, size & 1, 4, &f, &out);
        if (n > size)
            abort();
        free(a);
        free(b);
        break;
    }
    /* mm_detect_value() relies on each tokeniser's score bound. */
    case T_SQLI: if (mm_detect_sqli(in, size, &h, &f) > MM_DETECT_SQLI_MAX) abort(); break;
    case T_XSS: if (mm_detect_xss(in, size, &h) > MM_DETECT_XSS_MAX) abort(); break;
    case T_CMDI: if (mm_detect_cmdi(in, size, &h, &f) > MM_DETECT_CMDI_MAX) abort(); break;
    case T_TRAVERSAL: if (mm_detect_traversal(in, size, &h) > MM_DETECT_TRAVERSAL_MAX) abort(); break;
    case T_VALUE: {
        mm_detect_config_t cfg;
        mm_detect_config_init(&cfg);
        /* Vary location and scratch size (down to truncation) with the input. */
        mm_detect_loc_t loc = (mm_detect_loc_t)(size % MM_DETECT_LOC_COUNT);
        size_t cap = (size & 2) ? mm_detect_scratch_size(size) : 64 + size / 2;
        mm_detect_scratch_t sc = {malloc(cap), cap};
        mm_detect_verdict_t v;
        if (mm_detect_value(&cfg, in, size, loc, NULL, &sc, &v) != 0)
            abort();
        if (v.cls != MM_DETECT_NONE && v.score < cfg.threshold)
            abort();
        if (strlen(v.evidence) >= sizeof v.evidence || strlen(v.fragment) >= sizeof v.fragment)
            abort();
        free(sc.buf);
        break;
    }
    case T_REQUEST: fuzz_request(in, size); break;
    default: abort();
    }
    free(in);
    return 0;
}
