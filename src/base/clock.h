/*
 * clock.h — time: monotonic for timeouts and latency, wall clock for message timestamps.
 */
#ifndef OB_BASE_CLOCK_H
#define OB_BASE_CLOCK_H

#include <stdint.h>

/* Nanoseconds from an arbitrary fixed point; never goes backwards. */
int64_t ob_mono_ns(void);
/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t ob_wall_ns(void);

#define OB_NS_PER_MS  INT64_C(1000000)
#define OB_NS_PER_SEC INT64_C(1000000000)

#endif
