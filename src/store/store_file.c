/* The files beside the database. `<db>.lock` is created by every read-write
 * open and never removed: it keeps a daemon's pid, and while a daemon runs
 * it holds an exclusive flock on it for its lifetime, so a second daemon on
 * the same database is refused before it touches anything. The kernel drops
 * the lock when the process dies, kill -9 included; the descriptor is
 * close-on-exec, so job processes that outlive the daemon do not keep it.
 *
 * The lock file is also the sign that a database was here. A database that
 * is missing (or empty) while its lock file, WAL or shared-memory file is
 * still there was deleted or moved: a fresh one is created only when asked
 * (--init-db), and then the stale WAL and shared-memory files go first, so
 * they cannot be replayed into it.
 *
 * A clean stop leaves a mark in the lock file, after the pid: the identity
 * of the database file as that stop left it (device, inode, size, mtime and
 * ctime) with no WAL beside it. The next daemon skips the start-up
 * quick_check, which reads the whole file, only when the file is still that
 * one, untouched since: any write changes the ctime, even one that puts the
 * mtime back, and a restored copy is another inode. Taking the lock clears
 * the mark, so a daemon that dies leaves none and the next start checks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/log.h"

/* exists tells whether path names a file, and its size. */
static bool exists(const char *path, off_t *size)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return false;
	if (size)
		*size = st.st_size;
	return true;
}

int store_file_expect(struct store *s, const struct store_options *o)
{
	static const char *const marks[] = {".lock", "-wal", "-shm"};
	char mark[4096];
	off_t size = 0;

	if (exists(o->path, &size) && size > 0)
		return 0;
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
		snprintf(mark, sizeof mark, "%s%s", o->path, marks[i]);
		if (!exists(mark, NULL))
			continue;
		if (!o->init)
			return store_seterr(
			    s,
			    "the database is %s, but %s is there: it was deleted or moved. Restore "
			    "it (with ofelia stopped), or start with --init-db "
			    "(OFELIA_INIT_DB=true) "
			    "to create an empty one",
			    size == 0 && exists(o->path, NULL) ? "empty" : "missing", mark);
		/* A WAL of the old database must not be replayed into the new one. */
		if (i > 0 && unlink(mark) < 0 && errno != ENOENT)
			return store_seterr(s, "--init-db: cannot remove %s: %s", mark,
			                    strerror(errno));
	}
	return 0;
}

/* identity describes the database file as a clean stop leaves it, into
 * out; -1 when it is missing or has a WAL with frames beside it. */
static int identity(const char *db, char *out, size_t len)
{
	char wal[4096];
	off_t wal_size = 0;
	struct stat st;

	snprintf(wal, sizeof wal, "%s-wal", db);
	if (stat(db, &st) < 0 || (exists(wal, &wal_size) && wal_size > 0))
		return -1;
	snprintf(out, len, "clean %ju %ju %jd %jd.%09ld %jd.%09ld\n", (uintmax_t)st.st_dev,
	         (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
	         st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return 0;
}

/* stopped_clean tells whether the lock file's mark (the line after the
 * pid) names the database file exactly as it is now. */
static bool stopped_clean(int fd, const char *db)
{
	char text[256], now[160];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	char *mark = strchr(text, '\n');
	return mark && identity(db, now, sizeof now) == 0 && strcmp(mark + 1, now) == 0;
}

/* holder reads the pid a daemon wrote into the lock file ("" if none). */
static void holder(int fd, char *out, size_t len)
{
	ssize_t n = pread(fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

int store_file_lock(struct store *s, const struct store_options *o)
{
	char path[4096], pid[32];
	snprintf(path, sizeof path, "%s.lock", o->path);
	/* `ofelia run` runs beside a daemon: the mark is all it needs. */
	if (!o->lock && exists(path, NULL))
		return 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	/* Another user's lock file can still be locked, without a pid in it. */
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_seterr(s, "unable to open the lock file %s: %s", path,
		                    strerror(errno));
	if (!o->lock) {
		close(fd);
		return 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		holder(fd, pid, sizeof pid);
		close(fd);
		if (e == EWOULDBLOCK)
			return store_seterr(
			    s,
			    "another ofelia daemon%s%s%s is using this database (it "
			    "holds %s); stop it first, or give this one its own --db",
			    *pid ? " (pid " : "", pid, *pid ? ")" : "", path);
		return store_seterr(s, "%s: lock: %s", path, strerror(e));
	}
	s->stopped_clean = stopped_clean(fd, o->path);
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("store: %s: cannot write the pid", path);
	s->lock_fd = fd;
	return 0;
}

void store_file_unlock(struct store *s, const char *clean_db)
{
	char text[256];
	int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	if (s->lock_fd >= 0 && clean_db && identity(clean_db, text + n, sizeof text - n) == 0 &&
	    pwrite(s->lock_fd, text, strlen(text), 0) < 0)
		log_warn("store: %s.lock: cannot mark the clean stop", clean_db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}
