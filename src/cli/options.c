/* The options daemon, validate, run and health share: one table of flags
 * and OFELIA_* variables (mcuadros' and netresearch's daemon flags with
 * their meaning, or accepted with a warning where they have none here),
 * which config file they name, and how they go over the config file's
 * settings. validate reads the same table so it catches what would stop the
 * daemon. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_int.h"
#include "util/log.h"
#include "util/xalloc.h"

#define NOOP_PPROF " (ofelia has no pprof server)"
#define NOOP_STATE " (API changes are kept in the database)"
#define NOOP_RETRY " (label discovery retries the engine in the background, without limit)"

/* Searched in order when no config is named: Ofelia's image's default
 * config, then mcuadros' daemon's own default. */
static const char *const default_configs[] = {"/etc/ofelia/config.ini", "/etc/ofelia.conf"};

/* The cluster's keys: flag --cluster-KEY, variable OFELIA_CLUSTER_KEY. */
static const struct {
	const char *key, *flag, *env, *help;
} cluster_keys[CLI_CLUSTER_KEYS] = {
    {"etcd-endpoints", "cluster-etcd-endpoints", "OFELIA_CLUSTER_ETCD_ENDPOINTS",
     "etcd members, comma-separated http(s)://host:port: runs a cluster"},
    {"name", "cluster-name", "OFELIA_CLUSTER_NAME", "the cluster's key prefix in etcd"},
    {"node", "cluster-node", "OFELIA_CLUSTER_NODE", "this node's name (default: host name)"},
    {"lease-ttl", "cluster-lease-ttl", "OFELIA_CLUSTER_LEASE_TTL",
     "leader lease, e.g. 10s (failover within about twice this)"},
    {"etcd-ca", "cluster-etcd-ca", "OFELIA_CLUSTER_ETCD_CA", "CA bundle for TLS to etcd"},
    {"etcd-cert", "cluster-etcd-cert", "OFELIA_CLUSTER_ETCD_CERT", "client certificate for etcd"},
    {"etcd-key", "cluster-etcd-key", "OFELIA_CLUSTER_ETCD_KEY", "its private key"},
    {"etcd-username", "cluster-etcd-username", "OFELIA_CLUSTER_ETCD_USERNAME", "etcd user"},
    {"etcd-password", "cluster-etcd-password", "OFELIA_CLUSTER_ETCD_PASSWORD",
     "etcd password (prefer the variable to the flag)"},
    {"secret", "cluster-secret", "OFELIA_CLUSTER_SECRET",
     "shared secret of the nodes' replication (prefer the variable)"},
    {"advertise-address", "cluster-advertise-address", "OFELIA_CLUSTER_ADVERTISE_ADDRESS",
     "URL the other nodes reach this node's API at"},
    {"claim-retention", "cluster-claim-retention", "OFELIA_CLUSTER_CLAIM_RETENTION",
     "how long slot claims stay in etcd"},
    {"claim-ahead", "cluster-claim-ahead", "OFELIA_CLUSTER_CLAIM_AHEAD",
     "how long before its time a slot is claimed"},
    {"replication-interval", "cluster-replication-interval", "OFELIA_CLUSTER_REPLICATION_INTERVAL",
     "how often nodes pull each other's history"},
};

void cli_settings_init(struct cli_settings *s)
{
	memset(s, 0, sizeof *s);
	s->docker = s->docker_events = s->docker_no_poll = s->docker_include_stopped = -1;
	s->enable_web = s->web_auth_enabled = s->web_insecure = s->enable_pprof = -1;
	s->init_db = -1;
}

void cli_settings_fini(struct cli_settings *s)
{
	char *strings[] = {
	    s->config,         s->db,
	    s->log_level,      s->log_format,
	    s->poll_interval,  s->web_address,
	    s->web_username,   s->web_password_hash,
	    s->web_secret_key, s->web_token_expiry,
	    s->web_attempts,   s->pprof_address,
	    s->state_file,     s->retry_count,
	    s->retry_interval, s->shutdown_grace,
	};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
	for (size_t i = 0; i < CLI_CLUSTER_KEYS; i++)
		free(s->cluster[i]);
	strv_free(&s->docker_filters);
	strv_free(&s->web_trusted_proxies);
	strv_free(&s->notes);
	memset(s, 0, sizeof *s);
}

