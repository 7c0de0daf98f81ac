/* config: read ofelia.yaml, or an Ofelia INI file unchanged, into settings
 * and job definitions; and turn a container's Docker labels into job
 * definitions. Parsing only: nothing here acts on the settings. Every error
 * names its place: "ofelia.yaml:12:5: job "backup": bad schedule ...". */
#ifndef OFELIA_CONFIG_CONFIG_H
#define OFELIA_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job/job.h"
#include "util/strv.h"

enum config_format { CONFIG_AUTO, CONFIG_YAML, CONFIG_INI };

struct config_user {
	char *username;
	char *password_hash; /* crypt(3) hash: yescrypt ($y$), bcrypt ($2b$), sha512 ($6$) */
	char *role;          /* "admin" or "viewer" */
};

/* Scheduler, store and logging settings ("global:" in YAML, [global] in INI). */
struct config_global {
	char *timezone;       /* zone schedules run in; NULL = "Local", as Ofelia */
	char *log_level;      /* debug, info, warn, error */
	char *log_format;     /* logfmt, json */
	char *db_path;        /* NULL = the default location (cli decides) */
	char *db_synchronous; /* "normal" (survives a killed process) or "full" (power loss) */
	int max_concurrent;   /* executions at once, 0 = no limit; more wait in a queue */
	int max_queue;        /* queued executions beyond which a slot is skipped */
	enum job_catch_up catch_up;   /* default for jobs: ONCE */
	int64_t catch_up_deadline_ns; /* a missed slot older than this expires */
	int history_limit;            /* default per-job executions kept; 0 = no limit */
	int64_t history_max_age_ns;   /* executions older than this are pruned; 0 = never */
	int64_t max_output_bytes;     /* `output` kept per execution */
	int64_t max_log_lines;        /* log lines stored per execution */
	int64_t max_log_bytes;        /* bytes of log lines stored per execution */
	int64_t max_runtime_ns;       /* default max-runtime; 0 = no limit */
	int64_t shutdown_grace_ns;    /* how long running executions get at SIGTERM */
	char *default_user;           /* exec/run/service user when a job sets none */
	bool allow_host_jobs_from_labels;
	char *job_exec_label_scope; /* "service", "container", "container-service" */

	/* retries and workflows: the defaults of every job (docs/scheduling.md) */
	int max_retries;               /* 0 = none */
	int64_t retry_delay_ns;        /* the first retry's delay (1s) */
	bool retry_exponential;        /* doubled each retry (true) */
	int64_t retry_max_delay_ns;    /* bound of an exponential delay (1m) */
	bool retry_interrupted;        /* retry interrupted attempts too (false) */
	int64_t dependency_timeout_ns; /* how long a slot waits for depends-on (1h) */

	/* notifications (src/notify; docs/notifications.md): the defaults of
	 * every job, whose own keys win one by one */
	char *slack_webhook;
	bool slack_only_on_error;
	char *email_from;
	char *email_to;
	char *email_subject;
	bool mail_only_on_error;
	char *smtp_host;
	int smtp_port;
	char *smtp_user;
	char *smtp_password;
	bool smtp_tls_skip_verify;
	char *smtp_tls_policy; /* mandatory (default), opportunistic, none, implicit */
	char *save_folder;
	bool save_only_on_error;
	char *save_mode;        /* octal; NULL = 0600 */
	char *save_folder_mode; /* octal; NULL = 0750 */
	struct strv notify_on;  /* extra events for every job: interrupted, missed, expired */
	int64_t notification_cooldown_ns;    /* equal failure notices within it: suppressed */
	int notification_max_attempts;       /* deliveries tried before a notice is dead */
	int64_t notification_retry_delay_ns; /* the first back-off, doubled each time */
	int64_t notification_max_age_ns;     /* a notice older than this is dead */
	int notification_workers;            /* sender threads */
	struct strv webhook_webhooks;        /* webhooks every job notifies */
	char *webhook_allowed_hosts;         /* "*" or a list of hosts and *.domains */
	char *webhook_default_preset;        /* for webhooks without one; "" = none */
};

/* A webhook preset: how a named service is called (presets/NAME.yaml,
 * netresearch's format). body is a Go text/template (src/notify). */
struct config_preset {
	char *name;
	char *url_scheme; /* "{id}", "{secret}", "{url}" are replaced */
	char *method;
	struct strv headers;  /* "Name: value", "{secret}" etc. replaced */
	struct strv required; /* variables that must be set: id, secret, url */
	char *body;
};

