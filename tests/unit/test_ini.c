/* config, INI: Ofelia's INI dialect (go-ini as netresearch/ofelia uses it),
 * and the promise that an Ofelia file loads to the same jobs as the
 * equivalent ofelia.yaml. Run from the repository root (fixtures are read
 * from tests/data/config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "support.h"

static struct config_diag diag;

static void diag_reset(void)
{
	config_diag_free(&diag);
}

TestSuite(ini, .fini = diag_reset);

static struct config *load(const char *text)
{
	return config_load_string(text, strlen(text), "ofelia.ini", CONFIG_INI, &diag);
}

static const struct job *only_job(const struct config *c)
{
	cr_assert_eq(c->njobs, 1);
	return c->jobs[0];
}

static void strv_is(const struct strv *got, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	cr_assert_eq(got->n, n, "%zu items, want %zu", got->n, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(got->v[i], want[i]);
}

#define ITEMS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(ini, ofelia_file_equals_yaml)
{
	setenv("DB_CONTAINER", "postgres", 1);
	unsetenv("PGPASSWORD");
	unsetenv("UNSET_VAR");
	unsetenv("SMTP_HOST");
	struct config *ini = config_load_file("tests/data/config/ofelia.ini", &diag);
	struct config *yaml = config_load_file("tests/data/config/ofelia.yaml", &diag);
	if (!ini || !yaml || diag.warnings.n)
		support_dump(&diag);
	cr_assert_not_null(ini);
	cr_assert_not_null(yaml);
	cr_expect_eq(diag.warnings.n, 0);
	cr_expect_eq(ini->format, CONFIG_INI);
	cr_expect_eq(yaml->format, CONFIG_YAML);

	cr_assert_eq(ini->njobs, 6);
	cr_assert_eq(ini->njobs, yaml->njobs);
	for (size_t i = 0; i < ini->njobs; i++)
		cr_expect(job_equal(ini->jobs[i], yaml->jobs[i]), "job %s differs",
		          ini->jobs[i]->name);

	const struct job *backup = ini->jobs[1];
	cr_expect_str_eq(backup->name, "db-backup");
	cr_expect_str_eq(backup->schedule, "0 30 2 * * *");
	cr_expect_str_eq(backup->container, "postgres");
	strv_is(&backup->environment, ITEMS("PGPASSWORD=secret", "BACKUP_DIR=/backup"));
	cr_expect_str_eq(backup->working_dir, "/backup");
	cr_expect(ini->jobs[0]->no_overlap);
	cr_expect_eq(ini->jobs[2]->pull, JOB_PULL_IF_NOT_PRESENT);
	cr_expect_str_eq(ini->jobs[2]->network, "backend");
	strv_is(&ini->jobs[3]->environment, ITEMS("NAME=${UNSET_VAR}"));
	cr_expect_str_eq(ini->jobs[4]->command, "echo \"a; b # c\"");
	strv_is(&ini->jobs[4]->environment, ITEMS("LONG=first\nsecond"));
	cr_expect_eq(ini->jobs[5]->type, JOB_SERVICE);
	cr_expect_str_eq(ini->jobs[5]->command, "touch /tmp/example");
	cr_expect_str_eq(ini->jobs[5]->source, "tests/data/config/ofelia.ini:63");

	cr_expect_str_eq(ini->global.slack_webhook, yaml->global.slack_webhook);
	cr_expect_str_eq(ini->global.smtp_host, "mail.example.com");
	cr_expect_str_eq(ini->global.smtp_host, yaml->global.smtp_host);
	cr_expect(ini->global.slack_only_on_error);
	cr_expect_str_eq(ini->global.save_folder, yaml->global.save_folder);
	cr_expect_eq(ini->docker.poll_interval_ns, yaml->docker.poll_interval_ns);
	cr_expect(strv_equal(&ini->docker.filters, &yaml->docker.filters));
	config_free(ini);
	config_free(yaml);
}

Test(ini, comments_and_quotes)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "# comment\n"
	                                   "; comment\n"
	                                   "[job-local \"q\"]   ; a comment after the header\n"
	                                   "schedule = @daily # inline\n"
	                                   "command = echo a;b\n"
	                                   "dir = '/tmp/x'\n"
	                                   "environment = \"A=1\"\n"
	                                   "environment = 'B=it's'\n"
	                                   "environment = `C=#;`   \n"
	                                   "environment = D=1 \\\n"
	                                   "   2 \\\n"
	                                   "   3\n");
	const struct job *j = only_job(c);
	cr_expect_str_eq(j->schedule, "@daily");
	cr_expect_str_eq(j->command, "echo a");
	cr_expect_str_eq(j->dir, "/tmp/x");
	strv_is(&j->environment, ITEMS("A=1", "'B=it's'", "C=#;", "D=1 2 3"));
	config_free(c);
}

Test(ini, repeated_keys)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "[job-run \"r\"]\n"
	                                   "schedule = @hourly\n"
	                                   "schedule = @hourly\n"
	                                   "image = alpine\n"
	                                   "Volume = /a:/a\n"
	                                   "volume = /b:/b\n"
	                                   "VOLUME = /a:/a\n"
	                                   "volume =\n"
	                                   "volumes_from = x\n"
	                                   "volumes-from = y\n");
	const struct job *j = only_job(c);
	strv_is(&j->volume, ITEMS("/a:/a", "/b:/b"));
	strv_is(&j->volumes_from, ITEMS("x", "y"));
	config_free(c);

	support_expect_error(
	    load, &diag,
	    "[job-local \"l\"]\n"
	    "schedule = @hourly\n"
	    "command = a\n"
	    "command = b\n",
	    "ofelia.ini:4:1: job \"l\": key \"command\" is given 2 different values (first "
	    "at line 3); it takes one");
	support_expect_error(
	    load, &diag, "[docker]\npoll-interval = 5s\ndocker-poll-interval = 5s\n",
	    "ofelia.ini:3:1: [docker]: \"docker-poll-interval\" sets what \"poll-interval\" "
	    "at line 2 already set");
}

Test(ini, keys_ignore_case_dash_and_underscore)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "[global]\n"
	                                   "Log-Level = debug\n"
	                                   "MAX_CONCURRENT = 2\n"
	                                   "[job-exec \"e\"]\n"
	                                   "SCHEDULE = @daily\n"
	                                   "Container = app\n"
	                                   "command = ls\n"
	                                   "run_on_startup = true\n"
	                                   "workingdir = /srv\n");
	cr_expect_str_eq(c->global.log_level, "debug");
	cr_expect_eq(c->global.max_concurrent, 2);
	const struct job *j = only_job(c);
	cr_expect(j->run_on_startup);
	cr_expect_str_eq(j->working_dir, "/srv");
	config_free(c);
}

Test(ini, env_substitution)
{
	setenv("OFELIA_JOB", "nightly", 1);
	setenv("OFELIA_EMPTY", "", 1);
	unsetenv("OFELIA_UNSET");
	struct config *c =
	    support_load_ok(load, &diag,
	                    "[job-local \"${OFELIA_JOB}\"]\n"
	                    "schedule = @daily\n"
	                    "command = echo ${OFELIA_UNSET} ${OFELIA_EMPTY} ${OFELIA_EMPTY:-e} "
	                    "$HOME\n");
	const struct job *j = only_job(c);
	cr_expect_str_eq(j->name, "nightly");
	cr_expect_str_eq(j->command, "echo ${OFELIA_UNSET} ${OFELIA_EMPTY} e $HOME");
	config_free(c);
}

Test(ini, sections)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "stray = 1\n"
	                                   "[global]\n"
	                                   "enable-web = true\n"
	                                   "web-username = admin\n"
	                                   "web-password-hash = $2y$10$abcdefghijklmnopqrstu\n"
	                                   "web-auth-enabled = true\n"
	                                   "[webhook \"slack\"]\n"
	                                   "preset = slack\n"
	                                   "id = T0/B0\n"
	                                   "secret = s3cr3t\n"
	                                   "[job-compose \"c\"]\n"
	                                   "[Global]\n"
	                                   "[job-run\"job\"]\n"
	                                   "schedule = */1 * * * *\n"
	                                   "container = ofelia_job_1\n");
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.ini:1:1: a key before the first section is ignored"));
	cr_expect(
	    support_has(&diag.warnings,
	                "ofelia.ini:11:1: section [job-compose \"c\"] is not supported (ignored)"));
	cr_expect(
	    support_has(&diag.warnings, "ofelia.ini:12:1: section [Global] is unknown (ignored)"));
	cr_expect_eq(diag.warnings.n, 3);
	cr_assert_eq(c->nwebhooks, 1);
	cr_expect_str_eq(c->webhooks[0].name, "slack");
	cr_expect_str_eq(c->webhooks[0].resolved.url_scheme,
	                 "https://hooks.slack.com/services/{id}/{secret}");
	const struct job *j = only_job(c);
	cr_expect_str_eq(j->name, "job");
	cr_expect_eq(j->type, JOB_RUN);
	cr_assert_eq(c->web.nusers, 1);
	cr_expect_str_eq(c->web.users[0].role, "admin");
	config_free(c);
}