size_t cli_settings_options(struct cli_settings *s, struct cli_opt *out)
{
	const struct cli_opt table[] = {
	    {"config", 'c', "OFELIA_CONFIG", CLI_STRING, &s->config,
	     "config file (Ofelia INI or YAML); default: /etc/ofelia/config.ini if it exists", NULL,
	     &s->notes},
	    {"db", 0, "OFELIA_DB", CLI_STRING, &s->db, "SQLite database file", NULL, &s->notes},
	    {"init-db", 0, "OFELIA_INIT_DB", CLI_BOOL, &s->init_db,
	     "create an empty database even where one was deleted (daemon, run)", NULL, &s->notes},
	    {"log-level", 0, "OFELIA_LOG_LEVEL", CLI_STRING, &s->log_level,
	     "debug, info, warn or error", NULL, &s->notes},
	    {"log-format", 0, "OFELIA_LOG_FORMAT", CLI_STRING, &s->log_format, "logfmt or json",
	     NULL, &s->notes},
	    {"docker", 'd', NULL, CLI_BOOL, &s->docker,
	     "read jobs from container labels (always on when an engine is reachable)", NULL,
	     &s->notes},
	    {"docker-filter", 'f', "OFELIA_DOCKER_FILTER", CLI_LIST, &s->docker_filters,
	     "only containers matching KEY=VALUE, as docker ps --filter (repeatable)", NULL,
	     &s->notes},
	    {"docker-poll-interval", 0, "OFELIA_POLL_INTERVAL", CLI_STRING, &s->poll_interval,
	     "how often labels are listed again, e.g. 10s; 0 = never", NULL, &s->notes},
	    {"docker-events", 0, "OFELIA_DOCKER_EVENTS", CLI_BOOL, &s->docker_events,
	     "follow the engine's events for label changes", NULL, &s->notes},
	    {"docker-no-poll", 0, "OFELIA_DOCKER_NO_POLL", CLI_BOOL, &s->docker_no_poll,
	     "do not poll for label changes (events only)", NULL, &s->notes},
	    {"docker-include-stopped", 0, "OFELIA_DOCKER_INCLUDE_STOPPED", CLI_BOOL,
	     &s->docker_include_stopped, "read run-job labels of stopped containers too", NULL,
	     &s->notes},
	    {"shutdown-grace", 0, "OFELIA_SHUTDOWN_GRACE", CLI_STRING, &s->shutdown_grace,
	     "how long running jobs get at SIGTERM before they are stopped", NULL, &s->notes},
	    {"enable-web", 0, "OFELIA_ENABLE_WEB", CLI_BOOL, &s->enable_web,
	     "serve the API and web UI", NULL, &s->notes},
	    {"web-address", 0, "OFELIA_WEB_ADDRESS", CLI_STRING, &s->web_address,
	     "address to listen on (default 127.0.0.1:8080)", NULL, &s->notes},
	    {"web-auth-enabled", 0, "OFELIA_WEB_AUTH_ENABLED", CLI_BOOL, &s->web_auth_enabled,
	     "require a login for the API", NULL, &s->notes},
	    {"web-insecure", 0, "OFELIA_WEB_INSECURE", CLI_BOOL, &s->web_insecure,
	     "without auth: allow changes through the API and a non-loopback address", NULL,
	     &s->notes},
	    {"web-username", 0, "OFELIA_WEB_USERNAME", CLI_STRING, &s->web_username,
	     "an admin user's name", NULL, &s->notes},
	    {"web-password-hash", 0, "OFELIA_WEB_PASSWORD_HASH", CLI_STRING, &s->web_password_hash,
	     "that user's password hash (ofelia hash-password)", NULL, &s->notes},
	    {"web-secret-key", 0, "OFELIA_WEB_SECRET_KEY", CLI_STRING, &s->web_secret_key,
	     "JWT signing key (default: generated once, kept in the database)", NULL, &s->notes},
	    {"web-token-expiry", 0, "OFELIA_WEB_TOKEN_EXPIRY", CLI_STRING, &s->web_token_expiry,
	     "token lifetime in hours", NULL, &s->notes},
	    {"web-max-login-attempts", 0, "OFELIA_WEB_MAX_LOGIN_ATTEMPTS", CLI_STRING,
	     &s->web_attempts, "failed logins per client per minute", NULL, &s->notes},
	    {"web-trusted-proxies", 0, "OFELIA_WEB_TRUSTED_PROXIES", CLI_LIST,
	     &s->web_trusted_proxies, "CIDRs whose X-Forwarded-For is believed", NULL, &s->notes},
	    {"enable-pprof", 0, "OFELIA_ENABLE_PPROF", CLI_BOOL, &s->enable_pprof,
	     "accepted for netresearch/ofelia; no effect", NOOP_PPROF, &s->notes},
	    {"pprof-address", 0, "OFELIA_PPROF_ADDRESS", CLI_STRING, &s->pprof_address,
	     "accepted for netresearch/ofelia; no effect", NOOP_PPROF, &s->notes},
	    {"state-file", 0, "OFELIA_STATE_FILE", CLI_STRING, &s->state_file,
	     "accepted for netresearch/ofelia; no effect", NOOP_STATE, &s->notes},
	    {"docker-startup-retry-count", 0, "OFELIA_DOCKER_STARTUP_RETRY_COUNT", CLI_STRING,
	     &s->retry_count, "accepted for netresearch/ofelia; no effect", NOOP_RETRY, &s->notes},
	    {"docker-startup-retry-interval", 0, "OFELIA_DOCKER_STARTUP_RETRY_INTERVAL", CLI_STRING,
	     &s->retry_interval, "accepted for netresearch/ofelia; no effect", NOOP_RETRY,
	     &s->notes},
	};
	_Static_assert(sizeof table / sizeof table[0] + CLI_CLUSTER_KEYS <= CLI_SETTINGS_MAX,
	               "CLI_SETTINGS_MAX");
	size_t n = sizeof table / sizeof table[0];
	memcpy(out, table, sizeof table);
	for (size_t i = 0; i < CLI_CLUSTER_KEYS; i++)
		out[n++] = (struct cli_opt){cluster_keys[i].flag,
		                            0,
		                            cluster_keys[i].env,
		                            CLI_STRING,
		                            &s->cluster[i],
		                            cluster_keys[i].help,
		                            NULL,
		                            &s->notes};
	return n;
}

