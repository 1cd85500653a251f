/* The bus forwarder: every message published on the input goes out on the
 * output unchanged, after a framing check. Stateless. */
#ifndef MM_BUS_FORWARDER_H
#define MM_BUS_FORWARDER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "mm_bus.h"

typedef struct bus_forwarder bus_forwarder_t;

typedef struct {
    uint64_t forwarded;
    uint64_t dropped_malformed;     /* no valid "<topic>\0" prefix */
    uint64_t send_errors;
} bus_forwarder_stats_t;

/* Listens on in_url (publishers dial it) and out_url (subscribers dial it)
 * and forwards in the loop. Returns 0 or a negative errno (-EADDRINUSE,
 * -EPERM for a plain non-loopback tcp:// address). */
int bus_forwarder_new(uv_loop_t *loop, const char *in_url, const char *out_url,
                      const mm_bus_tls_t *tls, bus_forwarder_t **ret);
void bus_forwarder_stats(const bus_forwarder_t *f, bus_forwarder_stats_t *ret);
/* Closes the sockets; the poll handle closes asynchronously. NULL is a no-op. */
void bus_forwarder_free(bus_forwarder_t *f);

/* True when buf starts with a valid topic and its NUL. */
bool bus_frame_valid(const uint8_t *buf, size_t len);

#endif
