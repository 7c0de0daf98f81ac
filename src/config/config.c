/* config: defaults, the tables of settings, reading one value of a setting,
 * and the steps every format shares: choosing the loader, joining Ofelia's
 * web user, checking each job. The loaders (yaml.c, ini.c) only walk their
 * syntax and hand keys and text to the functions here. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "cron/cron.h"
#include "util/duration.h"
#include "util/words.h"
#include "util/xalloc.h"

#define SEC       1000000000LL
#define HOUR      (3600 * SEC)
#define MIB       (1024LL * 1024)
#define MAX_BYTES (1LL << 40)
/* A config of thousands of jobs is far smaller; the bound keeps the worst
 * YAML (nested MAX_DEPTH deep, yaml.c) quick to parse. */
#define MAX_FILE (4 * MIB)

#define G(m) offsetof(struct config, global.m)
#define D(m) offsetof(struct config, docker.m)
#define W(m) offsetof(struct config, web.m)
#define C(m) offsetof(struct config, cluster.m)
#define K(key, kind, off)                                                                          \
	{                                                                                          \
		key, kind, off, 0, 0, NULL                                                         \
	}
#define KR(key, kind, off, lo, hi)                                                                 \
	{                                                                                          \
		key, kind, off, lo, hi, NULL                                                       \
	}
#define KX(key, kind, off, extra)                                                                  \
	{                                                                                          \
		key, kind, off, 0, 0, extra                                                        \
	}
#define IGNORED(key, hint)                                                                         \
	{                                                                                          \
		key, CK_IGNORED, 0, 0, 0, hint                                                     \
	}

static const struct config_word level_words[] = {
    {"debug", "debug"}, {"info", "info"},      {"warn", "warn"},   {"warning", "warn"},
    {"error", "error"}, {"trace", "debug"},    {"notice", "info"}, {"fatal", "error"},
    {"panic", "error"}, {"critical", "error"}, {NULL, NULL},
};
static const struct config_word format_words[] = {
    {"logfmt", "logfmt"}, {"json", "json"}, {NULL, NULL}};
static const struct config_word sync_words[] = {
    {"normal", "normal"}, {"full", "full"}, {NULL, NULL}};
static const struct config_word tls_words[] = {
    {"mandatory", "mandatory"},
    {"opportunistic", "opportunistic"},
    {"none", "none"},
    {"implicit", "implicit"},
    {NULL, NULL},
};
static const struct config_word scope_words[] = {
    {"service", "service"},
    {"container", "container"},
    {"container-service", "container-service"},
    {NULL, NULL},
};

/* global: scheduler, store, logs, notifications, and Ofelia's web-* names. */
const struct config_key config_global_keys[] = {
    K("timezone", CK_TZ, G(timezone)),
    KX("log-level", CK_ENUM, G(log_level), level_words),
    KX("log-format", CK_ENUM, G(log_format), format_words),
    K("db", CK_STRING, G(db_path)),
    KX("db-synchronous", CK_ENUM, G(db_synchronous), sync_words),
    KR("max-concurrent", CK_INT, G(max_concurrent), 0, 10000),
    KR("max-queue", CK_INT, G(max_queue), 0, 10000000),
    K("catch-up", CK_CATCH_UP, G(catch_up)),
    K("catch-up-deadline", CK_DURATION, G(catch_up_deadline_ns)),
    KR("history-limit", CK_INT, G(history_limit), 0, 1000000000),
    K("history-max-age", CK_DURATION, G(history_max_age_ns)),
    KR("max-output", CK_BYTES, G(max_output_bytes), 0, MAX_BYTES),
    KR("max-log-lines", CK_INT64, G(max_log_lines), 0, 1000000000000LL),
    KR("max-log-bytes", CK_BYTES, G(max_log_bytes), 0, MAX_BYTES),
    K("max-runtime", CK_DURATION, G(max_runtime_ns)),
    K("shutdown-grace", CK_DURATION, G(shutdown_grace_ns)),
    KR("max-retries", CK_INT, G(max_retries), 0, JOB_MAX_RETRIES),
    K("retry-delay", CK_DURATION, G(retry_delay_ns)),
    K("retry-exponential", CK_BOOL, G(retry_exponential)),
    K("retry-max-delay", CK_DURATION, G(retry_max_delay_ns)),
    K("retry-interrupted", CK_BOOL, G(retry_interrupted)),
    K("dependency-timeout", CK_DURATION, G(dependency_timeout_ns)),
    K("default-user", CK_DEFAULT_USER, G(default_user)),
    K("allow-host-jobs-from-labels", CK_BOOL, G(allow_host_jobs_from_labels)),
    KX("job-exec-label-scope", CK_ENUM, G(job_exec_label_scope), scope_words),
    K("slack-webhook", CK_STRING, G(slack_webhook)),
    K("slack-only-on-error", CK_BOOL, G(slack_only_on_error)),
    K("email-from", CK_STRING, G(email_from)),
    K("email-to", CK_STRING, G(email_to)),
    K("email-subject", CK_STRING, G(email_subject)),
    K("mail-only-on-error", CK_BOOL, G(mail_only_on_error)),
    K("smtp-host", CK_STRING, G(smtp_host)),
    KR("smtp-port", CK_INT, G(smtp_port), 1, 65535),
    K("smtp-user", CK_STRING, G(smtp_user)),
    K("smtp-password", CK_STRING, G(smtp_password)),
    K("smtp-tls-skip-verify", CK_BOOL, G(smtp_tls_skip_verify)),
    KX("smtp-tls-policy", CK_ENUM, G(smtp_tls_policy), tls_words),
    K("save-folder", CK_STRING, G(save_folder)),
    K("save-only-on-error", CK_BOOL, G(save_only_on_error)),
    K("save-mode", CK_MODE, G(save_mode)),
    K("save-folder-mode", CK_MODE, G(save_folder_mode)),
    K("notify-on", CK_LIST, G(notify_on)),
    K("notification-cooldown", CK_DURATION, G(notification_cooldown_ns)),
    KR("notification-max-attempts", CK_INT, G(notification_max_attempts), 1, 1000),
    KR("notification-retry-delay", CK_DURATION, G(notification_retry_delay_ns), SEC / 100, 0),
    K("notification-max-age", CK_DURATION, G(notification_max_age_ns)),
    KR("notification-workers", CK_INT, G(notification_workers), 1, 64),
    K("webhook-webhooks", CK_LIST, G(webhook_webhooks)),
    K("webhook-allowed-hosts", CK_STRING, G(webhook_allowed_hosts)),
    K("webhook-default-preset", CK_EMPTY_OK, G(webhook_default_preset)),
    K("enable-web", CK_BOOL, W(enabled)),
    K("web-address", CK_ADDRESS, W(address)),
    K("web-auth-enabled", CK_BOOL, W(auth_enabled)),
    K("web-insecure", CK_BOOL, W(insecure)),
    K("web-username", CK_WEB_USER, 0),
    K("web-password-hash", CK_WEB_HASH, 0),
    K("web-secret-key", CK_STRING, W(secret)),
    KR("web-token-expiry", CK_HOURS, W(token_expiry_ns), 1, 8760),
    KR("web-max-login-attempts", CK_INT, W(max_login_attempts), 1, 100),
    K("web-trusted-proxies", CK_CIDRS, W(trusted_proxies)),
    IGNORED("enable-pprof", ""),
    IGNORED("pprof-address", ""),
    IGNORED("enable-strict-validation", " (ofelia always validates)"),
    IGNORED("webhook-allow-remote-presets",
            " (remote presets are not fetched; give the preset file's path)"),
    IGNORED("webhook-trusted-preset-sources", " (remote presets are not fetched)"),
    IGNORED("webhook-preset-cache-ttl", " (remote presets are not fetched)"),
    IGNORED("webhook-preset-cache-dir", " (remote presets are not fetched)"),
    IGNORED("restore-history", " (history is kept in the database)"),
    IGNORED("restore-history-max-age", " (see history-max-age)"),
    {NULL, 0, 0, 0, 0, NULL},
};

