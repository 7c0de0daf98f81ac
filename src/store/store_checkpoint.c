/* The checkpointer. With WAL and synchronous=NORMAL a commit only appends
 * to the WAL; the writes that wait for the disk (fsync) are the checkpoints
 * that copy the WAL back into the database. SQLite runs them inside a
 * commit when the WAL passes 1000 pages, which stalled the loop thread for
 * 5-40 ms at a time under load. Here they run on a thread of their own, on
 * a connection of their own, as PASSIVE checkpoints that never block a
 * writer: as soon as a commit leaves the WAL past a quarter of its limit
 * (the main connection's WAL hook wakes the thread), and otherwise once the
 * WAL has waited CHECKPOINT_AGE (a minute) since the last one. Once a
 * checkpoint has copied everything, the next write starts the WAL over from
 * its beginning, and journal_size_limit cuts the file back to the limit.
 *
 * Why not more often: a checkpoint writes every page the commits since the
 * last one changed, each as a whole 4 KiB page of the page cache, and then
 * syncs both files; the next commit writes the WAL's header again and syncs
 * it. The pages a run of one job changes (its row's leaf, the right edges of
 * the indexes, the job, the metrics) are the same pages run after run, so
 * copying them once a minute instead of twice a second divides what the
 * disk sees per execution (BENCHMARKS.md, issue 13). What the WAL holds is
 * as safe as the database: a kill -9 loses none of it.
 *
 * Under a steady stream of commits (a job flooding its output) a PASSIVE
 * checkpoint is never complete when the next write begins, since frames came
 * in while it copied, so the WAL is never started over. When the WAL reaches
 * half its limit anyway, the loop thread runs a RESTART checkpoint
 * itself, between two of its transactions: the checkpointer has already
 * copied most of the frames, so this copies the rest and starts the WAL
 * over (8 ms median, 28 ms at most, in a flood of 70k lines/s on this
 * machine). Commits of log lines stay under 1 MiB of text (FLUSH_BYTES in
 * the scheduler), so the file stays well under the limit (2.5 MB at most
 * in `make bench`'s floods).
 * (Done from the checkpointer thread it would starve: the loop takes the
 * write lock again before a busy handler's next try.)
 *
 * The thread also looks every half second for a database file deleted or
 * moved under ofelia.
 *
 * The checkpointer's connection must have read the database once: until
 * then SQLite has not opened the WAL on it, and sqlite3_wal_checkpoint_v2
 * returns SQLITE_OK having copied nothing (why the WAL once grew forever). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the thread looks at the database file. */
#define LOOK_EVERY_MS 500
/* How long frames wait in the WAL when no commit asks for a checkpoint. */
#define CHECKPOINT_AGE (60 * NS_PER_SEC)
/* A database deleted under ofelia is logged this often. */
#define MOVED_LOG_EVERY_NS (60 * NS_PER_SEC)
/* After a RESTART checkpoint found readers in the way, the next waits. */
#define RESTART_BACKOFF_NS (10 * NS_PER_SEC)

struct store_checkpointer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_mutex_t busy; /* held by whichever thread is checkpointing */
	bool stop;
	bool asked; /* a commit left the WAL past a quarter of the limit */
	int limit_frames;
	int64_t age_ns;           /* CHECKPOINT_AGE, or the store options' */
	atomic_int frames;        /* the WAL's size after the last commit */
	int64_t checkpointed_ns;  /* monotonic; the last checkpoint */
	bool pinned_warned;       /* a reader keeps the WAL over the limit; said once */
	int64_t restart_after_ns; /* monotonic; no RESTART before */
	atomic_bool moved;        /* the database file was deleted or moved */
	atomic_bool failing;      /* the last checkpoint failed (full disk, I/O error) */
	char failure[256];        /* why; under lock */
	int64_t moved_said_ns;    /* monotonic; when that was last logged */
	char *path;
	sqlite3 *db;
};

/* restart copies the rest of the WAL back and starts it over, from the loop
 * thread, between two transactions (see the top of the file). When readers
 * keep it from finishing it is not tried again for a while, since it holds
 * writers off while it waits for them. */
static void restart(struct store_checkpointer *c, sqlite3 *db, int frames)
{
	int64_t now = clock_mono_ns();
	if (now < c->restart_after_ns)
		return;
	/* A checkpoint running on the other connection would make this one fail
	 * at once (SQLite does not wait for the checkpoint lock). Below three
	 * quarters of the limit the next commit tries again; past it this one
	 * waits. */
	if (frames < c->limit_frames * 3 / 4) {
		if (pthread_mutex_trylock(&c->busy) != 0)
			return;
	} else {
		pthread_mutex_lock(&c->busy);
	}
	int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	pthread_mutex_unlock(&c->busy);
	if (rc == SQLITE_OK) {
		c->pinned_warned = false;
		return;
	}
	c->restart_after_ns = now + RESTART_BACKOFF_NS;
	if (!c->pinned_warned) {
		c->pinned_warned = true;
		log_warnx("store: the WAL is past half its limit and cannot be started "
		          "over (%s); "
		          "a reader (a sqlite3 session with an open transaction?) may be "
		          "holding it",
		          sqlite3_errmsg(db));
	}
}

