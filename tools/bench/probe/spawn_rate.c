/* spawn_rate: how many times per second this machine can start a command
 * and wait for it (posix_spawn + waitpid of argv[1]) with argv[2] threads
 * for argv[3] seconds: the ceiling for ofelia's executions per second. */
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static atomic_bool stop;
static atomic_long done;
static char *command;

static void *worker(void *arg)
{
	char *argv[] = {command, NULL};
	(void)arg;
	while (!atomic_load(&stop)) {
		pid_t pid;
		if (posix_spawnp(&pid, command, NULL, NULL, argv, environ) != 0)
			return NULL;
		waitpid(pid, NULL, 0);
		atomic_fetch_add(&done, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	command = argv[1];
	int n = atoi(argv[2]);
	struct timespec span = {atoi(argv[3]), 0};
	pthread_t t[64];
	for (int i = 0; i < n && i < 64; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	nanosleep(&span, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(t[i], NULL);
	printf("%.0f\n", (double)atomic_load(&done) / (double)span.tv_sec);
	return 0;
}
