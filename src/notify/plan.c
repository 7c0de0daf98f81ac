/* Which notices an outcome owes, and the message of each.
 *
 * Settings follow netresearch's Ofelia: every key a job sets wins, each
 * unset one is taken from the global section (mergeNotificationDefaults),
 * so a job may set only mail-only-on-error and keep the global SMTP server.
 * Webhooks are the union of the job's `webhooks` and the global
 * `webhook-webhooks`. Beyond Ofelia, notify-on adds interrupted, missed and
 * expired to the events reported, and alert-if-no-success-within reports a
 * job that has not succeeded for that long (event "no-success"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"
#include "notify/notify_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define SEC                 1000000000LL
#define SLACK_TIMEOUT_NS    (5 * SEC) /* Ofelia's Slack client */
#define MAIL_TIMEOUT_NS     (30 * SEC)
#define SAVE_TIMEOUT_NS     (30 * SEC)
#define WEBHOOK_TIMEOUT_NS  (10 * SEC) /* netresearch's DefaultWebhookConfig */
#define WEBHOOK_RETRY_DELAY (5 * SEC)

struct nwebhook {
	struct config_webhook w; /* copied strings; resolved is the preset */
	struct tmpl *body;       /* w.resolved.body compiled, or NULL */
};

struct notify_config {
	char *slack_webhook;
	bool slack_only_on_error;
	char *email_from, *email_to, *email_subject;
	bool mail_only_on_error;
	char *smtp_host;
	int smtp_port;
	char *smtp_user, *smtp_password;
	bool smtp_skip_verify;
	char *smtp_tls_policy;
	char *save_folder;
	bool save_only_on_error;
	char *save_mode, *save_folder_mode;
	unsigned notify_on;
	int64_t cooldown_ns;
	struct notify_policy policy;
	int workers;
	struct strv global_webhooks; /* names, split */
	struct strv allowed_hosts;
	struct nwebhook *webhooks;
	size_t nwebhooks;
	char hostname[256];
};

static const char *const channel_names[NOTIFY_CHANNEL_COUNT] = {"slack", "mail", "save", "webhook"};

const char *notify_channel_name(enum notify_channel c)
{
	return channel_names[c];
}

int notify_channel_parse(const char *s, enum notify_channel *out)
{
	for (int i = 0; i < NOTIFY_CHANNEL_COUNT; i++)
		if (strcmp(s, channel_names[i]) == 0) {
			*out = (enum notify_channel)i;
			return 0;
		}
	return -1;
}

bool notify_event_is_error(const char *event)
{
	return strcmp(event, "success") != 0 && strcmp(event, "skipped") != 0;
}

const char *notify_data_status(const struct notify_data *d)
{
	if (strcmp(d->event, "success") == 0)
		return "successful";
	if (strcmp(d->event, "failed") == 0 || strcmp(d->event, "stopped") == 0)
		return "failed";
	if (strcmp(d->event, NOTIFY_EVENT_NO_SUCCESS) == 0)
		return "no success";
	return d->event;
}

/* split pushes the names of a comma or space separated list onto out,
 * skipping those already there. */
static void split(struct strv *out, const char *list)
{
	char *copy = xstrdup(list), *save = NULL;
	for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
		bool seen = false;
		for (size_t i = 0; i < out->n && !seen; i++)
			seen = strcmp(out->v[i], w) == 0;
		if (!seen)
			strv_push(out, w);
	}
	free(copy);
}

void notify_config_free(struct notify_config *nc)
{
	if (nc == NULL)
		return;
	char *strings[] = {nc->slack_webhook, nc->email_from,      nc->email_to,
	                   nc->email_subject, nc->smtp_host,       nc->smtp_user,
	                   nc->smtp_password, nc->smtp_tls_policy, nc->save_folder,
	                   nc->save_mode,     nc->save_folder_mode};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
	strv_free(&nc->global_webhooks);
	strv_free(&nc->allowed_hosts);
	for (size_t i = 0; i < nc->nwebhooks; i++) {
		config_webhook_release(&nc->webhooks[i].w);
		tmpl_free(nc->webhooks[i].body);
	}
	free(nc->webhooks);
	free(nc);
}

/* sample fills d with an execution of every field, to render templates once
 * when the config loads. */
