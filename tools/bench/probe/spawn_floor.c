/* spawn_floor: the least time from "decide to run" to "the command runs"
 * on this machine: posix_spawn of the stamp program, n times, printing each
 * delay in milliseconds. tools/bench/sched.py reports it beside ofelia's
 * scheduling delay, which can never be lower.
 *
 * Usage: spawn_floor STAMP [N [PERIOD_MS]]. Without a period the spawns
 * follow each other 5 ms apart. With one, each starts half a period past a
 * multiple of the period on the wall clock: run beside ofelia, the floor
 * then shares the same seconds of the machine's life (its hiccups included)
 * while staying clear of whole seconds, where ofelia's probe jobs start. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* pause_before waits for the next spawn: 5 ms, or the next mid-period. */
static void pause_before(long long period_ns)
{
	if (period_ns <= 0) {
		usleep(5000);
		return;
	}
	long long at = (now_ns() / period_ns + 1) * period_ns + period_ns / 2;
	struct timespec ts = {at / 1000000000LL, at % 1000000000LL};
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 200;
	long long period_ns = argc > 3 ? atoll(argv[3]) * 1000000LL : 0;
	char *child[] = {argv[1], NULL};
	for (int i = 0; i < n; i++) {
		int p[2];
		pid_t pid;
		char out[64] = {0};
		posix_spawn_file_actions_t fa;

		pause_before(period_ns);
		if (pipe(p) < 0)
			return 1;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		/* Taken after the wake-up: the floor is the spawn alone. */
		long long t0 = now_ns();
		if (posix_spawn(&pid, argv[1], &fa, NULL, child, environ) != 0)
			return 1;
		close(p[1]);
		if (read(p[0], out, sizeof out - 1) < 0)
			return 1;
		waitpid(pid, NULL, 0);
		close(p[0]);
		posix_spawn_file_actions_destroy(&fa);
		printf("%.3f\n", (atoll(out) - t0) / 1e6);
		fflush(stdout);
	}
	return 0;
}
