/* libuv/NNG/curl/SQLite adapter for the collector: sockets and timers feed
 * the socket-free parts (statsd.c, scrape.c, sysmetrics.c, collector.c,
 * history.c) with data and the time. */
#include "collector_io.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector.h"
#include "collector_config.h"
#include "history.h"
#include "mm_build.h"
#include "mm_curl.h"
#include "mm_db.h"
#include "mm_err.h"
#include "mm_log.h"
#include "scrape.h"
#include "statsd.h"
#include "sysmetrics.h"

#define UDP_BATCH 64
#define UDP_ROUNDS 64           /* batches per wakeup, so timers still run under flood */

typedef struct scrape_slot scrape_slot_t;
struct scrape_slot {
    collector_io_t *io;
    scrape_target_t t;
    char *url;
    int64_t interval_ms, timeout_ms;
    uv_timer_t timer;
    CURL *easy;
    char *body;
    size_t len, cap, max;
    bool too_big;
    int64_t started_ns;
    int last_up;                /* -1 unknown */
    bool closing;
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    collector_io_t *io;
} curl_sock_t;

struct collector_io {
    mm_service_t *svc;
    uv_loop_t *loop;
    const mm_clock_t *clock;
    collector_config_t *cfg;
    mm_db_t *db;
    history_t *hist;
    collector_t *core;
    collector_statsd_t *statsd;
    collector_sysmetrics_t *sys;
    uv_poll_t *udp;             /* heap: a reload closes it while opening the next */
    int udp_fd;
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    char *bufs;
    size_t buf_size;
    int rcvbuf;
    uv_timer_t tick, flush, system, state;
    CURLM *multi;
    uv_timer_t curl_timer;
    scrape_slot_t **slots;
    size_t n_slots;
    uv_work_t work;             /* the history commit running on a worker thread */
    history_job_t *job;
    int64_t job_started_ns;
    int closing;                /* handles still closing */
    bool started, stopping;
    bool curl_timer_open;
};

static collector_io_t instance;

collector_io_t *collector_io_instance(void) { return &instance; }

static int64_t now_ms(collector_io_t *io) { return mm_clock_now_ms(io->clock); }

/* ---- config ---- */

int collector_io_config_load(const mm_config_t *cfg, void **ret_own, mm_diag_t *d)
{
    collector_config_t *c;
    int r = collector_config_load(cfg, &c, d);
    if (r == 0)
        *ret_own = c;
    return r;
}

void collector_io_config_free(void *own) { collector_config_free(own); }

/* ---- bus ---- */

static int on_publish(void *data, const char *topic, Mm__Envelope *env)
{
    collector_io_t *io = data;
    return mm_service_publish(io->svc, topic, env);
}

void collector_io_on_message(mm_service_t *svc, const char *topic, const Mm__Envelope *env)
{
    collector_io_t *io = mm_service_data(svc);
    if (!io->core)
        return;
    if (strcmp(topic, "metric.ingest") == 0 && env->payload_case == MM__ENVELOPE__PAYLOAD_METRICS) {
        collector_ingest(io->core, env->metrics, now_ms(io));
        return;
    }
    if (env->payload_case != MM__ENVELOPE__PAYLOAD_COMMAND)
        return;
    if (strcmp(topic, "cmd.collector") != 0 && strncmp(topic, "cmd.collector.", 14) != 0)
        return;
    collector_command(io->core, env->command, now_ms(io));
}

/* ---- StatsD over UDP ---- */