static void sample(struct notify_data *d)
{
	static char text[] = "sample";
	memset(d, 0, sizeof *d);
	d->job_name = d->job_type = d->command = d->schedule = d->container = text;
	d->execution_id = d->idempotency_key = d->error = d->hostname = text;
	d->event = "failed";
	d->failed = true;
	d->out = d->err = text;
	d->out_len = d->err_len = strlen(text);
	d->preset_id = d->preset_secret = d->preset_url = d->preset_link = text;
	d->preset_link_text = d->preset_device = text;
}

/* check_template parses and renders text once; -1 with the reason. The
 * compiled template goes to *keep when it is not NULL. */
static int check_template(const char *name, const char *text, struct tmpl **keep, char *err,
                          size_t errlen)
{
	struct notify_data d;
	struct buf out = BUF_INIT;
	char why[400];
	struct tmpl *t = tmpl_parse(name, text, why, sizeof why);
	if (t == NULL) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	sample(&d);
	int rc = tmpl_render(t, &d, &out, why, sizeof why);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", name, why);
	buf_free(&out);
	if (rc == 0 && keep)
		*keep = t;
	else
		tmpl_free(t);
	return rc;
}

static bool empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* overlay fills what the file left unset from the labels' settings. */
static void overlay(struct notify_config *nc, const struct config *c, const struct config *l)
{
	const struct config_global *g = &c->global, *lg = &l->global;
	struct {
		char **field;
		const char *from;
	} strings[] = {
	    {&nc->slack_webhook, lg->slack_webhook},
	    {&nc->email_from, lg->email_from},
	    {&nc->email_to, lg->email_to},
	    {&nc->email_subject, lg->email_subject},
	    {&nc->smtp_host, lg->smtp_host},
	    {&nc->smtp_user, lg->smtp_user},
	    {&nc->smtp_password, lg->smtp_password},
	    {&nc->smtp_tls_policy, lg->smtp_tls_policy},
	    {&nc->save_folder, lg->save_folder},
	    {&nc->save_mode, lg->save_mode},
	    {&nc->save_folder_mode, lg->save_folder_mode},
	};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		if (empty(*strings[i].field) && !empty(strings[i].from)) {
			free(*strings[i].field);
			*strings[i].field = xstrdup(strings[i].from);
		}
	/* A bool the file leaves false cannot be told from one it sets false
	 * (netresearch merges the same way). */
	nc->slack_only_on_error = nc->slack_only_on_error || lg->slack_only_on_error;
	nc->mail_only_on_error = nc->mail_only_on_error || lg->mail_only_on_error;
	nc->save_only_on_error = nc->save_only_on_error || lg->save_only_on_error;
	nc->smtp_skip_verify = nc->smtp_skip_verify || lg->smtp_tls_skip_verify;
	if (g->smtp_port == 587)
		nc->smtp_port = lg->smtp_port;
	if (nc->cooldown_ns == 0)
		nc->cooldown_ns = lg->notification_cooldown_ns;
	if (g->notify_on.n == 0) {
		char why[160];
		job_notify_on_parse(&lg->notify_on, &nc->notify_on, why, sizeof why);
	}
	for (size_t i = 0; i < lg->webhook_webhooks.n; i++)
		split(&nc->global_webhooks, lg->webhook_webhooks.v[i]);
}