Test(ini, job_names_are_unique)
{
	support_expect_error(load, &diag,
	                     "[job-local \"a\"]\nschedule = @daily\ncommand = x\n"
	                     "[job-local \"a\"]\ncommand = y\n",
	                     "ofelia.ini:4:1: job \"a\" is defined twice (first at line 1)");
	support_expect_error(load, &diag,
	                     "[job-local \"a\"]\nschedule = @daily\ncommand = x\n"
	                     "[job-exec \"a\"]\nschedule = @daily\ncontainer = c\ncommand = y\n",
	                     "ofelia.ini:4:1: job \"a\" is defined twice (first at line 1)");
}

Test(ini, errors_name_the_line)
{
	support_expect_error(
	    load, &diag,
	    "[job-exec \"x\"]\n"
	    "schedule = 0 0 32 * *\n"
	    "container = c\n"
	    "command = x\n",
	    "ofelia.ini:2:1: job \"x\": bad schedule \"0 0 32 * *\": day of month 32 out of "
	    "range (1-31) [INVALID_SCHEDULE]");
	support_expect_error(load, &diag, "[global]\nlog-level = info\n[job-exec \"x\"\n",
	                     "ofelia.ini:3:1: a section header is never closed: [job-exec \"x\"");
	support_expect_error(load, &diag, "[global]\n  just words\n",
	                     "ofelia.ini:2:3: not a section, a comment or key = value: just words");
	support_expect_error(load, &diag, "[global]\n= 1\n",
	                     "ofelia.ini:2:1: a key needs a name: = 1");
	support_expect_error(load, &diag, "[job-local \"a\"]\ncommand = `echo\nschedule = @daily\n",
	                     "ofelia.ini:2:1: a quoted value is never closed: `");
	support_expect_error(
	    load, &diag, "[global]\nsmtp-port = 0\n",
	    "ofelia.ini:2:1: [global]: smtp-port: \"0\" is not a whole number from 1 to "
	    "65535");
	support_expect_error(
	    load, &diag, "[global]\nweb-token-expiry = 0\n",
	    "ofelia.ini:2:1: [global]: web-token-expiry: \"0\" is not a whole number from 1 "
	    "to 8760");
}

