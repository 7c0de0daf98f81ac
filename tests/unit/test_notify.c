/* Notifications: payloads byte for byte against Go's own rendering
 * (tests/notify-oracle, outputs in tests/data/notify), the template engine,
 * which notices an outcome owes, the text forms and the save channel's
 * files. Run from the repository root, where tests/data is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "notify/notify_int.h"
#include "util/xalloc.h"
#include "support.h"

#define SEC 1000000000LL
/* 2026-05-15T12:00:00.5Z and 12:00:03Z, as the oracle's cases. */
#define START (1778846400LL * SEC + 500000000LL)
#define NOW   (1778846403LL * SEC)

static void utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(notify, .init = utc);

/* oracle_case fills d as tests/notify-oracle/main.go's case of that name. */
static void oracle_case(const char *name, struct notify_data *d)
{
	static char stderr_text[4100 * 2 + 1];
	memset(d, 0, sizeof *d);
	d->job_name = "backup";
	d->job_type = "exec";
	d->command = "pg_dump -U postgres mydb > /backup/db.sql";
	d->schedule = "@daily";
	d->container = "postgres";
	d->execution_id = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
	d->idempotency_key = "0b1c2d3e-4f50-4617-8899-aabbccddeeff:webhook:x";
	d->event = (char *)name;
	d->start_ns = START;
	d->duration_ns = 1234567890;
	d->end_ns = START + d->duration_ns;
	d->out = "dumped 12 tables\nsize: 3 MiB \xc3\xbc\n";
	d->out_len = strlen(d->out);
	d->err = "";
	d->error = "";
	d->hostname = "testhost";
	d->now_ns = NOW;
	d->version = "9.9.9";
	d->preset_id = "T000/B000";
	d->preset_secret = "s3cr3t";
	d->preset_url = "https://example.com/hook";
	d->preset_link = "";
	d->preset_link_text = "View Details";
	d->preset_device = "iphone,desk top";
	if (strcmp(name, "failed") == 0) {
		d->job_name = "nightly \"db\" <dump> & co";
		d->failed = true;
		d->has_exit_code = true;
		d->exit_code = 2;
		d->error = "exit status 2: \"disk full\"\n\tat /backup \x1b[31m<red>";
		for (int i = 0; i < 4100; i++)
			memcpy(stderr_text + 2 * i, "\xc3\xa9", 2);
		d->err = stderr_text;
		d->err_len = 8200;
		d->preset_link = "https://logs.example.com/?q=a&b=c";
		d->preset_link_text = "Logs";
	} else if (strcmp(name, "skipped") == 0) {
		d->skipped = true;
		d->duration_ns = 0;
		d->end_ns = START;
	}
}

static char *golden(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "tests/data/notify/%s", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: run the tests from the repository root", path);
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return b.data ? buf_steal(&b) : strdup("");
}

static void expect_golden(const char *name, const struct buf *got)
{
	char *want = golden(name);
	cr_expect_str_eq(got->data ? got->data : "", want, "%s:\n--- got\n%s\n--- want\n%s", name,
	                 got->data, want);
	free(want);
}

Test(notify, presets_render_as_go_does)
{
	const char *cases[] = {"success", "failed", "skipped"};
	char err[512], name[128];
	for (int c = 0; c < 3; c++) {
		struct notify_data d;
		oracle_case(cases[c], &d);
		for (int i = 0; config_preset_names[i]; i++) {
			struct config_preset p;
			cr_assert_eq(
			    config_preset_bundled(config_preset_names[i], &p, err, sizeof err), 0,
			    "%s", err);
			struct tmpl *t = tmpl_parse(p.name, p.body, err, sizeof err);
			cr_assert_not_null(t, "%s", err);
			struct buf out = BUF_INIT;
			cr_assert_eq(tmpl_render(t, &d, &out, err, sizeof err), 0, "%s", err);
			snprintf(name, sizeof name, "%s.%s", config_preset_names[i], cases[c]);
			expect_golden(name, &out);
			buf_free(&out);
			tmpl_free(t);
			config_preset_fini(&p);
		}
	}
}

Test(notify, slack_and_mail_as_ofelia_writes_them)
{
	const char *cases[] = {"success", "failed", "skipped"};
	char name[128];
	for (int c = 0; c < 3; c++) {
		struct notify_data d;
		oracle_case(cases[c], &d);
		struct buf json = BUF_INIT, form = BUF_INIT, subject = BUF_INIT, html = BUF_INIT;
		notify_slack_message(&d, &json);
		buf_puts(&form, "payload=");
		notify_query_escape(&form, json.data, json.len);
		snprintf(name, sizeof name, "slack-legacy.%s", cases[c]);
		expect_golden(name, &form);
		notify_mail_subject(&d, NULL, &subject);
		snprintf(name, sizeof name, "mail-subject.%s", cases[c]);
		expect_golden(name, &subject);
		notify_mail_html(&d, &html);
		snprintf(name, sizeof name, "mail-body.%s", cases[c]);
		expect_golden(name, &html);
		buf_free(&json);
		buf_free(&form);
		buf_free(&subject);
		buf_free(&html);
	}
}

