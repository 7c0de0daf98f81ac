#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron/cron.h"
#include "job/job.h"
#include "util/argv.h"
#include "util/duration.h"
#include "util/lines.h"
#include "util/words.h"
#include "util/xalloc.h"

#define ALL                                                                                        \
	(JOB_TYPE_BIT(JOB_EXEC) | JOB_TYPE_BIT(JOB_RUN) | JOB_TYPE_BIT(JOB_LOCAL) |                \
	 JOB_TYPE_BIT(JOB_SERVICE))
#define EXEC    JOB_TYPE_BIT(JOB_EXEC)
#define RUN     JOB_TYPE_BIT(JOB_RUN)
#define LOCAL   JOB_TYPE_BIT(JOB_LOCAL)
#define SERVICE JOB_TYPE_BIT(JOB_SERVICE)
#define F(key, json, kind, member, types)                                                          \
	{                                                                                          \
		key, json, kind, offsetof(struct job, member), types, false, false                 \
	}
#define SECRET(key, json, member)                                                                  \
	{                                                                                          \
		key, json, JOB_F_STRING, offsetof(struct job, member), ALL, true, false            \
	}
/* netresearch's RetryDelayMs and RetryMaxDelayMs: whole milliseconds. */
#define MILLIS(key, json, member)                                                                  \
	{                                                                                          \
		key, json, JOB_F_MILLIS, offsetof(struct job, member), ALL, false, true            \
	}

/* The one table of job keys. Names and the types that have them follow
 * Ofelia (netresearch's core/ job sources), so its documentation transfers. */
