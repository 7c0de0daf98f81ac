/* /api/jobs and /api/job/{name}: the jobs as the store has them, and the
 * changes, which go through the scheduler (it validates, stores, replans and
 * announces them).
 *
 * The reads are what the UI polls. Everything they show (definitions,
 * lastRun, nextRun, status, history, metrics) changes only with the
 * scheduler's version, which moves whenever a job is added, changed,
 * removed, run, finished or replanned and whenever a slot is recorded. So
 * GET /api/jobs is rendered once per version, and the last HTTP_PAGES
 * answers of GET /api/job/{name} (by path and query) are kept for as long
 * as the version does not move: rendering a job's page costs ~250 us of
 * SQLite and JSON, serving a kept one ~15 us. Bodies live in h2o shared
 * memory that each response references instead of copying. */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define HISTORY_DEFAULT 20
#define HISTORY_MAX     1000
/* History items carry the tail of their output; the execution has it all. */
#define HISTORY_OUTPUT_MAX 4096

json_t *http_job_view(struct http *h, const struct store_job *row)
{
	json_t *o = job_to_json(row->def);
	json_t *status = json_null();
	if (scheduler_job_running(h->deps.scheduler, row->def->name) > 0)
		status = json_string("running");
	else if (row->last_run_ns)
		status = json_string(job_status_name(row->last_status));
	json_object_set_new(o, "lastRun", http_time(row->last_run_ns));
	json_object_set_new(o, "nextRun", http_time(row->next_run_ns));
	json_object_set_new(o, "status", status);
	return o;
}

/* summary keeps the keys of spec/API.md's job list from a full view: the
 * list is what the UI polls, GET /api/job/{name} has the rest. container
 * and image appear when set. */
static json_t *summary(json_t *view)
{
	static const char *const keys[] = {"name",      "type",   "schedule", "command",
	                                   "container", "image",  "lastRun",  "nextRun",
	                                   "status",    "origin", "enabled",  NULL};
	json_t *o = json_object();
	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(view, keys[i]);
		bool optional = strcmp(keys[i], "container") == 0 || strcmp(keys[i], "image") == 0;
		if (v && !(optional && json_is_null(v)))
			json_object_set(o, keys[i], v);
	}
	json_decref(view);
	return o;
}

/* render_jobs builds the body of GET /api/jobs into h->jobs_body. */
static int render_jobs(struct http *h)
{
	struct store_job **rows;
	size_t n;
	if (store_jobs_load(h->deps.store, &rows, &n) < 0)
		return -1;
	json_t *jobs = json_array();
	int running = 0;
	for (size_t i = 0; i < n; i++) {
		if (!scheduler_job_live(h->deps.scheduler, rows[i]->def->name))
			continue;
		json_t *view = summary(http_job_view(h, rows[i]));
		const char *status = json_string_value(json_object_get(view, "status"));
		running += status && strcmp(status, "running") == 0;
		json_array_append_new(jobs, view);
	}
	store_jobs_free(rows, n);
	json_t *body = json_pack("{s:o,s:I,s:i}", "jobs", jobs, "total",
	                         (json_int_t)json_array_size(jobs), "running", running);
	char *dumped = json_dumps(body, JSON_COMPACT);
	size_t len = strlen(dumped);
	char *text = h2o_mem_alloc_shared(NULL, len + 1, NULL);
	memcpy(text, dumped, len + 1);
	free(dumped);
	json_decref(body);
	if (h->jobs_body)
		h2o_mem_release_shared(h->jobs_body);
	h->jobs_body = text;
	h->jobs_len = len;
	return 0;
}

void http_on_jobs(struct http_req *r)
{
	struct http *h = r->h;
	uint64_t version = scheduler_version(h->deps.scheduler);
	if (!h->jobs_cached || h->jobs_version != version) {
		if (render_jobs(h) < 0) {
			http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL,
			                 "Cannot read the jobs: %s", store_errmsg(h->deps.store));
			return;
		}
		h->jobs_cached = true;
		h->jobs_version = version;
	}
	h2o_mem_link_shared(r->pool, h->jobs_body);
	http_reply_bytes(r, 200, "application/json", h->jobs_body, h->jobs_len);
}

void http_jobs_fini(struct http *h)
{
	if (h->jobs_body)
		h2o_mem_release_shared(h->jobs_body);
	h->jobs_body = NULL;
	for (size_t i = 0; h->pages && i < HTTP_PAGES; i++) {
		free(h->pages[i].key);
		if (h->pages[i].body)
			h2o_mem_release_shared(h->pages[i].body);
	}
	free(h->pages);
	h->pages = NULL;
}

