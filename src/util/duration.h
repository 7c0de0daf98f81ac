/* duration: Go's duration syntax ("1h30m", "1.5h", "90s", "500ms"), which
 * Ofelia users write for @every, max-runtime and the like. Parsing follows
 * time.ParseDuration exactly, so a value Ofelia accepts means the same here;
 * what ofelia then accepts for a setting is bounded by duration_check. */
#ifndef OFELIA_UTIL_DURATION_H
#define OFELIA_UTIL_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_TEXT_MAX 40

/* duration_parse reads s into *ns; returns 0, or -1 with a message in err. */
int duration_parse(const char *s, int64_t *ns, char *err, size_t errlen);
/* The longest duration any setting takes: 100 years (876000h). Go allows
 * 292 years, but a clock reading plus that overflows int64 nanoseconds
 * (2262): with this bound `now + d` fits until the year 2170. */
#define DURATION_MAX_NS 3153600000000000000LL

/* duration_check returns 0 when ns is within +-DURATION_MAX_NS, else -1
 * with "out of range (at most 876000h, 100 years)" in err. */
int duration_check(int64_t ns, char *err, size_t errlen);
/* duration_format writes ns as Go's Duration.String does: "1h30m0s", "1.5s", "0s". */
void duration_format(int64_t ns, char out[DURATION_TEXT_MAX]);

#endif
