/* Clock helpers over clock_gettime. */
#include "common/clock.h"

#include <time.h>

double clock_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double clock_mono(void) { return (double)clock_mono_ns() / 1e9; }

struct timeval clock_timeval(double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    struct timeval tv = {(time_t)seconds,
                         (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    return tv;
}
