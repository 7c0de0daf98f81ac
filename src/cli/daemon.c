/* ofelia daemon: load the config, open the store, recover, schedule, serve
 * the API, until SIGTERM or SIGINT. SIGHUP reloads the config.
 *
 * Start-up order: config, logging, database, loop, notifications, HTTP,
 * scheduler (recovery), labels, signals. Shut-down order is the reverse,
 * after the scheduler has given running executions their grace period and
 * recorded them. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "cluster/cluster.h"
#include "events/events.h"
#include "http/http.h"
#include "labels/labels.h"
#include "lazycurl/lazycurl.h"
#include "loop/loop.h"
#include "outbox/outbox.h"
#include "util/log.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: ofelia daemon [options]\n\n"
    "Runs the scheduler. Without --config it reads /etc/ofelia/config.ini (else\n"
    "/etc/ofelia.conf) when one exists, and otherwise runs the jobs of Docker labels\n"
    "only. --config builtin:demo runs a few demo jobs. Every option can also be given\n"
    "as the OFELIA_* variable shown; a flag wins over the variable, which wins over\n"
    "the config file.\n";

struct daemon {
	struct cli_settings opts;
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
	struct cli_heartbeat *heartbeat;
	struct cluster *cluster; /* NULL without a cluster */
	char *db;                /* the database's path */
	int signals_seen;
};

static const int handled_signals[] = {SIGTERM, SIGINT, SIGHUP};

/* prepare_config puts over a loaded config what wins over the file: the
 * global settings changed through the API, then flags and OFELIA_*
 * variables (cli_apply_settings, which also checks what would stop the
 * start). Errors go to diag. */
