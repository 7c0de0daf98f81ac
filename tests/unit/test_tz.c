/* tz: loading zones by name, Unix time <-> wall clock, and time.Date's gap
 * and fold rules. Expected values come from Go 1.19 (time.Date, t.Zone()). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tz/tz.h"
#include "util/clock.h"

static const struct tz *load(const char *name)
{
	char err[256] = "";
	const struct tz *z = tz_load(name, err, sizeof err);
	cr_assert_not_null(z, "tz_load(%s): %s", name, err);
	return z;
}

static void expect_unknown(const char *name, const char *msg)
{
	char err[256] = "";
	cr_expect_null(tz_load(name, err, sizeof err), "%s should not load", name);
	cr_expect(strstr(err, msg) != NULL, "%s: error \"%s\" lacks \"%s\"", name, err, msg);
}

static int64_t utc(const char *rfc3339)
{
	int64_t sec;
	int32_t ns;
	cr_assert_eq(clock_parse_rfc3339_sec(rfc3339, &sec, &ns), 0, "bad time %s", rfc3339);
	return sec;
}

/* expect_civil checks tz_to_civil(name, t) against "YYYY-MM-DD hh:mm:ss". */
static void expect_civil(const char *name, int64_t t, const char *want, int wday, int off)
{
	struct tz_civil c;
	char got[64];
	tz_to_civil(load(name), t, &c);
	snprintf(got, sizeof got, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)c.year, c.month,
	         c.day, c.hour, c.min, c.sec);
	cr_expect_str_eq(got, want, "%s at %lld", name, (long long)t);
	cr_expect_eq(c.wday, wday, "%s at %lld: wday %d", name, (long long)t, c.wday);
	cr_expect_eq(c.utcoff, off, "%s at %lld: offset %d", name, (long long)t, c.utcoff);
}

/* expect_date checks tz_from_civil against Go's time.Date(...).Unix(). */
static void expect_date(const char *name, int64_t y, int mo, int d, int h, int mi, int s,
                        int64_t want)
{
	int64_t got = tz_from_civil(load(name), y, mo, d, h, mi, s);
	cr_expect_eq(got, want, "%s %lld-%d-%d %d:%d:%d: got %lld, want %lld", name, (long long)y,
	             mo, d, h, mi, s, (long long)got, (long long)want);
}

Test(tz, utc_is_built_in)
{
	char err[64];
	cr_expect_eq(tz_load("UTC", err, sizeof err), tz_utc());
	cr_expect_eq(tz_load("", err, sizeof err), tz_utc(), "Go: an empty name is UTC");
	cr_expect_str_eq(tz_name(tz_utc()), "UTC");
	expect_civil("UTC", 0, "1970-01-01 00:00:00", 4, 0);
	expect_civil("UTC", -1, "1969-12-31 23:59:59", 3, 0);
	expect_civil("UTC", 253402300799, "9999-12-31 23:59:59", 5, 0);
}

Test(tz, zones_are_cached_by_file)
{
	const struct tz *berlin = load("Europe/Berlin");
	cr_expect_eq(load("Europe/Berlin"), berlin, "a second load returns the cached zone");
	cr_expect_eq(load("Europe//Berlin"), berlin);
	cr_expect_eq(load("./Europe/./Berlin"), berlin);
	cr_expect_str_eq(tz_name(berlin), "Europe/Berlin");
	cr_expect_neq(load("America/New_York"), berlin);
}

Test(tz, bad_names_are_rejected)
{
	expect_unknown("Nowhere/Land", "unknown time zone \"Nowhere/Land\"");
	expect_unknown("europe/berlin", "unknown time zone");
	expect_unknown("Europe/Berlin/", "unknown time zone");
	expect_unknown("Europe/Berlin/.", "unknown time zone");
	expect_unknown("Europe", "unknown time zone");   /* a directory */
	expect_unknown("zone.tab", "unknown time zone"); /* not TZif */
	expect_unknown("../../../etc/localtime", "invalid time zone name");
	expect_unknown("Europe/../UTC", "invalid time zone name");
	expect_unknown("/etc/localtime", "invalid time zone name");
	expect_unknown("\\UTC", "invalid time zone name");
}

Test(tz, local_never_fails)
{
	const struct tz *local = load("Local");
	cr_expect_str_eq(tz_name(local), local == tz_utc() ? "UTC" : "Local");
	cr_expect_eq(load("Local"), local);
}

Test(tz, to_civil_across_berlin_spring_gap)
{
	expect_civil("Europe/Berlin", 1711846799, "2024-03-31 01:59:59", 0, 3600);
	expect_civil("Europe/Berlin", 1711846800, "2024-03-31 03:00:00", 0, 7200);
}

Test(tz, to_civil_half_hour_dst_of_lord_howe)
{
	expect_civil("Australia/Lord_Howe", 1728142199, "2024-10-06 01:59:59", 0, 37800);
	expect_civil("Australia/Lord_Howe", 1728142200, "2024-10-06 02:30:00", 0, 39600);
}

