/* cron: parse errors, the field grammar, descriptors and next times. Expected
 * times come from robfig/cron v3.0.1 (tests/cron-oracle). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cron/cron.h"
#include "tz/tz.h"
#include "util/clock.h"

static const struct tz *zone(const char *name)
{
	char err[256];
	const struct tz *z = tz_load(name, err, sizeof err);
	cr_assert_not_null(z, "%s: %s", name, err);
	return z;
}

static int64_t at(const char *rfc3339)
{
	int64_t sec;
	int32_t ns;
	cr_assert_eq(clock_parse_rfc3339_sec(rfc3339, &sec, &ns), 0, "bad time %s", rfc3339);
	return sec;
}

static struct cron *parse(const char *spec, const char *zone_name)
{
	char err[256] = "";
	struct cron *c = NULL;
	cr_assert_eq(cron_parse(spec, zone(zone_name), &c, err, sizeof err), 0, "\"%s\": %s", spec,
	             err);
	cr_assert_not_null(c);
	return c;
}

/* expect_error checks that spec is rejected with a message containing msg. */
static void expect_error(const char *spec, const char *msg)
{
	char err[256] = "";
	struct cron *c = (struct cron *)1;
	cr_expect_eq(cron_parse(spec, tz_utc(), &c, err, sizeof err), -1, "\"%s\" was accepted",
	             spec);
	cr_expect_null(c, "\"%s\": no schedule on error", spec);
	cr_expect(strstr(err, msg) != NULL, "\"%s\": error \"%s\" lacks \"%s\"", spec, err, msg);
}

/* format_utc writes t as RFC 3339 UTC, for any year (the clock_format_*
 * functions take nanoseconds, which end in 2262). */
static void format_utc(int64_t t, char out[CLOCK_TEXT_MAX])
{
	struct tz_civil c;
	tz_to_civil(tz_utc(), t, &c);
	snprintf(out, CLOCK_TEXT_MAX, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)c.year,
	         c.month, c.day, c.hour, c.min, c.sec);
}

/* expect_times chains cron_next from `from` and compares with want, a
 * NULL-terminated list of RFC 3339 times; "NEVER" stands for CRON_NEVER. */
static void expect_times(const char *spec, const char *zone_name, const char *from,
                         const char *const *want)
{
	struct cron *c = parse(spec, zone_name);
	int64_t t = at(from);
	char got[CLOCK_TEXT_MAX];
	for (int i = 0; want[i]; i++) {
		t = cron_next(c, t);
		if (t == CRON_NEVER)
			snprintf(got, sizeof got, "NEVER");
		else
			format_utc(t, got);
		cr_expect_str_eq(got, want[i], "\"%s\" in %s from %s, time %d", spec, zone_name,
		                 from, i + 1);
		if (t == CRON_NEVER)
			break;
	}
	cron_free(c);
}

#define EXPECT_TIMES(spec, zone, from, ...)                                                        \
	expect_times(spec, zone, from, (const char *const[]){__VA_ARGS__, NULL})

/* expect_same checks that two specs give the same times for a year. */
static void expect_same(const char *a, const char *b)
{
	struct cron *ca = parse(a, "UTC"), *cb = parse(b, "UTC");
	int64_t ta = at("2024-01-01T00:00:00Z"), tb = ta;
	for (int i = 0; i < 400 && ta < at("2025-01-01T00:00:00Z"); i++) {
		ta = cron_next(ca, ta);
		tb = cron_next(cb, tb);
		cr_assert_eq(ta, tb, "\"%s\" and \"%s\" differ at step %d", a, b, i);
	}
	cron_free(ca);
	cron_free(cb);
}

