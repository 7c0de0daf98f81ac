/* The launchers: the threads that spawn the commands of local jobs at their
 * instant. Runners prepare everything ahead, queue a launch, and wait. A
 * burst of 500 jobs due together, spawned from 500 threads at once, took
 * 1.1-1.4 times as long as one thread spawning them in a loop: each spawn
 * copies the daemon's descriptor table, and 500 threads woken at once
 * compete for the CPUs they spawn on (BENCHMARKS.md, issue 13).
 *
 * The queue is sorted by due instant. One launcher sleeps until its head is
 * due, then spawns every launch due by then in turn; when more than one is
 * due, a second launcher (up to one per CPU) shares the burst: while one
 * waits for its child to exec, the other spawns. A launcher that finds
 * more queued behind the launch it takes hands the watch to another, so a
 * spawn that hangs holds up only its own command while another launcher
 * is left; each can hang only one. */
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runner/runner_int.h"
#include "util/log.h"

/* One launcher per CPU: more would only compete. Two at least, so that one
 * spawn that hangs does not hold up every other. */
#define MIN_LAUNCHERS 2
#define MAX_LAUNCHERS 4

enum launch_state { LAUNCH_QUEUED, LAUNCH_TAKEN, LAUNCH_DONE };

struct launch {
	struct runner_exec *x;
	int64_t due_ns;
	void (*spawn)(void *arg);
	void *arg;
	enum launch_state state;
	pthread_cond_t done; /* state became LAUNCH_DONE */
	struct launch *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;      /* a launch to watch or to spawn */
	struct launch *head;      /* queued, by due instant, then by arrival */
	int running;              /* launcher threads alive */
	int idle;                 /* of them, waiting on work */
	int max;                  /* at most one per CPU */
	bool watched;             /* a launcher sleeps until the head is due */
	struct launch *started;   /* spawned, their runners not woken yet */
	int wake_fd;              /* eventfd: the head changed meanwhile */
	atomic_bool head_changed; /* set before wake_fd is written */
} L = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .wake_fd = -1,
};

static void *launcher(void *unused);

/* add_launcher starts one more launcher thread; the lock is held. */
static int add_launcher(void)
{
	if (runner_thread_start(launcher, NULL) < 0)
		return -1;
	L.running++;
	return 0;
}

/* finish wakes the runners whose commands were started; the lock is held. */
static void finish(void)
{
	while (L.started) {
		struct launch *l = L.started;
		L.started = l->next;
		l->state = LAUNCH_DONE;
		pthread_cond_signal(&l->done);
	}
}

/* watch sleeps until the head is due, or until an earlier launch becomes
 * the head; the lock is held, and released meanwhile. */
static void watch(void)
{
	int64_t due = L.head->due_ns;
	uint64_t drain;

	L.watched = true;
	atomic_store(&L.head_changed, false);
	ssize_t ignored = read(L.wake_fd, &drain, sizeof drain);
	(void)ignored;
	pthread_mutex_unlock(&L.lock);
	runner_wait_until(due, L.wake_fd, &L.head_changed);
	pthread_mutex_lock(&L.lock);
	L.watched = false;
}

/* One launcher watches the head; the others wait until a burst needs them,
 * and end when idle for RUNNER_IDLE_NS. */
