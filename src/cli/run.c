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
#include "events/events.h"
#include "lazycurl/lazycurl.h"
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

static int run_job(const struct cli_settings *opts, const char *name)
{
	static const int sigs[] = {SIGINT, SIGTERM};
	struct scheduler_options so;
	struct run_state r = {0};
	struct store *st = NULL;
	struct store_job *row = NULL;
	struct events *ev = NULL;
	char err[512];
	int rc = CLI_FAIL;

	struct config_diag diag = {STRV_INIT, STRV_INIT};
	char *config_path = NULL;
	struct config *c = cli_config_load(opts, &diag, &config_path);
	if (c)
		cli_apply_settings(opts, c, &diag);
	cli_report(&opts->notes, &diag, false);
	bool bad = c == NULL || diag.errors.n > 0;
	config_diag_free(&diag);
	if (bad || cli_scheduler_options(c, &so) < 0) {
		config_free(c);
		free(config_path);
		return CLI_FAIL;
	}
	/* Before the store starts its thread, so only the loop sees them. */
	loop_block_signals(sigs, 2);
	char *db = cli_db_path(opts->db, c);
	st = cli_open_store(db, c, false, opts->init_db == 1);
	free(db);
	if (st == NULL)
		goto out;
	const struct job *def = find_job(c, name);
	if (def == NULL && (row = stored_job(st, name)) != NULL)
		def = row->def;
	if (def == NULL) {
		fprintf(stderr, "ofelia run: no job \"%s\" in %s or in the database\n", name,
		        config_path ? config_path : "the config (there is none)");
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
	lazycurl_cleanup();
	config_free(c);
	free(config_path);
	return rc;
}

int cli_run(int argc, char **argv)
{
	struct cli_settings opts;
	struct cli_opt table[CLI_SETTINGS_MAX];
	cli_settings_init(&opts);
	size_t n = cli_settings_options(&opts, table);
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, table, n, usage, &npos, &help);
	if (rc < 0 && npos != 1) {
		fprintf(stderr, "%s", usage);
		rc = CLI_USAGE;
	}
	if (rc < 0)
		rc = run_job(&opts, argv[0]);
	cli_settings_fini(&opts);
	return rc;
}