/* ---- which config ---- */

char *cli_config_path(const struct cli_settings *s, bool *label_only)
{
	*label_only = false;
	if (s->config && *s->config) {
		/* mcuadros: with --docker a missing config file is no error,
		 * the labels are read all the same. */
		if (s->docker == 1 && strcmp(s->config, CLI_BUILTIN_CONFIG) != 0 &&
		    access(s->config, F_OK) < 0 && errno == ENOENT) {
			*label_only = true;
			return NULL;
		}
		return xstrdup(s->config);
	}
	for (size_t i = 0; i < sizeof default_configs / sizeof default_configs[0]; i++)
		if (access(default_configs[i], F_OK) == 0)
			return xstrdup(default_configs[i]);
	*label_only = true;
	return NULL;
}

const char *cli_no_config_note(const struct cli_settings *s)
{
	if (s->config && *s->config)
		return "config file not found; running jobs from Docker labels only (--docker)";
	return "no config file (none of /etc/ofelia/config.ini, /etc/ofelia.conf exists, and "
	       "no --config): running jobs from Docker labels only";
}

/* ---- flags and variables over the file ---- */

static void set(struct config *c, bool docker, const char *key, const char *value,
                const char *origin, struct config_diag *diag)
{
	if (value)
		config_set(c, docker, key, value, origin, diag);
}

static void set_bool(struct config *c, bool docker, const char *key, int value, const char *origin,
                     struct config_diag *diag)
{
	if (value >= 0)
		config_set(c, docker, key, value ? "true" : "false", origin, diag);
}