/* ---- kept pages ---- */

/* Longer keys are not kept: a client cannot fill memory with queries. */
#define PAGE_KEY_MAX 512

static char *page_key(struct http_req *r)
{
	if (r->path.len + r->query.len + 2 > PAGE_KEY_MAX)
		return NULL;
	char *key = xasprintf("%.*s?%.*s", (int)r->path.len, r->path.base, (int)r->query.len,
	                      r->query.base ? r->query.base : "");
	return key;
}

/* page_serve answers from a kept page of this version; false when none. */
static bool page_serve(struct http_req *r, const char *key)
{
	struct http *h = r->h;
	uint64_t version = scheduler_version(h->deps.scheduler);
	for (size_t i = 0; key && h->pages && i < HTTP_PAGES; i++) {
		struct http_page *p = &h->pages[i];
		if (p->key && p->version == version && strcmp(p->key, key) == 0) {
			h2o_mem_link_shared(r->pool, p->body);
			http_reply_bytes(r, 200, "application/json", p->body, p->len);
			return true;
		}
	}
	return false;
}

/* page_keep keeps the answer just rendered (r's body) under key. */
static void page_keep(struct http_req *r, char *key)
{
	struct http *h = r->h;
	if (h->pages == NULL)
		h->pages = xcalloc(HTTP_PAGES, sizeof *h->pages);
	struct http_page *p = &h->pages[h->next_page];
	h->next_page = (h->next_page + 1) % HTTP_PAGES;
	free(p->key);
	if (p->body)
		h2o_mem_release_shared(p->body);
	p->key = key;
	p->version = scheduler_version(h->deps.scheduler);
	p->len = r->res_body.len;
	p->body = h2o_mem_alloc_shared(NULL, p->len + 1, NULL);
	memcpy(p->body, r->res_body.base, p->len);
}

/* ---- one job ---- */

static json_t *output_tail(const char *output)
{
	if (output == NULL)
		return json_null();
	size_t len = strlen(output);
	if (len <= HISTORY_OUTPUT_MAX)
		return http_string(output);
	const char *p = output + len - HISTORY_OUTPUT_MAX;
	while (((unsigned char)*p & 0xC0) == 0x80)
		p++;
	return http_string(p);
}

static json_t *history_item(const struct store_execution *e)
{
	bool ended = e->end_ns != 0;
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o}", "executionId", e->id,
	                 "job", http_string(e->job_name), "startTime", http_time(e->start_ns),
	                 "endTime", http_time(e->end_ns), "scheduledTime",
	                 http_time(e->scheduled_ns), "duration",
	                 ended ? json_integer(e->duration_ns) : json_null(), "status",
	                 job_status_name(e->status), "output", output_tail(e->output), "error",
	                 e->error ? http_string(e->error) : json_null(), "exitCode",
	                 e->has_exit_code ? json_integer(e->exit_code) : json_null(), "trigger",
	                 json_string(job_trigger_name(e->trigger)));
}

static json_t *metrics_view(const struct store_job_metrics *m)
{
	return json_pack(
	    "{s:I,s:I,s:I,s:I,s:o,s:o}", "totalRuns", (json_int_t)m->total_runs, "successfulRuns",
	    (json_int_t)m->successful_runs, "failedRuns", (json_int_t)m->failed_runs,
	    "averageDuration", (json_int_t)m->average_duration_ns, "lastSuccess",
	    http_time(m->last_success_ns), "lastFailure", http_time(m->last_failure_ns));
}

static bool job_exists(struct http_req *r)
{
	if (scheduler_job_live(r->h->deps.scheduler, r->param))
		return true;
	http_reply_error(r, 404, "JOB_NOT_FOUND", "job", r->param, "Job '%s' not found", r->param);
	return false;
}

