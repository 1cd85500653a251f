/* An injectable clock. Logic code takes an mm_clock_t and never reads the
 * system time itself, so tests can replay events in fake time. */
#ifndef MM_CLOCK_H
#define MM_CLOCK_H

#include <stdint.h>

typedef struct mm_clock mm_clock_t;
struct mm_clock {
    /* Wall time, ms since the Unix epoch (what samples and envelopes carry). */
    int64_t (*now_ms)(const mm_clock_t *c);
    /* Monotonic time in ns, for intervals and timeouts. */
    int64_t (*mono_ns)(const mm_clock_t *c);
    /* Fake clocks keep their time here; the system clock ignores them. */
    int64_t fake_ms;
    int64_t fake_mono_ns;
};

/* The process's real clock (CLOCK_REALTIME / CLOCK_MONOTONIC). */
extern const mm_clock_t mm_clock_system;

/* A fake clock that starts at start_ms and moves only through mm_clock_fake_advance(). */
void mm_clock_fake_init(mm_clock_t *c, int64_t start_ms);
void mm_clock_fake_advance(mm_clock_t *c, int64_t ms);

static inline int64_t mm_clock_now_ms(const mm_clock_t *c) { return c->now_ms(c); }
static inline int64_t mm_clock_mono_ns(const mm_clock_t *c) { return c->mono_ns(c); }

#endif
