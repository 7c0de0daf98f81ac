/* local jobs: a command on the host, as Ofelia runs it: argv split with
 * shell-like quoting and no shell, the daemon's environment plus the job's,
 * its own process group (so a stop reaches its children), stdin from
 * /dev/null, stdout and stderr read line by line.
 *
 * One poll() loop watches the two pipes, a pidfd for the exit, and the
 * execution's wake fd for stop requests; its timeout is the next of the
 * max-runtime deadline and the SIGKILL deadline, so nothing is polled on a
 * timer. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner_int.h"
#include "util/argv.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/lines.h"
#include "util/strv.h"
#include "util/xalloc.h"

extern char **environ;

/* After the process exits, output still in the pipes is read for this long:
 * a background child that keeps them open must not hold the job forever. */
#define DRAIN_NS   (2 * NS_PER_SEC)
#define READ_CHUNK 65536

struct stream {
	int fd; /* -1 once at EOF */
	bool is_error;
	struct lines lines;
	struct runner_exec *x;
};

struct local {
	struct runner_exec *x;
	pid_t pid;
	int pidfd;
	bool exited;
	int wait_status;
	bool waited;        /* for the due instant */
	bool signalled;     /* SIGTERM sent */
	int64_t kill_at_ns; /* monotonic; 0 = no SIGKILL planned */
	struct stream out, err;
};

static void on_line(void *arg, const char *line, size_t len, bool more)
{
	struct stream *s = arg;
	s->x->sink.on_line(s->x->sink.arg, s->is_error, line, len, more);
}

#define TAG_VAR "OFELIA_EXECUTION_ID"

/* is_tag tells whether a KEY=value entry sets TAG_VAR. */
static bool is_tag(const char *e)
{
	size_t n = strlen(TAG_VAR);
	return strncmp(e, TAG_VAR, n) == 0 && (e[n] == '=' || e[n] == '\0');
}

/* build_env returns the daemon's environment with the job's variables set
 * over it (a job's KEY=value replaces the daemon's KEY, as Go's os/exec
 * keeps the last of duplicates), and OFELIA_EXECUTION_ID: how a restart
 * finds the job's processes when ofelia died before it recorded the pid
 * (process.c). Neither the daemon's nor the job's own value of it is kept. */
static void build_env(const struct runner_exec *x, const struct job *job, struct strv *env)
{
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
		bool overridden = is_tag(*e);
		for (size_t i = 0; i < job->environment.n && !overridden; i++) {
			const char *j = job->environment.v[i];
			overridden =
			    strncmp(j, *e, klen) == 0 && (j[klen] == '=' || j[klen] == '\0');
		}
		if (!overridden)
			strv_push(env, *e);
	}
	for (size_t i = 0; i < job->environment.n; i++)
		if (!is_tag(job->environment.v[i]))
			strv_push(env, job->environment.v[i]);
	char *tag = xasprintf(TAG_VAR "=%s", x->id);
	strv_push(env, tag);
	free(tag);
}

/* What the launcher needs to start a command, and what it leaves. */
struct start {
	struct local *l;
	const struct strv *argv, *env;
	const posix_spawnattr_t *attr;
	struct runner_result *r; /* set when it fails */
	int out, err;            /* the read ends of the output pipes */
	int rc;                  /* 0, or -1 */
};

/* start makes the pipes and spawns the command, on the launcher's thread at
 * the due instant; the write ends are closed at once, so that the next
 * spawns of a burst do not copy them. */
static void start(void *arg)
{
	struct start *st = arg;
	const struct job *job = st->l->x->job;
	const struct strv *argv = st->argv;
	posix_spawn_file_actions_t fa;
	int out[2] = {-1, -1}, errp[2] = {-1, -1};

	st->rc = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		runner_set_result(st->r, JOB_STATUS_FAILED, "pipe: %s", strerror(errno));
		goto done;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (job->dir && *job->dir)
		posix_spawn_file_actions_addchdir_np(&fa, job->dir);
	int e = posix_spawnp(&st->l->pid, argv->v[0], &fa, st->attr, argv->v, st->env->v);
	posix_spawn_file_actions_destroy(&fa);
	if (e == ENOENT && strchr(argv->v[0], '/') == NULL)
		runner_set_result(st->r, JOB_STATUS_FAILED,
		                  "exec: \"%s\": executable file not found in $PATH", argv->v[0]);
	else if (e != 0)
		runner_set_result(st->r, JOB_STATUS_FAILED, "exec: \"%s\": %s", argv->v[0],
		                  strerror(e));
	if (e == 0) {
		st->out = out[0];
		st->err = errp[0];
		out[0] = errp[0] = -1;
		st->rc = 0;
	}
done:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
}

