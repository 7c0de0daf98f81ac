/* Jobs: one row per job ever scheduled, never deleted (deleted_at marks it),
 * so its executions keep their foreign key. The definition is kept whole as
 * JSON (job_to_json_full, secrets included, keys sorted so equal definitions are equal text); the
 * columns type, schedule, command, origin and enabled repeat it for sqlite3
 * users and are never read back. */
#include <stdlib.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

enum {
	COL_NAME,
	COL_ORIGIN,
	COL_DEFINITION,
	COL_SOURCE_DEFINITION,
	COL_OVERRIDDEN,
	COL_NEXT_RUN,
	COL_LAST_RUN,
	COL_LAST_STATUS,
	COL_LAST_SLOT,
	COL_SLOT_SCHEDULE,
	COL_DELETED_AT,
	COL_CREATED_AT,
	COL_UPDATED_AT,
};

/* def_text returns the stored JSON form of def (free it), or NULL for none. */
static char *def_text(const struct job *def)
{
	if (def == NULL)
		return NULL;
	json_t *o = job_to_json_full(def);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* def_parse reads a stored definition back. job_from_json skips origin and
 * source (the API must not set them); the store restores both. */
static struct job *def_parse(struct store *s, const char *name, const char *text,
                             enum job_origin origin, const char *column)
{
	json_error_t jerr;
	char err[256];
	json_t *o = json_loads(text, 0, &jerr);

	if (o == NULL) {
		store_seterr(s, "job \"%s\": %s: %s", name, column, jerr.text);
		return NULL;
	}
	struct job *def = job_from_json(o, name, err, sizeof err);
	if (def == NULL) {
		store_seterr(s, "job \"%s\": %s: %s", name, column, err);
	} else {
		json_t *source = json_object_get(o, "source");
		def->origin = origin;
		if (json_is_string(source))
			def->source = xstrdup(json_string_value(source));
	}
	json_decref(o);
	return def;
}

/* job_row builds a store_job from the current row of q. */
static struct store_job *job_row(struct store *s, sqlite3_stmt *q)
{
	const char *name = (const char *)sqlite3_column_text(q, COL_NAME);
	const char *text;
	enum job_origin origin = JOB_ORIGIN_CONFIG;
	struct store_job *j = xcalloc(1, sizeof *j);

	job_origin_parse((const char *)sqlite3_column_text(q, COL_ORIGIN), &origin);
	j->def = def_parse(s, name, (const char *)sqlite3_column_text(q, COL_DEFINITION), origin,
	                   "definition");
	text = (const char *)sqlite3_column_text(q, COL_SOURCE_DEFINITION);
	if (text)
		j->source_def = def_parse(s, name, text, origin, "source_definition");
	if (j->def == NULL || (text && j->source_def == NULL)) {
		store_job_free(j);
		return NULL;
	}
	j->overridden = sqlite3_column_int(q, COL_OVERRIDDEN) != 0;
	j->next_run_ns = store_col_time(q, COL_NEXT_RUN);
	j->last_run_ns = store_col_time(q, COL_LAST_RUN);
	text = (const char *)sqlite3_column_text(q, COL_LAST_STATUS);
	if (text)
		job_status_parse(text, &j->last_status);
	j->last_slot_ns = store_col_time(q, COL_LAST_SLOT);
	j->slot_schedule = store_col_strdup(q, COL_SLOT_SCHEDULE);
	j->deleted_ns = store_col_time(q, COL_DELETED_AT);
	j->created_ns = store_col_time(q, COL_CREATED_AT);
	j->updated_ns = store_col_time(q, COL_UPDATED_AT);
	return j;
}

int store_jobs_load(struct store *s, struct store_job ***out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_ALL);
	struct store_job **v = NULL;
	size_t count = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_job *j = job_row(s, q);
		if (j == NULL)
			break;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[count++] = j;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_fail(s, "jobs load");
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		store_jobs_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

int store_job_get(struct store *s, const char *name, struct store_job **out)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_GET);
	int rc;

	*out = NULL;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = job_row(s, q);
	else if (rc != SQLITE_DONE)
		store_fail(s, "job get");
	sqlite3_reset(q);
	return rc == SQLITE_DONE || *out ? 0 : -1;
}

