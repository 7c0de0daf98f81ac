/* Containers and images: what run jobs and label discovery ask of the
 * engine. Request and reply shapes are the Engine API 1.41's; STACK.md §4
 * lists the status codes these rely on (304 on start/stop of a container
 * already in that state, 409 for conflicts and "is not running"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/internal.h"
#include "util/xalloc.h"

static void set_str(json_t *obj, const char *key, const char *value)
{
	if (value && *value)
		json_object_set_new(obj, key, json_string(value));
}

static void set_list(json_t *obj, const char *key, const struct strv *sv)
{
	if (sv)
		json_object_set_new(obj, key, docker_json_from_strv(sv));
}

int docker_container_create(struct docker *d, const struct docker_container_spec *spec, char **id)
{
	json_t *host = json_object();
	set_str(host, "NetworkMode", spec->network_mode);
	set_list(host, "Binds", spec->binds);
	set_list(host, "VolumesFrom", spec->volumes_from);
	if (spec->privileged)
		json_object_set_new(host, "Privileged", json_true());

	json_t *body = json_object();
	set_str(body, "Image", spec->image);
	set_list(body, "Cmd", spec->cmd);
	set_list(body, "Entrypoint", spec->entrypoint);
	set_list(body, "Env", spec->env);
	set_str(body, "User", spec->user);
	set_str(body, "WorkingDir", spec->working_dir);
	set_str(body, "Hostname", spec->hostname);
	set_str(body, "StopSignal", spec->stop_signal);
	if (spec->stop_timeout_s > 0)
		json_object_set_new(body, "StopTimeout", json_integer(spec->stop_timeout_s));
	if (spec->tty)
		json_object_set_new(body, "Tty", json_true());
	if (spec->labels)
		json_object_set_new(body, "Labels", docker_json_labels(spec->labels));
	json_object_set_new(body, "HostConfig", host);

	char *path;
	if (spec->name && *spec->name) {
		char *name = docker_escape(spec->name);
		path = xasprintf("/containers/create?name=%s", name);
		free(name);
	} else {
		path = xstrdup("/containers/create");
	}
	json_t *reply = docker_call_json(d, "POST", path, body);
	int rc = -1;
	if (reply) {
		*id = docker_json_strdup(reply, "Id");
		rc =
		    *id ? 0
		        : docker_fail(d, DOCKER_E_PROTOCOL, "container create: no Id in the reply");
	}
	json_decref(reply);
	json_decref(body);
	free(path);
	return rc;
}

/* post runs POST /containers/{id}/{verb}[query]. */
static int post(struct docker *d, const char *id, const char *verb, const char *query, bool is_long)
{
	char *eid = docker_escape(id);
	char *path = xasprintf("/containers/%s/%s%s", eid, verb, query ? query : "");
	struct docker_req r = {.method = "POST", .path = path, .is_long = is_long};
	int rc = docker_request(d, &r, NULL);
	free(path);
	free(eid);
	return rc;
}

int docker_container_start(struct docker *d, const char *id)
{
	return post(d, id, "start", NULL, false);
}

int docker_container_stop(struct docker *d, const char *id, int timeout_s)
{
	char query[32] = "";
	if (timeout_s >= 0)
		snprintf(query, sizeof query, "?t=%d", timeout_s);
	/* Blocks for the grace period and the kill: no short limit. */
	return post(d, id, "stop", query, true);
}

int docker_container_kill(struct docker *d, const char *id, const char *signal)
{
	char *query = NULL;
	if (signal) {
		char *sig = docker_escape(signal);
		query = xasprintf("?signal=%s", sig);
		free(sig);
	}
	int rc = post(d, id, "kill", query, false);
	free(query);
	return rc;
}

int docker_container_remove(struct docker *d, const char *id, bool force, bool volumes)
{
	char *eid = docker_escape(id);
	char *path = xasprintf("/containers/%s?force=%d&v=%d", eid, force, volumes);
	int rc = docker_call(d, "DELETE", path, NULL);
	free(path);
	free(eid);
	return rc;
}

