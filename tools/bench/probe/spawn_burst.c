/* spawn_burst: the floor of a burst, the least time this machine needs to
 * start n commands due at the same instant: one thread posix_spawns the
 * stamp program n times as fast as it can, each child printing the time it
 * began into one pipe. Prints each child's delay after the instant in
 * milliseconds. tools/bench/perf.py reports it beside ofelia's burst.
 *
 * With a fourth argument "apart", each child writes into a pipe of its own,
 * kept open while the others start, as a scheduler that keeps each job's
 * output apart must: every spawn then copies the descriptors open so far. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]);
	bool apart = argc > 4 && strcmp(argv[4], "apart") == 0;
	char *child[] = {argv[1], argc > 3 ? argv[3] : NULL, NULL};
	int *ends = calloc((size_t)n + 1, sizeof *ends);
	int p[2];
	struct timespec ts;

	if (ends == NULL)
		return 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long t0 = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	for (int i = 0; i < n; i++) {
		posix_spawn_file_actions_t fa;
		pid_t pid;
		if ((i == 0 || apart) && pipe2(p, O_CLOEXEC) < 0)
			return 1;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		if (posix_spawn(&pid, argv[1], &fa, NULL, child, environ) != 0)
			return 1;
		posix_spawn_file_actions_destroy(&fa);
		if (apart) {
			close(p[1]);
			ends[i] = p[0];
		}
	}
	if (!apart) {
		close(p[1]);
		ends[0] = p[0];
	}
	for (int i = 0; i < (apart ? n : 1); i++) {
		FILE *in = fdopen(ends[i], "r");
		long long t;
		while (in && fscanf(in, "%lld", &t) == 1)
			printf("%.3f\n", (t - t0) / 1e6);
		if (in)
			fclose(in);
	}
	while (wait(NULL) > 0)
		;
	free(ends);
	return 0;
}
