/* run jobs: a new container from an image, or a start of an existing
 * stopped container (when the job has no image), as Ofelia's job-run.
 *
 * A new container gets the image per the pull policy, is created with the
 * job's settings and two labels (ofelia.job, ofelia.execution), and started.
 * Then its logs are followed, so output arrives while it runs, and the wait
 * gives the exit code. AutoRemove is never set: the engine would delete the
 * logs with the container; `delete` removes it once everything is read.
 * An existing container keeps its own settings and is never removed; its
 * logs are read from just after its previous run ended.
 *
 * A stop (API, shutdown, max-runtime) stops the container for real: its
 * stop signal, then SIGKILL after stop-timeout (else the global stop
 * grace). The followed logs end when the container does, with every line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/docker_common.h"
#include "util/argv.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The labels every container ofelia creates carries. */
#define LABEL_JOB       "ofelia.job"
#define LABEL_EXECUTION "ofelia.execution"

struct run_job {
	struct runner_docker *rd;
	char *container_id;
	bool created; /* by this execution: `delete` applies */
	bool tty;
	int64_t since_ns; /* logs from then on (Unix ns); 0 = all */
	size_t skip;      /* lines from since_ns on that an earlier run wrote */
};

static void on_line(void *arg, const struct docker_line *line)
{
	struct run_job *c = arg;
	if (c->skip > 0)
		c->skip--;
	else
		runner_docker_on_line(c->rd, line);
}

static void count_line(void *arg, const struct docker_line *line)
{
	(void)line;
	(*(size_t *)arg)++;
}

/* run_stop stops the container: stop signal, kill after the timeout. */
static void run_stop(struct runner_docker *rd, struct docker *d, int done_fd)
{
	(void)done_fd;
	struct run_job *c = rd->type_arg;
	if (docker_container_stop(d, c->container_id, runner_docker_stop_timeout_s(rd->x)) < 0)
		snprintf(rd->note, sizeof rd->note, "stopping container %.12s failed: %s",
		         c->container_id, docker_errmsg(d));
}

/* pull_image makes the image available per the job's pull policy. Returns
 * 0, or -1 with r filled. */
static int pull_image(struct runner_docker *rd, struct runner_result *r)
{
	const struct job *job = rd->x->job;
	const char *image = job->image;
	char pull_err[512] = "";
	int have;

	if (job->pull == JOB_PULL_ALWAYS) {
		if (docker_image_pull(rd->d, image) == 0)
			return 0;
		if (runner_docker_stopping(rd))
			goto stopped;
		snprintf(pull_err, sizeof pull_err, "%s", docker_errmsg(rd->d));
	}
	have = docker_image_exists(rd->d, image);
	if (have < 0 && runner_docker_stopping(rd))
		goto stopped;
	if (have < 0) {
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "image %s", image);
		return -1;
	}
	if (have == 1) {
		if (pull_err[0])
			log_kv(LOG_WARN, "image pull failed; using the local image", "job",
			       job->name, "image", image, "error", pull_err, NULL);
		return 0;
	}
	if (job->pull == JOB_PULL_NEVER) {
		runner_set_result(r, JOB_STATUS_FAILED,
		                  "image %s is not present and pull is never" RUNNER_DOCKER_ERROR,
		                  image);
		return -1;
	}
	if (job->pull == JOB_PULL_ALWAYS) {
		runner_set_result(r, JOB_STATUS_FAILED,
		                  "image %s: the pull failed and there is no local copy: "
		                  "%s" RUNNER_DOCKER_ERROR,
		                  image, pull_err);
		return -1;
	}
	if (docker_image_pull(rd->d, image) == 0)
		return 0;
	if (runner_docker_stopping(rd))
		goto stopped;
	runner_docker_fail(rd, r, JOB_STATUS_FAILED, "image %s is not present and the pull failed",
	                   image);
	return -1;
stopped:
	runner_docker_outcome(rd, r, false, 0);
	return -1;
}

/* create makes the container of a job with an image. Returns 0, or -1 with
 * r filled. */
