/* The store's side of a cluster (docs/cluster.md): every node keeps the
 * whole history in its own file and serves the changes it made to the
 * others, which pull them with a cursor.
 *
 * DESIGN. A node numbers its changes: each write of an execution row (and,
 * while the node leads, of a job row) sets the row's changed_by to the
 * node and its change_seq to the next number. A page of the feed is the
 * node's rows with change_seq after the cursor, in order, as JSON, with the
 * log lines of the finished executions among them (cut at a byte budget;
 * the cursor then says how far into one execution's lines the page got).
 * A row that came from another node keeps that node's name in changed_by
 * and is never served again: each node pulls from every other.
 *
 * A pulled page is applied in one transaction with the cursor, so it is
 * applied once. Executions merge by rank: the ending the node that ran
 * an execution recorded beats an ending another node recorded for it
 * (resolved_by), which beats a running row; a slot's rows merge the same
 * way on (job, slot). Metrics follow: a row counted and then replaced is
 * counted off first. Job rows are the leader's: a follower takes them as
 * they come, the leader only takes a job it does not have.
 *
 * Without a cluster s->cluster is NULL and none of this runs: the columns
 * stay NULL and the partial indexes hold nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/map.h"
#include "util/xalloc.h"

/* Rows and bytes of output and log lines in one page, at most (one row
 * larger than the budget still goes, alone). */
#define PAGE_ROWS  256
#define PAGE_BYTES (1024 * 1024)
/* Log lines read at a time while a page is built. */
#define LINES_STEP 512

#define REPL_EXEC_COLUMNS                                                                          \
	"id, job_name, job_type, status, trigger, scheduled_time, start_time, end_time, "          \
	"duration_ns, exit_code, output, output_dropped, error, log_lines, dropped_lines, "        \
	"container_id, created_at, node, resolved_by, attempt, first_attempt_id, cause_id"
#define REPL_EXEC_COUNT 22
#define REPL_JOB_COLUMNS                                                                           \
	"name, type, schedule, command, origin, enabled, next_run, last_run, last_status, "        \
	"last_slot, slot_schedule, definition, source_definition, overridden, deleted_at, "        \
	"created_at, updated_at"
#define REPL_JOB_COUNT 17

/* attempt comes as 1 from a node that does not send it (its NOT NULL). */
#define P22                                                                                        \
	"?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "   \
	"coalesce(?20, 1), ?21, ?22"
#define P17 "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17"

enum {
	C_MARK_EXEC,
	C_MARK_JOB,
	C_MAX_EXEC,
	C_MAX_JOB,
	C_FEED_EXEC,
	C_FEED_JOB,
	C_JOB_ROW,
	C_LINES,
	C_BY_ID,
	C_BY_SLOT,
	C_EXEC_UPSERT,
	C_EXEC_DELETE,
	C_EXEC_MARK_FROM,
	C_JOB_UPSERT,
	C_JOB_INSERT,
	C_JOB_MARK_FROM,
	C_LINE_INSERT,
	C_UNCOUNT,
	C_UNBUCKET,
	C_UNSUM,
	C_PLACEHOLDER,
	C_STMT_COUNT
};