Test(cron, errors_name_the_field_and_value)
{
	expect_error("61 * * * *", "minute 61 out of range (0-59)");
	expect_error("0 61 * * *", "hour 61 out of range (0-23)");
	expect_error("60 * * * * *", "second 60 out of range (0-59)");
	expect_error("* * 0 * *", "day of month 0 out of range (1-31)");
	expect_error("* * 32 * *", "day of month 32 out of range (1-31)");
	expect_error("* * * 13 *", "month 13 out of range (1-12)");
	expect_error("* * * 0 *", "month 0 out of range (1-12)");
	expect_error("* * * * 8", "day of week 8 out of range (0-7)");
	expect_error("* * * 1-13 *", "month 13 out of range");
	expect_error("99999999999999999999 * * * *", "minute 99999999999999999999 out of range");
	expect_error("* * * JANUARY *", "unknown month name \"JANUARY\"");
	expect_error("* * * * MONDAY", "unknown day of week name \"MONDAY\"");
	expect_error("0x10 * * * *", "minute value \"0x10\" is not a number");
	expect_error("L * * * *", "minute value \"L\" is not a number");
	expect_error("5- * * * *", "minute value \"\" is not a number");
	expect_error("30-10 * * * *", "minute range \"30-10\" starts after it ends");
	expect_error("*/0 * * * *", "minute step in \"*/0\" must be at least 1");
	expect_error("* */-2 * * *", "hour step in \"*/-2\" must be at least 1");
	expect_error("*/x * * * *", "minute step in \"*/x\" is not a number");
	expect_error("*/99999999999999999999 * * * *", "is too large");
	expect_error("1/2/3 * * * *", "minute \"1/2/3\" has more than one '/'");
	expect_error("1-2-3 * * * *", "minute \"1-2-3\" has more than one '-'");
}

Test(cron, errors_of_the_whole_spec)
{
	expect_error("", "empty schedule");
	expect_error("* * * *", "expected 5 or 6 fields, found 4");
	expect_error("* * * * * * *", "expected 5 or 6 fields, found 7");
	expect_error(" @daily", "expected 5 or 6 fields, found 1");
	expect_error("@reboot", "unknown descriptor \"@reboot\"");
	expect_error("@Daily", "unknown descriptor \"@Daily\"");
	expect_error("@daily ", "unknown descriptor \"@daily \"");
	expect_error("@every", "unknown descriptor \"@every\"");
	expect_error("@every 1d", "unknown unit \"d\"");
	expect_error("@every 5", "missing unit");
	expect_error("@every 5s ", "@every");
	expect_error("TZ=UTC", "time zone prefix \"TZ=UTC\" must be followed by a space");
	expect_error("CRON_TZ=Nowhere/Land * * * * *", "\"Nowhere/Land\"");
	expect_error("TZ=../etc/passwd * * * * *", "invalid time zone name");
}

