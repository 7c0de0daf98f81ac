/* config: ofelia.yaml settings and jobs, defaults, and every kind of error
 * with the place it names. INI files are in test_ini.c, labels in
 * test_labels.c. Run from the repository root (the example is read from it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "support.h"

#define HOUR (3600LL * 1000000000LL)

static struct config_diag diag;

static void diag_reset(void)
{
	config_diag_free(&diag);
}

TestSuite(config, .fini = diag_reset);

static struct config *load(const char *text)
{
	return config_load_string(text, strlen(text), "ofelia.yaml", CONFIG_YAML, &diag);
}

static const struct job *job_named(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->njobs; i++)
		if (strcmp(c->jobs[i]->name, name) == 0)
			return c->jobs[i];
	cr_assert_fail("no job %s", name);
	return NULL;
}

Test(config, defaults)
{
	struct config c;
	config_defaults(&c);
	cr_expect_str_eq(c.global.timezone, "Local");
	cr_expect_str_eq(c.global.log_level, "info");
	cr_expect_str_eq(c.global.log_format, "logfmt");
	cr_expect_null(c.global.db_path);
	cr_expect_str_eq(c.global.db_synchronous, "normal");
	cr_expect_eq(c.global.max_concurrent, 0);
	cr_expect_eq(c.global.max_queue, 1000);
	cr_expect_eq(c.global.catch_up, JOB_CATCH_UP_ONCE);
	cr_expect_eq(c.global.catch_up_deadline_ns, HOUR);
	cr_expect_eq(c.global.history_limit, 0);
	cr_expect_eq(c.global.history_max_age_ns, 2160 * HOUR);
	cr_expect_eq(c.global.max_output_bytes, 1048576);
	cr_expect_eq(c.global.max_log_lines, 100000);
	cr_expect_eq(c.global.max_runtime_ns, 0);
	cr_expect_eq(c.global.shutdown_grace_ns, 10000000000LL);
	cr_expect_str_eq(c.global.default_user, "root");
	cr_expect_str_eq(c.global.job_exec_label_scope, "service");
	cr_expect_eq(c.global.smtp_port, 587);
	cr_expect_null(c.docker.host);
	cr_expect_eq(c.docker.poll_interval_ns, 10000000000LL);
	cr_expect(c.docker.events);
	cr_expect_not(c.web.enabled);
	cr_expect_str_eq(c.web.address, "127.0.0.1:8080");
	cr_expect_eq(c.web.token_expiry_ns, 24 * HOUR);
	cr_expect_eq(c.web.max_login_attempts, 5);
	cr_expect_eq(c.web.rate_limit, 100);
	cr_expect_eq(c.web.rate_burst, 10);
	cr_expect_eq(c.web.max_body_bytes, 1048576);
	cr_expect_eq(c.web.cors_max_age, 86400);
	cr_expect_eq(c.njobs, 0);
	config_fini(&c);
}

Test(config, example_loads_clean)
{
	struct config *c = config_load_file("ofelia.yaml.example", &diag);
	if (c == NULL || diag.warnings.n)
		support_dump(&diag);
	cr_assert_not_null(c);
	cr_expect_eq(diag.errors.n, 0);
	cr_expect_eq(diag.warnings.n, 0);
	bool types[JOB_TYPE_COUNT] = {false};
	for (size_t i = 0; i < c->njobs; i++)
		types[c->jobs[i]->type] = true;
	for (int t = 0; t < JOB_TYPE_COUNT; t++)
		cr_expect(types[t], "no %s job", job_type_name((enum job_type)t));
	cr_expect_eq(c->format, CONFIG_YAML);
	config_free(c);
}

Test(config, settings)
{
	struct config *c =
	    support_load_ok(load, &diag,
	                    "global:\n"
	                    "  timezone: Europe/Berlin\n"
	                    "  log-level: WARNING\n"
	                    "  log_format: json\n"
	                    "  MaxConcurrent: 4\n"
	                    "  max-output: 10 MB\n"
	                    "  max-log-lines: 5\n"
	                    "  catch-up: skip\n"
	                    "  history-max-age: 1.5h\n"
	                    "  db: /tmp/x.db\n"
	                    "  db-synchronous: FULL\n"
	                    "  default-user: \"\"\n"
	                    "docker:\n"
	                    "  host: tcp://docker:2375\n"
	                    "  docker-poll-interval: 0s\n"
	                    "  events: no\n"
	                    "  filters: label=a=b\n"
	                    "web:\n"
	                    "  enabled: yes\n"
	                    "  address: \":8081\"\n"
	                    "  max-body: 2KiB\n"
	                    "  trusted-proxies: [10.0.0.0/8, \"::1\", 192.168.1.1]\n"
	                    "  auth:\n"
	                    "    enabled: true\n"
	                    "    token-expiry: 1h\n"
	                    "    users:\n"
	                    "      - {username: ann, password-hash: \"$2b$12$abcdefghijklmnop\", "
	                    "role: Viewer}\n"
	                    "  cors: {allowed_origins: [https://a.example], max_age: 60}\n"
	                    "  rate-limit: {requests-per-minute: 0, burst: 3}\n");
	cr_expect_str_eq(c->global.timezone, "Europe/Berlin");
	cr_expect_str_eq(c->global.log_level, "warn");
	cr_expect_str_eq(c->global.log_format, "json");
	cr_expect_eq(c->global.max_concurrent, 4);
	cr_expect_eq(c->global.max_output_bytes, 10000000);
	cr_expect_eq(c->global.catch_up, JOB_CATCH_UP_SKIP);
	cr_expect_eq(c->global.history_max_age_ns, 3 * HOUR / 2);
	cr_expect_str_eq(c->global.db_path, "/tmp/x.db");
	cr_expect_str_eq(c->global.db_synchronous, "full");
	cr_expect_str_eq(c->global.default_user, "default");
	cr_expect_str_eq(c->docker.host, "tcp://docker:2375");
	cr_expect_eq(c->docker.poll_interval_ns, 0);
	cr_expect_not(c->docker.events);
	cr_expect_eq(c->docker.filters.n, 1);
	cr_expect(c->web.enabled);
	cr_expect_str_eq(c->web.address, ":8081");
	cr_expect_eq(c->web.max_body_bytes, 2048);
	cr_expect_eq(c->web.trusted_proxies.n, 3);
	cr_expect_eq(c->web.token_expiry_ns, HOUR);
	cr_assert_eq(c->web.nusers, 1);
	cr_expect_str_eq(c->web.users[0].username, "ann");
	cr_expect_str_eq(c->web.users[0].role, "viewer");
	cr_expect_str_eq(c->web.cors_origins.v[0], "https://a.example");
	cr_expect_eq(c->web.cors_max_age, 60);
	cr_expect_eq(c->web.rate_limit, 0);
	cr_expect_eq(c->web.rate_burst, 3);
	cr_expect_eq(diag.warnings.n, 0);
	config_free(c);
}

Test(config, ofelia_web_names_in_global)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "global:\n"
	                                   "  enable-web: true\n"
	                                   "  web-address: 0.0.0.0:9000\n"
	                                   "  web-auth-enabled: true\n"
	                                   "  web-username: admin\n"
	                                   "  web-password-hash: $y$j9T$abcdefghijklmnop\n"
	                                   "  web-token-expiry: 48\n"
	                                   "  web-max-login-attempts: 3\n"
	                                   "  web-secret-key: s3cret\n"
	                                   "  web-trusted-proxies: 172.17.0.0/16, 10.0.0.0/8\n");
	cr_expect(c->web.enabled);
	cr_expect(c->web.auth_enabled);
	cr_expect_str_eq(c->web.address, "0.0.0.0:9000");
	cr_assert_eq(c->web.nusers, 1);
	cr_expect_str_eq(c->web.users[0].username, "admin");
	cr_expect_str_eq(c->web.users[0].role, "admin");
	cr_expect_eq(c->web.token_expiry_ns, 48 * HOUR);
	cr_expect_eq(c->web.max_login_attempts, 3);
	cr_expect_str_eq(c->web.secret, "s3cret");
	cr_assert_eq(c->web.trusted_proxies.n, 2);
	cr_expect_str_eq(c->web.trusted_proxies.v[1], "10.0.0.0/8");
	config_free(c);
}

Test(config, jobs)
{
	setenv("OFELIA_TEST_IMAGE", "alpine:3", 1);
	struct config *c = support_load_ok(load, &diag,
	                                   "jobs:\n"
	                                   "  backup:\n"
	                                   "    type: exec\n"
	                                   "    schedule: \"@daily\"\n"
	                                   "    container: db\n"
	                                   "    command: pg_dump app\n"
	                                   "    environment: A=1\n"
	                                   "    No_Overlap: true\n"
	                                   "    max-runtime: 90m\n"
	                                   "  cleanup:\n"
	                                   "    type: run\n"
	                                   "    schedule: 0 0 * * 0\n"
	                                   "    image: ${OFELIA_TEST_IMAGE}\n"
	                                   "    volume: [a:/a, b:/b]\n"
	                                   "    pull: never\n"
	                                   "  swarm:\n"
	                                   "    type: service-run\n"
	                                   "    schedule: \"@manual\"\n"
	                                   "    image: busybox\n");
	cr_assert_eq(c->njobs, 3);
	const struct job *b = job_named(c, "backup");
	cr_expect_eq(b->type, JOB_EXEC);
	cr_expect_eq(b->origin, JOB_ORIGIN_CONFIG);
	cr_expect_str_eq(b->source, "ofelia.yaml:2");
	cr_expect_str_eq(b->container, "db");
	cr_assert_eq(b->environment.n, 1);
	cr_expect_str_eq(b->environment.v[0], "A=1");
	cr_expect(b->no_overlap);
	cr_expect_eq(b->max_runtime_ns, 3 * HOUR / 2);
	const struct job *r = job_named(c, "cleanup");
	cr_expect_str_eq(r->image, "alpine:3");
	cr_expect_eq(r->volume.n, 2);
	cr_expect_eq(r->pull, JOB_PULL_NEVER);
	cr_expect_eq(job_named(c, "swarm")->type, JOB_SERVICE);
	cr_expect_str_eq(c->jobs[0]->name, "backup"); /* file order */
	config_free(c);
}

