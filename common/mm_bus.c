/* The bus client: NNG pub/sub sockets, RECVFD polled by libuv, envelope
 * stamping, and sequence-gap accounting. */
#include "mm_bus.h"

#include "mm_config.h"
#include "mm_log.h"
#include "mm_map.h"

#include <errno.h>
#include <pthread.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TOPIC_MAX 64
#define QUEUE_LEN 8192
#define POLL_BATCH 512
#define MAX_FAMILIES 16

typedef struct {
    char name[16];
    uint64_t seq;
} family_seq_t;

struct mm_bus {
    uv_loop_t *loop;
    nng_socket pub;
    nng_socket sub;
    bool has_sub;
    bool polling;
    uv_poll_t poll;
    char *service;
    char *instance;
    uint64_t boot_id;
    size_t recv_max;
    family_seq_t families[MAX_FAMILIES];
    size_t n_families;
    mm_seqtrack_t *track;
    mm_bus_stats_t stats;
    mm_bus_on_message_cb cb;
    void *data;
};

static int map_nng(int rv)
{
    switch (rv) {
    case 0: return 0;
    case NNG_ENOMEM: return -ENOMEM;
    case NNG_EINVAL: return -EINVAL;
    case NNG_EADDRINUSE: return -EADDRINUSE;
    case NNG_EADDRINVAL: return -EINVAL;
    case NNG_ENOTSUP: return -ENOTSUP;
    case NNG_ECONNREFUSED: return -ECONNREFUSED;
    case NNG_EAGAIN: return -EAGAIN;
    case NNG_EMSGSIZE: return -EMSGSIZE;
    case NNG_ECLOSED: return -EBADF;
    case NNG_EPERM: return -EPERM;
    default: return -EIO;
    }
}

static bool topic_valid(const char *t, size_t len)
{
    if (len == 0 || len > TOPIC_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int mm_bus_encode(const char *topic, const Mm__Envelope *env, uint8_t **ret_buf, size_t *ret_len)
{
    size_t tlen = strlen(topic);
    if (!topic_valid(topic, tlen))
        return -EINVAL;
    size_t plen = mm__envelope__get_packed_size(env);
    uint8_t *buf = malloc(tlen + 1 + plen);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, topic, tlen);
    buf[tlen] = '\0';
    mm__envelope__pack(env, buf + tlen + 1);
    *ret_buf = buf;
    *ret_len = tlen + 1 + plen;
    return 0;
}

int mm_bus_frame_topic_len(const uint8_t *buf, size_t len)
{
    size_t max = len < TOPIC_MAX + 1 ? len : TOPIC_MAX + 1;
    const uint8_t *nul = memchr(buf, '\0', max);
    if (!nul)
        return -EBADMSG;
    size_t tlen = (size_t)(nul - buf);
    if (!topic_valid((const char *)buf, tlen))
        return -EBADMSG;
    return (int)tlen;
}

int mm_bus_decode(const uint8_t *buf, size_t len, const char **ret_topic, Mm__Envelope **ret_env)
{
    int tlen = mm_bus_frame_topic_len(buf, len);
    if (tlen < 0)
        return tlen;
    Mm__Envelope *env = mm__envelope__unpack(NULL, len - (size_t)tlen - 1, buf + tlen + 1);
    if (!env)
        return -EBADMSG;
    *ret_topic = (const char *)buf;
    *ret_env = env;
    return 0;
}

/* ---- addresses ---- */

static int read_file(const char *path, char **ret)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *buf = malloc(65537);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, 65536, f);
    fclose(f);
    buf[n] = '\0';
    *ret = buf;
    return 0;
}

static int tls_setup(nng_tls_config **ret, const mm_bus_tls_t *tls, bool server)
{
    nng_tls_config *cfg;
    int r = map_nng(nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT));
    if (r < 0)
        return r;
    if (tls && tls->ca_file) {
        if ((r = map_nng(nng_tls_config_ca_file(cfg, tls->ca_file))) < 0)
            goto fail;
        nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    } else {
        nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
    }
    if (tls && tls->cert_file && tls->key_file) {
        char *cert = NULL, *key = NULL;
        if ((r = read_file(tls->cert_file, &cert)) < 0)
            goto fail;
        if ((r = read_file(tls->key_file, &key)) < 0) {
            free(cert);
            goto fail;
        }
        r = map_nng(nng_tls_config_own_cert(cfg, cert, key, NULL));
        free(cert);
        free(key);
        if (r < 0)
            goto fail;
    } else if (server) {
        r = -EINVAL;
        goto fail;
    }
    *ret = cfg;
    return 0;
fail:
    nng_tls_config_free(cfg);
    return r;
}

