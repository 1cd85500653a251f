/* The gateway's I/O: h2o (HTTP/1.1, h2c, WebSocket) on the service's libuv
 * loop, serving the view of gateway.h. Bus traffic comes in through
 * gateway_io_on_message(); commands and pushed samples go out through the
 * publish callback, so this file needs no bus client of its own. */
#ifndef GATEWAY_IO_H
#define GATEWAY_IO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gateway.h"
#include "memmon.pb-c.h"
#include "mm_clock.h"

typedef struct gateway_io gateway_io_t;

/* Publishes env on topic (the bus client stamps it). The caller keeps env.
 * Returns 0 or a negative errno. */
typedef int (*gateway_publish_fn)(void *data, const char *topic, Mm__Envelope *env);

typedef struct {
    uv_loop_t *loop;
    const char *host;               /* listen address; NULL = 127.0.0.1 */
    int port;                       /* 0 = any free port (tests); see gateway_io_port() */
    const char *api_token;          /* NULL or "": every write is refused with 403 */
    const char *instance;           /* replies come on reply.<instance> */
    const char *dashboard_dir;      /* static files for /dashboard; NULL = none */
    size_t max_body;                /* request bodies above it get 413; 0 = 1 MiB */
    int64_t command_timeout_ms;     /* 0 = 5000 */
    int64_t ws_status_ms;           /* status snapshot period; 0 = 5000 */
    int64_t ws_ping_ms;             /* WebSocket ping period; 0 = 30000 */
    size_t ws_max_queued;           /* frames queued per client before dropping; 0 = 64 */
    size_t ws_max_clients;          /* 0 = 1024 */
    gateway_publish_fn publish;
    void *publish_data;
    const mm_clock_t *clock;
    gateway_t *gw;                  /* the view; not owned, must outlive io */
} gateway_io_opts_t;

/* Binds and listens. Returns 0, -EINVAL, -ENOMEM, or libuv's error for the
 * bind or listen (e.g. -EADDRINUSE). The strings in opts are copied. */
int gateway_io_new(const gateway_io_opts_t *opts, gateway_io_t **ret_io);

/* The port actually bound. */
int gateway_io_port(const gateway_io_t *io);

/* Applies a bus message to the view and pushes what it caused to WebSocket
 * clients. env is borrowed for the call. */
void gateway_io_on_message(gateway_io_t *io, const char *topic, const Mm__Envelope *env);

/* Replaces the API token (after a reload); NULL or "" refuses every write. */
void gateway_io_set_token(gateway_io_t *io, const char *token);

/* Stops listening and closes every connection; handles close asynchronously,
 * so run the loop until it is empty before gateway_io_free(). */
void gateway_io_stop(gateway_io_t *io);
void gateway_io_free(gateway_io_t *io);     /* NULL is a no-op */

#endif