static int prepare_config(struct daemon *d, struct config *c, struct config_diag *diag)
{
	char err[512];
	if (http_config_apply_saved(d->store, c, err, sizeof err) < 0) {
		strv_push(&diag->errors, err);
		return -1;
	}
	return cli_apply_settings(&d->opts, c, diag);
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

/* ---- the cluster (docs/cluster.md): its hooks and the scheduler's gate ---- */

static void gate_claim(void *arg, uint64_t batch, const struct scheduler_claim *v, size_t n)
{
	struct daemon *d = arg;
	struct cluster_claim *req = xcalloc(n ? n : 1, sizeof *req);
	for (size_t i = 0; i < n; i++) {
		snprintf(req[i].job, sizeof req[i].job, "%s", v[i].job);
		req[i].slot_ns = v[i].slot_ns;
		snprintf(req[i].id, sizeof req[i].id, "%s", v[i].id);
	}
	cluster_claim(d->cluster, batch, req, n);
	free(req);
}

static bool gate_leading(void *arg)
{
	struct daemon *d = arg;
	return d->cluster && cluster_leading(d->cluster);
}

static void on_lead(void *arg, bool leading)
{
	struct daemon *d = arg;
	outbox_set_active(d->outbox, leading);
	scheduler_lead(d->scheduler, leading);
}

static void on_claimed(void *arg, uint64_t batch, const struct cluster_claim *v, size_t n)
{
	struct daemon *d = arg;
	struct scheduler_claim *a = xcalloc(n ? n : 1, sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i] =
		    (struct scheduler_claim){v[i].job,
		                             v[i].slot_ns,
		                             v[i].id,
		                             v[i].answer == CLUSTER_GRANTED ? SCHED_CLAIM_GRANTED
		                             : v[i].answer == CLUSTER_TAKEN ? SCHED_CLAIM_TAKEN
		                                                            : SCHED_CLAIM_REFUSED,
		                             v[i].owner,
		                             v[i].owner_id};
	scheduler_claimed(d->scheduler, batch, a, n);
	free(a);
}

static void on_replicated(void *arg, const struct store_applied *a)
{
	struct daemon *d = arg;
	if (a->jobs.n)
		scheduler_mirrored(d->scheduler, &a->jobs);
	scheduler_touch(d->scheduler);
}

static bool http_leader(void *arg, char *name, size_t namelen, char *url, size_t urllen)
{
	struct daemon *d = arg;
	if (d->cluster == NULL) {
		snprintf(name, namelen, "%s", "");
		snprintf(url, urllen, "%s", "");
		return false;
	}
	return cluster_leader(d->cluster, name, namelen, url, urllen);
}

static json_t *http_cluster_view(void *arg, bool *healthy)
{
	struct daemon *d = arg;
	*healthy = false;
	return d->cluster ? cluster_status(d->cluster, healthy) : json_null();
}

static void http_cluster_metrics(void *arg, struct buf *b)
{
	struct daemon *d = arg;
	if (d->cluster)
		cluster_metrics(d->cluster, b);
}

static void publish_hash(struct daemon *d, const struct config *c)
{
	if (d->cluster == NULL)
		return;
	char *hash = cluster_jobs_hash(c->jobs, c->njobs);
	cluster_set_jobs_hash(d->cluster, hash);
	free(hash);
}

/* reload_load reads the config file again, on the scheduler's reload
 * thread (a big file takes seconds): d->opts is only read there, nothing
 * else of d is touched. A config that does not load changes nothing. */
static void *reload_load(void *arg, char *err, size_t errlen)
{
	struct daemon *d = arg;
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char *path = NULL;
	struct config *c = cli_config_load(&d->opts, &diag, &path);
	cli_report(NULL, &diag, true);
	config_diag_free(&diag);
	if (c == NULL) {
		snprintf(err, errlen,
		         "the config %s has errors (see the log); the jobs are unchanged",
		         path ? path : "(none)");
		log_errorx("reload: %s", err);
	}
	free(path);
	return c;
}

static void reload_discard(void *arg, void *config)
{
	(void)arg;
	config_free(config);
}

/* reload_apply syncs the jobs of a loaded config, on the loop thread. */
static int reload_apply(void *arg, void *config, struct scheduler_changes *out, char *err,
                        size_t errlen)
{
	struct daemon *d = arg;
	struct config *c = config;
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	/* A loop through jobs of other origins (labels, the API) is refused
	 * like one within the file. */
	if (scheduler_links_check(d->scheduler, JOB_ORIGIN_CONFIG, c->jobs, c->njobs, err, errlen) <
	    0) {
		log_errorx("reload: %s; the jobs are unchanged", err);
		config_free(c);
		return -1;
	}
	int rc = scheduler_sync(d->scheduler, JOB_ORIGIN_CONFIG, c->jobs, c->njobs, out);
	if (rc == 0 && prepare_config(d, c, &diag) == 0) {
		char nerr[640];
		if (outbox_reload(d->outbox, c, d->label_settings, nerr, sizeof nerr) < 0)
			log_kv(LOG_ERROR, "reload: notification settings unchanged", "error", nerr,
			       NULL);
		/* The API serves the newest config from now on (users, CORS, rate
		 * limits); the scheduler keeps the options it started with. */
		publish_hash(d, c);
		config_free(d->reloaded);
		d->reloaded = c;
		c = NULL;
	}
	cli_report(NULL, &diag, true);
	config_diag_free(&diag);
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
		char err[256];
		log_kv(LOG_INFO, "SIGHUP: reloading the config", NULL);
		if (scheduler_reload(d->scheduler, NULL, NULL, err, sizeof err) < 0)
			log_kv(LOG_WARN, "reload not started", "error", err, NULL);
		return;
	}
	if (d->signals_seen++ == 0) {
		log_kv(LOG_INFO, "shutting down", "signal", strsignal(signo), NULL);
		/* Another node takes over at once: the lease goes now, and nothing
		 * new starts here; running executions finish and are recorded. */
		if (d->cluster) {
			scheduler_lead(d->scheduler, false);
			cluster_stop(d->cluster);
		}
		labels_stop(d->labels);
		http_stop(d->http);
		scheduler_shutdown(d->scheduler, on_shutdown_done, d);
	} else {
		log_kv(LOG_WARN, "second signal: stopping running executions now", NULL);
		scheduler_stop_running(d->scheduler, "ofelia got a second stop signal");
	}
}

/* start_up loads the config, opens the store and sets up logging; every
 * message of those steps goes out once logging is set up. CLI_FAIL when the
 * daemon cannot start. */
static int start_up(struct daemon *d)
{
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char *path = NULL, *db = NULL;
	int rc = CLI_FAIL;

	d->config = cli_config_load(&d->opts, &diag, &path);
	if (d->config == NULL)
		goto out;
	/* The store comes first: settings changed through the API are in it. */
	db = cli_db_path(d->opts.db, d->config);
	d->store = cli_open_store(db, d->config, true, d->opts.init_db == 1);
	if (d->store == NULL)
		goto out;
	if (prepare_config(d, d->config, &diag) == 0 && setup_logging(d->config) == 0)
		rc = CLI_OK;
	/* After the flags: they may give the cluster section. */
	if (rc == CLI_OK && config_cluster_on(d->config)) {
		char node[65];
		cluster_node_name(d->config, node, sizeof node);
		if (store_cluster_enable(d->store, node) < 0) {
			strv_push_owned(&diag.errors,
			                xasprintf("cluster: %s", store_errmsg(d->store)));
			rc = CLI_FAIL;
		}
	}
out:;
	bool json = cli_wants_json(&d->opts, d->config);
	if (rc != CLI_OK && json)
		log_setup(LOG_INFO, LOG_JSON);
	cli_report(&d->opts.notes, &diag, json);
	if (rc == CLI_OK) {
		if (path == NULL)
			log_kv(LOG_INFO, cli_no_config_note(&d->opts), NULL);
		log_kv(LOG_INFO, "starting", "version", OFELIA_VERSION, "config",
		       path ? path : "(none)", "database", db, NULL);
	}
	config_diag_free(&diag);
	free(path);
	d->db = db;
	return rc;
}

