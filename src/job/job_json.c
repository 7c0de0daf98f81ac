/* The JSON form of a definition, for the API and for the store (which keeps
 * the whole definition as this JSON beside its searchable columns). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job.h"
#include "util/xalloc.h"

#define FIELD(j, f, type)  ((type *)((char *)(j) + (f)->offset))
#define CFIELD(j, f, type) ((const type *)((const char *)(j) + (f)->offset))

/* Keys of the API's job objects that describe state, not the definition: a
 * client may send back what it got from GET, so these are accepted and ignored. */
static const char *read_only_keys[] = {"origin", "source",  "lastRun", "nextRun",
                                       "status", "history", "metrics"};

static json_t *field_to_json(const struct job *j, const struct job_field *f)
{
	switch (f->kind) {
	case JOB_F_STRING: {
		const char *s = *CFIELD(j, f, char *);
		return s ? json_string(s) : json_null();
	}
	case JOB_F_BOOL:
		return json_boolean(*CFIELD(j, f, bool));
	case JOB_F_INT:
		/* A negative count means "the global default": null in JSON. */
		return *CFIELD(j, f, int) < 0 ? json_null() : json_integer(*CFIELD(j, f, int));
	case JOB_F_DURATION:
	case JOB_F_MILLIS:
		return json_integer(*CFIELD(j, f, int64_t));
	case JOB_F_OPT_DURATION:
		return *CFIELD(j, f, int64_t) < 0 ? json_null()
		                                  : json_integer(*CFIELD(j, f, int64_t));
	case JOB_F_LIST: {
		const struct strv *sv = CFIELD(j, f, struct strv);
		json_t *arr = json_array();
		for (size_t i = 0; i < sv->n; i++)
			json_array_append_new(arr, json_string(sv->v[i]));
		return arr;
	}
	case JOB_F_CATCH_UP:
		return json_string(job_catch_up_name(*CFIELD(j, f, enum job_catch_up)));
	case JOB_F_PULL:
		return json_string(job_pull_name(*CFIELD(j, f, enum job_pull)));
	case JOB_F_OPT_BOOL:
		return *CFIELD(j, f, int) < 0 ? json_null() : json_boolean(*CFIELD(j, f, int));
	}
	return json_null();
}

static json_t *to_json(const struct job *j, bool secrets)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(j->name));
	json_object_set_new(o, "type", json_string(job_type_name(j->type)));
	for (size_t i = 0; i < job_field_count; i++) {
		const struct job_field *f = &job_fields[i];
		if (!job_field_applies(f, j->type) || f->alias)
			continue;
		if (f->secret && !secrets && *CFIELD(j, f, char *))
			json_object_set_new(o, f->json, json_string(JOB_SECRET_MASK));
		else
			json_object_set_new(o, f->json, field_to_json(j, f));
	}
	json_object_set_new(o, "origin", json_string(job_origin_name(j->origin)));
	if (j->source)
		json_object_set_new(o, "source", json_string(j->source));
	return o;
}

json_t *job_to_json(const struct job *j)
{
	return to_json(j, false);
}

json_t *job_to_json_full(const struct job *j)
{
	return to_json(j, true);
}

static int wrong_type(const struct job_field *f, const char *want, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: must be %s", f->json, want);
	return -1;
}

