/* cron: parse a schedule as Ofelia does (robfig/cron v3 with SecondOptional |
 * Minute | Hour | Dom | Month | Dow | Descriptor) and compute its activation
 * times, the same ones robfig computes, DST included. A parsed schedule is
 * immutable: any thread may call cron_next on it. */
#ifndef OFELIA_CRON_CRON_H
#define OFELIA_CRON_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz/tz.h"

struct cron;

/* cron_next's answer when there is no next time: a never-firing schedule
 * (@triggered, @manual, @none) or none within five years (robfig's limit). */
#define CRON_NEVER INT64_MIN

/* cron_parse parses spec. zone is the zone the schedule runs in unless the spec
 * starts with CRON_TZ=Zone or TZ=Zone (NULL: "Local"). Returns 0 and a schedule
 * the caller frees with cron_free, or -1 with a message in err that names the
 * bad field and value ("minute 61 out of range (0-59)"). docs/cron.md has the
 * grammar and the few specs where ofelia differs from robfig on purpose. */
int cron_parse(const char *spec, const struct tz *zone, struct cron **out, char *err,
               size_t errlen);
/* cron_next returns the first activation strictly after `after` (Unix
 * seconds), or CRON_NEVER. For @every d it is after + d. Safe to call from
 * any thread on a shared schedule. */
int64_t cron_next(const struct cron *c, int64_t after);
/* cron_check_range is what ofelia adds to robfig's rules before it runs a
 * schedule: an @every interval longer than DURATION_MAX_NS (100 years) is
 * refused, with the reason in err. robfig accepts up to Go's 292 years, and
 * so does cron_parse, which stays exactly robfig's parser. */
int cron_check_range(const struct cron *c, char *err, size_t errlen);
/* cron_is_manual tells whether the schedule never fires on its own. */
bool cron_is_manual(const struct cron *c);
/* cron_free releases c; NULL is allowed. */
void cron_free(struct cron *c);

#endif
