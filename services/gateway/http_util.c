/* Response helpers shared by the gateway's endpoint files: JSON errors,
 * Content-Length on every response, method and path checks, query lookup. */
#include "gateway_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "gateway_ingest.h"
#include "gateway_json.h"

static int on_req_trampoline(h2o_handler_t *self, h2o_req_t *req);

typedef struct {
    gw_handler_t base;
    gw_on_req fn;
} gw_handler_impl_t;

static int on_req_trampoline(h2o_handler_t *self, h2o_req_t *req)
{
    gw_handler_impl_t *h = (gw_handler_impl_t *)self;
    return h->fn(&h->base, req);
}

void gw_register(gateway_io_t *io, h2o_hostconf_t *host, const char *path, const char *name,
                 gw_on_req on_req)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    gw_handler_impl_t *h = (gw_handler_impl_t *)h2o_create_handler(pc, sizeof(*h));
    h->base.super.on_req = on_req_trampoline;
    h->base.io = io;
    h->base.name = name;
    h->fn = on_req;
}

void gw_common_headers(h2o_req_t *req, bool cacheable)
{
    gw_add_header(req, "x-content-type-options", "nosniff");
    if (!cacheable)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
    }
}

void gw_respond(gw_handler_t *h, h2o_req_t *req, int status, const char *content_type,
                const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    gw_common_headers(req, false);
    gateway_count_request(h->io->gw, h->name, status);
    h2o_send_inline(req, body, len);
}

void gw_respond_json(gw_handler_t *h, h2o_req_t *req, int status, const gateway_buf_t *b)
{
    if (gateway_buf_failed(b)) {
        gw_error(h, req, 500, "out_of_memory", "the response could not be built");
        return;
    }
    gw_respond(h, req, status, "application/json", b->data ? b->data : "{}", b->data ? b->len : 2);
}

void gw_error(gw_handler_t *h, h2o_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_jw_t w;
    gateway_jw_init(&w, &b);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "error");
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "code");
    gateway_jw_str(&w, code);
    gateway_jw_key(&w, "message");
    gateway_jw_str(&w, msg);
    gateway_jw_obj_end(&w);
    gateway_jw_obj_end(&w);
    if (gateway_buf_failed(&b))
        gw_respond(h, req, status, "application/json", "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"\"}}", 47);
    else
        gw_respond(h, req, status, "application/json", b.data, b.len);
    gateway_buf_fini(&b);
}

bool gw_path_is(h2o_req_t *req, const char *path)
{
    size_t n = strlen(path);
    h2o_iovec_t p = req->path_normalized;
    if (p.len == n + 1 && p.base[n] == '/')
        p.len = n;
    return p.len == n && !memcmp(p.base, path, n);
}

bool gw_want_get(gw_handler_t *h, h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return true;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
    gw_error(h, req, 405, "method_not_allowed", "%.*s is not allowed here; use GET",
             (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base);
    return false;
}

const char *gw_query(h2o_req_t *req, const char *name, size_t *ret_len)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    size_t n = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - q) == n && !memcmp(q, name, n)) {
            const char *v = eq ? eq + 1 : stop;
            *ret_len = (size_t)(stop - v);
            return v;
        }
        q = stop + 1;
    }
    return NULL;
}

/* ---- h2o's own error responses as JSON ---- */

/* Errors h2o answers before any handler runs (413 for a body over
 * max_request_entity_size, 400 for a broken chunked body, ...) go through
 * the host's fallback path. This filter swaps their text/plain body for the
 * JSON error every other response uses. */
typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_error_ostream_t;

static void json_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    json_error_ostream_t *os = (json_error_ostream_t *)self;
    (void)bufs;
    (void)bufcnt;
    if (h2o_send_state_is_in_progress(state)) {
        /* Swallow the original body until its end. */
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(self, req, &os->body, 1, state);
}

static void json_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status < 400) {
        h2o_setup_next_ostream(req, slot);
        return;
    }
    const char *code = req->res.status == 413 ? "too_large" : req->res.status == 400 ? "bad_request" : "http_error";
    gateway_buf_t b;
    gateway_buf_init(&b);
    gateway_jw_t w;
    gateway_jw_init(&w, &b);
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "error");
    gateway_jw_obj_begin(&w);
    gateway_jw_key(&w, "code");
    gateway_jw_str(&w, code);
    gateway_jw_key(&w, "message");
    gateway_jw_str(&w, req->res.reason ? req->res.reason : "error");
    gateway_jw_obj_end(&w);
    gateway_jw_obj_end(&w);
    if (gateway_buf_failed(&b)) {
        gateway_buf_fini(&b);
        h2o_setup_next_ostream(req, slot);
        return;
    }
    json_error_ostream_t *os = (json_error_ostream_t *)h2o_add_ostream(req, sizeof(*os), slot);
    os->body.base = h2o_mem_alloc_pool(&req->pool, b.len);
    memcpy(os->body.base, b.data, b.len);
    os->body.len = b.len;
    gateway_buf_fini(&b);
    os->super.do_send = json_error_send;
    req->res.content_length = os->body.len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
    slot = &os->super.next;
    h2o_setup_next_ostream(req, slot);
}

void gw_register_error_filter(h2o_hostconf_t *host)
{
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = json_error_setup;
}

bool gw_want_write(gw_handler_t *h, h2o_req_t *req, const char *what)
{
    gateway_io_t *io = h->io;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        gw_error(h, req, 405, "method_not_allowed", "use POST %s", what);
        return false;
    }
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    const char *auth = i >= 0 ? req->headers.entries[i].value.base : NULL;
    size_t auth_len = i >= 0 ? req->headers.entries[i].value.len : 0;
    int r = gateway_auth_check(auth, auth_len, io->api_token);
    if (r == -EACCES) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"memmon\""));
        gw_error(h, req, 401, "unauthorized", "send Authorization: Bearer <api_token>");
        return false;
    }
    if (r < 0) {
        gw_error(h, req, 403, "forbidden",
                 io->api_token ? "the bearer token is not valid"
                               : "writes are disabled: no api_token is configured");
        return false;
    }
    return true;
}

void gw_new_id(char out[33])
{
    uint8_t raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        /* getrandom on Linux does not fail for 16 bytes once seeded; this
         * only keeps ids unique if it ever did. */
        static uint64_t counter;
        uint64_t c = ++counter;
        memcpy(raw, &c, sizeof(c));
    }
    for (size_t i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}
