/* StatsD load generator for tools/bench/statsd-bench: sends COUNT datagrams
 * of LINES counter lines each to HOST:PORT at RATE datagrams/s (0 = as fast
 * as possible) with sendmmsg in batches of 64, over SERIES distinct series
 * (a ring of 4096 prepared datagrams; with SERIES above 4096 x LINES only
 * that many distinct series are sent).
 * Prints what it sent as "sent_packets sent_lines seconds". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT COUNT RATE LINES SERIES\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    long count = atol(argv[3]);
    double rate = atof(argv[4]);
    int lines = atoi(argv[5]);
    long series = atol(argv[6]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &to.sin_addr);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("connect");
        return 1;
    }
    /* The datagrams are made before the clock starts, so that formatting
     * does not cap the rate: a ring of RING packets, cycled through. */
    enum { RING = 4096 };
    static char bufs[RING][1400];
    static size_t lens[RING];
    long seq = 0;
    for (int r = 0; r < RING; r++) {
        size_t len = 0;
        for (int l = 0; l < lines; l++) {
            long sr = (seq++) % series;
            len += (size_t)snprintf(bufs[r] + len, sizeof bufs[r] - len,
                                    "bench.app%ld.requests:1|c|#route:r%ld,code:200\n", sr % 100, sr / 100);
        }
        lens[r] = len;
    }
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    long sent = 0;
    size_t next = 0;
    double t0 = now_s();
    while (sent < count) {
        int n = 0;
        for (; n < BATCH && sent + n < count; n++) {
            iov[n].iov_base = bufs[next];
            iov[n].iov_len = lens[next];
            next = (next + 1) % RING;
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
        }
        int k = sendmmsg(fd, msgs, (unsigned)n, 0);
        if (k > 0)
            sent += k;
        if (rate > 0) {
            /* Pace per batch: sleep until this many packets are due. */
            double due = t0 + (double)sent / rate;
            double d = due - now_s();
            if (d > 0) {
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    double el = now_s() - t0;
    printf("%ld %ld %.3f\n", sent, sent * lines, el);
    return 0;
}
