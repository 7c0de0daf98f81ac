/* config, labels: a container's Docker labels -> job definitions, in
 * Ofelia's format: names per job-exec-label-scope, the service-container
 * rules, JSON lists, and errors that name the label. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "support.h"

static struct config_diag diag;
static struct config cfg;
static struct job **jobs;
static size_t njobs;

static void setup(void)
{
	config_defaults(&cfg);
}

static void teardown(void)
{
	for (size_t i = 0; i < njobs; i++)
		job_free(jobs[i]);
	free(jobs);
	config_fini(&cfg);
	config_diag_free(&diag);
}

TestSuite(labels, .init = setup, .fini = teardown);

#define LABELS(...) ((const struct config_label[]){__VA_ARGS__})
#define COUNT(...)  (sizeof LABELS(__VA_ARGS__) / sizeof(struct config_label))

static struct config_container web = {"app-web-1", "web", true, false};
static struct config_container ofelia = {"ofelia", NULL, true, true};

#define READ(ct, ...)                                                                              \
	config_labels_jobs(&cfg.global, &(ct), LABELS(__VA_ARGS__), COUNT(__VA_ARGS__), &jobs,     \
	                   &njobs, &diag)

Test(labels, needs_enabled)
{
	cr_expect_eq(
	    READ(web, {"ofelia.job-exec.a.schedule", "@daily"}, {"ofelia.job-exec.a.command", "x"}),
	    0);
	cr_expect_eq(READ(web, {"ofelia.enabled", "True"}, {"ofelia.job-exec.a.schedule", "@daily"},
	                  {"ofelia.job-exec.a.command", "x"}),
	             0);
	cr_expect_eq(njobs, 0);
}

Test(labels, exec_job_in_this_container)
{
	cr_assert_eq(READ(web, {"ofelia.enabled", "true"},
	                  {"ofelia.job-exec.backup.schedule", "@daily"},
	                  {"ofelia.job-exec.backup.command", "pg_dump ${DB}"},
	                  {"ofelia.job-exec.backup.environment", "[\"A=1\", \"B=2\"]"},
	                  {"ofelia.job-exec.backup.user", "postgres"},
	                  {"com.docker.compose.service", "web"}),
	             1);
	const struct job *j = jobs[0];
	cr_expect_str_eq(j->name, "web.backup");
	cr_expect_eq(j->type, JOB_EXEC);
	cr_expect_str_eq(j->container, "app-web-1");
	cr_expect_str_eq(j->command, "pg_dump ${DB}"); /* no substitution in labels */
	cr_assert_eq(j->environment.n, 2);
	cr_expect_str_eq(j->environment.v[1], "B=2");
	cr_expect_eq(j->origin, JOB_ORIGIN_LABEL);
	cr_expect_str_eq(j->source, "app-web-1");
	cr_expect_eq(diag.errors.n + diag.warnings.n, 0);
}

static const char *scoped(const char *scope, struct config_container ct)
{
	static char name[128];
	free(cfg.global.job_exec_label_scope);
	cfg.global.job_exec_label_scope = strdup(scope);
	size_t before = njobs;
	cr_assert_eq(READ(ct, {"ofelia.enabled", "true"}, {"ofelia.job-exec.b.schedule", "@daily"},
	                  {"ofelia.job-exec.b.command", "x"}),
	             1);
	snprintf(name, sizeof name, "%s", jobs[before]->name);
	return name;
}

Test(labels, exec_scopes)
{
	struct config_container plain = {"solo", NULL, true, false};
	cr_expect_str_eq(scoped("service", web), "web.b");
	cr_expect_str_eq(scoped("service", plain), "solo.b");
	cr_expect_str_eq(scoped("container", web), "app-web-1.b");
	cr_expect_str_eq(scoped("container-service", web), "app-web-1.web.b");
	cr_expect_str_eq(scoped("container-service", plain), "solo.b");
}