Test(config, env_substitution)
{
	setenv("OFELIA_SET", "value", 1);
	setenv("OFELIA_EMPTY", "", 1);
	unsetenv("OFELIA_UNSET");
	struct config *c =
	    support_load_ok(load, &diag,
	                    "jobs:\n"
	                    "  x:\n"
	                    "    type: local\n"
	                    "    schedule: \"@daily\"\n"
	                    "    command: echo ${OFELIA_SET} ${OFELIA_UNSET} ${OFELIA_EMPTY} "
	                    "${OFELIA_UNSET:-d:1} ${OFELIA_EMPTY:-e} $OFELIA_SET ${1X} ${A\n");
	cr_expect_str_eq(c->jobs[0]->command, "echo value ${OFELIA_UNSET} ${OFELIA_EMPTY} d:1 e "
	                                      "$OFELIA_SET ${1X} ${A");
	config_free(c);
}

Test(config, merge_keys)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "x-defaults: &defaults\n"
	                                   "  type: local\n"
	                                   "  schedule: \"@hourly\"\n"
	                                   "  no-overlap: true\n"
	                                   "jobs:\n"
	                                   "  a:\n"
	                                   "    <<: *defaults\n"
	                                   "    command: echo a\n"
	                                   "  b:\n"
	                                   "    <<: *defaults\n"
	                                   "    schedule: \"@daily\"\n"
	                                   "    command: echo b\n");
	cr_expect_str_eq(job_named(c, "a")->schedule, "@hourly");
	cr_expect(job_named(c, "a")->no_overlap);
	cr_expect_str_eq(job_named(c, "b")->schedule, "@daily");
	cr_expect_eq(diag.warnings.n, 0);
	config_free(c);
}