int mm_bus_attach(void *nng_sock, const char *url, const mm_bus_tls_t *tls, bool listen)
{
    nng_socket sock = *(nng_socket *)nng_sock;
    int r = mm_config_bus_url_check(url);
    if (r < 0)
        return r;
    bool is_tls = strncmp(url, "tls+tcp://", 10) == 0;
    nng_tls_config *cfg = NULL;
    if (is_tls && (r = tls_setup(&cfg, tls, listen)) < 0)
        return r;
    if (listen) {
        nng_listener l;
        if ((r = map_nng(nng_listener_create(&l, sock, url))) < 0)
            goto out;
        if (cfg && (r = map_nng(nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg))) < 0)
            goto out;
        r = map_nng(nng_listener_start(l, 0));
    } else {
        nng_dialer dl;
        if ((r = map_nng(nng_dialer_create(&dl, sock, url))) < 0)
            goto out;
        if (cfg && (r = map_nng(nng_dialer_set_ptr(dl, NNG_OPT_TLS_CONFIG, cfg))) < 0)
            goto out;
        nng_dialer_set_ms(dl, NNG_OPT_RECONNMINT, 50);
        nng_dialer_set_ms(dl, NNG_OPT_RECONNMAXT, 1000);
        r = map_nng(nng_dialer_start(dl, NNG_FLAG_NONBLOCK));
    }
out:
    /* The endpoint holds its own reference to the TLS config. */
    if (cfg)
        nng_tls_config_free(cfg);
    return r;
}

/* ---- sequence tracking ---- */

typedef struct {
    uint64_t boot_id;
    uint64_t last_seq;
    size_t key_len;
    char key[];         /* instance "\0" family */
} track_entry_t;

typedef struct {
    const char *key;
    size_t len;
} track_key_t;

struct mm_seqtrack {
    mm_map_t streams;   /* hash(key) -> track_entry_t */
};

mm_seqtrack_t *mm_seqtrack_new(void)
{
    mm_seqtrack_t *t = calloc(1, sizeof *t);
    if (t)
        mm_map_init(&t->streams);
    return t;
}

void mm_seqtrack_free(mm_seqtrack_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->streams.cap; i++)
        free(t->streams.slots[i].v);
    mm_map_fini(&t->streams);
    free(t);
}

static bool track_eq(const void *v, const void *key)
{
    const track_entry_t *e = v;
    const track_key_t *k = key;
    return e->key_len == k->len && memcmp(e->key, k->key, k->len) == 0;
}

uint64_t mm_seqtrack_note(mm_seqtrack_t *t, const char *instance, uint64_t boot_id,
                          const char *family, uint64_t seq)
{
    char key[256];
    size_t il = strnlen(instance, 160), fl = strnlen(family, 64);
    memcpy(key, instance, il);
    key[il] = '\0';
    memcpy(key + il + 1, family, fl);
    track_key_t k = {key, il + 1 + fl};
    uint64_t h = mm_hash_bytes(key, k.len, 0);

    track_entry_t *e = mm_map_get(&t->streams, h, track_eq, &k);
    if (!e) {
        e = malloc(sizeof *e + k.len);
        if (!e)
            return 0;
        memcpy(e->key, key, k.len);
        e->key_len = k.len;
        e->boot_id = boot_id;
        e->last_seq = seq;
        if (mm_map_put(&t->streams, h, e) < 0)
            free(e);
        return 0;
    }
    if (e->boot_id != boot_id) {
        /* A restarted sender starts a new sequence: not a gap. */
        e->boot_id = boot_id;
        e->last_seq = seq;
        return 0;
    }
    if (seq <= e->last_seq)
        return 0;
    uint64_t missing = seq - e->last_seq - 1;
    e->last_seq = seq;
    return missing;
}

size_t mm_seqtrack_streams(const mm_seqtrack_t *t) { return t->streams.n; }

/* ---- the client ---- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    mm_bus_t *bus = h->data;
    (void)events;
    if (status < 0)
        return;
    /* RECVFD is level-triggered: take a bounded batch so the loop stays
     * responsive; libuv calls again while messages remain. */
    for (int i = 0; i < POLL_BATCH; i++) {
        nng_msg *msg;
        if (nng_recvmsg(bus->sub, &msg, NNG_FLAG_NONBLOCK) != 0)
            break;
        const char *topic;
        Mm__Envelope *env;
        if (mm_bus_decode(nng_msg_body(msg), nng_msg_len(msg), &topic, &env) < 0) {
            bus->stats.decode_errors++;
            nng_msg_free(msg);
            continue;
        }
        bus->stats.received++;
        if (env->instance && env->family)
            bus->stats.gaps += mm_seqtrack_note(bus->track, env->instance, env->boot_id,
                                                env->family, env->seq);
        bus->stats.senders = mm_seqtrack_streams(bus->track);
        if (bus->cb)
            bus->cb(bus, topic, env, bus->data);
        mm__envelope__free_unpacked(env, NULL);
        nng_msg_free(msg);
    }
}