Test(labels, exec_container_is_fixed_except_on_the_service_container)
{
	cr_assert_eq(READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-exec.b.schedule", "@daily"},
	                  {"ofelia.job-exec.b.command", "x"},
	                  {"ofelia.job-exec.b.container", "db"}),
	             1);
	cr_expect_str_eq(jobs[0]->container, "app-web-1");
	cr_expect(support_has(&diag.warnings,
	                      "container \"app-web-1\": label \"ofelia.job-exec.b.container\": "
	                      "an exec job from labels runs in the container that carries "
	                      "it (ignored)"));
	cr_assert_eq(READ(ofelia, {"ofelia.enabled", "true"}, {"ofelia.service", "true"},
	                  {"ofelia.job-exec.b.schedule", "@daily"},
	                  {"ofelia.job-exec.b.command", "x"},
	                  {"ofelia.job-exec.b.container", "db"}),
	             1);
	cr_expect_str_eq(jobs[1]->name, "ofelia.b");
	cr_expect_str_eq(jobs[1]->container, "db");
}

Test(labels, run_jobs_from_any_enabled_container)
{
	cr_assert_eq(READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-run.r.schedule", "@daily"},
	                  {"ofelia.job-run.r.image", "alpine"},
	                  {"ofelia.job-run.r.volume", "data:/data"},
	                  {"ofelia.job-service-run.s.schedule", "@hourly"},
	                  {"ofelia.job-service-run.s.image", "busybox"}),
	             1);
	cr_expect_str_eq(jobs[0]->name, "r");
	cr_expect_eq(jobs[0]->type, JOB_RUN);
	cr_expect(support_has(&diag.warnings,
	                      "container \"app-web-1\": label \"ofelia.job-service-run.s.image\": "
	                      "service jobs are read only from the container labelled "
	                      "ofelia.service=true (ignored)"));
	cr_assert_eq(READ(ofelia, {"ofelia.enabled", "true"},
	                  {"ofelia.job-service-run.s.schedule", "@hourly"},
	                  {"ofelia.job-service-run.s.image", "busybox"}),
	             1);
	cr_expect_eq(jobs[1]->type, JOB_SERVICE);
}

Test(labels, host_access_needs_the_setting)
{
	cr_expect_eq(
	    READ(ofelia, {"ofelia.enabled", "true"}, {"ofelia.job-run.r.schedule", "@daily"},
	         {"ofelia.job-run.r.image", "alpine"},
	         {"ofelia.job-run.r.volume", "[\"/:/host\", \"cache:/cache\"]"},
	         {"ofelia.job-run.r.volumes-from", "db"}, {"ofelia.job-run.n.schedule", "@daily"},
	         {"ofelia.job-run.n.image", "alpine"}, {"ofelia.job-run.n.network", "host"},
	         {"ofelia.job-exec.p.schedule", "@daily"}, {"ofelia.job-exec.p.command", "id"},
	         {"ofelia.job-exec.p.privileged", "true"}, {"ofelia.job-run.ok.schedule", "@daily"},
	         {"ofelia.job-run.ok.image", "alpine"}, {"ofelia.job-run.ok.volume", "cache:/c"}),
	    1);
	cr_expect_str_eq(jobs[0]->name, "ok");
	cr_assert_eq(diag.errors.n, 3);
	cr_expect(support_has(&diag.errors,
	                      "container \"ofelia\": label \"ofelia.job-run.r.*\": volume /:/host, "
	                      "volumes-from db reaches the host; from labels that needs "
	                      "allow-host-jobs-from-labels: true in the config (job left out)"));
	cr_expect(support_has(&diag.errors,
	                      "container \"ofelia\": label \"ofelia.job-run.n.*\": network host "
	                      "reaches the host; from labels that needs "
	                      "allow-host-jobs-from-labels: true in the config (job left out)"));
	cr_expect(support_has(&diag.errors,
	                      "container \"ofelia\": label \"ofelia.job-exec.p.*\": privileged "
	                      "reaches the host; from labels that needs "
	                      "allow-host-jobs-from-labels: true in the config (job left out)"));
	cfg.global.allow_host_jobs_from_labels = true;
	cr_expect_eq(
	    READ(ofelia, {"ofelia.enabled", "true"}, {"ofelia.job-run.r.schedule", "@daily"},
	         {"ofelia.job-run.r.image", "alpine"}, {"ofelia.job-run.r.volume", "/:/host"}),
	    1);
}