Test(ini, unknown_keys)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "[global]\n"
	                                   "slack-webhok = x\n"
	                                   "webhook-allow-remote-presets = true\n"
	                                   "[docker]\n"
	                                   "no-poll = true\n"
	                                   "[job-exec \"e\"]\n"
	                                   "schedule = @daily\n"
	                                   "container = c\n"
	                                   "command = x\n"
	                                   "console-width = 80\n"
	                                   "contianer = d\n");
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.ini:2:1: [global]: unknown key \"slack-webhok\" (did "
	                      "you mean \"slack-webhook\"?)"));
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.ini:3:1: [global]: key \"webhook-allow-remote-presets\" is "
	                      "not supported (ignored) (remote presets are not fetched; give the "
	                      "preset file's path)"));
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.ini:5:1: [docker]: key \"no-poll\" is not supported "
	                      "(ignored) (set poll-interval: 0)"));
	cr_expect(support_has(
	    &diag.warnings,
	    "ofelia.ini:10:1: job \"e\": key \"console-width\" is not supported (ignored)"));
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.ini:11:1: job \"e\": unknown key \"contianer\" (did "
	                      "you mean \"container\"?)"));
	config_free(c);
}

Test(ini, format_by_extension)
{
	const char *text = "[job-local \"a\"]\nschedule = @daily\ncommand = x\n";
	const char *names[] = {"x.ini", "x.conf", "x.cfg"};
	for (size_t i = 0; i < 3; i++) {
		struct config *c =
		    config_load_string(text, strlen(text), names[i], CONFIG_AUTO, &diag);
		cr_assert_not_null(c, "%s", names[i]);
		cr_expect_eq(c->format, CONFIG_INI);
		config_free(c);
	}
	struct config *c = config_load_string(text, strlen(text), "x.yaml", CONFIG_AUTO, &diag);
	cr_expect_null(c, "an INI text read as YAML must fail");
}