struct notify_config *notify_config_new(const struct config *c, const struct config *labels,
                                        char *err, size_t errlen)
{
	const struct config_global *g = &c->global;
	struct notify_config *nc = xcalloc(1, sizeof *nc);
	char why[160];

	nc->slack_webhook = xstrdup(g->slack_webhook);
	nc->slack_only_on_error = g->slack_only_on_error;
	nc->email_from = xstrdup(g->email_from);
	nc->email_to = xstrdup(g->email_to);
	nc->email_subject = xstrdup(g->email_subject);
	nc->mail_only_on_error = g->mail_only_on_error;
	nc->smtp_host = xstrdup(g->smtp_host);
	nc->smtp_port = g->smtp_port;
	nc->smtp_user = xstrdup(g->smtp_user);
	nc->smtp_password = xstrdup(g->smtp_password);
	nc->smtp_skip_verify = g->smtp_tls_skip_verify;
	nc->smtp_tls_policy = xstrdup(g->smtp_tls_policy);
	nc->save_folder = xstrdup(g->save_folder);
	nc->save_only_on_error = g->save_only_on_error;
	nc->save_mode = xstrdup(g->save_mode);
	nc->save_folder_mode = xstrdup(g->save_folder_mode);
	nc->cooldown_ns = g->notification_cooldown_ns;
	nc->policy.max_attempts =
	    g->notification_max_attempts > 0 ? g->notification_max_attempts : 1;
	nc->policy.first_delay_ns = g->notification_retry_delay_ns;
	nc->policy.max_age_ns = g->notification_max_age_ns;
	nc->workers = g->notification_workers > 0 ? g->notification_workers : 1;
	if (job_notify_on_parse(&g->notify_on, &nc->notify_on, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	for (size_t i = 0; i < g->webhook_webhooks.n; i++)
		split(&nc->global_webhooks, g->webhook_webhooks.v[i]);
	split(&nc->allowed_hosts, g->webhook_allowed_hosts ? g->webhook_allowed_hosts : "*");
	if (nc->allowed_hosts.n == 0)
		strv_push(&nc->allowed_hosts, "*");
	size_t from_labels = labels ? labels->nwebhooks : 0;
	nc->webhooks = xcalloc(c->nwebhooks + from_labels + 1, sizeof *nc->webhooks);
	for (size_t i = 0; i < c->nwebhooks + from_labels; i++) {
		const struct config_webhook *w =
		    i < c->nwebhooks ? &c->webhooks[i] : &labels->webhooks[i - c->nwebhooks];
		/* The file wins: a container cannot take over its webhooks. */
		if (i >= c->nwebhooks && config_webhook_find(c, w->name))
			continue;
		struct nwebhook *nw = &nc->webhooks[nc->nwebhooks++];
		config_webhook_copy(&nw->w, w);
		char name[300];
		snprintf(name, sizeof name, "webhook \"%s\" (preset %s)", w->name,
		         w->resolved.name ? w->resolved.name : "?");
		if (w->resolved.body &&
		    check_template(name, w->resolved.body, &nw->body, err, errlen) < 0)
			goto fail;
	}
	if (labels)
		overlay(nc, c, labels);
	if (g->email_subject && *g->email_subject &&
	    check_template("email-subject", g->email_subject, NULL, err, errlen) < 0)
		goto fail;
	if (gethostname(nc->hostname, sizeof nc->hostname - 1) < 0)
		snprintf(nc->hostname, sizeof nc->hostname, "localhost");
	return nc;
fail:
	notify_config_free(nc);
	return NULL;
}

int notify_check(const struct config *c, char *err, size_t errlen)
{
	struct notify_config *nc = notify_config_new(c, NULL, err, errlen);
	for (size_t i = 0; nc && i < c->njobs; i++)
		if (c->jobs[i]->email_subject && *c->jobs[i]->email_subject) {
			char name[300];
			snprintf(name, sizeof name, "job \"%s\": email-subject", c->jobs[i]->name);
			if (check_template(name, c->jobs[i]->email_subject, NULL, err, errlen) <
			    0) {
				notify_config_free(nc);
				return -1;
			}
		}
	notify_config_free(nc);
	return nc ? 0 : -1;
}

void notify_policy_of(const struct notify_config *nc, enum notify_channel ch, const char *target,
                      struct notify_policy *out)
{
	*out = nc->policy;
	if (ch != NOTIFY_WEBHOOK)
		return;
	for (size_t i = 0; i < nc->nwebhooks; i++) {
		const struct config_webhook *w = &nc->webhooks[i].w;
		if (strcmp(w->name, target) != 0)
			continue;
		if (w->retry_count >= 0)
			out->max_attempts = w->retry_count + 1;
		if (w->retry_delay_ns > 0)
			out->first_delay_ns = w->retry_delay_ns;
	}
}

int notify_workers(const struct notify_config *nc)
{
	return nc->workers;
}

int64_t notify_alert_within(const struct job *def)
{
	return def->alert_if_no_success_within_ns;
}

bool notify_wants_output(enum notify_channel ch)
{
	return ch != NOTIFY_SLACK;
}

/* ---- planning ---- */

static const char *pick(const char *job, const char *global)
{
	return job && *job ? job : global;
}

static bool pick_bool(int job, bool global)
{
	return job >= 0 ? job != 0 : global;
}

static const struct nwebhook *find_nwebhook(const struct notify_config *nc, const char *name)
{
	for (size_t i = 0; i < nc->nwebhooks; i++)
		if (strcmp(nc->webhooks[i].w.name, name) == 0)
			return &nc->webhooks[i];
	return NULL;
}

static const struct config_webhook *find_webhook(const struct notify_config *nc, const char *name)
{
	const struct nwebhook *nw = find_nwebhook(nc, name);
	return nw ? &nw->w : NULL;
}

static bool triggered(const char *trigger, const char *event)
{
	if (trigger == NULL || strcasecmp(trigger, "error") == 0)
		return notify_event_is_error(event);
	if (strcasecmp(trigger, "always") == 0)
		return true;
	if (strcasecmp(trigger, "success") == 0)
		return strcmp(event, "success") == 0;
	if (strcasecmp(trigger, "skipped") == 0)
		return strcmp(event, "skipped") == 0;
	return notify_event_is_error(event);
}

static size_t add(struct notify_target *out, size_t n, size_t max, enum notify_channel ch,
                  const char *target, int64_t cooldown)
{
	if (n >= max)
		return n;
	out[n].channel = ch;
	snprintf(out[n].target, sizeof out[n].target, "%s", target);
	out[n].cooldown_ns = cooldown;
	return n + 1;
}

size_t notify_plan(const struct notify_config *nc, const struct job *def, const char *event,
                   struct notify_target *out, size_t max)
{
	enum job_status st;
	bool error = notify_event_is_error(event);
	size_t n = 0;

	/* interrupted, missed and expired are reported only when asked for. */
	if (job_status_parse(event, &st) == 0 &&
	    (st == JOB_STATUS_INTERRUPTED || st == JOB_STATUS_MISSED || st == JOB_STATUS_EXPIRED)) {
		unsigned mask = nc->notify_on;
		char why[160];
		if (def->notify_on.n)
			job_notify_on_parse(&def->notify_on, &mask, why, sizeof why);
		if (!(mask & (1u << st)))
			return 0;
	}
	int64_t cooldown = error ? nc->cooldown_ns : 0;
	if (!empty(pick(def->slack_webhook, nc->slack_webhook)) &&
	    (error || !pick_bool(def->slack_only_on_error, nc->slack_only_on_error)))
		n = add(out, n, max, NOTIFY_SLACK, "", cooldown);
	if (!empty(pick(def->smtp_host, nc->smtp_host)) &&
	    !empty(pick(def->email_to, nc->email_to)) &&
	    (error || !pick_bool(def->mail_only_on_error, nc->mail_only_on_error)))
		n = add(out, n, max, NOTIFY_MAIL, "", cooldown);
	if (!empty(pick(def->save_folder, nc->save_folder)) &&
	    (error || !pick_bool(def->save_only_on_error, nc->save_only_on_error)))
		n = add(out, n, max, NOTIFY_SAVE, "", 0);

	struct strv names = STRV_INIT;
	for (size_t i = 0; i < def->webhooks.n; i++)
		split(&names, def->webhooks.v[i]);
	for (size_t i = 0; i < nc->global_webhooks.n; i++)
		split(&names, nc->global_webhooks.v[i]);
	for (size_t i = 0; i < names.n; i++) {
		const struct config_webhook *w = find_webhook(nc, names.v[i]);
		if (triggered(w ? w->trigger : NULL, event))
			n = add(out, n, max, NOTIFY_WEBHOOK, names.v[i], cooldown);
	}
	strv_free(&names);
	return n;
}

/* ---- messages ---- */

static const char *ofelia_type(enum job_type t)
{
	return t == JOB_SERVICE ? "run-service" : job_type_name(t);
}

static char *copy_n(const char *s, size_t n)
{
	return s ? xstrndup(s, n) : NULL;
}

static void fill_data(struct notify_data *d, const struct notify_config *nc, const struct job *def,
                      const struct notify_event *ev)
{
	d->job_name = xstrdup(def->name);
	d->job_type = xstrdup(ofelia_type(def->type));
	d->command = xstrdup(def->command ? def->command : "");
	d->schedule = xstrdup(def->schedule ? def->schedule : "");
	d->container = xstrdup(def->container ? def->container : "");
	d->image = xstrdup(def->image ? def->image : "");
	d->user = xstrdup(def->user ? def->user : "");
	d->event = xstrdup(ev->event);
	d->execution_id = xstrdup(ev->execution_id ? ev->execution_id : "");
	d->idempotency_key = xstrdup(ev->idempotency_key ? ev->idempotency_key : "");
	d->skipped = strcmp(ev->event, "skipped") == 0;
	d->failed = notify_event_is_error(ev->event) && !d->skipped;
	d->start_ns = ev->start_ns;
	d->end_ns = ev->end_ns;
	d->duration_ns = ev->duration_ns;
	d->has_exit_code = ev->has_exit_code;
	d->exit_code = ev->exit_code;
	d->error = xstrdup(ev->error ? ev->error : "");
	d->out = copy_n(ev->out, ev->out_len);
	d->out_len = ev->out ? ev->out_len : 0;
	d->err = copy_n(ev->err, ev->err_len);
	d->err_len = ev->err ? ev->err_len : 0;
	d->hostname = xstrdup(nc->hostname);
	d->now_ns = clock_now_ns();
	d->version = OFELIA_VERSION;
}

static void data_release(struct notify_data *d)
{
	char *strings[] = {d->job_name,
	                   d->job_type,
	                   d->command,
	                   d->schedule,
	                   d->container,
	                   d->image,
	                   d->user,
	                   d->event,
	                   d->execution_id,
	                   d->idempotency_key,
	                   d->error,
	                   d->out,
	                   d->err,
	                   d->hostname,
	                   d->preset_id,
	                   d->preset_secret,
	                   d->preset_url,
	                   d->preset_link,
	                   d->preset_link_text,
	                   d->preset_device};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
}

void notify_msg_free(struct notify_msg *m)
{
	if (m == NULL)
		return;
	data_release(&m->d);
	free(m->masked);
	strv_free(&m->secrets);
	free(m->slack_url);
	free(m->smtp_host);
	free(m->smtp_user);
	free(m->smtp_password);
	free(m->mail_from);
	strv_free(&m->mail_to);
	free(m->mail_subject_tmpl);
	free(m->save_folder);
	config_preset_fini(&m->preset);
	tmpl_free(m->body);
	free(m->webhook_url);
	strv_free(&m->allowed_hosts);
	free(m);
}

const char *notify_msg_where(const struct notify_msg *m)
{
	return m->masked;
}

static void secret(struct notify_msg *m, const char *s)
{
	if (s && strlen(s) >= 4)
		strv_push(&m->secrets, s);
}

/* mail_from is Ofelia's email-from: a %s becomes the host name. */
static char *mail_from(const char *from, const char *host)
{
	if (empty(from))
		return xasprintf("ofelia@%s", host);
	const char *pct = strstr(from, "%s");
	if (pct == NULL)
		return xstrdup(from);
	return xasprintf("%.*s%s%s", (int)(pct - from), from, host, pct + 2);
}

static int build_mail(struct notify_msg *m, const struct notify_config *nc, const struct job *def,
                      char *err, size_t errlen)
{
	const char *host = pick(def->smtp_host, nc->smtp_host);
	const char *to = pick(def->email_to, nc->email_to);
	const char *policy = pick(def->smtp_tls_policy, nc->smtp_tls_policy);
	if (empty(host) || empty(to)) {
		snprintf(err, errlen, "mail: no smtp-host or email-to is set any more");
		return -1;
	}
	m->smtp_host = xstrdup(host);
	m->smtp_port = def->smtp_port > 0 ? def->smtp_port : nc->smtp_port;
	m->smtp_user = xstrdup(pick(def->smtp_user, nc->smtp_user));
	m->smtp_password = xstrdup(pick(def->smtp_password, nc->smtp_password));
	m->smtp_skip_verify = pick_bool(def->smtp_tls_skip_verify, nc->smtp_skip_verify);
	if (job_tls_policy_parse(policy ? policy : "", &m->smtp_policy) < 0)
		m->smtp_policy = JOB_TLS_MANDATORY;
	m->mail_from = mail_from(pick(def->email_from, nc->email_from), nc->hostname);
	char *copy = xstrdup(to), *save = NULL;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		while (*a == ' ' || *a == '\t')
			a++;
		size_t n = strlen(a);
		while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
			a[--n] = '\0';
		if (n)
			strv_push(&m->mail_to, a);
	}
	free(copy);
	const char *subject = pick(def->email_subject, nc->email_subject);
	m->mail_subject_tmpl = empty(subject) ? NULL : xstrdup(subject);
	m->timeout_ns = MAIL_TIMEOUT_NS;
	secret(m, m->smtp_password);
	m->masked = xasprintf("mail smtp://%s:%d to %s", host, m->smtp_port, to);
	return 0;
}

static int build_save(struct notify_msg *m, const struct notify_config *nc, const struct job *def,
                      char *err, size_t errlen)
{
	const char *folder = pick(def->save_folder, nc->save_folder);
	const char *mode = pick(def->save_mode, nc->save_mode);
	const char *dmode = pick(def->save_folder_mode, nc->save_folder_mode);
	if (empty(folder)) {
		snprintf(err, errlen, "save: no save-folder is set any more");
		return -1;
	}
	m->save_folder = xstrdup(folder);
	m->save_mode = 0600;
	m->save_folder_mode = 0750;
	if (!empty(mode))
		job_mode_parse(mode, &m->save_mode);
	if (!empty(dmode))
		job_mode_parse(dmode, &m->save_folder_mode);
	m->timeout_ns = SAVE_TIMEOUT_NS;
	m->masked = xasprintf("save %s", folder);
	return 0;
}

static int build_webhook(struct notify_msg *m, const struct notify_config *nc, const char *name,
                         char *err, size_t errlen)
{
	const struct nwebhook *nw = find_nwebhook(nc, name);
	if (nw == NULL) {
		snprintf(err, errlen, "webhook \"%s\" is not defined", name);
		return -1;
	}
	const struct config_webhook *w = &nw->w;
	m->body = tmpl_ref(nw->body);
	m->preset.name = xstrdup(w->resolved.name);
	m->preset.url_scheme = xstrdup(w->resolved.url_scheme);
	m->preset.method = xstrdup(w->resolved.method);
	m->preset.body = xstrdup(w->resolved.body);
	strv_copy(&m->preset.headers, &w->resolved.headers);
	const char *vars[] = {"id", w->id, "secret", w->secret, "url", w->url, NULL};
	m->webhook_url =
	    !empty(w->url)
	        ? xstrdup(w->url)
	        : notify_replace(w->resolved.url_scheme ? w->resolved.url_scheme : "", vars);
	strv_copy(&m->allowed_hosts, &nc->allowed_hosts);
	m->d.preset_id = xstrdup(w->id ? w->id : "");
	m->d.preset_secret = xstrdup(w->secret ? w->secret : "");
	m->d.preset_url = xstrdup(w->url ? w->url : "");
	m->d.preset_link = xstrdup(w->link ? w->link : "");
	m->d.preset_link_text = xstrdup(w->link_text ? w->link_text : "");
	m->d.preset_device = xstrdup(w->device ? w->device : "");
	m->timeout_ns = w->timeout_ns > 0 ? w->timeout_ns : WEBHOOK_TIMEOUT_NS;
	secret(m, w->secret);
	secret(m, w->id);
	secret(m, m->webhook_url);
	if (!empty(w->url) && strchr(w->url, '?'))
		secret(m, strchr(w->url, '?') + 1);
	char *masked = notify_mask_url(m->webhook_url);
	m->masked = xasprintf("webhook %s %s", name, masked);
	free(masked);
	return 0;
}

struct notify_msg *notify_msg_new(const struct notify_config *nc, const struct job *def,
                                  enum notify_channel ch, const char *target,
                                  const struct notify_event *ev, uint64_t id, char *err,
                                  size_t errlen)
{
	struct notify_msg *m = xcalloc(1, sizeof *m);
	int rc = 0;
	m->id = id;
	m->channel = ch;
	fill_data(&m->d, nc, def, ev);
	switch (ch) {
	case NOTIFY_SLACK: {
		const char *url = pick(def->slack_webhook, nc->slack_webhook);
		if (empty(url)) {
			snprintf(err, errlen, "slack: no slack-webhook is set any more");
			rc = -1;
			break;
		}
		m->slack_url = xstrdup(url);
		m->timeout_ns = SLACK_TIMEOUT_NS;
		strv_copy(&m->allowed_hosts, &nc->allowed_hosts);
		secret(m, url);
		char *masked = notify_mask_url(url);
		m->masked = xasprintf("slack %s", masked);
		free(masked);
		break;
	}
	case NOTIFY_MAIL:
		rc = build_mail(m, nc, def, err, errlen);
		break;
	case NOTIFY_SAVE:
		rc = build_save(m, nc, def, err, errlen);
		break;
	case NOTIFY_WEBHOOK:
		rc = build_webhook(m, nc, target, err, errlen);
		break;
	}
	if (rc < 0) {
		notify_msg_free(m);
		return NULL;
	}
	return m;
}
