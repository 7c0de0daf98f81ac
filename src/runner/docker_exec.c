/* exec jobs: a command in a running container, as `docker exec` runs it.
 * The exec is created (a missing or stopped container fails here with the
 * engine's reason), its id reported, then started attached: the output
 * streams line by line until the process ends, and the exit code comes from
 * the exec's inspect.
 *
 * Stopping. The Engine API has no call that stops an exec, and cancelling
 * the attached stream only detaches from it. So ofelia signals the exec's
 * process itself: the inspect gives its pid on the host; SIGTERM goes to its
 * process group (runc makes every exec a session leader, so this reaches
 * its children), SIGKILL after the stop grace. That needs ofelia to share
 * the host's pid namespace (a host install, or a container run with
 * --pid=host), and before signalling it checks that the pid belongs to the
 * container's cgroup, so a recycled pid is never hit. When it cannot,
 * ofelia detaches and says in the error that the command may still run. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runner/docker_common.h"
#include "util/argv.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* How often a reattached exec is inspected until it ends. */
#define REATTACH_POLL_NS (500 * NS_PER_MS)
/* The exit code the engine records for an attached exec that wrote output
 * after its client (the previous ofelia) went away. */
#define DETACHED_EXIT 126

struct exec_job {
	const char *exec_id;
	char *container_id; /* full id, found when a stop needs it */
};

/* in_container tells whether pid runs in the container's cgroup, whose
 * path names the container's full id under every cgroup driver Docker has. */
static bool in_container(int pid, const char *container_id)
{
	char path[64], text[4096];
	snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	return strstr(text, container_id) != NULL;
}

/* exec_signal sends sig to the exec's process group. Returns 0, 1 when the
 * exec has already ended, or -1 with the reason in why. */
static int exec_signal(struct docker *d, struct runner_exec *x, struct exec_job *e, int sig,
                       char *why, size_t whylen)
{
	struct docker_exec_info info;
	if (docker_exec_inspect(d, e->exec_id, &info) < 0) {
		snprintf(why, whylen, "inspect of the exec: %s", docker_errmsg(d));
		return -1;
	}
	if (!info.running)
		return 1;
	if (info.pid <= 0) {
		snprintf(why, whylen, "the engine did not give the exec's process id");
		return -1;
	}
	if (e->container_id == NULL) {
		struct docker_container_info ci;
		if (docker_container_inspect(d, x->job->container, &ci) < 0) {
			snprintf(why, whylen, "inspect of container %s: %s", x->job->container,
			         docker_errmsg(d));
			return -1;
		}
		e->container_id = xstrdup(ci.id);
		docker_container_info_fini(&ci);
	}
	/* The pidfd pins the process while it is checked and signalled. */
	int pidfd = (int)syscall(SYS_pidfd_open, info.pid, 0);
	if (pidfd < 0 || !in_container(info.pid, e->container_id)) {
		if (pidfd >= 0)
			close(pidfd);
		snprintf(why, whylen,
		         "its process %d is not visible to ofelia (run ofelia in the host's pid "
		         "namespace to stop execs)",
		         info.pid);
		return -1;
	}
	if (getpgid(info.pid) == info.pid)
		kill(-info.pid, sig);
	else
		syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	close(pidfd);
	return 0;
}

static void detach_note(struct runner_docker *rd, const char *why)
{
	snprintf(rd->note, sizeof rd->note,
	         "the command may still be running in container %s: Docker cannot stop an exec "
	         "and %s",
	         rd->x->job->container, why);
}

static int64_t grace_ns(const struct runner_exec *x)
{
	int s = runner_docker_stop_timeout_s(x);
	return (s > 0 ? s : 10) * NS_PER_SEC;
}

/* exec_stop is the watcher's stop: SIGTERM, then SIGKILL after the grace;
 * when the process cannot be signalled, the stream is cut (detached). */
static void exec_stop(struct runner_docker *rd, struct docker *wd, int done_fd)
{
	struct exec_job *e = rd->type_arg;
	char why[200];
	int rc = exec_signal(wd, rd->x, e, SIGTERM, why, sizeof why);
	if (rc == 0 && !runner_docker_wait_done(done_fd, grace_ns(rd->x)))
		rc = exec_signal(wd, rd->x, e, SIGKILL, why, sizeof why);
	if (rc < 0) {
		detach_note(rd, why);
		docker_cancel(rd->d);
	}
}

/* finish reads the exit code once the stream has ended. */
static void finish(struct runner_docker *rd, struct exec_job *e, struct runner_result *r)
{
	struct docker_exec_info info = {0};
	/* The exit code is final when the stream ends; a few tries cover an
	 * engine that records it a moment later. */
	for (int i = 0; i < 20; i++) {
		int rc = docker_exec_inspect(rd->d, e->exec_id, &info);
		if (rc < 0 && runner_docker_stopping(rd))
			rc = docker_exec_inspect(rd->d, e->exec_id, &info);
		if (rc < 0) {
			runner_docker_fail(rd, r, JOB_STATUS_FAILED, "exec %.12s in container %s",
			                   e->exec_id, rd->x->job->container);
			return;
		}
		if (!info.running)
			break;
		usleep(100 * 1000);
	}
	runner_docker_outcome(rd, r, !info.running, info.exit_code);
}

