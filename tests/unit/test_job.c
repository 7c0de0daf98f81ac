/* The job definition: its key table, text and JSON forms, validation. */
#include <criterion/criterion.h>
#include <string.h>

#include "job/job.h"

static struct job *exec_job(void)
{
	struct job *j = job_new("backup", JOB_EXEC);
	j->schedule = strdup("@daily");
	j->command = strdup("backup.sh --all");
	j->container = strdup("db");
	strv_push(&j->environment, "BACKUP_DIR=/data");
	return j;
}

Test(job, defaults_are_ofelias)
{
	struct job *j = job_new("x", JOB_RUN);
	cr_expect(j->enabled);
	cr_expect(j->delete_after);
	cr_expect_eq(j->pull, JOB_PULL_ALWAYS);
	cr_expect_eq(j->history_limit, -1);
	cr_expect_null(j->user);
	cr_expect_eq(j->origin, JOB_ORIGIN_CONFIG);
	job_free(j);
}

Test(job, keys_are_found_by_every_spelling)
{
	const char *spellings[] = {"no-overlap", "noOverlap", "NoOverlap", "no_overlap",
	                           "NOOVERLAP"};
	for (size_t i = 0; i < 5; i++) {
		const struct job_field *f = job_field_find(spellings[i]);
		cr_assert_not_null(f, "%s", spellings[i]);
		cr_expect_str_eq(f->key, "no-overlap");
		cr_expect_str_eq(f->json, "noOverlap");
	}
	cr_expect_null(job_field_find("no-overlapp-at-all"));
	cr_expect_str_eq(job_field_suggest("schedul"), "schedule");
	cr_expect_str_eq(job_field_suggest("volumes_frm"), "volumes-from");
	cr_expect_null(job_field_suggest("completely-unrelated"));
}

Test(job, field_set_parses_and_rejects)
{
	struct job *j = job_new("x", JOB_RUN);
	char err[256];
	cr_assert_eq(job_field_set(j, job_field_find("max-runtime"), "1h30m", err, sizeof err), 0);
	cr_expect_eq(j->max_runtime_ns, 5400LL * 1000000000LL);
	cr_expect_eq(job_field_set(j, job_field_find("max-runtime"), "-5s", err, sizeof err), -1);
	cr_expect_eq(job_field_set(j, job_field_find("tty"), "maybe", err, sizeof err), -1);
	cr_expect(strstr(err, "not a boolean"));
	cr_assert_eq(job_field_set(j, job_field_find("pull"), "false", err, sizeof err), 0);
	cr_expect_eq(j->pull, JOB_PULL_IF_NOT_PRESENT);
	cr_assert_eq(job_field_set(j, job_field_find("pull"), "never", err, sizeof err), 0);
	cr_expect_eq(j->pull, JOB_PULL_NEVER);
	/* repeated keys append; in a label, a JSON array replaces */
	job_field_set(j, job_field_find("volume"), "/a:/a", err, sizeof err);
	job_field_set(j, job_field_find("volume"), "/b:/b", err, sizeof err);
	cr_expect_eq(j->volume.n, 2);
	cr_assert_eq(
	    job_field_set_label(j, job_field_find("volume"), "[\"/c:/c\"]", err, sizeof err), 0);
	cr_assert_eq(j->volume.n, 1);
	cr_expect_str_eq(j->volume.v[0], "/c:/c");
	cr_expect_eq(job_field_set_label(j, job_field_find("volume"), "[1, 2]", err, sizeof err),
	             -1);
	cr_expect_eq(
	    job_field_set_label(j, job_field_find("volume"), "[\"unclosed", err, sizeof err), -1);
	/* INI and YAML take the text as it is */
	cr_assert_eq(job_field_set(j, job_field_find("volume"), "[x]", err, sizeof err), 0);
	cr_expect_str_eq(j->volume.v[1], "[x]");
	job_free(j);
}