static const char *const sql[C_STMT_COUNT] = {
    [C_MARK_EXEC] = "UPDATE executions SET changed_by = ?2, change_seq = ?3 WHERE id = ?1",
    [C_MARK_JOB] = "UPDATE jobs SET changed_by = ?2, change_seq = ?3 WHERE name = ?1",
    [C_MAX_EXEC] = "SELECT change_seq FROM executions WHERE changed_by = ?1 "
                   "AND change_seq IS NOT NULL ORDER BY change_seq DESC LIMIT 1",
    [C_MAX_JOB] = "SELECT change_seq FROM jobs WHERE changed_by = ?1 "
                  "AND change_seq IS NOT NULL ORDER BY change_seq DESC LIMIT 1",
    [C_FEED_EXEC] = "SELECT " REPL_EXEC_COLUMNS ", change_seq FROM executions "
                    "WHERE changed_by = ?1 AND change_seq > ?2 AND change_seq <= ?3 "
                    "AND change_seq IS NOT NULL ORDER BY change_seq LIMIT ?4",
    [C_FEED_JOB] = "SELECT " REPL_JOB_COLUMNS ", change_seq FROM jobs "
                   "WHERE changed_by = ?1 AND change_seq > ?2 AND change_seq <= ?3 "
                   "AND change_seq IS NOT NULL ORDER BY change_seq LIMIT ?4",
    [C_JOB_ROW] = "SELECT " REPL_JOB_COLUMNS ", change_seq FROM jobs WHERE name = ?1",
    [C_LINES] = "SELECT seq, timestamp, level, message FROM execution_logs "
                "WHERE execution_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [C_BY_ID] = "SELECT id, status, resolved_by, job_name, duration_ns, end_time "
                "FROM executions WHERE id = ?1",
    [C_BY_SLOT] = "SELECT id, status, resolved_by, job_name, duration_ns, end_time "
                  "FROM executions WHERE job_name = ?1 AND scheduled_time = ?2",
    [C_EXEC_UPSERT] =
        "INSERT INTO executions (" REPL_EXEC_COLUMNS ", changed_by, change_seq) VALUES (" P22
        ", ?23, ?24) ON CONFLICT (id) DO UPDATE SET job_type = excluded.job_type, "
        "status = excluded.status, trigger = excluded.trigger, "
        "scheduled_time = excluded.scheduled_time, start_time = excluded.start_time, "
        "end_time = excluded.end_time, duration_ns = excluded.duration_ns, "
        "exit_code = excluded.exit_code, output = excluded.output, "
        "output_dropped = excluded.output_dropped, error = excluded.error, "
        "log_lines = excluded.log_lines, dropped_lines = excluded.dropped_lines, "
        "container_id = excluded.container_id, node = excluded.node, "
        "resolved_by = excluded.resolved_by, attempt = excluded.attempt, "
        "first_attempt_id = excluded.first_attempt_id, cause_id = excluded.cause_id, "
        "changed_by = excluded.changed_by, "
        "change_seq = excluded.change_seq",
    [C_EXEC_DELETE] = "DELETE FROM executions WHERE id = ?1",
    [C_EXEC_MARK_FROM] = "UPDATE executions SET changed_by = ?2, change_seq = ?3 WHERE id = ?1",
    [C_JOB_UPSERT] =
        "INSERT INTO jobs (" REPL_JOB_COLUMNS ") VALUES (" P17
        ") ON CONFLICT (name) DO UPDATE SET type = excluded.type, "
        "schedule = excluded.schedule, command = excluded.command, origin = excluded.origin, "
        "enabled = excluded.enabled, next_run = excluded.next_run, "
        "last_run = excluded.last_run, last_status = excluded.last_status, "
        "last_slot = excluded.last_slot, slot_schedule = excluded.slot_schedule, "
        "definition = excluded.definition, source_definition = excluded.source_definition, "
        "overridden = excluded.overridden, deleted_at = excluded.deleted_at, "
        "created_at = excluded.created_at, updated_at = excluded.updated_at",
    [C_JOB_INSERT] =
        "INSERT INTO jobs (" REPL_JOB_COLUMNS ") VALUES (" P17 ") ON CONFLICT (name) DO NOTHING",
    [C_JOB_MARK_FROM] = "UPDATE jobs SET changed_by = ?2, change_seq = ?3 WHERE name = ?1 "
                        "AND (changed_by IS NULL OR changed_by <> ?4)",
    [C_LINE_INSERT] = "INSERT OR IGNORE INTO execution_logs (execution_id, seq, timestamp, "
                      "level, message) VALUES (?1, ?2, ?3, ?4, ?5)",
    [C_UNCOUNT] = "UPDATE job_counters SET count = count - 1 WHERE job_name = ?1 "
                  "AND status = ?2 AND count > 0",
    [C_UNBUCKET] = "UPDATE job_durations SET count = count - 1 WHERE job_name = ?1 "
                   "AND le = ?2 AND count > 0",
    [C_UNSUM] = "UPDATE job_metrics SET duration_sum_ns = duration_sum_ns - ?2, "
                "duration_count = duration_count - 1 WHERE job_name = ?1 "
                "AND duration_count > 0",
    [C_PLACEHOLDER] = "INSERT INTO executions (id, job_name, job_type, status, trigger, "
                      "scheduled_time, start_time, end_time, duration_ns, error, created_at, "
                      "node, resolved_by) VALUES (?1, ?2, ?3, 'interrupted', 'schedule', ?4, "
                      "?4, ?5, ?6, ?7, ?5, ?8, ?9)",
};