/* field_from_json stores one JSON value into a field of j. */
static int field_from_json(struct job *j, const struct job_field *f, json_t *v, char *err,
                           size_t errlen)
{
	char text[64];

	switch (f->kind) {
	case JOB_F_STRING:
		if (json_is_null(v)) {
			free(*FIELD(j, f, char *));
			*FIELD(j, f, char *) = NULL;
			return 0;
		}
		if (!json_is_string(v))
			return wrong_type(f, "a string or null", err, errlen);
		return job_field_set(j, f, json_string_value(v), err, errlen);
	case JOB_F_BOOL:
		if (!json_is_boolean(v))
			return wrong_type(f, "true or false", err, errlen);
		*FIELD(j, f, bool) = json_is_true(v);
		return 0;
	case JOB_F_OPT_BOOL:
		if (!json_is_boolean(v) && !json_is_null(v))
			return wrong_type(f, "true, false or null", err, errlen);
		*FIELD(j, f, int) = json_is_null(v) ? -1 : json_is_true(v);
		return 0;
	case JOB_F_INT:
		if (json_is_null(v)) {
			*FIELD(j, f, int) = -1;
			return 0;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000000000)
			return wrong_type(f, "a whole number >= 0, or null", err, errlen);
		*FIELD(j, f, int) = (int)json_integer_value(v);
		return 0;
	case JOB_F_OPT_DURATION:
	case JOB_F_DURATION:
		if (f->kind == JOB_F_OPT_DURATION && json_is_null(v)) {
			*FIELD(j, f, int64_t) = -1;
			return 0;
		}
		/* Nanoseconds as the API reports them, or Go duration text ("1h30m"). */
		if (json_is_integer(v)) {
			if (json_integer_value(v) < 0)
				return wrong_type(f, "a duration >= 0", err, errlen);
			*FIELD(j, f, int64_t) = json_integer_value(v);
			return 0;
		}
		if (!json_is_string(v))
			return wrong_type(f, "nanoseconds or a duration such as \"1h30m\"", err,
			                  errlen);
		return job_field_set(j, f, json_string_value(v), err, errlen);
	case JOB_F_LIST: {
		struct strv items = STRV_INIT;
		size_t i;
		json_t *item;
		if (json_is_null(v)) {
			strv_free(FIELD(j, f, struct strv));
			return 0;
		}
		if (!json_is_array(v))
			return wrong_type(f, "an array of strings", err, errlen);
		json_array_foreach(v, i, item)
		{
			if (!json_is_string(item)) {
				strv_free(&items);
				return wrong_type(f, "an array of strings", err, errlen);
			}
			strv_push(&items, json_string_value(item));
		}
		strv_free(FIELD(j, f, struct strv));
		*FIELD(j, f, struct strv) = items;
		return 0;
	}
	case JOB_F_MILLIS:
		if (!json_is_integer(v) && !json_is_string(v))
			return wrong_type(f, "whole milliseconds", err, errlen);
		if (json_is_integer(v))
			snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			snprintf(text, sizeof text, "%s", json_string_value(v));
		return job_field_set(j, f, text, err, errlen);
	case JOB_F_CATCH_UP:
	case JOB_F_PULL:
		if (!json_is_string(v) && !json_is_boolean(v))
			return wrong_type(f, "a string", err, errlen);
		snprintf(text, sizeof text, "%s",
		         json_is_string(v) ? json_string_value(v)
		                           : (json_is_true(v) ? "true" : "false"));
		return job_field_set(j, f, text, err, errlen);
	}
	return -1;
}

static bool is_read_only(const char *key)
{
	for (size_t i = 0; i < sizeof read_only_keys / sizeof read_only_keys[0]; i++)
		if (strcmp(key, read_only_keys[i]) == 0)
			return true;
	return false;
}

/* apply_keys applies every key of obj but name and type to j. */
static int apply_keys(struct job *j, json_t *obj, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "name") == 0 || strcmp(key, "type") == 0 || is_read_only(key))
			continue;
		const struct job_field *f = job_field_find(key);
		if (f == NULL) {
			const char *near = job_field_suggest(key);
			if (near)
				snprintf(err, errlen, "unknown key \"%s\" (did you mean \"%s\"?)",
				         key, job_field_find(near)->json);
			else
				snprintf(err, errlen, "unknown key \"%s\"", key);
			return -1;
		}
		if (!job_field_applies(f, j->type)) {
			snprintf(err, errlen, "key \"%s\" does not apply to %s jobs", key,
			         job_type_name(j->type));
			return -1;
		}
		/* A client that sends back what GET showed keeps the secret. */
		if (f->secret && json_is_string(v) &&
		    strcmp(json_string_value(v), JOB_SECRET_MASK) == 0)
			continue;
		if (field_from_json(j, f, v, err, errlen) < 0)
			return -1;
	}
	return 0;
}

struct job *job_from_json(json_t *obj, const char *name, char *err, size_t errlen)
{
	enum job_type type;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a job must be a JSON object");
		return NULL;
	}
	json_t *jname = json_object_get(obj, "name");
	json_t *jtype = json_object_get(obj, "type");
	if (jname && (!json_is_string(jname) || (name && strcmp(name, json_string_value(jname))))) {
		snprintf(err, errlen, "name: must be a string equal to the job's name");
		return NULL;
	}
	if (name == NULL && jname == NULL) {
		snprintf(err, errlen, "name: missing");
		return NULL;
	}
	if (!json_is_string(jtype) || job_type_parse(json_string_value(jtype), &type) < 0) {
		snprintf(err, errlen, "type: must be one of exec, run, local, service");
		return NULL;
	}
	struct job *j = job_new(name ? name : json_string_value(jname), type);
	if (apply_keys(j, obj, err, errlen) < 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

int job_apply_json(struct job *j, json_t *obj, char *err, size_t errlen)
{
	enum job_type type;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	json_t *jname = json_object_get(obj, "name");
	json_t *jtype = json_object_get(obj, "type");
	if (jname && (!json_is_string(jname) || strcmp(json_string_value(jname), j->name))) {
		snprintf(err, errlen, "name: a job cannot be renamed");
		return -1;
	}
	if (jtype && (!json_is_string(jtype) || job_type_parse(json_string_value(jtype), &type) ||
	              type != j->type)) {
		snprintf(err, errlen, "type: a job's type cannot change");
		return -1;
	}
	struct job *copy = job_clone(j);
	if (apply_keys(copy, obj, err, errlen) < 0) {
		job_free(copy);
		return -1;
	}
	/* Swap the updated fields in and free the old ones with the copy's shell. */
	struct job old = *j;
	*j = *copy;
	*copy = old;
	job_free(copy);
	return 0;
}
