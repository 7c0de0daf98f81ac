/* validate: `ofelia validate --config FILE` loads a config the way the daemon
 * would, prints every error and warning (on stderr), and for a valid file a
 * summary on stdout: the jobs by type and when each runs next, in the
 * configured time zone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "config/config.h"
#include "http/http.h"
#include "notify/notify.h"
#include "cron/cron.h"

static const char usage[] =
    "usage: ofelia validate [options] [FILE]\n\n"
    "Loads the config the daemon would (FILE, --config, else /etc/ofelia/config.ini\n"
    "when it exists) with the daemon's flags and OFELIA_* variables, checks every\n"
    "setting and job, and prints the jobs with their next run time. --labels FILE\n"
    "checks one container's labels (a JSON object, as `docker inspect -f\n"
    "'{{json .Config.Labels}}' NAME` prints it) the way label discovery reads them.\n\n"
    "exit status: 0 valid, 1 invalid or unreadable (with --strict: warnings too),\n"
    "2 usage error\n";

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

/* check_labels reads one container's labels from path and prints the jobs
 * they define. The container is named after the file. */
static int check_labels(const char *path, const struct config *c, struct config_diag *diag)
{
	json_error_t jerr;
	json_t *obj = json_load_file(path, 0, &jerr);
	if (obj == NULL || !json_is_object(obj)) {
		strv_push_owned(&diag->errors,
		                obj ? xasprintf("%s: not a JSON object of labels", path)
		                    : xasprintf("%s:%d: %s", path, jerr.line, jerr.text));
		json_decref(obj);
		return -1;
	}
	size_t n = json_object_size(obj), k = 0;
	struct config_label *labels = xcalloc(n + 1, sizeof *labels);
	const char *key;
	json_t *value;
	bool is_service = false;
	json_object_foreach(obj, key, value)
	{
		if (!json_is_string(value))
			continue;
		labels[k++] = (struct config_label){key, json_string_value(value)};
		if (strcmp(key, "ofelia.service") == 0)
			job_bool_parse(json_string_value(value), &is_service);
	}
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *name = xstrndup(base, strcspn(base, "."));
	const char *svc = json_string_value(json_object_get(obj, "com.docker.compose.service"));
	struct config_container ct = {name, svc, true, is_service};
	struct job **jobs = NULL;
	size_t nj = 0;
	config_labels_jobs(&c->global, &ct, labels, k, &jobs, &nj, diag);
	printf("%s: %zu job%s from labels\n", path, nj, nj == 1 ? "" : "s");
	for (size_t i = 0; i < nj; i++) {
		printf("  %-7s  %s  %s\n", job_type_name(jobs[i]->type), jobs[i]->name,
		       jobs[i]->schedule);
		job_free(jobs[i]);
	}
	free(jobs);
	free(name);
	free(labels);
	json_decref(obj);
	return 0;
}

int cli_validate(int argc, char **argv)
{
	struct cli_settings opts;
	struct cli_opt table[CLI_SETTINGS_MAX + 2];
	int strict = -1;
	char *labels = NULL;
	cli_settings_init(&opts);
	size_t n = cli_settings_options(&opts, table);
	table[n++] = (struct cli_opt){"strict", 0,       "OFELIA_STRICT",
	                              CLI_BOOL, &strict, "treat warnings as errors (exit 1)",
	                              NULL,     NULL};
	table[n++] =
	    (struct cli_opt){"labels",   0,       NULL,
	                     CLI_STRING, &labels, "also check one container's labels (JSON object)",
	                     NULL,       NULL};
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, table, n, usage, &npos, &help);
	if (rc < 0 && npos > 1) {
		fprintf(stderr, "ofelia validate: unexpected argument \"%s\"\n", argv[1]);
		rc = CLI_USAGE;
	}
	if (rc < 0 && npos == 1) {
		free(opts.config);
		opts.config = xstrdup(argv[0]);
	}
	if (rc < 0 && opts.config && *opts.config == '\0') {
		fprintf(stderr, "ofelia validate: --config needs a file name\n");
		rc = CLI_USAGE;
	}
	if (rc >= 0) {
		cli_settings_fini(&opts);
		free(labels);
		return rc;
	}

	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char *path = NULL;
	struct config *c = cli_config_load(&opts, &diag, &path);
	if (c) {
		cli_apply_settings(&opts, c, &diag);
		char err[640];
		/* What http_start would refuse, so a config that cannot start
		 * the web server fails here too. */
		if (c->web.enabled && http_config_check(c, err, sizeof err) < 0)
			strv_push(&diag.errors, err);
		if (notify_check(c, err, sizeof err) < 0)
			strv_push(&diag.errors, err);
		if (path == NULL)
			strv_push(&opts.notes, cli_no_config_note(&opts));
	}
	if (c && labels)
		check_labels(labels, c, &diag);
	bool json = cli_wants_json(&opts, c);
	if (json)
		log_setup(LOG_DEBUG, LOG_JSON);
	cli_report(&opts.notes, &diag, json);
	size_t problems = diag.errors.n + (strict == 1 ? diag.warnings.n : 0);
	const char *name = path ? path : c ? c->path : "(none)";
	if (c == NULL || problems > 0) {
		fprintf(stderr, "%s: invalid, %zu error%s%s\n", name, diag.errors.n,
		        diag.errors.n == 1 ? "" : "s",
		        strict == 1 && diag.warnings.n ? " and warnings (--strict)" : "");
		rc = CLI_FAIL;
	} else {
		summary(c);
		rc = CLI_OK;
	}
	config_free(c);
	config_diag_free(&diag);
	cli_settings_fini(&opts);
	free(path);
	free(labels);
	return rc;
}
