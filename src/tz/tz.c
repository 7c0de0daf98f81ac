/* tz: zones read from TZif files exactly as Go's time package reads them,
 * because a schedule must fire at the instants Ofelia (Go) computes.
 *
 * DESIGN
 * - A zone is its transition table, the local time types, and the POSIX TZ
 *   string of the file's footer, which Go applies from the last transition on.
 *   Offsets come from the same lookup as Go's Location.lookup, including its
 *   choice of zone before the first transition and its per-UTC-year reading
 *   of the footer rules (tzset).
 * - tz_from_civil is Go's time.Date. Go looks up the offset at the wall time
 *   read as UTC, subtracts it, and looks again when the result falls outside
 *   that offset's period. Since each period has one offset, this equals
 *   wall - offset(wall - offset(wall)), which is what we compute.
 * - Loaded zones live in a list guarded by one mutex and are never changed or
 *   freed, so callers use them from any thread without locking.
 * - Nothing here touches the TZ variable, tzset() or localtime(): the C
 *   library keeps one global zone, which is not thread-safe and not Go's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tz/tz.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define TZ_MAX_FILE     (10 << 20) /* Go's maxFileSize */
#define TZ_DAY          86400
#define TZ_YEAR_LIMIT   100000000000LL /* |year| beyond this saturates tz_from_civil */
#define TZ_DEFAULT_RULE ",M3.2.0,M11.1.0"

enum tz_rule_kind { TZ_RULE_JULIAN, TZ_RULE_DOY, TZ_RULE_MWD };

/* One transition rule of a POSIX TZ string: Jn, n or Mm.w.d, then /time. */
struct tz_rule {
	enum tz_rule_kind kind;
	int day, week, mon;
	int time;
};

struct tz_posix {
	int std_off, dst_off; /* seconds east of UTC */
	bool has_dst;
	struct tz_rule start, end;
};

struct tz_type {
	int32_t off;
	bool isdst;
};

struct tz {
	char *name;
	int64_t *when; /* transition times, non-decreasing */
	uint8_t *idx;  /* type in effect from when[i] on */
	size_t ntx;
	struct tz_type *types;
	size_t ntypes;
	size_t first; /* type before the first transition */
	bool has_posix;
	struct tz_posix posix;
	struct tz *next; /* the cache list */
};

static struct tz_type tz_utc_type = {0, false};
static struct tz tz_utc_zone = {.name = "UTC", .types = &tz_utc_type, .ntypes = 1};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *tz_cache;
static const struct tz *tz_local;

static const int tz_days_before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};

static int64_t tz_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool tz_is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* ---- POSIX TZ strings (the TZif footer), parsed as Go's tzset does ---- */

static bool tz_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* tz_posix_name skips a zone abbreviation: three or more characters up to a
 * digit, sign or comma, or anything between '<' and '>'. */
static const char *tz_posix_name(const char *s)
{
	if (*s == '\0')
		return NULL;
	if (*s == '<') {
		const char *gt = strchr(s, '>');
		return gt ? gt + 1 : NULL;
	}
	size_t i = 0;
	while (s[i] && !tz_is_digit(s[i]) && s[i] != ',' && s[i] != '-' && s[i] != '+')
		i++;
	return i < 3 ? NULL : s + i;
}

static const char *tz_posix_num(const char *s, int min, int max, int *out)
{
	int num = 0;
	size_t i = 0;
	if (*s == '\0')
		return NULL;
	for (; tz_is_digit(s[i]); i++) {
		num = num * 10 + (s[i] - '0');
		if (num > max)
			return NULL;
	}
	if ((s[i] != '\0' && i == 0) || num < min)
		return NULL;
	*out = num;
	return s + i;
}

/* tz_posix_offset reads [+-]hh[:mm[:ss]] as seconds (POSIX sign: west is +). */
static const char *tz_posix_offset(const char *s, int *out)
{
	bool neg = false;
	int h, m, sec, off;
	if (*s == '\0')
		return NULL;
	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		s++;
	}
	/* tzcode allows up to a week here, although POSIX does not. */
	if (!(s = tz_posix_num(s, 0, 24 * 7, &h)))
		return NULL;
	off = h * 3600;
	if (*s == ':') {
		if (!(s = tz_posix_num(s + 1, 0, 59, &m)))
			return NULL;
		off += m * 60;
		if (*s == ':') {
			if (!(s = tz_posix_num(s + 1, 0, 59, &sec)))
				return NULL;
			off += sec;
		}
	}
	*out = neg ? -off : off;
	return s;
}