Test(config, empty_file_is_valid)
{
	struct config *c = support_load_ok(load, &diag, "# nothing yet\n");
	cr_expect_eq(c->njobs, 0);
	config_free(c);
	c = support_load_ok(load, &diag, "");
	config_free(c);
}

Test(config, bad_schedule)
{
	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  backup:\n"
	    "    type: exec\n"
	    "    container: db\n"
	    "    command: x\n"
	    "    schedule: 61 0 * * *\n",
	    "ofelia.yaml:6:5: job \"backup\": bad schedule \"61 0 * * *\": minute 61 out of "
	    "range (0-59) [INVALID_SCHEDULE]");
}

Test(config, duplicate_keys)
{
	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  a:\n"
	    "    type: local\n"
	    "    schedule: \"@daily\"\n"
	    "    command: x\n"
	    "    Schedule: \"@hourly\"\n",
	    "ofelia.yaml:6:5: job \"a\": duplicate key \"Schedule\" (first at line 4)");
	support_expect_error(load, &diag,
	                     "jobs:\n"
	                     "  a: {type: local, schedule: \"@daily\", command: x}\n"
	                     "  a: {type: local, schedule: \"@daily\", command: y}\n",
	                     "ofelia.yaml:3:3: jobs: duplicate key \"a\" (first at line 2)");
	support_expect_error(
	    load, &diag, "global:\n  enable-web: true\nweb:\n  enabled: false\n",
	    "ofelia.yaml:4:3: web: \"enabled\" sets what \"enable-web\" at line 2 already "
	    "set");
	support_expect_error(
	    load, &diag, "docker:\n  poll-interval: 1s\n  docker_poll_interval: 2s\n",
	    "ofelia.yaml:3:3: docker: \"docker_poll_interval\" sets what \"poll-interval\" "
	    "at line 2 already set");
}

