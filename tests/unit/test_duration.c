/* duration: Go's time.ParseDuration and Duration.String. Every expected value
 * here is what Go 1.19 gives for the same input. */
#include <string.h>

#include <criterion/criterion.h>

#include "util/duration.h"

static void expect_ns(const char *text, int64_t want)
{
	char err[256] = "";
	int64_t got = 12345;
	cr_expect_eq(duration_parse(text, &got, err, sizeof err), 0, "\"%s\": %s", text, err);
	cr_expect_eq(got, want, "\"%s\": got %lld, want %lld", text, (long long)got,
	             (long long)want);
}

static void expect_error(const char *text, const char *msg)
{
	char err[256] = "";
	int64_t got;
	cr_expect_eq(duration_parse(text, &got, err, sizeof err), -1, "\"%s\" was accepted", text);
	cr_expect(strstr(err, msg) != NULL, "\"%s\": error \"%s\" lacks \"%s\"", text, err, msg);
}

static void expect_format(int64_t ns, const char *want)
{
	char got[DURATION_TEXT_MAX];
	duration_format(ns, got);
	cr_expect_str_eq(got, want, "%lld", (long long)ns);
}

Test(duration, units_and_sums)
{
	expect_ns("1h30m", 5400000000000);
	expect_ns("1h1h", 7200000000000);
	expect_ns("90s", 90000000000);
	expect_ns("1ns", 1);
	expect_ns("1us", 1000);
	expect_ns("1\xc2\xb5s", 1000); /* U+00B5 micro sign */
	expect_ns("1\xce\xbcs", 1000); /* U+03BC greek mu */
	expect_ns("3000000us", 3000000000);
	expect_ns("500ms", 500000000);
	expect_ns("00000000000000000000000001s", 1000000000);
}

Test(duration, fractions)
{
	expect_ns("1.5h", 5400000000000);
	expect_ns("1.1h", 3960000000000);
	expect_ns(".5s", 500000000);
	expect_ns("1.s", 1000000000);
	expect_ns("1.000000001s", 1000000001);
	expect_ns("0.1ns", 0);
	expect_ns("1.0000000000000000000001s", 1000000000);
	expect_ns("0.3333333333333333333h", 1200000000000);
	expect_ns("0.00000000000000000000001h", 0);
}

Test(duration, signs_and_zero)
{
	expect_ns("0", 0);
	expect_ns("-0", 0);
	expect_ns("+0", 0);
	expect_ns("+5s", 5000000000);
	expect_ns("-5s", -5000000000);
	expect_ns("-1.5m", -90000000000);
}

Test(duration, limits)
{
	expect_ns("9223372036854775807ns", INT64_MAX);
	expect_ns("2562047h47m16.854775807s", INT64_MAX);
	expect_ns("-9223372036854775808ns", INT64_MIN);
	expect_error("9223372036854775808ns", "invalid duration");
	expect_error("2562047h47m16.854775808s", "invalid duration");
	expect_error("2562048h", "invalid duration");
	expect_error("100000000000000000000ns", "invalid duration");
}

Test(duration, errors)
{
	expect_error("1d", "unknown unit \"d\" in duration \"1d\"");
	expect_error("5S", "unknown unit \"S\"");
	expect_error("1e3s", "unknown unit \"e\"");
	expect_error("1m-30s", "unknown unit \"m-\"");
	expect_error("1h 30m", "unknown unit \"h \"");
	expect_error("5", "missing unit in duration \"5\"");
	expect_error("", "invalid duration");
	expect_error("s", "invalid duration");
	expect_error(".s", "invalid duration");
	expect_error("- 5s", "invalid duration");
}

Test(duration, format_as_go)
{
	expect_format(0, "0s");
	expect_format(1, "1ns");
	expect_format(999, "999ns");
	expect_format(1000, "1\xc2\xb5s");
	expect_format(1100, "1.1\xc2\xb5s");
	expect_format(1500000, "1.5ms");
	expect_format(2200000, "2.2ms");
	expect_format(1000000000, "1s");
	expect_format(3300000000, "3.3s");
	expect_format(60000000000, "1m0s");
	expect_format(245000000000, "4m5s");
	expect_format(5400000000000, "1h30m0s");
	expect_format(3600000000001, "1h0m0.000000001s");
	expect_format(-1, "-1ns");
	expect_format(-1500000000, "-1.5s");
	expect_format(INT64_MAX, "2562047h47m16.854775807s");
	expect_format(INT64_MIN, "-2562047h47m16.854775808s");
}

Test(duration, format_then_parse_round_trips)
{
	static const int64_t values[] = {
	    1, 999, 1500, 2500000, 1000000001, 86400000000000, INT64_MAX, -7, INT64_MIN};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char text[DURATION_TEXT_MAX];
		duration_format(values[i], text);
		expect_ns(text, values[i]);
	}
}
