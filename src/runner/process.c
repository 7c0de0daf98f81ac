/* The processes of local executions across a restart of ofelia. A local job
 * runs in a process group of its own, whose id is its first process's pid.
 * That pid and the process's identity (the boot id and its start time in
 * clock ticks, both from /proc) are recorded when it starts. When ofelia was
 * killed, the next start kills the group only if the pid still names that
 * same process: a pid the kernel has given to something else since is never
 * touched. Every local job also carries OFELIA_EXECUTION_ID in its
 * environment; when ofelia died before the pid was recorded, or the group's
 * first process has ended while others of the group run on, that is how its
 * processes are found. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/runner_int.h"
#include "util/buf.h"
#include "util/clock.h"

/* How long a kill waits for the processes to be gone. */
#define GONE_WAIT_NS (3 * NS_PER_SEC)

static char boot_id[64];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f == NULL)
		return;
	if (fgets(boot_id, sizeof boot_id, f) == NULL)
		boot_id[0] = '\0';
	boot_id[strcspn(boot_id, "\n")] = '\0';
	fclose(f);
}

/* read_file reads a small /proc file whole into b; -1 when it cannot. */
static int read_file(const char *path, struct buf *b)
{
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* stat_fields reads /proc/PID/stat: the state letter, the process group
 * and the start time. The name in parentheses may hold anything, so the
 * fields are counted from the last ')'. */
static int stat_fields(long pid, char *state, long *pgrp, unsigned long long *start)
{
	char path[64];
	struct buf b = BUF_INIT;
	int rc = -1;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (read_file(path, &b) < 0 || b.len == 0)
		goto out;
	buf_putc(&b, '\0');
	char *p = strrchr(b.data, ')');
	if (p == NULL)
		goto out;
	/* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime(22). */
	char st;
	long ppid, group;
	unsigned long long t;
	if (sscanf(
	        p + 1,
	        " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
	        &st, &ppid, &group, &t) != 4)
		goto out;
	*state = st;
	*pgrp = group;
	*start = t;
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int runner_process_key(long pid, char *out, size_t len)
{
	char state;
	long pgrp;
	unsigned long long start;

	pthread_once(&boot_once, read_boot_id);
	if (pid <= 0 || stat_fields(pid, &state, &pgrp, &start) < 0)
		return -1;
	snprintf(out, len, "%s:%llu", boot_id, start);
	return 0;
}

bool runner_process_alive(long pid, const char *key)
{
	char now[128], state;
	long pgrp;
	unsigned long long start;

	if (key == NULL || runner_process_key(pid, now, sizeof now) < 0 || strcmp(now, key) != 0)
		return false;
	return stat_fields(pid, &state, &pgrp, &start) == 0 && state != 'Z' && state != 'X';
}

/* carries tells whether process pid has the variable assignment var in its
 * environment (NUL-separated in /proc/PID/environ). */
static bool carries(long pid, const char *var)
{
	char path[64];
	struct buf b = BUF_INIT;
	bool found = false;
	size_t vlen = strlen(var);

	snprintf(path, sizeof path, "/proc/%ld/environ", pid);
	if (read_file(path, &b) == 0)
		for (size_t at = 0; at < b.len && !found;) {
			const char *e = b.data + at;
			size_t n = strnlen(e, b.len - at);
			found = n == vlen && memcmp(e, var, vlen) == 0;
			at += n + 1;
		}
	buf_free(&b);
	return found;
}

/* tagged kills the processes carrying var, and the groups they lead;
 * returns how many it signalled. */
/* gone waits until pid is no process any more, or a zombie. */
static bool gone(long pid)
{
	int64_t until = clock_mono_ns() + GONE_WAIT_NS;
	for (;;) {
		char state;
		long pgrp;
		unsigned long long start;
		if (stat_fields(pid, &state, &pgrp, &start) < 0 || state == 'Z' || state == 'X')
			return true;
		if (clock_mono_ns() > until)
			return false;
		usleep(10000);
	}
}

/* Processes kill_tagged waits for: SIGKILL takes effect a moment after
 * kill() returns, and nothing may be planned while they still run. */
#define TAGGED_WAIT_MAX 64

static int kill_tagged(const char *var, long self)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long killed[TAGGED_WAIT_MAX];
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		long pid = strtol(de->d_name, NULL, 10);
		char state;
		long pgrp;
		unsigned long long start;
		if (pid == self || stat_fields(pid, &state, &pgrp, &start) < 0 || state == 'Z' ||
		    !carries(pid, var))
			continue;
		/* A live leader of its own group, checked just now: its group. */
		kill(pgrp == pid ? -pid : pid, SIGKILL);
		if (n < TAGGED_WAIT_MAX)
			killed[n] = pid;
		n++;
	}
	closedir(d);
	for (int i = 0; i < n && i < TAGGED_WAIT_MAX; i++)
		gone(killed[i]);
	return n;
}

int runner_kill_orphan(const char *exec_id, long pid, const char *key, char *what, size_t len)
{
	char var[128];
	int killed = 0;
	bool leader = pid > 0 && runner_process_alive(pid, key);

	if (leader && kill(-pid, SIGKILL) == 0)
		killed++;
	/* Processes of the job outside the group, or all of them when the pid
	 * was not recorded or its process has ended. */
	snprintf(var, sizeof var, "OFELIA_EXECUTION_ID=%s", exec_id);
	killed += kill_tagged(var, (long)getpid());
	if (leader && !gone(pid)) {
		snprintf(what, len, "its process %ld did not end after SIGKILL", pid);
		return -1;
	}
	if (killed == 0)
		snprintf(what, len, "its processes had already ended");
	else if (leader)
		snprintf(what, len, "its process group %ld was killed at the restart", pid);
	else
		snprintf(what, len, "%d of its processes were killed at the restart", killed);
	return killed;
}
