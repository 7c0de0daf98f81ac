/* ofelia daemon: load the config, open the store, recover, schedule, serve
 * the API, until SIGTERM or SIGINT. SIGHUP reloads the config.
 *
 * Start-up order: config, logging, database, loop, notifications, scheduler
 * (recovery), HTTP, signals. Shut-down order is the reverse, after the
 * scheduler has given running executions their grace period and recorded
 * them. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "docker/docker.h"
#include "events/events.h"
#include "http/http.h"
#include "labels/labels.h"
#include "loop/loop.h"
#include "outbox/outbox.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: ofelia daemon [options]\n\n"
    "Runs the scheduler. Without --config it runs the embedded default config (a few\n"
    "local jobs). Every option can also be given as the OFELIA_* variable shown;\n"
    "a flag wins over the variable, which wins over the config file.\n";

struct daemon_opts {
	char *config, *db, *log_level, *log_format;
	int enable_web, web_auth_enabled;
	char *web_address, *web_username, *web_password_hash, *web_secret_key, *web_token_expiry;
};

struct daemon {
	struct daemon_opts opts;
	struct config *config;   /* as started: the scheduler's options point into it */
	struct config *reloaded; /* the newest config a reload loaded, or NULL */
	struct store *store;
	struct loop *loop;
	struct events *events;
	struct scheduler *scheduler;
	struct http *http;
	struct labels *labels;         /* discovery of label jobs */
	struct outbox *outbox;         /* notifications */
	struct config *label_settings; /* the service container's notification labels, or NULL */
	bool docker_ready;             /* docker_global_init done */
	int signals_seen;
};

static const int handled_signals[] = {SIGTERM, SIGINT, SIGHUP};

/* apply_overrides puts flags and OFELIA_* variables over the config file. */
static int apply_overrides(struct daemon_opts *o, struct config *c)
{
	char err[128];
	if (o->log_level) {
		free(c->global.log_level);
		c->global.log_level = xstrdup(o->log_level);
	}
	if (o->log_format) {
		free(c->global.log_format);
		c->global.log_format = xstrdup(o->log_format);
	}
	if (o->enable_web >= 0)
		c->web.enabled = o->enable_web;
	if (o->web_address) {
		free(c->web.address);
		c->web.address = xstrdup(o->web_address);
	}
	if (o->web_auth_enabled >= 0)
		c->web.auth_enabled = o->web_auth_enabled;
	if (o->web_secret_key) {
		free(c->web.secret);
		c->web.secret = xstrdup(o->web_secret_key);
	}
	if (o->web_token_expiry) {
		char *end;
		long hours = strtol(o->web_token_expiry, &end, 10);
		int64_t ns;
		if (*end == '\0' && hours > 0)
			c->web.token_expiry_ns = hours * 3600 * 1000000000LL;
		else if (duration_parse(o->web_token_expiry, &ns, err, sizeof err) == 0 && ns > 0)
			c->web.token_expiry_ns = ns;
		else {
			fprintf(stderr,
			        "ofelia daemon: web-token-expiry: \"%s\" is not a number of "
			        "hours\n",
			        o->web_token_expiry);
			return -1;
		}
	}
	if (o->web_username || o->web_password_hash) {
		if (!o->web_username || !o->web_password_hash) {
			fprintf(stderr, "ofelia daemon: web-username and web-password-hash go "
			                "together\n");
			return -1;
		}
		c->web.users = xreallocarray(c->web.users, c->web.nusers + 1, sizeof *c->web.users);
		c->web.users[c->web.nusers++] = (struct config_user){
		    xstrdup(o->web_username), xstrdup(o->web_password_hash), xstrdup("admin")};
	}
	return 0;
}

/* prepare_config puts over a loaded config what wins over the file: the
 * global settings changed through the API, then flags and OFELIA_*
 * variables; and takes the JWT key from OFELIA_JWT_SECRET when nothing else
 * gives one. */
