/* The `http` probe: libcurl multi driven by the uv loop (one shared multi
 * handle, a uv_poll per socket, one uv timer), checking status, a body regex
 * (PCRE2, anchored both ends as CONTRACTS.md §6 asks, with match limits),
 * latency thresholds and, for https, days until the certificate expires. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "health_probe.h"
#include "mm_curl.h"

typedef struct {
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t timer;
    int open;                   /* handles not yet closed: the timer and every poll */
    bool closing;
} curlctx_t;

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    curlctx_t *ctx;
} sock_t;

typedef struct {
    health_run_t *run;
    curlctx_t *ctx;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    uint64_t total;
    char err[CURL_ERROR_SIZE];
} http_t;

static void ctx_maybe_free(curlctx_t *c)
{
    if (c->closing && c->open == 0)
        free(c);
}

static void on_handle_close(uv_handle_t *h)
{
    curlctx_t *c;
    if (h->type == UV_POLL) {
        sock_t *s = h->data;
        c = s->ctx;
        free(s);
    } else {
        c = h->data;
    }
    c->open--;
    ctx_maybe_free(c);
}

static void http_finish(http_t *h, CURLcode rc);

static void check_done(curlctx_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = mm_curl.multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        http_t *h = NULL;
        mm_curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        if (h)
            http_finish(h, m->data.result);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *s = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curlctx_t *c = s->ctx;
    mm_curl.multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_timer(uv_timer_t *t)
{
    curlctx_t *c = t->data;
    int running;
    mm_curl.multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    curlctx_t *c = userp;
    sock_t *s = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            mm_curl.multi_assign(c->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, on_handle_close);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof(*s))))
            return -1;
        s->fd = fd;
        s->ctx = c;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        c->open++;
        mm_curl.multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

/* Only arms the uv timer (socket_action inside it would re-enter curl). */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    curlctx_t *c = userp;
    (void)m;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void ctx_close(void *data)
{
    curlctx_t *c = data;
    if (!c)
        return;
    /* Every easy handle was removed by the cancelled runs. */
    mm_curl.multi_cleanup(c->multi);
    c->multi = NULL;
    c->closing = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_close);
}

static curlctx_t *ctx_get(health_run_t *run)
{
    curlctx_t *c = health_io_curl(run->io);
    if (c)
        return c;
    if (!(c = calloc(1, sizeof(*c))))
        return NULL;
    if (!(c->multi = mm_curl.multi_init())) {
        free(c);
        return NULL;
    }
    c->loop = run->loop;
    uv_timer_init(c->loop, &c->timer);
    c->timer.data = c;
    c->open = 1;
    mm_curl.multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    mm_curl.multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    mm_curl.multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    mm_curl.multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    mm_curl.multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    health_io_set_curl(run->io, c, ctx_close);
    return c;
}

static size_t on_write(char *p, size_t size, size_t n, void *data)
{
    http_t *h = data;
    size_t len = size * n;
    size_t max = (size_t)(h->run->conf->max_body_bytes > 0 ? h->run->conf->max_body_bytes : 1 << 20);
    h->total += len;
    /* Past the cap the rest is counted and dropped, not an error. */
    if (h->len < max) {
        size_t take = len < max - h->len ? len : max - h->len;
        if (h->len + take + 1 > h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 4096;
            while (nc < h->len + take + 1)
                nc *= 2;
            char *nb = realloc(h->body, nc);
            if (!nb)
                return 0;
            h->body = nb;
            h->cap = nc;
        }
        memcpy(h->body + h->len, p, take);
        h->len += take;
        h->body[h->len] = '\0';
    }
    return len;
}

static void http_release(http_t *h)
{
    health_run_t *run = h->run;
    if (h->easy) {
        if (h->ctx->multi)
            mm_curl.multi_remove_handle(h->ctx->multi, h->easy);
        mm_curl.easy_cleanup(h->easy);
    }
    mm_curl.slist_free_all(h->headers);
    free(h->body);
    run->probe = NULL;
    free(h);
    health_run_unref(run);
}