/* render parses and renders text on the success case; NULL and err set
 * when either step fails. The caller frees the result. */
static char *render(const char *text, char *err, size_t errlen)
{
	struct notify_data d;
	oracle_case("success", &d);
	struct tmpl *t = tmpl_parse("t", text, err, errlen);
	if (t == NULL)
		return NULL;
	struct buf out = BUF_INIT;
	int rc = tmpl_render(t, &d, &out, err, errlen);
	tmpl_free(t);
	if (rc < 0) {
		buf_free(&out);
		return NULL;
	}
	return out.data ? buf_steal(&out) : strdup("");
}

static void expect_render(const char *text, const char *want)
{
	char err[256] = "";
	char *got = render(text, err, sizeof err);
	cr_assert_not_null(got, "%s: %s", text, err);
	cr_expect_str_eq(got, want, "template %s", text);
	free(got);
}

static void expect_error(const char *text, const char *want)
{
	char err[256] = "";
	char *got = render(text, err, sizeof err);
	cr_expect_null(got, "%s rendered", text);
	cr_expect(strstr(err, want), "%s: error \"%s\" lacks \"%s\"", text, err, want);
	free(got);
}

Test(notify, template_language)
{
	expect_render("a {{- \"b\" -}} \n c", "abc");
	expect_render("{{if .Execution.Failed}}x{{else if .Execution.Skipped}}y{{else}}z{{end}}",
	              "z");
	expect_render("{{if not .Execution.Failed}}ok{{end}}", "ok");
	expect_render("{{.Job.Name | upper}} {{lower \"AbC\"}} {{title \"hello wide world\"}}",
	              "BACKUP abc Hello Wide World");
	expect_render("{{truncate 3 \"h\xc3\xa9llo\"}}|{{truncate 9 \"short\"}}",
	              "h\xc3\xa9l...|short");
	expect_render("{{default \"none\" .Preset.Link}} {{default \"x\" .Job.Name}}",
	              "none backup");
	expect_render("{{eq .Job.Type \"exec\"}} {{ne 1 1}} {{and 1 0}} {{or 0 \"\" \"z\"}}",
	              "true false 0 z");
	expect_render("{{unixTime .Host.Timestamp}} {{isoTime .Execution.StartTime}}",
	              "1778846403 2026-05-15T12:00:00Z");
	expect_render("{{formatDuration .Execution.Duration}} {{.Execution.Duration.Nanoseconds}}",
	              "1.23456789s 1234567890");
	expect_render("{{urlquery .Preset.Device}} {{json \"a\\\"b\\n\"}} {{jsonRaw .Job.Name}}",
	              "iphone%2Cdesk+top a\\\"b\\n \"backup\"");
	expect_render("{{/* a comment */}}x{{.Execution.Status}} {{status .Execution}}",
	              "xsuccessful successful");
	expect_render("{{.Job.GetName}} {{.Execution.ExitCode}} {{len .Job.Name}}", "backup 0 6");
	expect_render("{{print 1 2 \"a\" \"b\"}}", "1 2ab");
}

Test(notify, template_errors_name_the_problem)
{
	expect_error("{{.Job.Nmae}}", "can't evaluate field .Job.Nmae");
	expect_error("{{nope .Job.Name}}", "function \"nope\" not defined");
	expect_error("{{if .Execution.Failed}}x", "{{if}} without {{end}}");
	expect_error("x{{end}}", "{{end}} outside {{if}}");
	expect_error("{{range .Job}}{{end}}", "not supported");
	expect_error("{{.Job.Name", "unclosed action");
	expect_error("{{truncate \"x\" 3}}", "truncate wants a number first");
	expect_error("{{\"unclosed}}", "unclosed action");
	expect_error("{{\"a\\q\"}}", "unknown escape");
	expect_error("{{(json .Job.Name}}", "unclosed parenthesis");
}

/* ---- planning ---- */

static struct config *load(const char *text)
{
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	struct config *c = config_load_string(text, strlen(text), "ofelia.ini", CONFIG_INI, &diag);
	if (c == NULL)
		support_dump(&diag);
	config_diag_free(&diag);
	cr_assert_not_null(c);
	return c;
}

