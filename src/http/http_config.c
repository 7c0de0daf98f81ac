/* /api/config and /api/config/global.
 *
 * GET shows the config in force with secrets masked: passwords and keys
 * become "********", webhook URLs keep only scheme and host (the [webhook]
 * sections' ids and secrets are masked too), and a job's environment
 * entries whose name looks secret (PASSWORD, TOKEN, KEY, ...) lose their
 * value; a job's own slack-webhook and smtp-password are masked by
 * job_to_json.
 *
 * PATCH /api/config/global changes global settings through the API. The
 * changes are validated as a whole, kept in the store (setting
 * "api.config.global", a JSON object) and win over the config file, at this
 * start and the next ones, until a PATCH sets the key to null again. The
 * log level and format apply at once; the others are settings the scheduler,
 * Docker and the notifications read at start, so they apply at the next
 * restart (the answer lists which is which). Each change is announced to
 * WebSocket clients as a "config.updated" event. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"
#include "tz/tz.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/xalloc.h"

#define SAVED_SETTING "api.config.global"
#define MASK          "********"
#define NO_FIELD      ((size_t)-1)

enum gkind {
	G_STRING,
	G_SECRET, /* a string shown masked */
	G_URL,    /* a string shown as scheme://host/... */
	G_WORD,   /* a string from words */
	G_ZONE,
	G_BOOL,
	G_INT,
	G_INT64,
	G_DURATION, /* nanoseconds; PATCH also takes "1h30m" */
	G_SECONDS,  /* shown and set in seconds, kept in nanoseconds */
	G_CATCH_UP,
};

struct gkey {
	const char *json;
	enum gkind kind;
	size_t offset; /* into struct config; NO_FIELD: kept by the API only */
	int64_t min, max;
	const char *const *words;
	bool live; /* applied without a restart */
};