static const char *tz_posix_rule(const char *s, struct tz_rule *r)
{
	if (*s == '\0')
		return NULL;
	if (*s == 'J') {
		r->kind = TZ_RULE_JULIAN;
		if (!(s = tz_posix_num(s + 1, 1, 365, &r->day)))
			return NULL;
	} else if (*s == 'M') {
		r->kind = TZ_RULE_MWD;
		if (!(s = tz_posix_num(s + 1, 1, 12, &r->mon)) || *s != '.')
			return NULL;
		if (!(s = tz_posix_num(s + 1, 1, 5, &r->week)) || *s != '.')
			return NULL;
		if (!(s = tz_posix_num(s + 1, 0, 6, &r->day)))
			return NULL;
	} else {
		r->kind = TZ_RULE_DOY;
		if (!(s = tz_posix_num(s, 0, 365, &r->day)))
			return NULL;
	}
	if (*s != '/') {
		r->time = 2 * 3600;
		return s;
	}
	return tz_posix_offset(s + 1, &r->time);
}

/* tz_posix_parse reads a footer; false when Go's tzset would reject it, in
 * which case Go keeps the last transition's type forever. */
static bool tz_posix_parse(const char *s, struct tz_posix *p)
{
	memset(p, 0, sizeof *p);
	if (!(s = tz_posix_name(s)) || !(s = tz_posix_offset(s, &p->std_off)))
		return false;
	p->std_off = -p->std_off;
	if (*s == '\0' || *s == ',')
		return true;
	if (!(s = tz_posix_name(s)))
		return false;
	if (*s == '\0' || *s == ',') {
		p->dst_off = p->std_off + 3600;
	} else {
		if (!(s = tz_posix_offset(s, &p->dst_off)))
			return false;
		p->dst_off = -p->dst_off;
	}
	if (*s == '\0')
		s = TZ_DEFAULT_RULE;
	/* POSIX does not mention ';' here but tzcode accepts it. */
	if (*s != ',' && *s != ';')
		return false;
	if (!(s = tz_posix_rule(s + 1, &p->start)) || *s != ',')
		return false;
	if (!(s = tz_posix_rule(s + 1, &p->end)) || *s != '\0')
		return false;
	p->has_dst = true;
	return true;
}

static int tz_days_in(int mon, int64_t year)
{
	if (mon == 2 && tz_is_leap(year))
		return 29;
	return tz_days_before[mon] - tz_days_before[mon - 1];
}

/* tz_rule_time is the rule's instant in seconds after the start of the UTC
 * year, as Go's tzruleTime computes it (Zeller's congruence included). */
static int64_t tz_rule_time(int64_t year, const struct tz_rule *r, int off)
{
	int64_t d = 0;
	switch (r->kind) {
	case TZ_RULE_JULIAN:
		d = r->day - 1;
		if (tz_is_leap(year) && r->day >= 60)
			d++;
		break;
	case TZ_RULE_DOY:
		d = r->day;
		break;
	case TZ_RULE_MWD: {
		int64_t m1 = (r->mon + 9) % 12 + 1;
		int64_t yy0 = r->mon <= 2 ? year - 1 : year;
		int64_t yy1 = yy0 / 100, yy2 = yy0 % 100;
		int64_t dow = ((26 * m1 - 2) / 10 + 1 + yy2 + yy2 / 4 + yy1 / 4 - 2 * yy1) % 7;
		if (dow < 0)
			dow += 7;
		d = r->day - dow;
		if (d < 0)
			d += 7;
		for (int i = 1; i < r->week && d + 7 < tz_days_in(r->mon, year); i++)
			d += 7;
		d += tz_days_before[r->mon - 1];
		if (tz_is_leap(year) && r->mon > 2)
			d++;
		break;
	}
	}
	return d * TZ_DAY + r->time - off;
}

/* tz_posix_lookup is the offset at t >= last (the last transition) under the
 * footer, and the span around t that Go's per-year computation keeps it. */
