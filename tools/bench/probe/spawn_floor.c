/* spawn_floor: the least time from "decide to run" to "the command runs"
 * on this machine: posix_spawn of the stamp program, n times, printing each
 * delay in milliseconds. tools/bench/sched.py reports it beside ofelia's
 * scheduling delay, which can never be lower. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 200;
	char *child[] = {argv[1], NULL};
	for (int i = 0; i < n; i++) {
		struct timespec ts;
		int p[2];
		pid_t pid;
		char out[64] = {0};
		posix_spawn_file_actions_t fa;

		if (pipe(p) < 0)
			return 1;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		clock_gettime(CLOCK_REALTIME, &ts);
		long long t0 = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		if (posix_spawn(&pid, argv[1], &fa, NULL, child, environ) != 0)
			return 1;
		close(p[1]);
		if (read(p[0], out, sizeof out - 1) < 0)
			return 1;
		waitpid(pid, NULL, 0);
		close(p[0]);
		posix_spawn_file_actions_destroy(&fa);
		printf("%.3f\n", (atoll(out) - t0) / 1e6);
		usleep(5000);
	}
	return 0;
}