static int spawn(struct local *l, struct runner_result *r)
{
	const struct job *job = l->x->job;
	struct strv argv = STRV_INIT, env = STRV_INIT;
	char err[256];
	posix_spawnattr_t attr;
	int rc = -1;

	if (argv_split(job->command ? job->command : "", &argv, err, sizeof err) < 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "bad command: %s", err);
		return -1;
	}
	if (argv.n == 0) {
		runner_set_result(r, JOB_STATUS_FAILED, "the command is empty");
		strv_free(&argv);
		return -1;
	}
	struct stat sb;
	if (job->dir && *job->dir && (stat(job->dir, &sb) < 0 || !S_ISDIR(sb.st_mode))) {
		runner_set_result(r, JOB_STATUS_FAILED, "dir %s: %s", job->dir,
		                  errno ? strerror(errno) : "not a directory");
		strv_free(&argv);
		return -1;
	}
	build_env(l->x, job, &env);

	/* The daemon blocks some signals and ignores SIGPIPE; the job gets the
	 * defaults, and a process group of its own. */
	sigset_t none, defaults;
	sigemptyset(&none);
	sigfillset(&defaults);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);

	/* Everything that holds no descriptor is ready: the pipes and the spawn
	 * are left to the launcher at the due instant, and the wake fd to the
	 * start (each spawn copies every descriptor open in the daemon). */
	struct start st = {.l = l,
	                   .argv = &argv,
	                   .env = &env,
	                   .attr = &attr,
	                   .r = r,
	                   .out = -1,
	                   .err = -1,
	                   .rc = -1};
	l->waited = true;
	if (runner_launch(l->x, start, &st, r) == 0) {
		runner_exec_open_wake(l->x);
		if (l->x->sink.on_started)
			l->x->sink.on_started(l->x->sink.arg);
	}
	posix_spawnattr_destroy(&attr);
	if (st.rc < 0)
		goto fail;
	l->pidfd = (int)syscall(SYS_pidfd_open, l->pid, 0);
	char key[RUNNER_KEY_MAX];
	if (l->x->sink.on_process && runner_process_key(l->pid, key, sizeof key) == 0)
		l->x->sink.on_process(l->x->sink.arg, l->pid, key);
	l->out.fd = st.out;
	l->err.fd = st.err;
	fcntl(st.out, F_SETFL, O_NONBLOCK);
	fcntl(st.err, F_SETFL, O_NONBLOCK);
	rc = 0;
fail:
	strv_free(&argv);
	strv_free(&env);
	return rc;
}

