/* Forwards raw NNG messages from the input sub socket to the output pub
 * socket, polling the input's RECVFD in the libuv loop. */
#include "bus.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_LEN 8192
#define BATCH 1024

struct bus_forwarder {
    nng_socket in, out;
    uv_poll_t poll;
    bus_forwarder_stats_t stats;
};

bool bus_frame_valid(const uint8_t *buf, size_t len)
{
    return mm_bus_frame_topic_len(buf, len) >= 0;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    bus_forwarder_t *f = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < BATCH; i++) {
        nng_msg *m;
        if (nng_recvmsg(f->in, &m, NNG_FLAG_NONBLOCK) != 0)
            break;
        if (!bus_frame_valid(nng_msg_body(m), nng_msg_len(m))) {
            f->stats.dropped_malformed++;
            nng_msg_free(m);
            continue;
        }
        /* sendmsg takes the message on success only. */
        if (nng_sendmsg(f->out, m, NNG_FLAG_NONBLOCK) != 0) {
            f->stats.send_errors++;
            nng_msg_free(m);
            continue;
        }
        f->stats.forwarded++;
    }
}

int bus_forwarder_new(uv_loop_t *loop, const char *in_url, const char *out_url,
                      const mm_bus_tls_t *tls, bus_forwarder_t **ret)
{
    bus_forwarder_t *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    int r = -EIO, fd;
    if (nng_sub0_open(&f->in) != 0)
        goto fail;
    if (nng_pub0_open(&f->out) != 0) {
        nng_close(f->in);
        goto fail;
    }
    nng_socket_set(f->in, NNG_OPT_SUB_SUBSCRIBE, "", 0);
    nng_socket_set_int(f->in, NNG_OPT_RECVBUF, QUEUE_LEN);
    nng_socket_set_int(f->out, NNG_OPT_SENDBUF, QUEUE_LEN);
    /* The forwarder never decodes envelopes; it only bounds their size. */
    nng_socket_set_size(f->in, NNG_OPT_RECVMAXSZ, 4u << 20);
    if ((r = mm_bus_attach(&f->in, in_url, tls, true)) < 0 ||
        (r = mm_bus_attach(&f->out, out_url, tls, true)) < 0)
        goto fail_sockets;
    if (nng_socket_get_int(f->in, NNG_OPT_RECVFD, &fd) != 0) {
        r = -EIO;
        goto fail_sockets;
    }
    if ((r = uv_poll_init(loop, &f->poll, fd)) < 0)
        goto fail_sockets;
    f->poll.data = f;
    uv_poll_start(&f->poll, UV_READABLE, on_readable);
    *ret = f;
    return 0;

fail_sockets:
    nng_close(f->in);
    nng_close(f->out);
fail:
    free(f);
    return r;
}

void bus_forwarder_stats(const bus_forwarder_t *f, bus_forwarder_stats_t *ret) { *ret = f->stats; }

static void on_closed(uv_handle_t *h)
{
    bus_forwarder_t *f = h->data;
    nng_socket socks[2] = { f->in, f->out };
    mm_bus_close_sockets(socks, 2, MM_BUS_CLOSE_WAIT_MS, "forwarder");
    free(f);
}

void bus_forwarder_free(bus_forwarder_t *f)
{
    if (!f)
        return;
    uv_poll_stop(&f->poll);
    uv_close((uv_handle_t *)&f->poll, on_closed);
}
