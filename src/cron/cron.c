/* cron: schedules as Ofelia parses and runs them (robfig/cron v3.0.1).
 *
 * DESIGN
 * - The parser accepts exactly what robfig's parser accepts with Ofelia's
 *   options, field for field (strconv.Atoi numbers, names folded the way
 *   strings.ToLower folds them, Unicode white space between fields), plus
 *   three things robfig rejects: Sunday as 7, the never-firing @triggered,
 *   @manual and @none, and a clean error where robfig panics on a TZ=
 *   prefix with no space after it (docs/cron.md lists them).
 * - cron_next is robfig's SpecSchedule.Next, step for step: it walks the wall
 *   clock of the schedule's zone month, day, hour, minute and second, with
 *   time.Date for every reset and the same wrap-around and five-year limit.
 *   That walk is what gives robfig's answers around DST changes, odd ones
 *   included, so it is kept rather than replaced by a cleverer search.
 * - Speed comes from jumping over runs of steps that provably end where the
 *   single steps would: while one UTC offset covers the whole run, adding an
 *   hour (or minute, second, day) moves the wall clock by exactly that much,
 *   so the first matching value can be computed instead of stepped to. Near
 *   an offset change the walk falls back to single steps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron/cron.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/xalloc.h"

#define CRON_STAR  (UINT64_C(1) << 63) /* robfig's star bit: the field was * or ? */
#define CRON_LIMIT ((int64_t)1 << 52)  /* |after| beyond this has no next time */
#define CRON_DAY   86400

enum cron_kind { CRON_KIND_SPEC, CRON_KIND_EVERY, CRON_KIND_MANUAL };

enum { CRON_SEC, CRON_MIN, CRON_HOUR, CRON_DOM, CRON_MONTH, CRON_DOW, CRON_NFIELDS };

struct cron {
	enum cron_kind kind;
	uint64_t bits[CRON_NFIELDS]; /* bit v set: value v matches; plus CRON_STAR */
	bool never;                  /* some field matches nothing */
	int64_t every;               /* seconds, for @every */
	const struct tz *zone;
};

struct cron_field {
	const char *name;
	unsigned min, max;
	const char *const *names; /* names[i] is value i + min */
};

static const char *const cron_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                               "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const cron_dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct cron_field cron_fields[CRON_NFIELDS] = {
    {"second", 0, 59, NULL},
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},
    {"month", 1, 12, cron_month_names},
    {"day of week", 0, 6, cron_dow_names},
};

/* The day-of-week field also takes 7 for Sunday; robfig stops at 6. */
#define CRON_DOW_MAX 7

/* A piece of the spec: not NUL-terminated. */
struct cron_str {
	const char *p;
	size_t n;
};

static int cron_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cron_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool cron_str_is(struct cron_str s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* ---- white space, as Go's unicode.IsSpace sees UTF-8 ---- */

/* cron_space returns the length of the white-space character at s[0..n), or
 * 0. These are the byte sequences of every rune unicode.IsSpace accepts. */
static size_t cron_space(const char *s, size_t n)
{
	static const char *const wide[] = {
	    "\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
	    "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
	    "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
	    "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80",
	};
	unsigned char c = (unsigned char)s[0];
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	if (c < 0xc2)
		return 0;
	for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
		size_t len = strlen(wide[i]);
		if (len <= n && memcmp(s, wide[i], len) == 0)
			return len;
	}
	return 0;
}

/* cron_trim is strings.TrimSpace. */
static struct cron_str cron_trim(struct cron_str s)
{
	size_t k;
	while (s.n > 0 && (k = cron_space(s.p, s.n)) > 0) {
		s.p += k;
		s.n -= k;
	}
	/* Trailing: scan forward, remembering where the last non-space ended. */
	size_t end = 0;
	for (size_t i = 0; i < s.n;) {
		k = cron_space(s.p + i, s.n - i);
		i += k ? k : 1;
		if (!k)
			end = i;
	}
	s.n = end;
	return s;
}

/* ---- numbers and names ---- */

