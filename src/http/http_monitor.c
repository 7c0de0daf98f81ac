/* Monitoring: /health/liveness, /health/readiness and /metrics.
 *
 * Readiness is the real state of the three things ofelia needs: the
 * scheduler dispatching (a scheduler stopped through the API is not ready,
 * so a forgotten stop shows up in monitoring), the database answering and
 * taking writes, its file in place, and Docker not disconnected. Not ready
 * is 503.
 *
 * /metrics is Prometheus text. The job series come from the store's
 * counters, so they survive restarts; the HTTP counters live in memory, as
 * Prometheus expects of a process's own counters. Output order is stable and
 * every family has HELP and TYPE, which `promtool check metrics` verifies. */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"
#include "util/buf.h"
#include "util/clock.h"

static const int counted_codes[HTTP_CODE_SLOTS - 1] = {
    101, 200, 201, 202, 204, 304, 400, 401, 403, 404,
    405, 409, 413, 414, 415, 421, 429, 431, 500, 503,
};

void http_on_liveness(struct http_req *r)
{
	http_reply_json(
	    r, 200, json_pack("{s:s,s:o}", "status", "healthy", "timestamp", http_time(r->now_ns)));
}

void http_on_readiness(struct http_req *r)
{
	struct http *h = r->h;
	struct scheduler_status st;
	const char *docker = h->deps.docker_state ? h->deps.docker_state(h->deps.arg) : NULL;
	if (docker == NULL)
		docker = "n/a";
	scheduler_status(h->deps.scheduler, &st);
	bool db_ok = store_check(h->deps.store) == 0;
	bool etcd_ok;
	json_t *cluster = http_cluster_status(h, &etcd_ok);
	/* A cluster node that cannot reach etcd can neither lead nor know who
	 * does: not ready. A follower is ready: it serves the history. */
	bool ready = st.running && db_ok && strcmp(docker, "disconnected") != 0 && etcd_ok;
	const char *sched = st.running ? "running" : h->stopping ? "stopping" : "stopped";
	json_t *body =
	    json_pack("{s:b,s:s,s:s,s:s,s:o}", "ready", ready, "scheduler", sched, "docker", docker,
	              "database", db_ok ? "connected" : "error", "timestamp", http_time(r->now_ns));
	if (cluster) {
		/* Config drift warns; it does not make the node unready. */
		json_t *warnings = json_array();
		if (json_is_true(json_object_get(cluster, "configDrift")))
			json_array_append_new(
			    warnings,
			    json_string("config drift: the job set of this node differs "
			                "from that of another node (see cluster.driftNodes)"));
		json_object_set_new(body, "cluster", cluster);
		json_object_set_new(body, "warnings", warnings);
	}
	/* Why the store is not usable: locked, full, deleted (store_check). */
	if (!db_ok)
		json_object_set_new(body, "databaseError",
		                    json_string(store_errmsg(h->deps.store)));
	http_reply_json(r, ready ? 200 : 503, body);
}

/* ---- request counters ---- */

static int code_slot(int status)
{
	for (int i = 0; i < HTTP_CODE_SLOTS - 1; i++)
		if (counted_codes[i] == status)
			return i;
	return HTTP_CODE_SLOTS - 1;
}

void http_count(struct http *h, const struct http_route *route, enum http_method m, int status)
{
	size_t at = route ? (size_t)(route - http_route_at(0)) : http_route_count();
	h->requests[at][m][code_slot(status)]++;
}

void http_count_request(struct http_req *r)
{
	http_count(r->h, r->route, r->method, r->status);
}

/* ---- Prometheus text ---- */

/* label writes a label value with Prometheus's escapes. */
static void label(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_putc(b, '\\');
		if (*v == '\n')
			buf_puts(b, "\\n");
		else
			buf_putc(b, *v);
	}
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* histogram writes the buckets (per bucket, made cumulative here), sum and
 * count of one series; job is NULL for the total over every job. */
static void histogram(struct buf *b, const char *name, const char *job, const int64_t *buckets,
                      int64_t sum_ns)
{
	int64_t cumulative = 0;
	for (int i = 0; i < STORE_BUCKET_COUNT; i++) {
		cumulative += buckets[i];
		buf_printf(b, "%s_bucket{", name);
		if (job) {
			buf_puts(b, "job=\"");
			label(b, job);
			buf_puts(b, "\",");
		}
		if (i < STORE_BUCKET_COUNT - 1)
			buf_printf(b, "le=\"%g\"} %lld\n", store_duration_buckets[i],
			           (long long)cumulative);
		else
			buf_printf(b, "le=\"+Inf\"} %lld\n", (long long)cumulative);
	}
	const char *open = job ? "{job=\"" : "";
	buf_printf(b, "%s_sum%s", name, open);
	if (job) {
		label(b, job);
		buf_puts(b, "\"}");
	}
	buf_printf(b, " %.9g\n%s_count%s", (double)sum_ns / 1e9, name, open);
	if (job) {
		label(b, job);
		buf_puts(b, "\"}");
	}
	buf_printf(b, " %lld\n", (long long)cumulative);
}