typedef struct {
    pcre2_code *re;
} regex_memo_t;

/* One match context for every check (the loop is single-threaded); match
 * data is made per match, so a thousand idle checks keep only their code. */
static pcre2_match_context *match_ctx;

static void regex_free(void *data)
{
    regex_memo_t *m = data;
    if (!m)
        return;
    pcre2_code_free(m->re);
    free(m);
}

static regex_memo_t *regex_get(health_run_t *run, char *err, size_t cap)
{
    if (run->memo->data)
        return run->memo->data;
    regex_memo_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    int ec;
    PCRE2_SIZE off;
    m->re = pcre2_compile((PCRE2_SPTR)run->conf->body_regex, PCRE2_ZERO_TERMINATED,
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                          &ec, &off, NULL);
    if (!m->re) {
        PCRE2_UCHAR buf[120];
        pcre2_get_error_message(ec, buf, sizeof(buf));
        snprintf(err, cap, "body_regex at %zu: %s", (size_t)off, (char *)buf);
        free(m);
        return NULL;
    }
    if (!match_ctx && (match_ctx = pcre2_match_context_create(NULL))) {
        pcre2_set_match_limit(match_ctx, 1000000);
        pcre2_set_depth_limit(match_ctx, 10000);
    }
    run->memo->data = m;
    run->memo->free_fn = regex_free;
    return m;
}