struct store_cluster {
	char *node;
	bool own_jobs;     /* job rows written now are this node's changes (it leads) */
	int64_t seq;       /* the last number given to a change */
	int64_t committed; /* the last number of a committed change */
	sqlite3_stmt *stmt[C_STMT_COUNT];
};

/* ---- numbering changes ---- */

const char *store_cluster_node(const struct store *s)
{
	return s->cluster ? s->cluster->node : NULL;
}

static int mark(struct store *s, int which, const char *key)
{
	sqlite3_stmt *q = s->cluster->stmt[which];
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->cluster->node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, ++s->cluster->seq);
	return store_done(s, q, "cluster mark");
}

int store_cluster_mark_exec(struct store *s, const char *id)
{
	return s->cluster ? mark(s, C_MARK_EXEC, id) : 0;
}

int store_cluster_mark_job(struct store *s, const char *name)
{
	return s->cluster && s->cluster->own_jobs ? mark(s, C_MARK_JOB, name) : 0;
}

void store_cluster_committed(struct store *s)
{
	if (s->cluster)
		s->cluster->committed = s->cluster->seq;
}

static int64_t max_seq(struct store *s, sqlite3_stmt *q)
{
	int64_t v = 0;
	sqlite3_bind_text(q, 1, s->cluster->node, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return v;
}

int store_cluster_enable(struct store *s, const char *node)
{
	if (s->cluster)
		return store_seterr(s, "cluster: already enabled");
	struct store_cluster *c = xcalloc(1, sizeof *c);
	c->node = xstrdup(node);
	s->cluster = c;
	for (int i = 0; i < C_STMT_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[i],
		                       NULL) != SQLITE_OK) {
			store_seterr(s, "prepare \"%.60s\": %s", sql[i], sqlite3_errmsg(s->db));
			store_cluster_fini(s);
			return -1;
		}
	int64_t e = max_seq(s, c->stmt[C_MAX_EXEC]), j = max_seq(s, c->stmt[C_MAX_JOB]);
	c->seq = c->committed = e > j ? e : j;
	return 0;
}

void store_cluster_fini(struct store *s)
{
	struct store_cluster *c = s->cluster;
	if (c == NULL)
		return;
	for (int i = 0; i < C_STMT_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	free(c->node);
	free(c);
	s->cluster = NULL;
}

void store_cluster_lead(struct store *s, bool leading)
{
	if (s->cluster)
		s->cluster->own_jobs = leading;
}

/* ---- cursors ---- */

struct cursor {
	int64_t seq;  /* every change up to this one was sent */
	int64_t line; /* ... and this many lines of the next one, */
	char id[37];  /* when it is this execution */
};

static void cursor_parse(const char *text, struct cursor *c)
{
	memset(c, 0, sizeof *c);
	if (text == NULL)
		return;
	char *end;
	long long seq = strtoll(text, &end, 10);
	c->seq = seq > 0 ? seq : 0;
	if (*end != ':')
		return;
	long long line = strtoll(end + 1, &end, 10);
	if (*end != ':' || line < 0 || strlen(end + 1) != 36)
		return;
	c->line = line;
	memcpy(c->id, end + 1, 36);
}

static char *cursor_text(const struct cursor *c)
{
	if (c->id[0])
		return xasprintf("%lld:%lld:%s", (long long)c->seq, (long long)c->line, c->id);
	return xasprintf("%lld", (long long)c->seq);
}

/* ---- rows as JSON ---- */

/* row_json makes an object of q's first n columns, by their names. */
static json_t *row_json(sqlite3_stmt *q, int n)
{
	json_t *o = json_object();
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(q, i);
		switch (sqlite3_column_type(q, i)) {
		case SQLITE_INTEGER:
			json_object_set_new(o, name, json_integer(sqlite3_column_int64(q, i)));
			break;
		case SQLITE_NULL:
			json_object_set_new(o, name, json_null());
			break;
		default:
			json_object_set_new(o, name,
			                    json_stringn((const char *)sqlite3_column_text(q, i),
			                                 (size_t)sqlite3_column_bytes(q, i)));
			break;
		}
	}
	return o;
}