const struct config_key config_docker_keys[] = {
    K("host", CK_DOCKER_HOST, D(host)),
    K("poll-interval", CK_DURATION, D(poll_interval_ns)),
    K("docker-poll-interval", CK_DURATION, D(poll_interval_ns)),
    K("events", CK_BOOL, D(events)),
    K("include-stopped", CK_BOOL, D(include_stopped)),
    K("filters", CK_FILTERS, D(filters)),
    IGNORED("config-poll-interval", ""),
    IGNORED("polling-fallback", " (see poll-interval)"),
    IGNORED("startup-retry-count", ""),
    IGNORED("startup-retry-interval", ""),
    IGNORED("no-poll", " (set poll-interval: 0)"),
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct config_key auth_keys[] = {
    K("enabled", CK_BOOL, W(auth_enabled)),
    K("secret", CK_STRING, W(secret)),
    KR("token-expiry", CK_DURATION, W(token_expiry_ns), SEC, 0),
    K("max-session-age", CK_DURATION, W(max_session_age_ns)),
    KR("max-login-attempts", CK_INT, W(max_login_attempts), 1, 100),
    K("users", CK_USERS, W(users)),
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct config_key cors_keys[] = {
    K("allowed-origins", CK_LIST, W(cors_origins)),
    K("allowed-methods", CK_LIST, W(cors_methods)),
    K("allowed-headers", CK_LIST, W(cors_headers)),
    KR("max-age", CK_INT, W(cors_max_age), 0, 1000000000),
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct config_key rate_keys[] = {
    KR("requests-per-minute", CK_INT, W(rate_limit), 0, 1000000000),
    KR("burst", CK_INT, W(rate_burst), 1, 1000000000),
    {NULL, 0, 0, 0, 0, NULL},
};

const struct config_key config_web_keys[] = {
    K("enabled", CK_BOOL, W(enabled)),
    K("address", CK_ADDRESS, W(address)),
    K("insecure", CK_BOOL, W(insecure)),
    KX("auth", CK_MAP, 0, auth_keys),
    K("metrics-auth", CK_BOOL, W(metrics_auth)),
    KX("cors", CK_MAP, 0, cors_keys),
    KX("rate-limit", CK_MAP, 0, rate_keys),
    K("trusted-proxies", CK_CIDRS, W(trusted_proxies)),
    K("allowed-hosts", CK_LIST, W(allowed_hosts)),
    KR("max-body", CK_BYTES, W(max_body_bytes), 1, MAX_BYTES),
    {NULL, 0, 0, 0, 0, NULL},
};

/* cluster: high availability on etcd (docs/cluster.md). */
const struct config_key config_cluster_keys[] = {
    K("etcd-endpoints", CK_URLS, C(etcd_endpoints)),
    K("name", CK_NAME, C(name)),
    K("node", CK_NAME, C(node)),
    KR("lease-ttl", CK_DURATION, C(lease_ttl_ns), 2 * SEC, 0),
    K("etcd-ca", CK_STRING, C(etcd_ca)),
    K("etcd-cert", CK_STRING, C(etcd_cert)),
    K("etcd-key", CK_STRING, C(etcd_key)),
    K("etcd-username", CK_STRING, C(etcd_username)),
    K("etcd-password", CK_STRING, C(etcd_password)),
    K("secret", CK_STRING, C(secret)),
    K("advertise-address", CK_STRING, C(advertise_address)),
    KR("claim-retention", CK_DURATION, C(claim_retention_ns), 60 * SEC, 0),
    K("claim-ahead", CK_DURATION, C(claim_ahead_ns)),
    KR("replication-interval", CK_DURATION, C(replication_interval_ns), SEC / 10, 0),
    {NULL, 0, 0, 0, 0, NULL},
};

/* A web user's keys; offsets are into struct config_user (yaml.c reads them). */
const struct config_key config_user_keys[] = {
    K("username", CK_STRING, offsetof(struct config_user, username)),
    K("password-hash", CK_STRING, offsetof(struct config_user, password_hash)),
    K("role", CK_STRING, offsetof(struct config_user, role)),
    {NULL, 0, 0, 0, 0, NULL},
};

/* Job keys Ofelia has and this program does not: a warning, not an unknown
 * key, so an Ofelia file reads with an accurate message. */
static const struct {
	const char *key, *hint;
} ofelia_job_keys[] = {
    {"console-height", ""}, {"console-width", ""}, {"annotations", ""},
    {"env-file", ""},       {"env-from", ""},
};

/* ---- messages ---- */

static void vmessage(struct config_ld *ld, struct strv *to, struct config_pos pos, const char *fmt,
                     va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (pos.line > 0)
		strv_push_owned(to, xasprintf("%s:%d:%d: %s", ld->name, pos.line, pos.col, msg));
	else
		strv_push_owned(to, xasprintf("%s: %s", ld->name, msg));
}

void config_error(struct config_ld *ld, struct config_pos pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(ld, &ld->diag->errors, pos, fmt, ap);
	va_end(ap);
}

void config_warning(struct config_ld *ld, struct config_pos pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(ld, &ld->diag->warnings, pos, fmt, ap);
	va_end(ap);
}

/* ---- defaults and lifetime ---- */

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->path = xstrdup("(default)");
	c->format = CONFIG_YAML;

	struct config_global *g = &c->global;
	g->timezone = xstrdup("Local");
	g->log_level = xstrdup("info");
	g->log_format = xstrdup("logfmt");
	g->db_synchronous = xstrdup("normal");
	g->max_concurrent = 0;
	g->max_queue = 1000;
	g->catch_up = JOB_CATCH_UP_ONCE;
	g->catch_up_deadline_ns = HOUR;
	g->history_max_age_ns = 2160 * HOUR;
	g->max_output_bytes = MIB;
	g->max_log_lines = 100000;
	g->max_log_bytes = 32 * MIB;
	g->shutdown_grace_ns = 10 * SEC;
	g->retry_delay_ns = SEC;
	g->retry_exponential = true;
	g->retry_max_delay_ns = 60 * SEC;
	g->dependency_timeout_ns = HOUR;
	g->default_user = xstrdup("root");
	g->job_exec_label_scope = xstrdup("service");
	g->smtp_port = 587;
	g->notification_max_attempts = 10;
	g->notification_max_age_ns = 24 * HOUR;
	g->notification_retry_delay_ns = 5 * SEC;
	g->notification_workers = 4;
	g->webhook_allowed_hosts = xstrdup("*");
	g->webhook_default_preset = xstrdup("json-post");

	c->docker.poll_interval_ns = 10 * SEC;
	c->docker.events = true;

	struct config_web *w = &c->web;
	w->address = xstrdup("127.0.0.1:8080");
	w->token_expiry_ns = 24 * HOUR;
	w->max_session_age_ns = 7 * 24 * HOUR;
	w->max_login_attempts = 5;
	w->cors_max_age = 86400;
	w->rate_limit = 100;
	w->rate_burst = 10;
	w->max_body_bytes = MIB;

	struct config_cluster *cl = &c->cluster;
	cl->name = xstrdup("ofelia");
	cl->lease_ttl_ns = 10 * SEC;
	cl->claim_retention_ns = 24 * HOUR;
	cl->claim_ahead_ns = SEC / 5;
	cl->replication_interval_ns = SEC;
}

void config_fini(struct config *c)
{
	struct config_global *g = &c->global;
	char *strings[] = {
	    c->path,
	    g->timezone,
	    g->log_level,
	    g->log_format,
	    g->db_path,
	    g->db_synchronous,
	    g->default_user,
	    g->job_exec_label_scope,
	    g->slack_webhook,
	    g->email_from,
	    g->email_to,
	    g->email_subject,
	    g->smtp_host,
	    g->smtp_user,
	    g->smtp_password,
	    g->save_folder,
	    c->docker.host,
	    c->web.address,
	    c->web.secret,
	    g->smtp_tls_policy,
	    g->save_mode,
	    g->save_folder_mode,
	    g->webhook_allowed_hosts,
	    g->webhook_default_preset,
	    c->cluster.name,
	    c->cluster.node,
	    c->cluster.etcd_ca,
	    c->cluster.etcd_cert,
	    c->cluster.etcd_key,
	    c->cluster.etcd_username,
	    c->cluster.etcd_password,
	    c->cluster.secret,
	    c->cluster.advertise_address,
	};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
	strv_free(&g->notify_on);
	strv_free(&g->webhook_webhooks);
	config_webhooks_free(c);
	strv_free(&c->docker.filters);
	strv_free(&c->cluster.etcd_endpoints);
	for (size_t i = 0; i < c->web.nusers; i++) {
		free(c->web.users[i].username);
		free(c->web.users[i].password_hash);
		free(c->web.users[i].role);
	}
	free(c->web.users);
	strv_free(&c->web.cors_origins);
	strv_free(&c->web.cors_methods);
	strv_free(&c->web.cors_headers);
	strv_free(&c->web.trusted_proxies);
	strv_free(&c->web.allowed_hosts);
	for (size_t i = 0; i < c->njobs; i++)
		job_free(c->jobs[i]);
	free(c->jobs);
	memset(c, 0, sizeof *c);
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	config_fini(c);
	free(c);
}

void config_diag_free(struct config_diag *d)
{
	if (d == NULL)
		return;
	strv_free(&d->errors);
	strv_free(&d->warnings);
}

/* ---- key names ---- */

const struct config_key *config_key_find(const struct config_key *table, const char *key)
{
	char want[64], have[64];
	if (strlen(key) >= sizeof want)
		return NULL;
	words_normalize(key, want, sizeof want);
	for (const struct config_key *k = table; k->key; k++) {
		words_normalize(k->key, have, sizeof have);
		if (strcmp(want, have) == 0)
			return k;
	}
	return NULL;
}

void config_key_unknown(struct config_ld *ld, const struct config_key *table, const char *where,
                        const char *key, struct config_pos pos)
{
	const char *words[128];
	size_t n = 0;
	for (const struct config_key *k = table; k->key && n < 128; k++)
		if (k->kind != CK_IGNORED)
			words[n++] = k->key;
	const char *near = words_nearest(key, words, n);
	if (near)
		config_warning(ld, pos, "%s: unknown key \"%s\" (did you mean \"%s\"?)", where, key,
		               near);
	else if (strncasecmp(key, "webhook", 7) == 0)
		config_warning(ld, pos, "%s: key \"%s\" is not supported (ignored)", where, key);
	else
		config_warning(ld, pos, "%s: unknown key \"%s\"", where, key);
}

struct config_claim {
	size_t offset;
	enum config_kind kind;
	const char *key;
	struct config_pos pos;
};

int config_key_claim(struct config_ld *ld, const struct config_key *k, const char *where,
                     const char *key, struct config_pos pos)
{
	if (k->kind == CK_IGNORED || k->kind == CK_MAP)
		return 0;
	for (size_t i = 0; i < ld->nclaims; i++) {
		const struct config_claim *cl = &ld->claims[i];
		/* Offset 0 (config.path, never a setting) marks the web user keys,
		 * which fill the loader, not the config. */
		if (k->offset ? cl->offset == k->offset : cl->kind == k->kind) {
			config_error(ld, pos, "%s: \"%s\" sets what \"%s\" at line %d already set",
			             where, key, cl->key, cl->pos.line);
			return -1;
		}
	}
	ld->claims = xreallocarray(ld->claims, ld->nclaims + 1, sizeof *ld->claims);
	ld->claims[ld->nclaims++] = (struct config_claim){k->offset, k->kind, k->key, pos};
	return 0;
}

/* ---- values ---- */

#define AT(c, k, type) ((type *)((char *)(c) + (k)->offset))

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || *end || !(isdigit((unsigned char)*s) || *s == '-') || n < lo ||
	    n > hi)
		return -1;
	*out = n;
	return 0;
}

