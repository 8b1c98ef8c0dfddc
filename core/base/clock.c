/* clock.c - see clock.h. */
#include "clock.h"

#include <time.h>

double lt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lt_wall_time(char *iso, size_t iso_cap, char *stamp, size_t stamp_cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    if (iso) strftime(iso, iso_cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (stamp) strftime(stamp, stamp_cap, "%Y%m%d-%H%M%S", &tm);
}