int docker_container_wait(struct docker *d, const char *id, enum docker_wait_condition cond,
                          int *exit_code)
{
	static const char *const conditions[] = {
	    [DOCKER_WAIT_NOT_RUNNING] = "not-running",
	    [DOCKER_WAIT_NEXT_EXIT] = "next-exit",
	    [DOCKER_WAIT_REMOVED] = "removed",
	};
	char *eid = docker_escape(id);
	char *path = xasprintf("/containers/%s/wait?condition=%s", eid, conditions[cond]);
	struct docker_req r = {.method = "POST", .path = path, .is_long = true};
	struct buf resp = BUF_INIT;
	int rc = docker_request(d, &r, &resp);
	if (rc == 0) {
		/* {"StatusCode":3,"Error":null} or an Error.Message. */
		json_t *j = json_loadb(buf_cstr(&resp), resp.len, 0, NULL);
		json_t *code = json_object_get(j, "StatusCode");
		const char *err = docker_json_str(json_object_get(j, "Error"), "Message");
		if (err && *err)
			rc = docker_fail(d, DOCKER_E_ENGINE, "waiting for %s: %s", id, err);
		else if (!json_is_integer(code))
			rc = docker_fail(d, DOCKER_E_PROTOCOL, "wait: no StatusCode in the reply");
		else
			*exit_code = (int)json_integer_value(code);
		json_decref(j);
	}
	buf_free(&resp);
	free(path);
	free(eid);
	return rc;
}

static char *strip_slash(const char *name)
{
	return xstrdup(name && name[0] == '/' ? name + 1 : name);
}

static json_t *labels_ref(json_t *labels)
{
	return json_is_object(labels) ? json_incref(labels) : json_object();
}

int docker_container_inspect(struct docker *d, const char *id, struct docker_container_info *out)
{
	memset(out, 0, sizeof *out);
	char *eid = docker_escape(id);
	char *path = xasprintf("/containers/%s/json", eid);
	json_t *j = docker_call_json(d, "GET", path, NULL);
	free(path);
	free(eid);
	if (!j)
		return -1;
	json_t *state = json_object_get(j, "State");
	json_t *config = json_object_get(j, "Config");
	out->id = docker_json_strdup(j, "Id");
	out->name = strip_slash(docker_json_str(j, "Name"));
	out->image = docker_json_strdup(config, "Image");
	out->status = docker_json_strdup(state, "Status");
	const char *err = docker_json_str(state, "Error");
	out->error = err && *err ? xstrdup(err) : NULL;
	out->running = json_is_true(json_object_get(state, "Running"));
	out->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
	out->tty = json_is_true(json_object_get(config, "Tty"));
	out->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
	out->started_ns = docker_json_time(state, "StartedAt");
	out->finished_ns = docker_json_time(state, "FinishedAt");
	out->labels = labels_ref(json_object_get(config, "Labels"));
	json_decref(j);
	if (!out->id || !out->status) {
		docker_container_info_fini(out);
		return docker_fail(d, DOCKER_E_PROTOCOL, "inspect of %s: no Id or State", id);
	}
	return 0;
}

void docker_container_info_fini(struct docker_container_info *ci)
{
	free(ci->id);
	free(ci->name);
	free(ci->image);
	free(ci->status);
	free(ci->error);
	json_decref(ci->labels);
	memset(ci, 0, sizeof *ci);
}

int docker_container_logs(struct docker *d, const char *id, const struct docker_logs_options *o,
                          docker_on_line_fn *on_line, void *arg)
{
	char *eid = docker_escape(id);
	struct buf path = BUF_INIT;
	buf_printf(&path, "/containers/%s/logs", eid);
	docker_logs_query(&path, o);
	int rc =
	    docker_stream_output(d, "GET", path.data, NULL, o->tty, o->timestamps, on_line, arg);
	buf_free(&path);
	free(eid);
	return rc;
}

int docker_container_list(struct docker *d, const struct strv *label_filters, bool all,
                          struct docker_container_list *out)
{
	memset(out, 0, sizeof *out);
	struct buf path = BUF_INIT;
	buf_printf(&path, "/containers/json?all=%d", all);
	if (label_filters && label_filters->n) {
		json_t *f = json_pack("{s:o}", "label", docker_json_from_strv(label_filters));
		char *text = json_dumps(f, JSON_COMPACT);
		char *q = docker_escape(text);
		buf_printf(&path, "&filters=%s", q);
		free(q);
		free(text);
		json_decref(f);
	}
	json_t *j = docker_call_json(d, "GET", path.data, NULL);
	buf_free(&path);
	if (!j)
		return -1;
	if (!json_is_array(j)) {
		json_decref(j);
		return docker_fail(d, DOCKER_E_PROTOCOL, "container list: reply is not an array");
	}
	out->v = xcalloc(json_array_size(j) + 1, sizeof *out->v);
	size_t i;
	json_t *c;
	json_array_foreach(j, i, c)
	{
		if (!docker_json_str(c, "Id"))
			continue;
		struct docker_container_summary *s = &out->v[out->n++];
		s->id = docker_json_strdup(c, "Id");
		s->image = docker_json_strdup(c, "Image");
		s->state = docker_json_strdup(c, "State");
		s->labels = labels_ref(json_object_get(c, "Labels"));
		s->compose_service = docker_json_strdup(s->labels, "com.docker.compose.service");
		size_t k;
		json_t *name;
		json_array_foreach(json_object_get(c, "Names"), k, name)
		{
			if (json_is_string(name))
				strv_push_owned(&s->names, strip_slash(json_string_value(name)));
		}
	}
	json_decref(j);
	return 0;
}

