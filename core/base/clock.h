/* clock.h - the one clock of lathe: monotonic seconds for rates and timeouts, and UTC wall
 * time stamps for journals and file names.
 * Leaves out: timers, sleeping, time zones (everything is UTC).
 */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stddef.h>

/* Seconds on a monotonic clock (only differences mean anything). */
double lt_now(void);

/* The current UTC time as ISO 8601 ("2026-12-06T13:39:51Z") into iso and as a file-name stamp
 * ("20261206-133951") into stamp; either may be NULL. */
void lt_wall_time(char *iso, size_t iso_cap, char *stamp, size_t stamp_cap);

#endif