int store_job_save(struct store *s, const struct store_job *j)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_SAVE);
	const struct job *def = j->def;
	char *definition = def_text(def);
	char *source = def_text(j->source_def);
	int64_t now = clock_now_ns();
	int rc;

	if (store_write_begin(s) < 0) {
		rc = -1;
		goto out;
	}
	sqlite3_bind_text(q, 1, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, job_type_name(def->type), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, def->schedule ? def->schedule : "", -1, SQLITE_STATIC);
	store_bind_text(q, 4, def->command);
	sqlite3_bind_text(q, 5, job_origin_name(def->origin), -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, def->enabled);
	store_bind_time(q, 7, j->next_run_ns);
	store_bind_time(q, 8, j->last_run_ns);
	store_bind_text(q, 9, j->last_run_ns ? job_status_name(j->last_status) : NULL);
	store_bind_time(q, 10, j->last_slot_ns);
	store_bind_text(q, 11, j->slot_schedule);
	store_bind_text(q, 12, definition);
	store_bind_text(q, 13, source);
	sqlite3_bind_int(q, 14, j->overridden);
	store_bind_time(q, 15, j->deleted_ns);
	store_bind_time(q, 16, j->created_ns ? j->created_ns : now);
	store_bind_time(q, 17, now);
	rc = store_done(s, q, "job save");
	rc = store_write_end(s, rc == 0 ? store_cluster_mark_job(s, def->name) : rc);
out:
	free(definition);
	free(source);
	return rc;
}

int store_job_set_next(struct store *s, const char *name, int64_t next_run_ns)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_SET_NEXT);
	int rc;

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	store_bind_time(q, 2, next_run_ns);
	rc = store_done(s, q, "job set next");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = store_seterr(s, "job set next: no job \"%s\"", name);
	if (rc == 0)
		rc = store_cluster_mark_job(s, name);
	return store_write_end(s, rc);
}

int store_job_set_state(struct store *s, const char *name, int64_t last_run_ns,
                        enum job_status last_status, int64_t last_slot_ns,
                        const char *slot_schedule, int64_t next_run_ns)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_SET_STATE);

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	store_bind_time(q, 2, last_run_ns);
	if (last_run_ns)
		sqlite3_bind_text(q, 3, job_status_name(last_status), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 3);
	store_bind_time(q, 4, last_slot_ns);
	store_bind_text(q, 5, slot_schedule);
	store_bind_time(q, 6, next_run_ns);
	int rc = store_done(s, q, "job state");
	if (rc == 0)
		rc = store_cluster_mark_job(s, name);
	return store_write_end(s, rc);
}

int store_job_latest_run(struct store *s, const char *name, int64_t *start_ns,
                         enum job_status *status)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_LATEST_RUN);

	*start_ns = 0;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const char *st = (const char *)sqlite3_column_text(q, 1);
		if (st && job_status_parse(st, status) == 0)
			*start_ns = store_col_time(q, 0);
	} else if (rc != SQLITE_DONE) {
		store_fail(s, "job latest run");
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_job_latest_slot(struct store *s, const char *name, int64_t *slot_ns)
{
	sqlite3_stmt *q = store_stmt(s, ST_JOB_LATEST_SLOT);
	int rc;

	*slot_ns = 0;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*slot_ns = store_col_time(q, 0);
	else
		store_fail(s, "job latest slot");
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

void store_job_free(struct store_job *j)
{
	if (j == NULL)
		return;
	job_free(j->def);
	job_free(j->source_def);
	free(j->slot_schedule);
	free(j);
}

void store_jobs_free(struct store_job **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_job_free(v[i]);
	free(v);
}
