/* spawn_burst: the floor of a burst, the least time this machine needs to
 * start n commands due at the same instant: one thread posix_spawns the
 * stamp program n times as fast as it can, each child printing the time it
 * began into one pipe. Prints each child's delay after the instant in
 * milliseconds. tools/bench/perf.py reports it beside ofelia's burst. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]);
	char *child[] = {argv[1], argc > 3 ? argv[3] : NULL, NULL};
	int p[2];
	posix_spawn_file_actions_t fa;
	struct timespec ts;

	if (pipe(p) < 0)
		return 1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	clock_gettime(CLOCK_REALTIME, &ts);
	long long t0 = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	for (int i = 0; i < n; i++) {
		pid_t pid;
		if (posix_spawn(&pid, argv[1], &fa, NULL, child, environ) != 0)
			return 1;
	}
	close(p[1]);
	FILE *in = fdopen(p[0], "r");
	long long t;
	while (fscanf(in, "%lld", &t) == 1)
		printf("%.3f\n", (t - t0) / 1e6);
	while (wait(NULL) > 0)
		;
	return 0;
}
