/* service-run jobs: a one-shot Docker Swarm service, as Ofelia's
 * job-service-run. The service runs in replicated-job mode with one
 * completion and restart condition none, so Swarm runs its task once, on
 * whichever node it picks: the route past one machine. ofelia follows the
 * task's state, then reads the service's logs and removes it (`delete`,
 * true by default).
 *
 * The logs are read once the task has ended, so output arrives at the end,
 * not live. A stop reads the logs so far and removes the service, which
 * makes Swarm stop its task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/docker_common.h"
#include "util/argv.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the task's state is read. */
#define TASK_POLL_NS (250 * NS_PER_MS)

/* The end of the service's task, once it has one. */
struct task_end {
	bool ended;
	char *state;
	char *message;
	int exit_code; /* -1 without a container exit */
};

static bool final_state(const char *s)
{
	static const char *const finals[] = {"complete", "failed",   "rejected",
	                                     "shutdown", "orphaned", "remove"};
	for (size_t i = 0; s && i < sizeof finals / sizeof finals[0]; i++)
		if (strcmp(s, finals[i]) == 0)
			return true;
	return false;
}

/* check reads the tasks; 1 once one has ended (end filled), 0 while it
 * runs (or none exists yet), -1 on failure. */
static int check(struct docker *d, const char *id, bool *none, struct task_end *end)
{
	struct docker_task_list tasks;
	if (docker_service_tasks(d, id, &tasks) < 0)
		return -1;
	*none = tasks.n == 0;
	for (size_t i = 0; i < tasks.n && !end->ended; i++) {
		const struct docker_task *t = &tasks.v[i];
		if (!final_state(t->state))
			continue;
		end->ended = true;
		end->state = xstrdup(t->state);
		end->message = xstrdup(t->message);
		end->exit_code = t->exit_code;
	}
	docker_task_list_fini(&tasks);
	return end->ended ? 1 : 0;
}

static int create(struct runner_docker *rd, char **id, struct runner_result *r)
{
	struct runner_exec *x = rd->x;
	const struct job *job = x->job;
	struct strv cmd = STRV_INIT, labels = STRV_INIT, networks = STRV_INIT;
	char err[256];
	int rc = -1;

	if (argv_split(job->command ? job->command : "", &cmd, err, sizeof err) < 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "bad command: %s", err);
		goto out;
	}
	if (job->network && *job->network)
		strv_push(&networks, job->network);
	strv_push_owned(&labels, xasprintf("ofelia.job=%s", job->name));
	strv_push_owned(&labels, xasprintf("ofelia.execution=%s", x->id));
	struct docker_service_spec spec = {
	    .image = job->image,
	    .command = cmd.n ? &cmd : NULL,
	    .env = job->environment.n ? &job->environment : NULL,
	    .labels = &labels,
	    .networks = &networks,
	    .user = runner_docker_user(x),
	    .working_dir = job->dir,
	    .hostname = job->hostname,
	    .mounts = job->volume.n ? &job->volume : NULL,
	    .tty = job->tty,
	};
	if (docker_service_create(rd->d, &spec, id) == 0)
		rc = 0;
	else if (runner_docker_stopping(rd))
		runner_docker_outcome(rd, r, false, 0);
	else
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "create a service from %s",
		                   job->image);
out:
	strv_free(&cmd);
	strv_free(&labels);
	strv_free(&networks);
	return rc;
}

static void read_logs(struct runner_docker *rd, const char *id)
{
	struct docker_logs_options lo = {.tty = rd->x->job->tty};
	int rc = docker_service_logs(rd->d, id, &lo, runner_docker_on_line, rd);
	if (rc < 0 && runner_docker_stopping(rd))
		rc = docker_service_logs(rd->d, id, &lo, runner_docker_on_line, rd);
	if (rc < 0)
		log_kv(LOG_WARN, "cannot read the logs of a service-run job", "job",
		       rd->x->job->name, "service", id, "error", docker_errmsg(rd->d), NULL);
}

/* follow waits for the task's end, or carries out a stop. Returns 1 when the
 * task ended, 0 when the service was removed by a stop, -1 with r filled. */
static int follow(struct runner_docker *rd, const char *id, struct task_end *end,
                  struct runner_result *r)
{
	bool reattach = rd->x->reattach_id != NULL;
	for (bool first = true;; first = false) {
		bool none = false;
		int rc = check(rd->d, id, &none, end);
		if (rc < 0 && runner_docker_stopping(rd))
			rc = check(rd->d, id, &none, end);
		if (rc < 0) {
			runner_docker_fail(rd, r, JOB_STATUS_FAILED, "tasks of service %.12s", id);
			return -1;
		}
		if (rc == 1)
			return 1;
		if (reattach && first && none) {
			runner_set_result(
			    r, JOB_STATUS_INTERRUPTED,
			    "ofelia restarted while this execution ran and its service "
			    "%.12s is gone" RUNNER_DOCKER_ERROR,
			    id);
			return -1;
		}
		if (rd->stopping) {
			read_logs(rd, id);
			if (docker_service_remove(rd->d, id) < 0)
				snprintf(rd->note, sizeof rd->note,
				         "removing service %.12s failed: %s", id,
				         docker_errmsg(rd->d));
			return 0;
		}
		runner_docker_pause(rd, TASK_POLL_NS);
	}
}

static void service_run(struct runner_exec *x, struct runner_result *r)
{
	struct runner_docker rd;
	struct task_end end = {0};
	char *id = NULL;

	if (runner_docker_open(x, &rd, r) < 0)
		return;
	if (x->reattach_id) {
		id = xstrdup(x->reattach_id);
	} else if (create(&rd, &id, r) == 0) {
		x->sink.on_container(x->sink.arg, id);
	}
	int rc = id ? follow(&rd, id, &end, r) : -1;
	if (rc == 1) {
		read_logs(&rd, id);
		if (end.exit_code < 0 && !runner_stop_requested(x, NULL, NULL, 0))
			runner_set_result(
			    r, JOB_STATUS_FAILED,
			    "the task ended %s without running: %s" RUNNER_DOCKER_ERROR, end.state,
			    end.message ? end.message : "no reason given");
		else
			runner_docker_outcome(&rd, r, end.exit_code >= 0, end.exit_code);
	} else if (rc == 0) {
		runner_docker_outcome(&rd, r, false, 0);
	}
	/* A stop has removed it already (rc 0). */
	if (id && rc != 0 && x->job->delete_after) {
		int gone = docker_service_remove(rd.d, id);
		if (gone < 0 && runner_docker_stopping(&rd))
			gone = docker_service_remove(rd.d, id);
		if (gone < 0 && docker_status(rd.d) != DOCKER_E_NOT_FOUND)
			log_kv(LOG_WARN, "cannot remove the service of a service-run job", "job",
			       x->job->name, "service", id, "error", docker_errmsg(rd.d), NULL);
	}
	runner_docker_close(&rd);
	free(end.state);
	free(end.message);
	free(id);
}

const struct runner_ops runner_service_ops = {
    .run = service_run,
    .wake = runner_docker_wake,
};