static int tz_posix_lookup(const struct tz_posix *p, int64_t last, int64_t t, int64_t *lo,
                           int64_t *hi)
{
	if (!p->has_dst) {
		*lo = last;
		*hi = INT64_MAX;
		return p->std_off;
	}
	int64_t y;
	int m, d;
	clock_civil_from_days(tz_floor_div(t, TZ_DAY), &y, &m, &d);
	int64_t year_start = clock_days_from_civil(y, 1, 1) * TZ_DAY;
	int64_t next_year = clock_days_from_civil(y + 1, 1, 1) * TZ_DAY;
	/* Go's t % day truncates: one day off for t < 0, kept to match. */
	int64_t ysec = tz_floor_div(t - year_start, TZ_DAY) * TZ_DAY + t % TZ_DAY;
	int64_t start = tz_rule_time(y, &p->start, p->std_off);
	int64_t end = tz_rule_time(y, &p->end, p->dst_off);
	int std = p->std_off, dst = p->dst_off, off;
	if (end < start) {
		int64_t s = start;
		start = end;
		end = s;
		std = p->dst_off;
		dst = p->std_off;
	}
	if (ysec < start) {
		off = std;
		*lo = year_start;
		*hi = year_start + start;
	} else if (ysec >= end) {
		off = std;
		*lo = year_start + end;
		*hi = next_year;
	} else {
		off = dst;
		*lo = year_start + start;
		*hi = year_start + end;
	}
	if (t < 0) {
		/* The truncated ysec makes spans irregular there: claim only t. */
		*lo = t;
		*hi = t + 1;
		return off;
	}
	if (*lo < year_start)
		*lo = year_start;
	if (*lo < last)
		*lo = last;
	if (*hi > next_year)
		*hi = next_year;
	return off;
}

int tz_offset(const struct tz *z, int64_t t, int64_t *start, int64_t *end)
{
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	int off;

	if (z->ntx == 0) {
		off = z->types[z->first].off;
	} else if (t < z->when[0]) {
		off = z->types[z->first].off;
		hi = z->when[0];
	} else {
		size_t a = 0, b = z->ntx;
		while (b - a > 1) {
			size_t m = a + (b - a) / 2;
			if (t < z->when[m]) {
				hi = z->when[m];
				b = m;
			} else {
				a = m;
			}
		}
		off = z->types[z->idx[a]].off;
		lo = z->when[a];
		if (a == z->ntx - 1 && z->has_posix)
			off = tz_posix_lookup(&z->posix, lo, t, &lo, &hi);
	}
	if (start)
		*start = lo;
	if (end)
		*end = hi;
	return off;
}

/* ---- TZif files ---- */

struct tz_reader {
	const uint8_t *p;
	size_t n;
	bool err;
};