/* parse_bytes reads "1048576", "512KiB", "10 MB": IEC units (K, KiB, M, MiB,
 * G, GiB) are powers of 1024, SI units (KB, MB, GB) powers of 1000. */
static int parse_bytes(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t mul;
	} units[] = {
	    {"", 1},          {"b", 1},           {"k", 1LL << 10},   {"kib", 1LL << 10},
	    {"m", 1LL << 20}, {"mib", 1LL << 20}, {"g", 1LL << 30},   {"gib", 1LL << 30},
	    {"kb", 1000},     {"mb", 1000000},    {"gb", 1000000000},
	};
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcasecmp(end, units[i].unit) == 0) {
			if (errno || n > INT64_MAX / units[i].mul)
				return -1;
			*out = n * units[i].mul;
			return 0;
		}
	return -1;
}

static const char *word_canon(const struct config_word *w, const char *s)
{
	for (; w->word; w++)
		if (strcasecmp(w->word, s) == 0)
			return w->canon;
	return NULL;
}

static void word_list(const struct config_word *w, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (; w->word && used < outlen; w++)
		if (strcmp(w->word, w->canon) == 0)
			used += (size_t)snprintf(out + used, outlen - used, "%s%s",
			                         used ? ", " : "", w->word);
}

/* valid_port reads a port; 0 (any free port, which the log then names)
 * only where zero_ok. */
