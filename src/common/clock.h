/* Time: wall-clock seconds for protocol fields (timestamps in TaskStatus)
 * and a monotonic clock for durations and deadlines. */
#ifndef TEPUI_COMMON_CLOCK_H
#define TEPUI_COMMON_CLOCK_H

#include <stdint.h>

double clock_wall(void);          /* seconds since the epoch */
int64_t clock_mono_ns(void);      /* monotonic nanoseconds */
double clock_mono(void);          /* monotonic seconds */

#include <sys/time.h>
/* Seconds as a timeval for libevent timers; negative values become 0. */
struct timeval clock_timeval(double seconds);

#endif
