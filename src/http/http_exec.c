/* /api/execution/{id}: one execution, its log lines, and stopping it.
 *
 * A stop is answered once the execution has really ended (its job.completed
 * or job.failed event, which the scheduler publishes after the end is
 * committed), so "stopped": true is true. The runner gives a job the stop
 * grace period before killing it, so the answer waits that long and a bit
 * more; past it the answer is 202 with "stopped": false. */
#include <string.h>

#include "http/http_int.h"
#include "util/clock.h"

#define LOGS_DEFAULT  1000
#define LOGS_MAX      10000
#define STOP_SLACK_NS (5 * NS_PER_SEC)
/* Runs an execution caused that its view lists (sql/chains.sql has all). */
#define CAUSED_MAX 100

bool http_valid_id(const char *id)
{
	if (strlen(id) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = id[i];
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

static void not_found(struct http_req *r)
{
	http_reply_error(r, 404, "EXECUTION_NOT_FOUND", "executionId", r->param,
	                 "Execution '%s' not found", r->param);
}

/* load answers 404 or 500 itself and returns NULL when there is nothing. */
static struct store_execution *load(struct http_req *r)
{
	struct store *st = r->h->deps.store;
	struct store_execution *e = NULL;
	if (!http_valid_id(r->param)) {
		not_found(r);
		return NULL;
	}
	if (store_execution_get(st, r->param, &e) < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", "executionId", r->param,
		                 "Cannot read execution '%s': %s", r->param, store_errmsg(st));
		return NULL;
	}
	if (e == NULL)
		not_found(r);
	return e;
}

json_t *http_chain_fields(json_t *o, const struct store_execution *e)
{
	json_object_set_new(o, "attempt", json_integer(e->attempt > 1 ? e->attempt : 1));
	json_object_set_new(o, "firstAttemptId",
	                    *e->first_attempt_id ? json_string(e->first_attempt_id) : json_null());
	json_object_set_new(o, "causeId", *e->cause_id ? json_string(e->cause_id) : json_null());
	return o;
}

/* caused lists what e's end made: the executions whose cause it is (a
 * retry, triggered runs) and the rows still pending (their ids are those
 * the executions will have). NULL when the store cannot be read. */
static json_t *caused(struct store *st, const struct store_execution *e)
{
	struct store_execution **v = NULL;
	struct store_pending **p = NULL;
	size_t n = 0, np = 0;
	if (store_execution_caused(st, e->id, CAUSED_MAX, &v, &n) < 0)
		return NULL;
	if (store_pending_of_cause(st, e->id, &p, &np) < 0) {
		store_executions_free(v, n);
		return NULL;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    a, http_chain_fields(json_pack("{s:s,s:o,s:s,s:s,s:o}", "executionId", v[i]->id,
		                                   "job", http_string(v[i]->job_name), "status",
		                                   job_status_name(v[i]->status), "trigger",
		                                   job_trigger_name(v[i]->trigger), "startTime",
		                                   http_time(v[i]->start_ns)),
		                         v[i]));
	for (size_t i = 0; i < np; i++)
		json_array_append_new(
		    a,
		    json_pack("{s:s,s:o,s:s,s:s,s:o,s:i,s:o,s:o}", "executionId", p[i]->id, "job",
		              http_string(p[i]->job_name), "status", "pending", "trigger",
		              job_trigger_name(p[i]->trigger), "dueTime", http_time(p[i]->due_ns),
		              "attempt", p[i]->attempt > 1 ? p[i]->attempt : 1, "reason",
		              p[i]->reason ? http_string(p[i]->reason) : json_null(), "kind",
		              json_string(store_pending_kind_name(p[i]->kind))));
	store_executions_free(v, n);
	store_pendings_free(p, np);
	return a;
}

void http_on_execution(struct http_req *r)
{
	char job[256];
	/* A manual run waiting for a runner thread has no row yet. */
	if (http_valid_id(r->param) &&
	    scheduler_queued_run(r->h->deps.scheduler, r->param, job, sizeof job)) {
		http_reply_json(r, 200,
		                json_pack("{s:s,s:o,s:s,s:s,s:n}", "executionId", r->param, "job",
		                          http_string(job), "status", "queued", "trigger", "manual",
		                          "startTime"));
		return;
	}
	json_t *pending =
	    http_valid_id(r->param) ? scheduler_pending_view(r->h->deps.scheduler, r->param) : NULL;
	if (pending) {
		http_reply_json(r, 200, pending);
		return;
	}
	struct store_execution *e = load(r);
	if (e == NULL)
		return;
	bool ended = e->end_ns != 0;
	json_t *body = json_pack(
	    "{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:s,s:I,s:I}", "executionId", e->id, "job",
	    http_string(e->job_name), "startTime", http_time(e->start_ns), "endTime",
	    http_time(e->end_ns), "scheduledTime", http_time(e->scheduled_ns), "duration",
	    ended ? json_integer(e->duration_ns) : json_null(), "status",
	    job_status_name(e->status), "output", e->output ? http_string(e->output) : json_null(),
	    "error", e->error ? http_string(e->error) : json_null(), "exitCode",
	    e->has_exit_code ? json_integer(e->exit_code) : json_null(), "trigger",
	    job_trigger_name(e->trigger), "logLines", (json_int_t)e->log_lines, "droppedLines",
	    (json_int_t)e->dropped_lines);
	json_object_set_new(body, "notifications", http_execution_notifications(r->h, e->id));
	/* In a cluster: the node that ran it, and the one that ended it for it. */
	if (e->node)
		json_object_set_new(body, "node", http_string(e->node));
	if (e->resolved_by)
		json_object_set_new(body, "resolvedBy", http_string(e->resolved_by));
	http_chain_fields(body, e);
	json_t *follows = caused(r->h->deps.store, e);
	json_object_set_new(body, "caused", follows ? follows : json_array());
	store_execution_free(e);
	http_reply_json(r, 200, body);
}

/* ---- stop ---- */

static void reply_stopped(struct http_req *r, const char *status)
{
	http_reply_json(r, 200,
	                json_pack("{s:s,s:b,s:s,s:s}", "executionId", r->exec_id, "stopped", 1,
	                          "status", status, "message", "Execution stopped"));
}

static void stop_answered(struct http *h)
{
	h->stop_waiters--;
	http_events_update(h);
}

static void on_stop_timeout(struct http_req *r)
{
	stop_answered(r->h);
	http_reply_json(r, 202,
	                json_pack("{s:s,s:b,s:s}", "executionId", r->exec_id, "stopped", 0,
	                          "message", "Stop requested; the execution has not ended yet"));
	http_req_finish(r);
}

void http_exec_on_event(struct http *h, const struct event *ev)
{
	if (ev->type != EVENT_JOB_COMPLETED && ev->type != EVENT_JOB_FAILED)
		return;
	const char *id = json_string_value(json_object_get(ev->payload, "executionId"));
	const char *status = json_string_value(json_object_get(ev->payload, "status"));
	if (id == NULL)
		return;
	for (;;) {
		struct http_req *r = h->deferred;
		while (r && !(r->on_due == on_stop_timeout && strcmp(r->exec_id, id) == 0))
			r = r->next_deferred;
		if (r == NULL)
			break;
		http_req_undefer(r);
		stop_answered(h);
		r->now_ns = clock_now_ns();
		reply_stopped(r, status ? status : "stopped");
		http_req_finish(r);
	}
}

void http_on_execution_stop(struct http_req *r)
{
	char err[512];
	if (!http_valid_id(r->param)) {
		not_found(r);
		return;
	}
	enum scheduler_rc rc =
	    scheduler_stop_execution(r->h->deps.scheduler, r->param, err, sizeof err);
	/* Not running here: on a follower it runs at the leader. */
	if (rc == SCHED_CONFLICT && http_not_leader(r))
		return;
	if (rc != SCHED_OK) {
		http_reply_sched_error(r, rc, rc == SCHED_CONFLICT ? "EXECUTION_NOT_RUNNING" : NULL,
		                       "executionId", r->param, err);
		return;
	}
	memcpy(r->exec_id, r->param, sizeof r->exec_id);
	r->h->stop_waiters++;
	http_events_update(r->h);
	http_req_defer(r, r->now_ns + r->cfg->global.shutdown_grace_ns + STOP_SLACK_NS,
	               on_stop_timeout);
}

/* ---- logs ---- */

void http_on_execution_logs(struct http_req *r)
{
	struct store *st = r->h->deps.store;
	struct store_log_line *lines = NULL;
	size_t n = 0;
	int64_t after, limit;

	if (http_query_int(r, "after", 0, 0, INT64_MAX, &after) < 0 ||
	    http_query_int(r, "limit", LOGS_DEFAULT, 1, LOGS_MAX, &limit) < 0)
		return;
	struct store_execution *e = load(r);
	if (e == NULL)
		return;
	/* Lines of a running execution wait in memory for a group commit. */
	if (e->status == JOB_STATUS_RUNNING)
		store_flush(st);
	if (store_log_read(st, e->id, after, (int)limit, &lines, &n) < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", "executionId", e->id,
		                 "Cannot read the logs of execution '%s': %s", e->id,
		                 store_errmsg(st));
		store_execution_free(e);
		return;
	}
	json_t *logs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(logs, json_pack("{s:I,s:o,s:s,s:o}", "seq",
		                                      (json_int_t)lines[i].seq, "timestamp",
		                                      http_time(lines[i].ts_ns), "level",
		                                      lines[i].is_error ? "error" : "info",
		                                      "message", http_string(lines[i].message)));
	http_reply_json(r, 200,
	                json_pack("{s:s,s:s,s:o,s:I,s:b}", "executionId", e->id, "status",
	                          job_status_name(e->status), "logs", logs, "nextAfter",
	                          (json_int_t)(n ? lines[n - 1].seq : after), "hasMore",
	                          n == (size_t)limit));
	store_log_lines_free(lines, n);
	store_execution_free(e);
}