static size_t plan(const struct config *c, const char *job, const char *event,
                   struct notify_target *t)
{
	char err[256];
	struct notify_config *nc = notify_config_new(c, NULL, err, sizeof err);
	cr_assert_not_null(nc, "%s", err);
	const struct job *def = NULL;
	for (size_t i = 0; i < c->njobs; i++)
		if (strcmp(c->jobs[i]->name, job) == 0)
			def = c->jobs[i];
	cr_assert_not_null(def);
	size_t n = notify_plan(nc, def, event, t, NOTIFY_TARGETS_MAX);
	notify_config_free(nc);
	return n;
}

/* channels lists the planned notices as "slack mail webhook:x". */
static char *channels(const struct notify_target *t, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s%s%s", i ? " " : "", notify_channel_name(t[i].channel),
		           *t[i].target ? ":" : "", t[i].target);
	return b.data ? buf_steal(&b) : strdup("");
}

static void expect_plan(const struct config *c, const char *job, const char *event,
                        const char *want)
{
	struct notify_target t[NOTIFY_TARGETS_MAX];
	char *got = channels(t, plan(c, job, event, t));
	cr_expect_str_eq(got, want, "job %s, event %s", job, event);
	free(got);
}

Test(notify, plan_follows_ofelias_rules)
{
	struct config *c = load("[global]\n"
	                        "slack-webhook = https://hooks.example.com/x\n"
	                        "slack-only-on-error = true\n"
	                        "smtp-host = 127.0.0.1\n"
	                        "email-to = ops@example.com\n"
	                        "save-folder = /tmp/x\n"
	                        "webhook-webhooks = all\n"
	                        "notification-cooldown = 1h\n"
	                        "[webhook \"all\"]\n"
	                        "url = http://127.0.0.1:9/all\n"
	                        "trigger = always\n"
	                        "[webhook \"ok\"]\n"
	                        "url = http://127.0.0.1:9/ok\n"
	                        "trigger = success\n"
	                        "[webhook \"skips\"]\n"
	                        "url = http://127.0.0.1:9/s\n"
	                        "trigger = skipped\n"
	                        "[job-local \"plain\"]\n"
	                        "schedule = @daily\n"
	                        "command = true\n"
	                        "[job-local \"own\"]\n"
	                        "schedule = @daily\n"
	                        "command = true\n"
	                        "slack-only-on-error = false\n"
	                        "mail-only-on-error = true\n"
	                        "save-folder = \n"
	                        "webhooks = ok, skips, nowhere\n"
	                        "notify-on = missed, interrupted\n");
	expect_plan(c, "plain", "success", "mail save webhook:all");
	expect_plan(c, "plain", "failed", "slack mail save webhook:all");
	expect_plan(c, "plain", "skipped", "mail save webhook:all");
	/* notify-on is off by default: nothing for these */
	expect_plan(c, "plain", "missed", "");
	expect_plan(c, "plain", "interrupted", "");
	/* a job's own keys win, the rest is global; webhooks are a union */
	expect_plan(c, "own", "success", "slack save webhook:ok webhook:all");
	expect_plan(c, "own", "skipped", "slack save webhook:skips webhook:all");
	expect_plan(c, "own", "failed", "slack mail save webhook:nowhere webhook:all");
	expect_plan(c, "own", "missed", "slack mail save webhook:nowhere webhook:all");
	expect_plan(c, "own", "expired", "");
	expect_plan(c, "own", NOTIFY_EVENT_NO_SUCCESS,
	            "slack mail save webhook:nowhere webhook:all");

	struct notify_target t[NOTIFY_TARGETS_MAX];
	size_t n = plan(c, "plain", "failed", t);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(t[i].cooldown_ns, t[i].channel == NOTIFY_SAVE ? 0 : 3600 * SEC);
	n = plan(c, "plain", "success", t);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(t[i].cooldown_ns, 0, "successes are never suppressed");
	config_free(c);
}

Test(notify, retry_policy_of_a_webhook)
{
	struct config *c = load("[global]\n"
	                        "notification-max-attempts = 7\n"
	                        "notification-retry-delay = 2s\n"
	                        "[webhook \"w\"]\n"
	                        "url = http://127.0.0.1:9/\n"
	                        "retry-count = 2\n"
	                        "retry-delay = 1s\n");
	char err[256];
	struct notify_config *nc = notify_config_new(c, NULL, err, sizeof err);
	struct notify_policy p;
	notify_policy_of(nc, NOTIFY_SLACK, "", &p);
	cr_expect_eq(p.max_attempts, 7);
	cr_expect_eq(p.first_delay_ns, 2 * SEC);
	cr_expect_eq(p.max_age_ns, 24 * 3600 * SEC);
	notify_policy_of(nc, NOTIFY_WEBHOOK, "w", &p);
	cr_expect_eq(p.max_attempts, 3, "retry-count 2 is three attempts");
	cr_expect_eq(p.first_delay_ns, SEC);
	notify_config_free(nc);
	config_free(c);
}