int cli_apply_settings(const struct cli_settings *s, struct config *c, struct config_diag *diag)
{
	size_t before = diag->errors.n;

	set(c, false, "log-level", s->log_level, "--log-level", diag);
	set(c, false, "log-format", s->log_format, "--log-format", diag);
	set(c, false, "shutdown-grace", s->shutdown_grace, "--shutdown-grace", diag);
	set_bool(c, false, "enable-web", s->enable_web, "--enable-web", diag);
	set(c, false, "web-address", s->web_address, "--web-address", diag);
	set_bool(c, false, "web-auth-enabled", s->web_auth_enabled, "--web-auth-enabled", diag);
	set_bool(c, false, "web-insecure", s->web_insecure, "--web-insecure", diag);
	set(c, false, "web-secret-key", s->web_secret_key, "--web-secret-key", diag);
	set(c, false, "web-token-expiry", s->web_token_expiry, "--web-token-expiry", diag);
	set(c, false, "web-max-login-attempts", s->web_attempts, "--web-max-login-attempts", diag);
	if (s->web_trusted_proxies.n) {
		strv_free(&c->web.trusted_proxies);
		for (size_t i = 0; i < s->web_trusted_proxies.n; i++)
			set(c, false, "web-trusted-proxies", s->web_trusted_proxies.v[i],
			    "--web-trusted-proxies", diag);
	}
	if (s->web_username || s->web_password_hash)
		config_add_web_user(c, s->web_username, s->web_password_hash,
		                    "--web-username/--web-password-hash", diag);

	set(c, true, "poll-interval", s->poll_interval, "--docker-poll-interval", diag);
	if (s->docker_no_poll == 1)
		c->docker.poll_interval_ns = 0;
	set_bool(c, true, "events", s->docker_events, "--docker-events", diag);
	set_bool(c, true, "include-stopped", s->docker_include_stopped, "--docker-include-stopped",
	         diag);
	/* -f adds to the file's filters, as mcuadros adds them to its own. */
	for (size_t i = 0; i < s->docker_filters.n; i++)
		set(c, true, "filters", s->docker_filters.v[i], "--docker-filter", diag);

	for (size_t i = 0; i < CLI_CLUSTER_KEYS; i++) {
		char origin[64];
		if (s->cluster[i] == NULL)
			continue;
		snprintf(origin, sizeof origin, "--%s", cluster_keys[i].flag);
		/* The endpoints from a flag replace the file's. */
		if (i == 0)
			strv_free(&c->cluster.etcd_endpoints);
		config_set_cluster(c, cluster_keys[i].key, s->cluster[i], origin, diag);
	}

	const char *jwt = getenv("OFELIA_JWT_SECRET");
	if ((c->web.secret == NULL || *c->web.secret == '\0') && jwt && *jwt) {
		free(c->web.secret);
		c->web.secret = xstrdup(jwt);
	}
	config_check(c, diag);
	return diag->errors.n > before ? -1 : 0;
}

/* ---- messages ---- */

void cli_report(const struct strv *notes, const struct config_diag *diag, bool as_log)
{
	for (size_t i = 0; notes && i < notes->n; i++)
		if (as_log)
			log_kv(LOG_WARN, notes->v[i], NULL);
		else
			fprintf(stderr, "warning: %s\n", notes->v[i]);
	for (size_t i = 0; i < diag->warnings.n; i++)
		if (as_log)
			log_kv(LOG_WARN, diag->warnings.v[i], NULL);
		else
			fprintf(stderr, "warning: %s\n", diag->warnings.v[i]);
	for (size_t i = 0; i < diag->errors.n; i++)
		if (as_log)
			log_kv(LOG_ERROR, diag->errors.v[i], NULL);
		else
			fprintf(stderr, "error: %s\n", diag->errors.v[i]);
}

bool cli_wants_json(const struct cli_settings *s, const struct config *c)
{
	const char *f = s->log_format ? s->log_format : c ? c->global.log_format : NULL;
	return f && strcmp(f, "json") == 0;
}
