/* tz: time zones read from the system's zoneinfo (TZif files), DST-correct and
 * thread-safe. A zone is loaded once, cached for the life of the process and
 * never changes, so any thread may use it without locks. This module never
 * calls setenv("TZ"), tzset() or localtime(). */
#ifndef OFELIA_TZ_TZ_H
#define OFELIA_TZ_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* Civil (wall-clock) time in a zone. month 1-12, wday 0 = Sunday. */
struct tz_civil {
	int64_t year;
	int month, day, hour, min, sec;
	int wday;
	int utcoff; /* seconds east of UTC in effect at that instant */
};

/* tz_load returns the zone called name: "UTC", "Local" (the TZ variable, else
 * /etc/localtime, as Go's time.Local) or an IANA name such as
 * "Europe/Berlin". NULL with a message in err for an unknown or unreadable
 * zone. Zones are cached and shared: never free one. */
const struct tz *tz_load(const char *name, char *err, size_t errlen);
/* tz_utc returns the UTC zone; it cannot fail. */
const struct tz *tz_utc(void);
/* tz_name returns the name the zone was loaded by ("Europe//Berlin" and
 * "./Europe/Berlin" give "Europe/Berlin"). */
const char *tz_name(const struct tz *z);

/* tz_to_civil converts Unix seconds to wall-clock time in z. */
void tz_to_civil(const struct tz *z, int64_t t, struct tz_civil *out);
/* tz_from_civil is Go's time.Date(year, month, day, hour, min, sec, 0, z):
 * out-of-range fields are normalized (month 13 is January of the next year),
 * and a wall time in a DST gap or fold resolves exactly as Go resolves it.
 * Returns Unix seconds. */
int64_t tz_from_civil(const struct tz *z, int64_t year, int month, int day, int hour, int min,
                      int sec);

/* tz_offset returns the offset (seconds east of UTC) in effect at Unix time t,
 * and in *start and *end (either may be NULL) a span [start, end) holding t
 * over which that offset stays in effect; the span may be shorter than the
 * zone's whole period. */
int tz_offset(const struct tz *z, int64_t t, int64_t *start, int64_t *end);
/* tz_wall_seconds is a wall-clock time as seconds since 1970-01-01 00:00 of
 * the same calendar, normalized as time.Date normalizes (month 13 is January
 * of the next year, hour 24 the next day). Years beyond 1e11 saturate. */
int64_t tz_wall_seconds(int64_t year, int month, int day, int hour, int min, int sec);
/* tz_from_wall resolves such a wall time in z as time.Date does (gap and fold
 * included); tz_from_civil is tz_from_wall(z, tz_wall_seconds(...)). */
int64_t tz_from_wall(const struct tz *z, int64_t wall);

#endif