static void *launcher(void *unused)
{
	(void)unused;
	pthread_setname_np(pthread_self(), "ofelia-launch");
	/* Its wake-up comes from a timerfd at the instant; no slack on top. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_mutex_lock(&L.lock);
	for (;;) {
		int64_t now = clock_now_ns();
		if (L.head && L.head->due_ns <= now) {
			struct launch *l = L.head;
			L.head = l->next;
			l->state = LAUNCH_TAKEN;
			/* More are due: a burst, which one more launcher shares. Or
			 * one is queued and nobody watches it: a spawn can take long
			 * (an exec from a hung network mount), and must not hold up
			 * the next. */
			if (L.head && (L.head->due_ns <= now || !L.watched)) {
				if (L.idle > 0)
					pthread_cond_signal(&L.work);
				else if (L.running < L.max)
					add_launcher();
			}
			/* Runners wake once the burst is started: woken one by one they
			 * would take the CPUs the next spawns need. The last spawn of a
			 * burst waits for none of them, should it hang; a spawn before
			 * it has another launcher for the rest, which wakes them. */
			if (L.head == NULL || L.head->due_ns > now)
				finish();
			pthread_mutex_unlock(&L.lock);
			runner_exec_started(l->x);
			l->spawn(l->arg);
			pthread_mutex_lock(&L.lock);
			l->next = L.started;
			L.started = l;
			continue;
		}
		finish();
		if (L.head && !L.watched) {
			watch();
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += RUNNER_IDLE_NS / NS_PER_SEC;
		L.idle++;
		int rc = pthread_cond_timedwait(&L.work, &L.lock, &until);
		L.idle--;
		if (rc == ETIMEDOUT && L.head == NULL)
			break;
	}
	L.running--;
	pthread_mutex_unlock(&L.lock);
	return NULL;
}

/* enqueue puts l in the queue and makes sure a launcher sees it: 0, or -1
 * when there is no launcher and none can be started. The lock is held. */
static int enqueue(struct launch *l)
{
	if (L.wake_fd < 0 && (L.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -1;
	if (L.max == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		L.max = cpus < MIN_LAUNCHERS   ? MIN_LAUNCHERS
		        : cpus > MAX_LAUNCHERS ? MAX_LAUNCHERS
		                               : (int)cpus;
	}
	if (L.running == 0 && add_launcher() < 0)
		return -1;
	struct launch **at = &L.head;
	while (*at && (*at)->due_ns <= l->due_ns)
		at = &(*at)->next;
	l->next = *at;
	*at = l;
	if (l != L.head)
		return 0;
	if (L.watched) {
		atomic_store(&L.head_changed, true);
		uint64_t one = 1;
		ssize_t ignored = write(L.wake_fd, &one, sizeof one);
		(void)ignored;
	} else if (L.idle > 0) {
		pthread_cond_signal(&L.work);
	} else if (L.running < L.max) {
		/* All are spawning (or one hangs): another watches this one. Without
		 * it, the next launcher free takes it. */
		add_launcher();
	}
	return 0;
}

static void unlink_queued(struct launch *l)
{
	struct launch **at = &L.head;
	while (*at && *at != l)
		at = &(*at)->next;
	if (*at)
		*at = l->next;
}

int runner_launch(struct runner_exec *x, void (*spawn)(void *arg), void *arg,
                  struct runner_result *r)
{
	struct launch l = {.x = x, .due_ns = x->due_ns, .spawn = spawn, .arg = arg};

	if (x->due_ns <= 0)
		goto inline_spawn;
	pthread_cond_init(&l.done, NULL);
	pthread_mutex_lock(&L.lock);
	if (enqueue(&l) < 0) {
		pthread_mutex_unlock(&L.lock);
		pthread_cond_destroy(&l.done);
		log_error("runner: cannot start the launcher; execution %s spawns its own", x->id);
		goto inline_spawn;
	}
	x->type_state = &l;
	while (l.state != LAUNCH_DONE) {
		/* Once taken, the spawn is under way: the stop reaches the process. */
		if (l.state == LAUNCH_QUEUED && atomic_load(&x->stop_requested)) {
			unlink_queued(&l);
			break;
		}
		pthread_cond_wait(&l.done, &L.lock);
	}
	x->type_state = NULL;
	pthread_mutex_unlock(&L.lock);
	pthread_cond_destroy(&l.done);
	if (l.state != LAUNCH_DONE)
		return runner_wait_due(x, r);
	return 0;

inline_spawn:
	runner_exec_open_wake(x);
	if (runner_wait_due(x, r) < 0)
		return -1;
	spawn(arg);
	return 0;
}

void runner_launch_wake(struct runner_exec *x)
{
	pthread_mutex_lock(&L.lock);
	struct launch *l = x->type_state;
	if (l)
		pthread_cond_signal(&l->done);
	pthread_mutex_unlock(&L.lock);
}
