/* `ofelia next`: the next activation times of a schedule. --batch checks many
 * schedules at once and writes what tests/cron-oracle writes for the same
 * input, so the two can be compared line by line. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cron/cron.h"
#include "tz/tz.h"
#include "util/clock.h"

#define NEXT_DEFAULT_COUNT 5
#define NEXT_MAX_COUNT     1000000

/* The command line, as given. */
struct next_opts {
	const char *from; /* NULL: now */
	const char *count;
	const char *tz;
	bool batch;
	const char *spec;
};

static void next_usage(FILE *out)
{
	fprintf(out,
	        "usage: ofelia next [--from TIME] [--count N] [--tz ZONE] [--] SCHEDULE\n"
	        "       ofelia next --batch [--count N] [--tz ZONE] < CASES\n"
	        "\n"
	        "Prints the next N activation times of SCHEDULE after TIME, one per line,\n"
	        "in RFC 3339 UTC. Fewer lines when the schedule has no more times within\n"
	        "five years.\n"
	        "\n"
	        "  --from TIME   start after this RFC 3339 time (default: now)\n"
	        "  --count N     how many times to print (default 5); -n N is the same\n"
	        "  --tz ZONE     zone the schedule runs in unless it starts with CRON_TZ=\n"
	        "                (default Local: the TZ variable, else /etc/localtime)\n"
	        "  --batch       read lines \"TIME<tab>SCHEDULE\" from stdin; for each, print\n"
	        "                one line: the N times tab-separated (NEVER once there are\n"
	        "                no more), or ERROR<tab>message\n"
	        "  --            end of options (which may also follow SCHEDULE), so a\n"
	        "                schedule may start with '-'\n"
	        "\n"
	        "Exit status: 0 ok, 2 usage error or invalid schedule (INVALID_SCHEDULE).\n");
}

/* next_bad prints a usage error (fmt has one %s for arg) and returns -1. */
static int next_bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "ofelia next: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n");
	next_usage(stderr);
	return -1;
}

/* next_option matches argv[*i] against --name and --name=VALUE; a value may
 * also be the next argument. Returns 1 with *value set, 0 when argv[*i] is
 * another option, -1 when the value is missing. */
static int next_option(int argc, char **argv, int *i, const char *name, const char *alias,
                       const char **value)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) == 0 && a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0))
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 1;
}

/* next_args fills o; returns 0, 1 for --help, or -1 after a usage error.
 * Options may come before or after the schedule; "--" ends them. */
static int next_args(int argc, char **argv, struct next_opts *o)
{
	const char *extra = NULL;
	bool options = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!options || a[0] != '-' || a[1] == '\0') {
			if (o->spec && !extra)
				extra = a;
			o->spec = o->spec ? o->spec : a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		if (strcmp(a, "--batch") == 0) {
			o->batch = true;
			continue;
		}
		int rc = next_option(argc, argv, &i, "--from", NULL, &o->from);
		if (rc == 0)
			rc = next_option(argc, argv, &i, "--count", "-n", &o->count);
		if (rc == 0)
			rc = next_option(argc, argv, &i, "--tz", NULL, &o->tz);
		if (rc < 0)
			return next_bad("option %s needs a value", a);
		if (rc == 0)
			return next_bad("unknown option \"%s\"", a);
	}
	if (o->batch && o->spec)
		return next_bad("--batch reads schedules from stdin, not \"%s\"", o->spec);
	if (o->batch && o->from)
		return next_bad("%s", "--batch reads the start times from stdin, not --from");
	if (!o->batch && !o->spec)
		return next_bad("%s", "missing SCHEDULE");
	if (extra)
		return next_bad("one SCHEDULE only (quote it); unexpected \"%s\"", extra);
	return 0;
}

/* next_format writes Unix seconds t as RFC 3339 UTC, years as Go writes them. */
static void next_format(int64_t t, char out[CLOCK_TEXT_MAX])
{
	struct tz_civil c;
	tz_to_civil(tz_utc(), t, &c);
	snprintf(out, CLOCK_TEXT_MAX, "%s%04lld-%02d-%02dT%02d:%02d:%02dZ", c.year < 0 ? "-" : "",
	         (long long)(c.year < 0 ? -c.year : c.year), c.month, c.day, c.hour, c.min, c.sec);
}