static bool valid_port(const char *s, bool zero_ok)
{
	int64_t port;
	return *s && parse_int(s, zero_ok ? 0 : 1, 65535, &port) == 0;
}

/* valid_address checks host:port, where host may be empty (all interfaces),
 * a name, an IPv4 address or a bracketed IPv6 address. */
static bool valid_address(const char *s, bool zero_ok)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || !valid_port(colon + 1, zero_ok))
		return false;
	if (s[0] == '[')
		return colon > s + 1 && colon[-1] == ']';
	return memchr(s, ':', (size_t)(colon - s)) == NULL;
}

static bool valid_cidr(const char *s)
{
	char ip[64];
	unsigned char bin[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof ip)
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, ip, bin) != 1)
		return false;
	int64_t bits;
	return slash == NULL || parse_int(slash + 1, 0, family == AF_INET ? 32 : 128, &bits) == 0;
}

static int set_cidrs(struct config_ld *ld, struct strv *list, const char *where, const char *key,
                     const char *value, struct config_pos pos)
{
	char *copy = xstrdup(value), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		size_t n = strlen(tok);
		while (n && isspace((unsigned char)tok[n - 1]))
			tok[--n] = '\0';
		if (n == 0)
			continue;
		if (!valid_cidr(tok)) {
			config_error(ld, pos, "%s: %s: \"%s\" is not an IP address or CIDR", where,
			             key, tok);
			rc = -1;
			continue;
		}
		strv_push(list, tok);
	}
	free(copy);
	return rc;
}

/* valid_url checks http(s)://host:port without a path: an etcd member. */
static bool valid_url(const char *s)
{
	size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
	return skip && valid_address(s + skip, false) && strchr(s + skip, '/') == NULL;
}

static int set_urls(struct config_ld *ld, struct strv *list, const char *where, const char *key,
                    const char *value, struct config_pos pos)
{
	char *copy = xstrdup(value), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!valid_url(tok)) {
			config_error(ld, pos,
			             "%s: %s: \"%s\" is not http://host:port or https://host:port",
			             where, key, tok);
			rc = -1;
			continue;
		}
		strv_push(list, tok);
	}
	free(copy);
	return rc;
}