/* bind_json binds o's members named as q's parameters ?1.. are listed in
 * names (a comma list); a missing member is NULL. */
static void bind_json(sqlite3_stmt *q, const json_t *o, const char *names)
{
	int i = 1;
	for (const char *p = names; *p; i++) {
		p += strspn(p, ", ");
		size_t len = strcspn(p, ",");
		char key[32];
		snprintf(key, sizeof key, "%.*s", (int)len, p);
		p += len;
		json_t *v = json_object_get(o, key);
		if (json_is_integer(v))
			sqlite3_bind_int64(q, i, json_integer_value(v));
		else if (json_is_string(v))
			sqlite3_bind_text(q, i, json_string_value(v), (int)json_string_length(v),
			                  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(q, i);
	}
}

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- the feed ---- */

struct page {
	json_t *jobs; /* this node's changes of job rows */
	json_t *refs; /* the rows of the other jobs the executions name */
	json_t *execs;
	struct map jobs_in; /* names of the jobs in the page */
	size_t rows, bytes;
	struct cursor next;
	bool more;
};

static int add_job(struct store *s, struct page *p, const char *name)
{
	sqlite3_stmt *q = s->cluster->stmt[C_JOB_ROW];
	if (map_get(&p->jobs_in, name))
		return 0;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		json_t *o = row_json(q, REPL_JOB_COUNT);
		map_put(&p->jobs_in, str_of(o, "name"), (void *)1);
		json_array_append_new(p->refs, o);
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(s, "cluster job row");
}

/* add_lines puts the lines of execution id after `after` into o, within
 * the page's budget; *cut says whether some were left for the next page
 * (then *last is the last one sent). */
static int add_lines(struct store *s, struct page *p, json_t *o, const char *id, int64_t after,
                     bool *cut, int64_t *last)
{
	sqlite3_stmt *q = s->cluster->stmt[C_LINES];
	json_t *lines = json_array();
	int rc = SQLITE_DONE;

	*cut = false;
	*last = after;
	for (;;) {
		size_t got = 0;
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, *last);
		sqlite3_bind_int(q, 3, LINES_STEP);
		while (!*cut && (rc = sqlite3_step(q)) == SQLITE_ROW) {
			size_t len = (size_t)sqlite3_column_bytes(q, 3);
			/* A page holds at least one line, so it always moves on. */
			if (p->bytes + len > PAGE_BYTES &&
			    (p->rows > 1 || json_array_size(lines))) {
				*cut = true;
				break;
			}
			*last = sqlite3_column_int64(q, 0);
			json_array_append_new(
			    lines, json_pack("[I,s,s,s%]", (json_int_t)*last,
			                     (const char *)sqlite3_column_text(q, 1),
			                     (const char *)sqlite3_column_text(q, 2),
			                     (const char *)sqlite3_column_text(q, 3), len));
			p->bytes += len + 48;
			got++;
		}
		sqlite3_reset(q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			json_decref(lines);
			return store_fail(s, "cluster lines");
		}
		if (*cut || got < LINES_STEP)
			break;
	}
	json_object_set_new(o, "lines", lines);
	return 0;
}

/* add_exec puts the current row of q (an execution) in the page; false
 * when the budget ends the page before it. */