static void on_udp(uv_poll_t *h, int status, int events)
{
    collector_io_t *io = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < UDP_ROUNDS; round++) {
        for (int i = 0; i < UDP_BATCH; i++)
            io->msgs[i].msg_hdr.msg_flags = 0;
        int n = recvmmsg(io->udp_fd, io->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        int64_t t = now_ms(io);
        for (int i = 0; i < n; i++) {
            if (io->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                collector_statsd_note_oversized(io->statsd);
            else
                collector_statsd_ingest(io->statsd, io->iov[i].iov_base, io->msgs[i].msg_len, t);
        }
        if (n < UDP_BATCH)
            break;
    }
}

static int udp_open(collector_io_t *io)
{
    const char *listen = io->cfg->statsd.listen;
    if (!listen[0] || strcmp(listen, "off") == 0)
        return 0;
    char host[256], port[16];
    int p;
    if (collector_config_split_hostport(listen, host, sizeof host, &p) < 0)
        return -EINVAL;
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    /* Resolving happens once at start (or reload); a name that needs DNS
     * blocks here briefly, before the loop carries traffic. */
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -EADDRNOTAVAIL;
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return -errno;
    }
    /* A big receive buffer is what keeps bursts from being dropped
     * (PLATFORM.md §4d): FORCE needs CAP_NET_ADMIN, else the kernel caps
     * SO_RCVBUF at net.core.rmem_max. */
    int want = (int)io->cfg->statsd.receive_buffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    socklen_t sl = sizeof io->rcvbuf;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &io->rcvbuf, &sl);
    int r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
    freeaddrinfo(ai);
    if (r < 0) {
        close(fd);
        return r;
    }
    io->buf_size = (size_t)io->cfg->statsd.max_packet;
    io->bufs = malloc(UDP_BATCH * io->buf_size);
    if (!io->bufs) {
        close(fd);
        return -ENOMEM;
    }
    memset(io->msgs, 0, sizeof io->msgs);
    for (int i = 0; i < UDP_BATCH; i++) {
        io->iov[i].iov_base = io->bufs + (size_t)i * io->buf_size;
        io->iov[i].iov_len = io->buf_size;
        io->msgs[i].msg_hdr.msg_iov = &io->iov[i];
        io->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    io->udp = malloc(sizeof *io->udp);
    if (!io->udp || (r = uv_poll_init(io->loop, io->udp, fd)) < 0) {
        free(io->udp);
        io->udp = NULL;
        close(fd);
        free(io->bufs);
        io->bufs = NULL;
        return r < 0 ? r : -ENOMEM;
    }
    io->udp_fd = fd;
    io->udp->data = io;
    uv_poll_start(io->udp, UV_READABLE, on_udp);
    if (io->rcvbuf < want)
        mm_log_warn("MM-COLLECTOR-RCVBUF", "UDP receive buffer is %d bytes, not the %d asked for: raise "
                    "net.core.rmem_max (or run with CAP_NET_ADMIN) to avoid drops under bursts",
                    io->rcvbuf, want);
    mm_log_info("MM-COLLECTOR-STATSD", "StatsD listening on udp %s (receive buffer %d bytes)", listen, io->rcvbuf);
    return 0;
}

static void on_close_count(uv_handle_t *h);

static void on_udp_closed(uv_handle_t *h)
{
    free(h);
    on_close_count(NULL);
}

/* Stops and closes the StatsD socket at once (so a reload can bind the same
 * port again); the poll handle itself is released asynchronously. */
static void udp_close(collector_io_t *io)
{
    if (!io->udp)
        return;
    uv_poll_stop(io->udp);
    close(io->udp_fd);
    io->udp_fd = -1;
    io->closing++;
    uv_close((uv_handle_t *)io->udp, on_udp_closed);
    io->udp = NULL;
    free(io->bufs);
    io->bufs = NULL;
}

/* ---- scrapes: libcurl multi on libuv ---- */

static void check_multi(collector_io_t *io);

static void on_curl_poll(uv_poll_t *h, int status, int events)
{
    curl_sock_t *cs = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    mm_curl.multi_socket_action(cs->io->multi, cs->fd, flags, &running);
    check_multi(cs->io);
}

static void on_curl_sock_closed(uv_handle_t *h) { free(h->data); }

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    collector_io_t *io = userp;
    curl_sock_t *cs = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            uv_poll_stop(&cs->poll);
            uv_close((uv_handle_t *)&cs->poll, on_curl_sock_closed);
            mm_curl.multi_assign(io->multi, fd, NULL);
        }
        return 0;
    }
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return -1;
        cs->fd = fd;
        cs->io = io;
        if (uv_poll_init_socket(io->loop, &cs->poll, fd) < 0) {
            free(cs);
            return -1;
        }
        cs->poll.data = cs;
        mm_curl.multi_assign(io->multi, fd, cs);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&cs->poll, ev, on_curl_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    collector_io_t *io = t->data;
    int running;
    mm_curl.multi_socket_action(io->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi(io);
}