enum cron_num { CRON_NUM_OK, CRON_NUM_BAD, CRON_NUM_RANGE };

/* cron_atoi is strconv.Atoi on 64-bit Go: an optional sign, then decimal
 * digits whose value fits int64. */
static enum cron_num cron_atoi(struct cron_str s, int64_t *out)
{
	size_t i = 0;
	bool neg = false, big = false;
	uint64_t v = 0;

	if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
		neg = s.p[0] == '-';
		i = 1;
	}
	if (i == s.n)
		return CRON_NUM_BAD;
	for (; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return CRON_NUM_BAD;
		if (v > (UINT64_C(1) << 63) / 10)
			big = true;
		else
			v = v * 10 + (uint64_t)(s.p[i] - '0');
		big = big || v > (UINT64_C(1) << 63);
	}
	if (big || v > (UINT64_C(1) << 63) - !neg)
		return CRON_NUM_RANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return CRON_NUM_OK;
}

/* cron_name looks s up in the field's names after folding it as Go's
 * strings.ToLower does; two non-ASCII runes fold to ASCII letters there:
 * U+0130 to 'i' and U+212A (Kelvin) to 'k'. Returns -1 for no name. */
static int cron_name(const struct cron_field *f, struct cron_str s)
{
	char low[4];
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s.p;

	for (size_t i = 0; i < s.n; n++) {
		if (n == 3)
			return -1;
		if (p[i] < 0x80) {
			low[n] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
			i++;
		} else if (s.n - i >= 2 && p[i] == 0xc4 && p[i + 1] == 0xb0) {
			low[n] = 'i';
			i += 2;
		} else if (s.n - i >= 3 && p[i] == 0xe2 && p[i + 1] == 0x84 && p[i + 2] == 0xaa) {
			low[n] = 'k';
			i += 3;
		} else {
			return -1;
		}
	}
	if (n != 3)
		return -1;
	for (unsigned v = 0; v <= f->max - f->min; v++)
		if (memcmp(low, f->names[v], 3) == 0)
			return (int)(v + f->min);
	return -1;
}

static bool cron_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80;
}

/* cron_value reads one end of a range: a name (month, weekday) or a number. */
static int cron_value(const struct cron_field *f, struct cron_str s, uint64_t *out, char *err,
                      size_t errlen)
{
	int64_t v;
	if (f->names) {
		int named = cron_name(f, s);
		if (named >= 0) {
			*out = (uint64_t)named;
			return 0;
		}
	}
	switch (cron_atoi(s, &v)) {
	case CRON_NUM_OK:
		*out = (uint64_t)v; /* never negative: '-' splits ranges */
		return 0;
	case CRON_NUM_RANGE:
		return cron_fail(err, errlen, "%s %.*s out of range (%u-%u)", f->name, (int)s.n,
		                 s.p, f->min, f->max);
	default:
		if (f->names && s.n > 0 && cron_is_alpha(s.p[0]))
			return cron_fail(err, errlen, "unknown %s name \"%.*s\"", f->name, (int)s.n,
			                 s.p);
		return cron_fail(err, errlen, "%s value \"%.*s\" is not a number", f->name,
		                 (int)s.n, s.p);
	}
}

/* ---- fields ---- */

/* cron_split cuts s at the first c: s keeps the part before, the rest is
 * returned; has tells whether c was there. */
static struct cron_str cron_split(struct cron_str *s, char c, bool *has)
{
	const char *at = memchr(s->p, c, s->n);
	struct cron_str rest = {s->p + s->n, 0};
	*has = at != NULL;
	if (at) {
		rest.p = at + 1;
		rest.n = s->n - (size_t)(at - s->p) - 1;
		s->n = (size_t)(at - s->p);
	}
	return rest;
}

static bool cron_has(struct cron_str s, char c)
{
	return memchr(s.p, c, s.n) != NULL;
}