Test(labels, local_jobs_need_the_setting)
{
	cr_expect_eq(READ(ofelia, {"ofelia.enabled", "true"},
	                  {"ofelia.job-local.l.command", "uptime"},
	                  {"ofelia.job-local.l.schedule", "@daily"}),
	             0);
	cr_expect(support_has(&diag.errors,
	                      "container \"ofelia\": label \"ofelia.job-local.l.command\": local "
	                      "jobs from labels need allow-host-jobs-from-labels: true in the "
	                      "config (job left out)"));
	cfg.global.allow_host_jobs_from_labels = true;
	cr_expect_eq(READ(ofelia, {"ofelia.enabled", "true"},
	                  {"ofelia.job-local.l.command", "uptime"},
	                  {"ofelia.job-local.l.schedule", "@daily"}),
	             1);
	cr_expect_eq(jobs[0]->type, JOB_LOCAL);
}

Test(labels, stopped_containers_give_run_jobs_only)
{
	struct config_container stopped = {"ofelia", NULL, false, true};
	cr_assert_eq(
	    READ(stopped, {"ofelia.enabled", "true"}, {"ofelia.job-exec.e.schedule", "@daily"},
	         {"ofelia.job-exec.e.command", "x"}, {"ofelia.job-run.r.schedule", "@daily"},
	         {"ofelia.job-run.r.image", "alpine"}),
	    1);
	cr_expect_eq(jobs[0]->type, JOB_RUN);
}

Test(labels, bad_labels_drop_their_job_only)
{
	cr_assert_eq(
	    READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-exec.bad.schedule", "0 61 * * *"},
	         {"ofelia.job-exec.bad.command", "x"}, {"ofelia.job-exec.json.schedule", "@daily"},
	         {"ofelia.job-exec.json.command", "x"},
	         {"ofelia.job-exec.json.environment", "[\"A=1\""},
	         {"ofelia.job-exec.good.schedule", "@daily"}, {"ofelia.job-exec.good.command", "x"},
	         {"ofelia.job-exec.good.schedul", "@hourly"}),
	    1);
	cr_expect_str_eq(jobs[0]->name, "web.good");
	cr_expect(support_has(&diag.errors,
	                      "container \"app-web-1\": label \"ofelia.job-exec.bad.schedule\": "
	                      "job \"web.bad\": bad schedule \"0 61 * * *\": hour 61 out of "
	                      "range (0-23) [INVALID_SCHEDULE] (job left out)"));
	cr_assert_eq(diag.errors.n, 2);
	cr_expect(
	    strncmp(diag.errors.v[1],
	            "container \"app-web-1\": label \"ofelia.job-exec.json.environment\": "
	            "environment: not a JSON array of strings",
	            strlen("container \"app-web-1\": label \"ofelia.job-exec.json.environment\": "
	                   "environment: not a JSON array of strings")) == 0,
	    "%s", diag.errors.v[1]);
	cr_expect(support_has(&diag.warnings,
	                      "container \"app-web-1\": label \"ofelia.job-exec.good.schedul\": "
	                      "unknown key \"schedul\" (did you mean \"schedule\"?)"));
}

Test(labels, missing_keys_and_duplicates)
{
	cr_expect_eq(
	    READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-exec.a.schedule", "@daily"}), 0);
	cr_expect(support_has(&diag.errors,
	                      "container \"app-web-1\": label \"ofelia.job-exec.a.*\": job "
	                      "\"web.a\": an exec job needs command (job left out)"));
	cr_expect_eq(READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-exec.d.schedule", "@daily"},
	                  {"ofelia.job-exec.d.command", "x"}, {"ofelia.job-exec.d.Command", "y"}),
	             0);
	cr_expect(support_has(&diag.errors,
	                      "container \"app-web-1\": label \"ofelia.job-exec.d.command\": "
	                      "duplicates label \"ofelia.job-exec.d.Command\" (job left out)"));
}

