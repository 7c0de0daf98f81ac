#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

int64_t clock_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for every year. */
int64_t clock_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void clock_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int format_utc(int64_t ns, char *out, size_t n, int64_t *frac_ns)
{
	int64_t secs = floor_div(ns, NS_PER_SEC);
	int64_t days = floor_div(secs, 86400);
	int64_t sod = secs - days * 86400;
	int64_t y;
	int m, d;

	clock_civil_from_days(days, &y, &m, &d);
	*frac_ns = ns - secs * NS_PER_SEC;
	return snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
	                (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}

void clock_format_iso(int64_t ns, char out[CLOCK_TEXT_MAX])
{
	int64_t frac;
	int n = format_utc(ns, out, CLOCK_TEXT_MAX, &frac);
	snprintf(out + n, CLOCK_TEXT_MAX - (size_t)n, ".%03dZ", (int)(frac / NS_PER_MS));
}

void clock_format_rfc3339(int64_t ns, char out[CLOCK_TEXT_MAX])
{
	int64_t frac;
	int n = format_utc(ns, out, CLOCK_TEXT_MAX, &frac);
	int ms = (int)(frac / NS_PER_MS);
	if (ms == 0) {
		snprintf(out + n, CLOCK_TEXT_MAX - (size_t)n, "Z");
		return;
	}
	char digits[4];
	snprintf(digits, sizeof digits, "%03d", ms);
	for (int i = 2; i > 0 && digits[i] == '0'; i--)
		digits[i] = '\0';
	snprintf(out + n, CLOCK_TEXT_MAX - (size_t)n, ".%sZ", digits);
}

static int digits(const char **p, int count, int *out)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += count;
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

int clock_parse_rfc3339(const char *s, int64_t *ns)
{
	int64_t secs;
	int32_t frac;

	/* Years outside about 1678-2262 do not fit in int64 nanoseconds. */
	if (clock_parse_rfc3339_sec(s, &secs, &frac) < 0 || secs < INT64_MIN / NS_PER_SEC ||
	    secs >= INT64_MAX / NS_PER_SEC)
		return -1;
	*ns = secs * NS_PER_SEC + frac;
	return 0;
}

int clock_parse_rfc3339_sec(const char *s, int64_t *out_sec, int32_t *out_nsec)
{
	const char *p = s;
	int y, mo, d, h, mi, sec;
	int64_t frac = 0;

	if (digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
	    digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
	    digits(&p, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return -1;
	if (*p == '.') {
		p++;
		int n = 0;
		int64_t scale = NS_PER_SEC;
		while (*p >= '0' && *p <= '9') {
			if (n < 9) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
			n++;
			p++;
		}
		if (n == 0)
			return -1;
	}
	int offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*out_sec = clock_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
	*out_nsec = (int32_t)frac;
	return 0;
}