/* A [webhook "name"] section (YAML: webhooks: {name: {...}}), its preset
 * resolved when the config loads. */
struct config_webhook {
	char *name;
	char *source; /* "ofelia.ini:12", or the container it came from */
	char *preset; /* as written; NULL = webhook-default-preset */
	char *url;
	char *id;
	char *secret;
	char *link;
	char *link_text;
	char *device;
	char *trigger; /* always, error, success, skipped; NULL = error */
	int64_t timeout_ns;
	int retry_count; /* -1 = global notification-max-attempts */
	int64_t retry_delay_ns;
	/* a template written in the section itself instead of a preset */
	char *method;
	char *body;
	struct strv headers;
	struct config_preset resolved; /* what is sent: the preset, or the inline template */
};

/* "docker:" in YAML, [docker] in INI. */
struct config_docker {
	char *host;               /* NULL = DOCKER_HOST, else unix:///var/run/docker.sock */
	int64_t poll_interval_ns; /* label polling fallback; 0 = no polling */
	bool events;              /* follow the engine's event stream */
	bool include_stopped;     /* read run-job labels of stopped containers too */
	struct strv filters;      /* extra container filters, "key=value" */
};

/* "web:" in YAML; Ofelia's enable-web, web-* keys in [global]. */
struct config_web {
	bool enabled;
	char *address; /* default 127.0.0.1:8080 */
	bool auth_enabled;
	/* Without auth the API is read-only and listens on loopback only;
	 * insecure lifts both (anyone who reaches it may run commands). */
	bool insecure;
	struct config_user *users;
	size_t nusers;
	char *secret;            /* JWT signing key; NULL = generated once, kept in the store */
	int64_t token_expiry_ns; /* default 24h */
	/* a login's session ends after this, refreshes or not; 0 = never */
	int64_t max_session_age_ns;
	int max_login_attempts;   /* failed logins per client per minute */
	bool metrics_auth;        /* /metrics needs a token too */
	struct strv cors_origins; /* empty = no CORS headers */
	struct strv cors_methods;
	struct strv cors_headers;
	int cors_max_age;
	int rate_limit; /* requests per minute per client; 0 = off */
	int rate_burst;
	int64_t max_body_bytes;
	struct strv trusted_proxies; /* CIDRs whose X-Forwarded-For is believed */
	/* Host header names accepted besides IP literals and localhost:
	 * "name", "*.domain" or "*" (see docs/api.md) */
	struct strv allowed_hosts;
};

/* "cluster:" in YAML, [cluster] in INI, --cluster-* and OFELIA_CLUSTER_*
 * (docs/cluster.md). A cluster runs while etcd_endpoints is not empty. */
struct config_cluster {
	struct strv etcd_endpoints; /* http(s)://host:port of the etcd members */
	char *name;                 /* the cluster's key prefix in etcd; default "ofelia" */
	char *node;                 /* this node's name; NULL = the host name */
	int64_t lease_ttl_ns;       /* default 10s; a leader that cannot renew steps down */
	char *etcd_ca;              /* TLS to etcd: CA bundle, client certificate and key */
	char *etcd_cert;
	char *etcd_key;
	char *etcd_username; /* etcd's own auth (user and password) */
	char *etcd_password;
	char *secret;                    /* shared by the nodes: it authenticates replication */
	char *advertise_address;         /* URL the other nodes reach this one's API at */
	int64_t claim_retention_ns;      /* how long a slot's claim is kept in etcd */
	int64_t claim_ahead_ns;          /* how long before its time a slot is claimed */
	int64_t replication_interval_ns; /* how often the nodes pull each other's changes */
};

struct config {
	char *path; /* file it came from, or "(default)" */
	enum config_format format;
	struct config_global global;
	struct config_docker docker;
	struct config_web web;
	struct config_cluster cluster;
	struct job **jobs; /* owned; origin CONFIG, in file order */
	size_t njobs;
	struct config_webhook *webhooks; /* by name order of definition */
	size_t nwebhooks;
};

/* Messages gathered while loading: errors make the load fail, warnings
 * (an unknown key and the key it probably meant) do not. */
struct config_diag {
	struct strv errors;
	struct strv warnings;
};

/* config_defaults fills c with the defaults and no jobs; its strings are
 * allocated, so release c with config_fini (or config_free if c is on the
 * heap). */
void config_defaults(struct config *c);
/* config_fini releases what c holds (jobs included) but not c itself. */
void config_fini(struct config *c);
/* config_load_file reads path (format by extension, else by content).
 * Returns a config the caller frees, or NULL when diag has errors. */