Test(labels, other_labels)
{
	cr_expect_eq(READ(ofelia, {"ofelia.enabled", "true"}, {"ofelia.log-level", "debug"},
	                  {"ofelia.job-compose.c.schedule", "@daily"},
	                  {"ofelia.job-cron.c.schedule", "@daily"}, {"ofelia.job-exec.x", "y"},
	                  {"ofelia.job-exec..command", "y"}, {"other.label", "z"}),
	             0);
	cr_expect(support_has(&diag.warnings,
	                      "container \"ofelia\": label \"ofelia.log-level\": global "
	                      "settings are not read from labels; set \"log-level\" in "
	                      "the config file"));
	cr_expect(support_has(&diag.warnings,
	                      "container \"ofelia\": label \"ofelia.job-compose.c.schedule\": "
	                      "job-compose labels are not supported (ignored)"));
	cr_expect(support_has(&diag.warnings,
	                      "container \"ofelia\": label \"ofelia.job-cron.c.schedule\": "
	                      "unknown job type \"job-cron\" (job-exec, job-run, job-local or "
	                      "job-service-run; ignored)"));
	cr_expect(support_has(&diag.errors,
	                      "container \"ofelia\": label \"ofelia.job-exec..command\": no job "
	                      "name between the dots (label left out)"));
	cr_expect(support_has(&diag.warnings,
	                      "container \"ofelia\": label \"ofelia.job-exec.x\": not "
	                      "ofelia.job-exec.NAME.KEY (ignored)"));
	cr_expect_eq(diag.errors.n, 1);
}

Test(labels, names_and_commands_checked_as_in_files)
{
	/* a name that is not UTF-8, and a command that cannot be split, leave
	 * their job out with an error; the good job stays */
	cr_expect_eq(READ(ofelia, {"ofelia.enabled", "true"},
	                  {"ofelia.job-run.b\xff"
	                   "ad.schedule",
	                   "@daily"},
	                  {"ofelia.job-run.b\xff"
	                   "ad.image",
	                   "busybox"},
	                  {"ofelia.job-run.quote.schedule", "@daily"},
	                  {"ofelia.job-run.quote.image", "busybox"},
	                  {"ofelia.job-run.quote.command", "sh -c 'oops"},
	                  {"ofelia.job-run.fine.schedule", "@daily"},
	                  {"ofelia.job-run.fine.image", "busybox"}),
	             1);
	cr_expect_eq(njobs, 1);
	cr_expect_str_eq(jobs[0]->name, "fine");
	cr_expect(support_has(&diag.errors, "container \"ofelia\": label "
	                                    "\"ofelia.job-run.b\xff"
	                                    "ad.*\": job name "
	                                    "\"b?ad\" is not valid UTF-8 (job left out)"));
	cr_expect_eq(diag.errors.n, 2);
	support_dump(&diag);
}

Test(labels, notification_keys_of_jobs)
{
	cr_assert_eq(READ(web, {"ofelia.enabled", "true"}, {"ofelia.job-exec.a.schedule", "@daily"},
	                  {"ofelia.job-exec.a.command", "x"},
	                  {"ofelia.job-exec.a.slack-webhook", "https://hooks.example.com/a"},
	                  {"ofelia.job-exec.a.mail-only-on-error", "true"},
	                  {"ofelia.job-exec.a.webhooks", "ops, pager"},
	                  {"ofelia.job-exec.a.notify-on", "[\"missed\",\"expired\"]"},
	                  {"ofelia.job-exec.a.alert-if-no-success-within", "26h"}),
	             1);
	cr_expect_eq(diag.warnings.n, 0);
	const struct job *j = jobs[0];
	cr_expect_str_eq(j->slack_webhook, "https://hooks.example.com/a");
	cr_expect_eq(j->mail_only_on_error, 1);
	cr_expect_eq(j->slack_only_on_error, -1, "unset: the global value applies");
	cr_expect_str_eq(j->webhooks.v[0], "ops, pager");
	cr_expect_eq(j->notify_on.n, 2);
	cr_expect_eq(j->alert_if_no_success_within_ns, 26 * 3600 * 1000000000LL);
}

