/* The `tcp` probe: resolve (threadpool), connect with uv_tcp, optionally send
 * a string and wait for an expected substring in the reply; the level comes
 * from the latency thresholds. A refused or unreachable port is critical with
 * the reason; a hung one is cut by the scheduler's deadline. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health_probe.h"

typedef struct {
    health_run_t *run;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    bool gai_pending, tcp_inited, tcp_closing, tcp_closed;
    char rbuf[4096];
    size_t rlen;
    double connect_ms;
} tcp_t;

static void maybe_release(tcp_t *t)
{
    if (t->gai_pending || (t->tcp_inited && !t->tcp_closed))
        return;
    health_run_t *run = t->run;
    run->probe = NULL;
    free(t);
    health_run_unref(run);
}

static void on_close(uv_handle_t *h)
{
    tcp_t *t = h->data;
    t->tcp_closed = true;
    maybe_release(t);
}

static void close_tcp(tcp_t *t)
{
    if (t->tcp_inited && !t->tcp_closing) {
        t->tcp_closing = true;
        uv_close((uv_handle_t *)&t->tcp, on_close);
    }
}

static void conclude(tcp_t *t)
{
    health_run_t *run = t->run;
    if (!run->done) {
        const health_check_conf_t *k = run->conf;
        health_level_t l = health_thresholds_eval(&k->latency_ms, t->connect_ms,
                                                  run->memo->last_level[0]);
        run->memo->last_level[0] = l;
        if (l > HEALTH_HEALTHY)
            health_result_raise(&run->result, l, "%s:%lld answered in %.1f ms (over the %s bound)",
                                k->host, (long long)k->port, t->connect_ms, health_level_name(l));
        else
            snprintf(run->result.message, sizeof(run->result.message),
                     "%s:%lld answered in %.1f ms", k->host, (long long)k->port, t->connect_ms);
        health_run_done(run);
    }
    close_tcp(t);
}

static void fail(tcp_t *t, const char *what, int err)
{
    health_run_t *run = t->run;
    if (!run->done) {
        health_result_raise(&run->result, HEALTH_CRITICAL, "%s %s:%lld: %s", what, run->conf->host,
                            (long long)run->conf->port, uv_strerror(err));
        health_run_done(run);
    }
    close_tcp(t);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    tcp_t *t = h->data;
    (void)suggested;
    if (t->rlen + 1 >= sizeof(t->rbuf)) {
        /* Keep the newest half: an expected string may still arrive. */
        memmove(t->rbuf, t->rbuf + sizeof(t->rbuf) / 2, t->rlen - sizeof(t->rbuf) / 2);
        t->rlen -= sizeof(t->rbuf) / 2;
    }
    b->base = t->rbuf + t->rlen;
    b->len = sizeof(t->rbuf) - 1 - t->rlen;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    tcp_t *t = s->data;
    (void)b;
    health_run_t *run = t->run;
    if (n > 0) {
        t->rlen += (size_t)n;
        t->rbuf[t->rlen] = '\0';
        if (memmem(t->rbuf, t->rlen, run->conf->expect, strlen(run->conf->expect))) {
            uv_read_stop(s);
            health_result_detail(&run->result, "expect", "found");
            conclude(t);
        }
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(s);
    if (!run->done) {
        char got[64];
        size_t k = 0;
        for (size_t i = 0; i < t->rlen && k + 1 < sizeof(got); i++)
            got[k++] = (t->rbuf[i] >= 0x20 && t->rbuf[i] < 0x7f) ? t->rbuf[i] : '?';
        got[k] = '\0';
        health_result_raise(&run->result, HEALTH_CRITICAL,
                            "%s:%lld closed before \"%s\" was seen (got %zu bytes: \"%s\")",
                            run->conf->host, (long long)run->conf->port, run->conf->expect,
                            t->rlen, got);
        health_run_done(run);
    }
    close_tcp(t);
}

static void on_write(uv_write_t *w, int status)
{
    tcp_t *t = w->data;
    if (status < 0) {
        fail(t, "cannot send to", status);
        return;
    }
    if (!t->run->conf->expect)
        conclude(t);
}

static void on_connect(uv_connect_t *c, int status)
{
    tcp_t *t = c->data;
    health_run_t *run = t->run;
    if (status < 0) {
        fail(t, status == UV_ECANCELED ? "cancelled connecting to" : "cannot connect to", status);
        return;
    }
    if (run->done) {
        close_tcp(t);
        return;
    }
    t->connect_ms = (double)(health_run_mono_ns(run) - run->start_ns) / 1e6;
    health_result_detail(&run->result, "connect_ms", "%.3f", t->connect_ms);
    const health_check_conf_t *k = run->conf;
    if (k->expect)
        uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read);
    if (k->send) {
        uv_buf_t b = uv_buf_init(k->send, (unsigned)strlen(k->send));
        t->wr.data = t;
        int r = uv_write(&t->wr, (uv_stream_t *)&t->tcp, &b, 1, on_write);
        if (r < 0)
            fail(t, "cannot send to", r);
        return;
    }
    if (!k->expect)
        conclude(t);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    tcp_t *t = g->data;
    health_run_t *run = t->run;
    t->gai_pending = false;
    if (status < 0 || run->done) {
        if (!run->done) {
            health_result_raise(&run->result, HEALTH_CRITICAL, "cannot resolve %s: %s",
                                run->conf->host, uv_strerror(status));
            health_run_done(run);
        }
        uv_freeaddrinfo(res);
        maybe_release(t);
        return;
    }
    uv_tcp_init(run->loop, &t->tcp);
    t->tcp.data = t;
    t->tcp_inited = true;
    t->conn.data = t;
    int r = uv_tcp_connect(&t->conn, &t->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (r < 0)
        fail(t, "cannot connect to", r);
}

static int tcp_start(health_run_t *run)
{
    tcp_t *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->run = run;
    t->gai.data = t;
    char port[16];
    snprintf(port, sizeof(port), "%lld", (long long)run->conf->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int r = uv_getaddrinfo(run->loop, &t->gai, on_resolved, run->conf->host, port, &hints);
    if (r < 0) {
        free(t);
        return r;
    }
    t->gai_pending = true;
    health_run_ref(run);
    run->probe = t;
    return 0;
}

static void tcp_cancel(health_run_t *run)
{
    tcp_t *t = run->probe;
    if (!t)
        return;
    if (t->gai_pending)
        uv_cancel((uv_req_t *)&t->gai);
    close_tcp(t);
}

const health_probe_ops_t health_probe_tcp = { tcp_start, tcp_cancel };