static int prepare_config(struct daemon *d, struct config *c)
{
	char err[512];
	if (http_config_apply_saved(d->store, c, err, sizeof err) < 0) {
		fprintf(stderr, "ofelia daemon: %s\n", err);
		return -1;
	}
	if (apply_overrides(&d->opts, c) < 0)
		return -1;
	const char *jwt = getenv("OFELIA_JWT_SECRET");
	if ((c->web.secret == NULL || *c->web.secret == '\0') && jwt && *jwt) {
		free(c->web.secret);
		c->web.secret = xstrdup(jwt);
	}
	return 0;
}

/* current_config is the web server's view of the config in force. */
static const struct config *current_config(void *arg)
{
	struct daemon *d = arg;
	return d->reloaded ? d->reloaded : d->config;
}

/* has_docker_jobs tells whether a config defines exec, run or service jobs. */
static bool has_docker_jobs(const struct config *c)
{
	for (size_t i = 0; i < c->njobs; i++)
		if (c->jobs[i]->type != JOB_LOCAL)
			return true;
	return false;
}

/* docker_state is what readiness reports: the engine as label discovery
 * sees it. An engine lost after it was reached is "disconnected" (label jobs
 * may depend on it); one never reached counts only when the config has
 * Docker jobs: a host without Docker running local jobs is ready ("n/a"). */
static const char *docker_state(void *arg)
{
	struct daemon *d = arg;
	switch (labels_engine(d->labels)) {
	case LABELS_ENGINE_CONNECTED:
		return "connected";
	case LABELS_ENGINE_DISCONNECTED:
		return "disconnected";
	case LABELS_ENGINE_UNKNOWN:
		break;
	}
	return has_docker_jobs(current_config(d)) ? "disconnected" : "n/a";
}

static int setup_logging(const struct config *c)
{
	enum log_level level = LOG_INFO;
	enum log_format format = LOG_LOGFMT;
	if (c->global.log_level && log_parse_level(c->global.log_level, &level) < 0) {
		fprintf(stderr,
		        "ofelia daemon: log-level \"%s\" is not debug, info, warn or error\n",
		        c->global.log_level);
		return -1;
	}
	if (c->global.log_format && log_parse_format(c->global.log_format, &format) < 0) {
		fprintf(stderr, "ofelia daemon: log-format \"%s\" is not logfmt or json\n",
		        c->global.log_format);
		return -1;
	}
	log_setup(level, format);
	return 0;
}

/* on_reload is the scheduler's reload: read the config file again and sync
 * its jobs. A config that does not load changes nothing. */
static int on_reload(void *arg, struct scheduler_changes *out, char *err, size_t errlen)
{
	struct daemon *d = arg;
	struct config *c = cli_load_config(d->opts.config);
	if (c == NULL) {
		snprintf(err, errlen,
		         "the config %s has errors (see the log); the jobs are unchanged",
		         d->opts.config ? d->opts.config : "(default)");
		log_errorx("reload: %s", err);
		return -1;
	}
	int rc = scheduler_sync(d->scheduler, JOB_ORIGIN_CONFIG, c->jobs, c->njobs, out);
	if (rc == 0 && prepare_config(d, c) == 0) {
		char nerr[640];
		if (outbox_reload(d->outbox, c, d->label_settings, nerr, sizeof nerr) < 0)
			log_kv(LOG_ERROR, "reload: notification settings unchanged", "error", nerr,
			       NULL);
		/* The API serves the newest config from now on (users, CORS, rate
		 * limits); the scheduler keeps the options it started with. */
		config_free(d->reloaded);
		d->reloaded = c;
		c = NULL;
	}
	if (rc == 0) {
		/* Label jobs are listed again too, so the counts are the sums of
		 * both origins; an unreachable engine leaves them as they are. */
		struct scheduler_changes lc;
		char lerr[256];
		if (labels_refresh(d->labels, &lc, lerr, sizeof lerr) == 0) {
			out->added += lc.added;
			out->updated += lc.updated;
			out->removed += lc.removed;
		} else {
			log_kv(LOG_WARN, "reload: label jobs unchanged", "error", lerr, NULL);
		}
		char added[16], updated[16], removed[16];
		snprintf(added, sizeof added, "%d", out->added);
		snprintf(updated, sizeof updated, "%d", out->updated);
		snprintf(removed, sizeof removed, "%d", out->removed);
		log_kv(LOG_INFO, "config reloaded", "added", added, "updated", updated, "removed",
		       removed, NULL);
	} else {
		snprintf(err, errlen, "the database refused the new jobs");
	}
	config_free(c);
	return rc;
}