const struct job_field job_fields[] = {
    F("schedule", "schedule", JOB_F_STRING, schedule, ALL),
    F("command", "command", JOB_F_STRING, command, ALL),
    F("enabled", "enabled", JOB_F_BOOL, enabled, ALL),
    F("no-overlap", "noOverlap", JOB_F_BOOL, no_overlap, ALL),
    F("run-on-startup", "runOnStartup", JOB_F_BOOL, run_on_startup, ALL),
    F("history-limit", "historyLimit", JOB_F_INT, history_limit, ALL),
    F("max-runtime", "maxRuntime", JOB_F_DURATION, max_runtime_ns, ALL),
    F("catch-up", "catchUp", JOB_F_CATCH_UP, catch_up, ALL),
    F("catch-up-deadline", "catchUpDeadline", JOB_F_DURATION, catch_up_deadline_ns, ALL),
    F("environment", "environment", JOB_F_LIST, environment, ALL),
    F("max-retries", "maxRetries", JOB_F_INT, max_retries, ALL),
    F("retry-delay", "retryDelay", JOB_F_OPT_DURATION, retry_delay_ns, ALL),
    F("retry-exponential", "retryExponential", JOB_F_OPT_BOOL, retry_exponential, ALL),
    F("retry-max-delay", "retryMaxDelay", JOB_F_OPT_DURATION, retry_max_delay_ns, ALL),
    F("retry-interrupted", "retryInterrupted", JOB_F_OPT_BOOL, retry_interrupted, ALL),
    F("depends-on", "dependsOn", JOB_F_LIST, depends_on, ALL),
    F("on-success", "onSuccess", JOB_F_LIST, on_success, ALL),
    F("on-failure", "onFailure", JOB_F_LIST, on_failure, ALL),
    F("dependency-timeout", "dependencyTimeout", JOB_F_OPT_DURATION, dependency_timeout_ns, ALL),
    MILLIS("retry-delay-ms", "retryDelayMs", retry_delay_ns),
    MILLIS("retry-max-delay-ms", "retryMaxDelayMs", retry_max_delay_ns),
    F("container", "container", JOB_F_STRING, container, EXEC | RUN),
    F("user", "user", JOB_F_STRING, user, EXEC | RUN | SERVICE),
    F("tty", "tty", JOB_F_BOOL, tty, EXEC | RUN | SERVICE),
    F("working-dir", "workingDir", JOB_F_STRING, working_dir, EXEC | RUN),
    F("privileged", "privileged", JOB_F_BOOL, privileged, EXEC),
    F("image", "image", JOB_F_STRING, image, RUN | SERVICE),
    F("entrypoint", "entrypoint", JOB_F_STRING, entrypoint, RUN),
    F("network", "network", JOB_F_STRING, network, RUN | SERVICE),
    F("hostname", "hostname", JOB_F_STRING, hostname, RUN | SERVICE),
    F("container-name", "containerName", JOB_F_STRING, container_name, RUN),
    F("delete", "delete", JOB_F_BOOL, delete_after, RUN | SERVICE),
    F("pull", "pull", JOB_F_PULL, pull, RUN),
    F("volume", "volume", JOB_F_LIST, volume, RUN | SERVICE),
    F("volumes-from", "volumesFrom", JOB_F_LIST, volumes_from, RUN),
    F("stop-signal", "stopSignal", JOB_F_STRING, stop_signal, RUN),
    F("stop-timeout", "stopTimeout", JOB_F_DURATION, stop_timeout_ns, RUN),
    F("dir", "dir", JOB_F_STRING, dir, LOCAL | SERVICE),
    SECRET("slack-webhook", "slackWebhook", slack_webhook),
    F("slack-only-on-error", "slackOnlyOnError", JOB_F_OPT_BOOL, slack_only_on_error, ALL),
    F("email-to", "emailTo", JOB_F_STRING, email_to, ALL),
    F("email-from", "emailFrom", JOB_F_STRING, email_from, ALL),
    F("email-subject", "emailSubject", JOB_F_STRING, email_subject, ALL),
    F("mail-only-on-error", "mailOnlyOnError", JOB_F_OPT_BOOL, mail_only_on_error, ALL),
    F("smtp-host", "smtpHost", JOB_F_STRING, smtp_host, ALL),
    F("smtp-port", "smtpPort", JOB_F_INT, smtp_port, ALL),
    F("smtp-user", "smtpUser", JOB_F_STRING, smtp_user, ALL),
    SECRET("smtp-password", "smtpPassword", smtp_password),
    F("smtp-tls-skip-verify", "smtpTlsSkipVerify", JOB_F_OPT_BOOL, smtp_tls_skip_verify, ALL),
    F("smtp-tls-policy", "smtpTlsPolicy", JOB_F_STRING, smtp_tls_policy, ALL),
    F("save-folder", "saveFolder", JOB_F_STRING, save_folder, ALL),
    F("save-only-on-error", "saveOnlyOnError", JOB_F_OPT_BOOL, save_only_on_error, ALL),
    F("save-mode", "saveMode", JOB_F_STRING, save_mode, ALL),
    F("save-folder-mode", "saveFolderMode", JOB_F_STRING, save_folder_mode, ALL),
    F("webhooks", "webhooks", JOB_F_LIST, webhooks, ALL),
    F("notify-on", "notifyOn", JOB_F_LIST, notify_on, ALL),
    F("alert-if-no-success-within", "alertIfNoSuccessWithin", JOB_F_DURATION,
      alert_if_no_success_within_ns, ALL),
};
const size_t job_field_count = sizeof job_fields / sizeof job_fields[0];

#define FIELD(j, f, type)  ((type *)((char *)(j) + (f)->offset))
#define CFIELD(j, f, type) ((const type *)((const char *)(j) + (f)->offset))

static const char *type_names[JOB_TYPE_COUNT] = {"exec", "run", "local", "service"};
static const char *status_names[JOB_STATUS_COUNT] = {"running", "success",     "failed", "skipped",
                                                     "stopped", "interrupted", "missed", "expired"};
static const char *trigger_names[] = {"schedule", "manual", "startup",
                                      "catch-up", "retry",  "dependency"};
static const char *link_keys[JOB_LINK_COUNT] = {"depends-on", "on-success", "on-failure"};
static const char *origin_names[] = {"config", "docker-label", "api"};
static const char *catch_up_names[] = {"default", "skip", "once"};
static const char *pull_names[] = {"always", "if-not-present", "never"};