/* Days until the peer certificate's "Expire date", or NAN. */
static double cert_days_left(CURL *e, int64_t now_ms)
{
    struct curl_certinfo *ci = NULL;
    if (mm_curl.easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return NAN;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (strncmp(s->data, "Expire date:", 12) == 0) {
            time_t t = mm_curl.getdate(s->data + 12, NULL);
            if (t < 0)
                return NAN;
            return ((double)t * 1000.0 - (double)now_ms) / 86400000.0;
        }
    return NAN;
}

static void http_finish(http_t *h, CURLcode rc)
{
    health_run_t *run = h->run;
    const health_check_conf_t *k = run->conf;
    health_result_t *r = &run->result;
    if (run->done) {
        http_release(h);
        return;
    }
    const char *method = k->method ? k->method : "GET";
    if (rc != CURLE_OK) {
        health_result_raise(r, HEALTH_CRITICAL, "%s %s: %s", method, k->url,
                            h->err[0] ? h->err : mm_curl.easy_strerror(rc));
        health_run_done(run);
        http_release(h);
        return;
    }
    long status = 0;
    double total_s = 0;
    mm_curl.easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    mm_curl.easy_getinfo(h->easy, CURLINFO_TOTAL_TIME, &total_s);
    double ms = total_s * 1000.0;
    health_result_detail(r, "status", "%ld", status);
    health_result_detail(r, "latency_ms", "%.3f", ms);
    health_result_detail(r, "body_bytes", "%llu", (unsigned long long)h->total);
    snprintf(r->message, sizeof(r->message), "%s %s: %ld in %.1f ms", method, k->url, status, ms);
    if (k->expect_status ? status != k->expect_status : status >= 400)
        health_result_raise(r, HEALTH_CRITICAL, "%s %s: status %ld, expected %s%lld", method,
                            k->url, status, k->expect_status ? "" : "< 400 ",
                            (long long)(k->expect_status ? k->expect_status : 400));
    if (k->body_regex) {
        char err[160] = "";
        regex_memo_t *m = regex_get(run, err, sizeof(err));
        if (!m) {
            health_result_raise(r, HEALTH_CRITICAL, "%s", err[0] ? err : "out of memory");
        } else {
            pcre2_match_data *md = pcre2_match_data_create(1, NULL);
            int mr = md ? pcre2_match(m->re, (PCRE2_SPTR)(h->body ? h->body : ""), h->len, 0, 0,
                                      md, match_ctx)
                        : PCRE2_ERROR_NOMEMORY;
            pcre2_match_data_free(md);
            if (mr == PCRE2_ERROR_MATCHLIMIT || mr == PCRE2_ERROR_DEPTHLIMIT)
                health_result_raise(r, HEALTH_CRITICAL, "body_regex hit its match limit on a "
                                    "%zu-byte body", h->len);
            else if (mr < 0)
                health_result_raise(r, HEALTH_CRITICAL, "%s %s: body (%zu bytes) does not match "
                                    "%.100s", method, k->url, h->len, k->body_regex);
        }
    }
    health_level_t l = health_thresholds_eval(&k->latency_ms, ms, run->memo->last_level[0]);
    run->memo->last_level[0] = l;
    if (l > HEALTH_HEALTHY)
        health_result_raise(r, l, "%s %s answered in %.1f ms (over the %s bound)", method, k->url,
                            ms, health_level_name(l));
    if (k->cert_days.set) {
        double days = cert_days_left(h->easy, health_run_now_ms(run));
        if (!isnan(days)) {
            health_result_detail(r, "cert_days_left", "%.1f", days);
            health_level_t cl = health_thresholds_eval(&k->cert_days, days, run->memo->last_level[1]);
            run->memo->last_level[1] = cl;
            if (cl > HEALTH_HEALTHY)
                health_result_raise(r, cl, "certificate of %s expires in %.1f days", k->url, days);
        }
    }
    health_run_done(run);
    http_release(h);
}

static int http_start(health_run_t *run)
{
    const health_check_conf_t *k = run->conf;
    char err[256];
    if (mm_curl_load(err, sizeof err) < 0) {
        health_result_raise(&run->result, HEALTH_CRITICAL, "cannot start the probe: %s", err);
        health_run_done(run);
        return -ENOENT;
    }
    curlctx_t *c = ctx_get(run);
    if (!c)
        return -ENOMEM;
    http_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->easy = mm_curl.easy_init())) {
        free(h);
        return -ENOMEM;
    }
    h->run = run;
    h->ctx = c;
    CURL *e = h->easy;
    mm_curl.easy_setopt(e, CURLOPT_URL, k->url);
    mm_curl.easy_setopt(e, CURLOPT_PRIVATE, h);
    mm_curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    mm_curl.easy_setopt(e, CURLOPT_ERRORBUFFER, h->err);
    mm_curl.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    mm_curl.easy_setopt(e, CURLOPT_WRITEDATA, h);
    mm_curl.easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    mm_curl.easy_setopt(e, CURLOPT_USERAGENT, "memmon-health");
    /* A 4 KiB receive buffer instead of 16: many transfers are in flight at
     * once and bodies are capped anyway. */
    mm_curl.easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    mm_curl.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, k->tls_verify ? 1L : 0L);
    mm_curl.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, k->tls_verify ? 2L : 0L);
    if (k->cert_days.set)
        mm_curl.easy_setopt(e, CURLOPT_CERTINFO, 1L);
    if (k->method && strcmp(k->method, "HEAD") == 0)
        mm_curl.easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (k->method && strcmp(k->method, "GET") != 0)
        mm_curl.easy_setopt(e, CURLOPT_CUSTOMREQUEST, k->method);
    if (k->body)
        mm_curl.easy_setopt(e, CURLOPT_COPYPOSTFIELDS, k->body);
    for (size_t i = 0; i < k->headers.n; i++)
        h->headers = mm_curl.slist_append(h->headers, k->headers.v[i]);
    if (h->headers)
        mm_curl.easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    health_run_ref(run);
    run->probe = h;
    CURLMcode mc = mm_curl.multi_add_handle(c->multi, e);
    if (mc != CURLM_OK) {
        mm_curl.easy_cleanup(e);
        h->easy = NULL;
        health_result_raise(&run->result, HEALTH_CRITICAL, "cannot start the request: %s",
                            mm_curl.multi_strerror(mc));
        health_run_done(run);
        http_release(h);
    }
    return 0;
}

static void http_cancel(health_run_t *run)
{
    http_t *h = run->probe;
    if (h)
        http_release(h);
}

const health_probe_ops_t health_probe_http = { http_start, http_cancel };
