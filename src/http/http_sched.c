/* /api/scheduler/...: status, stop (no new runs; running ones finish), start,
 * and reload, which is the daemon's SIGHUP path (scheduler_reload). */
#include <stdlib.h>

#include "http/http_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How long a reload request waits for the reload to end before it is
 * answered 202 (the reload goes on). */
#define RELOAD_WAIT_NS (120 * NS_PER_SEC)

json_t *http_scheduler_view(struct http *h, int64_t now_ns)
{
	struct scheduler_status st;
	scheduler_status(h->deps.scheduler, &st);
	json_t *next = json_null();
	if (st.next_job[0])
		next = json_pack("{s:o,s:o}", "name", http_string(st.next_job), "scheduledTime",
		                 http_time(st.next_ns));
	json_t *o = json_pack("{s:b,s:o,s:I,s:i,s:i,s:i,s:o}", "running", st.running, "startTime",
	                      http_time(st.start_ns), "uptime",
	                      (json_int_t)((now_ns - st.start_ns) / NS_PER_SEC), "totalJobs",
	                      st.total_jobs, "activeJobs", st.active_jobs, "runningJobs",
	                      st.running_executions, "nextJob", next);
	bool healthy;
	json_t *cluster = http_cluster_status(h, &healthy);
	if (cluster)
		json_object_set_new(o, "cluster", cluster);
	return o;
}

void http_on_scheduler_status(struct http_req *r)
{
	http_reply_json(r, 200, http_scheduler_view(r->h, r->now_ns));
}

static void reply_running(struct http_req *r, const char *message)
{
	struct scheduler_status st;
	scheduler_status(r->h->deps.scheduler, &st);
	http_reply_json(r, 200, json_pack("{s:b,s:s}", "running", st.running, "message", message));
}

void http_on_scheduler_start(struct http_req *r)
{
	scheduler_resume(r->h->deps.scheduler);
	log_kv(LOG_INFO, "scheduler started through the API", "user", r->user, NULL);
	reply_running(r, "Scheduler started");
}

void http_on_scheduler_stop(struct http_req *r)
{
	scheduler_pause(r->h->deps.scheduler);
	log_kv(LOG_INFO, "scheduler stopped through the API", "user", r->user, NULL);
	reply_running(r, "Scheduler stopped");
}

/* A reload request waits (deferred) while the config loads on the
 * scheduler's reload thread; the loop goes on serving everything else. The
 * wait outlives the request if the request is answered first (timeout,
 * shutdown): the reload's end then only frees it. */
struct reload_wait {
	struct http_req *r; /* NULL once answered */
};

static void on_reload_timeout(struct http_req *r)
{
	((struct reload_wait *)r->reload_wait)->r = NULL;
	http_reply_json(r, 202,
	                json_pack("{s:b,s:s}", "reloaded", 0, "message",
	                          "The reload has not ended yet; it goes on"));
	http_req_finish(r);
}

static void on_reloaded(void *arg, int rc, const struct scheduler_changes *ch, const char *err)
{
	struct reload_wait *w = arg;
	struct http_req *r = w->r;
	free(w);
	if (r == NULL)
		return;
	http_req_undefer(r);
	r->now_ns = clock_now_ns();
	/* The reload may have freed the config r->cfg, user and role point into. */
	r->cfg = http_config_now(r->h);
	r->user = r->role = NULL;
	if (rc < 0)
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL, "Reload failed: %s", err);
	else
		http_reply_json(r, 200,
		                json_pack("{s:b,s:i,s:i,s:i,s:s}", "reloaded", 1, "jobsAdded",
		                          ch->added, "jobsUpdated", ch->updated, "jobsRemoved",
		                          ch->removed, "message",
		                          "Configuration reloaded successfully"));
	http_req_finish(r);
}

void http_on_scheduler_reload(struct http_req *r)
{
	char err[512];
	struct reload_wait *w = xcalloc(1, sizeof *w);
	w->r = r;
	log_kv(LOG_INFO, "reloading the config through the API", "user", r->user, NULL);
	if (scheduler_reload(r->h->deps.scheduler, on_reloaded, w, err, sizeof err) < 0) {
		free(w);
		http_reply_error(r, 503, "UNAVAILABLE", NULL, NULL, "Reload failed: %s", err);
		return;
	}
	r->reload_wait = w;
	http_req_defer(r, r->now_ns + RELOAD_WAIT_NS, on_reload_timeout);
}