Test(job, validate_names_the_problem)
{
	struct job *j = exec_job();
	const char *code;
	char err[256];
	cr_expect_eq(job_validate(j, &code, err, sizeof err), 0);

	free(j->schedule);
	j->schedule = strdup("0 61 * * *");
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect_str_eq(code, "INVALID_SCHEDULE");
	cr_expect(strstr(err, "bad schedule \"0 61 * * *\""), "%s", err);

	free(j->schedule);
	j->schedule = strdup("@hourly");
	free(j->container);
	j->container = NULL;
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect_str_eq(code, "VALIDATION_ERROR");
	cr_expect_str_eq(err, "job \"backup\": an exec job needs container");
	job_free(j);

	cr_expect_eq(job_name_valid("a/b", err, sizeof err), -1);
	cr_expect_eq(job_name_valid(" lead", err, sizeof err), -1);
	cr_expect_eq(job_name_valid("web.backup-2", err, sizeof err), 0);
	/* names reach URLs, JSON and logs: UTF-8 text only */
	cr_expect_eq(job_name_valid("caf\xc3\xa9 \xe2\x9c\x93", err, sizeof err), 0);
	cr_expect_eq(job_name_valid("hel\xfflo", err, sizeof err), -1);
	cr_expect_str_eq(err, "job name \"hel?lo\" is not valid UTF-8");
	cr_expect_eq(job_name_valid("caf\xc3", err, sizeof err), -1);       /* cut short */
	cr_expect_eq(job_name_valid("\xc0\xafetc", err, sizeof err), -1);   /* overlong '/' */
	cr_expect_eq(job_name_valid("\xed\xa0\x80x", err, sizeof err), -1); /* a surrogate */
	cr_expect_eq(job_name_valid("tab\there", err, sizeof err), -1);
	cr_expect_str_eq(err, "job name \"tab?here\" has a character that is not allowed (control "
	                      "characters, '/' and '\\' are not)");
}

Test(job, command_must_split)
{
	const char *code;
	char err[256];
	struct job *j = exec_job();
	free(j->command);
	j->command = strdup("sh -c 'echo unterminated");
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect_str_eq(code, "VALIDATION_ERROR");
	cr_expect(strstr(err, "bad command: unterminated ' quote"), "%s", err);
	job_free(j);

	j = job_new("img", JOB_RUN);
	j->schedule = strdup("@hourly");
	j->image = strdup("busybox");
	j->entrypoint = strdup("\"/bin/sh");
	cr_expect_eq(job_validate(j, &code, err, sizeof err), -1);
	cr_expect(strstr(err, "bad entrypoint"), "%s", err);
	free(j->entrypoint);
	j->entrypoint = strdup("/bin/sh -c");
	cr_expect_eq(job_validate(j, &code, err, sizeof err), 0, "%s", err);
	job_free(j);
}

Test(job, json_round_trip_and_equality)
{
	struct job *j = exec_job();
	j->no_overlap = true;
	j->max_runtime_ns = 60LL * 1000000000LL;
	json_t *o = job_to_json(j);
	cr_expect_str_eq(json_string_value(json_object_get(o, "type")), "exec");
	cr_expect(json_is_true(json_object_get(o, "noOverlap")));
	cr_expect_eq(json_integer_value(json_object_get(o, "maxRuntime")), 60000000000LL);
	cr_expect_null(json_object_get(o, "image"), "run-only keys stay out of exec jobs");
	cr_expect(json_is_null(json_object_get(o, "user")));

	char err[256];
	struct job *back = job_from_json(o, NULL, err, sizeof err);
	cr_assert_not_null(back, "%s", err);
	cr_expect(job_equal(j, back));
	back->tty = true;
	cr_expect_not(job_equal(j, back));
	json_decref(o);
	job_free(back);
	job_free(j);
}