static const uint8_t *tz_read(struct tz_reader *r, uint64_t n)
{
	if (r->n < n) {
		r->n = 0;
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->n -= n;
	return p;
}

static uint32_t tz_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool tz_read_counts(struct tz_reader *r, uint64_t n[6])
{
	for (int i = 0; i < 6; i++) {
		const uint8_t *p = tz_read(r, 4);
		if (!p)
			return false;
		n[i] = tz_be32(p);
	}
	return true;
}

/* tz_first_type is Go's lookupFirstZone (after tzcode's localtime.c). */
static size_t tz_first_type(const struct tz *z)
{
	bool first_used = false;
	for (size_t i = 0; i < z->ntx; i++)
		first_used = first_used || z->idx[i] == 0;
	if (!first_used)
		return 0;
	if (z->ntx > 0 && z->types[z->idx[0]].isdst)
		for (size_t i = z->idx[0]; i-- > 0;)
			if (!z->types[i].isdst)
				return i;
	for (size_t i = 0; i < z->ntypes; i++)
		if (!z->types[i].isdst)
			return i;
	return 0;
}

enum { TZ_N_UTCLOCAL, TZ_N_STDWALL, TZ_N_LEAP, TZ_N_TIME, TZ_N_ZONE, TZ_N_CHAR };

/* tz_parse_body reads what follows the counts n: the same checks, in the same
 * order, as Go's LoadLocationFromTZData, so a file loads here iff it loads
 * there. Leap seconds and the std/UT indicators are read past and ignored. */
static bool tz_parse_body(struct tz_reader *r, const uint64_t n[6], unsigned size, struct tz *z)
{
	const uint8_t *times = tz_read(r, n[TZ_N_TIME] * size);
	const uint8_t *idx = tz_read(r, n[TZ_N_TIME]);
	const uint8_t *types = tz_read(r, n[TZ_N_ZONE] * 6);
	tz_read(r, n[TZ_N_CHAR]);
	tz_read(r, n[TZ_N_LEAP] * (size + 4));
	tz_read(r, n[TZ_N_STDWALL]);
	tz_read(r, n[TZ_N_UTCLOCAL]);
	if (r->err || n[TZ_N_ZONE] == 0)
		return false;

	if (r->n > 2 && r->p[0] == '\n' && r->p[r->n - 1] == '\n') {
		char *footer = xstrndup((const char *)r->p + 1, r->n - 2);
		z->has_posix = strlen(footer) == r->n - 2 && tz_posix_parse(footer, &z->posix);
		free(footer);
	}

	z->ntypes = n[TZ_N_ZONE];
	z->types = xcalloc(z->ntypes, sizeof *z->types);
	for (size_t i = 0; i < z->ntypes; i++) {
		const uint8_t *t = types + 6 * i;
		z->types[i].off = (int32_t)tz_be32(t);
		z->types[i].isdst = t[4] != 0;
		if (t[5] >= n[TZ_N_CHAR])
			return false;
	}
	z->ntx = n[TZ_N_TIME] ? n[TZ_N_TIME] : 1;
	z->when = xcalloc(z->ntx, sizeof *z->when);
	z->idx = xcalloc(z->ntx, 1);
	if (n[TZ_N_TIME] == 0) {
		/* Go's fake transition for fixed zones such as Etc/GMT+5. */
		z->when[0] = INT64_MIN;
		z->idx[0] = 0;
	}
	for (size_t i = 0; i < n[TZ_N_TIME]; i++) {
		const uint8_t *t = times + size * i;
		z->when[i] = size == 4 ? (int32_t)tz_be32(t)
		                       : (int64_t)((uint64_t)tz_be32(t) << 32 | tz_be32(t + 4));
		if (idx[i] >= z->ntypes)
			return false;
		z->idx[i] = idx[i];
		/* Go would binary-search an unsorted table; no real file has one. */
		if (i > 0 && z->when[i] < z->when[i - 1])
			return false;
	}
	z->first = tz_first_type(z);
	return true;
}

static bool tz_parse(const uint8_t *data, size_t len, struct tz *z)
{
	struct tz_reader r = {data, len, false};
	uint64_t n[6];
	const uint8_t *magic = tz_read(&r, 4);
	const uint8_t *head = tz_read(&r, 16);

	if (!magic || memcmp(magic, "TZif", 4) != 0 || !head)
		return false;
	if (head[0] != 0 && head[0] != '2' && head[0] != '3')
		return false;
	if (!tz_read_counts(&r, n))
		return false;
	if (head[0] == 0)
		return tz_parse_body(&r, n, 4, z);
	/* Version 2+: skip the 32-bit block and the second header's magic and
	 * version (Go does not check them), then read the 64-bit block. */
	tz_read(&r, n[TZ_N_TIME] * 5 + n[TZ_N_ZONE] * 6 + n[TZ_N_CHAR] + n[TZ_N_LEAP] * 8 +
	                n[TZ_N_STDWALL] + n[TZ_N_UTCLOCAL] + 20);
	if (!tz_read_counts(&r, n))
		return false;
	return tz_parse_body(&r, n, 8, z);
}

/* tz_read_file reads path whole; -1 when it cannot be read (ENOENT included)
 * or is larger than Go accepts. */
static int tz_read_file(const char *path, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		buf_append(out, chunk, (size_t)n);
		if (out->len > TZ_MAX_FILE) {
			n = -1;
			break;
		}
	}
	close(fd);
	return n < 0 ? -1 : 0;
}

static void tz_free_zone(struct tz *z)
{
	free(z->name);
	free(z->when);
	free(z->idx);
	free(z->types);
	free(z);
}

/* tz_load_file returns the zone in path named name, or NULL. */
static struct tz *tz_load_file(const char *name, const char *path)
{
	struct buf data = BUF_INIT;
	struct tz *z = NULL;

	if (tz_read_file(path, &data) == 0) {
		z = xcalloc(1, sizeof *z);
		if (!tz_parse((const uint8_t *)data.data, data.len, z)) {
			tz_free_zone(z);
			z = NULL;
		} else {
			z->name = xstrdup(name);
		}
	}
	buf_free(&data);
	return z;
}

/* tz_load_dirs tries name under each zoneinfo directory Go searches. */
static struct tz *tz_load_dirs(const char *name, bool use_env)
{
	static const char *const dirs[] = {"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo",
	                                   "/usr/lib/locale/TZ"};
	const char *env = use_env ? getenv("ZONEINFO") : NULL;
	struct tz *z = NULL;

	if (env && *env) {
		char *path = xasprintf("%s/%s", env, name);
		z = tz_load_file(name, path);
		free(path);
	}
	for (size_t i = 0; !z && i < sizeof dirs / sizeof dirs[0]; i++) {
		char *path = xasprintf("%s/%s", dirs[i], name);
		z = tz_load_file(name, path);
		free(path);
	}
	return z;
}

/* tz_load_local follows Go's initLocal: no TZ means /etc/localtime, an empty
 * TZ means UTC, ":name" and "/path" are read, and anything unreadable falls
 * back to UTC. Called with tz_lock held. */
