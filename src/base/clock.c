/* clock.c — clock_gettime wrappers. */
#include "base/clock.h"

#include <time.h>

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * OB_NS_PER_SEC + ts.tv_nsec;
}

int64_t ob_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t ob_wall_ns(void)
{
    return read_clock(CLOCK_REALTIME);
}
