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
 * they cannot be replayed into it. */
#include <errno.h>
#include <fcntl.h>
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
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("store: %s: cannot write the pid", path);
	s->lock_fd = fd;
	return 0;
}

void store_file_unlock(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}