Test(cron, accepts_what_robfig_accepts)
{
	static const char *const ok[] = {
	    "* * * * *",
	    "*/5 * * * * *",
	    "0 0 1,15 * *",
	    "? ? ? ? ?",
	    "0 0 * * 0,6",
	    "05 +5 * * *",
	    "*-5 * * * *",
	    "5,,6 * * * *",
	    "0  0\t*\n* *",
	    "0\xc2\xa0"
	    "0 * * *",
	    "@yearly",
	    "@annually",
	    "@monthly",
	    "@weekly",
	    "@daily",
	    "@midnight",
	    "@hourly",
	    "@every 1h30m",
	    "@every 1.5h",
	    "@every .5s",
	    "TZ=UTC @daily",
	    "CRON_TZ=Europe/Berlin   0 30 2 * * *  ",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		cron_free(parse(ok[i], "UTC"));
}

Test(cron, names_are_case_insensitive)
{
	expect_same("0 0 * jan-MAR Mon-fri", "0 0 * 1-3 1-5");
	expect_same("0 0 * * sun,SAT", "0 0 * * 0,6");
	expect_same("0 0 * Dec *", "0 0 * 12 *");
	/* Go's strings.ToLower folds U+0130 to 'i'. */
	expect_same("0 0 * * FR\xc4\xb0", "0 0 * * 5");
}

Test(cron, sunday_is_0_or_7)
{
	expect_same("0 0 * * 7", "0 0 * * 0");
	expect_same("0 0 * * 5-7", "0 0 * * 5,6,0");
	expect_same("0 0 * * 7/3", "0 0 * * 0");
	expect_same("0 0 * * 0-7", "0 0 * * *");
}

Test(cron, ranges_and_steps)
{
	EXPECT_TIMES("5/15 * * * *", "UTC", "2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z",
	             "2024-01-01T00:20:00Z", "2024-01-01T00:35:00Z", "2024-01-01T00:50:00Z",
	             "2024-01-01T01:05:00Z");
	EXPECT_TIMES("0 0-10/5 8 * * *", "UTC", "2024-01-01T00:00:00Z", "2024-01-01T08:00:00Z",
	             "2024-01-01T08:05:00Z", "2024-01-01T08:10:00Z", "2024-01-02T08:00:00Z");
	EXPECT_TIMES("*/20 * * * * *", "UTC", "2024-01-01T00:00:59Z", "2024-01-01T00:01:00Z",
	             "2024-01-01T00:01:20Z");
	/* robfig ignores what follows a star up to the '/'. */
	expect_same("*-5 * * * *", "* * * * *");
}

Test(cron, day_of_month_or_day_of_week)
{
	/* Both restricted: either matches (Fridays and the 13th). */
	EXPECT_TIMES("0 0 13 * FRI", "UTC", "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z",
	             "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z", "2024-09-27T00:00:00Z",
	             "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z", "2024-10-13T00:00:00Z");
	/* A star (or ?) on one side: both must match. */
	expect_same("0 0 * * FRI", "0 0 ? * 5");
	EXPECT_TIMES("0 0 13 * *", "UTC", "2024-09-01T00:00:00Z", "2024-09-13T00:00:00Z",
	             "2024-10-13T00:00:00Z");
	/* A step above 1 drops the star bit; a step of 1 keeps it. */
	EXPECT_TIMES("0 0 */10 * FRI", "UTC", "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z",
	             "2024-09-11T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z",
	             "2024-09-21T00:00:00Z");
	expect_same("0 0 */1 * FRI", "0 0 * * FRI");
}

Test(cron, descriptors)
{
	EXPECT_TIMES("@yearly", "UTC", "2024-05-05T10:00:00Z", "2025-01-01T00:00:00Z");
	EXPECT_TIMES("@annually", "UTC", "2024-05-05T10:00:00Z", "2025-01-01T00:00:00Z");
	EXPECT_TIMES("@monthly", "UTC", "2024-05-05T10:00:00Z", "2024-06-01T00:00:00Z");
	EXPECT_TIMES("@weekly", "UTC", "2024-05-05T10:00:00Z", "2024-05-12T00:00:00Z");
	EXPECT_TIMES("@daily", "UTC", "2024-05-05T10:00:00Z", "2024-05-06T00:00:00Z");
	EXPECT_TIMES("@midnight", "UTC", "2024-05-05T10:00:00Z", "2024-05-06T00:00:00Z");
	EXPECT_TIMES("@hourly", "UTC", "2024-05-05T10:00:00Z", "2024-05-05T11:00:00Z");
	EXPECT_TIMES("@weekly", "Europe/Berlin", "2024-05-05T10:00:00Z", "2024-05-11T22:00:00Z");
}

Test(cron, every)
{
	static const struct {
		const char *spec;
		int64_t delay;
	} cases[] = {
	    {"@every 1h30m", 5400},
	    {"@every 1.5h", 5400},
	    {"@every 90s", 90},
	    {"@every 1.9s", 1},
	    {"@every 500ms", 1},
	    {"@every 0s", 1},
	    {"@every -5s", 1},
	    {"@every 1m-30s", -1},
	    {"@every 25h", 90000},
	    {"@every 3000000us", 3},
	    {"@every 2562047h", 9223369200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256];
		struct cron *c;
		int rc = cron_parse(cases[i].spec, tz_utc(), &c, err, sizeof err);
		if (cases[i].delay < 0) {
			cr_expect_eq(rc, -1, "%s", cases[i].spec);
			continue;
		}
		cr_assert_eq(rc, 0, "%s: %s", cases[i].spec, err);
		cr_expect_eq(cron_next(c, 1000), 1000 + cases[i].delay, "%s", cases[i].spec);
		cr_expect_not(cron_is_manual(c));
		cron_free(c);
	}
}

Test(cron, every_never_overflows)
{
	struct cron *c = parse("@every 2562047h", "UTC");
	cr_expect_eq(cron_next(c, INT64_MAX - 10), CRON_NEVER);
	cron_free(c);
}

Test(cron, manual_schedules_never_fire)
{
	static const char *const manual[] = {"@triggered", "@manual", "@none", "TZ=UTC @manual"};
	for (size_t i = 0; i < sizeof manual / sizeof manual[0]; i++) {
		struct cron *c = parse(manual[i], "UTC");
		cr_expect(cron_is_manual(c), "%s", manual[i]);
		cr_expect_eq(cron_next(c, 0), CRON_NEVER, "%s", manual[i]);
		cron_free(c);
	}
	struct cron *c = parse("@daily", "UTC");
	cr_expect_not(cron_is_manual(c));
	cron_free(c);
}

Test(cron, never_within_five_years)
{
	EXPECT_TIMES("0 0 30 2 *", "UTC", "2024-01-01T00:00:00Z", "NEVER");
	EXPECT_TIMES("0 0 , * *", "UTC", "2024-01-01T00:00:00Z", "NEVER");
	/* 2100 is no leap year: from 2097 the next 29 February is too far. */
	EXPECT_TIMES("0 0 29 2 *", "Europe/Berlin", "2097-03-01T00:00:00Z", "NEVER");
	EXPECT_TIMES("0 0 29 2 *", "Europe/Berlin", "2099-03-01T00:00:00Z", "2104-02-28T23:00:00Z",
	             "2108-02-28T23:00:00Z");
	struct cron *c = parse("* * * * *", "UTC");
	cr_expect_eq(cron_next(c, INT64_MAX), CRON_NEVER, "out of range: no time");
	cr_expect_eq(cron_next(c, INT64_MIN), CRON_NEVER);
	cron_free(c);
}

Test(cron, time_zone_prefixes)
{
	EXPECT_TIMES("CRON_TZ=America/New_York 0 0 9 * * *", "Europe/Berlin",
	             "2024-05-05T10:00:00Z", "2024-05-05T13:00:00Z", "2024-05-06T13:00:00Z");
	EXPECT_TIMES("TZ=America/New_York 0 9 * * *", "UTC", "2024-05-05T10:00:00Z",
	             "2024-05-05T13:00:00Z");
	/* Local is the default zone, as time.Local is for Ofelia. */
	EXPECT_TIMES("TZ=Local 0 0 9 * * *", "Europe/Berlin", "2024-05-05T10:00:00Z",
	             "2024-05-06T07:00:00Z");
	EXPECT_TIMES("TZ= @daily", "Europe/Berlin", "2024-05-05T10:00:00Z", "2024-05-06T00:00:00Z");
}

Test(cron, spring_forward_skips_the_missing_time)
{
	EXPECT_TIMES("0 30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z",
	             "2024-04-01T00:30:00Z", "2024-04-02T00:30:00Z");
	EXPECT_TIMES("0 */30 * * * *", "Europe/Berlin", "2024-03-31T00:00:00Z",
	             "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z");
	/* Lord Howe moves 30 minutes: 02:15 does not exist on 6 October. */
	EXPECT_TIMES("0 15 2 * * *", "Australia/Lord_Howe", "2024-10-05T12:00:00Z",
	             "2024-10-06T15:15:00Z", "2024-10-07T15:15:00Z");
	/* Sao Paulo's midnight did not exist on 4 November 2018: robfig skips the day. */
	EXPECT_TIMES("0 0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00:00Z",
	             "2018-11-05T02:00:00Z", "2018-11-06T02:00:00Z");
}

Test(cron, fall_back_runs_twice_in_the_fold)
{
	EXPECT_TIMES("0 30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z",
	             "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z");
	EXPECT_TIMES("0 */30 * * * *", "Europe/Berlin", "2024-10-27T00:00:00Z",
	             "2024-10-27T00:30:00Z", "2024-10-27T01:00:00Z", "2024-10-27T01:30:00Z",
	             "2024-10-27T02:00:00Z");
}

Test(cron, dst_after_the_zone_tables_end)
{
	EXPECT_TIMES("0 30 2 * * *", "Europe/Berlin", "2100-03-27T12:00:00Z",
	             "2100-03-29T00:30:00Z");
	EXPECT_TIMES("0 0 9 * * *", "America/New_York", "2099-03-07T00:00:00Z",
	             "2099-03-07T14:00:00Z", "2099-03-08T13:00:00Z");
}

Test(cron, far_years_and_before_1970)
{
	EXPECT_TIMES("0 0 1 1 *", "UTC", "1969-06-01T00:00:00Z", "1970-01-01T00:00:00Z");
	/* Berlin's local mean time is 0:53:28 ahead, and robfig truncates minutes
	 * on absolute time, so the stray 28 seconds cost it a day. */
	EXPECT_TIMES("@daily", "Europe/Berlin", "1890-06-01T00:00:00Z", "1890-06-02T23:06:32Z",
	             "1890-06-03T23:06:32Z");
	EXPECT_TIMES("59 59 23 31 12 *", "UTC", "9998-06-01T00:00:00Z", "9998-12-31T23:59:59Z");
}

static void *next_many(void *arg)
{
	const struct cron *c = arg;
	int64_t t = 1700000000;
	for (int i = 0; i < 20000; i++)
		t = cron_next(c, t);
	return (void *)(intptr_t)(t != CRON_NEVER);
}

Test(cron, a_schedule_is_shared_by_threads)
{
	struct cron *c = parse("*/7 * * * * *", "Europe/Berlin");
	pthread_t th[4];
	void *ok;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, next_many, c), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &ok);
		cr_expect(ok != NULL);
	}
	cron_free(c);
}