Test(config, wrong_types)
{
	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  a:\n"
	    "    type: local\n"
	    "    schedule: [\"@daily\"]\n"
	    "    command: x\n",
	    "ofelia.yaml:4:15: job \"a\": schedule: wants a single value, not a list");
	support_expect_error(load, &diag,
	                     "jobs:\n"
	                     "  a:\n"
	                     "    type: run\n"
	                     "    schedule: \"@daily\"\n"
	                     "    image: x\n"
	                     "    volume: {a: b}\n",
	                     "ofelia.yaml:6:13: job \"a\": volume: wants a list, not a mapping");
	support_expect_error(load, &diag, "jobs:\n  a: echo\n",
	                     "ofelia.yaml:2:6: job \"a\": wants a mapping of job keys, not text");
	support_expect_error(load, &diag, "jobs: [a]\n",
	                     "ofelia.yaml:1:7: jobs: wants a mapping of job names, not a list");
	support_expect_error(load, &diag, "global: 3\n",
	                     "ofelia.yaml:1:9: global: wants a mapping of settings, not text");
	support_expect_error(
	    load, &diag, "- a\n",
	    "ofelia.yaml:1:1: the file must be a mapping (global, docker, web, jobs), not "
	    "a list");
}

Test(config, bad_values)
{
	support_expect_error(
	    load, &diag, "global:\n  max-concurrent: -1\n",
	    "ofelia.yaml:2:19: global: max-concurrent: \"-1\" is not a whole number from 0 "
	    "to 10000");
	support_expect_error(
	    load, &diag, "docker:\n  events: maybe\n",
	    "ofelia.yaml:2:11: docker: events: \"maybe\" is not a boolean (true or false)");
	support_expect_error(
	    load, &diag, "global:\n  shutdown-grace: 10\n",
	    "ofelia.yaml:2:19: global: shutdown-grace: missing unit in duration \"10\"");
	support_expect_error(
	    load, &diag, "global:\n  log-level: loud\n",
	    "ofelia.yaml:2:14: global: log-level: \"loud\" is not one of debug, info, warn, "
	    "error");
	support_expect_error(
	    load, &diag, "global:\n  db-synchronous: off\n",
	    "ofelia.yaml:2:19: global: db-synchronous: \"off\" is not one of normal, full");
	support_expect_error(load, &diag, "web:\n  address: localhost\n",
	                     "ofelia.yaml:2:12: web: address: \"localhost\" is not host:port");
	support_expect_error(
	    load, &diag, "web:\n  trusted-proxies: [10.0.0.0/33]\n",
	    "ofelia.yaml:2:21: web: trusted-proxies: \"10.0.0.0/33\" is not an IP address "
	    "or CIDR");
	support_expect_error(
	    load, &diag, "docker:\n  host: /var/run/docker.sock\n",
	    "ofelia.yaml:2:9: docker: host: \"/var/run/docker.sock\" is not unix:///path or "
	    "tcp://host:port");
	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  a:\n"
	    "    type: local\n"
	    "    schedule: \"@daily\"\n"
	    "    command: x\n"
	    "    no-overlap: sometimes\n",
	    "ofelia.yaml:6:17: job \"a\": no-overlap: \"sometimes\" is not a boolean (true "
	    "or false)");
}