Test(labels, notification_globals_from_the_service_container)
{
	const struct config_label service[] = {
	    {"ofelia.enabled", "true"},
	    {"ofelia.service", "true"},
	    {"ofelia.slack-webhook", "https://hooks.example.com/s"},
	    {"ofelia.webhook-webhooks", "alerts"},
	    {"ofelia.webhook-allowed-hosts", "*"},
	    {"ofelia.webhook.alerts.preset", "slack"},
	    {"ofelia.webhook.alerts.id", "T0/B0"},
	    {"ofelia.webhook.alerts.secret", "s3cr3t"},
	    {"ofelia.webhook.alerts.trigger", "always"},
	    {"ofelia.webhook.broken.preset", "discord"},
	};
	struct strv globals = STRV_INIT;
	config_labels_globals(&web, service, 10, &globals);
	cr_expect_eq(globals.n, 0, "only the service container has global settings");
	config_labels_globals(&ofelia, service, 10, &globals);
	cr_assert_eq(globals.n, 7, "webhook-allowed-hosts stays in the file");
	cr_expect_eq(READ(ofelia, {"ofelia.enabled", "true"}, {"ofelia.slack-webhook", "x"},
	                  {"ofelia.webhook.a.url", "x"}),
	             0);
	cr_expect_eq(diag.warnings.n, 0, "read, not warned about");

	struct config_diag d = {STRV_INIT, STRV_INIT};
	struct config *c = config_from_labels(&globals, &d);
	cr_expect_str_eq(c->global.slack_webhook, "https://hooks.example.com/s");
	cr_expect_str_eq(c->global.webhook_webhooks.v[0], "alerts");
	cr_assert_eq(c->nwebhooks, 1, "the broken webhook is left out");
	cr_expect_str_eq(c->webhooks[0].name, "alerts");
	cr_expect_str_eq(c->webhooks[0].resolved.name, "slack");
	cr_expect(
	    support_has(&d.errors, "labels: webhook \"broken\": preset discord needs \"id\""));
	config_free(c);
	config_diag_free(&d);
	strv_free(&globals);
}

Test(labels, links_name_jobs_of_the_same_container_by_their_label_name)
{
	cr_assert_eq(READ(web, {"ofelia.enabled", "true"},
	                  {"ofelia.job-exec.process.schedule", "@hourly"},
	                  {"ofelia.job-exec.process.command", "process.sh"},
	                  {"ofelia.job-exec.process.depends-on", "setup"},
	                  {"ofelia.job-exec.process.on-success", "[\"cleanup\", \"db.backup\"]"},
	                  {"ofelia.job-exec.process.max-retries", "2"},
	                  {"ofelia.job-exec.process.retry-delay", "5s"},
	                  {"ofelia.job-exec.setup.schedule", "@hourly"},
	                  {"ofelia.job-exec.setup.command", "setup.sh"},
	                  {"ofelia.job-exec.cleanup.schedule", "@triggered"},
	                  {"ofelia.job-exec.cleanup.command", "cleanup.sh"}),
	             3);
	const struct job *p = NULL;
	for (size_t i = 0; i < njobs; i++)
		if (strcmp(jobs[i]->name, "web.process") == 0)
			p = jobs[i];
	cr_assert_not_null(p);
	/* netresearch's examples name the container's own jobs unscoped. */
	cr_expect_str_eq(p->depends_on.v[0], "web.setup");
	cr_expect_eq(p->on_success.n, 2);
	cr_expect_str_eq(p->on_success.v[0], "web.cleanup");
	cr_expect_str_eq(p->on_success.v[1], "db.backup");
	cr_expect_eq(p->max_retries, 2);
	cr_expect_eq(p->retry_delay_ns, 5000000000LL);
}