/* The soft limit of descriptors is raised to at most this: a local job
 * holds five or six while it runs (pipes, pidfd, a wake-up eventfd), and
 * without max-concurrent a burst of slots runs at once. The jobs inherit
 * the limit, and some programs walk every possible descriptor at start, so
 * not to the hard limit. */
#define NOFILE_WANTED 65536

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = rl.rlim_max < NOFILE_WANTED ? rl.rlim_max : NOFILE_WANTED;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run(struct daemon *d)
{
	struct scheduler_options so;
	char err[512];

	/* Before any thread starts (the store's checkpointer is one): every
	 * thread inherits the mask, so only the loop's signalfd sees these. */
	loop_block_signals(handled_signals, sizeof handled_signals / sizeof handled_signals[0]);

	if (start_up(d) != CLI_OK || cli_scheduler_options(d->config, &so) < 0)
		return CLI_FAIL;
	raise_nofile();
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
	struct scheduler_reloader reloader = {reload_load, reload_apply, reload_discard, d};
	scheduler_set_reload(d->scheduler, &reloader);
	bool clustered = config_cluster_on(d->config);
	if (clustered) {
		char node[65];
		cluster_node_name(d->config, node, sizeof node);
		struct scheduler_gate gate = {gate_claim, gate_leading, node,
		                              d->config->cluster.claim_ahead_ns, d};
		scheduler_set_gate(d->scheduler, &gate);
		/* A follower raises no dead-man alerts: the leader does. */
		outbox_set_active(d->outbox, false);
	}
	/* The web server binds before anything is scheduled: a port in use
	 * stops the start at once, before a job could run. */
	if (d->config->web.enabled) {
		struct http_deps deps = {d->loop,
		                         d->store,
		                         d->scheduler,
		                         d->events,
		                         current_config,
		                         docker_state,
		                         d,
		                         {NULL, NULL, NULL, NULL}};
		if (clustered)
			deps.cluster = (struct http_cluster){http_leader, http_cluster_view,
			                                     http_cluster_metrics, d};
		d->http = http_start(&deps, err, sizeof err);
		if (d->http == NULL) {
			log_errorx("cannot start the web server: %s", err);
			return CLI_FAIL;
		}
	}
	if (scheduler_start(d->scheduler, d->config->jobs, d->config->njobs, err, sizeof err) < 0) {
		log_errorx("cannot start the scheduler: %s", err);
		return CLI_FAIL;
	}
	if (clustered) {
		struct cluster_hooks hooks = {on_lead, on_claimed, on_replicated, d};
		char *hash = cluster_jobs_hash(d->config->jobs, d->config->njobs);
		d->cluster =
		    cluster_start(d->loop, d->store, d->config, hash, &hooks, err, sizeof err);
		free(hash);
		if (d->cluster == NULL) {
			log_errorx("cluster: %s", err);
			return CLI_FAIL;
		}
	}
	d->labels = labels_start(d->loop, d->scheduler, d->config);
	labels_on_globals(d->labels, on_label_globals, d);
	d->heartbeat =
	    cli_heartbeat_start(d->loop, d->store, d->db, d->http ? d->config->web.address : NULL);
	loop_on_signals(d->loop, handled_signals,
	                sizeof handled_signals / sizeof handled_signals[0], on_signal, d);
	loop_run(d->loop);
	log_kv(LOG_INFO, "stopped", NULL);
	return CLI_OK;
}

int cli_daemon(int argc, char **argv)
{
	struct daemon d = {0};
	struct cli_opt opts[CLI_SETTINGS_MAX];
	cli_settings_init(&d.opts);
	size_t nopts = cli_settings_options(&d.opts, opts);
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, opts, nopts, usage, &npos, &help);
	if (rc < 0 && npos > 0) {
		fprintf(stderr, "ofelia daemon: unexpected argument \"%s\"\n", argv[0]);
		rc = CLI_USAGE;
	}
	if (rc < 0)
		rc = run(&d);

	cli_heartbeat_free(d.heartbeat);
	cluster_free(d.cluster);
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
	lazycurl_cleanup();
	cli_settings_fini(&d.opts);
	free(d.db);
	return rc;
}