Test(config, bad_timezone)
{
	struct config *c = load("global:\n  timezone: Mars/Olympus\n");
	cr_assert_null(c);
	cr_assert_eq(diag.errors.n, 1);
	cr_expect(strncmp(diag.errors.v[0], "ofelia.yaml:2:13: global: timezone: ", 36) == 0, "%s",
	          diag.errors.v[0]);
}

Test(config, web_users)
{
	support_expect_error(
	    load, &diag,
	    "web:\n  auth:\n    users:\n      - {username: a, password-hash: "
	    "\"$2b$12$abcdefghijkl\", role: root}\n",
	    "ofelia.yaml:4:9: web.auth.users: user \"a\": role \"root\" is not admin or "
	    "viewer");
	support_expect_error(
	    load, &diag,
	    "web:\n  auth:\n    users:\n      - {username: a, password-hash: "
	    "secret, role: admin}\n",
	    "ofelia.yaml:4:9: web.auth.users: user \"a\": password-hash is not a crypt(3) "
	    "hash ($y$, $2b$, $6$ or $5$); make one with `ofelia hash-password`");
	support_expect_error(load, &diag,
	                     "web:\n  auth:\n    users:\n      - {username: a, role: admin}\n",
	                     "ofelia.yaml:4:9: web.auth.users: a user needs password-hash");
	support_expect_error(
	    load, &diag, "web:\n  enabled: true\n  auth: {enabled: true}\n",
	    "ofelia.yaml: web: auth is enabled but no user is configured (web.auth.users, "
	    "or web-username and web-password-hash in global)");
	support_expect_error(load, &diag,
	                     "global:\n  web-auth-enabled: true\n  web-username: admin\n",
	                     "ofelia.yaml:3:17: global: web-username needs web-password-hash");
	/* With auth off they are unused, as in Ofelia: warnings. */
	config_diag_free(&diag);
	struct config *c = support_load_ok(load, &diag,
	                                   "global:\n  web-username: admin\n"
	                                   "  web-password-hash: not_used\n");
	cr_expect_eq(c->web.nusers, 0);
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.yaml:3:22: global: web-password-hash: not a crypt(3) hash "
	                      "($y$, $2b$, $6$ or $5$); make one with `ofelia hash-password` "
	                      "(unused: web-auth-enabled is false)"));
	config_free(c);
}

Test(config, unknown_keys_warn_with_a_suggestion)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "global:\n"
	                                   "  log-levle: debug\n"
	                                   "  enable-pprof: true\n"
	                                   "jobz: {}\n"
	                                   "x-anchors: {}\n"
	                                   "jobs:\n"
	                                   "  backup:\n"
	                                   "    type: local\n"
	                                   "    schedule: \"@daily\"\n"
	                                   "    command: x\n"
	                                   "    comand: y\n"
	                                   "    email-to: a@example.com\n"
	                                   "    image: alpine\n");
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.yaml:2:3: global: unknown key \"log-levle\" (did "
	                      "you mean \"log-level\"?)"));
	cr_expect(support_has(
	    &diag.warnings,
	    "ofelia.yaml:3:3: global: key \"enable-pprof\" is not supported (ignored)"));
	cr_expect(support_has(&diag.warnings, "ofelia.yaml:4:1: unknown key \"jobz\" (did you mean "
	                                      "\"jobs\"?)"));
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.yaml:11:5: job \"backup\": unknown key \"comand\" "
	                      "(did you mean \"command\"?)"));
	cr_expect(support_has(&diag.warnings,
	                      "ofelia.yaml:13:5: job \"backup\": key \"image\" does not "
	                      "apply to local jobs (ignored)"));
	cr_expect_eq(diag.warnings.n, 5);
	config_free(c);
}

