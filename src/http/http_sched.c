/* /api/scheduler/...: status, stop (no new runs; running ones finish), start,
 * and reload, which is the daemon's SIGHUP path (scheduler_reload). */
#include "http/http_int.h"
#include "util/clock.h"
#include "util/log.h"

json_t *http_scheduler_view(struct http *h, int64_t now_ns)
{
	struct scheduler_status st;
	scheduler_status(h->deps.scheduler, &st);
	json_t *next = json_null();
	if (st.next_job[0])
		next = json_pack("{s:o,s:o}", "name", http_string(st.next_job), "scheduledTime",
		                 http_time(st.next_ns));
	return json_pack("{s:b,s:o,s:I,s:i,s:i,s:i,s:o}", "running", st.running, "startTime",
	                 http_time(st.start_ns), "uptime",
	                 (json_int_t)((now_ns - st.start_ns) / NS_PER_SEC), "totalJobs",
	                 st.total_jobs, "activeJobs", st.active_jobs, "runningJobs",
	                 st.running_executions, "nextJob", next);
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

void http_on_scheduler_reload(struct http_req *r)
{
	struct scheduler_changes ch;
	char err[512];
	log_kv(LOG_INFO, "reloading the config through the API", "user", r->user, NULL);
	int rc = scheduler_reload(r->h->deps.scheduler, &ch, err, sizeof err);
	/* The reload may have freed the config r->cfg, user and role point into. */
	r->cfg = http_config_now(r->h);
	r->user = r->role = NULL;
	if (rc < 0) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL, "Reload failed: %s", err);
		return;
	}
	http_reply_json(r, 200,
	                json_pack("{s:b,s:i,s:i,s:i,s:s}", "reloaded", 1, "jobsAdded", ch.added,
	                          "jobsUpdated", ch.updated, "jobsRemoved", ch.removed, "message",
	                          "Configuration reloaded successfully"));
}