static const char *const level_words[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_words[] = {"logfmt", "json", NULL};
static const char *const scope_words[] = {"service", "container", "container-service", NULL};
static const char *const tls_words[] = {"mandatory", "opportunistic", "none", "implicit", NULL};

#define GL(m)       offsetof(struct config, global.m)
#define DK(m)       offsetof(struct config, docker.m)
#define INT64_LIMIT DURATION_MAX_NS

static const struct gkey gkeys[] = {
    {"logLevel", G_WORD, GL(log_level), 0, 0, level_words, true},
    {"logFormat", G_WORD, GL(log_format), 0, 0, format_words, true},
    {"timezone", G_ZONE, GL(timezone), 0, 0, NULL, false},
    {"maxConcurrent", G_INT, GL(max_concurrent), 0, 10000, NULL, false},
    {"maxQueue", G_INT, GL(max_queue), 0, 10000000, NULL, false},
    {"catchUp", G_CATCH_UP, GL(catch_up), 0, 0, NULL, false},
    {"catchUpDeadline", G_DURATION, GL(catch_up_deadline_ns), 0, INT64_LIMIT, NULL, false},
    {"historyLimit", G_INT, GL(history_limit), 0, 1000000000, NULL, false},
    {"historyMaxAge", G_DURATION, GL(history_max_age_ns), 0, INT64_LIMIT, NULL, false},
    {"maxOutput", G_INT64, GL(max_output_bytes), 0, 1LL << 40, NULL, false},
    {"maxLogLines", G_INT64, GL(max_log_lines), 0, 1000000000000LL, NULL, false},
    {"maxLogBytes", G_INT64, GL(max_log_bytes), 0, 1LL << 40, NULL, false},
    {"maxRuntime", G_DURATION, GL(max_runtime_ns), 0, INT64_LIMIT, NULL, false},
    {"shutdownGrace", G_DURATION, GL(shutdown_grace_ns), 0, INT64_LIMIT, NULL, false},
    {"maxRetries", G_INT, GL(max_retries), 0, JOB_MAX_RETRIES, NULL, false},
    {"retryDelay", G_DURATION, GL(retry_delay_ns), 0, INT64_LIMIT, NULL, false},
    {"retryExponential", G_BOOL, GL(retry_exponential), 0, 0, NULL, false},
    {"retryMaxDelay", G_DURATION, GL(retry_max_delay_ns), 0, INT64_LIMIT, NULL, false},
    {"retryInterrupted", G_BOOL, GL(retry_interrupted), 0, 0, NULL, false},
    {"dependencyTimeout", G_DURATION, GL(dependency_timeout_ns), 0, INT64_LIMIT, NULL, false},
    {"defaultUser", G_STRING, GL(default_user), 0, 0, NULL, false},
    {"allowHostJobsFromLabels", G_BOOL, GL(allow_host_jobs_from_labels), 0, 0, NULL, false},
    {"jobExecLabelScope", G_WORD, GL(job_exec_label_scope), 0, 0, scope_words, false},
    {"dockerHost", G_STRING, DK(host), 0, 0, NULL, false},
    {"dockerPollInterval", G_SECONDS, DK(poll_interval_ns), 0, 31536000, NULL, false},
    {"dockerEvents", G_BOOL, DK(events), 0, 0, NULL, false},
    {"dockerIncludeStopped", G_BOOL, DK(include_stopped), 0, 0, NULL, false},
    {"slackURL", G_URL, GL(slack_webhook), 0, 0, NULL, false},
    {"slackChannel", G_STRING, NO_FIELD, 0, 0, NULL, false},
    {"slackOnlyOnError", G_BOOL, GL(slack_only_on_error), 0, 0, NULL, false},
    {"emailFrom", G_STRING, GL(email_from), 0, 0, NULL, false},
    {"emailTo", G_STRING, GL(email_to), 0, 0, NULL, false},
    {"emailSubject", G_STRING, GL(email_subject), 0, 0, NULL, false},
    {"mailOnlyOnError", G_BOOL, GL(mail_only_on_error), 0, 0, NULL, false},
    {"smtpHost", G_STRING, GL(smtp_host), 0, 0, NULL, false},
    {"smtpPort", G_INT, GL(smtp_port), 1, 65535, NULL, false},
    {"smtpUser", G_STRING, GL(smtp_user), 0, 0, NULL, false},
    {"smtpPassword", G_SECRET, GL(smtp_password), 0, 0, NULL, false},
    {"smtpTlsSkipVerify", G_BOOL, GL(smtp_tls_skip_verify), 0, 0, NULL, false},
    {"saveFolder", G_STRING, GL(save_folder), 0, 0, NULL, false},
    {"saveOnlyOnError", G_BOOL, GL(save_only_on_error), 0, 0, NULL, false},
    {"smtpTlsPolicy", G_WORD, GL(smtp_tls_policy), 0, 0, tls_words, false},
    {"notificationCooldown", G_DURATION, GL(notification_cooldown_ns), 0, INT64_LIMIT, NULL, false},
    {"webhookAllowedHosts", G_STRING, GL(webhook_allowed_hosts), 0, 0, NULL, false},
};

#define NGKEYS (sizeof gkeys / sizeof gkeys[0])

static const struct gkey *find_key(const char *json)
{
	for (size_t i = 0; i < NGKEYS; i++)
		if (strcmp(gkeys[i].json, json) == 0)
			return &gkeys[i];
	return NULL;
}

#define AT(c, k, type)  ((type *)((char *)(c) + (k)->offset))
#define CAT(c, k, type) ((const type *)((const char *)(c) + (k)->offset))

/* ---- masking ---- */

static json_t *mask_url(const char *url)
{
	const char *host = strstr(url, "://");
	if (host == NULL)
		return json_string(MASK);
	host += 3;
	size_t len = strcspn(host, "/?#");
	char *text = xasprintf("%.*s%.*s/...", (int)(host - url), url, (int)len, host);
	json_t *v = http_string(text);
	free(text);
	return v;
}

/* secret_name tells whether an environment variable's name suggests a
 * secret value. */
static bool secret_name(const char *name, size_t len)
{
	static const char *const parts[] = {"PASS", "SECRET",  "TOKEN", "KEY",  "CREDENTIAL",
	                                    "AUTH", "PRIVATE", "CERT",  "SALT", NULL};
	char upper[128];
	if (len >= sizeof upper)
		len = sizeof upper - 1;
	for (size_t i = 0; i < len; i++)
		upper[i] = (char)toupper((unsigned char)name[i]);
	upper[len] = '\0';
	for (int i = 0; parts[i]; i++)
		if (strstr(upper, parts[i]))
			return true;
	return false;
}

static json_t *masked_job(const struct job *def)
{
	json_t *o = job_to_json(def);
	json_t *env = json_array();
	for (size_t i = 0; i < def->environment.n; i++) {
		const char *item = def->environment.v[i];
		const char *eq = strchr(item, '=');
		if (eq && secret_name(item, (size_t)(eq - item))) {
			char *text = xasprintf("%.*s=%s", (int)(eq - item), item, MASK);
			json_array_append_new(env, http_string(text));
			free(text);
		} else {
			json_array_append_new(env, http_string(item));
		}
	}
	json_object_set_new(o, "environment", env);
	return o;
}

/* ---- values ---- */

/* shown returns how GET shows a value as it is kept (saved JSON or config
 * field), masked. */
static json_t *shown(const struct gkey *k, json_t *v)
{
	if (json_is_string(v) && k->kind == G_SECRET)
		return json_string(MASK);
	if (json_is_string(v) && k->kind == G_URL)
		return mask_url(json_string_value(v));
	return json_incref(v);
}

/* field_json reads a config field in its API form. */
static json_t *field_json(const struct config *c, const struct gkey *k)
{
	if (k->offset == NO_FIELD)
		return json_null();
	switch (k->kind) {
	case G_STRING:
	case G_SECRET:
	case G_URL:
	case G_WORD:
	case G_ZONE: {
		const char *s = *CAT(c, k, char *);
		return s ? http_string(s) : json_null();
	}
	case G_BOOL:
		return json_boolean(*CAT(c, k, bool));
	case G_INT:
		return json_integer(*CAT(c, k, int));
	case G_INT64:
	case G_DURATION:
		return json_integer(*CAT(c, k, int64_t));
	case G_SECONDS:
		return json_integer(*CAT(c, k, int64_t) / NS_PER_SEC);
	case G_CATCH_UP:
		return json_string(job_catch_up_name(*CAT(c, k, enum job_catch_up)));
	}
	return json_null();
}

/* normalize checks a PATCH value and returns it in the kept form (new
 * reference), or NULL with the reason in err. */
static json_t *normalize(const struct gkey *k, json_t *v, char *err, size_t errlen)
{
	char why[256];
	switch (k->kind) {
	case G_STRING:
	case G_SECRET:
	case G_URL:
		if (!json_is_string(v))
			break;
		if (k->kind == G_URL && json_string_length(v) &&
		    !strstr(json_string_value(v), "://")) {
			snprintf(err, errlen, "%s: must be a URL", k->json);
			return NULL;
		}
		return json_incref(v);
	case G_WORD:
		if (!json_is_string(v))
			break;
		for (int i = 0; k->words[i]; i++)
			if (strcasecmp(json_string_value(v), k->words[i]) == 0)
				return json_string(k->words[i]);
		snprintf(err, errlen, "%s: \"%s\" is not one of the allowed values", k->json,
		         json_string_value(v));
		return NULL;
	case G_ZONE:
		if (!json_is_string(v))
			break;
		if (tz_load(json_string_value(v), why, sizeof why) == NULL) {
			snprintf(err, errlen, "%s: %s", k->json, why);
			return NULL;
		}
		return json_incref(v);
	case G_BOOL:
		if (json_is_boolean(v))
			return json_incref(v);
		break;
	case G_CATCH_UP: {
		enum job_catch_up c;
		if (json_is_string(v) && job_catch_up_parse(json_string_value(v), &c) == 0)
			return json_string(job_catch_up_name(c));
		snprintf(err, errlen, "%s: must be \"skip\" or \"once\"", k->json);
		return NULL;
	}
	case G_DURATION:
		if (json_is_string(v)) {
			int64_t ns;
			if (duration_parse(json_string_value(v), &ns, why, sizeof why) < 0) {
				snprintf(err, errlen, "%s: %s", k->json, why);
				return NULL;
			}
			v = json_integer(ns);
		} else {
			json_incref(v);
		}
		if (json_is_integer(v) && json_integer_value(v) >= k->min &&
		    json_integer_value(v) <= k->max)
			return v;
		json_decref(v);
		snprintf(err, errlen,
		         "%s: must be nanoseconds from 0 to 876000h (100 years), or a duration "
		         "such as \"1h30m\"",
		         k->json);
		return NULL;
	case G_INT:
	case G_INT64:
	case G_SECONDS:
		if (json_is_integer(v) && json_integer_value(v) >= k->min &&
		    json_integer_value(v) <= k->max)
			return json_incref(v);
		snprintf(err, errlen, "%s: must be a whole number from %lld to %lld", k->json,
		         (long long)k->min, (long long)k->max);
		return NULL;
	}
	snprintf(err, errlen, "%s: wrong type", k->json);
	return NULL;
}

/* apply writes a kept value into the config. */
static void apply(struct config *c, const struct gkey *k, json_t *v)
{
	if (k->offset == NO_FIELD)
		return;
	switch (k->kind) {
	case G_STRING:
	case G_SECRET:
	case G_URL:
	case G_WORD:
	case G_ZONE:
		free(*AT(c, k, char *));
		*AT(c, k, char *) = xstrdup(json_string_value(v));
		break;
	case G_BOOL:
		*AT(c, k, bool) = json_is_true(v);
		break;
	case G_INT:
		*AT(c, k, int) = (int)json_integer_value(v);
		break;
	case G_INT64:
	case G_DURATION:
		*AT(c, k, int64_t) = json_integer_value(v);
		break;
	case G_SECONDS:
		*AT(c, k, int64_t) = json_integer_value(v) * NS_PER_SEC;
		break;
	case G_CATCH_UP:
		job_catch_up_parse(json_string_value(v), AT(c, k, enum job_catch_up));
		break;
	}
}

static json_t *load_saved(struct store *st, char *err, size_t errlen)
{
	char *text = NULL;
	json_error_t jerr;
	if (store_setting_get(st, SAVED_SETTING, &text) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", SAVED_SETTING, store_errmsg(st));
		return NULL;
	}
	json_t *saved = text ? json_loads(text, 0, &jerr) : json_object();
	free(text);
	if (!json_is_object(saved)) {
		log_kv(LOG_WARN, "settings changed through the API are unreadable; ignored",
		       "setting", SAVED_SETTING, NULL);
		json_decref(saved);
		saved = json_object();
	}
	return saved;
}

int http_config_apply_saved(struct store *st, struct config *c, char *err, size_t errlen)
{
	json_t *saved = load_saved(st, err, errlen);
	const char *key;
	json_t *v;
	char why[256];
	if (saved == NULL)
		return -1;
	json_object_foreach(saved, key, v)
	{
		const struct gkey *k = find_key(key);
		json_t *ok = k ? normalize(k, v, why, sizeof why) : NULL;
		if (ok == NULL) {
			log_kv(LOG_WARN, "ignoring a setting saved through the API", "key", key,
			       NULL);
			continue;
		}
		apply(c, k, ok);
		json_decref(ok);
	}
	json_decref(saved);
	return 0;
}

int http_config_init(struct http *h, char *err, size_t errlen)
{
	h->saved_global = load_saved(h->deps.store, err, errlen);
	return h->saved_global ? 0 : -1;
}

/* ---- handlers ---- */

static json_t *global_view(struct http *h, const struct config *c)
{
	json_t *o = json_object();
	for (size_t i = 0; i < NGKEYS; i++) {
		const struct gkey *k = &gkeys[i];
		json_t *saved = json_object_get(h->saved_global, k->json);
		json_t *v = saved ? json_incref(saved) : field_json(c, k);
		json_object_set_new(o, k->json, shown(k, v));
		json_decref(v);
	}
	return o;
}

static json_t *web_view(const struct config *c)
{
	const struct config_web *w = &c->web;
	json_t *origins = json_array();
	for (size_t i = 0; i < w->cors_origins.n; i++)
		json_array_append_new(origins, http_string(w->cors_origins.v[i]));
	return json_pack("{s:o,s:b,s:b,s:b,s:I,s:i,s:i,s:o}", "address", http_string(w->address),
	                 "authEnabled", w->auth_enabled, "insecure", w->insecure, "metricsAuth",
	                 w->metrics_auth, "tokenExpiry", (json_int_t)w->token_expiry_ns,
	                 "rateLimit", w->rate_limit, "rateBurst", w->rate_burst, "corsOrigins",
	                 origins);
}

/* cluster_view shows the cluster section; the secret and the etcd
 * password only as whether they are set. */
static json_t *cluster_view(const struct config *c)
{
	const struct config_cluster *cl = &c->cluster;
	json_t *eps = json_array();
	for (size_t i = 0; i < cl->etcd_endpoints.n; i++)
		json_array_append_new(eps, http_string(cl->etcd_endpoints.v[i]));
	return json_pack(
	    "{s:o,s:o,s:o,s:I,s:o,s:o,s:s,s:o,s:s,s:I,s:I,s:I,s:b,s:b}", "etcdEndpoints", eps,
	    "name", http_string(cl->name), "node", cl->node ? http_string(cl->node) : json_null(),
	    "leaseTtl", (json_int_t)cl->lease_ttl_ns, "advertiseAddress",
	    cl->advertise_address ? http_string(cl->advertise_address) : json_null(),
	    "etcdUsername", cl->etcd_username ? http_string(cl->etcd_username) : json_null(),
	    "etcdPassword", cl->etcd_password ? "***" : "", "etcdCa",
	    cl->etcd_ca ? http_string(cl->etcd_ca) : json_null(), "secret", cl->secret ? "***" : "",
	    "claimRetention", (json_int_t)cl->claim_retention_ns, "claimAhead",
	    (json_int_t)cl->claim_ahead_ns, "replicationInterval",
	    (json_int_t)cl->replication_interval_ns, "etcdTls", cl->etcd_cert != NULL, "enabled",
	    cl->etcd_endpoints.n > 0);
}

void http_on_config(struct http_req *r)
{
	struct http *h = r->h;
	struct store_job **rows;
	size_t n;
	if (store_jobs_load(h->deps.store, &rows, &n) < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL, "Cannot read the jobs: %s",
		                 store_errmsg(h->deps.store));
		return;
	}
	json_t *jobs = json_object();
	for (int t = 0; t < JOB_TYPE_COUNT; t++)
		json_object_set_new(jobs, job_type_name((enum job_type)t), json_array());
	for (size_t i = 0; i < n; i++)
		if (scheduler_job_live(h->deps.scheduler, rows[i]->def->name))
			json_array_append_new(
			    json_object_get(jobs, job_type_name(rows[i]->def->type)),
			    masked_job(rows[i]->def));
	store_jobs_free(rows, n);
	json_t *body =
	    json_pack("{s:o,s:o,s:o,s:o}", "global", global_view(h, r->cfg), "web",
	              web_view(r->cfg), "jobs", jobs, "webhooks", http_webhooks_view(r->cfg));
	if (r->cfg->cluster.etcd_endpoints.n)
		json_object_set_new(body, "cluster", cluster_view(r->cfg));
	http_reply_json(r, 200, body);
}