struct job *job_new(const char *name, enum job_type type)
{
	struct job *j = xcalloc(1, sizeof *j);
	j->name = xstrdup(name);
	j->type = type;
	j->origin = JOB_ORIGIN_CONFIG;
	j->enabled = true;
	j->history_limit = -1;
	j->delete_after = true;
	j->pull = JOB_PULL_ALWAYS;
	j->slack_only_on_error = j->mail_only_on_error = -1;
	j->smtp_tls_skip_verify = j->save_only_on_error = -1;
	j->smtp_port = -1;
	j->max_retries = -1;
	j->retry_delay_ns = j->retry_max_delay_ns = j->dependency_timeout_ns = -1;
	j->retry_exponential = j->retry_interrupted = -1;
	return j;
}

struct job *job_clone(const struct job *src)
{
	struct job *j = xmalloc(sizeof *j);
	*j = *src;
	j->name = xstrdup(src->name);
	j->source = xstrdup(src->source);
	for (size_t i = 0; i < job_field_count; i++) {
		const struct job_field *f = &job_fields[i];
		if (f->kind == JOB_F_STRING)
			*FIELD(j, f, char *) = xstrdup(*CFIELD(src, f, char *));
		else if (f->kind == JOB_F_LIST)
			strv_copy(FIELD(j, f, struct strv), CFIELD(src, f, struct strv));
	}
	return j;
}

void job_free(struct job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < job_field_count; i++) {
		const struct job_field *f = &job_fields[i];
		if (f->kind == JOB_F_STRING)
			free(*FIELD(j, f, char *));
		else if (f->kind == JOB_F_LIST)
			strv_free(FIELD(j, f, struct strv));
	}
	free(j->name);
	free(j->source);
	free(j);
}

static bool str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool job_equal(const struct job *a, const struct job *b)
{
	if (!str_equal(a->name, b->name) || a->type != b->type)
		return false;
	for (size_t i = 0; i < job_field_count; i++) {
		const struct job_field *f = &job_fields[i];
		switch (f->kind) {
		case JOB_F_STRING:
			if (!str_equal(*CFIELD(a, f, char *), *CFIELD(b, f, char *)))
				return false;
			break;
		case JOB_F_BOOL:
			if (*CFIELD(a, f, bool) != *CFIELD(b, f, bool))
				return false;
			break;
		case JOB_F_INT:
		case JOB_F_OPT_BOOL:
			if (*CFIELD(a, f, int) != *CFIELD(b, f, int))
				return false;
			break;
		case JOB_F_DURATION:
		case JOB_F_OPT_DURATION:
		case JOB_F_MILLIS:
			if (*CFIELD(a, f, int64_t) != *CFIELD(b, f, int64_t))
				return false;
			break;
		case JOB_F_LIST:
			if (!strv_equal(CFIELD(a, f, struct strv), CFIELD(b, f, struct strv)))
				return false;
			break;
		case JOB_F_CATCH_UP:
			if (*CFIELD(a, f, enum job_catch_up) != *CFIELD(b, f, enum job_catch_up))
				return false;
			break;
		case JOB_F_PULL:
			if (*CFIELD(a, f, enum job_pull) != *CFIELD(b, f, enum job_pull))
				return false;
			break;
		}
	}
	return true;
}

