/* ofelia run: run one job once in the foreground, with its output on the
 * terminal, recorded in the database like any other execution (trigger
 * manual). It goes through the scheduler's own execution path, so what it
 * records is exactly what the daemon would. It plans nothing and recovers
 * nothing, so it is safe beside a running daemon on the same database. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "docker/docker.h"
#include "events/events.h"
#include "loop/loop.h"
#include "util/log.h"

static const char usage[] =
    "usage: ofelia run [options] JOB\n\n"
    "Runs JOB (from the config, or one created through the API) once now and\n"
    "records it. Exit status: 0 when it succeeded, 1 otherwise.\n";

struct run_state {
	struct loop *loop;
	struct scheduler *scheduler;
	enum job_status status;
	bool done;
};

static void on_event(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->type != EVENT_LOG_LINE)
		return;
	const char *level = json_string_value(json_object_get(ev->payload, "level"));
	const char *msg = json_string_value(json_object_get(ev->payload, "message"));
	FILE *out = level && strcmp(level, "error") == 0 ? stderr : stdout;
	fprintf(out, "%s\n", msg ? msg : "");
	fflush(out);
}

static void on_done(enum job_status status, void *arg)
{
	struct run_state *r = arg;
	r->status = status;
	r->done = true;
	loop_stop(r->loop);
}

static void on_signal(int signo, void *arg)
{
	struct run_state *r = arg;
	(void)signo;
	scheduler_stop_running(r->scheduler, "interrupted from the terminal");
}

static const struct job *find_job(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->njobs; i++)
		if (strcmp(c->jobs[i]->name, name) == 0)
			return c->jobs[i];
	return NULL;
}

/* stored_job finds a job the config does not have but the database does
 * (one created through the API); the caller frees the row. */
static struct store_job *stored_job(struct store *st, const char *name)
{
	struct store_job *row = NULL;
	if (store_job_get(st, name, &row) == 0 && row && row->deleted_ns == 0)
		return row;
	store_job_free(row);
	return NULL;
}

static int run_job(const char *config_path, const char *db_path, bool init, const char *name)
{
	static const int sigs[] = {SIGINT, SIGTERM};
	struct scheduler_options so;
	struct run_state r = {0};
	struct store *st = NULL;
	struct store_job *row = NULL;
	struct events *ev = NULL;
	char err[512];
	int rc = CLI_FAIL;

	struct config *c = cli_load_config(config_path);
	if (c == NULL || cli_scheduler_options(c, &so) < 0) {
		config_free(c);
		return CLI_FAIL;
	}
	/* Before the store starts its thread, so only the loop sees them;
	 * libcurl's global set-up too must come before any thread. */
	loop_block_signals(sigs, 2);
	if (docker_global_init() < 0) {
		fprintf(stderr, "ofelia run: cannot initialise libcurl\n");
		config_free(c);
		return CLI_FAIL;
	}
	char *db = cli_db_path(db_path, c);
	st = cli_open_store(db, c, false, init);
	free(db);
	if (st == NULL)
		goto out;
	const struct job *def = find_job(c, name);
	if (def == NULL && (row = stored_job(st, name)) != NULL)
		def = row->def;
	if (def == NULL) {
		fprintf(stderr, "ofelia run: no job \"%s\" in %s or in the database\n", name,
		        config_path ? config_path : "the default config");
		goto out;
	}
	log_setup(LOG_WARN, LOG_LOGFMT);
	signal(SIGPIPE, SIG_IGN);
	r.loop = loop_new();
	ev = events_new();
	events_subscribe(ev, on_event, &r);
	so.max_concurrent = 1;
	r.scheduler = scheduler_new(r.loop, st, ev, &so);
	loop_on_signals(r.loop, sigs, 2, on_signal, &r);
	if (scheduler_run_once(r.scheduler, def, on_done, &r, err, sizeof err) < 0) {
		fprintf(stderr, "ofelia run: %s\n", err);
	} else {
		loop_run(r.loop);
		if (r.status != JOB_STATUS_SUCCESS)
			fprintf(stderr, "ofelia run: job \"%s\" %s\n", name,
			        job_status_name(r.status));
		rc = r.status == JOB_STATUS_SUCCESS ? CLI_OK : CLI_FAIL;
	}
out:
	scheduler_free(r.scheduler);
	events_free(ev);
	loop_free(r.loop);
	store_job_free(row);
	store_close(st);
	docker_global_cleanup();
	config_free(c);
	return rc;
}

int cli_run(int argc, char **argv)
{
	char *config = NULL, *db = NULL;
	int init = -1;
	const struct cli_opt opts[] = {
	    {"config", 'c', "OFELIA_CONFIG", CLI_STRING, &config,
	     "config file; default: the embedded config"},
	    {"db", 0, "OFELIA_DB", CLI_STRING, &db, "SQLite database file"},
	    {"init-db", 0, "OFELIA_INIT_DB", CLI_BOOL, &init,
	     "create an empty database even where one was deleted"},
	};
	const size_t nopts = sizeof opts / sizeof opts[0];
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, opts, nopts, usage, &npos, &help);
	if (rc < 0 && npos != 1) {
		fprintf(stderr, "%s", usage);
		rc = CLI_USAGE;
	}
	if (rc < 0)
		rc = run_job(config, db, init == 1, argv[0]);
	cli_free_opts(opts, nopts);
	return rc;
}