static int on_curl_timeout(CURLM *multi, long ms, void *userp)
{
    collector_io_t *io = userp;
    (void)multi;
    /* Only arm the timer here (PLATFORM.md §5): never call socket_action. */
    if (ms < 0)
        uv_timer_stop(&io->curl_timer);
    else
        uv_timer_start(&io->curl_timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    scrape_slot_t *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n > s->max) {
        s->too_big = true;
        return 0;   /* aborts the transfer */
    }
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 65536;
        while (nc < s->len + n + 1)
            nc *= 2;
        char *nb = realloc(s->body, nc);
        if (!nb)
            return 0;
        s->body = nb;
        s->cap = nc;
    }
    memcpy(s->body + s->len, ptr, n);
    s->len += n;
    return n;
}

/* Applies one scrape's outcome (error NULL: the body is good) and logs
 * when the target goes up or down. */
static void scrape_result(scrape_slot_t *s, const char *error)
{
    collector_io_t *io = s->io;
    double dur = (double)(mm_clock_mono_ns(io->clock) - s->started_ns) / 1e9;
    int up = collector_scrape_apply(&s->t, s->body ? s->body : "", s->len, error, dur, now_ms(io),
                                    collector_sink(io->core));
    if (up != s->last_up) {
        if (up)
            mm_log_info("MM-COLLECTOR-SCRAPE-UP", "scrape of %s (job %s) works", s->url, s->t.job);
        else
            mm_log_warn("MM-COLLECTOR-SCRAPE-DOWN", "scrape of %s (job %s) failed: %s", s->url, s->t.job,
                        s->t.last_error);
        s->last_up = up;
    }
    s->len = 0;
    s->too_big = false;
}

static void scrape_done(scrape_slot_t *s, CURLcode code)
{
    collector_io_t *io = s->io;
    char err[256];
    const char *error = NULL;
    long status = 0;
    mm_curl.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (s->too_big) {
        snprintf(err, sizeof err, "response larger than %zu bytes", s->max);
        error = err;
    } else if (code != CURLE_OK) {
        snprintf(err, sizeof err, "%s", mm_curl.easy_strerror(code));
        error = err;
    } else if (status != 200) {
        snprintf(err, sizeof err, "HTTP status %ld", status);
        error = err;
    }
    scrape_result(s, error);
    mm_curl.multi_remove_handle(io->multi, s->easy);
    mm_curl.easy_cleanup(s->easy);
    s->easy = NULL;
}