/* cron_step reads the step after '/': a non-negative int64. */
static int cron_step(const struct cron_field *f, struct cron_str e, struct cron_str s,
                     uint64_t *step, char *err, size_t errlen)
{
	int64_t v;
	switch (cron_atoi(s, &v)) {
	case CRON_NUM_OK:
		if (v >= 1) {
			*step = (uint64_t)v;
			return 0;
		}
		return cron_fail(err, errlen, "%s step in \"%.*s\" must be at least 1", f->name,
		                 (int)e.n, e.p);
	case CRON_NUM_RANGE:
		return cron_fail(err, errlen, "%s step in \"%.*s\" is too large", f->name, (int)e.n,
		                 e.p);
	default:
		return cron_fail(err, errlen, "%s step in \"%.*s\" is not a number", f->name,
		                 (int)e.n, e.p);
	}
}

/* cron_range reads one element of a list, robfig's getRange:
 * "*" | "?" | N | A-B, each with an optional "/step"; N/S means N-max/S.
 * After "*" or "?" robfig ignores anything up to the '/', and so do we. */
static int cron_range(const struct cron_field *f, unsigned max, struct cron_str e, uint64_t *bits,
                      char *err, size_t errlen)
{
	struct cron_str lo = e, hi;
	bool slash, dash;
	uint64_t start, end, step = 1, star = 0;

	struct cron_str step_s = cron_split(&lo, '/', &slash);
	if (cron_has(step_s, '/'))
		return cron_fail(err, errlen, "%s \"%.*s\" has more than one '/'", f->name,
		                 (int)e.n, e.p);
	hi = cron_split(&lo, '-', &dash);
	if (cron_str_is(lo, "*") || cron_str_is(lo, "?")) {
		start = f->min;
		end = f->max;
		star = CRON_STAR;
	} else {
		if (cron_value(f, lo, &start, err, errlen) < 0)
			return -1;
		end = start;
		if (cron_has(hi, '-'))
			return cron_fail(err, errlen, "%s \"%.*s\" has more than one '-'", f->name,
			                 (int)e.n, e.p);
		if (dash && cron_value(f, hi, &end, err, errlen) < 0)
			return -1;
	}
	if (slash) {
		if (cron_step(f, e, step_s, &step, err, errlen) < 0)
			return -1;
		if (!dash)
			end = start > f->max ? start : f->max;
		if (step > 1)
			star = 0;
	}
	if (start < f->min || start > max)
		return cron_fail(err, errlen, "%s %.*s out of range (%u-%u)", f->name, (int)lo.n,
		                 lo.p, f->min, max);
	if (end > max)
		return cron_fail(err, errlen, "%s %.*s out of range (%u-%u)", f->name, (int)hi.n,
		                 hi.p, f->min, max);
	if (start > end)
		return cron_fail(err, errlen, "%s range \"%.*s\" starts after it ends", f->name,
		                 (int)e.n, e.p);
	for (uint64_t v = start; v <= end; v += step)
		*bits |= UINT64_C(1) << v;
	*bits |= star;
	return 0;
}

/* cron_field parses a comma-separated list; empty elements are skipped, as
 * strings.FieldsFunc skips them, so "," matches nothing at all. */
static int cron_field(int which, struct cron_str s, uint64_t *bits, char *err, size_t errlen)
{
	const struct cron_field *f = &cron_fields[which];
	unsigned max = which == CRON_DOW ? CRON_DOW_MAX : f->max;
	bool more = true;

	*bits = 0;
	while (more) {
		struct cron_str e = s;
		s = cron_split(&e, ',', &more);
		if (e.n > 0 && cron_range(f, max, e, bits, err, errlen) < 0)
			return -1;
	}
	if (which == CRON_DOW && (*bits >> 7 & 1))
		*bits = (*bits & ~(UINT64_C(1) << 7)) | 1;
	return 0;
}

/* cron_never tells whether no time can ever match; robfig would search its
 * five years and give up, so this only saves the search. */
static bool cron_never(const uint64_t *bits)
{
	for (int i = CRON_SEC; i <= CRON_MONTH; i++)
		if (i != CRON_DOM && (bits[i] & ~CRON_STAR) == 0)
			return true;
	uint64_t dom = bits[CRON_DOM] & ~CRON_STAR, dow = bits[CRON_DOW] & ~CRON_STAR;
	if ((bits[CRON_DOM] | bits[CRON_DOW]) & CRON_STAR)
		return dom == 0 || dow == 0;
	return dom == 0 && dow == 0;
}