int mm_bus_new(uv_loop_t *loop, const mm_bus_opts_t *opts, mm_bus_on_message_cb cb, void *data,
               mm_bus_t **ret_bus)
{
    if (!opts || !opts->pub_url || !opts->service || !opts->instance)
        return -EINVAL;
    mm_bus_t *bus = calloc(1, sizeof *bus);
    if (!bus)
        return -ENOMEM;
    bus->loop = loop;
    bus->cb = cb;
    bus->data = data;
    bus->recv_max = opts->recv_max_bytes ? opts->recv_max_bytes : (4u << 20);
    bus->service = strdup(opts->service);
    bus->instance = strdup(opts->instance);
    bus->track = mm_seqtrack_new();
    int r = -ENOMEM;
    if (!bus->service || !bus->instance || !bus->track)
        goto fail;
    if (getrandom(&bus->boot_id, sizeof bus->boot_id, 0) != sizeof bus->boot_id)
        bus->boot_id = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)bus;

    if ((r = map_nng(nng_pub0_open(&bus->pub))) < 0)
        goto fail;
    nng_socket_set_int(bus->pub, NNG_OPT_SENDBUF, QUEUE_LEN);
    if ((r = mm_bus_attach(&bus->pub, opts->pub_url, opts->tls, false)) < 0)
        goto fail_pub;

    if (opts->sub_url) {
        if ((r = map_nng(nng_sub0_open(&bus->sub))) < 0)
            goto fail_pub;
        bus->has_sub = true;
        nng_socket_set_int(bus->sub, NNG_OPT_RECVBUF, QUEUE_LEN);
        nng_socket_set_size(bus->sub, NNG_OPT_RECVMAXSZ, bus->recv_max);
        if ((r = mm_bus_attach(&bus->sub, opts->sub_url, opts->tls, false)) < 0)
            goto fail_sub;
        int fd;
        if ((r = map_nng(nng_socket_get_int(bus->sub, NNG_OPT_RECVFD, &fd))) < 0)
            goto fail_sub;
        if ((r = uv_poll_init(loop, &bus->poll, fd)) < 0)
            goto fail_sub;
        bus->poll.data = bus;
        bus->polling = true;
        uv_poll_start(&bus->poll, UV_READABLE, on_poll);
    }
    *ret_bus = bus;
    return 0;

fail_sub:
    nng_close(bus->sub);
    bus->has_sub = false;
fail_pub:
    nng_close(bus->pub);
fail:
    mm_seqtrack_free(bus->track);
    free(bus->service);
    free(bus->instance);
    free(bus);
    return r;
}

int mm_bus_subscribe(mm_bus_t *bus, const char *prefix)
{
    if (!bus->has_sub)
        return -ENOTSUP;
    return map_nng(nng_socket_set(bus->sub, NNG_OPT_SUB_SUBSCRIBE, prefix, strlen(prefix)));
}

static uint64_t next_seq(mm_bus_t *bus, const char *family)
{
    for (size_t i = 0; i < bus->n_families; i++) {
        if (strcmp(bus->families[i].name, family) == 0)
            return ++bus->families[i].seq;
    }
    if (bus->n_families == MAX_FAMILIES)
        return 0;
    family_seq_t *f = &bus->families[bus->n_families++];
    snprintf(f->name, sizeof f->name, "%s", family);
    return ++f->seq;
}

