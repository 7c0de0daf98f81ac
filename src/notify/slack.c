/* The Slack channel: Ofelia's slack-webhook message, posted as its form
 * field "payload" holding the JSON Go's encoding/json writes for
 *
 *   {"text":"Job *\"NAME\"* finished in *DURATION*, command `COMMAND`",
 *    "username":"Ofelia","attachments":[{"color":"#7CD197",
 *    "title":"Execution successful","text":""}],"icon_url":"..."}
 *
 * with "Execution failed" (#F35A00, the error as text) and "Execution
 * skipped" (#FFA500). The events Ofelia has not (interrupted, missed,
 * expired, no-success) use the failure colour and name themselves. */
#include <stdio.h>
#include <string.h>

#include "notify/notify_int.h"
#include "util/duration.h"

#define AVATAR "https://raw.githubusercontent.com/netresearch/ofelia/master/static/avatar.png"

static const char *title(const struct notify_data *d)
{
	static const struct {
		const char *event, *title;
	} titles[] = {
	    {"success", "Execution successful"},
	    {"skipped", "Execution skipped"},
	    {"interrupted", "Execution interrupted"},
	    {"missed", "Slot missed"},
	    {"expired", "Slot expired"},
	    {NOTIFY_EVENT_NO_SUCCESS, "No success"},
	};
	for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
		if (strcmp(d->event, titles[i].event) == 0)
			return titles[i].title;
	return "Execution failed";
}

void notify_slack_message(const struct notify_data *d, struct buf *out)
{
	struct buf text = BUF_INIT;
	char dur[DURATION_TEXT_MAX];
	duration_format(d->duration_ns, dur);
	buf_puts(&text, "Job *");
	notify_go_quote(&text, d->job_name);
	if (d->start_ns)
		buf_printf(&text, "* finished in *%s*, command `%s`", dur, d->command);
	else
		buf_printf(&text, "* did not run (%s), command `%s`", d->event, d->command);
	const char *color = d->skipped ? "#FFA500" : d->failed ? "#F35A00" : "#7CD197";
	const char *atext = d->failed ? d->error : "";

	buf_puts(out, "{\"text\":");
	notify_json_string(out, text.data, text.len);
	buf_puts(out, ",\"username\":\"Ofelia\",\"attachments\":[{\"color\":");
	notify_json_string(out, color, strlen(color));
	buf_puts(out, ",\"title\":");
	notify_json_string(out, title(d), strlen(title(d)));
	buf_puts(out, ",\"text\":");
	notify_json_string(out, atext, strlen(atext));
	buf_puts(out, "}],\"icon_url\":");
	notify_json_string(out, AVATAR, strlen(AVATAR));
	buf_putc(out, '}');
	buf_free(&text);
}

static int deliver(const struct notify_msg *m, atomic_bool *abort, struct notify_attempt *a)
{
	struct buf json = BUF_INIT, form = BUF_INIT;
	struct strv headers = STRV_INIT;
	notify_slack_message(&m->d, &json);
	buf_puts(&form, "payload=");
	notify_query_escape(&form, json.data, json.len);
	strv_push(&headers, "Content-Type: application/x-www-form-urlencoded");
	int rc = notify_http_send(m, abort, "POST", m->slack_url, &headers, form.data, form.len, a);
	strv_free(&headers);
	buf_free(&json);
	buf_free(&form);
	return rc;
}

const struct notify_ops notify_slack_ops = {"slack", deliver};