/* valid_name tells whether s fits in an etcd key and a URL as it is. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789._-") == n;
}

bool config_hash_ok(const char *s)
{
	static const char *const prefixes[] = {"$y$", "$2a$", "$2b$", "$2y$", "$6$", "$5$"};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
			return strlen(s) > strlen(prefixes[i]) + 8;
	return false;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static int set_docker_host(struct config_ld *ld, const struct config_key *k, const char *where,
                           const char *value, struct config_pos pos)
{
	if ((strncmp(value, "unix://", 7) == 0 && value[7] == '/') ||
	    (strncmp(value, "tcp://", 6) == 0 && valid_address(value + 6, false))) {
		set_string(AT(ld->c, k, char *), value);
		return 0;
	}
	config_error(ld, pos, "%s: %s: \"%s\" is not unix:///path or tcp://host:port", where,
	             k->key, value);
	return -1;
}

static int set_number(struct config_ld *ld, const struct config_key *k, const char *where,
                      const char *value, struct config_pos pos)
{
	int64_t n;
	int rc =
	    k->kind == CK_BYTES ? parse_bytes(value, &n) : parse_int(value, k->min, k->max, &n);
	if (rc == 0 && n >= k->min && n <= k->max) {
		if (k->kind == CK_INT)
			*AT(ld->c, k, int) = (int)n;
		else
			*AT(ld->c, k, int64_t) = k->kind == CK_HOURS ? n * HOUR : n;
		return 0;
	}
	config_error(ld, pos, "%s: %s: \"%s\" is not a %s from %lld to %lld", where, k->key, value,
	             k->kind == CK_BYTES ? "size in bytes" : "whole number", (long long)k->min,
	             (long long)k->max);
	return -1;
}

static int set_duration(struct config_ld *ld, const struct config_key *k, const char *where,
                        const char *value, struct config_pos pos)
{
	char err[128];
	int64_t ns;
	if (duration_parse(value, &ns, err, sizeof err) < 0) {
		config_error(ld, pos, "%s: %s: %s", where, k->key, err);
		return -1;
	}
	if (duration_check(ns, err, sizeof err) < 0) {
		config_error(ld, pos, "%s: %s: \"%s\" is %s", where, k->key, value, err);
		return -1;
	}
	if (ns < k->min) {
		config_error(ld, pos, "%s: %s: \"%s\" is too short", where, k->key, value);
		return -1;
	}
	*AT(ld->c, k, int64_t) = ns;
	return 0;
}

static int set_enum(struct config_ld *ld, const struct config_key *k, const char *where,
                    const char *value, struct config_pos pos)
{
	char choices[256];
	const char *canon = word_canon(k->extra, value);
	if (canon) {
		set_string(AT(ld->c, k, char *), canon);
		return 0;
	}
	word_list(k->extra, choices, sizeof choices);
	config_error(ld, pos, "%s: %s: \"%s\" is not one of %s", where, k->key, value, choices);
	return -1;
}

static int set_checked_string(struct config_ld *ld, const struct config_key *k, const char *where,
                              const char *value, struct config_pos pos)
{
	char err[256];
	switch (k->kind) {
	case CK_TZ:
		if (tz_load(value, err, sizeof err) == NULL) {
			config_error(ld, pos, "%s: %s: %s", where, k->key, err);
			return -1;
		}
		break;
	case CK_NAME:
		if (!valid_name(value)) {
			config_error(
			    ld, pos,
			    "%s: %s: \"%s\" must be 1 to 64 letters, digits, '.', '_' or '-'",
			    where, k->key, value);
			return -1;
		}
		break;
	case CK_ADDRESS:
		if (!valid_address(value, true)) {
			config_error(ld, pos, "%s: %s: \"%s\" is not host:port", where, k->key,
			             value);
			return -1;
		}
		break;
	case CK_WEB_HASH:
		/* Checked in finish_web_user: with web auth off it is unused. */
		set_string(&ld->web_hash, value);
		ld->web_hash_pos = pos;
		return 0;
	case CK_WEB_USER:
		set_string(&ld->web_user, value);
		ld->web_user_pos = pos;
		return 0;
	default:
		break;
	}
	set_string(AT(ld->c, k, char *), value);
	return 0;
}

int config_key_set(struct config_ld *ld, const struct config_key *k, const char *where,
                   const char *value, struct config_pos pos)
{
	bool b;

	if (k->kind == CK_IGNORED) {
		config_warning(ld, pos, "%s: key \"%s\" is not supported (ignored)%s", where,
		               k->key, (const char *)k->extra);
		return 0;
	}
	/* Ofelia's default-user = (empty) means the image's own user. */
	if (*value == '\0' && k->kind == CK_EMPTY_OK) {
		set_string(AT(ld->c, k, char *), "");
		return 0;
	}
	if (*value == '\0')
		return k->kind == CK_DEFAULT_USER ? set_checked_string(ld, k, where, "default", pos)
		                                  : 0;
	switch (k->kind) {
	case CK_BOOL:
		if (job_bool_parse(value, &b) == 0) {
			*AT(ld->c, k, bool) = b;
			return 0;
		}
		config_error(ld, pos, "%s: %s: \"%s\" is not a boolean (true or false)", where,
		             k->key, value);
		return -1;
	case CK_INT:
	case CK_INT64:
	case CK_BYTES:
	case CK_HOURS:
		return set_number(ld, k, where, value, pos);
	case CK_DURATION:
		return set_duration(ld, k, where, value, pos);
	case CK_ENUM:
		return set_enum(ld, k, where, value, pos);
	case CK_CATCH_UP:
		if (strcasecmp(value, "skip") == 0 || strcasecmp(value, "once") == 0) {
			job_catch_up_parse(value, AT(ld->c, k, enum job_catch_up));
			return 0;
		}
		config_error(ld, pos, "%s: %s: \"%s\" is not one of skip, once", where, k->key,
		             value);
		return -1;
	case CK_DOCKER_HOST:
		return set_docker_host(ld, k, where, value, pos);
	case CK_LIST:
		strv_push(AT(ld->c, k, struct strv), value);
		return 0;
	case CK_FILTERS:
		if (value[0] != '=' && strchr(value, '=')) {
			strv_push(AT(ld->c, k, struct strv), value);
			return 0;
		}
		config_error(ld, pos, "%s: %s: \"%s\" is not key=value", where, k->key, value);
		return -1;
	case CK_CIDRS:
		return set_cidrs(ld, AT(ld->c, k, struct strv), where, k->key, value, pos);
	case CK_URLS:
		return set_urls(ld, AT(ld->c, k, struct strv), where, k->key, value, pos);
	case CK_MODE: {
		unsigned mode;
		if (job_mode_parse(value, &mode) == 0) {
			set_string(AT(ld->c, k, char *), value);
			return 0;
		}
		config_error(ld, pos, "%s: %s: \"%s\" is not an octal file mode from 0000 to 0777",
		             where, k->key, value);
		return -1;
	}
	case CK_USERS:
	case CK_MAP:
		config_error(ld, pos, "%s: %s: wants a %s, not a single value", where, k->key,
		             k->kind == CK_MAP ? "mapping" : "list of users");
		return -1;
	default:
		return set_checked_string(ld, k, where, value, pos);
	}
}