Test(ini, empty_default_user_means_the_image_user)
{
	struct config *c =
	    support_load_ok(load, &diag, "[global]\ndefault-user =\nsave-folder =\n");
	cr_expect_str_eq(c->global.default_user, "default");
	cr_expect_null(c->global.save_folder);
	config_free(c);
}

Test(ini, bare_keys_are_true_for_booleans)
{
	struct config *c = load("[global]\n"
	                        "allow-host-jobs-from-labels\n"
	                        "[job-local \"a\"]\n"
	                        "schedule = @daily\n"
	                        "command = true\n"
	                        "no-overlap\n"
	                        "  run-on-startup  \n");
	if (c == NULL)
		support_dump(&diag);
	cr_assert_not_null(c);
	cr_expect(c->global.allow_host_jobs_from_labels);
	cr_expect(only_job(c)->no_overlap);
	cr_expect(only_job(c)->run_on_startup);
	config_free(c);
}

Test(ini, bare_key_that_is_not_a_boolean_says_so)
{
	struct config *c = load("[job-local \"a\"]\n"
	                        "schedule = @daily\n"
	                        "command\n"
	                        "[global]\n"
	                        "timezone\n");
	cr_assert_null(c);
	cr_assert_eq(diag.errors.n, 2);
	cr_expect_str_eq(diag.errors.v[0],
	                 "ofelia.ini:3:1: job \"a\": key \"command\" has no value: only a boolean "
	                 "key may stand alone (it means true); write command = VALUE");
	cr_expect(strstr(diag.errors.v[1], "ofelia.ini:5:1: [global]: key \"timezone\" has no "
	                                   "value") != NULL);
}

Test(ini, comment_that_cuts_a_quoted_command_is_explained)
{
	struct config *c = load("[job-local \"a\"]\n"
	                        "schedule = @daily\n"
	                        "command = sh -c \"date; echo done\"\n");
	cr_assert_null(c);
	cr_assert_eq(diag.errors.n, 1);
	cr_expect_str_eq(diag.errors.v[0],
	                 "ofelia.ini:3:1: job \"a\": command: the \";\" at column 22 starts a "
	                 "comment in an INI value, which cut the command to `sh -c \"date` and "
	                 "left a quote open; to keep \"#\" and \";\" write the whole value in "
	                 "backquotes: command = `...`");
	config_diag_free(&diag);
	c = load("[job-local \"a\"]\n"
	         "schedule = @daily\n"
	         "command = `sh -c \"date; echo done\"`\n");
	cr_assert_not_null(c);
	cr_expect_str_eq(only_job(c)->command, "sh -c \"date; echo done\"");
	config_free(c);
}

Test(ini, job_names_must_be_utf8)
{
	support_expect_error(load, &diag,
	                     "[job-local \"b\xff"
	                     "ad\"]\nschedule = @daily\ncommand = x\n",
	                     "ofelia.ini:1:1: job name \"b?ad\" is not valid UTF-8");
}