static void exec_new(struct runner_docker *rd, struct runner_result *r)
{
	const struct job *job = rd->x->job;
	const struct runner_sink *k = &rd->x->sink;
	struct strv cmd = STRV_INIT;
	struct exec_job e = {0};
	char err[256], *id = NULL;

	if (argv_split(job->command ? job->command : "", &cmd, err, sizeof err) < 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "bad command: %s", err);
		goto out;
	}
	if (cmd.n == 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "the command is empty");
		goto out;
	}
	struct docker_exec_spec spec = {
	    .cmd = &cmd,
	    .env = job->environment.n ? &job->environment : NULL,
	    .user = runner_docker_user(rd->x),
	    .working_dir = job->working_dir,
	    .tty = job->tty,
	    .privileged = job->privileged,
	};
	if (docker_exec_create(rd->d, job->container, &spec, &id) < 0) {
		if (runner_docker_stopping(rd))
			runner_docker_outcome(rd, r, false, 0);
		else
			runner_docker_fail(rd, r, JOB_STATUS_FAILED, "exec in container %s",
			                   job->container);
		goto out;
	}
	k->on_container(k->arg, id);
	e.exec_id = id;
	if (!runner_docker_stream_begin(rd, exec_stop, &e)) {
		/* Stopped before it started: the exec is never run. */
		runner_docker_outcome(rd, r, false, 0);
		goto out;
	}
	int rc = docker_exec_start(rd->d, id, job->tty, runner_docker_on_line, rd);
	runner_docker_stream_end(rd);
	if (rc < 0 && runner_docker_stopping(rd))
		runner_docker_outcome(rd, r, false, 0); /* detached */
	else if (rc < 0)
		runner_docker_fail(rd, r, JOB_STATUS_FAILED, "exec %.12s in container %s", id,
		                   job->container);
	else
		finish(rd, &e, r);
out:
	strv_free(&cmd);
	free(e.container_id);
	free(id);
}

/* exec_reattach resolves an exec a previous process left running. Its
 * output cannot be read again (the engine keeps no log of an exec), so it
 * waits for the end by inspecting it, and reports the exit code. An exec
 * that wrote after the previous process died lost its attach: the engine
 * then ends its record with exit code 126, which says nothing of the
 * command, so that case is interrupted. */
static void exec_reattach(struct runner_docker *rd, struct runner_result *r)
{
	struct runner_exec *x = rd->x;
	struct exec_job e = {.exec_id = x->reattach_id};
	struct docker_exec_info info;
	int64_t kill_at = 0;
	bool signalled = false;
	char why[200];

	for (;;) {
		int rc = docker_exec_inspect(rd->d, e.exec_id, &info);
		if (rc < 0 && runner_docker_stopping(rd))
			rc = docker_exec_inspect(rd->d, e.exec_id, &info);
		if (rc < 0) {
			runner_docker_fail(rd, r, JOB_STATUS_INTERRUPTED,
			                   "ofelia restarted while this exec ran in container %s "
			                   "and cannot find it again",
			                   x->job->container);
			break;
		}
		if (!info.running && info.exit_code == DETACHED_EXIT) {
			runner_set_result(
			    r, JOB_STATUS_INTERRUPTED,
			    "ofelia restarted while this exec ran in container %s, and "
			    "the engine recorded exit code %d, which it gives an exec "
			    "whose output had nowhere to go: its real outcome is unknown",
			    x->job->container, DETACHED_EXIT);
			break;
		}
		if (!info.running) {
			runner_docker_outcome(rd, r, true, info.exit_code);
			break;
		}
		if (rd->stopping && !signalled) {
			signalled = true;
			kill_at = clock_mono_ns() + grace_ns(x);
			rc = exec_signal(rd->d, x, &e, SIGTERM, why, sizeof why);
		} else if (kill_at && clock_mono_ns() >= kill_at) {
			kill_at = 0;
			rc = exec_signal(rd->d, x, &e, SIGKILL, why, sizeof why);
		}
		if (rc < 0) {
			detach_note(rd, why);
			runner_docker_outcome(rd, r, false, 0);
			break;
		}
		runner_docker_pause(rd, REATTACH_POLL_NS);
	}
	free(e.container_id);
}

static void exec_run(struct runner_exec *x, struct runner_result *r)
{
	struct runner_docker rd;
	if (runner_docker_open(x, &rd, r) < 0)
		return;
	if (x->reattach_id)
		exec_reattach(&rd, r);
	else
		exec_new(&rd, r);
	runner_docker_close(&rd);
}

const struct runner_ops runner_exec_ops = {
    .run = exec_run,
    .wake = runner_docker_wake,
};