void config_user_add(struct config *c, const char *username, const char *hash, const char *role)
{
	struct config_web *w = &c->web;
	w->users = xreallocarray(w->users, w->nusers + 1, sizeof *w->users);
	w->users[w->nusers++] =
	    (struct config_user){xstrdup(username), xstrdup(hash), xstrdup(role)};
}

/* ---- jobs ---- */

const struct job_field *config_job_field(const struct job *j, const char *key, char *warn,
                                         size_t warnlen)
{
	const struct job_field *f = job_field_find(key);
	if (f && job_field_applies(f, j->type))
		return f;
	if (f) {
		snprintf(warn, warnlen, "key \"%s\" does not apply to %s jobs (ignored)", key,
		         job_type_name(j->type));
		return NULL;
	}
	for (size_t i = 0; i < sizeof ofelia_job_keys / sizeof ofelia_job_keys[0]; i++)
		if (strcasecmp(key, ofelia_job_keys[i].key) == 0) {
			snprintf(warn, warnlen, "key \"%s\" is not supported (ignored)%s", key,
			         ofelia_job_keys[i].hint);
			return NULL;
		}
	const char *near = job_field_suggest(key);
	if (near)
		snprintf(warn, warnlen, "unknown key \"%s\" (did you mean \"%s\"?)", key, near);
	else
		snprintf(warn, warnlen, "unknown key \"%s\"", key);
	return NULL;
}

void config_job_note_key(struct config_job_pos *p, const struct job_field *f, struct config_pos pos)
{
	static const size_t links[JOB_LINK_COUNT] = {
	    [JOB_LINK_DEPENDS_ON] = offsetof(struct job, depends_on),
	    [JOB_LINK_ON_SUCCESS] = offsetof(struct job, on_success),
	    [JOB_LINK_ON_FAILURE] = offsetof(struct job, on_failure),
	};
	if (f->offset == offsetof(struct job, schedule))
		p->schedule = pos;
	for (int l = 0; l < JOB_LINK_COUNT; l++)
		if (f->offset == links[l])
			p->links[l] = pos;
}

void config_job_add(struct config_ld *ld, struct job *j, const struct config_job_pos *pos)
{
	struct config *c = ld->c;
	uintptr_t first = (uintptr_t)map_get(&ld->job_names, j->name);
	if (first) {
		config_error(ld, pos->job, "job \"%s\" is defined twice (first at line %d)",
		             j->name, ld->job_pos[first - 1].line);
		job_free(j);
		return;
	}
	map_put(&ld->job_names, j->name, (void *)(uintptr_t)(c->njobs + 1));
	j->origin = JOB_ORIGIN_CONFIG;
	free(j->source);
	j->source = xasprintf("%s:%d", ld->name, pos->job.line);
	c->jobs = xreallocarray(c->jobs, c->njobs + 1, sizeof *c->jobs);
	ld->job_pos = xreallocarray(ld->job_pos, c->njobs + 1, sizeof *ld->job_pos);
	ld->sched_pos = xreallocarray(ld->sched_pos, c->njobs + 1, sizeof *ld->sched_pos);
	ld->link_pos = xreallocarray(ld->link_pos, c->njobs + 1, sizeof *ld->link_pos);
	ld->job_pos[c->njobs] = pos->job;
	ld->sched_pos[c->njobs] = pos->schedule.line ? pos->schedule : pos->job;
	for (int l = 0; l < JOB_LINK_COUNT; l++)
		ld->link_pos[c->njobs][l] = pos->links[l].line ? pos->links[l] : pos->job;
	c->jobs[c->njobs++] = j;
}

int config_job_check(const struct job *j, bool *sched, char *err, size_t errlen)
{
	const char *code = NULL;

	*sched = false;
	if (job_validate(j, &code, err, errlen) < 0) {
		*sched = code && strcmp(code, "INVALID_SCHEDULE") == 0;
		if (*sched) {
			size_t n = strlen(err);
			snprintf(err + n, errlen - n, " [INVALID_SCHEDULE]");
		}
		return -1;
	}
	return 0;
}

/* ---- loading ---- */

/* finish_web_user joins Ofelia's web-username and web-password-hash into an
 * admin user. With web auth off they are unused, as in Ofelia: a bad or
 * lone one is then a warning. */
static void finish_web_user(struct config_ld *ld)
{
	void (*report)(struct config_ld *, struct config_pos, const char *, ...) =
	    ld->c->web.auth_enabled ? config_error : config_warning;
	const char *unused = ld->c->web.auth_enabled ? "" : " (unused: web-auth-enabled is false)";
	if (ld->web_hash && !config_hash_ok(ld->web_hash))
		report(ld, ld->web_hash_pos,
		       "global: web-password-hash: not a crypt(3) hash ($y$, $2b$, $6$ or $5$); "
		       "make one with `ofelia hash-password`%s",
		       unused);
	else if (ld->web_user && ld->web_hash)
		config_user_add(ld->c, ld->web_user, ld->web_hash, "admin");
	else if (ld->web_user)
		report(ld, ld->web_user_pos, "global: web-username needs web-password-hash%s",
		       unused);
	else if (ld->web_hash)
		report(ld, ld->web_hash_pos, "global: web-password-hash needs web-username%s",
		       unused);

	const struct config_web *w = &ld->c->web;
	for (size_t i = 0; i < w->nusers; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(w->users[i].username, w->users[k].username) == 0)
				config_error(ld, (struct config_pos){0, 0},
				             "web: user \"%s\" is configured twice",
				             w->users[i].username);
}