static void read_stream(struct stream *s)
{
	char chunk[READ_CHUNK];
	ssize_t n = read(s->fd, chunk, sizeof chunk);
	if (n > 0) {
		lines_feed(&s->lines, chunk, (size_t)n, on_line, s);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	lines_finish(&s->lines, on_line, s);
	close(s->fd);
	s->fd = -1;
}

static void reap(struct local *l)
{
	while (waitpid(l->pid, &l->wait_status, 0) < 0 && errno == EINTR)
		;
	l->exited = true;
}

/* handle_stop turns a stop request or a passed deadline into signals. */
static void handle_stop(struct local *l, int64_t now)
{
	struct runner_exec *x = l->x;
	if (!l->signalled && x->deadline_ns && now >= x->deadline_ns) {
		char limit[DURATION_TEXT_MAX];
		duration_format(x->job->max_runtime_ns, limit);
		char reason[128];
		snprintf(reason, sizeof reason, "max-runtime of %s exceeded; the job was stopped",
		         limit);
		runner_exec_stop(x, JOB_STATUS_FAILED, reason);
	}
	if (!l->signalled && runner_stop_requested(x, NULL, NULL, 0)) {
		uint64_t drain;
		ssize_t ignored = read(x->wake_fd, &drain, sizeof drain);
		(void)ignored;
		kill(-l->pid, SIGTERM);
		l->signalled = true;
		l->kill_at_ns = now + x->settings.stop_grace_ns;
	}
	if (l->signalled && l->kill_at_ns && now >= l->kill_at_ns) {
		kill(-l->pid, SIGKILL);
		l->kill_at_ns = 0;
	}
}

static int poll_timeout_ms(const struct local *l, int64_t now, int64_t drain_until)
{
	int64_t next = INT64_MAX;
	if (!l->signalled && l->x->deadline_ns)
		next = l->x->deadline_ns;
	if (l->kill_at_ns && l->kill_at_ns < next)
		next = l->kill_at_ns;
	if (drain_until && drain_until < next)
		next = drain_until;
	/* Without a pidfd (an old kernel, or descriptors ran out) the exit is
	 * noticed by polling; without a wake fd, a stop request. */
	if (((l->pidfd < 0 && !l->exited) || (l->x->wake_fd < 0 && !l->signalled)) &&
	    now + 100 * NS_PER_MS < next)
		next = now + 100 * NS_PER_MS;
	if (next == INT64_MAX)
		return -1;
	int64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void wait_loop(struct local *l)
{
	int64_t drain_until = 0;

	while (l->out.fd >= 0 || l->err.fd >= 0 || !l->exited) {
		int64_t now = clock_mono_ns();
		if (l->exited && drain_until == 0)
			drain_until = now + DRAIN_NS;
		if (drain_until && now >= drain_until)
			break;
		handle_stop(l, now);

		struct pollfd pfd[4];
		int n = 0, i_out = -1, i_err = -1, i_pid = -1;
		if (l->out.fd >= 0) {
			i_out = n;
			pfd[n++] = (struct pollfd){l->out.fd, POLLIN, 0};
		}
		if (l->err.fd >= 0) {
			i_err = n;
			pfd[n++] = (struct pollfd){l->err.fd, POLLIN, 0};
		}
		if (!l->exited && l->pidfd >= 0) {
			i_pid = n;
			pfd[n++] = (struct pollfd){l->pidfd, POLLIN, 0};
		}
		pfd[n++] = (struct pollfd){l->x->wake_fd, l->signalled ? 0 : POLLIN, 0};

		l->x->sink.on_idle(l->x->sink.arg);
		if (poll(pfd, (nfds_t)n, poll_timeout_ms(l, now, drain_until)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (i_out >= 0 && pfd[i_out].revents)
			read_stream(&l->out);
		if (i_err >= 0 && pfd[i_err].revents)
			read_stream(&l->err);
		if (i_pid >= 0 && pfd[i_pid].revents)
			reap(l);
		else if (l->pidfd < 0 && !l->exited &&
		         waitpid(l->pid, &l->wait_status, WNOHANG) == l->pid)
			l->exited = true;
	}
	if (!l->exited) {
		/* Only reachable if poll failed: make sure nothing is left behind. */
		kill(-l->pid, SIGKILL);
		reap(l);
	}
}

static void set_outcome(struct local *l, struct runner_result *r)
{
	enum job_status stop_status;
	char reason[256];
	int st = l->wait_status;

	if (WIFEXITED(st)) {
		r->has_exit_code = true;
		r->exit_code = WEXITSTATUS(st);
	}
	if (runner_stop_requested(l->x, &stop_status, reason, sizeof reason)) {
		runner_set_result(r, stop_status, "%s", reason);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		runner_set_result(r, JOB_STATUS_SUCCESS, NULL);
	} else if (WIFEXITED(st)) {
		runner_set_result(r, JOB_STATUS_FAILED, "exit status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		runner_set_result(r, JOB_STATUS_FAILED, "signal: %s", strsignal(WTERMSIG(st)));
	} else {
		runner_set_result(r, JOB_STATUS_FAILED, "the process ended in an unknown way");
	}
}

static void local_run(struct runner_exec *x, struct runner_result *r)
{
	struct local l = {.x = x, .pid = -1, .pidfd = -1};
	l.out = (struct stream){.fd = -1, .is_error = false, .x = x};
	l.err = (struct stream){.fd = -1, .is_error = true, .x = x};
	lines_init(&l.out.lines, RUNNER_MAX_LINE);
	lines_init(&l.err.lines, RUNNER_MAX_LINE);

	if (spawn(&l, r) == 0) {
		wait_loop(&l);
		set_outcome(&l, r);
	} else if (!l.waited) {
		/* A command that cannot start fails at its time, not before. */
		struct runner_result stopped;
		if (runner_wait_due(x, &stopped) < 0)
			*r = stopped;
		else if (x->sink.on_started)
			x->sink.on_started(x->sink.arg);
	}
	/* Lines cut off by the drain limit are still delivered. */
	if (l.out.fd >= 0) {
		lines_finish(&l.out.lines, on_line, &l.out);
		close(l.out.fd);
	}
	if (l.err.fd >= 0) {
		lines_finish(&l.err.lines, on_line, &l.err);
		close(l.err.fd);
	}
	if (l.pidfd >= 0)
		close(l.pidfd);
	lines_fini(&l.out.lines);
	lines_fini(&l.err.lines);
	x->sink.on_idle(x->sink.arg);
}

const struct runner_ops runner_local_ops = {
    .run = local_run,
    .wake = runner_launch_wake,
    .waits_for_due = true,
};