static int lookup(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *job_type_name(enum job_type t)
{
	return type_names[t];
}

int job_type_parse(const char *s, enum job_type *out)
{
	if (strncasecmp(s, "job-", 4) == 0)
		s += 4;
	if (strcasecmp(s, "service-run") == 0) {
		*out = JOB_SERVICE;
		return 0;
	}
	int i = lookup(s, type_names, JOB_TYPE_COUNT);
	if (i < 0)
		return -1;
	*out = (enum job_type)i;
	return 0;
}

const char *job_status_name(enum job_status s)
{
	return status_names[s];
}

int job_status_parse(const char *s, enum job_status *out)
{
	int i = lookup(s, status_names, JOB_STATUS_COUNT);
	if (i < 0)
		return -1;
	*out = (enum job_status)i;
	return 0;
}

const char *job_trigger_name(enum job_trigger t)
{
	return trigger_names[t];
}

int job_trigger_parse(const char *s, enum job_trigger *out)
{
	int i = lookup(s, trigger_names, sizeof trigger_names / sizeof trigger_names[0]);
	if (i < 0)
		return -1;
	*out = (enum job_trigger)i;
	return 0;
}

const char *job_origin_name(enum job_origin o)
{
	return origin_names[o];
}

int job_origin_parse(const char *s, enum job_origin *out)
{
	int i = lookup(s, origin_names, sizeof origin_names / sizeof origin_names[0]);
	if (i < 0)
		return -1;
	*out = (enum job_origin)i;
	return 0;
}

const char *job_catch_up_name(enum job_catch_up c)
{
	return catch_up_names[c];
}

int job_catch_up_parse(const char *s, enum job_catch_up *out)
{
	int i = lookup(s, catch_up_names, sizeof catch_up_names / sizeof catch_up_names[0]);
	if (i < 0)
		return -1;
	*out = (enum job_catch_up)i;
	return 0;
}

const char *job_pull_name(enum job_pull p)
{
	return pull_names[p];
}

int job_pull_parse(const char *s, enum job_pull *out)
{
	bool b;
	/* Ofelia's pull is a bool: true pulls first, false uses a local image first. */
	if (job_bool_parse(s, &b) == 0) {
		*out = b ? JOB_PULL_ALWAYS : JOB_PULL_IF_NOT_PRESENT;
		return 0;
	}
	int i = lookup(s, pull_names, sizeof pull_names / sizeof pull_names[0]);
	if (i < 0)
		return -1;
	*out = (enum job_pull)i;
	return 0;
}

int job_bool_parse(const char *s, bool *out)
{
	static const char *yes[] = {"1", "t", "true", "yes", "y", "on"};
	static const char *no[] = {"0", "f", "false", "no", "n", "off"};
	if (lookup(s, yes, sizeof yes / sizeof yes[0]) >= 0)
		*out = true;
	else if (lookup(s, no, sizeof no / sizeof no[0]) >= 0)
		*out = false;
	else
		return -1;
	return 0;
}

const struct job_field *job_field_find(const char *key)
{
	char want[64], have[64];
	/* The store's JSON and most files spell keys exactly: no need to
	 * normalize the table for them. */
	for (size_t i = 0; i < job_field_count; i++)
		if (strcmp(key, job_fields[i].json) == 0 || strcmp(key, job_fields[i].key) == 0)
			return &job_fields[i];
	if (strlen(key) >= sizeof want)
		return NULL;
	words_normalize(key, want, sizeof want);
	for (size_t i = 0; i < job_field_count; i++) {
		words_normalize(job_fields[i].key, have, sizeof have);
		if (strcmp(want, have) == 0)
			return &job_fields[i];
	}
	return NULL;
}

const char *job_field_suggest(const char *key)
{
	static const char *keys[sizeof job_fields / sizeof job_fields[0]];
	if (keys[0] == NULL)
		for (size_t i = 0; i < job_field_count; i++)
			keys[i] = job_fields[i].key;
	return words_nearest(key, keys, job_field_count);
}

bool job_field_applies(const struct job_field *f, enum job_type t)
{
	return (f->types & JOB_TYPE_BIT(t)) != 0;
}

static int set_list_json(struct strv *list, const char *value, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *arr = json_loads(value, JSON_DECODE_ANY, &jerr);
	if (arr == NULL || !json_is_array(arr)) {
		snprintf(err, errlen, "not a JSON array of strings: %s",
		         arr ? "not an array" : jerr.text);
		json_decref(arr);
		return -1;
	}
	struct strv items = STRV_INIT;
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		if (!json_is_string(item)) {
			snprintf(err, errlen, "item %zu of the JSON array is not a string", i);
			strv_free(&items);
			json_decref(arr);
			return -1;
		}
		strv_push(&items, json_string_value(item));
	}
	json_decref(arr);
	strv_free(list);
	*list = items;
	return 0;
}