Test(job, apply_json_is_partial_and_atomic)
{
	struct job *j = exec_job();
	char err[256];
	json_t *ok = json_pack("{s:s,s:[s,s],s:s}", "schedule", "0 3 * * *", "environment", "A=1",
	                       "B=2", "maxRuntime", "90s");
	cr_assert_eq(job_apply_json(j, ok, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(j->schedule, "0 3 * * *");
	cr_expect_str_eq(j->command, "backup.sh --all");
	cr_expect_eq(j->environment.n, 2);
	cr_expect_eq(j->max_runtime_ns, 90LL * 1000000000LL);

	json_t *bad = json_pack("{s:s,s:s}", "command", "changed", "tty", "yes");
	cr_expect_eq(job_apply_json(j, bad, err, sizeof err), -1);
	cr_expect(strstr(err, "tty"), "%s", err);
	cr_expect_str_eq(j->command, "backup.sh --all", "a failed update changes nothing");

	json_t *wrong_type = json_pack("{s:s}", "image", "alpine");
	cr_expect_eq(job_apply_json(j, wrong_type, err, sizeof err), -1);
	cr_expect(strstr(err, "does not apply to exec jobs"), "%s", err);
	json_t *typo = json_pack("{s:s}", "schedul", "@daily");
	cr_expect_eq(job_apply_json(j, typo, err, sizeof err), -1);
	cr_expect(strstr(err, "did you mean \"schedule\""), "%s", err);
	json_t *rename = json_pack("{s:s}", "name", "other");
	cr_expect_eq(job_apply_json(j, rename, err, sizeof err), -1);
	json_decref(ok);
	json_decref(bad);
	json_decref(wrong_type);
	json_decref(typo);
	json_decref(rename);
	job_free(j);
}

Test(job, notification_keys)
{
	struct job *j = exec_job();
	char err[256];
	const char *code;
	cr_expect_eq(j->slack_only_on_error, -1, "unset: the global value applies");
	cr_expect_eq(j->smtp_port, -1);
	cr_assert_eq(job_field_set(j, job_field_find("slack_only_on_error"), "yes", err, 256), 0);
	cr_expect_eq(j->slack_only_on_error, 1);
	cr_expect_eq(job_field_set(j, job_field_find("mail-only-on-error"), "maybe", err, 256), -1);
	job_field_set(j, job_field_find("slack-webhook"), "https://hooks.slack.com/services/T/B/x",
	              err, 256);
	job_field_set(j, job_field_find("smtp-password"), "hunter2", err, 256);

	/* the API sees secrets masked, the store keeps them */
	json_t *shown = job_to_json(j), *kept = job_to_json_full(j);
	cr_expect_str_eq(json_string_value(json_object_get(shown, "slackWebhook")), "********");
	cr_expect_str_eq(json_string_value(json_object_get(shown, "smtpPassword")), "********");
	cr_expect_str_eq(json_string_value(json_object_get(kept, "smtpPassword")), "hunter2");
	cr_expect(json_is_true(json_object_get(shown, "slackOnlyOnError")));
	cr_expect(json_is_null(json_object_get(shown, "mailOnlyOnError")));
	cr_expect(json_is_null(json_object_get(shown, "smtpPort")));

	/* a client that sends back what it got keeps the secret */
	cr_assert_eq(job_apply_json(j, shown, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(j->smtp_password, "hunter2");
	json_t *patch = json_pack("{s:s,s:n,s:b}", "smtpPassword", "new-one", "slackOnlyOnError",
	                          "mailOnlyOnError", 0);
	cr_assert_eq(job_apply_json(j, patch, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(j->smtp_password, "new-one");
	cr_expect_eq(j->slack_only_on_error, -1);
	cr_expect_eq(j->mail_only_on_error, 0);
	json_decref(patch);
	json_decref(shown);
	json_decref(kept);

	/* the words are checked where the job is defined */
	cr_expect_eq(job_validate(j, &code, err, sizeof err), 0, "%s", err);
	const char *bad[][2] = {
	    {"smtp-tls-policy", "sometimes"},
	    {"save-mode", "0800"},
	    {"save-folder-mode", "rw-r--r--"},
	    {"notify-on", "missed, success"},
	    {"smtp-port", "70000"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct job *k = exec_job();
		cr_assert_eq(job_field_set(k, job_field_find(bad[i][0]), bad[i][1], err, 256), 0);
		cr_expect_eq(job_validate(k, &code, err, sizeof err), -1, "%s = %s", bad[i][0],
		             bad[i][1]);
		cr_expect(strstr(err, bad[i][0]), "%s", err);
		job_free(k);
	}
	unsigned mask;
	struct strv on = STRV_INIT;
	strv_push(&on, "missed, expired");
	strv_push(&on, "interrupted");
	cr_assert_eq(job_notify_on_parse(&on, &mask, err, sizeof err), 0);
	cr_expect_eq(mask, (1u << JOB_STATUS_MISSED) | (1u << JOB_STATUS_EXPIRED) |
	                       (1u << JOB_STATUS_INTERRUPTED));
	strv_free(&on);
	job_free(j);
}

Test(job, retry_keys_in_every_spelling)
{
	struct job *j = job_new("x", JOB_LOCAL);
	char err[256];
	cr_expect_eq(j->max_retries, -1);
	cr_expect_eq(j->retry_delay_ns, -1);
	cr_expect_eq(j->retry_exponential, -1);
	/* netresearch's field names, and its milliseconds */
	cr_assert_eq(job_field_set(j, job_field_find("MaxRetries"), "3", err, sizeof err), 0);
	cr_assert_eq(job_field_set(j, job_field_find("RetryDelayMs"), "1500", err, sizeof err), 0);
	cr_assert_eq(job_field_set(j, job_field_find("RetryMaxDelayMs"), "60000", err, sizeof err),
	             0);
	cr_assert_eq(job_field_set(j, job_field_find("RetryExponential"), "false", err, sizeof err),
	             0);
	cr_expect_eq(j->max_retries, 3);
	cr_expect_eq(j->retry_delay_ns, 1500000000LL);
	cr_expect_eq(j->retry_max_delay_ns, 60000000000LL);
	cr_expect_eq(j->retry_exponential, 0);
	cr_expect_eq(job_field_set(j, job_field_find("retry-delay-ms"), "1s", err, sizeof err), -1);
	cr_expect(strstr(err, "whole number of milliseconds"), "%s", err);
	cr_assert_eq(job_field_set(j, job_field_find("retry-delay"), "250ms", err, sizeof err), 0);
	cr_expect_eq(j->retry_delay_ns, 250000000LL);

	/* The JSON form: one key per field (no ms aliases), null when unset. */
	json_t *o = job_to_json(j);
	cr_expect_eq(json_integer_value(json_object_get(o, "retryDelay")), 250000000LL);
	cr_expect_null(json_object_get(o, "retryDelayMs"));
	cr_expect(json_is_null(json_object_get(o, "dependencyTimeout")));
	cr_expect(json_is_null(json_object_get(o, "retryInterrupted")));
	json_decref(o);
	o = json_pack("{s:s,s:s,s:i,s:n,s:[s]}", "name", "y", "type", "local", "retryDelayMs", 2000,
	              "retryMaxDelay", "onFailure", "alert");
	struct job *k = job_from_json(o, NULL, err, sizeof err);
	cr_assert_not_null(k, "%s", err);
	cr_expect_eq(k->retry_delay_ns, 2000000000LL);
	cr_expect_eq(k->retry_max_delay_ns, -1);
	cr_expect_str_eq(k->on_failure.v[0], "alert");
	json_decref(o);
	job_free(k);
	job_free(j);
}

Test(job, links_are_checked_and_loops_named)
{
	const char *code;
	char err[256], loop[256];
	struct job *a = job_new("a", JOB_LOCAL), *b = job_new("b", JOB_LOCAL),
	           *c = job_new("c", JOB_LOCAL);
	struct job *all[] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		all[i]->schedule = strdup("@triggered");
		all[i]->command = strdup("true");
	}
	strv_push(&a->on_success, "a");
	cr_expect_eq(job_validate(a, &code, err, sizeof err), -1);
	cr_expect_str_eq(err, "job \"a\": on-success: names the job itself");
	strv_free(&a->on_success);
	a->max_retries = JOB_MAX_RETRIES + 1;
	cr_expect_eq(job_validate(a, &code, err, sizeof err), -1);
	a->max_retries = 2;
	cr_expect_eq(job_validate(a, &code, err, sizeof err), 0, "%s", err);

	size_t holder;
	enum job_link key;
	/* a -> b (on-success), b -> c (c depends on b): no loop yet. */
	strv_push(&a->on_success, "b");
	strv_push(&c->depends_on, "b");
	strv_push(&c->on_success, "elsewhere");
	cr_expect_eq(job_links_cycle(all, 3, &holder, &key, loop, sizeof loop), 0);
	/* c -> a (on-failure) closes it. */
	strv_push(&c->on_failure, "a");
	cr_assert_eq(job_links_cycle(all, 3, &holder, &key, loop, sizeof loop), -1);
	cr_expect_str_eq(loop, "a -> b -> c -> a");
	cr_expect_eq(holder, 2);
	cr_expect_eq(key, JOB_LINK_ON_FAILURE);
	for (int i = 0; i < 3; i++)
		job_free(all[i]);
}