/* check_web finds what would keep the web server from starting. */
static void check_web(struct config_ld *ld)
{
	const struct config_web *w = &ld->c->web;
	if (w->enabled && w->auth_enabled && w->nusers == 0)
		config_error(ld, (struct config_pos){0, 0},
		             "web: auth is enabled but no user is configured (web.auth.users, or "
		             "web-username and web-password-hash in global)");
}

static void check_jobs(struct config_ld *ld)
{
	char err[512];
	bool sched;
	for (size_t i = 0; i < ld->c->njobs; i++)
		if (config_job_check(ld->c->jobs[i], &sched, err, sizeof err) < 0)
			config_error(ld, sched ? ld->sched_pos[i] : ld->job_pos[i], "%s", err);
}

/* check_links finds the names in depends-on, on-success and on-failure
 * that no job of the file has, and loops through them. A name with a dot
 * may be a job from container labels ({service}.{job}), which are known
 * only once discovered: a warning; any other unknown name is an error. */
static void check_links(struct config_ld *ld)
{
	const struct config *c = ld->c;
	char loop[1024];
	size_t holder;
	enum job_link key;

	for (size_t i = 0; i < c->njobs; i++)
		for (int l = 0; l < JOB_LINK_COUNT; l++) {
			const struct strv *v = job_links(c->jobs[i], (enum job_link)l);
			for (size_t k = 0; k < v->n; k++) {
				if (map_get(&ld->job_names, v->v[k]))
					continue;
				if (strchr(v->v[k], '.'))
					config_warning(
					    ld, ld->link_pos[i][l],
					    "job \"%s\": %s: no job \"%s\" in this file; "
					    "a job from container labels is expected",
					    c->jobs[i]->name, job_link_key((enum job_link)l),
					    v->v[k]);
				else
					config_error(ld, ld->link_pos[i][l],
					             "job \"%s\": %s: no job \"%s\" is defined",
					             c->jobs[i]->name,
					             job_link_key((enum job_link)l), v->v[k]);
			}
		}
	if (job_links_cycle(c->jobs, c->njobs, &holder, &key, loop, sizeof loop) < 0)
		config_error(ld, ld->link_pos[holder][key],
		             "job \"%s\": %s: the jobs form a loop: %s (depends-on, on-success "
		             "and on-failure may not lead back to a job)",
		             c->jobs[holder]->name, job_link_key(key), loop);
}

struct placed {
	long long place;
	size_t index;
	char *msg;
};

static int by_place(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;
	if (x->place != y->place)
		return x->place < y->place ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* sort_messages orders the messages added since `from` by line and column,
 * the order a reader fixes them in (the loaders find some only at the end);
 * messages about the whole file go last. */
static void sort_messages(struct strv *list, size_t from, const char *name)
{
	size_t n = list->n - from, skip = strlen(name) + 1;
	if (n < 2)
		return;
	struct placed *v = xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		char *msg = list->v[from + i], *end = msg + skip, *end2;
		long line = strtol(end, &end, 10),
		     col = *end == ':' ? strtol(end + 1, &end2, 10) : 0;
		bool placed = line > 0 && *end == ':';
		v[i] = (struct placed){placed ? line * 100000LL + col : LLONG_MAX, i, msg};
	}
	qsort(v, n, sizeof *v, by_place);
	for (size_t i = 0; i < n; i++)
		list->v[from + i] = v[i].msg;
	free(v);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* detect_format picks by extension, else by content: a section header before
 * any "key:" line means INI. */
static enum config_format detect_format(const char *name, const char *text)
{
	if (has_suffix(name, ".yaml") || has_suffix(name, ".yml"))
		return CONFIG_YAML;
	if (has_suffix(name, ".ini") || has_suffix(name, ".conf") || has_suffix(name, ".cfg"))
		return CONFIG_INI;
	for (const char *line = text; *line;) {
		line += strspn(line, " \t\r");
		size_t n = strcspn(line, "\n");
		size_t colon = strcspn(line, ":\n"), eq = strcspn(line, "=\n");
		if (n > 0 && line[0] != '#' && line[0] != ';') {
			if (line[0] == '[')
				return CONFIG_INI;
			if (colon < n && colon < eq)
				return CONFIG_YAML;
			if (eq < n)
				return CONFIG_INI;
		}
		line += n + (line[n] == '\n');
	}
	return CONFIG_YAML;
}

struct config *config_load_string(const char *text, size_t len, const char *name,
                                  enum config_format format, struct config_diag *diag)
{
	struct config_diag local = {STRV_INIT, STRV_INIT};
	struct config_ld ld = {.name = name, .diag = diag ? diag : &local};
	char *copy = xstrndup(text, len);
	size_t warnings_before = ld.diag->warnings.n;

	ld.errors_before = ld.diag->errors.n;
	map_init(&ld.job_names);
	ld.c = xmalloc(sizeof *ld.c);
	config_defaults(ld.c);
	free(ld.c->path);
	ld.c->path = xstrdup(name);
	if (strlen(copy) != len) {
		config_error(&ld, (struct config_pos){0, 0}, "the file contains a NUL byte");
	} else {
		ld.c->format = format == CONFIG_AUTO ? detect_format(name, copy) : format;
		if (ld.c->format == CONFIG_INI)
			config_ini_load(&ld, copy, len);
		else
			config_yaml_load(&ld, copy, len);
		finish_web_user(&ld);
		check_web(&ld);
		check_jobs(&ld);
		check_links(&ld);
		config_webhooks_finish(&ld);
	}
	free(copy);
	free(ld.claims);
	free(ld.web_user);
	free(ld.web_hash);
	free(ld.job_pos);
	free(ld.sched_pos);
	free(ld.link_pos);
	map_fini(&ld.job_names);

	sort_messages(&ld.diag->errors, ld.errors_before, name);
	sort_messages(&ld.diag->warnings, warnings_before, name);
	bool failed = ld.diag->errors.n > ld.errors_before;
	config_diag_free(&local);
	if (failed) {
		config_free(ld.c);
		return NULL;
	}
	return ld.c;
}

struct config *config_load_file(const char *path, struct config_diag *diag)
{
	struct config_diag local = {STRV_INIT, STRV_INIT};
	struct config_diag *d = diag ? diag : &local;
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0;
	struct config *c = NULL;

	if (f == NULL) {
		strv_push_owned(&d->errors,
		                xasprintf("%s: cannot open: %s", path, strerror(errno)));
		goto done;
	}
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			data = xrealloc(data, cap);
		}
		size_t n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0 || len > MAX_FILE)
			break;
	}
	if (ferror(f))
		strv_push_owned(&d->errors,
		                xasprintf("%s: cannot read: %s", path, strerror(errno)));
	else if (len > MAX_FILE)
		strv_push_owned(&d->errors, xasprintf("%s: larger than 4 MiB", path));
	else
		c = config_load_string(data ? data : "", len, path, CONFIG_AUTO, d);
	fclose(f);
