/* stamp: print CLOCK_REALTIME in nanoseconds and exit. Built static by
 * tools/bench/sched.py so that a job's start costs as little as a process
 * can: the scheduling delay it measures is then mostly ofelia's. */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