static int create(struct runner_docker *rd, struct run_job *c, struct runner_result *r)
{
	struct runner_exec *x = rd->x;
	const struct job *job = x->job;
	struct strv cmd = STRV_INIT, entrypoint = STRV_INIT, labels = STRV_INIT;
	char err[256];
	int rc = -1;

	if (argv_split(job->command ? job->command : "", &cmd, err, sizeof err) < 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "bad command: %s", err);
		goto out;
	}
	/* An empty entrypoint clears the image's, as `--entrypoint ""` does. */
	if (job->entrypoint && *job->entrypoint == '\0')
		strv_push(&entrypoint, "");
	else if (job->entrypoint && argv_split(job->entrypoint, &entrypoint, err, sizeof err) < 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "bad entrypoint: %s", err);
		goto out;
	}
	strv_push_owned(&labels, xasprintf(LABEL_JOB "=%s", job->name));
	strv_push_owned(&labels, xasprintf(LABEL_EXECUTION "=%s", x->id));
	int64_t stop_ns = job->stop_timeout_ns;
	struct docker_container_spec spec = {
	    .name = job->container_name,
	    .image = job->image,
	    .cmd = cmd.n ? &cmd : NULL,
	    .entrypoint = job->entrypoint ? &entrypoint : NULL,
	    .env = job->environment.n ? &job->environment : NULL,
	    .labels = &labels,
	    .binds = job->volume.n ? &job->volume : NULL,
	    .volumes_from = job->volumes_from.n ? &job->volumes_from : NULL,
	    .user = runner_docker_user(x),
	    .working_dir = job->working_dir,
	    .hostname = job->hostname,
	    .network_mode = job->network,
	    .stop_signal = job->stop_signal,
	    .stop_timeout_s = stop_ns > 0 ? (int)((stop_ns + NS_PER_SEC - 1) / NS_PER_SEC) : 0,
	    .tty = job->tty,
	};
	if (docker_container_create(rd->d, &spec, &c->container_id) < 0) {
		if (runner_docker_stopping(rd))
			runner_docker_outcome(rd, r, false, 0);
		else
			runner_docker_fail(rd, r, JOB_STATUS_FAILED, "create a container from %s",
			                   job->image);
		goto out;
	}
	c->created = true;
	c->tty = job->tty;
	rc = 0;
out:
	strv_free(&cmd);
	strv_free(&entrypoint);
	strv_free(&labels);
	return rc;
}

/* follow starts the container (unless reattaching), streams its logs until
 * it stops, and reads the exit code. */
static void follow(struct runner_docker *rd, struct run_job *c, bool start, struct runner_result *r)
{
	struct docker *d = rd->d;
	const char *id = c->container_id;

	if (start && docker_container_start(d, id) < 0 && !runner_docker_stopping(rd)) {
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "start container %.12s", id);
		return;
	}
	/* A stop that came first is carried out here: the container may have
	 * started before the cancelled start call returned. */
	if (!runner_docker_stream_begin(rd, run_stop, c))
		run_stop(rd, d, -1);
	struct docker_logs_options lo = {.tty = c->tty, .follow = true, .since_ns = c->since_ns};
	int code = 0;
	int rc = docker_container_logs(d, id, &lo, on_line, c);
	if (rc < 0 && docker_status(d) == DOCKER_E_ENGINE) {
		/* A log driver that cannot be read back (syslog, none): the run
		 * goes on without output. */
		log_kv(LOG_WARN, "cannot read the logs of a run job's container", "job",
		       rd->x->job->name, "container", id, "error", docker_errmsg(d), NULL);
		rc = 0;
	}
	if (rc == 0)
		rc = docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code);
	runner_docker_stream_end(rd);
	if (rc < 0)
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "container %.12s", id);
	else
		runner_docker_outcome(rd, r, true, code);
}

/* existing prepares the start of a stopped container the job names. Its
 * log still holds the earlier runs, and only this one is wanted. The engine
 * stamps a line when it copies it, so the last lines of the previous run
 * may be stamped after its FinishedAt: those are counted now and skipped. */
