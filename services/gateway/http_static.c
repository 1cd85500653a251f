/* The dashboard: static files from the dashboard directory at /dashboard
 * (and its index at /), and the JSON 404 for every other path. Paths are
 * whitelisted ([A-Za-z0-9_.-] segments, none starting with '.'), resolved
 * with realpath and required to stay inside the directory; only regular
 * files up to 8 MiB are served, with nosniff and a strict CSP. */
#include "gateway_http.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (8 * 1024 * 1024)

static const char placeholder[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<title>memmon</title></head><body><h1>memmon</h1>"
    "<p>The dashboard is not installed. The API is at <a href=\"/api/status\">/api/status</a>, "
    "<a href=\"/api/metrics\">/api/metrics</a> and <a href=\"/metrics\">/metrics</a>.</p>"
    "</body></html>\n";

static const struct {
    const char *ext;
    const char *type;
} mimes[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".webmanifest", "application/manifest+json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".woff2", "font/woff2" },
};

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
            if (!strcmp(dot, mimes[i].ext))
                return mimes[i].type;
    return "application/octet-stream";
}

static bool safe_rel(const char *p, size_t n)
{
    bool seg_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '/') {
            if (seg_start)
                return false;       /* empty segment */
            seg_start = true;
            continue;
        }
        if (seg_start && c == '.')
            return false;           /* hidden files, "." and ".." */
        seg_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static void page_headers(h2o_req_t *req)
{
    gw_add_header(req, "content-security-policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
    gw_add_header(req, "x-frame-options", "DENY");
    gw_add_header(req, "referrer-policy", "no-referrer");
}

/* Serves rel (already checked) from the dashboard directory; false when it
 * is not there. */
static bool serve_file(gw_handler_t *h, h2o_req_t *req, const char *rel, size_t n)
{
    gateway_io_t *io = h->io;
    if (!io->dashboard_dir)
        return false;
    char root[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
    if (!realpath(io->dashboard_dir, root))
        return false;
    int len = snprintf(path, sizeof(path), "%s/%.*s", root, (int)n, rel);
    if (len < 0 || (size_t)len >= sizeof(path) || !realpath(path, real))
        return false;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) || real[rl] != '/')
        return false;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    char *buf = h2o_mem_alloc_pool(&req->pool, size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size)
        return false;
    page_headers(req);
    gw_respond(h, req, 200, mime_of(real), buf, size);
    return true;
}

static void serve_index(gw_handler_t *h, h2o_req_t *req)
{
    if (serve_file(h, req, "index.html", 10))
        return;
    page_headers(req);
    gw_respond(h, req, 200, "text/html; charset=utf-8", placeholder, sizeof(placeholder) - 1);
}

static int on_dashboard(gw_handler_t *h, h2o_req_t *req)
{
    if (!gw_want_get(h, req))
        return 0;
    h2o_iovec_t p = req->path_normalized;
    const char *rel = p.base + strlen("/dashboard");
    size_t n = p.len - strlen("/dashboard");
    if (n && *rel == '/') {
        rel++;
        n--;
    }
    if (n == 0) {
        serve_index(h, req);
        return 0;
    }
    if (!safe_rel(rel, n) || !serve_file(h, req, rel, n))
        gw_error(h, req, 404, "not_found", "no such file");
    return 0;
}

static int on_other(gw_handler_t *h, h2o_req_t *req)
{
    if (req->path_normalized.len == 1) {
        if (gw_want_get(h, req))
            serve_index(h, req);
        return 0;
    }
    gw_error(h, req, 404, "not_found", "no such endpoint: %.*s",
             (int)(req->path_normalized.len > 200 ? 200 : req->path_normalized.len),
             req->path_normalized.base);
    return 0;
}

void http_static_register(gateway_io_t *io, h2o_hostconf_t *host)
{
    gw_register(io, host, "/dashboard", "dashboard", on_dashboard);
    gw_register(io, host, "/", "other", on_other);
}