/* cron_fields_parse splits s at white space into 5 or 6 fields. */
static int cron_fields_parse(struct cron_str s, struct cron *c, char *err, size_t errlen)
{
	struct cron_str f[6];
	size_t n = 0, i = 0;

	while (i < s.n) {
		size_t k = cron_space(s.p + i, s.n - i);
		if (k) {
			i += k;
			continue;
		}
		size_t start = i;
		while (i < s.n && cron_space(s.p + i, s.n - i) == 0)
			i++;
		if (n < 6)
			f[n] = (struct cron_str){s.p + start, i - start};
		n++;
	}
	if (n != 5 && n != 6)
		return cron_fail(err, errlen, "expected 5 or 6 fields, found %zu", n);
	int first = n == 5 ? CRON_MIN : CRON_SEC;
	c->bits[CRON_SEC] = 1; /* 5 fields: second 0 */
	for (int k = first; k < CRON_NFIELDS; k++)
		if (cron_field(k, f[k - first], &c->bits[k], err, errlen) < 0)
			return -1;
	c->never = cron_never(c->bits);
	return 0;
}

/* ---- descriptors ---- */

/* cron_descriptor parses "@name" specs: robfig's, and the never-firing ones. */
static int cron_descriptor(struct cron_str s, struct cron *c, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		int64_t sec, min, hour, dom, month, dow; /* -1: every value */
	} named[] = {
	    {"@yearly", 0, 0, 0, 1, 1, -1},    {"@annually", 0, 0, 0, 1, 1, -1},
	    {"@monthly", 0, 0, 0, 1, -1, -1},  {"@weekly", 0, 0, 0, -1, -1, 0},
	    {"@daily", 0, 0, 0, -1, -1, -1},   {"@midnight", 0, 0, 0, -1, -1, -1},
	    {"@hourly", 0, 0, -1, -1, -1, -1},
	};
	static const char *const manual[] = {"@triggered", "@manual", "@none"};

	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		if (!cron_str_is(s, named[i].name))
			continue;
		const int64_t v[] = {named[i].sec, named[i].min,   named[i].hour,
		                     named[i].dom, named[i].month, named[i].dow};
		for (int k = 0; k < CRON_NFIELDS; k++) {
			const struct cron_field *f = &cron_fields[k];
			c->bits[k] =
			    v[k] >= 0
			        ? UINT64_C(1) << v[k]
			        : ((UINT64_C(2) << f->max) - (UINT64_C(1) << f->min)) | CRON_STAR;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof manual / sizeof manual[0]; i++) {
		if (cron_str_is(s, manual[i])) {
			c->kind = CRON_KIND_MANUAL;
			return 0;
		}
	}
	if (s.n >= 7 && memcmp(s.p, "@every ", 7) == 0) {
		char *text = xstrndup(s.p + 7, s.n - 7);
		char derr[256];
		int64_t ns;
		int rc = duration_parse(text, &ns, derr, sizeof derr);
		free(text);
		if (rc < 0)
			return cron_fail(err, errlen, "@every: %s", derr);
		/* robfig: below a second counts as a second; truncate to seconds. */
		c->kind = CRON_KIND_EVERY;
		c->every = ns < NS_PER_SEC ? 1 : ns / NS_PER_SEC;
		return 0;
	}
	return cron_fail(err, errlen, "unknown descriptor \"%.*s\"", (int)s.n, s.p);
}

/* ---- parse ---- */

/* cron_zone_prefix handles "TZ=Zone rest" and "CRON_TZ=Zone rest": the zone
 * runs to the first ASCII space, and the rest is trimmed (robfig does both).
 * "Local" is the default zone: robfig's Location is then time.Local, which
 * Ofelia's scheduler treats as the process zone. */