int job_field_set(struct job *j, const struct job_field *f, const char *value, char *err,
                  size_t errlen)
{
	char derr[128];
	long n;
	char *end;

	switch (f->kind) {
	case JOB_F_STRING:
		free(*FIELD(j, f, char *));
		*FIELD(j, f, char *) = xstrdup(value);
		return 0;
	case JOB_F_BOOL:
		if (job_bool_parse(value, FIELD(j, f, bool)) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not a boolean (true or false)", f->key, value);
		return -1;
	case JOB_F_OPT_BOOL: {
		bool b;
		if (job_bool_parse(value, &b) == 0) {
			*FIELD(j, f, int) = b;
			return 0;
		}
		snprintf(err, errlen, "%s: \"%s\" is not a boolean (true or false)", f->key, value);
		return -1;
	}
	case JOB_F_INT:
		n = strtol(value, &end, 10);
		if (*value != '\0' && *end == '\0' && n >= 0 && n <= 1000000000) {
			*FIELD(j, f, int) = (int)n;
			return 0;
		}
		snprintf(err, errlen, "%s: \"%s\" is not a whole number >= 0", f->key, value);
		return -1;
	case JOB_F_DURATION:
	case JOB_F_OPT_DURATION: {
		int64_t ns;
		if (duration_parse(value, &ns, derr, sizeof derr) < 0) {
			snprintf(err, errlen, "%s: %s", f->key, derr);
			return -1;
		}
		if (ns < 0) {
			snprintf(err, errlen, "%s: \"%s\" is negative", f->key, value);
			return -1;
		}
		if (duration_check(ns, derr, sizeof derr) < 0) {
			snprintf(err, errlen, "%s: \"%s\" is %s", f->key, value, derr);
			return -1;
		}
		*FIELD(j, f, int64_t) = ns;
		return 0;
	}
	case JOB_F_MILLIS: {
		long long ms = strtoll(value, &end, 10);
		/* ms * 1e6 must fit in int64; duration_check bounds it further. */
		if (*value == '\0' || *end != '\0' || ms < 0 || ms > INT64_MAX / 1000000) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number of milliseconds",
			         f->key, value);
			return -1;
		}
		if (duration_check(ms * 1000000, derr, sizeof derr) < 0) {
			snprintf(err, errlen, "%s: \"%s\" is %s", f->key, value, derr);
			return -1;
		}
		*FIELD(j, f, int64_t) = ms * 1000000;
		return 0;
	}
	case JOB_F_LIST:
		strv_push(FIELD(j, f, struct strv), value);
		return 0;
	case JOB_F_CATCH_UP:
		if (job_catch_up_parse(value, FIELD(j, f, enum job_catch_up)) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not one of skip, once, default", f->key,
		         value);
		return -1;
	case JOB_F_PULL:
		if (job_pull_parse(value, FIELD(j, f, enum job_pull)) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not one of always, if-not-present, never",
		         f->key, value);
		return -1;
	}
	return -1;
}

int job_field_set_label(struct job *j, const struct job_field *f, const char *value, char *err,
                        size_t errlen)
{
	char derr[128];
	if (f->kind != JOB_F_LIST)
		return job_field_set(j, f, value, err, errlen);
	if (value[0] != '[') {
		strv_free(FIELD(j, f, struct strv));
		strv_push(FIELD(j, f, struct strv), value);
		return 0;
	}
	if (set_list_json(FIELD(j, f, struct strv), value, derr, sizeof derr) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", f->key, derr);
	return -1;
}

void job_field_clear(struct job *j, const struct job_field *f)
{
	if (f->kind == JOB_F_LIST)
		strv_free(FIELD(j, f, struct strv));
}

int job_name_valid(const char *name, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > 200) {
		snprintf(err, errlen, "job name must be 1 to 200 bytes long");
		return -1;
	}
	if (name[0] == ' ' || name[len - 1] == ' ') {
		snprintf(err, errlen, "job name \"%s\" starts or ends with a space", name);
		return -1;
	}
	/* Names go into URLs, JSON and logs: text only. The message shows the
	 * name with its bad bytes as '?', since they may be anything. */
	char shown[201];
	bool utf8 = true;
	for (size_t i = 0; i < len;) {
		size_t ok = lines_utf8_valid_prefix(name + i, len - i);
		for (size_t k = 0; k < ok; k++, i++)
			shown[i] = (unsigned char)name[i] < 0x20 ? '?' : name[i];
		if (i < len) {
			shown[i++] = '?';
			utf8 = false;
		}
	}
	shown[len] = '\0';
	if (!utf8) {
		snprintf(err, errlen, "job name \"%s\" is not valid UTF-8", shown);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\') {
			snprintf(err, errlen,
			         "job name \"%s\" has a character that is not allowed (control "
			         "characters, '/' and '\\' are not)",
			         shown);
			return -1;
		}
	return 0;
}

