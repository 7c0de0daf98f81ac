/* clock: wall and monotonic time in nanoseconds, and the text forms ofelia
 * writes: ISO-8601 UTC with milliseconds in the store, RFC 3339 in the API.
 * Pure functions of their arguments except the two *_now readers. */
#ifndef OFELIA_UTIL_CLOCK_H
#define OFELIA_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS  1000000LL

/* Buffer size that fits every format below, with room to spare. */
#define CLOCK_TEXT_MAX 40

/* clock_now_ns returns the wall clock (CLOCK_REALTIME) in ns since the epoch. */
int64_t clock_now_ns(void);
/* clock_mono_ns returns CLOCK_MONOTONIC in ns: for measuring, never for display. */
int64_t clock_mono_ns(void);

/* clock_format_iso writes "2026-01-01T00:00:00.000Z" (UTC, milliseconds). */
void clock_format_iso(int64_t ns, char out[CLOCK_TEXT_MAX]);
/* clock_format_rfc3339 writes "2026-01-01T00:00:00Z", with ".123" only when
 * the milliseconds are not zero (as Go's RFC3339Nano trims them). */
void clock_format_rfc3339(int64_t ns, char out[CLOCK_TEXT_MAX]);
/* clock_parse_rfc3339 reads RFC 3339 ("T" or "t" or space, fractions to ns,
 * "Z" or +hh:mm); returns 0 and sets *ns, or -1 when s is not such a time. */
int clock_parse_rfc3339(const char *s, int64_t *ns);
/* clock_parse_rfc3339_sec reads the same text as whole seconds and the
 * nanoseconds 0-999999999 after them, for years any RFC 3339 text can hold
 * (int64 nanoseconds end in 2262). */
int clock_parse_rfc3339_sec(const char *s, int64_t *out_sec, int32_t *out_nsec);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t clock_days_from_civil(int64_t y, int m, int d);
void clock_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
