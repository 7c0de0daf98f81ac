/* validate: `ofelia validate --config FILE` loads a config the way the daemon
 * would, prints every error and warning (on stderr), and for a valid file a
 * summary on stdout: the jobs by type and when each runs next, in the
 * configured time zone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "cron/cron.h"
#include "notify/notify.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: ofelia validate --config FILE\n"
	        "\n"
	        "Loads FILE (ofelia.yaml, or an Ofelia INI file), checks every setting and job,\n"
	        "and prints the jobs with their next run time.\n"
	        "\n"
	        "options:\n"
	        "  -c, --config FILE   the config file to check\n"
	        "  -h, --help          show this help\n"
	        "\n"
	        "exit status: 0 valid, 1 invalid or unreadable, 2 usage error\n");
}

/* format_time writes t as RFC 3339 in zone z: 2026-03-29T03:00:00+02:00. */
static void format_time(const struct tz *z, int64_t t, char *out, size_t outlen)
{
	struct tz_civil c;
	tz_to_civil(z, t, &c);
	int off = c.utcoff < 0 ? -c.utcoff : c.utcoff;
	if (c.utcoff == 0)
		snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)c.year,
		         c.month, c.day, c.hour, c.min, c.sec);
	else
		snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
		         (long long)c.year, c.month, c.day, c.hour, c.min, c.sec,
		         c.utcoff < 0 ? '-' : '+', off / 3600, off / 60 % 60);
}

static void next_run(const struct job *j, const struct tz *zone, int64_t now, char *out,
                     size_t outlen)
{
	struct cron *cr = NULL;
	char err[256];

	if (!j->enabled) {
		snprintf(out, outlen, "never (disabled)");
		return;
	}
	if (cron_parse(j->schedule, zone, &cr, err, sizeof err) < 0) {
		snprintf(out, outlen, "? (%s)", err);
		return;
	}
	int64_t t = cron_next(cr, now);
	if (cron_is_manual(cr))
		snprintf(out, outlen, "never (manual)");
	else if (t == CRON_NEVER)
		snprintf(out, outlen, "never (none within five years)");
	else
		format_time(zone, t, out, outlen);
	cron_free(cr);
}

static int width(const struct config *c, const char *head, bool schedule)
{
	size_t w = strlen(head);
	for (size_t i = 0; i < c->njobs; i++) {
		size_t n = strlen(schedule ? c->jobs[i]->schedule : c->jobs[i]->name);
		if (n > w)
			w = n;
	}
	return (int)w;
}

static void summary(const struct config *c)
{
	size_t count[JOB_TYPE_COUNT] = {0};
	char err[256], when[128];
	const struct tz *zone = tz_load(c->global.timezone, err, sizeof err);

	if (zone == NULL) {
		fprintf(stderr, "warning: time zone %s: %s; next runs are shown in UTC\n",
		        c->global.timezone, err);
		zone = tz_utc();
	}
	for (size_t i = 0; i < c->njobs; i++)
		count[c->jobs[i]->type]++;
	printf("%s: valid, %zu job%s", c->path, c->njobs, c->njobs == 1 ? "" : "s");
	for (int t = 0; t < JOB_TYPE_COUNT; t++)
		printf("%s%s %zu", t ? ", " : " (", job_type_name((enum job_type)t), count[t]);
	printf(")\ntime zone: %s\n", tz_name(zone));
	if (c->njobs == 0)
		return;

	int wn = width(c, "JOB", false), ws = width(c, "SCHEDULE", true);
	int64_t now = (int64_t)time(NULL);
	printf("\n%-*s  %-7s  %-*s  %s\n", wn, "JOB", "TYPE", ws, "SCHEDULE", "NEXT RUN");
	for (size_t i = 0; i < c->njobs; i++) {
		const struct job *j = c->jobs[i];
		next_run(j, zone, now, when, sizeof when);
		printf("%-*s  %-7s  %-*s  %s\n", wn, j->name, job_type_name(j->type), ws,
		       j->schedule, when);
	}
}

int cli_validate(int argc, char **argv)
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return CLI_OK;
		}
		if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "ofelia validate: %s needs a file name\n", a);
				return CLI_USAGE;
			}
			path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			path = a + 9;
		} else {
			fprintf(stderr, "ofelia validate: unexpected argument \"%s\"\n\n", a);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (path == NULL || *path == '\0') {
		fprintf(stderr, "ofelia validate: --config FILE is required\n\n");
		usage(stderr);
		return CLI_USAGE;
	}

	struct config_diag diag = {STRV_INIT, STRV_INIT};
	struct config *c = config_load_file(path, &diag);
	for (size_t i = 0; i < diag.warnings.n; i++)
		fprintf(stderr, "warning: %s\n", diag.warnings.v[i]);
	for (size_t i = 0; i < diag.errors.n; i++)
		fprintf(stderr, "error: %s\n", diag.errors.v[i]);
	char why[640];
	if (c && notify_check(c, why, sizeof why) < 0) {
		fprintf(stderr, "error: %s: %s\n", path, why);
		strv_push(&diag.errors, why);
		config_free(c);
		c = NULL;
	}
	if (c == NULL) {
		fprintf(stderr, "%s: invalid, %zu error%s\n", path, diag.errors.n,
		        diag.errors.n == 1 ? "" : "s");
		config_diag_free(&diag);
		return CLI_FAIL;
	}
	summary(c);
	config_free(c);
	config_diag_free(&diag);
	return CLI_OK;
}
