/* StatsD load generator for tools/bench/statsd-bench: sends COUNT datagrams
 * of LINES counter lines each to HOST:PORT at RATE datagrams/s (0 = as fast
 * as possible) with sendmmsg in batches of 64, over SERIES distinct series.
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
    static char bufs[BATCH][1400];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    long seq = 0, sent = 0;
    double t0 = now_s();
    while (sent < count) {
        int n = 0;
        for (; n < BATCH && sent + n < count; n++) {
            size_t len = 0;
            for (int l = 0; l < lines; l++) {
                long s = (seq++) % series;
                len += (size_t)snprintf(bufs[n] + len, sizeof bufs[n] - len,
                                        "bench.app%ld.requests:1|c|#route:r%ld,code:200\n", s % 100, s / 100);
            }
            iov[n].iov_base = bufs[n];
            iov[n].iov_len = len;
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