static int add_exec(struct store *s, struct page *p, sqlite3_stmt *q, const struct cursor *from,
                    int64_t prev_seq, bool *full)
{
	json_t *o = row_json(q, REPL_EXEC_COUNT + 1);
	int64_t seq = sqlite3_column_int64(q, REPL_EXEC_COUNT);
	const char *id = str_of(o, "id");
	const char *status = str_of(o, "status");
	size_t bytes =
	    (size_t)sqlite3_column_bytes(q, 10) + (size_t)sqlite3_column_bytes(q, 12) + 256;

	*full = false;
	if (p->rows > 0 && p->bytes + bytes > PAGE_BYTES) {
		json_decref(o);
		*full = true;
		return 0;
	}
	p->rows++;
	p->bytes += bytes;
	if (add_job(s, p, str_of(o, "job_name")) < 0) {
		json_decref(o);
		return -1;
	}
	/* A running execution's lines come with its end. */
	if (status && strcmp(status, "running") != 0) {
		int64_t after = strcmp(from->id, id) == 0 ? from->line : 0, last;
		bool cut;
		if (add_lines(s, p, o, id, after, &cut, &last) < 0) {
			json_decref(o);
			return -1;
		}
		if (cut) {
			p->next = (struct cursor){prev_seq, last, ""};
			memcpy(p->next.id, id, 36);
			p->more = *full = true;
			json_array_append_new(p->execs, o);
			return 0;
		}
	}
	json_array_append_new(p->execs, o);
	p->next = (struct cursor){seq, 0, ""};
	return 0;
}

json_t *store_changes_read(struct store *s, const char *cursor)
{
	if (s->cluster == NULL) {
		store_seterr(s, "not in a cluster");
		return NULL;
	}
	struct store_cluster *c = s->cluster;
	sqlite3_stmt *qe = c->stmt[C_FEED_EXEC], *qj = c->stmt[C_FEED_JOB];
	struct cursor from;
	struct page p = {json_array(), json_array(), json_array(), {0}, 0, 0, {0}, false};
	int rce = SQLITE_DONE, rcj = SQLITE_DONE, rc = 0;

	map_init(&p.jobs_in);
	cursor_parse(cursor, &from);
	/* A cursor past every change here (this file was restored or made
	 * anew): the reader takes everything again; merging is idempotent. */
	if (from.seq > c->committed)
		memset(&from, 0, sizeof from);
	p.next = (struct cursor){from.seq, 0, ""};
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *q = k ? qj : qe;
		sqlite3_bind_text(q, 1, c->node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, from.seq);
		sqlite3_bind_int64(q, 3, c->committed);
		sqlite3_bind_int(q, 4, PAGE_ROWS);
	}
	/* Two ordered lists merged by change number. */
	rce = sqlite3_step(qe);
	rcj = sqlite3_step(qj);
	int64_t prev = from.seq;
	bool full = false;
	while (!full && rc == 0 && (rce == SQLITE_ROW || rcj == SQLITE_ROW)) {
		int64_t se =
		    rce == SQLITE_ROW ? sqlite3_column_int64(qe, REPL_EXEC_COUNT) : INT64_MAX;
		int64_t sj =
		    rcj == SQLITE_ROW ? sqlite3_column_int64(qj, REPL_JOB_COUNT) : INT64_MAX;
		if (p.rows >= PAGE_ROWS) {
			p.more = true;
			break;
		}
		if (sj < se) {
			json_t *o = row_json(qj, REPL_JOB_COUNT + 1);
			map_put(&p.jobs_in, str_of(o, "name"), (void *)1);
			json_array_append_new(p.jobs, o);
			p.rows++;
			p.next = (struct cursor){sj, 0, ""};
			prev = sj;
			rcj = sqlite3_step(qj);
			continue;
		}
		rc = add_exec(s, &p, qe, &from, prev, &full);
		if (full) {
			p.more = true;
			break;
		}
		prev = se;
		rce = sqlite3_step(qe);
	}
	if (!p.more && (rce == SQLITE_ROW || rcj == SQLITE_ROW))
		p.more = true;
	if ((rce != SQLITE_ROW && rce != SQLITE_DONE) || (rcj != SQLITE_ROW && rcj != SQLITE_DONE))
		rc = store_fail(s, "cluster feed");
	sqlite3_reset(qe);
	sqlite3_reset(qj);
	map_fini(&p.jobs_in);
	if (rc < 0) {
		json_decref(p.jobs);
		json_decref(p.refs);
		json_decref(p.execs);
		return NULL;
	}
	char *next = cursor_text(&p.next);
	json_t *page =
	    json_pack("{s:s,s:s,s:b,s:o,s:o,s:o}", "node", c->node, "cursor", next, "more", p.more,
	              "jobs", p.jobs, "jobRefs", p.refs, "executions", p.execs);
	free(next);
	return page;
}