static int existing(struct runner_docker *rd, struct run_job *c, struct runner_result *r)
{
	const char *name = rd->x->job->container;
	struct docker_container_info ci;
	if (docker_container_inspect(rd->d, name, &ci) < 0)
		goto fail;
	int64_t finished_ns = ci.finished_ns;
	bool running = ci.running;
	c->container_id = xstrdup(ci.id);
	c->tty = ci.tty;
	docker_container_info_fini(&ci);
	if (running) {
		runner_set_result(r, JOB_STATUS_FAILED,
		                  "container %s is already running: a run job without an image "
		                  "starts a stopped container (an exec job runs a command in a "
		                  "running one)",
		                  name);
		return -1;
	}
	if (finished_ns == 0)
		return 0;
	c->since_ns = finished_ns + 1;
	struct docker_logs_options lo = {.tty = c->tty, .since_ns = c->since_ns};
	if (docker_container_logs(rd->d, c->container_id, &lo, count_line, &c->skip) == 0)
		return 0;
fail:
	if (runner_docker_stopping(rd))
		runner_docker_outcome(rd, r, false, 0);
	else
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "container %s", name);
	return -1;
}

/* reattach finds the container of an execution a previous process left
 * running. A container ofelia created carries the execution's id; its whole
 * log is this run's. Another's log is read from this run's start: lines
 * can be stamped a little before StartedAt, hence the second of slack,
 * bounded by the end of its previous run when that is known. */
static int reattach(struct runner_docker *rd, struct run_job *c, struct runner_result *r)
{
	struct runner_exec *x = rd->x;
	struct docker_container_info ci;
	if (docker_container_inspect(rd->d, x->reattach_id, &ci) < 0) {
		if (runner_docker_stopping(rd))
			runner_docker_outcome(rd, r, false, 0);
		else
			runner_docker_fail(rd, r, JOB_STATUS_INTERRUPTED,
			                   "ofelia restarted while this execution ran and cannot "
			                   "find its container %.12s again",
			                   x->reattach_id);
		return -1;
	}
	const char *exec_label = json_string_value(json_object_get(ci.labels, LABEL_EXECUTION));
	c->container_id = xstrdup(ci.id);
	c->tty = ci.tty;
	c->created = exec_label && strcmp(exec_label, x->id) == 0;
	if (!c->created && ci.started_ns) {
		c->since_ns = ci.started_ns - NS_PER_SEC;
		if (ci.finished_ns && ci.finished_ns < ci.started_ns &&
		    ci.finished_ns + 1 > c->since_ns)
			c->since_ns = ci.finished_ns + 1;
	}
	docker_container_info_fini(&ci);
	return 0;
}

static void run_run(struct runner_exec *x, struct runner_result *r)
{
	const struct job *job = x->job;
	struct runner_docker rd;
	struct run_job c = {0};
	int rc;

	if (runner_docker_open(x, &rd, r) < 0)
		return;
	rd.type_arg = &c;
	c.rd = &rd;
	if (x->reattach_id)
		rc = reattach(&rd, &c, r);
	else if (job->image && *job->image)
		rc = pull_image(&rd, r) < 0 ? -1 : create(&rd, &c, r);
	else
		rc = existing(&rd, &c, r);
	if (rc == 0) {
		if (!x->reattach_id)
			x->sink.on_container(x->sink.arg, c.container_id);
		follow(&rd, &c, x->reattach_id == NULL, r);
	}
	if (c.created && job->delete_after) {
		/* Whatever happened, a stop or a kill left nothing running; force
		 * covers a container a failed stop left behind. */
		int gone = docker_container_remove(rd.d, c.container_id, true, true);
		if (gone < 0 && runner_docker_stopping(&rd))
			gone = docker_container_remove(rd.d, c.container_id, true, true);
		if (gone < 0)
			log_kv(LOG_WARN, "cannot remove the container of a run job", "job",
			       job->name, "container", c.container_id, "error", docker_errmsg(rd.d),
			       NULL);
	}
	runner_docker_close(&rd);
	free(c.container_id);
}

const struct runner_ops runner_run_ops = {
    .run = run_run,
    .wake = runner_docker_wake,
};