static void check_multi(collector_io_t *io)
{
    CURLMsg *m;
    int left;
    while ((m = mm_curl.multi_info_read(io->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        scrape_slot_t *s;
        mm_curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        scrape_done(s, m->data.result);
    }
}

/* The curl multi handle, made (and libcurl loaded) for the first scrape. */
static int multi_open(collector_io_t *io, char *err, size_t errcap)
{
    int r = mm_curl_load(err, errcap);
    if (r < 0)
        return r;
    if (!(io->multi = mm_curl.multi_init())) {
        snprintf(err, errcap, "cannot create a curl multi handle");
        return -ENOMEM;
    }
    mm_curl.multi_setopt(io->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    mm_curl.multi_setopt(io->multi, CURLMOPT_SOCKETDATA, io);
    mm_curl.multi_setopt(io->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    mm_curl.multi_setopt(io->multi, CURLMOPT_TIMERDATA, io);
    mm_curl.multi_setopt(io->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);
    return 0;
}

static void on_scrape_timer(uv_timer_t *t)
{
    scrape_slot_t *s = t->data;
    collector_io_t *io = s->io;
    if (s->easy)
        return;     /* the last one is still running (its timeout ends it) */
    char err[256];
    if (!io->multi && multi_open(io, err, sizeof err) < 0) {
        s->started_ns = mm_clock_mono_ns(io->clock);
        scrape_result(s, err);
        return;
    }
    s->easy = mm_curl.easy_init();
    if (!s->easy)
        return;
    mm_curl.easy_setopt(s->easy, CURLOPT_URL, s->url);
    mm_curl.easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    mm_curl.easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    mm_curl.easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    mm_curl.easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    mm_curl.easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    mm_curl.easy_setopt(s->easy, CURLOPT_ACCEPT_ENCODING, "");
    mm_curl.easy_setopt(s->easy, CURLOPT_USERAGENT, "memmon-collector/" MM_VERSION);
    mm_curl.easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    s->started_ns = mm_clock_mono_ns(io->clock);
    mm_curl.multi_add_handle(io->multi, s->easy);
}

static void on_slot_closed(uv_handle_t *h)
{
    scrape_slot_t *s = h->data;
    collector_io_t *io = s->io;
    collector_scrape_target_fini(&s->t);
    free(s->url);
    free(s->body);
    free(s);
    (void)io;
    on_close_count(NULL);
}

static void slot_close(scrape_slot_t *s, bool end_series)
{
    collector_io_t *io = s->io;
    if (s->easy) {
        mm_curl.multi_remove_handle(io->multi, s->easy);
        mm_curl.easy_cleanup(s->easy);
        s->easy = NULL;
    }
    if (end_series && io->core)
        collector_scrape_target_end(&s->t, now_ms(io), collector_sink(io->core));
    uv_timer_stop(&s->timer);
    io->closing++;
    uv_close((uv_handle_t *)&s->timer, on_slot_closed);
}

/* Builds the slots of cfg, taking over the scrape state of a slot in old
 * with the same job and instance (so its series do not flap on reload). */
static int slots_build(collector_io_t *io, const collector_config_t *cfg, scrape_slot_t ***ret, size_t *ret_n,
                       scrape_slot_t **old, size_t n_old)
{
    size_t n = cfg->scrape.targets.n;
    scrape_slot_t **slots = calloc(n ? n : 1, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const collector_target_t *tg = &cfg->scrape.targets.v[i];
        scrape_slot_t *s = calloc(1, sizeof *s);
        if (!s)
            goto fail;
        slots[i] = s;
        s->io = io;
        s->last_up = -1;
        s->url = strdup(tg->url);
        s->interval_ms = tg->interval_ms ? tg->interval_ms : cfg->scrape.interval_ms;
        s->timeout_ms = tg->timeout_ms ? tg->timeout_ms : cfg->scrape.timeout_ms;
        if (s->timeout_ms > s->interval_ms)
            s->timeout_ms = s->interval_ms;
        s->max = (size_t)cfg->scrape.max_body;
        if (!s->url || collector_scrape_target_init(&s->t, tg->job, tg->instance, (size_t)cfg->scrape.max_samples) < 0)
            goto fail;
        for (size_t j = 0; j < n_old; j++) {
            scrape_slot_t *o = old[j];
            if (o && strcmp(o->t.job, tg->job) == 0 && strcmp(o->t.instance, tg->instance) == 0) {
                /* Move the previous scrape's series set into the new slot. */
                free(s->t.fps);
                s->t.fps = o->t.fps;
                s->t.n_fps = o->t.n_fps;
                o->t.fps = NULL;
                o->t.n_fps = 0;
                s->last_up = o->last_up;
                old[j]->closing = true;     /* marks "taken over" */
            }
        }
        uv_timer_init(io->loop, &s->timer);
        s->timer.data = s;
        /* Spread first scrapes over the first second. */
        uv_timer_start(&s->timer, on_scrape_timer, (uint64_t)(i * 97 % 1000), (uint64_t)s->interval_ms);
    }
    *ret = slots;
    *ret_n = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++) {
        if (slots[i] && slots[i]->timer.data) {
            slot_close(slots[i], false);
        } else if (slots[i]) {
            collector_scrape_target_fini(&slots[i]->t);
            free(slots[i]->url);
            free(slots[i]);
        }
    }
    free(slots);
    return -ENOMEM;
}

/* ---- timers ---- */

static void emit_io_self(collector_io_t *io, int64_t t)
{
    collector_sink_t *sink = collector_sink(io->core);
    /* The receive buffer comes last: it is left out without a StatsD socket. */
    const collector_self_t rows[] = {
        {COLLECTOR_GAUGE, "memmon_collector_scrape_targets", "Configured scrape targets",
         (double)io->n_slots},
        {COLLECTOR_GAUGE, "memmon_collector_udp_receive_buffer_bytes",
         "The StatsD socket's receive buffer as granted by the kernel", io->rcvbuf},
    };
    collector_emit_rows(sink, t, rows, io->udp ? 2 : 1);
}

/* Warns when one piece of work held the loop long enough to risk UDP drops. */
static void note_slow(collector_io_t *io, const char *what, int64_t start_ns)
{
    double ms = (double)(mm_clock_mono_ns(io->clock) - start_ns) / 1e6;
    if (ms >= 250)
        mm_log_warn("MM-COLLECTOR-SLOW", "%s held the loop for %.0f ms", what, ms);
    else if (ms >= 20)
        mm_log_debug("MM-COLLECTOR-SLOW", "%s took %.1f ms", what, ms);
}

static void on_flush(uv_timer_t *t)
{
    collector_io_t *io = t->data;
    int64_t now = now_ms(io);
    int64_t t0 = mm_clock_mono_ns(io->clock);
    collector_statsd_flush(io->statsd, now, collector_sink(io->core));
    collector_emit_self(io->core, now);
    if (io->hist)
        collector_history_emit_self(io->hist, now, collector_sink(io->core));
    emit_io_self(io, now);
    note_slow(io, "the StatsD flush", t0);
}

static void on_system(uv_timer_t *t)
{
    collector_io_t *io = t->data;
    int64_t t0 = mm_clock_mono_ns(io->clock);
    int r = collector_sysmetrics_collect(io->sys, now_ms(io), collector_sink(io->core));
    note_slow(io, "system metrics", t0);
    static int last_err;
    if (r < 0 && r != last_err)
        mm_log_warn("MM-COLLECTOR-PROCFS", "reading %s: %s", io->cfg->system.proc_root, mm_strerror(r));
    last_err = r;
}

static void release_all(collector_io_t *io);

static void on_job_run(uv_work_t *w)
{
    collector_io_t *io = w->data;
    /* The history writer yields to the loop (UDP draining) when both want
     * the same core: Linux takes a nice value per thread. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    collector_history_job_run(io->hist, io->job);
}

static void on_job_done(uv_work_t *w, int status)
{
    collector_io_t *io = w->data;
    (void)status;
    history_job_t *j = io->job;
    io->job = NULL;
    int r = collector_history_job_finish(io->hist, j);
    static int last_err;
    if (r < 0 && r != last_err)
        mm_log_err("MM-COLLECTOR-HISTORY-FAIL", "history commit failed (will retry): %s", mm_strerror(r));
    last_err = r;
    double ms = (double)(mm_clock_mono_ns(io->clock) - io->job_started_ns) / 1e6;
    mm_log_debug("MM-COLLECTOR-HISTORY-COMMIT", "history commit took %.0f ms (worker thread)", ms);
    if (io->stopping && io->closing == 0)
        release_all(io);
}

static void on_tick(uv_timer_t *t)
{
    collector_io_t *io = t->data;
    int64_t now = now_ms(io);
    collector_tick(io->core, now);
    bool cleanup;
    if (io->hist && !io->job && collector_history_due(io->hist, now, &cleanup)) {
        /* Taking the rows is quick; writing them runs on a worker thread so
         * the loop keeps draining the UDP socket. */
        int64_t t0 = mm_clock_mono_ns(io->clock);
        io->job = collector_history_job_prepare(io->hist, now, cleanup);
        note_slow(io, "preparing the history commit", t0);
        if (io->job) {
            io->job_started_ns = mm_clock_mono_ns(io->clock);
            io->work.data = io;
            if (uv_queue_work(io->loop, &io->work, on_job_run, on_job_done) < 0) {
                collector_history_job_run(io->hist, io->job);
                on_job_done(&io->work, 0);
            }
        }
    }
}

static void on_state(uv_timer_t *t)
{
    collector_io_t *io = t->data;
    int64_t now = now_ms(io);
    int64_t t0 = mm_clock_mono_ns(io->clock);
    collector_flush(io->core, now);
    collector_publish_state(io->core, now, (uint64_t)now);
    note_slow(io, "the state republish", t0);
}

static void on_sqlite_log(void *data, int code, const char *msg)
{
    (void)data;
    mm_log_warn("MM-SQLITE", "sqlite %d: %s", code, msg);
}

static collector_statsd_t *statsd_from(const collector_config_t *cfg)
{
    statsd_buckets_t rules[64];
    size_t n = cfg->statsd.buckets.n < 64 ? cfg->statsd.buckets.n : 64;
    for (size_t i = 0; i < n; i++)
        rules[i] = (statsd_buckets_t){cfg->statsd.buckets.rules[i].match, cfg->statsd.buckets.rules[i].le,
                                      cfg->statsd.buckets.rules[i].n_le};
    statsd_opts_t so = {
        .max_series = (size_t)cfg->statsd.max_series,
        .max_series_per_name = (size_t)cfg->statsd.max_series_per_name,
        .ttl_ms = cfg->statsd.ttl_ms,
        .buckets = rules,
        .n_buckets = n,
        .default_bounds = cfg->statsd.default_buckets.v,
        .n_default_bounds = cfg->statsd.default_buckets.n,
        .source = cfg->statsd.listen,
    };
    return collector_statsd_new(&so);
}

static int sys_from(collector_io_t *io, const collector_config_t *cfg)
{
    mm_procfs_t p;
    int r = mm_procfs_init(&p, cfg->system.proc_root, cfg->system.sys_root, cfg->system.rootfs);
    if (r < 0)
        return r;
    collector_sysmetrics_t *sys = collector_sysmetrics_new(&p, cfg->system.process_pattern);
    if (!sys)
        return -ENOMEM;
    collector_sysmetrics_free(io->sys);
    io->sys = sys;
    return 0;
}

int collector_io_start(mm_service_t *svc, void *own)
{
    collector_io_t *io = mm_service_data(svc);
    const mm_config_t *mc = mm_service_config(svc);
    memset(io, 0, sizeof *io);
    io->svc = svc;
    io->loop = mm_service_loop(svc);
    io->clock = mm_service_clock(svc);
    io->cfg = own;
    io->udp_fd = -1;
    int r;

    if (io->cfg->history.enabled) {
        mm_db_set_log(on_sqlite_log, NULL);
        char path[4096];
        snprintf(path, sizeof path, "%s/collector.db", mc->data_dir);
        if ((r = mm_db_new(path, 0, &io->db)) < 0) {
            mm_log_err("MM-COLLECTOR-DB-FAIL", "cannot open %s: %s", path, mm_strerror(r));
            return r;
        }
        history_opts_t ho = {
            .n_tiers = io->cfg->history.tiers.n,
            .chunk_ms = io->cfg->history.chunk_ms,
            .commit_ms = io->cfg->history.commit_ms,
            .cleanup_ms = io->cfg->history.cleanup_ms,
            .max_series = (size_t)io->cfg->history.max_series,
        };
        memcpy(ho.tiers, io->cfg->history.tiers.v, sizeof ho.tiers);
        if ((r = collector_history_new(io->db, &ho, &io->hist)) < 0) {
            mm_log_err("MM-COLLECTOR-DB-FAIL", "cannot use %s: %s", path, mm_strerror(r));
            goto fail;
        }
        mm_log_info("MM-COLLECTOR-HISTORY", "history in %s (%zu tiers)", path, ho.n_tiers);
    }
    collector_opts_t co = {
        .batch_max_bytes = (size_t)io->cfg->publish.batch_max_bytes,
        .batch_max_age_ms = io->cfg->publish.batch_interval_ms,
        .max_series = (size_t)io->cfg->publish.max_series,
        .history = io->hist,
        .publish = on_publish,
        .data = io,
    };
    r = -ENOMEM;
    if (!(io->core = collector_new(&co)) || !(io->statsd = statsd_from(io->cfg)))
        goto fail;
    if ((r = sys_from(io, io->cfg)) < 0)
        goto fail;
    if ((r = udp_open(io)) < 0) {
        mm_log_err("MM-COLLECTOR-STATSD-FAIL", "cannot listen on udp %s: %s", io->cfg->statsd.listen, mm_strerror(r));
        goto fail;
    }
    uv_timer_init(io->loop, &io->curl_timer);
    io->curl_timer.data = io;
    io->curl_timer_open = true;
    if ((r = slots_build(io, io->cfg, &io->slots, &io->n_slots, NULL, 0)) < 0)
        goto fail;

    uv_timer_t *timers[] = {&io->tick, &io->flush, &io->system, &io->state};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(io->loop, timers[i]);
        timers[i]->data = io;
    }
    uint64_t batch = (uint64_t)io->cfg->publish.batch_interval_ms;
    uv_timer_start(&io->tick, on_tick, batch, batch);
    uv_timer_start(&io->flush, on_flush, (uint64_t)io->cfg->statsd.flush_ms, (uint64_t)io->cfg->statsd.flush_ms);
    if (io->cfg->system.enabled)
        uv_timer_start(&io->system, on_system, 0, (uint64_t)io->cfg->system.interval_ms);
    uv_timer_start(&io->state, on_state, (uint64_t)mc->state_ms, (uint64_t)mc->state_ms);
    io->started = true;
    return 0;
fail:
    /* Nothing is running yet but the handles opened so far; stop closes them. */
    collector_io_stop(svc);
    return r;
}

static void release_all(collector_io_t *io)
{
    free(io->slots);
    io->slots = NULL;
    io->n_slots = 0;
    if (io->multi)
        mm_curl.multi_cleanup(io->multi);
    io->multi = NULL;
    collector_sysmetrics_free(io->sys);
    io->sys = NULL;
    collector_statsd_free(io->statsd);
    io->statsd = NULL;
    collector_free(io->core);
    io->core = NULL;
    collector_history_free(io->hist);
    io->hist = NULL;
    mm_db_free(io->db);
    io->db = NULL;
}

static void on_close_count(uv_handle_t *h)
{
    (void)h;
    collector_io_t *io = &instance;
    /* Outside of a stop (a reload closing old handles) only count; during
     * one, a commit still running on a worker releases at its end. */
    if (--io->closing > 0 || !io->stopping || io->job)
        return;
    release_all(io);
}

void collector_io_stop(mm_service_t *svc)
{
    collector_io_t *io = mm_service_data(svc);
    int64_t now = now_ms(io);
    /* Publish and commit what we have, so a graceful stop loses nothing. */
    if (io->core && io->statsd)
        collector_statsd_flush(io->statsd, now, collector_sink(io->core));
    if (io->core)
        collector_flush(io->core, now);
    if (io->hist) {
        int r = collector_history_commit(io->hist, now);
        if (r < 0)
            mm_log_err("MM-COLLECTOR-HISTORY-FAIL", "final history commit failed: %s", mm_strerror(r));
    }
    if (io->statsd) {
        statsd_stats_t ss;
        collector_statsd_stats(io->statsd, &ss);
        mm_log_info("MM-COLLECTOR-STATS", "statsd packets=%llu lines=%llu samples=%llu parse_errors=%llu series=%zu",
                    (unsigned long long)ss.packets, (unsigned long long)ss.lines, (unsigned long long)ss.samples,
                    (unsigned long long)ss.parse_errors, ss.series);
    }
    /* One extra count, released below, so resources are freed only after
     * every close callback (and at once when there is nothing to close). */
    io->closing++;
    io->stopping = true;
    udp_close(io);
    for (size_t i = 0; i < io->n_slots; i++)
        if (io->slots[i])
            slot_close(io->slots[i], false);
    if (io->started) {
        uv_timer_t *timers[] = {&io->tick, &io->flush, &io->system, &io->state, &io->curl_timer};
        for (size_t i = 0; i < 5; i++) {
            uv_timer_stop(timers[i]);
            io->closing++;
            uv_close((uv_handle_t *)timers[i], on_close_count);
        }
    } else if (io->curl_timer_open) {
        uv_timer_stop(&io->curl_timer);
        io->closing++;
        uv_close((uv_handle_t *)&io->curl_timer, on_close_count);
    }
    io->started = false;
    io->curl_timer_open = false;
    on_close_count(NULL);
}

int collector_io_reload(mm_service_t *svc, void *new_own, mm_diag_t *d)
{
    collector_io_t *io = mm_service_data(svc);
    collector_config_t *nc = new_own;
    const collector_config_t *oc = io->cfg;
    int64_t now = now_ms(io);
    (void)d;
    /* StatsD: a new listen address reopens the socket; new buckets take a
     * new aggregator (its counters start over); limits apply in place. */
    bool same_listen = strcmp(oc->statsd.listen, nc->statsd.listen) == 0 &&
                       oc->statsd.receive_buffer == nc->statsd.receive_buffer &&
                       oc->statsd.max_packet == nc->statsd.max_packet;
    bool same_buckets = oc->statsd.buckets.n == nc->statsd.buckets.n &&
                        oc->statsd.default_buckets.n == nc->statsd.default_buckets.n &&
                        memcmp(oc->statsd.default_buckets.v, nc->statsd.default_buckets.v,
                               nc->statsd.default_buckets.n * sizeof(double)) == 0;
    for (size_t i = 0; same_buckets && i < nc->statsd.buckets.n; i++) {
        const collector_bucket_rule_t *a = &oc->statsd.buckets.rules[i], *b = &nc->statsd.buckets.rules[i];
        same_buckets = strcmp(a->match, b->match) == 0 && a->n_le == b->n_le &&
                       memcmp(a->le, b->le, a->n_le * sizeof(double)) == 0;
    }
    if (!same_buckets || !same_listen) {
        collector_statsd_t *ns = statsd_from(nc);
        if (!ns)
            return -ENOMEM;
        collector_statsd_flush(io->statsd, now, collector_sink(io->core));
        collector_statsd_free(io->statsd);
        io->statsd = ns;
    } else {
        collector_statsd_set_limits(io->statsd, (size_t)nc->statsd.max_series, (size_t)nc->statsd.max_series_per_name,
                                    nc->statsd.ttl_ms);
    }
    if (!same_listen) {
        /* Close the old socket first: the new one may take the same port. */
        udp_close(io);
        io->cfg = nc;
        int r = udp_open(io);
        if (r < 0) {
            mm_log_err("MM-COLLECTOR-STATSD-FAIL", "cannot listen on udp %s: %s", nc->statsd.listen, mm_strerror(r));
            io->cfg = (collector_config_t *)oc;
            udp_open(io);
            return mm_diag_set(d, MM_ECONFIG, nc->file, 0, 0, "statsd listen %s: %s", nc->statsd.listen,
                               mm_strerror(r));
        }
    }
    /* Scrapes: rebuild, carrying each kept target's series over. */
    scrape_slot_t **slots;
    size_t n;
    if (slots_build(io, nc, &slots, &n, io->slots, io->n_slots) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < io->n_slots; i++) {
        bool taken = io->slots[i]->closing;
        slot_close(io->slots[i], !taken);
    }
    free(io->slots);
    io->slots = slots;
    io->n_slots = n;
    /* System metrics. */
    sys_from(io, nc);
    uv_timer_stop(&io->system);
    if (nc->system.enabled)
        uv_timer_start(&io->system, on_system, 0, (uint64_t)nc->system.interval_ms);
    uv_timer_set_repeat(&io->flush, (uint64_t)nc->statsd.flush_ms);
    if (memcmp(&oc->history.tiers, &nc->history.tiers, sizeof nc->history.tiers) != 0)
        mm_log_notice("MM-COLLECTOR-RELOAD", "history tiers change at the next restart");
    io->cfg = nc;
    return 0;
}