/* ---- applying a page ---- */

/* rank orders the versions of one execution: the ending its own node
 * recorded (3), an ending another node recorded for it (2), running (1). */
static int rank(const char *status, bool resolved)
{
	if (status == NULL || strcmp(status, "running") == 0)
		return 1;
	return resolved ? 2 : 3;
}

struct local_row {
	char id[37];
	char *status;
	bool resolved;
	char *job;
	int64_t duration_ns;
	bool ended;
};

static void local_fini(struct local_row *l)
{
	free(l->status);
	free(l->job);
	memset(l, 0, sizeof *l);
}

/* find reads the row q (bound) finds into l; 1 found, 0 none, -1 error. */
static int find(struct store *s, sqlite3_stmt *q, struct local_row *l)
{
	int rc = sqlite3_step(q);
	memset(l, 0, sizeof *l);
	if (rc == SQLITE_ROW) {
		snprintf(l->id, sizeof l->id, "%s", (const char *)sqlite3_column_text(q, 0));
		l->status = store_col_strdup(q, 1);
		l->resolved = sqlite3_column_type(q, 2) != SQLITE_NULL;
		l->job = store_col_strdup(q, 3);
		l->duration_ns = sqlite3_column_int64(q, 4);
		l->ended = sqlite3_column_type(q, 5) != SQLITE_NULL;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "cluster find");
	return rc == SQLITE_ROW;
}

/* count / uncount keep the metrics in step with the rows: an ending is
 * counted once, in the file that holds it. */
static int count(struct store *s, const json_t *o)
{
	struct store_execution e = {0};
	const char *status = str_of(o, "status");
	if (status == NULL || job_status_parse(status, &e.status) < 0 ||
	    e.status == JOB_STATUS_RUNNING)
		return 0;
	e.job_name = (char *)str_of(o, "job_name");
	e.duration_ns = json_integer_value(json_object_get(o, "duration_ns"));
	const char *end = str_of(o, "end_time");
	if (end == NULL || clock_parse_rfc3339(end, &e.end_ns) < 0)
		e.end_ns = 0;
	/* A slot that did not run has no duration: only its counter moves. */
	if (e.status == JOB_STATUS_SKIPPED || e.status == JOB_STATUS_MISSED ||
	    e.status == JOB_STATUS_EXPIRED)
		return store_metrics_count(s, e.job_name, e.status);
	return store_metrics_finished(s, &e);
}

static int uncount(struct store *s, const struct local_row *l)
{
	struct store_cluster *c = s->cluster;
	enum job_status st;
	if (l->status == NULL || job_status_parse(l->status, &st) < 0 || st == JOB_STATUS_RUNNING)
		return 0;
	sqlite3_stmt *q = c->stmt[C_UNCOUNT];
	sqlite3_bind_text(q, 1, l->job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, l->status, -1, SQLITE_STATIC);
	if (store_done(s, q, "cluster uncount") < 0)
		return -1;
	if (st != JOB_STATUS_SUCCESS && st != JOB_STATUS_FAILED && st != JOB_STATUS_STOPPED)
		return 0;
	char le[16];
	store_metrics_bucket(l->duration_ns, le);
	q = c->stmt[C_UNBUCKET];
	sqlite3_bind_text(q, 1, l->job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, le, -1, SQLITE_STATIC);
	if (store_done(s, q, "cluster unbucket") < 0)
		return -1;
	q = c->stmt[C_UNSUM];
	sqlite3_bind_text(q, 1, l->job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, l->duration_ns);
	return store_done(s, q, "cluster unsum");
}

static int upsert_exec(struct store *s, const json_t *o, const char *source, int64_t seq)
{
	sqlite3_stmt *q = s->cluster->stmt[C_EXEC_UPSERT];
	bind_json(q, o, REPL_EXEC_COLUMNS);
	sqlite3_bind_text(q, 23, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 24, seq);
	return store_done(s, q, "cluster execution") == 0 ? 0 : -1;
}

static int delete_exec(struct store *s, const char *id)
{
	sqlite3_stmt *q = s->cluster->stmt[C_EXEC_DELETE];
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	return store_done(s, q, "cluster delete");
}