Test(notify, config_errors)
{
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	const char *bad[][2] = {
	    {"[webhook \"w\"]\npreset = discord\n", "webhook \"w\": preset discord needs \"id\""},
	    {"[webhook \"w\"]\npreset = gh:me/x/p.yaml\n", "ofelia does not fetch presets"},
	    {"[webhook \"w\"]\nurl = http://x/\ntrigger = sometimes\n",
	     "trigger \"sometimes\" is not always, error, success or skipped"},
	    {"[global]\nwebhook-default-preset =\n[webhook \"w\"]\nurl = http://x/\n",
	     "webhook-default-preset is set to none"},
	    {"[webhook \"w\"]\nurl = ftp://x/\n", "url must be http:// or https://"},
	    {"[global]\nsave-mode = 0999\n", "is not an octal file mode"},
	    {"[global]\nnotify-on = success\n", "is not one of interrupted, missed, expired"},
	    {"[webhook \"w\"]\nurl = http://x/\n[webhook \"w\"]\nurl = http://y/\n",
	     "defined twice"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config *c = config_load_string(bad[i][0], strlen(bad[i][0]), "ofelia.ini",
		                                      CONFIG_INI, &diag);
		cr_expect_null(c, "%s loaded", bad[i][0]);
		bool found = false;
		for (size_t k = 0; k < diag.errors.n; k++)
			found = found || strstr(diag.errors.v[k], bad[i][1]);
		cr_expect(found, "%s: no error with \"%s\"", bad[i][0], bad[i][1]);
		config_free(c);
		config_diag_free(&diag);
	}
	/* A template that does not parse fails when the settings compile. */
	const char *text = "[webhook \"w\"]\nurl = http://x/\nbody = {{.Job.Nope}}\n";
	struct config *c = config_load_string(text, strlen(text), "ofelia.ini", CONFIG_INI, &diag);
	cr_assert_not_null(c);
	char err[256];
	cr_expect_eq(notify_check(c, err, sizeof err), -1);
	cr_expect(strstr(err, "can't evaluate field .Job.Nope"), "%s", err);
	config_free(c);
	config_diag_free(&diag);
}

/* ---- text forms ---- */

Test(notify, go_text_forms)
{
	struct buf b = BUF_INIT;
	notify_go_quote(&b, "a\"b\\c\n\x01\xc3\xa9\xff");
	cr_expect_str_eq(b.data, "\"a\\\"b\\\\c\\n\\x01\xc3\xa9\\xff\"");
	buf_reset(&b);
	notify_json_string(&b, "<a&b>\"\x01\xe2\x80\xa8\xff", 11);
	cr_expect_str_eq(b.data, "\"\\u003ca\\u0026b\\u003e\\\"\\u0001\\u2028\\ufffd\"");
	buf_reset(&b);
	notify_query_escape(&b, "a b&c=d/\xc3\xa9~", 11);
	cr_expect_str_eq(b.data, "a+b%26c%3Dd%2F%C3%A9~");
	buf_reset(&b);
	notify_html_escape(&b, "<a href=\"x\">'&+</a>");
	cr_expect_str_eq(b.data, "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#43;&lt;/a&gt;");
	buf_free(&b);

	char *m = notify_mask_url("https://user:pw@hooks.slack.com/services/T/B/secret?x=1");
	cr_expect_str_eq(m, "https://hooks.slack.com/...");
	free(m);
	char out[96];
	notify_time_go(START, out);
	cr_expect_str_eq(out, "2026-05-15 12:00:00.5 +0000 UTC");
}

Test(notify, allowed_hosts)
{
	struct strv allowed = STRV_INIT;
	char err[128];
	strv_push(&allowed, "hooks.slack.com");
	strv_push(&allowed, "*.example.com");
	cr_expect(notify_host_allowed(&allowed, "https://hooks.slack.com/services/x", err, 128));
	cr_expect(notify_host_allowed(&allowed, "https://a.b.example.com:8443/x", err, 128));
	cr_expect(notify_host_allowed(&allowed, "http://u:p@HOOKS.slack.com/", err, 128));
	cr_expect(!notify_host_allowed(&allowed, "https://example.com/x", err, 128));
	cr_expect_str_eq(err, "host \"example.com\" is not in webhook-allowed-hosts");
	cr_expect(!notify_host_allowed(&allowed, "https://evil.com/?h=hooks.slack.com", err, 128));
	cr_expect(!notify_host_allowed(&allowed, "http://[::1]:80/", err, 128));
	strv_push(&allowed, "*");
	cr_expect(notify_host_allowed(&allowed, "http://[::1]:80/", err, 128));
	strv_free(&allowed);
}

Test(notify, secrets_are_scrubbed_from_errors)
{
	struct notify_msg m = {0};
	strv_push(&m.secrets, "s3cr3t-token");
	char text[128] = "HTTP 401: bad token s3cr3t-token at /hook/s3cr3t-token";
	notify_scrub(&m, text, sizeof text);
	cr_expect_str_eq(text, "HTTP 401: bad token ******** at /hook/********");
	strv_free(&m.secrets);
}

/* ---- mail and save ---- */

Test(notify, mail_message_has_ofelias_parts)
{
	struct notify_msg m = {0};
	oracle_case("failed", &m.d);
	m.mail_from = "ofelia@testhost";
	strv_push(&m.mail_to, "a@example.com");
	strv_push(&m.mail_to, "b@example.com");
	struct buf b = BUF_INIT;
	notify_mail_message(&m, NOW, &b);
	const char *want[] = {
	    "Date: Fri, 15 May 2026 12:00:03 +0000\r\n",
	    "Message-ID: <0b1c2d3e-4f50-4617-8899-aabbccddeeff-webhook-x@ofelia>\r\n",
	    "From: ofelia@testhost\r\n",
	    "To: a@example.com, b@example.com\r\n",
	    "Subject: [Execution failed] Job nightly \"db\" <dump> & co finished in "
	    "1.23456789s\r\n",
	    "Content-Type: text/html; charset=UTF-8\r\n",
	    "filename=\"nightly \"db\" <dump> & "
	    "co_0b1c2d3e-4f50-4617-8899-aabbccddeeff.stdout.log\"",
	    "_0b1c2d3e-4f50-4617-8899-aabbccddeeff.stderr.log\"",
	    "_0b1c2d3e-4f50-4617-8899-aabbccddeeff.stderr.json\"",
	    "Job <b>nightly &#34;db&#34; &lt;dump&gt; &amp; co</b>",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(b.data, want[i]), "mail lacks %s:\n%s", want[i], b.data);
	buf_free(&b);
	/* no stderr: no stderr attachment (as netresearch) */
	oracle_case("success", &m.d);
	notify_mail_message(&m, NOW, &b);
	cr_expect(strstr(b.data, ".stdout.log\""));
	cr_expect_null(strstr(b.data, ".stderr.log\""));
	cr_expect(strstr(b.data, ".stderr.json\""));
	buf_free(&b);
	strv_free(&m.mail_to);
}

Test(notify, save_writes_three_files_whole)
{
	char dir[64], err[256];
	snprintf(dir, sizeof dir, "/tmp/ofelia-save-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct notify_msg m = {0};
	oracle_case("failed", &m.d);
	m.d.job_name = "a/b..c";
	m.channel = NOTIFY_SAVE;
	char *folder = xasprintf("%s/deep/er", dir);
	m.save_folder = folder;
	m.save_mode = 0640;
	m.save_folder_mode = 0750;
	atomic_bool stop = false;
	struct notify_attempt a = {0};
	cr_assert_eq(notify_save_ops.deliver(&m, &stop, &a), 0, "%s", a.error);
	const char *names[] = {".stdout.log", ".stderr.log", ".json"};
	for (int i = 0; i < 3; i++) {
		char *path = xasprintf("%s/20260515_120000_a_b_c%s", folder, names[i]);
		struct stat st;
		cr_expect_eq(stat(path, &st), 0, "%s missing", path);
		cr_expect_eq(st.st_mode & 0777, 0640);
		free(path);
	}
	struct stat st;
	cr_expect_eq(stat(folder, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0750);
	char *json = xasprintf("%s/20260515_120000_a_b_c.json", folder);
	FILE *f = fopen(json, "r");
	char text[1024] = "";
	cr_assert_not_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	cr_expect(strstr(text, "\"Execution\": {\n    \"ID\": \"0b1c2d3e"), "%s", text);
	cr_expect(strstr(text, "\"Failed\": true"), "%s", text);
	cr_expect(strstr(text, "\"Job\": {\n    \"Schedule\": \"@daily\""), "%s", text);
	free(json);
	(void)err;
	char *cmd = xasprintf("rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	free(cmd);
	free(folder);
}
