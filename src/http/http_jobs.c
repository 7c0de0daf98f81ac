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
#include "cron/cron.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HISTORY_DEFAULT 20
#define HISTORY_MAX     1000
/* History items carry the tail of their output; the execution has it all. */
#define HISTORY_OUTPUT_MAX 4096
/* ?recent= of GET /api/jobs: statuses of the newest runs per job. */
#define RECENT_MAX 50
/* Runs in the strips that jobs.changed carries. */
#define STRIP_RUNS 20
/* Times in a job's "nextRuns". */
#define NEXT_RUNS 5

json_t *http_job_view(struct http *h, const struct store_job *row)
{
	json_t *o = job_to_json(row->def);
	json_t *status = json_null();
	/* The scheduler's view: the row takes it with each outcome. */
	int64_t next = row->next_run_ns, last = row->last_run_ns;
	enum job_status last_status = row->last_status;
	scheduler_job_times(h->deps.scheduler, row->def->name, &next, &last, &last_status);
	if (scheduler_job_running(h->deps.scheduler, row->def->name) > 0)
		status = json_string("running");
	else if (last)
		status = json_string(job_status_name(last_status));
	json_object_set_new(o, "lastRun", http_time(last));
	json_object_set_new(o, "nextRun", http_time(next));
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

/* render_jobs builds the body of GET /api/jobs into h->jobs_body and keeps
 * its summaries in h->jobs_list. */
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
	json_t *body = json_pack("{s:O,s:I,s:i}", "jobs", jobs, "total",
	                         (json_int_t)json_array_size(jobs), "running", running);
	char *dumped = json_dumps(body, JSON_COMPACT);
	size_t len = strlen(dumped);
	char *text = h2o_mem_alloc_shared(NULL, len + 1, NULL);
	memcpy(text, dumped, len + 1);
	free(dumped);
	json_decref(body);
	if (h->jobs_body)
		h2o_mem_release_shared(h->jobs_body);
	json_decref(h->jobs_list);
	h->jobs_body = text;
	h->jobs_len = len;
	h->jobs_list = jobs;
	h->jobs_running = running;
	return 0;
}

/* jobs_current renders the list when the scheduler's version moved. */
static int jobs_current(struct http *h)
{
	uint64_t version = scheduler_version(h->deps.scheduler);
	if (h->jobs_cached && h->jobs_version == version)
		return 0;
	if (render_jobs(h) < 0)
		return -1;
	h->jobs_cached = true;
	h->jobs_version = version;
	return 0;
}

/* recent returns the statuses of a job's newest runs, newest first. */
static json_t *recent(struct http *h, const char *name, int limit)
{
	enum job_status st[RECENT_MAX];
	size_t n;
	if (store_execution_recent(h->deps.store, name, limit, st, &n) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(job_status_name(st[i])));
	return a;
}

/* with_recent returns a copy of a summary with its "recent" runs. */
static json_t *with_recent(struct http *h, json_t *job, int limit)
{
	json_t *runs = recent(h, json_string_value(json_object_get(job, "name")), limit);
	if (runs == NULL)
		return NULL;
	json_t *o = json_copy(job);
	json_object_set_new(o, "recent", runs);
	return o;
}

static char *page_key(struct http_req *r);
static bool page_serve(struct http_req *r, const char *key);
static void page_keep(struct http_req *r, char *key);

void http_on_jobs(struct http_req *r)
{
	struct http *h = r->h;
	int64_t limit;
	if (http_query_int(r, "recent", 0, 0, RECENT_MAX, &limit) < 0)
		return;
	if (jobs_current(h) < 0)
		goto store_error;
	if (limit == 0) {
		h2o_mem_link_shared(r->pool, h->jobs_body);
		http_reply_bytes(r, 200, "application/json", h->jobs_body, h->jobs_len);
		return;
	}
	/* With the strips it costs a query per job: kept per version too. */
	char *key = page_key(r);
	if (page_serve(r, key)) {
		free(key);
		return;
	}
	json_t *jobs = json_array();
	for (size_t i = 0; i < json_array_size(h->jobs_list); i++) {
		json_t *o = with_recent(h, json_array_get(h->jobs_list, i), (int)limit);
		if (o == NULL) {
			json_decref(jobs);
			free(key);
			goto store_error;
		}
		json_array_append_new(jobs, o);
	}
	http_reply_json(r, 200,
	                json_pack("{s:o,s:I,s:i}", "jobs", jobs, "total",
	                          (json_int_t)json_array_size(jobs), "running", h->jobs_running));
	if (r->status == 200 && key)
		page_keep(r, key);
	else
		free(key);
	return;
store_error:
	http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL, "Cannot read the jobs: %s",
	                 store_errmsg(h->deps.store));
}

