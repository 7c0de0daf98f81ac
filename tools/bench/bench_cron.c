/* bench_cron: next-time computations per second of typical schedules.
 *
 *   make bench   (or BUILD/release/bench/bench_cron [ROUNDS])
 *
 * Each schedule answers cron_next for the same 4096 start times spread over
 * 2000-2040 (a scheduler asks from wherever it is, not from a chain of
 * earlier answers), ROUNDS times (default 7); the median round is printed.
 * Rounds are timed in thread CPU time, so a busy machine slows them less. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cron/cron.h"
#include "tz/tz.h"

#define BENCH_STARTS 4096
#define BENCH_CALLS  (1 << 20)

static const struct bench_case {
	const char *name, *spec, *zone;
} bench_cases[] = {
    {"every_minute", "* * * * *", "UTC"},
    {"every_5_minutes", "*/5 * * * *", "UTC"},
    {"hourly", "0 * * * *", "UTC"},
    {"daily", "0 0 * * *", "UTC"},
    {"daily_0230_berlin", "30 2 * * *", "Europe/Berlin"},
    {"office_hours_berlin", "0 9-17 * * MON-FRI", "Europe/Berlin"},
    {"quarter_hours_weekdays_new_york", "0 */15 8-18 * * 1-5", "America/New_York"},
    {"fridays_and_13th", "0 0 13 * FRI", "UTC"},
    {"monthly_lord_howe", "@monthly", "Australia/Lord_Howe"},
    {"yearly_berlin", "0 0 1 1 *", "Europe/Berlin"},
    {"leap_day", "0 0 29 2 *", "UTC"},
    {"every_1h30m", "@every 1h30m", "UTC"},
};

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int64_t bench_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* bench_round returns calls per CPU second of one round over the starts. */
static double bench_round(const struct cron *c, const int64_t *starts, int64_t *sink)
{
	int64_t t0 = bench_cpu_ns();
	for (int i = 0; i < BENCH_CALLS; i++)
		*sink += cron_next(c, starts[i & (BENCH_STARTS - 1)]);
	int64_t ns = bench_cpu_ns() - t0;
	return (double)BENCH_CALLS * 1e9 / (double)(ns > 0 ? ns : 1);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7;
	int64_t starts[BENCH_STARTS], sink = 0;
	double rates[64];
	char err[256];

	if (rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: bench_cron [ROUNDS 1-64]\n");
		return 2;
	}
	/* A fixed linear congruential sequence: the same starts on every run. */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < BENCH_STARTS; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		starts[i] = 946684800 + (int64_t)((x >> 33) % (40ULL * 365 * 86400));
	}
	printf("# cron_next from %d start times in 2000-2040; median of %d rounds of %d calls\n",
	       BENCH_STARTS, rounds, BENCH_CALLS);
	for (size_t k = 0; k < sizeof bench_cases / sizeof bench_cases[0]; k++) {
		const struct bench_case *b = &bench_cases[k];
		const struct tz *zone = tz_load(b->zone, err, sizeof err);
		struct cron *c;
		if (!zone || cron_parse(b->spec, zone, &c, err, sizeof err) < 0) {
			fprintf(stderr, "bench_cron: %s: %s\n", b->spec, err);
			return 1;
		}
		for (int r = 0; r < rounds; r++)
			rates[r] = bench_round(c, starts, &sink);
		qsort(rates, (size_t)rounds, sizeof rates[0], bench_cmp);
		printf("# %s: \"%s\" in %s\n", b->name, b->spec, b->zone);
		printf("cron_next_per_cpu_sec_%s: %.0f next/cpu-s\n", b->name, rates[rounds / 2]);
		cron_free(c);
	}
	/* Printing the sink keeps the compiler from dropping the calls. */
	printf("# checksum %lld\n", (long long)sink);
	return 0;
}