static int insert_lines(struct store *s, const char *id, const json_t *lines)
{
	sqlite3_stmt *q = s->cluster->stmt[C_LINE_INSERT];
	size_t i;
	json_t *l;
	json_array_foreach(lines, i, l)
	{
		json_t *msg = json_array_get(l, 3);
		if (!json_is_integer(json_array_get(l, 0)) || !json_is_string(msg) ||
		    !json_is_string(json_array_get(l, 1)) || !json_is_string(json_array_get(l, 2)))
			return store_seterr(s, "cluster: a log line of %s is malformed", id);
		const char *level = json_string_value(json_array_get(l, 2));
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, json_integer_value(json_array_get(l, 0)));
		sqlite3_bind_text(q, 3, json_string_value(json_array_get(l, 1)), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, strcmp(level, "error") == 0 ? "error" : "info", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(q, 5, json_string_value(msg), (int)json_string_length(msg),
		                  SQLITE_STATIC);
		if (store_done(s, q, "cluster line") < 0)
			return -1;
	}
	return 0;
}

static bool resolved_of(const json_t *o)
{
	return json_is_string(json_object_get(o, "resolved_by"));
}

/* apply_exec merges one execution of the page; *taken counts it when it
 * changed this file. */
static int apply_exec(struct store *s, const json_t *o, const char *source, int64_t seq, int *taken)
{
	struct store_cluster *c = s->cluster;
	const char *id = str_of(o, "id"), *job = str_of(o, "job_name");
	const char *slot = str_of(o, "scheduled_time");
	struct local_row by_id = {0}, by_slot = {0};
	int in = rank(str_of(o, "status"), resolved_of(o));
	int found_slot = 0, rc = -1;

	if (id == NULL || strlen(id) != 36 || job == NULL)
		return store_seterr(s, "cluster: an execution without id or job");
	sqlite3_bind_text(c->stmt[C_BY_ID], 1, id, -1, SQLITE_STATIC);
	int found = find(s, c->stmt[C_BY_ID], &by_id);
	if (found < 0)
		return -1;
	if (found == 0 && slot) {
		sqlite3_bind_text(c->stmt[C_BY_SLOT], 1, job, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->stmt[C_BY_SLOT], 2, slot, -1, SQLITE_STATIC);
		if ((found_slot = find(s, c->stmt[C_BY_SLOT], &by_slot)) < 0)
			goto out;
	}
	struct local_row *have = found ? &by_id : found_slot ? &by_slot : NULL;
	/* Running rows move on (a container id, a later state); an ending is
	 * replaced only by a better one. */
	bool replace = true;
	if (have) {
		int mine = rank(have->status, have->resolved);
		replace = in > mine || (in == mine && in == 1);
	}
	if (replace) {
		if (have &&
		    (uncount(s, have) < 0 || (have == &by_slot && delete_exec(s, have->id) < 0)))
			goto out;
		if (upsert_exec(s, o, source, seq) < 0 || count(s, o) < 0)
			goto out;
		(*taken)++;
	}
	/* The lines of a long execution come over several pages with the
	 * same row: they go in whether the row did or not. */
	json_t *lines = json_object_get(o, "lines");
	if ((replace || have == &by_id) && json_is_array(lines) && insert_lines(s, id, lines) < 0)
		goto out;
	rc = 0;
out:
	local_fini(&by_id);
	local_fini(&by_slot);
	return rc;
}

/* apply_job takes one job row: a change of the source's (mine: false)
 * replaces ours unless this node leads; a row an execution only refers to
 * goes in when there is none. */
static int apply_job(struct store *s, const json_t *o, const char *source, int64_t seq, bool ref,
                     bool *took)
{
	struct store_cluster *c = s->cluster;
	sqlite3_stmt *q = c->stmt[c->own_jobs || ref ? C_JOB_INSERT : C_JOB_UPSERT];
	const char *name = str_of(o, "name");
	if (name == NULL || str_of(o, "definition") == NULL)
		return store_seterr(s, "cluster: a job without name or definition");
	bind_json(q, o, REPL_JOB_COLUMNS);
	if (store_done(s, q, "cluster job") != 0)
		return -1;
	*took = sqlite3_changes(s->db) > 0;
	if (!*took)
		return 0;
	q = c->stmt[C_JOB_MARK_FROM];
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, seq);
	sqlite3_bind_text(q, 4, c->node, -1, SQLITE_STATIC);
	return store_done(s, q, "cluster job mark");
}