void http_on_job_get(struct http_req *r)
{
	struct store *st = r->h->deps.store;
	struct store_job *row = NULL;
	struct store_execution **hist = NULL, *cursor = NULL;
	struct store_job_metrics m;
	size_t n = 0;
	int64_t limit, before_ns = 0;
	int rc;

	if (!job_exists(r))
		return;
	char *key = page_key(r);
	if (page_serve(r, key)) {
		free(key);
		return;
	}
	if (http_query_int(r, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX, &limit) < 0)
		goto out;
	const char *before = http_query(r, "before");
	if (before && clock_parse_rfc3339(before, &before_ns) < 0) {
		if (store_execution_get(st, before, &cursor) < 0)
			goto store_error;
		if (cursor == NULL || strcmp(cursor->job_name, r->param) != 0) {
			http_reply_error(
			    r, 400, "VALIDATION_ERROR", "job", r->param,
			    "before must be an RFC 3339 time or the id of an execution "
			    "of job '%s'",
			    r->param);
			goto out;
		}
	}
	if (store_job_get(st, r->param, &row) < 0)
		goto store_error;
	if (row == NULL) {
		http_reply_error(r, 404, "JOB_NOT_FOUND", "job", r->param, "Job '%s' not found",
		                 r->param);
		goto out;
	}
	/* An execution id pages exactly; a time may split a millisecond. */
	rc = cursor ? store_execution_history_after(st, r->param, cursor->id, (int)limit, &hist, &n)
	            : store_execution_history(st, r->param, before_ns, (int)limit, &hist, &n);
	if (rc < 0 || store_job_metrics(st, r->param, &m) < 0)
		goto store_error;

	json_t *body = http_job_view(r->h, row);
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, history_item(hist[i]));
	json_object_set_new(body, "history", items);
	json_object_set_new(body, "metrics", metrics_view(&m));
	http_reply_json(r, 200, body);
	if (r->status == 200 && key) {
		page_keep(r, key);
		key = NULL;
	}
	goto out;
store_error:
	http_reply_error(r, 500, "INTERNAL_ERROR", "job", r->param, "Cannot read job '%s': %s",
	                 r->param, store_errmsg(st));
out:
	free(key);
	store_execution_free(cursor);
	store_executions_free(hist, n);
	store_job_free(row);
}

void http_on_job_put(struct http_req *r)
{
	char err[512];
	const char *code = NULL;
	bool created;
	json_t *body = http_body_object(r);
	if (body == NULL)
		return;
	enum scheduler_rc rc = scheduler_put_job(r->h->deps.scheduler, r->param, body, &created,
	                                         &code, err, sizeof err);
	json_decref(body);
	if (rc != SCHED_OK) {
		http_reply_sched_error(r, rc, code, "job", r->param, err);
		return;
	}
	if (created)
		http_reply_json(r, 201,
		                json_pack("{s:o,s:b,s:s}", "name", http_string(r->param), "created",
		                          1, "message", "Job created successfully"));
	else
		http_reply_json(r, 200,
		                json_pack("{s:o,s:b,s:s}", "name", http_string(r->param), "updated",
		                          1, "message", "Job configuration updated successfully"));
}

void http_on_job_delete(struct http_req *r)
{
	char err[512];
	enum scheduler_rc rc =
	    scheduler_delete_job(r->h->deps.scheduler, r->param, err, sizeof err);
	if (rc != SCHED_OK) {
		http_reply_sched_error(r, rc, NULL, "job", r->param, err);
		return;
	}
	http_reply_json(r, 200,
	                json_pack("{s:o,s:b,s:s}", "name", http_string(r->param), "deleted", 1,
	                          "message", "Job deleted successfully"));
}

void http_on_job_run(struct http_req *r)
{
	char err[512], id[37];
	int64_t start;
	bool queued;
	enum scheduler_rc rc =
	    scheduler_run_job(r->h->deps.scheduler, r->param, id, &start, &queued, err, sizeof err);
	if (rc != SCHED_OK) {
		http_reply_sched_error(r, rc, NULL, "job", r->param, err);
		return;
	}
	/* A run waiting for a runner thread is accepted, not started (202). */
	http_reply_json(r, queued ? 202 : 200,
	                json_pack("{s:s,s:o,s:o,s:s}", "executionId", id, "job",
	                          http_string(r->param), "startTime",
	                          queued ? json_null() : http_time(start), "status",
	                          queued ? "queued" : "running"));
}

void http_on_job_toggle(struct http_req *r)
{
	char err[512];
	bool enabled;
	enum scheduler_rc rc =
	    scheduler_toggle_job(r->h->deps.scheduler, r->param, &enabled, err, sizeof err);
	if (rc != SCHED_OK) {
		http_reply_sched_error(r, rc, NULL, "job", r->param, err);
		return;
	}
	http_reply_json(r, 200,
	                json_pack("{s:o,s:b,s:s}", "name", http_string(r->param), "enabled",
	                          enabled, "message", enabled ? "Job enabled" : "Job disabled"));
}