struct config *config_load_file(const char *path, struct config_diag *diag);
/* config_load_string is config_load_file on text in memory; name is used in
 * messages ("ofelia.yaml:3:1: ..."). */
struct config *config_load_string(const char *text, size_t len, const char *name,
                                  enum config_format format, struct config_diag *diag);
/* config_set puts one value over c as a flag or variable gives it: key is
 * spelled as in the INI file's [global] (or, with docker, [docker])
 * section and read like the file's values; a list key appends. origin
 * ("--log-level") starts the messages. Returns 0, or -1 with an error in
 * diag. */
int config_set(struct config *c, bool docker, const char *key, const char *value,
               const char *origin, struct config_diag *diag);
/* config_set_cluster is config_set for a key of the [cluster] section. */
int config_set_cluster(struct config *c, const char *key, const char *value, const char *origin,
                       struct config_diag *diag);
/* config_cluster_on tells whether c runs a cluster (etcd endpoints given). */
bool config_cluster_on(const struct config *c);
/* config_add_web_user adds an admin user (Ofelia's web-username and
 * web-password-hash) after checking the hash; -1 with an error in diag. */
int config_add_web_user(struct config *c, const char *username, const char *hash,
                        const char *origin, struct config_diag *diag);
/* config_check finds what would keep the daemon from starting with c once
 * flags are applied (web auth without users); -1 with errors in diag. */
int config_check(struct config *c, struct config_diag *diag);
/* config_free releases a config from config_load_* (NULL is fine). */
void config_free(struct config *c);
/* config_diag_free releases the messages, leaving d empty. */
void config_diag_free(struct config_diag *d);

/* config_webhook_find returns c's webhook called name, or NULL. */
const struct config_webhook *config_webhook_find(const struct config *c, const char *name);
/* config_webhook_copy makes dst a deep copy of src; config_webhook_release
 * frees what a webhook holds (not the struct itself). */
void config_webhook_copy(struct config_webhook *dst, const struct config_webhook *src);
void config_webhook_release(struct config_webhook *w);
/* config_preset_bundled loads the preset of that name compiled into ofelia
 * into out (release with config_preset_fini); 0, or -1 with the reason in
 * err. config_preset_names lists them, NULL-terminated. */
int config_preset_bundled(const char *name, struct config_preset *out, char *err, size_t errlen);
extern const char *const config_preset_names[];
void config_preset_fini(struct config_preset *p);

/* One label of a container, as the Docker engine reports it. */
struct config_label {
	const char *key;
	const char *value;
};

/* What config_labels_jobs needs to know about the container. */
struct config_container {
	const char *name;    /* without Docker's leading '/' */
	const char *service; /* com.docker.compose.service or Swarm service, or NULL */
	bool running;
	bool is_service; /* carries ofelia.service=true */
};

/* config_labels_jobs turns a container's labels (Ofelia's format:
 * ofelia.enabled=true, ofelia.job-exec.NAME.KEY=VALUE, JSON arrays for
 * lists) into job definitions with origin DOCKER_LABEL, appended to *jobs.
 * exec jobs are named per global->job_exec_label_scope and target this
 * container; run jobs come from any such container, local and service-run
 * jobs only from the one marked ofelia.service=true. Local jobs, and jobs
 * that reach the host (host bind mounts, volumes-from, privileged, network
 * host), need allow_host_jobs_from_labels. Bad labels become diag errors naming the
 * label; the job they belong to is left out, the others are kept.
 * Returns the number of jobs added. */
size_t config_labels_jobs(const struct config_global *global, const struct config_container *ct,
                          const struct config_label *labels, size_t nlabels, struct job ***jobs,
                          size_t *njobs, struct config_diag *diag);

/* config_labels_globals appends to out, as "key=value", the global settings
 * Ofelia reads from the labels of the container marked ofelia.service=true:
 * the notification keys (ofelia.slack-webhook, ofelia.smtp-host, ...,
 * ofelia.webhook-webhooks) and webhook sections (ofelia.webhook.NAME.KEY).
 * Other containers have none. */
void config_labels_globals(const struct config_container *ct, const struct config_label *labels,
                           size_t nlabels, struct strv *out);
/* config_from_labels builds a config holding those settings (defaults
 * elsewhere, no jobs). Bad values are diag errors naming the label and are
 * left out; the config is never NULL. The caller frees it. */
struct config *config_from_labels(const struct strv *globals, struct config_diag *diag);

#endif
