/* Durations out of range (issue: `@every 2562047h` overflowed `next *
 * NS_PER_SEC` and spun; max-runtime near INT64_MAX overflowed the clock):
 * every way in rejects them with a clear error, within 100 years. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "cron/cron.h"
#include "job/job.h"
#include "support.h"
#include "util/duration.h"

Test(ranges, duration_check_bounds_at_100_years)
{
	char err[128];
	int64_t ns;
	cr_assert_eq(duration_parse("876000h", &ns, err, sizeof err), 0);
	cr_expect_eq(ns, DURATION_MAX_NS);
	cr_expect_eq(duration_check(ns, err, sizeof err), 0);
	cr_assert_eq(duration_parse("876000h1s", &ns, err, sizeof err), 0);
	cr_expect_eq(duration_check(ns, err, sizeof err), -1);
	cr_expect(strstr(err, "out of range"), "%s", err);
	cr_expect_eq(duration_check(-DURATION_MAX_NS - 1, err, sizeof err), -1);
}

Test(ranges, every_beyond_100_years_is_parsed_as_robfig_does_then_refused)
{
	char err[256];
	struct cron *c;
	cr_assert_eq(cron_parse("@every 2562047h", NULL, &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(cron_check_range(c, err, sizeof err), -1);
	cr_expect(strstr(err, "out of range"), "%s", err);
	cron_free(c);
	cr_assert_eq(cron_parse("@every 876000h", NULL, &c, err, sizeof err), 0, "%s", err);
	cr_expect_eq(cron_check_range(c, err, sizeof err), 0, "%s", err);
	cron_free(c);
}

Test(ranges, job_validate_refuses_schedules_and_durations_out_of_range)
{
	const char *code;
	char err[256];
	struct job *j = job_new("far", JOB_LOCAL);
	j->command = strdup("true");
	j->schedule = strdup("@every 2562047h");
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect_str_eq(code, "INVALID_SCHEDULE");
	cr_expect(strstr(err, "out of range"), "%s", err);

	free(j->schedule);
	j->schedule = strdup("@every 1h");
	cr_assert_eq(job_validate(j, &code, err, sizeof err), 0, "%s", err);
	/* As the API's JSON gives it: nanoseconds near INT64_MAX. */
	j->max_runtime_ns = INT64_MAX - 1;
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect(strstr(err, "max-runtime") && strstr(err, "out of range"), "%s", err);
	j->max_runtime_ns = 0;
	const struct job_field *runtime = job_field_find("max-runtime");
	cr_expect_eq(job_field_set(j, runtime, "2562047h", err, sizeof err), -1);
	cr_expect(strstr(err, "out of range"), "%s", err);
	cr_expect_eq(
	    job_field_set(j, job_field_find("catch-up-deadline"), "876001h", err, sizeof err), -1);
	cr_expect_eq(job_field_set(j, runtime, "876000h", err, sizeof err), 0, "%s", err);
	job_free(j);
}

static struct config *load_yaml(const char *text)
{
	struct config_diag diag = {0};
	struct config *c =
	    config_load_string(text, strlen(text), "ofelia.yaml", CONFIG_YAML, &diag);
	config_diag_free(&diag);
	return c;
}

static void expect_yaml_error(const char *text, const char *msg)
{
	struct config_diag diag = {0};
	struct config *c =
	    config_load_string(text, strlen(text), "ofelia.yaml", CONFIG_YAML, &diag);
	cr_expect_null(c, "%s", text);
	bool found = false;
	for (size_t i = 0; i < diag.errors.n; i++)
		found = found || strstr(diag.errors.v[i], msg);
	cr_expect(found, "no error with \"%s\" for:\n%s", msg, text);
	if (!found)
		support_dump(&diag);
	config_free(c);
	config_diag_free(&diag);
}

Test(ranges, config_refuses_durations_out_of_range)
{
	expect_yaml_error("jobs:\n  far:\n    type: local\n    schedule: \"@every 2562047h\"\n"
	                  "    command: \"true\"\n",
	                  "out of range");
	expect_yaml_error("jobs:\n  far:\n    type: local\n    schedule: \"@daily\"\n"
	                  "    command: \"true\"\n    max-runtime: 2562047h47m16s\n",
	                  "out of range");
	expect_yaml_error("global:\n  history-max-age: 2562047h\n", "out of range");
	expect_yaml_error("global:\n  max-runtime: 1000000h\n", "out of range");
	struct config *c = load_yaml("global:\n  max-runtime: 876000h\n");
	cr_expect_not_null(c);
	config_free(c);
}

Test(ranges, labels_refuse_durations_out_of_range)
{
	struct config cfg;
	struct config_diag diag = {0};
	struct job **jobs = NULL;
	size_t njobs = 0;
	struct config_container web = {"web-1", "web", true, false};
	const struct config_label labels[] = {
	    {"ofelia.enabled", "true"},
	    {"ofelia.job-exec.far.schedule", "@every 2562047h"},
	    {"ofelia.job-exec.far.command", "true"},
	    {"ofelia.job-exec.long.schedule", "@daily"},
	    {"ofelia.job-exec.long.command", "true"},
	    {"ofelia.job-exec.long.max-runtime", "2000000h"},
	};
	config_defaults(&cfg);
	cr_expect_eq(config_labels_jobs(&cfg.global, &web, labels, 6, &jobs, &njobs, &diag), 0);
	cr_expect_eq(diag.errors.n, 2);
	for (size_t i = 0; i < diag.errors.n; i++)
		cr_expect(strstr(diag.errors.v[i], "out of range"), "%s", diag.errors.v[i]);
	for (size_t i = 0; i < njobs; i++)
		job_free(jobs[i]);
	free(jobs);
	config_fini(&cfg);
	config_diag_free(&diag);
}

Test(ranges, yaml_nested_too_deep_is_refused_before_it_is_parsed)
{
	/* 20,000 levels of "[": valid YAML that libyaml took seconds on (the
	 * square of the size), now refused at level 21 in no time. */
	size_t n = 20000;
	char *text = malloc(2 * n + 16);
	memcpy(text, "x-a: ", 5);
	memset(text + 5, '[', n);
	memset(text + 5 + n, ']', n);
	text[5 + 2 * n] = '\n';
	text[6 + 2 * n] = '\0';
	expect_yaml_error(text, "nest deeper than 20 levels");
	free(text);
	/* A config's usual depth is fine. */
	struct config *c = load_yaml("x-a: [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n");
	cr_expect_not_null(c);
	config_free(c);
}