static int cron_zone_prefix(const char *spec, struct cron_str *body, struct cron *c, char *err,
                            size_t errlen)
{
	const char *eq = strchr(spec, '=');
	const char *sp = strchr(spec, ' ');
	char zerr[256];

	if (!sp)
		return cron_fail(
		    err, errlen,
		    "time zone prefix \"%s\" must be followed by a space and a schedule", spec);
	char *name = xstrndup(eq + 1, (size_t)(sp - eq - 1));
	if (strcmp(name, "Local") != 0) {
		c->zone = tz_load(name, zerr, sizeof zerr);
		if (!c->zone) {
			cron_fail(err, errlen, "bad time zone in \"%.*s\": %s", (int)(sp - spec),
			          spec, zerr);
			free(name);
			return -1;
		}
	}
	free(name);
	*body = cron_trim((struct cron_str){sp, strlen(sp)});
	return 0;
}

int cron_parse(const char *spec, const struct tz *zone, struct cron **out, char *err, size_t errlen)
{
	struct cron c = {.kind = CRON_KIND_SPEC, .zone = zone};
	struct cron_str body = {spec, strlen(spec)};
	char zerr[256];

	*out = NULL;
	if (!c.zone && !(c.zone = tz_load("Local", zerr, sizeof zerr)))
		return cron_fail(err, errlen, "%s", zerr);
	if (body.n == 0)
		return cron_fail(err, errlen, "empty schedule");
	if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0)
		if (cron_zone_prefix(spec, &body, &c, err, errlen) < 0)
			return -1;
	int rc = body.n > 0 && body.p[0] == '@' ? cron_descriptor(body, &c, err, errlen)
	                                        : cron_fields_parse(body, &c, err, errlen);
	if (rc < 0)
		return -1;
	*out = xmalloc(sizeof **out);
	**out = c;
	return 0;
}

void cron_free(struct cron *c)
{
	free(c);
}

int cron_check_range(const struct cron *c, char *err, size_t errlen)
{
	if (c->kind == CRON_KIND_EVERY && c->every > DURATION_MAX_NS / NS_PER_SEC)
		return cron_fail(err, errlen,
		                 "@every: %llds is out of range (at most 876000h, "
		                 "100 years)",
		                 (long long)c->every);
	return 0;
}

bool cron_is_manual(const struct cron *c)
{
	return c->kind == CRON_KIND_MANUAL;
}

/* ---- next ---- */

/* The wall clock of one instant in the schedule's zone, which is all that
 * robfig's Next looks at (Go's t.Month(), t.Day(), ...). */
struct cron_cursor {
	const struct tz *zone;
	int64_t t;      /* Unix seconds */
	int off;        /* offset at t ... */
	int64_t lo, hi; /* ... held over [lo, hi) */
	int64_t days;   /* wall-clock days since 1970-01-01, of: */
	int64_t year;
	int mon, day, hour, min, sec, wday;
};

static int64_t cron_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int cron_offset(struct cron_cursor *cur, int64_t t)
{
	if (t < cur->lo || t >= cur->hi)
		cur->off = tz_offset(cur->zone, t, &cur->lo, &cur->hi);
	return cur->off;
}

/* cron_set moves the cursor to t; afterwards [lo, hi) is t's span. */
static void cron_set(struct cron_cursor *cur, int64_t t)
{
	int64_t wall = t + cron_offset(cur, t);
	int64_t days = cron_floor_div(wall, CRON_DAY);
	int sod = (int)(wall - days * CRON_DAY);

	cur->t = t;
	if (days != cur->days) {
		cur->days = days;
		clock_civil_from_days(days, &cur->year, &cur->mon, &cur->day);
		cur->wday = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
	}
	cur->hour = sod / 3600;
	cur->min = sod / 60 % 60;
	cur->sec = sod % 60;
}

/* cron_date moves the cursor to time.Date(year, mon, ..., zone). */
static void cron_date(struct cron_cursor *cur, int64_t year, int mon, int day, int hour, int min,
                      int sec)
{
	int64_t wall = tz_wall_seconds(year, mon, day, hour, min, sec);
	int off = cron_offset(cur, wall);
	cron_set(cur, wall - cron_offset(cur, wall - off));
}