void docker_container_list_fini(struct docker_container_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct docker_container_summary *s = &l->v[i];
		free(s->id);
		free(s->image);
		free(s->state);
		free(s->compose_service);
		strv_free(&s->names);
		json_decref(s->labels);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* ---- images ---- */

int docker_image_exists(struct docker *d, const char *ref)
{
	char *eref = docker_escape(ref);
	char *path = xasprintf("/images/%s/json", eref);
	struct buf resp = BUF_INIT;
	struct docker_req r = {.method = "GET", .path = path};
	int rc = docker_request(d, &r, &resp);
	buf_free(&resp);
	free(path);
	free(eref);
	if (rc == 0)
		return 1;
	if (docker_status(d) != DOCKER_E_NOT_FOUND)
		return -1;
	d->status = DOCKER_OK;
	return 0;
}

/* The progress stream of a pull: {"status":...} lines, and on failure an
 * {"error":...,"errorDetail":{"message":...}} line after HTTP 200. */
struct pull {
	struct docker *d;
	const char *ref;
	struct docker_jsonl lines;
};

static int pull_line(void *arg, json_t *obj, const char *line, size_t len)
{
	struct pull *p = arg;
	if (!obj)
		return docker_fail(p->d, DOCKER_E_PROTOCOL,
		                   "pull %s: unreadable progress line: %.*s", p->ref,
		                   (int)(len < 200 ? len : 200), line);
	const char *err = docker_json_str(json_object_get(obj, "errorDetail"), "message");
	if (!err)
		err = docker_json_str(obj, "error");
	if (err)
		return docker_fail(p->d, DOCKER_E_ENGINE, "pull %s: %s", p->ref, err);
	return 0;
}

static int pull_data(void *arg, const char *data, size_t len)
{
	struct pull *p = arg;
	return docker_jsonl_feed(p->d, &p->lines, data, len);
}

int docker_image_pull(struct docker *d, const char *ref)
{
	/* "name:tag" splits at a ':' after the last '/' (a registry's port
	 * comes before it); a digest reference goes whole into fromImage. */
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	char *name =
	    strchr(ref, '@') || !colon ? xstrdup(ref) : xstrndup(ref, (size_t)(colon - ref));
	const char *tag = strchr(ref, '@') ? NULL : colon ? colon + 1 : "latest";
	char *ename = docker_escape(name);
	char *etag = tag ? docker_escape(tag) : NULL;
	char *path = etag ? xasprintf("/images/create?fromImage=%s&tag=%s", ename, etag)
	                  : xasprintf("/images/create?fromImage=%s", ename);

	struct pull p = {.d = d, .ref = ref, .lines = {.on_object = pull_line}};
	p.lines.arg = &p;
	char *auth = NULL, auth_err[512];
	int auth_rc = docker_registry_auth(ref, &auth, auth_err, sizeof auth_err);
	struct docker_req r = {.method = "POST",
	                       .path = path,
	                       .registry_auth = auth,
	                       .is_long = true,
	                       .on_data = pull_data,
	                       .arg = &p};
	int rc = docker_request(d, &r, NULL);
	if (rc < 0 && auth_rc < 0) {
		/* Say why no credentials went with the pull. */
		size_t n = strlen(d->errmsg);
		snprintf(d->errmsg + n, sizeof d->errmsg - n, " (registry credentials: %s)",
		         auth_err);
	}
	free(auth);
	if (rc == 0 && p.lines.pending.len)
		rc = docker_jsonl_feed(d, &p.lines, "\n", 1);
	buf_free(&p.lines.pending);
	free(path);
	free(etag);
	free(ename);
	free(name);
	return rc;
}
