#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/duration.h"

#define OVERFLOW_LIMIT (1ULL << 63)

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
    {"ns", 1ULL},           {"us", 1000ULL},      {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL},                                               /* U+03BC greek mu */
    {"ms", 1000000ULL},     {"s", 1000000000ULL}, {"m", 60000000000ULL},  {"h", 3600000000000ULL},
};

static int fail(char *err, size_t errlen, const char *what, const char *orig)
{
	if (err && errlen)
		snprintf(err, errlen, "%s \"%s\"", what, orig);
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int duration_parse(const char *orig, int64_t *ns, char *err, size_t errlen)
{
	const char *s = orig;
	uint64_t total = 0;
	bool neg = false;

	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*s == '\0')
		return fail(err, errlen, "invalid duration", orig);
	while (*s) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		bool pre = false, post = false;

		if (!(*s == '.' || is_digit(*s)))
			return fail(err, errlen, "invalid duration", orig);
		for (; is_digit(*s); s++) {
			if (v > OVERFLOW_LIMIT / 10)
				return fail(err, errlen, "invalid duration", orig);
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > OVERFLOW_LIMIT)
				return fail(err, errlen, "invalid duration", orig);
			pre = true;
		}
		if (*s == '.') {
			bool overflow = false;
			for (s++; is_digit(*s); s++) {
				post = true;
				if (overflow)
					continue;
				if (f > (OVERFLOW_LIMIT - 1) / 10) {
					overflow = true;
					continue;
				}
				uint64_t y = f * 10 + (uint64_t)(*s - '0');
				if (y > OVERFLOW_LIMIT) {
					overflow = true;
					continue;
				}
				f = y;
				scale *= 10;
			}
		}
		if (!pre && !post)
			return fail(err, errlen, "invalid duration", orig);

		size_t ulen = 0;
		while (s[ulen] && s[ulen] != '.' && !is_digit(s[ulen]))
			ulen++;
		if (ulen == 0)
			return fail(err, errlen, "missing unit in duration", orig);
		uint64_t unit = 0;
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strlen(units[i].name) == ulen && memcmp(units[i].name, s, ulen) == 0)
				unit = units[i].ns;
		if (unit == 0) {
			if (err && errlen)
				snprintf(err, errlen, "unknown unit \"%.*s\" in duration \"%s\"",
				         (int)ulen, s, orig);
			return -1;
		}
		s += ulen;
		if (v > OVERFLOW_LIMIT / unit)
			return fail(err, errlen, "invalid duration", orig);
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > OVERFLOW_LIMIT)
				return fail(err, errlen, "invalid duration", orig);
		}
		total += v;
		if (total > OVERFLOW_LIMIT)
			return fail(err, errlen, "invalid duration", orig);
	}
	if (neg) {
		*ns = total == OVERFLOW_LIMIT ? INT64_MIN : -(int64_t)total;
		return 0;
	}
	if (total > OVERFLOW_LIMIT - 1)
		return fail(err, errlen, "invalid duration", orig);
	*ns = (int64_t)total;
	return 0;
}

int duration_check(int64_t ns, char *err, size_t errlen)
{
	if (ns >= -DURATION_MAX_NS && ns <= DURATION_MAX_NS)
		return 0;
	snprintf(err, errlen, "out of range (at most 876000h, 100 years)");
	return -1;
}

/* fmt_frac writes v / 10^prec with trailing zeros (and a lone dot) dropped,
 * right-aligned into buf ending at w; returns the new start and v / 10^prec. */
static size_t fmt_frac(char *buf, size_t w, uint64_t v, int prec, uint64_t *rest)
{
	bool print = false;
	for (int i = 0; i < prec; i++) {
		int digit = (int)(v % 10);
		print = print || digit != 0;
		if (print)
			buf[--w] = (char)('0' + digit);
		v /= 10;
	}
	if (print)
		buf[--w] = '.';
	*rest = v;
	return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v)
{
	if (v == 0) {
		buf[--w] = '0';
		return w;
	}
	while (v > 0) {
		buf[--w] = (char)('0' + v % 10);
		v /= 10;
	}
	return w;
}

void duration_format(int64_t d, char out[DURATION_TEXT_MAX])
{
	char buf[32];
	size_t w = sizeof buf;
	bool neg = d < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;

	if (u < 1000000000ULL) {
		/* Below one second Go picks the largest unit that keeps a whole part. */
		int prec;
		buf[--w] = 's';
		w--;
		if (u == 0) {
			snprintf(out, DURATION_TEXT_MAX, "0s");
			return;
		} else if (u < 1000ULL) {
			prec = 0;
			buf[w] = 'n';
		} else if (u < 1000000ULL) {
			prec = 3;
			w--;
			memcpy(&buf[w], "\xc2\xb5", 2);
		} else {
			prec = 6;
			buf[w] = 'm';
		}
		w = fmt_frac(buf, w, u, prec, &u);
		w = fmt_int(buf, w, u);
	} else {
		buf[--w] = 's';
		w = fmt_frac(buf, w, u, 9, &u);
		w = fmt_int(buf, w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			w = fmt_int(buf, w, u % 60);
			u /= 60;
			if (u > 0) {
				buf[--w] = 'h';
				w = fmt_int(buf, w, u);
			}
		}
	}
	if (neg)
		buf[--w] = '-';
	snprintf(out, DURATION_TEXT_MAX, "%.*s", (int)(sizeof buf - w), buf + w);
}