/* on_label_globals takes the notification settings of the service
 * container's labels: they fill what the config file leaves unset. */
static void on_label_globals(void *arg, const struct strv *globals)
{
	struct daemon *d = arg;
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char err[640];
	struct config *c = config_from_labels(globals, &diag);
	for (size_t i = 0; i < diag.errors.n; i++)
		log_kv(LOG_ERROR, "notification label ignored", "error", diag.errors.v[i], NULL);
	for (size_t i = 0; i < diag.warnings.n; i++)
		log_kv(LOG_WARN, "notification label", "warning", diag.warnings.v[i], NULL);
	config_diag_free(&diag);
	if (outbox_reload(d->outbox, current_config(d), c, err, sizeof err) < 0) {
		log_kv(LOG_ERROR, "notification labels not applied", "error", err, NULL);
		config_free(c);
		return;
	}
	config_free(d->label_settings);
	d->label_settings = c;
	log_kv(LOG_INFO, "notification settings from labels applied", NULL);
}

static void on_shutdown_done(void *arg)
{
	struct daemon *d = arg;
	/* Every outcome is recorded: notices not sent by now stay pending. */
	outbox_stop(d->outbox);
	loop_stop(d->loop);
}

static void on_signal(int signo, void *arg)
{
	struct daemon *d = arg;
	if (signo == SIGHUP) {
		struct scheduler_changes changes;
		char err[256];
		log_kv(LOG_INFO, "SIGHUP: reloading the config", NULL);
		scheduler_reload(d->scheduler, &changes, err, sizeof err);
		return;
	}
	if (d->signals_seen++ == 0) {
		log_kv(LOG_INFO, "shutting down", "signal", strsignal(signo), NULL);
		labels_stop(d->labels);
		http_stop(d->http);
		scheduler_shutdown(d->scheduler, on_shutdown_done, d);
	} else {
		log_kv(LOG_WARN, "second signal: stopping running executions now", NULL);
		scheduler_stop_running(d->scheduler, "ofelia got a second stop signal");
	}
}

static int run(struct daemon *d)
{
	struct scheduler_options so;
	char err[512];

	/* Before any thread starts (the store's checkpointer is one): every
	 * thread inherits the mask, so only the loop's signalfd sees these. */
	loop_block_signals(handled_signals, sizeof handled_signals / sizeof handled_signals[0]);

	d->config = cli_load_config(d->opts.config);
	if (d->config == NULL)
		return CLI_FAIL;
	/* The store comes first: settings changed through the API are in it. */
	char *db = cli_db_path(d->opts.db, d->config);
	d->store = cli_open_store(db, d->config);
	if (d->store == NULL) {
		free(db);
		return CLI_FAIL;
	}
	if (prepare_config(d, d->config) < 0 || setup_logging(d->config) < 0 ||
	    cli_scheduler_options(d->config, &so) < 0) {
		free(db);
		return CLI_FAIL;
	}
	log_kv(LOG_INFO, "starting", "version", OFELIA_VERSION, "config",
	       d->opts.config ? d->opts.config : "(default)", "database", db, NULL);
	free(db);
	/* libcurl's global state, before any thread can use it. */
	if (docker_global_init() < 0) {
		log_errorx("cannot initialize libcurl");
		return CLI_FAIL;
	}
	d->docker_ready = true;

	signal(SIGPIPE, SIG_IGN);
	d->loop = loop_new();
	d->events = events_new();
	/* Before the scheduler: recovery records outcomes that owe notices. */
	d->outbox = outbox_start(d->loop, d->store, d->events, d->config, err, sizeof err);
	if (d->outbox == NULL) {
		log_errorx("notifications: %s", err);
		return CLI_FAIL;
	}
	d->scheduler = scheduler_new(d->loop, d->store, d->events, &so);
	scheduler_set_reload(d->scheduler, on_reload, d);
	if (scheduler_start(d->scheduler, d->config->jobs, d->config->njobs, err, sizeof err) < 0) {
		log_errorx("cannot start the scheduler: %s", err);
		return CLI_FAIL;
	}
	d->labels = labels_start(d->loop, d->scheduler, d->config);
	labels_on_globals(d->labels, on_label_globals, d);
	int rc = CLI_OK;
	if (d->config->web.enabled) {
		struct http_deps deps = {
		    d->loop, d->store, d->scheduler, d->events, current_config, docker_state, d};
		d->http = http_start(&deps, err, sizeof err);
		if (d->http == NULL) {
			log_errorx("cannot start the web server: %s", err);
			/* The scheduler has started: stop it the usual way. */
			d->signals_seen = 1;
			labels_stop(d->labels);
			scheduler_shutdown(d->scheduler, on_shutdown_done, d);
			rc = CLI_FAIL;
		}
	}
	loop_on_signals(d->loop, handled_signals,
	                sizeof handled_signals / sizeof handled_signals[0], on_signal, d);
	loop_run(d->loop);
	log_kv(LOG_INFO, "stopped", NULL);
	return rc;
}