Test(tz, to_civil_fixed_and_historic_offsets)
{
	expect_civil("Asia/Kolkata", 1700000000, "2023-11-15 03:43:20", 3, 19800);
	/* Before the first transition: local mean time, 0:53:28. */
	expect_civil("Europe/Berlin", -3000000000, "1874-12-07 19:33:28", 1, 3208);
}

Test(tz, to_civil_from_the_footer_rule_after_2037)
{
	int64_t t = utc("2100-03-28T01:00:00Z");
	expect_civil("Europe/Berlin", t - 1, "2100-03-28 01:59:59", 0, 3600);
	expect_civil("Europe/Berlin", t, "2100-03-28 03:00:00", 0, 7200);
	expect_civil("Europe/Berlin", 4109619600, "2100-03-25 02:00:00", 4, 3600);
}

Test(tz, from_civil_normalizes_like_time_date)
{
	expect_date("UTC", 2023, 13, 1, 0, 0, 0, 1704067200);
	expect_date("UTC", 2024, 2, 30, 0, 0, 0, 1709251200);
	expect_date("UTC", 2024, 1, 1, 24, 0, 0, 1704153600);
	expect_date("UTC", 2024, 0, 0, -1, 0, 0, 1701298800);
	expect_date("UTC", 2024, -13, 1, 0, 0, -1, 1667260799);
}

Test(tz, from_civil_in_a_gap)
{
	/* East of UTC Go lands after the gap, west of it before. */
	expect_date("Europe/Berlin", 2024, 3, 31, 2, 30, 0, 1711848600);
	expect_date("America/New_York", 2024, 3, 10, 2, 30, 0, 1710052200);
	expect_date("Australia/Lord_Howe", 2024, 10, 6, 2, 15, 0, 1728143100);
	expect_date("Pacific/Chatham", 2024, 9, 29, 2, 50, 0, 1727532300);
	/* Sao Paulo's DST began at midnight: 00:30 becomes 23:30 the day before. */
	expect_date("America/Sao_Paulo", 2018, 11, 4, 0, 30, 0, 1541298600);
	expect_date("Europe/Berlin", 2100, 3, 28, 2, 30, 0, 4109880600);
}

Test(tz, from_civil_in_a_fold)
{
	/* Berlin gets the second 02:30 (CET), New York the first 01:30 (EDT). */
	expect_date("Europe/Berlin", 2024, 10, 27, 2, 30, 0, 1729992600);
	expect_date("America/New_York", 2024, 11, 3, 1, 30, 0, 1730611800);
	expect_date("Australia/Lord_Howe", 2024, 4, 7, 1, 45, 0, 1712416500);
	expect_date("Europe/Berlin", 2100, 10, 31, 2, 30, 0, 4128629400);
}

Test(tz, from_civil_before_the_first_transition)
{
	expect_date("Europe/Berlin", 1880, 1, 1, 0, 0, 0, -2840144008);
}

Test(tz, offset_span_covers_the_period)
{
	int64_t lo, hi;
	int off = tz_offset(load("Europe/Berlin"), utc("2024-06-01T00:00:00Z"), &lo, &hi);
	cr_expect_eq(off, 7200);
	cr_expect_eq(lo, utc("2024-03-31T01:00:00Z"));
	cr_expect_eq(hi, utc("2024-10-27T01:00:00Z"));
	off = tz_offset(load("Europe/Berlin"), utc("2090-06-01T00:00:00Z"), &lo, &hi);
	cr_expect_eq(off, 7200);
	cr_expect_eq(lo, utc("2090-03-26T01:00:00Z"));
	cr_expect_eq(hi, utc("2090-10-29T01:00:00Z"));
	cr_expect_eq(tz_offset(tz_utc(), 0, NULL, NULL), 0);
}

Test(tz, wall_seconds_saturate_far_out)
{
	cr_expect_eq(tz_wall_seconds(0, 1, 1, 0, 0, 0), -62167219200);
	cr_expect_eq(tz_wall_seconds(INT64_MAX, 1, 1, 0, 0, 0), INT64_MAX);
	cr_expect_eq(tz_wall_seconds(INT64_MIN, 1, 1, 0, 0, 0), INT64_MIN);
}

static void *load_many(void *arg)
{
	static const char *const names[] = {"Europe/Paris", "Asia/Tokyo", "America/Chicago",
	                                    "Africa/Cairo"};
	const struct tz **out = arg;
	char err[256];
	for (int round = 0; round < 200; round++)
		for (int i = 0; i < 4; i++)
			out[i] = tz_load(names[i], err, sizeof err);
	return NULL;
}

Test(tz, concurrent_loads_share_one_zone)
{
	pthread_t th[8];
	const struct tz *got[8][4];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, load_many, got[i]), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (int i = 1; i < 8; i++)
		for (int k = 0; k < 4; k++)
			cr_expect_eq(got[i][k], got[0][k], "thread %d zone %d", i, k);
	cr_expect_not_null(got[0][0]);
}