/* apply_live puts the log level and format in force now. */
static void apply_live(struct http *h, const struct config *c)
{
	json_t *level = json_object_get(h->saved_global, "logLevel");
	json_t *format = json_object_get(h->saved_global, "logFormat");
	const char *lt = level ? json_string_value(level) : c->global.log_level;
	const char *ft = format ? json_string_value(format) : c->global.log_format;
	enum log_level lv = LOG_INFO;
	enum log_format fm = LOG_LOGFMT;
	if (lt)
		log_parse_level(lt, &lv);
	if (ft)
		log_parse_format(ft, &fm);
	log_setup(lv, fm);
}

void http_on_config_global(struct http_req *r)
{
	struct http *h = r->h;
	char err[512];
	const char *key;
	json_t *v;
	json_t *body = http_body_object(r);
	if (body == NULL)
		return;

	/* Check everything before changing anything. */
	json_t *next = json_deep_copy(h->saved_global);
	json_t *changed = json_object(), *applied = json_array(), *restart = json_array();
	json_object_foreach(body, key, v)
	{
		const struct gkey *k = find_key(key);
		json_t *kept = NULL;
		if (k == NULL) {
			http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
			                 "Unknown global setting \"%s\"", key);
			goto out;
		}
		if (!json_is_null(v) && (kept = normalize(k, v, err, sizeof err)) == NULL) {
			http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL, "%s", err);
			goto out;
		}
		if (kept)
			json_object_set_new(next, key, kept);
		else
			json_object_del(next, key);
		json_array_append_new(k->live ? applied : restart, json_string(key));
	}
	char *text = json_dumps(next, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = store_setting_put(h->deps.store, SAVED_SETTING, text);
	free(text);
	if (rc < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL,
		                 "Cannot keep the settings: %s", store_errmsg(h->deps.store));
		goto out;
	}
	json_decref(h->saved_global);
	h->saved_global = json_incref(next);
	apply_live(h, r->cfg);

	json_t *global = global_view(h, r->cfg);
	json_object_foreach(body, key, v)
	{
		json_object_set(changed, key, json_object_get(global, key));
	}
	log_kv(LOG_INFO, "global settings changed through the API", "user", r->user, NULL);
	http_ws_broadcast(h, "config.updated", json_pack("{s:O}", "global", changed));
	http_reply_json(r, 200,
	                json_pack("{s:b,s:o,s:O,s:O,s:s}", "updated", 1, "global", global,
	                          "applied", applied, "restartRequired", restart, "message",
	                          json_array_size(restart)
	                              ? "Settings saved; those in restartRequired apply at the "
	                                "next restart"
	                              : "Settings saved and applied"));
out:
	json_decref(next);
	json_decref(changed);
	json_decref(applied);
	json_decref(restart);
	json_decref(body);
}
