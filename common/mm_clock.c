/* The system clock and a fake clock for tests. */
#include "mm_clock.h"

#include <time.h>

static int64_t sys_now_ms(const mm_clock_t *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_mono_ns(const mm_clock_t *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const mm_clock_t mm_clock_system = { sys_now_ms, sys_mono_ns, 0, 0 };

static int64_t fake_now_ms(const mm_clock_t *c) { return c->fake_ms; }
static int64_t fake_mono_ns(const mm_clock_t *c) { return c->fake_mono_ns; }

void mm_clock_fake_init(mm_clock_t *c, int64_t start_ms)
{
    c->now_ms = fake_now_ms;
    c->mono_ns = fake_mono_ns;
    c->fake_ms = start_ms;
    c->fake_mono_ns = 0;
}

void mm_clock_fake_advance(mm_clock_t *c, int64_t ms)
{
    c->fake_ms += ms;
    c->fake_mono_ns += ms * 1000000;
}