/* next_print_clean writes s with tabs and line breaks as spaces, so a message
 * stays one column of one line. */
static void next_print_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		putchar(s[i] == '\t' || s[i] == '\r' || s[i] == '\n' ? ' ' : s[i]);
}

/* next_batch_line answers one "TIME<tab>SCHEDULE" line (without its newline). */
static void next_batch_line(char *line, size_t len, const struct tz *zone, long count)
{
	char err[512], text[CLOCK_TEXT_MAX];
	char *tab = memchr(line, '\t', len);
	struct cron *c;
	int64_t t;
	int32_t frac;

	if (!tab) {
		fputs("ERROR\tbad input line (no tab): ", stdout);
		next_print_clean(line, len);
		putchar('\n');
		return;
	}
	*tab = '\0';
	const char *spec = tab + 1;
	if (clock_parse_rfc3339_sec(line, &t, &frac) < 0) {
		printf("ERROR\tbad start time: \"%s\"\n", line);
		return;
	}
	/* robfig would reject a NUL as part of any field, zone or duration. */
	if (strlen(spec) != len - (size_t)(spec - line)) {
		printf("ERROR\tschedule contains a NUL byte\n");
		return;
	}
	if (cron_parse(spec, zone, &c, err, sizeof err) < 0) {
		fputs("ERROR\t", stdout);
		next_print_clean(err, strlen(err));
		putchar('\n');
		return;
	}
	for (long i = 0; i < count; i++) {
		if (t != CRON_NEVER)
			t = cron_next(c, t);
		if (t == CRON_NEVER) {
			fputs(i ? "\tNEVER" : "NEVER", stdout);
			continue;
		}
		next_format(t, text);
		printf("%s%s", i ? "\t" : "", text);
	}
	putchar('\n');
	cron_free(c);
}

static int next_batch(const struct tz *zone, long count)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t len = (size_t)n;
		if (line[len - 1] == '\n')
			len--;
		while (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		next_batch_line(line, len, zone, count);
	}
	free(line);
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static int next_single(const char *spec, int64_t from, const struct tz *zone, long count)
{
	char err[512], text[CLOCK_TEXT_MAX];
	struct cron *c;
	int64_t t = from;

	/* What the daemon would accept (--batch answers as robfig would). */
	if (cron_parse(spec, zone, &c, err, sizeof err) < 0 ||
	    cron_check_range(c, err, sizeof err) < 0) {
		cron_free(c);
		fprintf(stderr, "ofelia next: bad schedule \"%s\": %s [INVALID_SCHEDULE]\n", spec,
		        err);
		return CLI_USAGE;
	}
	for (long i = 0; i < count; i++) {
		t = cron_next(c, t);
		if (t == CRON_NEVER)
			break;
		next_format(t, text);
		puts(text);
	}
	cron_free(c);
	return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

int cli_next(int argc, char **argv)
{
	struct next_opts o = {.tz = "Local"};
	char err[256], *end;
	long count = NEXT_DEFAULT_COUNT;
	int64_t from = clock_now_ns() / NS_PER_SEC; /* after 1970, truncation is the floor */
	int32_t frac;

	int rc = next_args(argc, argv, &o);
	if (rc > 0) {
		next_usage(stdout);
		return CLI_OK;
	}
	if (rc < 0)
		return CLI_USAGE;
	if (o.count) {
		errno = 0;
		count = strtol(o.count, &end, 10);
		if (errno || end == o.count || *end || count < 0 || count > NEXT_MAX_COUNT)
			rc = next_bad("--count \"%s\" is not a number from 0 to 1000000", o.count);
	}
	/* Schedules ignore the fraction: robfig starts at the next whole second. */
	if (rc == 0 && o.from && clock_parse_rfc3339_sec(o.from, &from, &frac) < 0)
		rc = next_bad("--from \"%s\" is not an RFC 3339 time", o.from);
	if (rc < 0)
		return CLI_USAGE;
	const struct tz *zone = tz_load(o.tz, err, sizeof err);
	if (!zone) {
		fprintf(stderr, "ofelia next: --tz: %s\n", err);
		return CLI_USAGE;
	}
	return o.batch ? next_batch(zone, count) : next_single(o.spec, from, zone, count);
}