int cli_daemon(int argc, char **argv)
{
	struct daemon d = {0};
	d.opts.enable_web = d.opts.web_auth_enabled = -1;
	const struct cli_opt opts[] = {
	    {"config", 'c', "OFELIA_CONFIG", CLI_STRING, &d.opts.config,
	     "config file (YAML or Ofelia INI); default: the embedded config"},
	    {"db", 0, "OFELIA_DB", CLI_STRING, &d.opts.db, "SQLite database file"},
	    {"log-level", 0, "OFELIA_LOG_LEVEL", CLI_STRING, &d.opts.log_level,
	     "debug, info, warn or error"},
	    {"log-format", 0, "OFELIA_LOG_FORMAT", CLI_STRING, &d.opts.log_format,
	     "logfmt or json"},
	    {"enable-web", 0, "OFELIA_ENABLE_WEB", CLI_BOOL, &d.opts.enable_web,
	     "serve the API and web UI"},
	    {"web-address", 0, "OFELIA_WEB_ADDRESS", CLI_STRING, &d.opts.web_address,
	     "address to listen on (default 127.0.0.1:8080)"},
	    {"web-auth-enabled", 0, "OFELIA_WEB_AUTH_ENABLED", CLI_BOOL, &d.opts.web_auth_enabled,
	     "require a login for the API"},
	    {"web-username", 0, "OFELIA_WEB_USERNAME", CLI_STRING, &d.opts.web_username,
	     "an admin user's name"},
	    {"web-password-hash", 0, "OFELIA_WEB_PASSWORD_HASH", CLI_STRING,
	     &d.opts.web_password_hash, "that user's password hash (ofelia hash-password)"},
	    {"web-secret-key", 0, "OFELIA_WEB_SECRET_KEY", CLI_STRING, &d.opts.web_secret_key,
	     "JWT signing key (default: generated once, kept in the database)"},
	    {"web-token-expiry", 0, "OFELIA_WEB_TOKEN_EXPIRY", CLI_STRING, &d.opts.web_token_expiry,
	     "token lifetime in hours"},
	};
	const size_t nopts = sizeof opts / sizeof opts[0];
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, opts, nopts, usage, &npos, &help);
	if (rc >= 0) {
		cli_free_opts(opts, nopts);
		return rc;
	}
	if (npos > 0) {
		fprintf(stderr, "ofelia daemon: unexpected argument \"%s\"\n", argv[0]);
		cli_free_opts(opts, nopts);
		return CLI_USAGE;
	}
	rc = run(&d);

	http_free(d.http);
	labels_free(d.labels);
	outbox_free(d.outbox);
	scheduler_free(d.scheduler);
	events_free(d.events);
	loop_free(d.loop);
	store_close(d.store);
	config_free(d.config);
	config_free(d.reloaded);
	config_free(d.label_settings);
	if (d.docker_ready)
		docker_global_cleanup();
	cli_free_opts(opts, nopts);
	return rc;
}