Test(config, job_type_and_required_keys)
{
	support_expect_error(
	    load, &diag, "jobs:\n  a:\n    type: cron\n    schedule: \"@daily\"\n",
	    "ofelia.yaml:3:11: job \"a\": unknown type \"cron\" (exec, run, local or "
	    "service)");
	support_expect_error(
	    load, &diag, "jobs:\n  a:\n    schedule: \"@daily\"\n",
	    "ofelia.yaml:2:3: job \"a\": missing type (exec, run, local or service)");
	support_expect_error(
	    load, &diag, "jobs:\n  a:\n    type: exec\n    schedule: \"@daily\"\n    command: x\n",
	    "ofelia.yaml:2:3: job \"a\": an exec job needs container");
	support_expect_error(load, &diag, "jobs:\n  a:\n    type: local\n    command: x\n",
	                     "ofelia.yaml:2:3: job \"a\": schedule is empty [INVALID_SCHEDULE]");
	support_expect_error(load, &diag, "jobs:\n  a:\n    type: run\n    schedule: \"@daily\"\n",
	                     "ofelia.yaml:2:3: job \"a\": a run job needs image (or container)");
}

Test(config, unterminated_quote_in_command)
{
	support_expect_error(
	    load, &diag,
	    "jobs:\n  a:\n    type: local\n    schedule: \"@daily\"\n    command: echo "
	    "\"hi\n",
	    "ofelia.yaml:2:3: job \"a\": bad command: unterminated \" quote");
}

Test(config, syntax_errors)
{
	support_expect_error(
	    load, &diag, "jobs:\n  a: [1, 2\n  b: 3\n",
	    "ofelia.yaml:3:4: did not find expected ',' or ']' (while parsing a flow "
	    "sequence at line 2)");
	support_expect_error(load, &diag, "a: 1\n---\nb: 2\n",
	                     "ofelia.yaml:3:1: a second YAML document: the file must hold one");
	struct config *c = config_load_string("a: 1\0b", 6, "ofelia.yaml", CONFIG_AUTO, &diag);
	cr_expect_null(c);
	cr_expect(support_has(&diag.errors, "ofelia.yaml: the file contains a NUL byte"));
}

Test(config, missing_file)
{
	struct config *c = config_load_file("/nonexistent/ofelia.yaml", &diag);
	cr_expect_null(c);
	cr_expect(support_has(&diag.errors,
	                      "/nonexistent/ofelia.yaml: cannot open: No such file or "
	                      "directory"));
}

Test(config, format_by_content)
{
	const char *ini = "; comment\n[job-local \"a\"]\nschedule = @daily\ncommand = x\n";
	struct config *c = config_load_string(ini, strlen(ini), "config", CONFIG_AUTO, &diag);
	cr_assert_not_null(c);
	cr_expect_eq(c->format, CONFIG_INI);
	config_free(c);
	const char *yaml =
	    "# comment\njobs: {a: {type: local, schedule: \"@daily\", command: x}}\n";
	c = config_load_string(yaml, strlen(yaml), "config", CONFIG_AUTO, &diag);
	cr_assert_not_null(c);
	cr_expect_eq(c->format, CONFIG_YAML);
	cr_expect_eq(c->njobs, 1);
	config_free(c);
}

Test(config, same_setting_under_two_names)
{
	support_expect_error(
	    load, &diag, "global:\n  web-token-expiry: 12\nweb:\n  auth:\n    token-expiry: 1h\n",
	    "ofelia.yaml:5:5: web.auth: \"token-expiry\" sets what \"web-token-expiry\" at "
	    "line 2 already set");
}