static int validate_notify(const struct job *j, char *err, size_t errlen);
static int validate_links(const struct job *j, char *err, size_t errlen);

static bool empty(const char *s)
{
	return s == NULL || *s == '\0';
}

int job_validate(const struct job *j, const char **code, char *err, size_t errlen)
{
	char cerr[256];
	struct cron *c = NULL;

	*code = "VALIDATION_ERROR";
	if (job_name_valid(j->name, err, errlen) < 0)
		return -1;
	if (empty(j->schedule)) {
		*code = "INVALID_SCHEDULE";
		snprintf(err, errlen, "job \"%s\": schedule is empty", j->name);
		return -1;
	}
	/* Validity does not depend on the zone; only the run times do. */
	if (cron_parse(j->schedule, tz_utc(), &c, cerr, sizeof cerr) < 0 ||
	    cron_check_range(c, cerr, sizeof cerr) < 0) {
		cron_free(c);
		*code = "INVALID_SCHEDULE";
		snprintf(err, errlen, "job \"%s\": bad schedule \"%s\": %s", j->name, j->schedule,
		         cerr);
		return -1;
	}
	cron_free(c);
	/* Durations given as integers (the API's nanoseconds) pass here too. */
	for (size_t i = 0; i < job_field_count; i++) {
		const struct job_field *f = &job_fields[i];
		if (f->kind != JOB_F_DURATION && f->kind != JOB_F_OPT_DURATION)
			continue;
		int64_t ns = *CFIELD(j, f, int64_t);
		if (f->kind == JOB_F_OPT_DURATION && ns == -1)
			continue;
		if (ns < 0 || duration_check(ns, cerr, sizeof cerr) < 0) {
			snprintf(err, errlen, "job \"%s\": %s: %lld ns is %s", j->name, f->key,
			         (long long)ns, ns < 0 ? "negative" : cerr);
			return -1;
		}
	}

	const char *missing = NULL;
	switch (j->type) {
	case JOB_EXEC:
		missing = empty(j->container) ? "container" : empty(j->command) ? "command" : NULL;
		break;
	case JOB_RUN:
		missing = empty(j->image) && empty(j->container) ? "image (or container)" : NULL;
		break;
	case JOB_LOCAL:
		missing = empty(j->command) ? "command" : NULL;
		break;
	case JOB_SERVICE:
		missing = empty(j->image) ? "image" : NULL;
		break;
	}
	if (missing) {
		snprintf(err, errlen, "job \"%s\": %s %s job needs %s", j->name,
		         j->type == JOB_EXEC ? "an" : "a", job_type_name(j->type), missing);
		return -1;
	}
	/* The runners split these when the job runs; a job whose command
	 * cannot be split (an unterminated quote) would only ever fail. */
	const char *const words[][2] = {{"command", j->command}, {"entrypoint", j->entrypoint}};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		struct strv argv = STRV_INIT;
		char why[128];
		int rc = empty(words[i][1]) ? 0 : argv_split(words[i][1], &argv, why, sizeof why);
		strv_free(&argv);
		if (rc < 0) {
			snprintf(err, errlen, "job \"%s\": bad %s: %s", j->name, words[i][0], why);
			return -1;
		}
	}
	if (validate_links(j, err, errlen) < 0)
		return -1;
	return validate_notify(j, err, errlen);
}

const char *job_link_key(enum job_link l)
{
	return link_keys[l];
}

const struct strv *job_links(const struct job *j, enum job_link l)
{
	switch (l) {
	case JOB_LINK_DEPENDS_ON:
		return &j->depends_on;
	case JOB_LINK_ON_SUCCESS:
		return &j->on_success;
	case JOB_LINK_ON_FAILURE:
		break;
	}
	return &j->on_failure;
}