json_t *http_jobs_changes(struct http *h)
{
	if (jobs_current(h) < 0) {
		log_kv(LOG_WARN, "cannot read the jobs for jobs.changed", "error",
		       store_errmsg(h->deps.store), NULL);
		return NULL;
	}
	bool first = !h->jobs_sent_ready;
	if (first)
		map_init(&h->jobs_sent);
	struct map now;
	map_init(&now);
	json_t *changed = json_array(), *removed = json_array();
	for (size_t i = 0; i < json_array_size(h->jobs_list); i++) {
		json_t *job = json_array_get(h->jobs_list, i);
		const char *name = json_string_value(json_object_get(job, "name"));
		json_t *before = map_remove(&h->jobs_sent, name);
		if (!first && (before == NULL || !json_equal(before, job))) {
			json_t *o = with_recent(h, job, STRIP_RUNS);
			json_array_append_new(changed, o ? o : json_incref(job));
		}
		json_decref(before);
		map_put(&now, name, json_incref(job));
	}
	/* What is left was announced and is gone. */
	struct map_iter it;
	const char *name;
	void *v;
	map_iter_init(&h->jobs_sent, &it);
	while (map_iter_next(&h->jobs_sent, &it, &name, &v)) {
		json_array_append_new(removed, http_string(name));
		json_decref(v);
	}
	map_fini(&h->jobs_sent);
	h->jobs_sent = now;
	h->jobs_sent_ready = true;
	if (json_array_size(changed) == 0 && json_array_size(removed) == 0) {
		json_decref(changed);
		json_decref(removed);
		return NULL;
	}
	return json_pack("{s:o,s:o}", "jobs", changed, "removed", removed);
}

void http_jobs_fini(struct http *h)
{
	if (h->jobs_body)
		h2o_mem_release_shared(h->jobs_body);
	h->jobs_body = NULL;
	json_decref(h->jobs_list);
	h->jobs_list = NULL;
	if (h->jobs_sent_ready) {
		struct map_iter it;
		const char *name;
		void *v;
		map_iter_init(&h->jobs_sent, &it);
		while (map_iter_next(&h->jobs_sent, &it, &name, &v))
			json_decref(v);
		map_fini(&h->jobs_sent);
		h->jobs_sent_ready = false;
	}
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
	json_t *o =
	    json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o}", "executionId", e->id, "job",
	              http_string(e->job_name), "startTime", http_time(e->start_ns), "endTime",
	              http_time(e->end_ns), "scheduledTime", http_time(e->scheduled_ns), "duration",
	              ended ? json_integer(e->duration_ns) : json_null(), "status",
	              job_status_name(e->status), "output", output_tail(e->output), "error",
	              e->error ? http_string(e->error) : json_null(), "exitCode",
	              e->has_exit_code ? json_integer(e->exit_code) : json_null(), "trigger",
	              json_string(job_trigger_name(e->trigger)));
	/* In a cluster: the node that ran it. */
	if (e->node)
		json_object_set_new(o, "node", http_string(e->node));
	return http_chain_fields(o, e);
}

static json_t *metrics_view(const struct store_job_metrics *m)
{
	return json_pack(
	    "{s:I,s:I,s:I,s:I,s:o,s:o}", "totalRuns", (json_int_t)m->total_runs, "successfulRuns",
	    (json_int_t)m->successful_runs, "failedRuns", (json_int_t)m->failed_runs,
	    "averageDuration", (json_int_t)m->average_duration_ns, "lastSuccess",
	    http_time(m->last_success_ns), "lastFailure", http_time(m->last_failure_ns));
}

/* schedule_view adds what the job page shows of the schedule: the zone it
 * runs in ("zone": its CRON_TZ= or the global timezone), the next
 * NEXT_RUNS times from the planned nextRun ("nextRuns": none when disabled
 * or manual) and whether the API overrides its source ("overridden"). */
static void schedule_view(struct http_req *r, json_t *body, const struct store_job *row)
{
	const char *spec = row->def->schedule ? row->def->schedule : "";
	const char *global = r->cfg->global.timezone ? r->cfg->global.timezone : "Local";
	char zone[128], err[256];
	size_t skip = strncmp(spec, "CRON_TZ=", 8) == 0 ? 8 : strncmp(spec, "TZ=", 3) == 0 ? 3 : 0;
	if (skip)
		snprintf(zone, sizeof zone, "%.*s", (int)strcspn(spec + skip, " \t"), spec + skip);
	else
		snprintf(zone, sizeof zone, "%s", global);

	json_t *runs = json_array();
	const struct tz *tz = tz_load(global, err, sizeof err);
	struct cron *c = NULL;
	int64_t next = row->next_run_ns, last;
	enum job_status last_status;
	scheduler_job_times(r->h->deps.scheduler, row->def->name, &next, &last, &last_status);
	if (next && tz && cron_parse(spec, tz, &c, err, sizeof err) == 0) {
		int64_t t = next / NS_PER_SEC;
		json_array_append_new(runs, http_time(next));
		while (json_array_size(runs) < NEXT_RUNS && (t = cron_next(c, t)) != CRON_NEVER)
			json_array_append_new(runs, http_time(t * NS_PER_SEC));
	}
	cron_free(c);
	json_object_set_new(body, "zone", http_string(zone));
	json_object_set_new(body, "nextRuns", runs);
	json_object_set_new(body, "overridden", json_boolean(row->overridden));
}

/* The keys the job's page adds, which a client may send back with PUT. */
static const char *const view_keys[] = {"zone",         "nextRuns",   "overridden", "recent",
                                        "dependencies", "dependents", "pending"};

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
	schedule_view(r, body, row);
	json_t *chain = scheduler_job_chain(r->h->deps.scheduler, r->param);
	if (chain) {
		json_object_update(body, chain);
		json_decref(chain);
	}
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
	for (size_t i = 0; i < sizeof view_keys / sizeof view_keys[0]; i++)
		json_object_del(body, view_keys[i]);
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
