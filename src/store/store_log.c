/* Log lines and group commit. store_log_append only copies a line into an
 * in-memory queue; the next commit (store_flush, any state change, or
 * store_tx_commit) inserts the whole queue with one prepared statement in its
 * transaction, so a flood of output costs one commit per flush, not per line.
 *
 * The queue is emptied only once its transaction commits: a failed commit
 * (a full disk) keeps every line for the next try. While commits keep
 * failing the queue is bounded (STORE_QUEUE_MAX_*): the oldest lines go
 * first, and each loss is counted in its execution's dropped_lines by the
 * first commit that succeeds. */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

static void tally_drop(struct store_queue *qu, const char *exec_id)
{
	for (size_t i = 0; i < qu->ndrops; i++)
		if (strcmp(qu->drops[i].exec_id, exec_id) == 0) {
			qu->drops[i].count++;
			return;
		}
	qu->drops = xreallocarray(qu->drops, qu->ndrops + 1, sizeof *qu->drops);
	memcpy(qu->drops[qu->ndrops].exec_id, exec_id, sizeof qu->drops->exec_id);
	qu->drops[qu->ndrops++].count = 1;
}

/* drop_oldest makes room for a line of len bytes. It drops a tenth of the
 * queue at a time, so a queue at its bound does not move memory per line. */
static void drop_oldest(struct store *s, size_t len)
{
	struct store_queue *qu = &s->queue;
	size_t k = 0;

	while (k < qu->n && (k < qu->n / 10 + 1 || qu->bytes + len > STORE_QUEUE_MAX_BYTES)) {
		struct store_queued_line *l = &qu->lines[k++];
		tally_drop(qu, l->exec_id);
		qu->bytes -= l->len;
		free(l->msg);
	}
	memmove(qu->lines, qu->lines + k, (qu->n - k) * sizeof *qu->lines);
	qu->n -= k;
	log_warnx("store: log queue full; dropped the %zu oldest lines (last error: %s)", k,
	          s->err[0] ? s->err : "none");
}

void store_log_append(struct store *s, const char *exec_id, int64_t seq, int64_t ts_ns,
                      bool is_error, const char *msg, size_t len)
{
	struct store_queue *qu = &s->queue;

	if (qu->n == STORE_QUEUE_MAX_LINES || qu->bytes + len > STORE_QUEUE_MAX_BYTES)
		drop_oldest(s, len);
	if (qu->n == qu->cap) {
		qu->cap = qu->cap ? qu->cap * 2 : 256;
		qu->lines = xreallocarray(qu->lines, qu->cap, sizeof *qu->lines);
	}
	struct store_queued_line *l = &qu->lines[qu->n++];
	size_t idlen = strnlen(exec_id, sizeof l->exec_id - 1);
	memcpy(l->exec_id, exec_id, idlen);
	l->exec_id[idlen] = '\0';
	l->seq = seq;
	l->ts_ns = ts_ns ? ts_ns : clock_now_ns();
	l->is_error = is_error;
	l->msg = xmalloc(len ? len : 1);
	memcpy(l->msg, msg, len);
	l->len = len;
	qu->bytes += len;
}

size_t store_pending(const struct store *s)
{
	return s->queue.n + s->queue.nprocs;
}

size_t store_pending_bytes(const struct store *s)
{
	return s->queue.bytes;
}

/* bind_line binds l to the five parameters after base. */
static void bind_line(struct store *s, sqlite3_stmt *q, int base, const struct store_queued_line *l)
{
	struct store_queue *qu = &s->queue;
	int64_t ms = l->ts_ns / NS_PER_MS;

	if (ms != qu->ts_ms || qu->ts_text[0] == '\0') {
		clock_format_iso(l->ts_ns, qu->ts_text);
		qu->ts_ms = ms;
	}
	sqlite3_bind_text(q, base + 1, l->exec_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, base + 2, l->seq);
	sqlite3_bind_text(q, base + 3, qu->ts_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, base + 4, l->is_error ? "error" : "info", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, base + 5, l->msg, (int)l->len, SQLITE_STATIC);
}

/* insert runs a bound log INSERT: 0, 1 when a line broke a constraint
 * (then nothing of this statement is kept), or -1. */
static int insert(struct store *s, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);
	bool constraint = (rc & 0xff) == SQLITE_CONSTRAINT;

	if (rc != SQLITE_DONE && !constraint)
		store_fail(s, "log insert");
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : constraint ? 1 : -1;
}

/* insert_lines writes lines one by one. A line of an unknown execution, or
 * a seq given twice, can never be stored: it is skipped rather than left to
 * block the queue. */