static void job_series(struct buf *b, const struct store_metrics_row *rows, size_t n)
{
	family(b, "ofelia_job_runs_total", "counter",
	       "Outcomes per job and status (executions and slots that did not run)");
	for (size_t i = 0; i < n; i++)
		for (int s = 0; s < JOB_STATUS_COUNT; s++) {
			if (s == JOB_STATUS_RUNNING)
				continue;
			buf_puts(b, "ofelia_job_runs_total{job=\"");
			label(b, rows[i].job_name);
			buf_printf(b, "\",status=\"%s\"} %lld\n",
			           job_status_name((enum job_status)s),
			           (long long)rows[i].by_status[s]);
		}
	family(b, "ofelia_job_run_duration_seconds", "histogram",
	       "Execution duration per job in seconds");
	for (size_t i = 0; i < n; i++)
		histogram(b, "ofelia_job_run_duration_seconds", rows[i].job_name, rows[i].buckets,
		          rows[i].duration_sum_ns);
	family(b, "ofelia_job_last_success_timestamp_seconds", "gauge",
	       "Unix time of the job's last successful execution (0: never)");
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, "ofelia_job_last_success_timestamp_seconds{job=\"");
		label(b, rows[i].job_name);
		buf_printf(b, "\"} %.3f\n", (double)rows[i].last_success_ns / 1e9);
	}
}

static void http_series(struct buf *b, struct http *h)
{
	family(b, "ofelia_http_requests_total", "counter",
	       "HTTP requests answered, by method, route and status code");
	for (size_t at = 0; at <= http_route_count(); at++)
		for (int m = 0; m < HTTP_METHOD_COUNT; m++)
			for (int c = 0; c < HTTP_CODE_SLOTS; c++) {
				uint64_t count = h->requests[at][m][c];
				if (count == 0)
					continue;
				const char *route = at < http_route_count()
				                        ? http_route_at(at)->pattern
				                        : "unmatched";
				char code[8];
				if (c < HTTP_CODE_SLOTS - 1)
					snprintf(code, sizeof code, "%d", counted_codes[c]);
				else
					snprintf(code, sizeof code, "other");
				buf_printf(b,
				           "ofelia_http_requests_total{method=\"%s\",route=\"%s\","
				           "code=\"%s\"} %llu\n",
				           http_method_name((enum http_method)m), route, code,
				           (unsigned long long)count);
			}
}

void http_on_metrics(struct http_req *r)
{
	struct http *h = r->h;
	struct store_metrics_row *rows;
	struct scheduler_status st;
	struct buf b = BUF_INIT;
	size_t n;

	if (store_metrics_all(h->deps.store, &rows, &n) < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL,
		                 "Cannot read the metrics: %s", store_errmsg(h->deps.store));
		return;
	}
	scheduler_status(h->deps.scheduler, &st);
	int64_t total = 0, failed = 0, sum_ns = 0, buckets[STORE_BUCKET_COUNT] = {0};
	for (size_t i = 0; i < n; i++) {
		const int64_t *s = rows[i].by_status;
		total += s[JOB_STATUS_SUCCESS] + s[JOB_STATUS_FAILED] + s[JOB_STATUS_STOPPED] +
		         s[JOB_STATUS_INTERRUPTED];
		failed += s[JOB_STATUS_FAILED];
		sum_ns += rows[i].duration_sum_ns;
		for (int k = 0; k < STORE_BUCKET_COUNT; k++)
			buckets[k] += rows[i].buckets[k];
	}

	family(&b, "ofelia_jobs_total", "counter", "Total number of jobs executed");
	buf_printf(&b, "ofelia_jobs_total %lld\n", (long long)total);
	family(&b, "ofelia_jobs_failed_total", "counter", "Total number of failed jobs");
	buf_printf(&b, "ofelia_jobs_failed_total %lld\n", (long long)failed);
	family(&b, "ofelia_jobs_running", "gauge", "Number of currently running jobs");
	buf_printf(&b, "ofelia_jobs_running %d\n", st.running_executions);
	family(&b, "ofelia_job_duration_seconds", "histogram", "Job execution duration in seconds");
	histogram(&b, "ofelia_job_duration_seconds", NULL, buckets, sum_ns);
	job_series(&b, rows, n);
	family(&b, "ofelia_scheduler_running", "gauge",
	       "1 when the scheduler dispatches jobs, 0 when it is stopped");
	buf_printf(&b, "ofelia_scheduler_running %d\n", st.running ? 1 : 0);
	family(&b, "ofelia_jobs_configured", "gauge", "Jobs the scheduler serves, enabled or not");
	buf_printf(&b, "ofelia_jobs_configured %d\n", st.total_jobs);
	family(&b, "ofelia_jobs_enabled", "gauge", "Enabled jobs");
	buf_printf(&b, "ofelia_jobs_enabled %d\n", st.active_jobs);
	family(&b, "ofelia_build_info", "gauge", "Version and commit of this ofelia build");
	buf_printf(&b, "ofelia_build_info{version=\"%s\",commit=\"%s\"} 1\n", OFELIA_VERSION,
	           OFELIA_COMMIT);
	http_series(&b, h);
	family(&b, "ofelia_http_connections", "gauge",
	       "Open HTTP connections, WebSockets included");
	buf_printf(&b, "ofelia_http_connections %d\n", h->nconns);
	family(&b, "ofelia_http_connections_max", "gauge",
	       "Connections accepted at most: the descriptor limit less a reserve for jobs");
	buf_printf(&b, "ofelia_http_connections_max %d\n", h->max_conns);
	family(&b, "ofelia_http_connections_evicted_total", "counter",
	       "Idle connections closed to make room for new ones at the limit");
	buf_printf(&b, "ofelia_http_connections_evicted_total %llu\n",
	           (unsigned long long)h->evicted);
	family(&b, "ofelia_http_accept_pauses_total", "counter",
	       "Times accepting paused: at the limit with nothing idle, or out of descriptors");
	buf_printf(&b, "ofelia_http_accept_pauses_total %llu\n",
	           (unsigned long long)h->accept_pauses);
	http_notify_metrics(h, &b);
	if (h->deps.cluster.metrics)
		h->deps.cluster.metrics(h->deps.cluster.arg, &b);
	store_metrics_free(rows, n);

	char *text = http_strdup(r, b.data ? b.data : "", b.len);
	size_t len = b.len;
	buf_free(&b);
	http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