done:
	free(data);
	config_diag_free(&local);
	return c;
}

/* ---- settings from flags and variables ---- */

/* set_in is config_set on one section's table. */
static int set_in(struct config *c, const struct config_key *table, const char *where,
                  const char *key, const char *value, const char *origin, struct config_diag *diag)
{
	struct config_ld ld = {.name = origin, .c = c, .diag = diag};
	const struct config_key *k = config_key_find(table, key);
	size_t before = diag->errors.n;

	if (k == NULL || k->kind == CK_WEB_USER || k->kind == CK_WEB_HASH) {
		config_error(&ld, (struct config_pos){0, 0}, "%s: no setting \"%s\"", where, key);
		return -1;
	}
	/* A list from a flag replaces the file's (-f adds: the caller says). */
	config_key_set(&ld, k, where, value, (struct config_pos){0, 0});
	return diag->errors.n > before ? -1 : 0;
}

int config_set(struct config *c, bool docker, const char *key, const char *value,
               const char *origin, struct config_diag *diag)
{
	return set_in(c, docker ? config_docker_keys : config_global_keys,
	              docker ? "docker" : "global", key, value, origin, diag);
}

int config_set_cluster(struct config *c, const char *key, const char *value, const char *origin,
                       struct config_diag *diag)
{
	return set_in(c, config_cluster_keys, "cluster", key, value, origin, diag);
}

bool config_cluster_on(const struct config *c)
{
	return c->cluster.etcd_endpoints.n > 0;
}

/* Below this the shared secret is too easy to guess. */
#define CLUSTER_SECRET_MIN 16

/* check_cluster finds what would keep a cluster node from starting. */
static void check_cluster(struct config_ld *ld)
{
	const struct config_cluster *cl = &ld->c->cluster;
	const struct config_pos none = {0, 0};
	if (!config_cluster_on(ld->c))
		return;
	if (cl->secret == NULL || strlen(cl->secret) < CLUSTER_SECRET_MIN)
		config_error(ld, none,
		             "cluster: secret must be set, the same on every node, at least %d "
		             "characters (it authenticates the nodes to each other)",
		             CLUSTER_SECRET_MIN);
	if (!ld->c->web.enabled)
		config_error(ld, none,
		             "cluster: the nodes pull each other's history through the web server: "
		             "enable it (web.enabled, enable-web)");
	const char *addr = ld->c->web.address ? ld->c->web.address : "";
	bool wildcard =
	    addr[0] == ':' || strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0;
	if (wildcard && (cl->advertise_address == NULL || *cl->advertise_address == '\0'))
		config_error(ld, none,
		             "cluster: web.address %s listens on every interface: set "
		             "advertise-address to the URL the other nodes reach this one at",
		             addr);
	if (cl->advertise_address && *cl->advertise_address &&
	    strncmp(cl->advertise_address, "http://", 7) != 0 &&
	    strncmp(cl->advertise_address, "https://", 8) != 0)
		config_error(ld, none,
		             "cluster: advertise-address \"%s\" is not an http:// or "
		             "https:// URL",
		             cl->advertise_address);
	if ((cl->etcd_cert == NULL) != (cl->etcd_key == NULL))
		config_error(ld, none, "cluster: etcd-cert and etcd-key go together");
	if ((cl->etcd_username == NULL) != (cl->etcd_password == NULL))
		config_error(ld, none, "cluster: etcd-username and etcd-password go together");
	if (cl->claim_ahead_ns > cl->lease_ttl_ns)
		config_error(ld, none, "cluster: claim-ahead must not be longer than lease-ttl");
}

int config_add_web_user(struct config *c, const char *username, const char *hash,
                        const char *origin, struct config_diag *diag)
{
	struct config_ld ld = {.name = origin, .c = c, .diag = diag};
	if (username == NULL || hash == NULL || *username == '\0' || *hash == '\0') {
		config_error(&ld, (struct config_pos){0, 0},
		             "web-username and web-password-hash go together");
		return -1;
	}
	if (!config_hash_ok(hash)) {
		config_error(&ld, (struct config_pos){0, 0},
		             "web-password-hash: not a crypt(3) hash ($y$, $2b$, $6$ or $5$); make "
		             "one with `ofelia hash-password`");
		return -1;
	}
	for (size_t i = 0; i < c->web.nusers; i++)
		if (strcmp(c->web.users[i].username, username) == 0) {
			config_error(&ld, (struct config_pos){0, 0},
			             "web: user \"%s\" is configured twice", username);
			return -1;
		}
	config_user_add(c, username, hash, "admin");
	return 0;
}

int config_check(struct config *c, struct config_diag *diag)
{
	struct config_ld ld = {.name = c->path, .c = c, .diag = diag};
	size_t before = diag->errors.n;
	check_web(&ld);
	check_cluster(&ld);
	return diag->errors.n > before ? -1 : 0;
}