static const struct tz *tz_load_local(void)
{
	const char *env = getenv("TZ");
	struct tz *z = NULL;

	if (!env) {
		z = tz_load_file("Local", "/etc/localtime");
	} else if (*env) {
		if (*env == ':')
			env++;
		if (*env == '/')
			z = tz_load_file("Local", env);
		else if (*env && strcmp(env, "UTC") != 0)
			z = tz_load_dirs(env, false);
	}
	if (!z)
		return &tz_utc_zone;
	free(z->name);
	z->name = xstrdup("Local");
	return z;
}

static bool tz_valid_name(const char *name)
{
	return strstr(name, "..") == NULL && name[0] != '/' && name[0] != '\\';
}

/* tz_canonical drops empty and "." path segments, which the file system
 * ignores too ("Europe//Berlin", "./UTC"), so that one file is cached once
 * however it is spelled; NULL when the name ends in "/" or "/.", which only
 * a directory (never a zone) satisfies. The caller frees the result. */
static char *tz_canonical(const char *name)
{
	const char *last = strrchr(name, '/');
	last = last ? last + 1 : name;
	if (*last == '\0' || strcmp(last, ".") == 0)
		return NULL;

	char *out = xmalloc(strlen(name) + 1);
	size_t n = 0;

	for (const char *p = name; *p;) {
		size_t len = strcspn(p, "/");
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (n > 0)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		p += *p == '/';
	}
	out[n] = '\0';
	return out;
}

const struct tz *tz_load(const char *name, char *err, size_t errlen)
{
	const struct tz *found = NULL;

	if (name[0] == '\0' || strcmp(name, "UTC") == 0)
		return &tz_utc_zone;
	if (!tz_valid_name(name)) {
		snprintf(err, errlen, "invalid time zone name \"%s\"", name);
		return NULL;
	}
	if (strcmp(name, "Local") == 0) {
		pthread_mutex_lock(&tz_lock);
		if (!tz_local)
			tz_local = tz_load_local();
		found = tz_local;
		pthread_mutex_unlock(&tz_lock);
		return found;
	}
	char *file = tz_canonical(name);
	pthread_mutex_lock(&tz_lock);
	for (struct tz *z = tz_cache; file && !found && z; z = z->next)
		if (strcmp(z->name, file) == 0)
			found = z;
	if (file && !found) {
		struct tz *z = tz_load_dirs(file, true);
		if (z) {
			z->next = tz_cache;
			tz_cache = z;
			found = z;
		}
	}
	pthread_mutex_unlock(&tz_lock);
	free(file);
	if (!found)
		snprintf(err, errlen, "unknown time zone \"%s\"", name);
	return found;
}

const struct tz *tz_utc(void)
{
	return &tz_utc_zone;
}

const char *tz_name(const struct tz *z)
{
	return z->name;
}

/* ---- civil time ---- */

void tz_to_civil(const struct tz *z, int64_t t, struct tz_civil *out)
{
	int off = tz_offset(z, t, NULL, NULL);
	int64_t days = tz_floor_div(t, TZ_DAY);
	int64_t sod = t - days * TZ_DAY + off;

	days += tz_floor_div(sod, TZ_DAY);
	sod -= tz_floor_div(sod, TZ_DAY) * TZ_DAY;
	clock_civil_from_days(days, &out->year, &out->month, &out->day);
	out->hour = (int)(sod / 3600);
	out->min = (int)(sod / 60 % 60);
	out->sec = (int)(sod % 60);
	out->wday = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
	out->utcoff = off;
}

int64_t tz_wall_seconds(int64_t year, int month, int day, int hour, int min, int sec)
{
	/* Only the month carries into the year unevenly; day, hour, minute and
	 * second overflow linearly, so they are simply summed (as Go does). */
	int64_t m = (int64_t)month - 1;
	year += tz_floor_div(m, 12);
	m -= tz_floor_div(m, 12) * 12;
	if (year > TZ_YEAR_LIMIT)
		return INT64_MAX;
	if (year < -TZ_YEAR_LIMIT)
		return INT64_MIN;
	return (clock_days_from_civil(year, (int)m + 1, 1) + (int64_t)day - 1) * TZ_DAY +
	       (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
}

int64_t tz_from_wall(const struct tz *z, int64_t wall)
{
	if (wall == INT64_MAX || wall == INT64_MIN)
		return wall;
	int off = tz_offset(z, wall, NULL, NULL);
	return wall - tz_offset(z, wall - off, NULL, NULL);
}

int64_t tz_from_civil(const struct tz *z, int64_t year, int month, int day, int hour, int min,
                      int sec)
{
	return tz_from_wall(z, tz_wall_seconds(year, month, day, hour, min, sec));
}