static int insert_lines(struct store *s, const struct store_queued_line *v, size_t n)
{
	sqlite3_stmt *q = store_stmt(s, ST_LOG_INSERT);

	for (size_t i = 0; i < n; i++) {
		bind_line(s, q, 0, &v[i]);
		if (insert(s, q) < 0)
			return -1;
	}
	return 0;
}

/* insert_chunk writes STORE_LOG_CHUNK lines with one statement; when one of
 * them cannot be stored, the chunk goes again line by line. */
static int insert_chunk(struct store *s, const struct store_queued_line *v)
{
	sqlite3_stmt *q = store_stmt(s, ST_LOG_INSERT_MANY);
	int rc;

	for (int i = 0; i < STORE_LOG_CHUNK; i++)
		bind_line(s, q, 5 * i, &v[i]);
	rc = insert(s, q);
	return rc == 1 ? insert_lines(s, v, STORE_LOG_CHUNK) : rc;
}

int store_queue_write(struct store *s)
{
	struct store_queue *qu = &s->queue;
	sqlite3_stmt *q = store_stmt(s, ST_LOG_DROPPED);
	size_t i = 0;

	for (; i + STORE_LOG_CHUNK <= qu->n; i += STORE_LOG_CHUNK)
		if (insert_chunk(s, qu->lines + i) < 0)
			return -1;
	/* An empty queue may have no array at all. */
	if (i < qu->n && insert_lines(s, qu->lines + i, qu->n - i) < 0)
		return -1;
	if (store_queue_write_processes(s) < 0)
		return -1;
	for (size_t d = 0; d < qu->ndrops; d++) {
		sqlite3_bind_text(q, 1, qu->drops[d].exec_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, qu->drops[d].count);
		if (store_done(s, q, "log dropped") < 0)
			return -1;
	}
	return 0;
}

void store_queue_committed(struct store *s)
{
	struct store_queue *qu = &s->queue;

	for (size_t i = 0; i < qu->n; i++)
		free(qu->lines[i].msg);
	qu->n = 0;
	qu->bytes = 0;
	qu->ndrops = 0;
	qu->nprocs = 0;
	/* A queue grown by a long failure gives its memory back. */
	if (qu->cap > 4096) {
		free(qu->lines);
		qu->lines = NULL;
		qu->cap = 0;
	}
}

void store_queue_fini(struct store_queue *qu)
{
	for (size_t i = 0; i < qu->n; i++)
		free(qu->lines[i].msg);
	free(qu->lines);
	free(qu->drops);
	free(qu->procs);
	memset(qu, 0, sizeof *qu);
}

int store_flush(struct store *s)
{
	/* Inside store_tx_begin the lines go with store_tx_commit. */
	if (s->in_tx || (s->queue.n == 0 && s->queue.ndrops == 0 && s->queue.nprocs == 0))
		return 0;
	if (store_write_begin(s) < 0)
		return -1;
	return store_write_end(s, 0);
}

/* forget drops the queued lines and drop counts of one execution. */
static void forget(struct store_queue *qu, const char *exec_id)
{
	size_t kept = 0;

	for (size_t i = 0; i < qu->n; i++) {
		struct store_queued_line *l = &qu->lines[i];
		if (strcmp(l->exec_id, exec_id) != 0) {
			qu->lines[kept++] = *l;
			continue;
		}
		qu->bytes -= l->len;
		free(l->msg);
	}
	qu->n = kept;
	for (size_t i = 0; i < qu->ndrops; i++)
		if (strcmp(qu->drops[i].exec_id, exec_id) == 0)
			qu->drops[i--] = qu->drops[--qu->ndrops];
}

int store_log_reset(struct store *s, const char *exec_id)
{
	sqlite3_stmt *q = store_stmt(s, ST_LOG_RESET);

	/* Queued lines would land after the reset and collide with the lines
	 * read again: they go too. */
	forget(&s->queue, exec_id);
	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, exec_id, -1, SQLITE_STATIC);
	return store_write_end(s, store_done(s, q, "log reset"));
}

int store_log_read(struct store *s, const char *exec_id, int64_t after_seq, int limit,
                   struct store_log_line **out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_LOG_READ);
	struct store_log_line *v = NULL;
	size_t count = 0, cap = 0;
	int rc;

	sqlite3_bind_text(q, 1, exec_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, after_seq);
	sqlite3_bind_int(q, 3, limit);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[count].seq = sqlite3_column_int64(q, 0);
		v[count].ts_ns = store_col_time(q, 1);
		v[count].is_error = strcmp((const char *)sqlite3_column_text(q, 2), "error") == 0;
		v[count].message = store_col_strdup(q, 3);
		count++;
	}
	if (rc != SQLITE_DONE)
		store_fail(s, "log read");
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		store_log_lines_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

void store_log_lines_free(struct store_log_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].message);
	free(v);
}