Test(config, empty_values_keep_defaults)
{
	struct config *c =
	    support_load_ok(load, &diag,
	                    "global:\n  log-level:\n  max-queue: ~\n  default-user:\n"
	                    "jobs:\n  a:\n    type: run\n    schedule: \"@daily\"\n"
	                    "    image: alpine\n    user: \"\"\n    delete:\n");
	cr_expect_str_eq(c->global.log_level, "info");
	cr_expect_eq(c->global.max_queue, 1000);
	cr_expect_str_eq(c->global.default_user, "default"); /* Ofelia: empty = image's own */
	cr_expect_null(c->jobs[0]->user);
	cr_expect(c->jobs[0]->delete_after);
	config_free(c);
}

Test(config, messages_in_file_order)
{
	struct config *c = load("jobs:\n"
	                        "  a:\n"
	                        "    type: local\n"
	                        "    command: x\n"
	                        "    schedule: 0 61 * * *\n"
	                        "  b:\n"
	                        "    type: local\n"
	                        "    schedule: \"@daily\"\n"
	                        "    command: y\n"
	                        "    command: z\n");
	cr_assert_null(c);
	cr_assert_eq(diag.errors.n, 2);
	cr_expect(strncmp(diag.errors.v[0], "ofelia.yaml:5:5:", 16) == 0, "%s", diag.errors.v[0]);
	cr_expect(strncmp(diag.errors.v[1], "ofelia.yaml:10:5:", 17) == 0, "%s", diag.errors.v[1]);
}

Test(config, job_names_with_nul_are_refused)
{
	support_expect_error(load, &diag,
	                     "jobs:\n  \"hello\\0x\":\n    type: local\n    schedule: '@daily'\n"
	                     "    command: x\n",
	                     "ofelia.yaml:2:3: jobs: a key must be text, not text with a NUL "
	                     "character");
}

Test(config, retries_and_workflows)
{
	struct config *c = support_load_ok(load, &diag,
	                                   "global:\n"
	                                   "  max-retries: 2\n"
	                                   "  retry-delay: 10s\n"
	                                   "  retry-exponential: false\n"
	                                   "  retry-max-delay: 5m\n"
	                                   "  retry-interrupted: true\n"
	                                   "  dependency-timeout: 30m\n"
	                                   "jobs:\n"
	                                   "  a:\n"
	                                   "    type: local\n"
	                                   "    schedule: \"@hourly\"\n"
	                                   "    command: \"true\"\n"
	                                   "    on-success: [b]\n"
	                                   "    on-failure: b\n"
	                                   "  b:\n"
	                                   "    type: local\n"
	                                   "    schedule: \"@manual\"\n"
	                                   "    command: \"true\"\n"
	                                   "    depends-on:\n"
	                                   "      - a\n"
	                                   "    retry-max-delay: 1m\n");
	cr_expect_eq(c->global.max_retries, 2);
	cr_expect_eq(c->global.retry_delay_ns, 10000000000LL);
	cr_expect(!c->global.retry_exponential);
	cr_expect_eq(c->global.retry_max_delay_ns, 300000000000LL);
	cr_expect(c->global.retry_interrupted);
	cr_expect_eq(c->global.dependency_timeout_ns, HOUR / 2);
	cr_expect_str_eq(job_named(c, "a")->on_failure.v[0], "b");
	cr_expect_str_eq(job_named(c, "b")->depends_on.v[0], "a");
	cr_expect_eq(job_named(c, "b")->retry_max_delay_ns, 60000000000LL);
	cr_expect_eq(job_named(c, "a")->max_retries, -1);
	config_free(c);

	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  a:\n"
	    "    type: local\n"
	    "    schedule: \"@hourly\"\n"
	    "    command: \"true\"\n"
	    "    depends-on: [b]\n"
	    "  b:\n"
	    "    type: local\n"
	    "    schedule: \"@hourly\"\n"
	    "    command: \"true\"\n"
	    "    depends-on: [a]\n",
	    "ofelia.yaml:6:5: job \"a\": depends-on: the jobs form a loop: a -> b -> "
	    "a (depends-on, on-success and on-failure may not lead back to a job)");
	support_expect_error(
	    load, &diag,
	    "jobs:\n"
	    "  a:\n"
	    "    type: local\n"
	    "    schedule: \"@hourly\"\n"
	    "    command: \"true\"\n"
	    "    on-failure: [missing]\n",
	    "ofelia.yaml:6:5: job \"a\": on-failure: no job \"missing\" is defined");
}