/* on_wal runs on the loop thread after each commit with the WAL's size in
 * frames (pages). */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_checkpointer *c = arg;
	(void)name;
	atomic_store(&c->frames, frames);
	if (frames >= c->limit_frames / 2) {
		restart(c, db, frames);
		return SQLITE_OK;
	}
	if (frames < c->limit_frames / 4)
		return SQLITE_OK;
	pthread_mutex_lock(&c->lock);
	if (!c->asked) {
		c->asked = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return SQLITE_OK;
}

/* check_moved notices a database file deleted or renamed under ofelia
 * (its link count is 0, or the path names another file), which readiness
 * reports; it says so loudly, once a minute. */
static void check_moved(struct store_checkpointer *c)
{
	int moved = 0;
	if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
	    !moved)
		return;
	atomic_store(&c->moved, true);
	int64_t now = clock_mono_ns();
	if (c->moved_said_ns && now - c->moved_said_ns < MOVED_LOG_EVERY_NS)
		return;
	c->moved_said_ns = now;
	log_errorx("store: the database file %s was DELETED or MOVED while ofelia runs: "
	           "everything recorded from now on is lost when ofelia stops. Stop ofelia, "
	           "restore the file, and start it again",
	           c->path);
}

bool store_checkpointer_moved(const struct store *s)
{
	return s->checkpointer && atomic_load(&s->checkpointer->moved);
}

/* checkpoint copies the WAL back without blocking anyone; it may leave
 * frames that came in meanwhile. */
static void checkpoint(struct store_checkpointer *c)
{
	c->checkpointed_ns = clock_mono_ns();
	pthread_mutex_lock(&c->busy);
	int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	pthread_mutex_unlock(&c->busy);
	if (rc == SQLITE_OK) {
		atomic_store(&c->failing, false);
		return;
	}
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return;
	/* Commits still go to the WAL, but it can no longer be copied back nor
	 * started over: readiness says so before the commits fail too. */
	if (!atomic_load(&c->failing))
		log_warnx("store: checkpoint: %s", sqlite3_errmsg(c->db));
	pthread_mutex_lock(&c->lock);
	snprintf(c->failure, sizeof c->failure, "checkpoint: %s", sqlite3_errmsg(c->db));
	pthread_mutex_unlock(&c->lock);
	atomic_store(&c->failing, true);
}

int store_checkpointer_failure(const struct store *s, char *out, size_t len)
{
	struct store_checkpointer *c = s->checkpointer;
	if (c == NULL || !atomic_load(&c->failing))
		return 0;
	pthread_mutex_lock(&c->lock);
	snprintf(out, len, "%s", c->failure);
	pthread_mutex_unlock(&c->lock);
	return -1;
}

static void *run(void *arg)
{
	struct store_checkpointer *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += LOOK_EVERY_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!c->asked)
			pthread_cond_timedwait(&c->wake, &c->lock, &until);
		if (c->stop)
			break;
		bool due = c->asked || (atomic_load(&c->frames) > 0 &&
		                        clock_mono_ns() - c->checkpointed_ns >= c->age_ns);
		c->asked = false;
		pthread_mutex_unlock(&c->lock);
		check_moved(c);
		if (due)
			checkpoint(c);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* read_int runs a one-number query on db; -1 when it fails. Reading the
 * page size also opens the WAL on the connection (see the top of the file). */
static int64_t read_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

int store_checkpointer_start(struct store *s, const char *path, int64_t limit_bytes, int64_t age_ns)
{
	struct store_checkpointer *c = xcalloc(1, sizeof *c);
	char sql[64];
	int64_t page = -1;

	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
	        SQLITE_OK &&
	    read_int(c->db, "SELECT count(*) FROM sqlite_schema") >= 0)
		page = read_int(c->db, "PRAGMA page_size");
	if (page <= 0) {
		store_seterr(s, "checkpointer: %s", sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_busy_timeout(c->db, 1000);
	/* As the main connection: I/O errors as codes, never SIGBUS. */
	sqlite3_exec(c->db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	/* A WAL frame is a page and its 24-byte header. */
	c->limit_frames = (int)(limit_bytes / (page + 24));
	if (c->limit_frames < 16)
		c->limit_frames = 16;
	snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld", (long long)limit_bytes);
	sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	c->age_ns = age_ns > 0 ? age_ns : CHECKPOINT_AGE;
	c->checkpointed_ns = clock_mono_ns();
	c->path = xstrdup(path);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->busy, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		store_seterr(s, "checkpointer: cannot start its thread");
		sqlite3_close(c->db);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->busy);
		pthread_cond_destroy(&c->wake);
		free(c->path);
		free(c);
		return -1;
	}
	/* The hook replaces SQLite's automatic checkpoints on this connection. */
	sqlite3_wal_hook(s->db, on_wal, c);
	s->checkpointer = c;
	return 0;
}

void store_checkpointer_stop(struct store *s)
{
	struct store_checkpointer *c = s->checkpointer;
	if (c == NULL)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->busy);
	pthread_cond_destroy(&c->wake);
	free(c->path);
	free(c);
	s->checkpointer = NULL;
}