static bool cron_day_matches(const struct cron *c, int day, int wday)
{
	uint64_t dom = c->bits[CRON_DOM], dow = c->bits[CRON_DOW];
	bool dom_ok = dom >> day & 1, dow_ok = dow >> wday & 1;
	if ((dom | dow) & CRON_STAR)
		return dom_ok && dow_ok;
	return dom_ok || dow_ok;
}

/* cron_steps counts the unit steps from v to the next value in bits, or to
 * the wrap at limit if that comes first. */
static int cron_steps(uint64_t bits, int v, int limit)
{
	uint64_t ahead = (bits >> (v + 1) << (v + 1)) & ((UINT64_C(1) << limit) - 1);
	return ahead ? __builtin_ctzll(ahead) - v : limit - v;
}

/* cron_room caps k at the number of steps of unit seconds that keep both
 * the instant and the instant read as wall time (what time.Date looks up)
 * inside the span of the cursor's offset; 0 when even the start is not. */
static int64_t cron_room(const struct cron_cursor *cur, int64_t k, int64_t unit)
{
	int64_t below = cur->off < 0 ? cur->off : 0, above = cur->off > 0 ? cur->off : 0;
	if (cur->t + below < cur->lo)
		return 0;
	if (cur->hi > cur->t + (k + 1) * unit + above)
		return k;
	int64_t room = (cur->hi - 1 - above - cur->t) / unit;
	return room < k ? room : k;
}

/* cron_advance steps the cursor as robfig's loops do with t.Add(unit) until
 * the field reaches bits or wraps to 0, jumping as far toward that as one
 * offset covers (there the wall clock moves exactly k units). Returns false
 * on the wrap. */
static bool cron_advance(struct cron_cursor *cur, uint64_t bits, int *field, int limit,
                         int64_t unit)
{
	int64_t k = cron_room(cur, cron_steps(bits, *field, limit), unit);
	cron_set(cur, cur->t + (k > 0 ? k : 1) * unit);
	return *field != 0;
}

/* cron_skip_months does the month loop's time.Date(y, m+1, d, ...) steps up
 * to the next matching month (or January) at once, as far as one offset
 * covers them: there each step keeps the wall day and time. Day 29-31 could
 * spill into the next month, so those take single steps. */
static bool cron_skip_months(const struct cron *c, struct cron_cursor *cur)
{
	int64_t wall = cur->t + cur->off, k = 0;
	int64_t sod = cur->hour * 3600 + cur->min * 60 + cur->sec;

	if (cur->day > 28)
		return false;
	int target = cur->mon + cron_steps(c->bits[CRON_MONTH], cur->mon, 13);
	int64_t whole = tz_wall_seconds(cur->year, target, cur->day, 0, 0, 0) + sod - wall;
	if (cron_room(cur, 1, whole) == 1) {
		k = whole;
	} else {
		/* Part of the way: month by month up to the offset change. */
		for (int m = cur->mon + 1; m < target; m++) {
			int64_t w = tz_wall_seconds(cur->year, m, cur->day, 0, 0, 0) + sod - wall;
			if (cron_room(cur, 1, w) < 1)
				break;
			k = w;
		}
	}
	if (k == 0)
		return false;
	cron_set(cur, cur->t + k);
	return true;
}

static bool cron_fix_month(const struct cron *c, struct cron_cursor *cur, bool *added)
{
	while (!(c->bits[CRON_MONTH] >> cur->mon & 1)) {
		if (!*added) {
			*added = true;
			cron_date(cur, cur->year, cur->mon, 1, 0, 0, 0);
		}
		if (!cron_skip_months(c, cur))
			cron_date(cur, cur->year, cur->mon + 1, cur->day, cur->hour, cur->min,
			          cur->sec);
		if (cur->mon == 1)
			return false;
	}
	return true;
}

/* cron_skip_days does the day loop's steps up to the next matching day (or
 * the 1st of next month) at once, as far as each step is exactly +24h: the
 * cursor is at midnight and one offset covers the way. Returns false when it
 * cannot take even one step so. */
