/* stamp: print CLOCK_REALTIME in nanoseconds and exit, or, given a number
 * of milliseconds, stay that long after printing (a job that runs a while,
 * for the burst bench). Built static by tools/bench/sched.py so that a job's
 * start costs as little as a process can: the scheduling delay it measures
 * is then mostly ofelia's. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (argc > 1) {
		long ms = atol(argv[1]);
		struct timespec nap = {ms / 1000, ms % 1000 * 1000000L};
		fflush(stdout);
		nanosleep(&nap, NULL);
	}
	return 0;
}