/* validate_links checks the names a job links to; that they name jobs
 * that exist is checked where every job is known (config, scheduler). */
static int validate_links(const struct job *j, char *err, size_t errlen)
{
	char why[256];
	if (j->max_retries > JOB_MAX_RETRIES) {
		snprintf(err, errlen, "job \"%s\": max-retries: %d is more than %d", j->name,
		         j->max_retries, JOB_MAX_RETRIES);
		return -1;
	}
	for (int l = 0; l < JOB_LINK_COUNT; l++) {
		const struct strv *v = job_links(j, (enum job_link)l);
		for (size_t i = 0; i < v->n; i++) {
			if (job_name_valid(v->v[i], why, sizeof why) < 0) {
				snprintf(err, errlen, "job \"%s\": %s: %s", j->name, link_keys[l],
				         why);
				return -1;
			}
			if (strcmp(v->v[i], j->name) == 0) {
				snprintf(err, errlen, "job \"%s\": %s: names the job itself",
				         j->name, link_keys[l]);
				return -1;
			}
		}
	}
	return 0;
}

int job_mode_parse(const char *s, unsigned *mode)
{
	char *end;
	while (*s == ' ')
		s++;
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		s += 2;
	if (*s < '0' || *s > '7')
		return -1;
	unsigned long v = strtoul(s, &end, 8);
	while (*end == ' ')
		end++;
	if (*end != '\0' || v > 0777)
		return -1;
	*mode = (unsigned)v;
	return 0;
}

int job_tls_policy_parse(const char *s, enum job_tls_policy *out)
{
	static const char *names[] = {"mandatory", "opportunistic", "none", "implicit"};
	int i = lookup(s, names, 4);
	if (*s == '\0')
		i = 0;
	if (i < 0)
		return -1;
	*out = (enum job_tls_policy)i;
	return 0;
}

int job_notify_on_parse(const struct strv *items, unsigned *mask, char *err, size_t errlen)
{
	*mask = 0;
	for (size_t i = 0; i < items->n; i++) {
		char *copy = xstrdup(items->v[i]), *save = NULL;
		for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
			enum job_status st;
			if (job_status_parse(w, &st) < 0 ||
			    (st != JOB_STATUS_INTERRUPTED && st != JOB_STATUS_MISSED &&
			     st != JOB_STATUS_EXPIRED)) {
				snprintf(
				    err, errlen,
				    "notify-on: \"%s\" is not one of interrupted, missed, expired",
				    w);
				free(copy);
				return -1;
			}
			*mask |= 1u << st;
		}
		free(copy);
	}
	return 0;
}

/* validate_notify checks the words of the notification keys, so a typo is
 * an error where the job is defined, not a failed delivery later. */
static int validate_notify(const struct job *j, char *err, size_t errlen)
{
	enum job_tls_policy policy;
	unsigned mode;
	char why[160];
	if (j->smtp_tls_policy && job_tls_policy_parse(j->smtp_tls_policy, &policy) < 0) {
		snprintf(err, errlen,
		         "job \"%s\": smtp-tls-policy: \"%s\" is not one of mandatory, "
		         "opportunistic, none, implicit",
		         j->name, j->smtp_tls_policy);
		return -1;
	}
	if (j->smtp_port > 65535) {
		snprintf(err, errlen, "job \"%s\": smtp-port: %d is not a port (1-65535)", j->name,
		         j->smtp_port);
		return -1;
	}
	const char *modes[] = {j->save_mode, j->save_folder_mode};
	const char *mode_keys[] = {"save-mode", "save-folder-mode"};
	for (int i = 0; i < 2; i++)
		if (modes[i] && *modes[i] && job_mode_parse(modes[i], &mode) < 0) {
			snprintf(err, errlen,
			         "job \"%s\": %s: \"%s\" is not an octal file mode from 0000 to "
			         "0777",
			         j->name, mode_keys[i], modes[i]);
			return -1;
		}
	if (job_notify_on_parse(&j->notify_on, &mode, why, sizeof why) < 0) {
		snprintf(err, errlen, "job \"%s\": %s", j->name, why);
		return -1;
	}
	return 0;
}
