/* The checkpointer. With WAL and synchronous=NORMAL a commit only appends
 * to the WAL; the writes that wait for the disk (fsync) are the checkpoints
 * that copy the WAL back into the database. SQLite runs them inside a
 * commit when the WAL passes 1000 pages, which stalled the loop thread for
 * 5-40 ms at a time under load. Here they run on a thread of their own, on
 * a connection of their own, as PASSIVE checkpoints that never block a
 * writer; the main connection's automatic checkpoints are turned off. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the WAL is copied back. Frequent enough that the WAL stays
 * small under a flood of log lines, rare enough to cost nothing when idle. */
#define CHECKPOINT_EVERY_MS 500

struct store_checkpointer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	sqlite3 *db;
};

static void *run(void *arg)
{
	struct store_checkpointer *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += CHECKPOINT_EVERY_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->wake, &c->lock, &until);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->lock);
		int rc =
		    sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			log_warnx("store: checkpoint: %s", sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int store_checkpointer_start(struct store *s, const char *path)
{
	struct store_checkpointer *c = xcalloc(1, sizeof *c);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		store_seterr(s, "checkpointer: %s", sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_busy_timeout(c->db, 1000);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		store_seterr(s, "checkpointer: cannot start its thread");
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_wal_autocheckpoint(s->db, 0);
	s->checkpointer = c;
	return 0;
}

void store_checkpointer_stop(struct store *s)
{
	struct store_checkpointer *c = s->checkpointer;
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c);
	s->checkpointer = NULL;
}