static int apply_page(struct store *s, const char *source, const json_t *page,
                      struct store_applied *out)
{
	json_t *execs = json_object_get(page, "executions");
	size_t i;
	json_t *o;

	for (int ref = 0; ref < 2; ref++) {
		json_t *jobs = json_object_get(page, ref ? "jobRefs" : "jobs");
		json_array_foreach(jobs, i, o)
		{
			bool took;
			if (!json_is_object(o) ||
			    apply_job(s, o, source,
			              json_integer_value(json_object_get(o, "change_seq")), ref,
			              &took) < 0)
				return -1;
			if (took)
				strv_push(&out->jobs, str_of(o, "name"));
		}
	}
	json_array_foreach(execs, i, o)
	{
		if (!json_is_object(o) ||
		    apply_exec(s, o, source, json_integer_value(json_object_get(o, "change_seq")),
		               &out->executions) < 0)
			return -1;
	}
	char key[160];
	snprintf(key, sizeof key, "cluster-cursor:%s", source);
	sqlite3_stmt *q = store_stmt(s, ST_SETTING_PUT);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, str_of(page, "cursor"), -1, SQLITE_STATIC);
	store_bind_time(q, 3, clock_now_ns());
	return store_done(s, q, "cluster cursor");
}

int store_changes_apply(struct store *s, const char *source, const json_t *page,
                        struct store_applied *out)
{
	memset(out, 0, sizeof *out);
	if (s->cluster == NULL)
		return store_seterr(s, "not in a cluster");
	if (!json_is_object(page) || !json_is_string(json_object_get(page, "cursor")) ||
	    !json_is_array(json_object_get(page, "jobs")) ||
	    !json_is_array(json_object_get(page, "jobRefs")) ||
	    !json_is_array(json_object_get(page, "executions")))
		return store_seterr(s, "cluster: a page from %s is malformed", source);
	if (strcmp(source, s->cluster->node) == 0)
		return store_seterr(s, "cluster: a page from this node itself (%s)", source);
	if (store_write_begin(s) < 0)
		return -1;
	int rc = store_write_end(s, apply_page(s, source, page, out));
	if (rc < 0)
		store_applied_fini(out);
	return rc;
}

void store_applied_fini(struct store_applied *a)
{
	strv_free(&a->jobs);
	a->executions = 0;
}

int store_cluster_cursor(struct store *s, const char *source, char **cursor)
{
	char key[160];
	snprintf(key, sizeof key, "cluster-cursor:%s", source);
	return store_setting_get(s, key, cursor);
}

/* ---- a slot another node claimed ---- */

int store_execution_claimed(struct store *s, const struct store_execution *e, const char *schedule,
                            int64_t next_run_ns)
{
	if (s->cluster == NULL)
		return store_seterr(s, "not in a cluster");
	sqlite3_stmt *q = s->cluster->stmt[C_PLACEHOLDER];
	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, e->job_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, job_type_name(e->job_type), -1, SQLITE_STATIC);
	store_bind_time(q, 4, e->scheduled_ns);
	store_bind_time(q, 5, e->end_ns);
	sqlite3_bind_int64(q, 6, e->end_ns - e->scheduled_ns);
	store_bind_text(q, 7, e->error);
	store_bind_text(q, 8, e->node);
	sqlite3_bind_text(q, 9, s->cluster->node, -1, SQLITE_STATIC);
	int rc = store_done(s, q, "claimed slot");
	if (rc == 0)
		rc = store_cluster_mark_exec(s, e->id);
	if (rc == 0)
		rc = store_metrics_count(s, e->job_name, JOB_STATUS_INTERRUPTED);
	if (rc == 0)
		rc = store_exec_move_slot(s, e->job_name, e->scheduled_ns, schedule, next_run_ns);
	return store_write_end(s, rc);
}