int mm_bus_publish(mm_bus_t *bus, const char *topic, Mm__Envelope *env)
{
    char family[16];
    size_t tlen = strlen(topic), flen = strcspn(topic, ".");
    if (!topic_valid(topic, tlen) || flen == 0 || flen >= sizeof family)
        return -EINVAL;
    memcpy(family, topic, flen);
    family[flen] = '\0';

    env->sender = bus->service;
    env->instance = bus->instance;
    env->boot_id = bus->boot_id;
    env->family = family;
    env->seq = next_seq(bus, family);
    if (env->time_ms == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        env->time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    size_t plen = mm__envelope__get_packed_size(env);
    int r = 0;
    if (tlen + 1 + plen > bus->recv_max) {
        r = -EMSGSIZE;
        goto out;
    }
    nng_msg *msg;
    if ((r = map_nng(nng_msg_alloc(&msg, tlen + 1 + plen))) < 0)
        goto out;
    uint8_t *body = nng_msg_body(msg);
    memcpy(body, topic, tlen + 1);
    mm__envelope__pack(env, body + tlen + 1);
    if ((r = map_nng(nng_sendmsg(bus->pub, msg, NNG_FLAG_NONBLOCK))) < 0) {
        nng_msg_free(msg);
        goto out;
    }
    bus->stats.sent++;
out:
    if (r < 0)
        bus->stats.send_errors++;
    /* The envelope's strings belong to the bus; don't leave them in the caller's struct. */
    env->sender = NULL;
    env->instance = NULL;
    env->family = NULL;
    return r;
}

void mm_bus_stats(const mm_bus_t *bus, mm_bus_stats_t *ret_stats) { *ret_stats = bus->stats; }
const char *mm_bus_instance(const mm_bus_t *bus) { return bus->instance; }
uint64_t mm_bus_boot_id(const mm_bus_t *bus) { return bus->boot_id; }

/* ---- closing sockets within a deadline ----
 * NNG 1.5.2's nng_close() can wait forever for a dialer or pipe that its
 * reaper never gets (nanomsg/nng#1543, seen here about once in 15 stops of
 * a freshly started service). Each close runs on its own thread; the caller
 * waits up to the deadline and then leaves the stragglers to process exit. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t left;        /* closes not yet returned */
    size_t refs;        /* the waiter plus one per running thread */
    nng_socket socks[];
} close_group_t;

typedef struct {
    close_group_t *g;
    size_t i;
} close_job_t;

static void close_group_unref(close_group_t *g)
{
    /* Called with g->mu held; frees g when the last user leaves. */
    bool last = --g->refs == 0;
    pthread_mutex_unlock(&g->mu);
    if (last) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
    }
}

static void *close_thread(void *arg)
{
    close_job_t job = *(close_job_t *)arg;
    free(arg);
    nng_close(job.g->socks[job.i]);
    pthread_mutex_lock(&job.g->mu);
    job.g->left--;
    pthread_cond_signal(&job.g->cv);
    close_group_unref(job.g);
    return NULL;
}

static bool start_close(close_group_t *g, size_t i)
{
    close_job_t *job = malloc(sizeof *job);
    pthread_attr_t attr;
    pthread_t t;
    if (!job || pthread_attr_init(&attr) != 0) {
        free(job);
        return false;
    }
    *job = (close_job_t){ g, i };
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, close_thread, job);
    pthread_attr_destroy(&attr);
    if (r != 0)
        free(job);
    return r == 0;
}

size_t mm_bus_close_sockets(const void *nng_socks, size_t n, unsigned timeout_ms, const char *what)
{
    const nng_socket *socks = nng_socks;
    close_group_t *g = n ? malloc(sizeof *g + n * sizeof g->socks[0]) : NULL;
    pthread_condattr_t ca;
    if (!g || pthread_condattr_init(&ca) != 0) {
        free(g);
        for (size_t i = 0; i < n; i++)
            nng_close(socks[i]);
        return 0;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&g->mu, NULL);
    memcpy(g->socks, socks, n * sizeof socks[0]);
    g->left = n;
    g->refs = 1;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&g->mu);
        g->refs++;
        pthread_mutex_unlock(&g->mu);
        if (!start_close(g, i)) {
            /* No thread: close here, unbounded, as before. */
            nng_close(socks[i]);
            pthread_mutex_lock(&g->mu);
            g->left--;
            g->refs--;
            pthread_mutex_unlock(&g->mu);
        }
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    while (g->left && pthread_cond_timedwait(&g->cv, &g->mu, &until) != ETIMEDOUT)
        ;
    size_t left = g->left;
    close_group_unref(g);
    if (left)
        mm_log_warn("MM-BUS-CLOSE-SLOW", "%zu %s socket(s) still closing after %u ms; leaving them "
                    "to process exit", left, what, timeout_ms);
    return left;
}

static void close_bus_sockets(mm_bus_t *bus)
{
    nng_socket socks[2] = { bus->pub };
    size_t n = 1;
    if (bus->has_sub)
        socks[n++] = bus->sub;
    mm_bus_close_sockets(socks, n, MM_BUS_CLOSE_WAIT_MS, "bus");
    free(bus);
}

static void on_poll_closed(uv_handle_t *h)
{
    close_bus_sockets(h->data);
}

void mm_bus_free(mm_bus_t *bus)
{
    if (!bus)
        return;
    mm_seqtrack_free(bus->track);
    free(bus->service);
    free(bus->instance);
    if (bus->polling) {
        /* The poll handle watches the sub socket's fd: close the handle
         * first and the sockets in its close callback. */
        uv_poll_stop(&bus->poll);
        uv_close((uv_handle_t *)&bus->poll, on_poll_closed);
        return;
    }
    close_bus_sockets(bus);
}
