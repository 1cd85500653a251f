/* The bus client: NNG pub/sub through the bus process (DESIGN.md §1,
 * CONTRACTS.md §1). Publishers dial the bus's input, subscribers dial its
 * output. A message is "<topic>\0" + one packed mm.Envelope. Receiving runs in
 * the caller's libuv loop (NNG_OPT_RECVFD + uv_poll); nothing here blocks.
 * Queues are raised to 8192 both ways; the client stamps every envelope with
 * sender, instance, boot_id, family, per-family seq and time, and counts
 * sequence gaps per (instance, boot_id, family) on receipt. */
#ifndef MM_BUS_H
#define MM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "memmon.pb-c.h"

typedef struct mm_bus mm_bus_t;

/* TLS material for tls+tcp:// bus addresses (PEM files). */
typedef struct {
    const char *cert_file;
    const char *key_file;
    const char *ca_file;
} mm_bus_tls_t;

typedef struct {
    const char *pub_url;        /* the bus's input, e.g. ipc:///run/memmon/bus-in */
    const char *sub_url;        /* the bus's output; NULL for a publish-only client */
    const char *service;        /* sender name, e.g. "collector" */
    const char *instance;       /* stable instance name */
    size_t recv_max_bytes;      /* NNG_OPT_RECVMAXSZ; 0 = 4 MiB */
    const mm_bus_tls_t *tls;    /* for tls+tcp:// addresses, else NULL */
} mm_bus_opts_t;

typedef struct {
    uint64_t sent;              /* messages handed to NNG */
    uint64_t send_errors;
    uint64_t received;          /* messages decoded and delivered */
    uint64_t decode_errors;     /* malformed messages skipped */
    uint64_t gaps;              /* messages missing by sequence number */
    uint64_t senders;           /* (instance, boot, family) streams seen */
} mm_bus_stats_t;

/* Called in the loop for every message received whose topic matches a
 * subscription. `env` is valid only during the call. */
typedef void (*mm_bus_on_message_cb)(mm_bus_t *bus, const char *topic,
                                     const Mm__Envelope *env, void *data);

/* Creates a client on `loop` and dials the bus (NNG redials in the background,
 * so the bus may start later). Returns 0 or a negative errno
 * (-EINVAL for bad options, -ECONNREFUSED never: dialing is non-blocking). */
int mm_bus_new(uv_loop_t *loop, const mm_bus_opts_t *opts, mm_bus_on_message_cb cb, void *data,
               mm_bus_t **ret_bus);

/* Adds a topic prefix ("metric.", "cmd.health"). */
int mm_bus_subscribe(mm_bus_t *bus, const char *prefix);

/* Stamps env (sender, instance, boot_id, seq for `family`, and time_ms when it
 * is 0), packs "<topic>\0<env>" and sends it. The topic's family is the part
 * before the first '.'. The caller keeps env. Returns 0, -EMSGSIZE when the
 * packed message exceeds the receive limit, or -EIO. Never blocks; NNG drops
 * the oldest queued message when the peer is slow. */
int mm_bus_publish(mm_bus_t *bus, const char *topic, Mm__Envelope *env);

void mm_bus_stats(const mm_bus_t *bus, mm_bus_stats_t *ret_stats);
const char *mm_bus_instance(const mm_bus_t *bus);
uint64_t mm_bus_boot_id(const mm_bus_t *bus);

/* Stops receiving and closes the sockets; the uv_poll handle is closed
 * asynchronously, so run the loop once more before freeing the loop.
 * NULL is a no-op. */
void mm_bus_free(mm_bus_t *bus);

/* ---- pieces shared with tests and the bus process ---- */

/* Dials (listen = false) or listens on url for sock (an nng_socket passed
 * by pointer to keep NNG out of this header), applying tls for tls+tcp://.
 * Dialing never blocks and retries in the background. The address must pass
 * mm_config_bus_url_check(). */
int mm_bus_attach(void *nng_sock, const char *url, const mm_bus_tls_t *tls, bool listen);

/* Closes n nng_sockets (an array, by pointer for the same reason), each on
 * its own thread, waiting at most timeout_ms for them all. Those not done by
 * then go on closing in the background and are logged as MM-BUS-CLOSE-SLOW,
 * naming what ("bus", "forwarder"). Returns how many that was (NNG 1.5.2 can
 * hang in nng_close; see "Closing" in docs/ARCHITECTURE.md). */
size_t mm_bus_close_sockets(const void *nng_socks, size_t n, unsigned timeout_ms, const char *what);

/* How long mm_bus_free() and the bus process wait for their sockets. */
#define MM_BUS_CLOSE_WAIT_MS 1000

/* Packs topic + envelope into a new buffer (caller frees with free()). */
int mm_bus_encode(const char *topic, const Mm__Envelope *env, uint8_t **ret_buf, size_t *ret_len);

/* Length of the topic that starts buf, when it is valid and NUL-terminated
 * within the first 65 bytes; -EBADMSG otherwise. */
int mm_bus_frame_topic_len(const uint8_t *buf, size_t len);

/* Splits a received message. On success *ret_env must be freed with
 * mm__envelope__free_unpacked(env, NULL); *ret_topic points into buf.
 * Returns -EBADMSG for anything malformed. */
int mm_bus_decode(const uint8_t *buf, size_t len, const char **ret_topic, Mm__Envelope **ret_env);

/* Sequence-gap accounting per (instance, boot_id, family). */
typedef struct mm_seqtrack mm_seqtrack_t;
mm_seqtrack_t *mm_seqtrack_new(void);
void mm_seqtrack_free(mm_seqtrack_t *t);
/* Records a message; returns how many messages were skipped before it (0 when
 * in order, on a new boot_id, or for a duplicate/old seq). */
uint64_t mm_seqtrack_note(mm_seqtrack_t *t, const char *instance, uint64_t boot_id,
                          const char *family, uint64_t seq);
size_t mm_seqtrack_streams(const mm_seqtrack_t *t);

#endif
