/* fuzz_cron: any bytes as a schedule. cron_parse must never crash, and every
 * schedule it accepts must answer a few cron_next calls with a later time or
 * CRON_NEVER. The zone and start time are picked by a hash of the input, so
 * the corpus files are plain schedules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron/cron.h"
#include "tz/tz.h"
#include "util/xalloc.h"

static const char *const fuzz_zones[] = {"UTC",
                                         "Europe/Berlin",
                                         "America/New_York",
                                         "Australia/Lord_Howe",
                                         "America/Sao_Paulo",
                                         "Pacific/Chatham"};

static const int64_t fuzz_starts[] = {
    0,           /* 1970 */
    1711846799,  /* 2024-03-31 00:59:59Z, Berlin's spring gap */
    1729990800,  /* 2024-10-27 01:00:00Z, Berlin's fall fold */
    2145916799,  /* 2037-12-31 23:59:59Z, the end of the zone tables */
    -5000000000, /* 1811, before the first transitions */
    32503680000, /* 3000-01-01 */
};

static uint64_t fuzz_hash(const uint8_t *data, size_t size)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct cron *c;
	uint64_t h = fuzz_hash(data, size);
	char *spec = xmalloc(size + 1);

	memcpy(spec, data, size);
	spec[size] = '\0';
	const struct tz *zone =
	    tz_load(fuzz_zones[h % (sizeof fuzz_zones / sizeof fuzz_zones[0])], err, sizeof err);
	if (!zone)
		abort();
	if (cron_parse(spec, zone, &c, err, sizeof err) == 0) {
		int64_t t = fuzz_starts[(h >> 8) % (sizeof fuzz_starts / sizeof fuzz_starts[0])];
		for (int i = 0; i < 4; i++) {
			int64_t next = cron_next(c, t);
			if (next == CRON_NEVER)
				break;
			if (next <= t)
				abort();
			t = next;
		}
		cron_is_manual(c);
		cron_free(c);
	} else if (err[0] == '\0') {
		abort(); /* every rejection says why */
	}
	free(spec);
	return 0;
}