static bool cron_skip_days(const struct cron *c, struct cron_cursor *cur)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = cur->year % 4 == 0 && (cur->year % 100 != 0 || cur->year % 400 == 0);
	int last = dim[cur->mon - 1] + (cur->mon == 2 && leap);
	int k = 1;

	if (cur->hour != 0)
		return false;
	while (cur->day + k <= last && !cron_day_matches(c, cur->day + k, (cur->wday + k) % 7))
		k++;
	int64_t room = cron_room(cur, k, CRON_DAY);
	if (room < 1)
		return false;
	cron_set(cur, cur->t + room * CRON_DAY);
	return true;
}

static bool cron_fix_day(const struct cron *c, struct cron_cursor *cur, bool *added)
{
	while (!cron_day_matches(c, cur->day, cur->wday)) {
		if (!*added) {
			*added = true;
			cron_date(cur, cur->year, cur->mon, cur->day, 0, 0, 0);
		}
		if (!cron_skip_days(c, cur)) {
			cron_date(cur, cur->year, cur->mon, cur->day + 1, cur->hour, cur->min,
			          cur->sec);
			/* robfig: where DST moved midnight, go back to the day's
			 * first hour, or on to the next day's. */
			if (cur->hour != 0)
				cron_set(cur,
				         cur->t + (cur->hour > 12 ? 24 - cur->hour : -cur->hour) *
				                      (int64_t)3600);
		}
		if (cur->day == 1)
			return false;
	}
	return true;
}

static bool cron_fix_hour(const struct cron *c, struct cron_cursor *cur, bool *added)
{
	while (!(c->bits[CRON_HOUR] >> cur->hour & 1)) {
		if (!*added) {
			*added = true;
			cron_date(cur, cur->year, cur->mon, cur->day, cur->hour, 0, 0);
		}
		if (!cron_advance(cur, c->bits[CRON_HOUR], &cur->hour, 24, 3600))
			return false;
	}
	return true;
}

static bool cron_fix_minute(const struct cron *c, struct cron_cursor *cur, bool *added)
{
	while (!(c->bits[CRON_MIN] >> cur->min & 1)) {
		if (!*added) {
			/* Go's Truncate(time.Minute) works on absolute time. */
			*added = true;
			cron_set(cur, cron_floor_div(cur->t, 60) * 60);
		}
		if (!cron_advance(cur, c->bits[CRON_MIN], &cur->min, 60, 60))
			return false;
	}
	return true;
}

static bool cron_fix_second(const struct cron *c, struct cron_cursor *cur, bool *added)
{
	while (!(c->bits[CRON_SEC] >> cur->sec & 1)) {
		*added = true; /* Truncate(time.Second) of a whole second changes nothing */
		if (!cron_advance(cur, c->bits[CRON_SEC], &cur->sec, 60, 1))
			return false;
	}
	return true;
}

static int64_t cron_next_spec(const struct cron *c, int64_t after)
{
	struct cron_cursor cur = {
	    .zone = c->zone, .lo = INT64_MAX, .hi = INT64_MIN, .days = INT64_MIN};
	bool added = false;

	cron_set(&cur, after + 1);
	int64_t year_limit = cur.year + 5;
	for (;;) {
		if (cur.year > year_limit)
			return CRON_NEVER;
		if (cron_fix_month(c, &cur, &added) && cron_fix_day(c, &cur, &added) &&
		    cron_fix_hour(c, &cur, &added) && cron_fix_minute(c, &cur, &added) &&
		    cron_fix_second(c, &cur, &added))
			return cur.t;
	}
}

int64_t cron_next(const struct cron *c, int64_t after)
{
	switch (c->kind) {
	case CRON_KIND_MANUAL:
		return CRON_NEVER;
	case CRON_KIND_EVERY:
		return after > INT64_MAX - c->every ? CRON_NEVER : after + c->every;
	case CRON_KIND_SPEC:
		break;
	}
	if (c->never || after < -CRON_LIMIT || after > CRON_LIMIT)
		return CRON_NEVER;
	return cron_next_spec(c, after);
}
